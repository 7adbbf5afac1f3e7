#!/usr/bin/env bash
# The emulated ARM board test bed, in one command:
#
#   emu/run.sh [--cuts N] [--seed S] [--skip-scenario] [--workdir DIR] [--standin]
#
# Installs what is missing (Debian packages only), builds the kernel (cached), the aarch64
# facegate and mock cloud, the initramfs, then boots the board in qemu-system-aarch64: the
# scenario boot, N power cuts (default 10) and a final boot. Exit status 0 when every check
# passed. Set FACEGATE_AARCH64_DIR to a directory that already holds aarch64 `facegate` and
# `mock_cloud` to skip building them. --standin boots shell stand-ins for both instead, to check
# the test bed itself (the checks of the daemon's own behaviour then fail).
set -euo pipefail
. "$(dirname "$0")/common.sh"

cuts=10 seed="" skip_scenario="" workdir=""
while [ $# -gt 0 ]; do
    case $1 in
        --cuts) cuts=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        --skip-scenario) skip_scenario=--skip-scenario; shift ;;
        --workdir) workdir=$2; shift 2 ;;
        --standin) FACEGATE_AARCH64_DIR=$EMU_DIR/selftest; shift ;;
        -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) emu_die "unknown argument $1 (see emu/run.sh --help)" ;;
    esac
done

t0=$(date +%s)
emu_need_packages qemu-system-arm e2fsprogs python3 gcc-aarch64-linux-gnu \
    binutils-aarch64-linux-gnu libc6-dev-arm64-cross
image=$(bash "$EMU_DIR/build-kernel.sh")
t_kernel=$(date +%s)

# The aarch64 binaries: from FACEGATE_AARCH64_DIR, else built here.
if [ -n "${FACEGATE_AARCH64_DIR:-}" ]; then
    bindir=$FACEGATE_AARCH64_DIR
else
    bindir=$(bash "$EMU_DIR/build-guest.sh")
fi
t_build=$(date +%s)

workdir=${workdir:-$(mktemp -d "${TMPDIR:-/tmp}/facegate-emu.XXXXXX")}
mkdir -p "$workdir"
bash "$EMU_DIR/build-initramfs.sh" "$bindir/facegate" "$bindir/mock_cloud" "$workdir/initrd.gz" >/dev/null
t_initrd=$(date +%s)

rc=0
python3 "$EMU_DIR/driver.py" --kernel "$image" --initrd "$workdir/initrd.gz" --workdir "$workdir" \
    --cuts "$cuts" ${seed:+--seed "$seed"} $skip_scenario || rc=$?
t_end=$(date +%s)
emu_log "times: kernel $((t_kernel - t0)) s, aarch64 build $((t_build - t_kernel)) s," \
    "initramfs $((t_initrd - t_build)) s, emulation $((t_end - t_initrd)) s, total $((t_end - t0)) s"
if [ $rc -eq 0 ] && [ -z "${EMU_KEEP:-}" ]; then
    rm -rf "$workdir"
else
    emu_log "consoles and disk images kept in $workdir"
fi
exit $rc
