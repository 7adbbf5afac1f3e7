#!/usr/bin/env bash
# Prepares a Debian 12 (bookworm) machine to build, cross-compile and test facegate:
# libclang for v4l's bindings, Debian's Rust 1.85 (rustc, cargo, clippy, rustfmt: the crate's
# rust-version, so nothing newer creeps in, and a complete toolchain where rustup is absent),
# the Rust standard library's source (the static ARM binaries rebuild std for musl), zig and
# cargo-zigbuild from PyPI in a venv under $FACEGATE_TOOLS (the linker and musl C library of
# the static builds), qemu-user to run ARM binaries, and systemd-analyze and the shell linter
# for the packaging checks. Everything comes from Debian's and PyPI's registries.
#
# usage: scripts/setup-debian.sh [--host]   --host: only what a host build needs (Debian's
#        Rust 1.85 with clippy and rustfmt, libclang, gcc), for the demo; nothing for ARM.
# Idempotent: a second run checks and installs nothing. Needs root (or sudo) to install.
# FACEGATE_RUST_DEB_VERSION overrides the pinned Debian Rust version (bookworm-security offers
# newer ones, which the pin keeps out).
set -euo pipefail

host_only=0
case "${1:-}" in
    --host) host_only=1 ;;
    "") ;;
    *) echo "usage: $0 [--host]" >&2; exit 2 ;;
esac

RUST_DEB_VERSION="${FACEGATE_RUST_DEB_VERSION:-1.85.0+dfsg3-1~deb12u3}"
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
HOST_PACKAGES=(
    ca-certificates gcc libc6-dev libclang-dev openssl
    "rustc-web=$RUST_DEB_VERSION" "cargo-web=$RUST_DEB_VERSION" "libstd-rust-web-dev=$RUST_DEB_VERSION"
    "rust-web-clippy=$RUST_DEB_VERSION" "rustfmt-web=$RUST_DEB_VERSION"
)
PACKAGES=(
    "${HOST_PACKAGES[@]}"
    "rust-web-src=$RUST_DEB_VERSION" python3-venv file binutils
    qemu-user-static systemd shellcheck
)

say() { printf 'setup-debian: %s\n' "$*"; }
die() { printf 'setup-debian: error: %s\n' "$*" >&2; exit 1; }

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    die "run as root (or install sudo): packages and the ARM std go into system directories"
fi

[ -r /etc/debian_version ] || die "this script is for Debian 12 (bookworm); /etc/debian_version is missing"
case "$(cat /etc/debian_version)" in
    12*|bookworm*) ;;
    *) say "warning: written for Debian 12, found Debian $(cat /etc/debian_version); continuing" ;;
esac
[ "$(dpkg --print-architecture)" = amd64 ] || say "warning: written for an amd64 build machine"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
LOG="$WORK/log"
export DEBIAN_FRONTEND=noninteractive

# Runs a command with its output in $LOG; on failure shows the tail and the given message.
quiet() {
    local what="$1"; shift
    if ! "$@" >"$LOG" 2>&1; then
        tail -n 30 "$LOG" >&2
        die "$what failed (command: $*)"
    fi
}

# True when the package (name or name=version) is installed, at that version if one is given.
installed() {
    local name="${1%%=*}" want="" status
    [ "$name" != "$1" ] && want="${1#*=}"
    status="$(dpkg-query -W -f='${db:Status-Status} ${Version}' "$name" 2>/dev/null)" || return 1
    [ "${status%% *}" = installed ] || return 1
    [ -z "$want" ] || [ "${status#* }" = "$want" ]
}

apt_update() {
    # A foreign index that is mid-sync on the mirror makes apt-get update exit 100 although
    # everything needed is there: judge by whether the installs below succeed instead.
    if ! "${SUDO[@]}" apt-get update -q >"$LOG" 2>&1; then
        say "apt-get update reported errors (continuing; the installs decide):"
        grep -E '^(E|W):' "$LOG" | head -n 5 >&2 || true
    fi
}

if [ "$host_only" = 1 ]; then
    PACKAGES=("${HOST_PACKAGES[@]}")
fi

# 1. Debian packages.
missing=()
for pkg in "${PACKAGES[@]}"; do
    installed "$pkg" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]}"
    apt_update
    if ! "${SUDO[@]}" apt-get install -y -q --no-install-recommends --allow-downgrades "${missing[@]}" >"$LOG" 2>&1; then
        say "install failed; refreshing the package lists once more and retrying"
        sleep 20
        apt_update
        quiet "apt-get install ${missing[*]}" \
            "${SUDO[@]}" apt-get install -y -q --no-install-recommends --allow-downgrades "${missing[@]}"
    fi
fi

if [ "$host_only" = 1 ]; then
    say "ready for host builds"
    exit 0
fi

# 2. zig (linker and musl C library of the static ARM builds) and cargo-zigbuild, pinned, in a
# venv of their own: PyPI ships both as wheels, Debian 12 has neither.
if ! "$FACEGATE_ZIG_VENV/bin/cargo-zigbuild" --version >/dev/null 2>&1 ||
    [ "$("$FACEGATE_ZIG_VENV/bin/python3" -m ziglang version 2>/dev/null)" != "$FACEGATE_ZIG_VERSION" ]; then
    say "installing ziglang $FACEGATE_ZIG_VERSION and cargo-zigbuild $FACEGATE_ZIGBUILD_VERSION from PyPI into $FACEGATE_ZIG_VENV"
    "${SUDO[@]}" mkdir -p "$FACEGATE_TOOLS"
    "${SUDO[@]}" rm -rf "$FACEGATE_ZIG_VENV"
    quiet "python3 -m venv $FACEGATE_ZIG_VENV" "${SUDO[@]}" /usr/bin/python3 -m venv "$FACEGATE_ZIG_VENV"
    quiet "pip install ziglang cargo-zigbuild" "${SUDO[@]}" "$FACEGATE_ZIG_VENV/bin/pip" install -q \
        "ziglang==$FACEGATE_ZIG_VERSION" "cargo-zigbuild==$FACEGATE_ZIGBUILD_VERSION"
fi

# 3. The Rust standard library's source for -Zbuild-std, at the exact version of Debian's rustc.
RUSTC=/usr/bin/rustc
[ -x "$RUSTC" ] || die "$RUSTC is missing although rustc-web is installed"
src="$("$RUSTC" --print sysroot)/lib/rustlib/src/rust/library/std/Cargo.toml"
[ -f "$src" ] || die "$src is missing although rust-web-src is installed"

say "ready: $("$RUSTC" --version), zig $("$FACEGATE_ZIG_VENV/bin/python3" -m ziglang version), $("$FACEGATE_ZIG_VENV/bin/cargo-zigbuild" --version), $(qemu-aarch64-static --version | head -n 1)"
