#!/usr/bin/env bash
# Runs facegate's test suite compiled for ARM the way the shipped binaries are (static musl:
# Debian's Rust 1.85, std rebuilt, linked by zig; see musl_cargo in lib.sh), under qemu-user
# with no -L: the test binaries are static too. Run scripts/setup-debian.sh first.
#
# usage: scripts/test-arm.sh [CARGO TEST ARGS...]     e.g. scripts/test-arm.sh --test cloud
# FACEGATE_ARM_TEST_TARGETS selects the targets (default: aarch64-unknown-linux-musl).
#
# Tests that spawn the daemon (CARGO_BIN_EXE_facegate, an ARM binary) cannot exec it directly
# where binfmt_misc has no qemu handler (containers): they prefix the command with
# $FACEGATE_TEST_RUNNER, set here to the same qemu command the test binaries run under.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$FACEGATE_ROOT"

read -r -a targets <<<"${FACEGATE_ARM_TEST_TARGETS:-aarch64-unknown-linux-musl}"
[ -x "$DEBIAN_CARGO" ] || { echo "test-arm: $DEBIAN_CARGO is missing: run scripts/setup-debian.sh" >&2; exit 1; }
for t in "${targets[@]}"; do
    qemu="${FACEGATE_QEMU[$t]:-}"
    [ -n "$qemu" ] || { echo "test-arm: unknown target $t (known: ${FACEGATE_ARM_TARGETS[*]})" >&2; exit 2; }
    command -v "$qemu" >/dev/null || { echo "test-arm: $qemu is missing: run scripts/setup-debian.sh" >&2; exit 1; }
    echo "test-arm: $t under $qemu"
    # -Zbuild-std=std,panic_abort: cargo adds panic_unwind and libtest for the test harness.
    FACEGATE_TEST_RUNNER="$qemu" CARGO_TARGET_DIR="$FACEGATE_CROSS_TARGET_DIR" \
        musl_cargo test --locked --target "$t" -Zbuild-std=std,panic_abort "$@"
done
