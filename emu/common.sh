# Shared helpers of the emulated-board scripts; sourced, not run.
# shellcheck shell=bash

EMU_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck disable=SC2034  # used by the scripts that source this
EMU_REPO=$(cd "$EMU_DIR/.." && pwd)
EMU_CACHE=${EMU_CACHE:-/var/cache/facegate-emu}

emu_log() { printf 'emu: %s\n' "$*" >&2; }
emu_die() { printf 'emu: error: %s\n' "$*" >&2; exit 1; }

# Installs the Debian packages that are missing. apt-get update may exit non-zero while a
# foreign index is mid-sync on the mirror, so success is judged by the packages themselves.
emu_need_packages() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' \
            || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    emu_log "installing ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null \
        || emu_die "could not install ${missing[*]} (apt-get install failed)"
}

# Makes sure dpkg accepts arm64 packages, which `apt-get download PKG:arm64` needs.
emu_need_foreign_arch() {
    local arch=$1
    if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo=sudo
        $sudo dpkg --add-architecture "$arch"
        $sudo apt-get update -qq >/dev/null 2>&1 || true
    fi
}

emu_mkcache() {
    mkdir -p "$EMU_CACHE" 2>/dev/null || emu_die "cannot create cache dir $EMU_CACHE (set EMU_CACHE)"
    [ -w "$EMU_CACHE" ] || emu_die "cache dir $EMU_CACHE is not writable (set EMU_CACHE)"
}
