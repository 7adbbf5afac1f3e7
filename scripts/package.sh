#!/usr/bin/env bash
# Builds facegate's Debian packages for the ARM targets from the cross-built release binaries
# (scripts/build-arm.sh runs first and is a no-op when they are up to date), with cargo-deb
# installed from crates.io at a pinned version when missing.
#
# usage: scripts/package.sh [TARGET...]  (default: aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf)
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

# The glibc version the package depends on, from [package.metadata.deb] depends.
declared="$(sed -n 's/^depends = "libc6 (>= \([0-9.]*\))"$/\1/p' Cargo.toml)"
[ -n "$declared" ] || { echo "package: no 'depends = \"libc6 (>= X)\"' in Cargo.toml" >&2; exit 1; }

for t in "${targets[@]}"; do
    bin="$FACEGATE_CROSS_TARGET_DIR/$t/release/facegate"
    needed="$("${FACEGATE_CROSS_PREFIX[$t]}-objdump" -T "$bin" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n 1)"
    needed="${needed#GLIBC_}"
    if [ "$(printf '%s\n%s\n' "$needed" "$declared" | sort -V | tail -n 1)" != "$declared" ]; then
        echo "package: $t binary needs glibc $needed but the package declares libc6 (>= $declared):" >&2
        echo "package: raise depends in [package.metadata.deb] of Cargo.toml" >&2
        exit 1
    fi
    # Anything beyond glibc and libgcc would need its own Depends.
    extra="$("${FACEGATE_CROSS_PREFIX[$t]}-readelf" -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' |
        grep -vE '^(libc|libm|libdl|libpthread|librt|libgcc_s)\.so\.[0-9]+$|^ld-linux' || true)"
    if [ -n "$extra" ]; then
        echo "package: $t binary needs shared libraries the package does not depend on: $extra" >&2
        exit 1
    fi
    # --no-build: cargo-deb packages the binary build-arm.sh made with Debian's Rust 1.85 and
    # the cross toolchain (cargo-deb would build with rustup's cargo otherwise).
    deb="$(CARGO_TARGET_DIR="$FACEGATE_CROSS_TARGET_DIR" cargo deb --no-build --target "$t" --quiet)"
    [ -f "$deb" ] || { echo "package: cargo deb reported no package for $t" >&2; exit 1; }
    printf '\n== %s\n' "$deb"
    dpkg-deb --field "$deb" Package Version Architecture Depends Installed-Size
    dpkg-deb --contents "$deb"
done
