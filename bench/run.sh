#!/usr/bin/env bash
# The runwasm benchmark, one command (as root, Debian):
#
#   bench/run.sh            # full run: 50 reps, 500 state calls, 3 compute reps
#   bench/run.sh --quick    # a smoke run: 10 reps, 100 state calls, 1 compute rep
#   bench/run.sh [bench.py options...]   e.g. --only native,hello  --reps 100
#
# Installs what is missing (apt-get), builds the release binaries, builds the
# modules and the measure helper into $BENCH_WORK (default
# /var/tmp/runwasm-bench), then runs bench/bench.py inside a private mount
# namespace in which /sys/fs/cgroup/unified is unmounted (Debian's crun 1.8
# refuses this host's hybrid cgroup layout otherwise; every runtime runs in
# that same namespace), and draws bench/results/ratios.png.
# Results: bench/results/latest.json (+ a timestamped copy), ratios.png.
#
# BENCH_SRC=DIR benchmarks the runwasm source tree in DIR (another checkout,
# e.g. `git worktree add /tmp/rw-old v0.1`) instead of this one; the harness
# and the modules still come from this bench/ directory.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
work=${BENCH_WORK:-/var/tmp/runwasm-bench}
out=$here/results
log() { printf 'bench: %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then exec sudo -E bash "$0" "$@"; fi
    log "must run as root (containers, namespaces, cgroups)"; exit 1
fi

args=()
for a in "$@"; do
    case $a in
        --quick) args+=(--reps 10 --state-calls 100 --compute-reps 1 --interp-budget 10) ;;
        *) args+=("$a") ;;
    esac
done

# --- packages ---------------------------------------------------------------
# The project's own setup (WasmEdge, clang + wasi-libc, Rust) when the build
# prerequisites are missing; it is idempotent and has a fast path.
if ! { [ -e /usr/include/wasmedge/wasmedge.h ] && [ -e /usr/lib/wasm32-wasi/libc.a ] \
        && command -v clang >/dev/null && command -v cargo >/dev/null; }; then
    log "build prerequisites missing: running scripts/setup.sh"
    bash "$repo/scripts/setup.sh"
fi
export DEBIAN_FRONTEND=noninteractive
missing=()
for pkg in runc crun wasmedge busybox-static gcc util-linux python3 python3-matplotlib; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing: ${missing[*]}"
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi
py=/usr/bin/python3   # Debian's, which has python3-matplotlib (not a pyenv/venv one)

# --- build ------------------------------------------------------------------
src=$(cd "${BENCH_SRC:-$repo}" && pwd)
log "building runwasm (release) in $src"
(cd "$src" && cargo build --release -q -p runwasm -p runwasm-wasm)
target=${CARGO_TARGET_DIR:-$src/target}/release

mkdir -p "$work/bin"
log "building the measure helper, hello.wasm and the compute module into $work/bin"
gcc -O2 -Wall -o "$work/bin/measure" "$here/measure.c"
clang --target=wasm32-wasi -O2 -o "$work/bin/hello.wasm" "$here/hello.c"
clang --target=wasm32-wasi -O2 -o "$work/bin/compute.wasm" "$here/compute.c"
gcc -O2 -o "$work/bin/compute" "$here/compute.c"

# --- run, in a private mount namespace ----------------------------------------
mkdir -p "$out"
# shellcheck disable=SC2016
BENCH_STATE="$work/state" unshare --mount --propagation private -- bash -euo pipefail -c '
    flag=()
    if mountpoint -q /sys/fs/cgroup/unified; then
        umount /sys/fs/cgroup/unified
        flag=(--unmounted-unified)
    fi
    # State roots on a tmpfs, as /run is on most hosts (not on this one).
    mkdir -p "$BENCH_STATE"
    mount -t tmpfs -o mode=0700 runwasm-bench-state "$BENCH_STATE"
    flag+=(--state-tmpfs)
    exec "$@" "${flag[@]}"
' bench "$py" "$here/bench.py" \
    --work "$work" --out "$out" --src "$src" \
    --runwasm "$target/runwasm" --lib "$target/librunwasm_wasm.so" \
    --hello "$work/bin/hello.wasm" \
    --compute-wasm "$work/bin/compute.wasm" --compute-native "$work/bin/compute" \
    "${args[@]}"

"$py" "$here/plot.py" "$out/latest.json" "$out/ratios.png"
log "chart: $out/ratios.png"
