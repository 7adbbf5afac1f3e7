#!/usr/bin/env bash
# Prepares a Debian 12 (bookworm) machine to build, cross-compile and test facegate:
# libclang for v4l's bindings, Debian's rustc/cargo 1.85 (the crate's rust-version, so nothing
# newer creeps in), gcc cross linkers, qemu-user to run ARM test binaries, systemd-analyze and
# the shell linter for the packaging checks, and the aarch64/armv7 std for Debian's rustc,
# unpacked from Debian's own packages because rustup's servers are not reachable from the
# build machines.
#
# usage: scripts/setup-debian.sh [--host]   --host: only what a host build needs (libclang,
#        gcc), for the demo; no Debian Rust, cross toolchains, qemu or ARM std.
# Idempotent: a second run checks and installs nothing. Needs root (or sudo) to install.
# FACEGATE_RUST_DEB_VERSION overrides the pinned Debian rustc version.
set -euo pipefail

host_only=0
case "${1:-}" in
    --host) host_only=1 ;;
    "") ;;
    *) echo "usage: $0 [--host]" >&2; exit 2 ;;
esac

RUST_DEB_VERSION="${FACEGATE_RUST_DEB_VERSION:-1.85.0+dfsg3-1~deb12u3}"
# Debian architecture -> Rust target whose std comes from libstd-rust-web-dev:<arch>.
STD_ARCHES=(arm64 armhf)
declare -A STD_TARGET=([arm64]=aarch64-unknown-linux-gnu [armhf]=armv7-unknown-linux-gnueabihf)
HOST_PACKAGES=(ca-certificates gcc libc6-dev libclang-dev openssl)
PACKAGES=(
    "${HOST_PACKAGES[@]}"
    "rustc-web=$RUST_DEB_VERSION" "cargo-web=$RUST_DEB_VERSION" "libstd-rust-web-dev=$RUST_DEB_VERSION"
    gcc-aarch64-linux-gnu libc6-dev-arm64-cross
    gcc-arm-linux-gnueabihf libc6-dev-armhf-cross
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

apt_updated=0
apt_update() {
    # A foreign index that is mid-sync on the mirror makes apt-get update exit 100 although
    # everything needed is there: judge by whether the installs below succeed instead.
    if ! "${SUDO[@]}" apt-get update -q >"$LOG" 2>&1; then
        say "apt-get update reported errors (continuing; the installs decide):"
        grep -E '^(E|W):' "$LOG" | head -n 5 >&2 || true
    fi
    apt_updated=1
}

if [ "$host_only" = 1 ]; then
    STD_ARCHES=()
    PACKAGES=("${HOST_PACKAGES[@]}")
fi

# 1. Foreign architectures: apt-get download of PKG:arm64 / PKG:armhf needs them.
need_update=0
foreign=" $(dpkg --print-foreign-architectures | tr '\n' ' ') "
for arch in "${STD_ARCHES[@]}"; do
    if [[ "$foreign" != *" $arch "* ]]; then
        say "adding dpkg architecture $arch"
        "${SUDO[@]}" dpkg --add-architecture "$arch"
        need_update=1
    fi
done

# 2. Host packages.
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

# 3. The ARM std for Debian's rustc, matching its exact version.
RUSTC=/usr/bin/rustc
[ -x "$RUSTC" ] || die "$RUSTC is missing although rustc-web is installed"
SYSROOT="$("$RUSTC" --print sysroot)"

# True when Debian's rustc can compile for the target, i.e. a matching std is in its sysroot.
std_works() {
    printf '' | "$RUSTC" --target "$1" --crate-type lib --crate-name probe \
        --emit metadata -o "$WORK/probe.rmeta" - >"$LOG" 2>&1
}

for arch in "${STD_ARCHES[@]}"; do
    target="${STD_TARGET[$arch]}"
    std_works "$target" && continue
    say "unpacking the $target std from libstd-rust-web-dev:$arch=$RUST_DEB_VERSION"
    if [ "$need_update" = 1 ] && [ "$apt_updated" = 0 ]; then apt_update; fi
    dl="$WORK/$arch"
    mkdir -p "$dl" && chmod 0755 "$WORK" "$dl"
    if ! (cd "$dl" && apt-get download -q "libstd-rust-web-dev:$arch=$RUST_DEB_VERSION") >"$LOG" 2>&1; then
        # The foreign index may have been mid-sync at the last update: refresh once.
        apt_update
        # shellcheck disable=SC2016  # $1/$2 are the inner shell's arguments
        quiet "apt-get download libstd-rust-web-dev:$arch=$RUST_DEB_VERSION" \
            bash -c 'cd "$1" && apt-get download -q "$2"' _ "$dl" "libstd-rust-web-dev:$arch=$RUST_DEB_VERSION"
    fi
    quiet "unpacking libstd-rust-web-dev:$arch" dpkg-deb -x "$dl"/libstd-rust-web-dev_*.deb "$dl/root"
    src="$dl/root/usr/lib/rustlib/$target"
    [ -d "$src/lib" ] || die "libstd-rust-web-dev:$arch has no usr/lib/rustlib/$target/lib"
    "${SUDO[@]}" mkdir -p "$SYSROOT/lib/rustlib"
    "${SUDO[@]}" rm -rf "$SYSROOT/lib/rustlib/$target"
    "${SUDO[@]}" cp -a "$src" "$SYSROOT/lib/rustlib/$target"
    if ! std_works "$target"; then
        tail -n 20 "$LOG" >&2
        die "Debian's rustc still cannot compile for $target after unpacking its std"
    fi
done

say "ready: $("$RUSTC" --version), targets ${STD_TARGET[*]}, $(qemu-aarch64-static --version | head -n 1)"
