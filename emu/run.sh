#!/usr/bin/env bash
# The emulated ARM board test bed, in one command:
#
#   emu/run.sh [--arch arm64|arm] [--cuts N] [--full-cuts N] [--seed S] [--skip-scenario]
#              [--workdir DIR] [--standin]
#
# Installs what is missing (Debian and PyPI packages), builds the kernel (cached), the static
# facegate, mock cloud and emu-probe, the initramfs (no C library), then boots the board: the
# scenario boot, N power cuts (default 10) and a final boot, then the full disk: --full-cuts
# power cuts (default 3, 0 skips it) while a small partition is full, and a final boot.
# --arch arm64 (default): aarch64 Cortex-A53; --arch arm: armv7 Cortex-A7. Exit status 0 when
# every check passed.
# FACEGATE_GUEST_DIR: a directory already holding `facegate` and `mock_cloud` for the board
# (skips building them). --standin boots shell stand-ins for both instead, to check the test
# bed itself (the checks of the daemon's own behaviour then fail).
set -euo pipefail
# shellcheck source=emu/common.sh
. "$(dirname "$0")/common.sh"

cuts=10 full_cuts=3 seed="" skip_scenario="" workdir="" arch=arm64 guest_dir=${FACEGATE_GUEST_DIR:-}
while [ $# -gt 0 ]; do
    case $1 in
        --arch) arch=$2; shift 2 ;;
        --cuts) cuts=$2; shift 2 ;;
        --full-cuts) full_cuts=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        --skip-scenario) skip_scenario=--skip-scenario; shift ;;
        --workdir) workdir=$2; shift 2 ;;
        --standin) guest_dir=$EMU_DIR/selftest; shift ;;
        -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) emu_die "unknown argument $1 (see emu/run.sh --help)" ;;
    esac
done

case $arch in
    arm64) target=aarch64-unknown-linux-musl ;;
    arm) target=armv7-unknown-linux-musleabihf ;;
    *) emu_die "unknown --arch $arch (arm64 or arm)" ;;
esac

t0=$(date +%s)
emu_need_packages qemu-system-arm e2fsprogs python3
image=$(bash "$EMU_DIR/build-kernel.sh" "$arch")
t_kernel=$(date +%s)

# The guest's programs: built here (emu-probe always), facegate and mock_cloud unless given.
probedir=$(bash "$EMU_DIR/build-guest.sh" "$target" ${guest_dir:+--probe-only})
bindir=${guest_dir:-$probedir}
t_build=$(date +%s)

workdir=${workdir:-$(mktemp -d "${TMPDIR:-/tmp}/facegate-emu.XXXXXX")}
mkdir -p "$workdir"
bash "$EMU_DIR/build-initramfs.sh" --arch "$arch" "$bindir/facegate" "$bindir/mock_cloud" \
    "$probedir/emu-probe" "$workdir/initrd.gz" >/dev/null
t_initrd=$(date +%s)

rc=0
python3 "$EMU_DIR/driver.py" --arch "$arch" --kernel "$image" --initrd "$workdir/initrd.gz" \
    --workdir "$workdir" --cuts "$cuts" --full-cuts "$full_cuts" ${seed:+--seed "$seed"} $skip_scenario || rc=$?
t_end=$(date +%s)
emu_log "times ($arch): kernel $((t_kernel - t0)) s, $target build $((t_build - t_kernel)) s," \
    "initramfs $((t_initrd - t_build)) s, emulation $((t_end - t_initrd)) s, total $((t_end - t0)) s"
if [ $rc -eq 0 ] && [ -z "${EMU_KEEP:-}" ]; then
    rm -rf "$workdir"
else
    emu_log "consoles and disk images kept in $workdir"
fi
exit $rc
