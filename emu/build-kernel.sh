#!/usr/bin/env bash
# Builds the emulated board's kernel (gpio-sim, vivid, 8250/PL011, virtio-blk, ext4) from
# Debian's linux-source-6.1 and the fragment emu/kernel.config, and caches it under $EMU_CACHE
# keyed by the fragments and the source version, so a second run reuses it. Prints the image's
# path on stdout.
#
#   emu/build-kernel.sh [arm64|arm]   arm64 (default): Image for qemu-system-aarch64 -cpu cortex-a53
#                                     arm: zImage for qemu-system-arm -cpu cortex-a7; the arm64
#                                     fragment plus emu/kernel-armv7.config
set -euo pipefail
# shellcheck source=emu/common.sh
. "$(dirname "$0")/common.sh"

arch=${1:-arm64}
case $arch in
    arm64) fragments=("$EMU_DIR/kernel.config") cross=aarch64-linux-gnu- image=Image
        gcc_pkg=gcc-aarch64-linux-gnu ;;
    arm) fragments=("$EMU_DIR/kernel.config" "$EMU_DIR/kernel-armv7.config")
        cross=arm-linux-gnueabihf- image=zImage gcc_pkg=gcc-arm-linux-gnueabihf ;;
    *) emu_die "build-kernel: unknown architecture $arch (arm64 or arm)" ;;
esac
emu_need_packages linux-source-6.1 bc bison flex libssl-dev libelf-dev "$gcc_pkg" make xz-utils
emu_mkcache

src_version=$(dpkg-query -W -f='${Version}' linux-source-6.1)
key=$( { cat "${fragments[@]}"; echo "linux-source-6.1 $src_version $arch"; } | sha256sum | cut -c1-16)
out=$EMU_CACHE/kernel-$arch-$key
if [ -s "$out/$image" ]; then
    emu_log "kernel: cached $out/$image"
    echo "$out/$image"
    exit 0
fi

# One build per architecture at a time; the two architectures may build side by side.
lock=$EMU_CACHE/.kernel.lock
[ "$arch" = arm64 ] || lock=$EMU_CACHE/.kernel-$arch.lock
exec 9>"$lock"
flock 9
if [ -s "$out/$image" ]; then   # another run finished it while we waited
    echo "$out/$image"
    exit 0
fi

build=$EMU_CACHE/kernel-build
[ "$arch" = arm64 ] || build=$EMU_CACHE/kernel-build-$arch
rm -rf "$build"
mkdir -p "$build"
start=$(date +%s)
emu_log "kernel: unpacking linux-source-6.1 $src_version"
tar -xJf /usr/src/linux-source-6.1.tar.xz -C "$build" --strip-components=1
cd "$build"
mk() { make -s ARCH="$arch" CROSS_COMPILE="$cross" "$@"; }
mk allnoconfig
KCONFIG_CONFIG=.config scripts/kconfig/merge_config.sh -m -O . .config "${fragments[@]}" >/dev/null
mk olddefconfig
# A symbol whose dependencies are missing is silently dropped by olddefconfig: catch it here
# rather than as a mysterious failure inside the guest.
while IFS= read -r line; do
    case $line in CONFIG_*=*) ;; *) continue ;; esac
    grep -qxF "$line" .config || emu_die "kernel: $line did not survive olddefconfig (missing dependency?)"
done < <(cat "${fragments[@]}")
emu_log "kernel: make $image for $arch with $(nproc) jobs (about 8 minutes on an idle 2-core machine)"
mk -j"$(nproc)" "$image"
mkdir -p "$out.tmp"
cp "arch/$arch/boot/$image" "$out.tmp/$image"
cp .config "$out.tmp/config"
rm -rf "$out"
mv "$out.tmp" "$out"
cd /
rm -rf "$build"
emu_log "kernel: built $out/$image in $(( $(date +%s) - start )) s"
echo "$out/$image"
