#!/usr/bin/env bash
# Installs the container clients runwasm's containerd and Docker tests drive,
# from Debian packages, as root. Idempotent: when everything is there it
# exits at once. Called by scripts/setup.sh; also runnable on its own.
#
#   containerd 1.7 (+ ctr, containerd-shim-runc-v2)   Debian trixie
#   docker.io 26.1 (dockerd, docker-init = tini,       Debian trixie
#                  docker-proxy: publishes ports when dockerd runs
#                  without iptables, as the tests' dockerd does)
#   docker-cli 26.1 (/usr/bin/docker)                  Debian trixie
#   python3-grpcio (the tests' CRI client, the kubelet's calls; crictl is
#                  not packaged in Debian)                the release's
#
# Why trixie's and not bookworm's (containerd 1.6, docker.io 20.10):
#   - Docker 20.10 refuses images whose platform is wasi/wasm; Docker 26 with
#     the containerd image store ("features": {"containerd-snapshotter": true})
#     loads and runs them (`docker run --platform wasi/wasm`).
#   - containerd 1.7 is the one trixie pairs with docker.io 26.1 (dockerd uses
#     it as its image store and runtime); bookworm's 1.6 is older than what
#     Docker 26 is built against. ctr 1.7 and its CRI plugin are also what
#     current Kubernetes nodes run.
#   - On bookworm only these three packages come from trixie (`pkg/trixie`);
#     their dependencies (iptables, tini, runc) are bookworm's.
#
# Nothing is started and no system configuration is written: on a machine
# without /usr/sbin/policy-rc.d one that forbids starting services exists
# for the duration of the install (so no system dockerd/containerd starts,
# touches iptables or /var/lib/docker). The tests run their own containerd
# and dockerd with private roots, state directories and sockets.
set -euo pipefail

log() { printf 'setup-docker: %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then exec sudo -E bash "$0" "$@"; fi
    log "must run as root"; exit 1
fi

export DEBIAN_FRONTEND=noninteractive

# major.minor of a version string as a comparable integer (26.1 -> 2601).
mm() { sed -n 's/^\([0-9]*\)\.\([0-9]*\).*/\1 \2/p' | { read -r a b && echo $((a * 100 + b)); }; }
installed_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null | sed 's/^[0-9]*://' || true; }
have() { # have PACKAGE MIN_MAJOR_MINOR (e.g. 2601)
    local v
    v=$(installed_version "$1")
    [ -n "$v" ] && dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' \
        && [ "$(echo "$v" | mm)" -ge "$2" ]
}

ready() {
    have containerd 107 && have docker.io 2601 && have docker-cli 2601 \
        && [ -x /usr/bin/containerd ] && [ -x /usr/bin/ctr ] \
        && [ -x /usr/bin/containerd-shim-runc-v2 ] \
        && [ -x /usr/sbin/dockerd ] && [ -x /usr/sbin/docker-proxy ] && [ -x /usr/bin/docker ] \
        && command -v tar >/dev/null && command -v sha256sum >/dev/null \
        && /usr/bin/python3 -c 'import grpc' >/dev/null 2>&1
}

if ready; then
    exit 0
fi

candidate() { apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: *\([0-9]*:\)\{0,1\}//p' | grep -v '(none)' || true; }
has_trixie() { apt-cache policy 2>/dev/null | grep -q 'n=trixie'; }

# --- where the packages come from ---------------------------------------------
# The default candidates when they are new enough (trixie or later as the
# release); otherwise trixie's, named pkg/trixie so that their dependencies
# stay the release's. (Do not trust /etc/os-release: a bookworm machine whose
# libc came from trixie calls itself trixie.)
apt-get update -qq
suffix=""
if [ "$(candidate docker.io | mm || echo 0)" -lt 2601 ] || [ "$(candidate containerd | mm || echo 0)" -lt 107 ]; then
    if ! has_trixie; then
        log "adding Debian trixie at pin priority 100 (only the packages named pkg/trixie come from it)"
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
        apt-get update -qq
    fi
    suffix=/trixie
fi

# --- never start a system daemon during the install --------------------------
policy=/usr/sbin/policy-rc.d
made_policy=0
cleanup() { if [ "$made_policy" = 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# written by runwasm scripts/setup-docker.sh for one apt-get run\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    made_policy=1
fi

pkgs=("containerd$suffix" "docker.io$suffix" "docker-cli$suffix")
command -v tar >/dev/null || pkgs+=(tar)
/usr/bin/python3 -c 'import grpc' >/dev/null 2>&1 || pkgs+=(python3-grpcio)
log "installing: ${pkgs[*]}"
apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null

if ! ready; then
    log "after the install: containerd $(installed_version containerd), docker.io $(installed_version docker.io), docker-cli $(installed_version docker-cli), python3-grpcio $(installed_version python3-grpcio); need containerd >= 1.7, docker >= 26.1 and grpc for /usr/bin/python3"
    exit 1
fi
log "ready: containerd $(installed_version containerd), docker.io $(installed_version docker.io), docker-cli $(installed_version docker-cli)"
