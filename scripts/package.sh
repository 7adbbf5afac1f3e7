#!/usr/bin/env bash
# Builds facegate's Debian packages (arm64, armhf) from the static release binaries
# (scripts/build-arm.sh runs first and is a no-op when they are up to date), with cargo-deb
# installed from crates.io at a pinned version when missing. The packages depend on nothing:
# the binary is static, so one package serves a Debian 12 board, an older one or any image
# with dpkg.
#
# usage: scripts/package.sh [TARGET...]  (default: aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf)
# Packages: $FACEGATE_CROSS_TARGET_DIR/debian/facegate_<version>-1_<arch>.deb
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$FACEGATE_ROOT"

CARGO_DEB_VERSION=3.8.0

targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=("${FACEGATE_ARM_TARGETS[@]}")

if [ "$(cargo deb --version 2>/dev/null)" != "cargo-deb $CARGO_DEB_VERSION" ]; then
    echo "package: installing cargo-deb $CARGO_DEB_VERSION (cargo install, a few minutes)"
    log="$(mktemp)"
    if ! cargo install --quiet --locked --force cargo-deb --version "$CARGO_DEB_VERSION" >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        rm -f "$log"
        echo "package: cargo install cargo-deb $CARGO_DEB_VERSION failed" >&2
        exit 1
    fi
    rm -f "$log"
fi

scripts/build-arm.sh "${targets[@]}"

for t in "${targets[@]}"; do
    bin="$FACEGATE_CROSS_TARGET_DIR/$t/release/facegate"
    # The package declares no dependency at all: build-arm.sh has checked that the binary is
    # static, and this repeats it for the very file that goes into the package.
    if readelf -d "$bin" | grep -q '(NEEDED)' || readelf -l "$bin" | grep -q INTERP; then
        echo "package: $bin is not static; a package without Depends cannot ship it" >&2
        exit 1
    fi
    # --no-build: cargo-deb packages the binary build-arm.sh made (cargo-deb would build with
    # the cargo on PATH otherwise); --no-strip: the release profile stripped it already.
    deb="$(CARGO_TARGET_DIR="$FACEGATE_CROSS_TARGET_DIR" cargo deb --no-build --no-strip --target "$t" --quiet)"
    [ -f "$deb" ] || { echo "package: cargo deb reported no package for $t" >&2; exit 1; }
    printf '\n== %s\n' "$deb"
    dpkg-deb --field "$deb" Package Version Architecture Depends Installed-Size
    dpkg-deb --contents "$deb"
    depends="$(dpkg-deb --field "$deb" Depends)"
    [ -z "$depends" ] || { echo "package: $deb depends on '$depends'; the static binary needs nothing" >&2; exit 1; }
    # The packaged binary is the checked one, byte for byte.
    x="$(mktemp -d)"
    dpkg-deb -x "$deb" "$x"
    cmp "$x/usr/bin/facegate" "$bin" || { rm -rf "$x"; echo "package: $deb holds another facegate than $bin" >&2; exit 1; }
    rm -rf "$x"
done
