#!/usr/bin/env bash
# facegate's test command: installs what is missing (scripts/setup-debian.sh), then runs the
# host test suite, a build of every target with Rust 1.85 (the crate's rust-version, so no
# newer syntax or API creeps in), the static ARM release builds and the aarch64 tests (static
# musl, like the shipped binary) under qemu-user.
#
# usage: scripts/test.sh        (FACEGATE_SKIP_SETUP=1 skips the package check on machines
#                                prepared another way)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$FACEGATE_ROOT"
trap 'section_summary test.sh' EXIT

msrv_build() {
    CARGO_TARGET_DIR="$FACEGATE_MSRV_TARGET_DIR" debian_cargo build --locked --all-targets
}

if [ "${FACEGATE_SKIP_SETUP:-0}" != 1 ]; then
    section "setup: Debian packages and ARM std" scripts/setup-debian.sh
fi
section "host tests ($(cargo --version | cut -d' ' -f1-2))" cargo test --locked
section "Rust 1.85 build, all targets ($("$DEBIAN_RUSTC" --version | cut -d' ' -f1-2))" msrv_build
section "static ARM release builds (musl)" scripts/build-arm.sh
# Under qemu-user: the library's unit tests (protocol, store, access, Wiegand, JPEG, board...).
# Not run under emulation, and why:
# - hw::linux::serial::tests: qemu-user does not implement the termios ioctls a pty needs;
# - the integration tests in tests/: they spawn the daemon, an ARM binary that this container
#   cannot exec without a binfmt_misc handler (FACEGATE_TEST_RUNNER makes the harness prefix
#   qemu for manual runs); the real aarch64 daemon runs on an emulated board in emu/ instead.
section "aarch64 tests (static musl) under qemu-user" scripts/test-arm.sh --lib -- --skip hw::linux::serial::tests
