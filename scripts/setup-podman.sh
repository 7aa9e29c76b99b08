#!/usr/bin/env bash
# Installs podman, buildah, skopeo and conmon from Debian packages, as root,
# for runwasm's podman tests and docs/podman.md. Idempotent: when they are
# already there it installs nothing and returns at once.
#
# Which podman: trixie's 5.4, not bookworm's 4.3. Only podman >= 4.4 reads
# `[engine.platform_to_oci_runtime]` from containers.conf, the entry that
# lets `podman run` of a `wasi/wasm` image pick runwasm by itself (4.3's
# binary does not contain the key at all).
#
# On bookworm with trixie at pin priority 100 (what scripts/setup.sh adds)
# the trixie packages are named one by one (`podman/trixie`, ...) rather
# than with `-t trixie`: `-t trixie` would also move systemd, openssl,
# util-linux and glib to trixie and remove packagekit and
# software-properties-common. Named one by one, apt takes from trixie only
# what podman 5.4 needs (libgpgme11t64, libassuan9, libsubid5 and a newer
# libgpg-error0) and keeps bookworm's conmon 2.1.6 (trixie's 2.1.12 would
# start the glib t64 transition). If the install would remove any package,
# the script stops and says which instead.
#
# Configures nothing globally: runwasm's podman configuration is a private
# containers.conf / storage.conf (CONTAINERS_CONF, CONTAINERS_STORAGE_CONF),
# written by the tests and described in docs/podman.md.
#
# Also nftables (bookworm's or trixie's, whichever is the machine's): netavark
# 1.14 sets up podman's default bridge network, and the DNAT rules of its
# published ports (`podman run -p`), with `nft`. It only installs the tool;
# the nftables service stays disabled.
#
# No crun (runc satisfies podman's "crun | runc"; installed when neither is
# there), no fuse-overlayfs (root uses the kernel's overlay, or vfs), no
# rootless or DNS extras (aardvark-dns, slirp4netns, passt, catatonit).
set -euo pipefail

log() { printf 'setup-podman: %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then exec sudo -E bash "$0" "$@"; fi
    log "must run as root"; exit 1
fi

export DEBIAN_FRONTEND=noninteractive

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
podman_major() { podman --version 2>/dev/null | sed -n 's/^podman version \([0-9]*\)\..*/\1/p'; }

trixie_offers_podman() { apt-cache madison podman 2>/dev/null | grep -q ' trixie/'; }

# Fast path: everything is there, and podman is 5.x (or nothing newer is
# available to apt).
if command -v podman >/dev/null && command -v buildah >/dev/null \
    && command -v skopeo >/dev/null && command -v conmon >/dev/null \
    && command -v nft >/dev/null && installed netavark; then
    major=$(podman_major)
    if [ "${major:-0}" -ge 5 ] || ! trixie_offers_podman; then exit 0; fi
fi

apt_updated=0
apt_update() {
    if [ "$apt_updated" = 0 ]; then apt-get update -qq; apt_updated=1; fi
}

apt_update
madison=$(apt-cache madison podman 2>/dev/null || true)
candidate=$(apt-cache policy podman | sed -n 's/^ *Candidate: *//p')

pkgs=()
if grep -q ' trixie/' <<<"$madison" && grep -q ' bookworm/' <<<"$madison"; then
    # bookworm with trixie at low pin: name the trixie packages one by one.
    pkgs=(podman/trixie buildah/trixie skopeo/trixie golang-github-containers-common/trixie
          netavark/trixie conmon nftables)
    # libgpgme11t64 needs trixie's libgpg-error0; its -dev package must
    # move with it or apt removes it (and libgcrypt20-dev, libxmlsec1-dev).
    if installed libgpg-error-dev; then pkgs+=(libgpg-error-dev/trixie); fi
else
    case "$candidate" in
        5.*|[6-9].*) ;;   # trixie or later is the machine's release
        *) log "podman $candidate is the newest available (no trixie apt source): installing it;" \
               "platform_to_oci_runtime needs podman >= 4.4, so wasi/wasm images will need --runtime runwasm" ;;
    esac
    pkgs=(podman buildah skopeo conmon golang-github-containers-common netavark nftables)
fi
# podman depends on "crun | runc": keep it on runc.
if ! command -v runc >/dev/null && ! command -v crun >/dev/null; then pkgs+=(runc); fi

# Refuse to remove anything on someone else's machine.
removals=$(apt-get install -s --no-install-recommends "${pkgs[@]}" 2>&1 | sed -n 's/^Remv \([^ ]*\).*/\1/p' | tr '\n' ' ')
if [ -n "$removals" ]; then
    log "installing ${pkgs[*]} would remove: $removals"
    log "refusing; install podman by hand (see docs/podman.md) or free those packages first"
    exit 1
fi

log "installing: ${pkgs[*]}"
apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null

log "ready ($(podman --version), buildah $(buildah --version | awk '{print $3}'), $(skopeo --version), $(conmon --version | head -1))"
