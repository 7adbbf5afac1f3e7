#!/usr/bin/env bash
# Packs the emulated board's initramfs, a root file system with no C library at all: busybox
# (Debian's busybox-static for the board's architecture), facegate, the mock cloud and emu-probe
# (static musl executables from emu/build-guest.sh), the guest /init, the emu board profile and
# configuration. Refuses any ELF file that needs a shared library or a program interpreter, and
# prints the listing (the proof that nothing else is there) on stderr.
#
#   emu/build-initramfs.sh [--arch arm64|arm] FACEGATE_BIN MOCK_CLOUD_BIN EMU_PROBE_BIN OUT.gz
set -euo pipefail
# shellcheck source=emu/common.sh
. "$(dirname "$0")/common.sh"

arch=arm64
if [ "${1:-}" = --arch ]; then
    arch=$2
    shift 2
fi
case $arch in
    arm64) deb_arch=arm64 ;;
    arm) deb_arch=armhf ;;
    *) emu_die "build-initramfs: unknown architecture $arch (arm64 or arm)" ;;
esac
[ $# -eq 4 ] || emu_die "usage: emu/build-initramfs.sh [--arch arm64|arm] FACEGATE_BIN MOCK_CLOUD_BIN EMU_PROBE_BIN OUT.gz"
facegate_bin=$1 mock_bin=$2 probe_bin=$3 out=$4
for f in "$facegate_bin" "$mock_bin" "$probe_bin"; do
    [ -x "$f" ] || emu_die "$f: no such executable (emu/build-guest.sh builds them)"
done
emu_need_packages binutils file python3
emu_need_foreign_arch "$deb_arch"
emu_mkcache

# busybox: fetched once per version into the cache.
bb_version=$(apt-cache policy "busybox-static:$deb_arch" 2>/dev/null | awk '/Candidate:/ {print $2}')
if [ -z "$bb_version" ] || [ "$bb_version" = "(none)" ]; then
    emu_die "busybox-static:$deb_arch is not known to apt (apt-get update after dpkg --add-architecture $deb_arch)"
fi
bb_dir=$EMU_CACHE/busybox-$deb_arch-$bb_version
if [ ! -x "$bb_dir/bin/busybox" ]; then
    tmp=$(mktemp -d)
    chmod 755 "$tmp"   # apt's download user must be able to write there
    (cd "$tmp" && apt-get download -qq "busybox-static:$deb_arch=$bb_version" >/dev/null) \
        || emu_die "apt-get download busybox-static:$deb_arch failed"
    rm -rf "$bb_dir.tmp"
    dpkg-deb -x "$tmp"/busybox-static_*_"$deb_arch".deb "$bb_dir.tmp"
    rm -rf "$tmp" "$bb_dir"
    mv "$bb_dir.tmp" "$bb_dir"
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,usr/bin,etc/facegate,proc,sys,dev,tmp,run,var/lib/facegate}
cp "$bb_dir/bin/busybox" "$stage/bin/busybox"
cp "$facegate_bin" "$stage/usr/bin/facegate"
cp "$mock_bin" "$stage/usr/bin/mock_cloud"
cp "$probe_bin" "$stage/usr/bin/emu-probe"
cp "$EMU_DIR/guest/init" "$stage/init"
chmod 755 "$stage/init"
cp "$EMU_DIR/board-emu.toml" "$stage/etc/facegate/board-emu.toml"
cp "$EMU_DIR/guest/facegate.toml" "$stage/etc/facegate/facegate.toml"

# No C library, no loader: every ELF file must be static. (The --standin programs are scripts.)
while IFS= read -r -d '' f; do
    [ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ] || continue
    if readelf -d "$f" | grep -q '(NEEDED)' || readelf -l "$f" | grep -q INTERP; then
        emu_die "${f#"$stage"} is not static: $(readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')"
    fi
done < <(find "$stage" -type f -print0)
{
    echo "initramfs ($arch): every file; no libc, no ld-*.so, no lib/ directory:"
    (cd "$stage" && find . -mindepth 1 | sort | while IFS= read -r f; do
        if [ -f "$f" ]; then
            printf '  %-36s %9s  %s\n' "${f#./}" "$(stat -c %s "$f")" "$(file -b "$f" | sed 's/, version [^,]*//; s/, BuildID[^,]*//; s/, for GNU\/Linux [^,]*//')"
        else
            printf '  %-36s %9s\n' "${f#./}/" dir
        fi
    done)
} >&2
if find "$stage" -name 'ld-*' -o -name 'libc.*' -o -name 'libc-*' -o -name '*.so*' | grep -q .; then
    emu_die "a shared library or loader slipped into the initramfs"
fi

python3 "$EMU_DIR/mkcpio.py" "$stage" "$out"
emu_log "initramfs: $out ($(du -k "$out" | cut -f1) KiB)"
echo "$out"
