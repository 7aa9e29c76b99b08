#!/usr/bin/env bash
# Soak test (as root): 1,000 `runwasm run` cycles of a Wasm module and 1,000
# of a native busybox, then a look for anything left behind (processes,
# cgroups, mounts, fds, files in the state root) and at the trend of
# runwasm's peak RSS (first 100 cycles against the last 100). Exits
# non-zero on a leak. See bench/soak.py for the details.
#
#   bench/soak.sh                 # release build, 1,000 cycles per kind
#   bench/soak.sh --cycles 200    # options go to soak.py
#   SOAK_PROFILE=debug bench/soak.sh   # the debug build instead
#
# Builds runwasm, the measure helper (bench/measure.c) and hello.wasm
# (bench/hello.c) into $SOAK_WORK (default /var/tmp/runwasm-soak); the run's
# scratch directory is $SOAK_WORK/run, removed after a clean run. The
# summary also goes to bench/results/soak-latest.json.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
work=${SOAK_WORK:-/var/tmp/runwasm-soak}
profile=${SOAK_PROFILE:-release}
log() { printf 'soak: %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
    log "must run as root (containers, namespaces, cgroups)"
    exit 1
fi
for tool in cargo clang gcc python3; do
    command -v "$tool" >/dev/null || { log "$tool is missing: run scripts/setup.sh"; exit 1; }
done
busybox=$(command -v busybox || true)
[ -n "$busybox" ] || { log "busybox is missing (Debian: busybox-static)"; exit 1; }

log "building runwasm ($profile)"
flag=()
[ "$profile" = release ] && flag=(--release)
(cd "$repo" && cargo build -q "${flag[@]}" -p runwasm -p runwasm-wasm)
target=${CARGO_TARGET_DIR:-$repo/target}/$profile

mkdir -p "$work/bin" "$here/results"
gcc -O2 -Wall -o "$work/bin/measure" "$here/measure.c"
clang --target=wasm32-wasi -O2 -o "$work/bin/hello.wasm" "$here/hello.c"

exec python3 "$here/soak.py" \
    --runwasm "$target/runwasm" --lib "$target/librunwasm_wasm.so" \
    --measure "$work/bin/measure" --hello "$work/bin/hello.wasm" --busybox "$busybox" \
    --work "$work/run" --json "$here/results/soak-latest.json" "$@"
