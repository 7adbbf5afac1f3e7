#!/usr/bin/env bash
# The access benchmark (benches/access.rs) on x86_64 with the two C libraries, in one run: the
# shipped build's way (Debian's Rust 1.85, std rebuilt with the bench profile, musl linked
# statically by zig) next to the same with glibc (std rebuilt the same way, so that the C
# library, its allocator included, is the only difference). Runs alternate, glibc first, so a
# change in the machine's load hits both; each prints its Markdown table.
#
# usage: scripts/bench-libc.sh [ROUNDS]   (default 2 runs of each; FACEGATE_BENCH_* as in the bench)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$FACEGATE_ROOT"

rounds="${1:-2}"
dir="$FACEGATE_TARGET_BASE/bench-libc"
musl=x86_64-unknown-linux-musl
gnu=x86_64-unknown-linux-gnu

# The bench binary finds the daemon through CARGO_BIN_EXE_facegate: same target, same profile.
CARGO_TARGET_DIR="$dir" CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS="-C link-self-contained=no" \
    musl_cargo zigbuild --locked --profile bench --target "$musl" -Zbuild-std=std,panic_abort \
    --bin facegate --bench access -Zpanic-abort-tests
CARGO_TARGET_DIR="$dir" RUSTC_BOOTSTRAP=1 debian_cargo build --locked --profile bench --target "$gnu" \
    -Zbuild-std=std,panic_abort --bin facegate --bench access -Zpanic-abort-tests

bench_bin() { find "$dir/$1/release/deps" -maxdepth 1 -type f -executable -name 'access-*' -printf '%T@ %p\n' | sort -n | tail -n 1 | cut -d' ' -f2; }
declare -A bin=([$gnu]="$(bench_bin "$gnu")" [$musl]="$(bench_bin "$musl")")
for t in "$gnu" "$musl"; do
    printf '%s: %s (%s)\n' "$t" "${bin[$t]}" "$(file -b "$dir/$t/release/facegate" | cut -d, -f1,4)"
done
for ((r = 1; r <= rounds; r++)); do
    for t in "$gnu" "$musl"; do
        printf '\n## %s, run %s of %s (%s)\n\n' "$t" "$r" "$rounds" "$(uptime | sed 's/.*load/load/')"
        "${bin[$t]}" --bench
    done
done
