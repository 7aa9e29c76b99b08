#!/usr/bin/env bash
# Installs everything runwasm's build, demo and test suite need on a Debian
# machine (bookworm or trixie), as root. Idempotent: a second run installs
# nothing and takes about a second.
#
#   WasmEdge       libwasmedge-dev 0.14 (trixie; on bookworm trixie is added at
#                  pin priority 100 so only what we ask for comes from it)
#   test modules   clang, lld, wasi-libc, the wasm32 compiler-rt builtins
#   tools          just, jq, busybox-static, libseccomp-dev
#   Rust           the machine's cargo if it is >= 1.85, else Debian trixie's
set -euo pipefail

log() { printf 'setup: %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then exec sudo -E bash "$0" "$@"; fi
    log "must run as root"; exit 1
fi

export DEBIAN_FRONTEND=noninteractive
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
stamp=/var/lib/runwasm-setup.stamp
script_sum=$(sha256sum "$0" | cut -d' ' -f1)

rust_ok() { # cargo on PATH and rustc new enough for the workspace (1.85)
    command -v cargo >/dev/null 2>&1 || return 1
    local v
    v=$(rustc --version 2>/dev/null | sed -n 's/^rustc 1\.\([0-9]*\).*/\1/p')
    [ -n "$v" ] && [ "$v" -ge 85 ]
}

# Fast path: this exact script already ran and everything is still there.
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$script_sum" ] \
    && [ -e /usr/include/wasmedge/wasmedge.h ] && [ -e /usr/lib/wasm32-wasi/libc.a ] \
    && ls /usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a >/dev/null 2>&1 \
    && command -v just >/dev/null && command -v clang >/dev/null \
    && command -v wasm-ld >/dev/null && command -v jq >/dev/null && rust_ok \
    && command -v podman >/dev/null && command -v buildah >/dev/null \
    && command -v containerd >/dev/null && command -v dockerd >/dev/null; then
    exit 0
fi

apt_updated=0
apt_update() {
    if [ "$apt_updated" = 0 ]; then apt-get update -qq; apt_updated=1; fi
}

# --- trixie at low priority on bookworm -------------------------------------
from_trixie=()
if [ "$codename" = "bookworm" ] || [ -f /etc/apt/sources.list.d/runwasm-trixie.sources ]; then
    if [ ! -f /etc/apt/sources.list.d/runwasm-trixie.sources ]; then
        log "adding Debian trixie at pin priority 100 (for libwasmedge-dev only)"
        cat > /etc/apt/sources.list.d/runwasm-trixie.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
        cat > /etc/apt/preferences.d/runwasm-trixie.pref <<'PIN'
Package: *
Pin: release n=trixie
Pin-Priority: 100
PIN
        apt_updated=0
    fi
    # libwasmedge0 needs trixie's libc6 and C++ runtime: let apt take those
    # dependencies (and nothing else) from trixie for these installs.
    from_trixie=(-t trixie)
fi

pkgs=()
need() { # need PACKAGE [COMMAND-OR-PATH]: queue PACKAGE unless installed
    local pkg=$1
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        pkgs+=("$pkg")
    fi
}

need ca-certificates
need clang
need lld
need wasi-libc
need jq
need busybox-static
need pkg-config
need libseccomp-dev
need git
need procps
need util-linux
need iproute2
need python3

if [ ${#pkgs[@]} -gt 0 ]; then
    apt_update
    log "installing: ${pkgs[*]}"
    apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi
pkgs=()

clang_major=$(clang --version | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -1)
need "libclang-rt-${clang_major}-dev-wasm32"
need "libclang1-${clang_major}"   # bindgen (wasmedge-sys) loads libclang

# WasmEdge
if [ ! -e /usr/include/wasmedge/wasmedge.h ]; then
    apt_update
    log "installing libwasmedge-dev ${from_trixie[*]}"
    apt-get install -y -qq --no-install-recommends "${from_trixie[@]}" libwasmedge-dev >/dev/null
fi
# The `wasmedge` CLI is the benchmark's VM floor; optional for tests.
if ! command -v wasmedge >/dev/null 2>&1; then
    apt_update
    apt-get install -y -qq --no-install-recommends "${from_trixie[@]}" wasmedge >/dev/null 2>&1 \
        || log "note: the wasmedge CLI package is not available; benchmarks will skip the VM floor"
fi

# just: Debian has it from trixie on; on bookworm take trixie's.
if ! command -v just >/dev/null 2>&1; then
    apt_update
    if ! apt-get install -y -qq --no-install-recommends "${from_trixie[@]}" just >/dev/null 2>&1; then
        log "just is not packaged here; building it with cargo"
        cargo install --locked just
    fi
fi

if [ ${#pkgs[@]} -gt 0 ]; then
    apt_update
    log "installing: ${pkgs[*]}"
    apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi

# Rust: the machine's toolchain (rustup) when it is new enough; otherwise
# Debian's from trixie (1.85; bookworm's 1.63 is too old for the workspace).
if ! rust_ok; then
    apt_update
    log "cargo >= 1.85 not found; installing cargo and rustc ${from_trixie[*]}"
    apt-get install -y -qq --no-install-recommends "${from_trixie[@]}" cargo rustc >/dev/null
    hash -r
    rust_ok || { log "rustc is still older than 1.85: install a newer toolchain (rustup)"; exit 1; }
fi

# podman, buildah, skopeo, conmon (podman 5.4 for platform_to_oci_runtime):
# tests/podman.rs and docs/podman.md.
bash "$(dirname "$0")/setup-podman.sh" || log "podman not installed: the podman tests will skip"
# containerd 1.7 + ctr, Docker 26 (trixie): tests/containerd.rs, tests/docker.rs.
bash "$(dirname "$0")/setup-docker.sh" || log "containerd/Docker not installed: their tests will skip"

echo "$script_sum" > "$stamp"
log "ready (WasmEdge $(sed -n 's/.*WASMEDGE_VERSION "\(.*\)"/\1/p' /usr/include/wasmedge/version.h 2>/dev/null || echo '?'))"
