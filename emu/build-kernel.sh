#!/usr/bin/env bash
# Builds the emulated board's kernel (arm64 Image with gpio-sim, vivid, 8250/PL011, virtio-blk,
# ext4) from Debian's linux-source-6.1 and the fragment emu/kernel.config, and caches it under
# $EMU_CACHE keyed by the fragment, the source version and this script, so a second run reuses it.
# Prints the Image's path on stdout.
set -euo pipefail
. "$(dirname "$0")/common.sh"

FRAGMENT=$EMU_DIR/kernel.config
emu_need_packages linux-source-6.1 bc bison flex libssl-dev libelf-dev gcc-aarch64-linux-gnu \
    make xz-utils
emu_mkcache

src_version=$(dpkg-query -W -f='${Version}' linux-source-6.1)
key=$( { cat "$FRAGMENT"; echo "linux-source-6.1 $src_version arm64"; } | sha256sum | cut -c1-16)
out=$EMU_CACHE/kernel-arm64-$key
if [ -s "$out/Image" ]; then
    emu_log "kernel: cached $out/Image"
    echo "$out/Image"
    exit 0
fi

exec 9>"$EMU_CACHE/.kernel.lock"
flock 9
if [ -s "$out/Image" ]; then   # another run finished it while we waited
    echo "$out/Image"
    exit 0
fi

build=$EMU_CACHE/kernel-build
rm -rf "$build"
mkdir -p "$build"
start=$(date +%s)
emu_log "kernel: unpacking linux-source-6.1 $src_version"
tar -xJf /usr/src/linux-source-6.1.tar.xz -C "$build" --strip-components=1
cd "$build"
mk() { make -s ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- "$@"; }
mk allnoconfig
KCONFIG_CONFIG=.config scripts/kconfig/merge_config.sh -m -O . .config "$FRAGMENT" >/dev/null
mk olddefconfig
# A symbol whose dependencies are missing is silently dropped by olddefconfig: catch it here
# rather than as a mysterious failure inside the guest.
while IFS= read -r line; do
    case $line in CONFIG_*=*) ;; *) continue ;; esac
    grep -qxF "$line" .config || emu_die "kernel: $line did not survive olddefconfig (missing dependency?)"
done <"$FRAGMENT"
emu_log "kernel: make Image with $(nproc) jobs (about 4 minutes on 2 cores)"
mk -j"$(nproc)" Image
mkdir -p "$out.tmp"
cp arch/arm64/boot/Image "$out.tmp/Image"
cp .config "$out.tmp/config"
rm -rf "$out"
mv "$out.tmp" "$out"
cd /
rm -rf "$build"
emu_log "kernel: built $out/Image in $(( $(date +%s) - start )) s"
echo "$out/Image"
