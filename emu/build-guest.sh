#!/usr/bin/env bash
# Builds the guest's aarch64 binaries, facegate and the mock_cloud example, in release mode with
# Debian's Rust 1.85 and the aarch64 cross linker, and prints the directory holding both.
set -euo pipefail
. "$(dirname "$0")/common.sh"

target=aarch64-unknown-linux-gnu
emu_need_packages gcc-aarch64-linux-gnu libc6-dev-arm64-cross libclang-dev
if [ ! -d /usr/lib/rustlib/$target/lib ] || [ ! -x /usr/bin/cargo ]; then
    if [ -f "$EMU_REPO/scripts/setup-debian.sh" ]; then
        bash "$EMU_REPO/scripts/setup-debian.sh" >&2
    else
        emu_die "Debian's rustc 1.85 with the $target std is needed (scripts/setup-debian.sh)"
    fi
fi
# The same toolchain, settings and build tree as scripts/build-arm.sh, so a CI run that built
# the ARM release binaries first only adds the mock cloud here.
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export BINDGEN_EXTRA_CLANG_ARGS_aarch64_unknown_linux_gnu="--sysroot=/usr/aarch64-linux-gnu"
tdir=${FACEGATE_CROSS_TARGET_DIR:-${CARGO_TARGET_DIR:-$EMU_REPO/target}/cross}
emu_log "building facegate and mock_cloud for $target (release)"
(cd "$EMU_REPO" && CARGO_TARGET_DIR=$tdir /usr/bin/cargo build --release --locked --target $target \
    --bin facegate --example mock_cloud >&2) || emu_die "cargo build for $target failed"
out=$tdir/emu-$target
mkdir -p "$out"
cp "$tdir/$target/release/facegate" "$out/facegate"
cp "$tdir/$target/release/examples/mock_cloud" "$out/mock_cloud"
echo "$out"
