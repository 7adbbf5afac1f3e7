#!/usr/bin/env bash
# Builds facegate's release binaries for the terminals' SoCs with Debian's Rust 1.85 and gcc
# cross linkers (run scripts/setup-debian.sh first), checks that each starts under qemu-user and
# that the aarch64 binary stays within the flash budget, and prints the sizes.
#
# usage: scripts/build-arm.sh [TARGET...]   (default: aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf)
# Binaries: $FACEGATE_CROSS_TARGET_DIR/<target>/release/facegate (default target/cross).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$FACEGATE_ROOT"

# What a stripped aarch64 binary may take on the terminal's flash (4 MiB unless overridden).
MAX_AARCH64_BYTES="${FACEGATE_MAX_AARCH64_BYTES:-$((4 * 1024 * 1024))}"

targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=("${FACEGATE_ARM_TARGETS[@]}")
target_args=()
for t in "${targets[@]}"; do
    [ -n "${FACEGATE_CROSS_PREFIX[$t]:-}" ] || {
        echo "build-arm: unknown target $t (known: ${FACEGATE_ARM_TARGETS[*]})" >&2
        exit 2
    }
    command -v "${FACEGATE_CROSS_PREFIX[$t]}-gcc" >/dev/null || {
        echo "build-arm: ${FACEGATE_CROSS_PREFIX[$t]}-gcc is missing: run scripts/setup-debian.sh" >&2
        exit 1
    }
    target_args+=(--target "$t")
done
[ -x "$DEBIAN_CARGO" ] || { echo "build-arm: $DEBIAN_CARGO is missing: run scripts/setup-debian.sh" >&2; exit 1; }

# One cargo run for all targets lets their final (single-threaded, LTO) links overlap.
CARGO_TARGET_DIR="$FACEGATE_CROSS_TARGET_DIR" debian_cargo build --locked --release --bin facegate "${target_args[@]}"

status=0
printf '\n%-32s %12s %12s  %s\n' target bytes stripped "needs glibc"
for t in "${targets[@]}"; do
    prefix="${FACEGATE_CROSS_PREFIX[$t]}"
    bin="$FACEGATE_CROSS_TARGET_DIR/$t/release/facegate"
    stripped="$(mktemp)"
    "$prefix-strip" -o "$stripped" "$bin"
    size=$(stat -c %s "$bin")
    ssize=$(stat -c %s "$stripped")
    rm -f "$stripped"
    # The newest glibc symbol version the binary links against: the oldest board it runs on.
    glibc=$("$prefix-objdump" -T "$bin" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n 1)
    printf '%-32s %12s %12s  %s\n' "$t" "$size" "$ssize" "${glibc#GLIBC_}"
    if [ "$t" = aarch64-unknown-linux-gnu ] && [ "$ssize" -gt "$MAX_AARCH64_BYTES" ]; then
        echo "build-arm: the stripped aarch64 binary is $ssize bytes, over the $MAX_AARCH64_BYTES-byte budget" >&2
        status=1
    fi
    # The binary must at least start on its target (dynamic loader, glibc, CPU features).
    if ! out=$("${FACEGATE_QEMU[$t]}" -L "/usr/$prefix" "$bin" --help 2>&1); then
        printf '%s\n' "$out" | tail -n 5 >&2
        echo "build-arm: $bin --help failed under ${FACEGATE_QEMU[$t]}" >&2
        status=1
    fi
done
exit "$status"
