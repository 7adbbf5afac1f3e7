#!/usr/bin/env bash
# The fresh-machine check: makes a minimal Debian 12 root with debootstrap (no Rust, no compiler,
# no build tools), copies the repository's tracked files in and runs the README's two commands
# inside it with chroot (proc, sys and dev mounted), so that nothing comes from this machine but
# the kernel and the network to Debian's, PyPI's and crates.io's registries. Prints a transcript
# with the time of each step; exit status 0 when both commands passed.
#
# usage: scripts/fresh-check.sh [--keep] [--demo-only] [DIR]
#   DIR          where the root goes (default /var/tmp/facegate-fresh; emptied first)
#   --keep       leave the root in place afterwards (default: removed when everything passed)
#   --demo-only  run scripts/demo.sh only (scripts/test.sh takes 30 minutes or more)
# Needs root (debootstrap, chroot, mounts). FACEGATE_DEBIAN_MIRROR overrides the mirror.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$FACEGATE_ROOT"

keep=0 demo_only=0 root=/var/tmp/facegate-fresh
while [ $# -gt 0 ]; do
    case $1 in
        --keep) keep=1 ;;
        --demo-only) demo_only=1 ;;
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "fresh-check: unknown option $1" >&2; exit 2 ;;
        *) root=$1 ;;
    esac
    shift
done
mirror="${FACEGATE_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
[ "$(id -u)" -eq 0 ] || { echo "fresh-check: run as root (debootstrap, chroot and mounts)" >&2; exit 1; }
case "$root" in
    /|/usr|/var|/tmp|/root|/home) echo "fresh-check: refusing to use $root" >&2; exit 2 ;;
esac

say() { printf 'fresh-check: %s\n' "$*"; }

mounted=()
cleanup() {
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
}
trap 'cleanup; section_summary fresh-check' EXIT

bootstrap() {
    if ! command -v debootstrap >/dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap >/dev/null
    fi
    rm -rf "$root"
    mkdir -p "$root"
    # minbase: essential packages and apt only; no compiler, no Rust, no python3.
    debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.debootstrap.log" 2>&1 || {
        tail -n 20 "$root.debootstrap.log" >&2
        return 1
    }
    rm -f "$root.debootstrap.log"
}

copy_repo() {
    mkdir -p "$root/root/facegate"
    # The tracked files as they are in this working copy (no target/, no caches).
    git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$root/root/facegate"
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    # debootstrap writes no /etc/hosts; every installed Debian has one (the installer's, or the
    # cloud image's) naming localhost, which the tests resolve. The installer's two lines:
    [ -e "$root/etc/hosts" ] || printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
    # The site's own certificate authorities (a TLS-inspecting proxy's, say) are the network's,
    # not a build tool: without them crates.io and PyPI are unreachable from the root. Debian's
    # ca-certificates, installed by the set-up inside, picks them up from here.
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
        mkdir -p "$root/usr/local/share/ca-certificates"
        cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    fi
    for m in proc sys dev dev/pts; do
        mkdir -p "$root/$m"
        mount --bind "/$m" "$root/$m"
        mounted+=("$root/$m")
    done
    say "in the root: $(sed -n 's/^PRETTY_NAME="\(.*\)"$/\1/p' "$root/etc/os-release");" \
        "cargo: $(chroot "$root" sh -c "command -v cargo || echo none")," \
        "cc: $(chroot "$root" sh -c "command -v cc || echo none")"
}

# Runs a repository command inside the root as a fresh login would: a clean environment, root's
# home, no rustup, no CARGO_HOME or caches from this machine.
in_root() {
    chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        /bin/bash -c 'cd /root/facegate && "$@"' _ "$@"
}

section "debootstrap a minimal Debian 12 root in $root" bootstrap
section "copy the repository in, mount proc, sys and dev" copy_repo
section "README command 1: scripts/demo.sh (inside the root)" in_root scripts/demo.sh
if [ "$demo_only" = 0 ]; then
    section "README command 2: scripts/test.sh (inside the root)" in_root scripts/test.sh
fi
cleanup
mounted=()
if [ "$keep" = 0 ]; then
    rm -rf "$root"
else
    say "root kept in $root"
fi
say "both README commands passed in a Debian 12 root that had no Rust"
