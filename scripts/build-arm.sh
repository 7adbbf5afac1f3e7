#!/usr/bin/env bash
# Builds facegate's shipped release binaries for the terminals' SoCs: fully static musl
# executables that need nothing from the board's image but a Linux kernel, whatever C library
# (glibc of any age, uClibc-ng, musl, none) the vendor's image has. Debian's Rust 1.85 with std
# rebuilt from rust-web-src, linked by zig (run scripts/setup-debian.sh first; see musl_cargo
# in scripts/lib.sh). Then proves each is static and starts on its CPU, and holds the budget:
#
#   size (stripped: the release profile strips), `file` ("statically linked"),
#   `readelf -d` (no NEEDED entry, no program interpreter), `--help` under qemu-user with no
#   -L, i.e. with no ARM C library on the host to fall back on.
#
# usage: scripts/build-arm.sh [TARGET...]   (default: aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf)
# Binaries: $FACEGATE_CROSS_TARGET_DIR/<target>/release/facegate (default target/cross).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$FACEGATE_ROOT"

# What a stripped aarch64 binary may take on the terminal's flash (4 MiB unless overridden).
MAX_AARCH64_BYTES="${FACEGATE_MAX_AARCH64_BYTES:-$((4 * 1024 * 1024))}"

targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=("${FACEGATE_ARM_TARGETS[@]}")
for t in "${targets[@]}"; do
    [ -n "${FACEGATE_QEMU[$t]:-}" ] || {
        echo "build-arm: unknown target $t (known: ${FACEGATE_ARM_TARGETS[*]})" >&2
        exit 2
    }
done
for tool in "$DEBIAN_CARGO" "${FACEGATE_ZIG_VENV}/bin/cargo-zigbuild"; do
    [ -x "$tool" ] || { echo "build-arm: $tool is missing: run scripts/setup-debian.sh" >&2; exit 1; }
done

# One target at a time: each links (LTO, one codegen unit) on both cores, and the time of each
# shows in the log.
declare -A build_secs
for t in "${targets[@]}"; do
    start=$SECONDS
    CARGO_TARGET_DIR="$FACEGATE_CROSS_TARGET_DIR" musl_cargo zigbuild --locked --release \
        --bin facegate --target "$t" -Zbuild-std=std,panic_abort
    build_secs[$t]=$((SECONDS - start))
done

status=0
fail() { echo "build-arm: $*" >&2; status=1; }
for t in "${targets[@]}"; do
    bin="$FACEGATE_CROSS_TARGET_DIR/$t/release/facegate"
    size=$(stat -c %s "$bin")
    info="$(file -b "$bin")"
    printf '\n== %s: %s bytes (%s KiB), built in %s s\n' "$t" "$size" "$((size / 1024))" "${build_secs[$t]}"
    printf 'file: %s\n' "$info"
    printf 'readelf -d:\n'
    readelf -d "$bin" | sed 's/^/    /'
    case "$info" in
        *"statically linked"*) ;;
        *) fail "$t: file does not say 'statically linked'" ;;
    esac
    case "$info" in
        *", stripped"*) ;;
        *) fail "$t: not stripped (the release profile sets strip = true)" ;;
    esac
    if readelf -d "$bin" | grep -q '(NEEDED)'; then fail "$t: the binary needs shared libraries"; fi
    if readelf -l "$bin" | grep -q INTERP; then fail "$t: the binary asks for a program interpreter"; fi
    if [ "$t" = aarch64-unknown-linux-musl ] && [ "$size" -gt "$MAX_AARCH64_BYTES" ]; then
        fail "the stripped aarch64 binary is $size bytes, over the $MAX_AARCH64_BYTES-byte budget"
    fi
    # No -L: there is no ARM C library for qemu to load; the binary must need none.
    if out=$("${FACEGATE_QEMU[$t]}" "$bin" --help 2>&1); then
        printf '%s --help:\n' "${FACEGATE_QEMU[$t]}"
        printf '%s\n' "$out" | head -n 4 | sed 's/^/    /'
    else
        printf '%s\n' "$out" | tail -n 5 >&2
        fail "$bin --help failed under ${FACEGATE_QEMU[$t]}"
    fi
done
exit "$status"
