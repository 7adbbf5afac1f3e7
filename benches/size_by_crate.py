#!/usr/bin/env python3
"""Bytes of code and data per crate in a release binary built with symbols (cargo-bloat-like).

usage: benches/size_by_crate.py BINARY [NM]   (NM: e.g. aarch64-linux-gnu-nm; default nm)

Build the binary with symbols first, e.g. for the terminal's aarch64 (see scripts/build-arm.sh):
    CARGO_PROFILE_RELEASE_STRIP=false CARGO_TARGET_DIR=target/cross bash -c 'source scripts/lib.sh; \
        musl_cargo zigbuild --locked --release --bin facegate --target aarch64-unknown-linux-musl \
        -Zbuild-std=std,panic_abort'
Each symbol of `nm --print-size` counts for the crate its demangled name starts with (for
`<T as Trait>::f`, T's crate; generic code instantiated for another crate's types counts for
the crate whose function it is). C and assembly symbols are named by their known prefixes. With
LTO much is inlined across crates, so the figures say where code ended up, not who caused it.
"""
import collections
import re
import subprocess
import sys

C_PREFIXES = [
    ("sqlite3", "libsqlite3-sys (SQLite, C)"),
    ("fts3", "libsqlite3-sys (SQLite, C)"),
    ("fts5", "libsqlite3-sys (SQLite, C)"),
    ("yy_", "libsqlite3-sys (SQLite, C)"),
    ("ecp_nistz256", "ring (C/asm)"),
    ("ring_core_", "ring (C/asm)"),
    ("ring_", "ring (C/asm)"),
    ("GFp_", "ring (C/asm)"),
    ("aes_", "ring (C/asm)"),
    ("ecp_", "ring (C/asm)"),
    ("x25519_", "ring (C/asm)"),
    ("ChaCha20", "ring (C/asm)"),
    ("bn_", "ring (C/asm)"),
    ("p256", "ring (C/asm)"),
    ("p384", "ring (C/asm)"),
    ("gcm_", "ring (C/asm)"),
    ("__", "compiler / libc runtime"),
]


def crate_of(name: str) -> str:
    n = name.strip()
    while n.startswith(("<", "&", "*const ", "*mut ", "dyn ", "mut ")):
        n = re.sub(r"^(<|&|\*const |\*mut |dyn |mut )", "", n)
    m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)::", n)
    if m:
        return m.group(1)
    for prefix, crate in C_PREFIXES:
        if n.startswith(prefix):
            return crate
    # Mostly SQLite's static functions (balance, whereLoop…, resolveExprStep…), then musl.
    return "other C: SQLite statics, musl, runtime"


def main() -> None:
    binary = sys.argv[1]
    nm = sys.argv[2] if len(sys.argv) > 2 else "nm"
    out = subprocess.run([nm, "--print-size", "--size-sort", "-C", binary], capture_output=True, text=True, check=True)
    sizes: collections.Counter = collections.Counter()
    total = 0
    for line in out.stdout.splitlines():
        parts = line.split(None, 3)
        if len(parts) < 4:
            continue
        size = int(parts[1], 16)
        total += size
        sizes[crate_of(parts[3])] += size
    print(f"{'crate':40} {'bytes':>10} {'share':>6}")
    for crate, size in sizes.most_common(15):
        print(f"{crate:40} {size:>10} {100 * size / total:5.1f}%")
    print(f"{'(all symbols)':40} {total:>10}")


if __name__ == "__main__":
    main()
