#!/usr/bin/env bash
# Packs the emulated board's initramfs: busybox (Debian's busybox-static:arm64), the aarch64
# glibc loader and the libraries the binaries need, facegate, the mock cloud, emu-probe (built
# here from emu/guest/emu_probe.rs), the guest /init, the emu board profile and configuration.
#
#   emu/build-initramfs.sh FACEGATE_BIN MOCK_CLOUD_BIN OUT.gz
set -euo pipefail
. "$(dirname "$0")/common.sh"

[ $# -eq 3 ] || emu_die "usage: emu/build-initramfs.sh FACEGATE_BIN MOCK_CLOUD_BIN OUT.gz"
facegate_bin=$1 mock_bin=$2 out=$3
for f in "$facegate_bin" "$mock_bin"; do
    [ -x "$f" ] || emu_die "$f: no such executable (build the aarch64 binaries first)"
done
emu_need_packages gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu python3
emu_need_foreign_arch arm64
emu_mkcache

# busybox: fetched once per version into the cache.
bb_version=$(apt-cache policy busybox-static:arm64 2>/dev/null | awk '/Candidate:/ {print $2}')
[ -n "$bb_version" ] && [ "$bb_version" != "(none)" ] \
    || emu_die "busybox-static:arm64 is not known to apt (apt-get update after dpkg --add-architecture arm64)"
bb_dir=$EMU_CACHE/busybox-arm64-$bb_version
if [ ! -x "$bb_dir/bin/busybox" ]; then
    tmp=$(mktemp -d)
    chmod 755 "$tmp"   # apt's download user must be able to write there
    (cd "$tmp" && apt-get download -qq "busybox-static:arm64=$bb_version" >/dev/null) \
        || emu_die "apt-get download busybox-static:arm64 failed"
    rm -rf "$bb_dir.tmp"
    dpkg-deb -x "$tmp"/busybox-static_*_arm64.deb "$bb_dir.tmp"
    rm -rf "$tmp" "$bb_dir"
    mv "$bb_dir.tmp" "$bb_dir"
fi

# emu-probe: std-only Rust, built with the same rustc that builds facegate for the guest.
rustc_bin=${EMU_RUSTC:-/usr/bin/rustc}
[ -x "$rustc_bin" ] || rustc_bin=rustc
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,usr/bin,lib,etc/facegate,proc,sys,dev,tmp,run,var/lib/facegate}
"$rustc_bin" --edition 2021 -O -C strip=symbols --target aarch64-unknown-linux-gnu \
    -C linker=aarch64-linux-gnu-gcc "$EMU_DIR/guest/emu_probe.rs" -o "$stage/usr/bin/emu-probe" \
    || emu_die "building emu-probe for aarch64 failed (is the aarch64 Rust std installed?)"

cp "$bb_dir/bin/busybox" "$stage/bin/busybox"
cp "$facegate_bin" "$stage/usr/bin/facegate"
cp "$mock_bin" "$stage/usr/bin/mock_cloud"
cp "$EMU_DIR/guest/init" "$stage/init"
chmod 755 "$stage/init"
cp "$EMU_DIR/board-emu.toml" "$stage/etc/facegate/board-emu.toml"
cp "$EMU_DIR/guest/facegate.toml" "$stage/etc/facegate/facegate.toml"

# The dynamic loader and every library the binaries need, found through DT_NEEDED.
sysroot=/usr/aarch64-linux-gnu/lib
# (The self-test stand-ins are scripts: nothing needed.)
needed() { aarch64-linux-gnu-readelf -d "$1" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
queue=("$stage/usr/bin/facegate" "$stage/usr/bin/mock_cloud" "$stage/usr/bin/emu-probe")
cp -L "$sysroot/ld-linux-aarch64.so.1" "$stage/lib/"
while [ ${#queue[@]} -gt 0 ]; do
    f=${queue[0]}
    queue=("${queue[@]:1}")
    for lib in $(needed "$f"); do
        [ -e "$stage/lib/$lib" ] && continue
        [ -e "$sysroot/$lib" ] || emu_die "$lib (needed by $(basename "$f")) is not in $sysroot"
        cp -L "$sysroot/$lib" "$stage/lib/$lib"
        queue+=("$stage/lib/$lib")
    done
done

python3 "$EMU_DIR/mkcpio.py" "$stage" "$out"
emu_log "initramfs: $out ($(du -k "$out" | cut -f1) KiB)"
echo "$out"
