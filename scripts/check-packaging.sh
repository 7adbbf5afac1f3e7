#!/usr/bin/env bash
# Checks what the Debian package installs besides the binary: the systemd unit must pass
# `systemd-analyze verify` without a single diagnostic, and the default configuration must be
# refused as shipped (no device number or cloud URL yet) but accepted once those are filled in.
#
# usage: scripts/check-packaging.sh     (needs systemd-analyze: scripts/setup-debian.sh)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$FACEGATE_ROOT"

UNIT=systemd/facegate.service
CONFIG=packaging/facegate.toml

command -v systemd-analyze >/dev/null || {
    echo "check-packaging: systemd-analyze is missing: run scripts/setup-debian.sh" >&2
    exit 1
}
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The unit, verified in a scratch root holding systemd's own units and a stub for the
# /usr/bin/facegate it starts, so the check needs neither root nor an installed agent.
root="$work/root"
mkdir -p "$root/usr/bin" "$root/usr/lib/systemd" "$root/etc/systemd/system"
cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
printf '#!/bin/sh\nexit 0\n' >"$root/usr/bin/facegate"
chmod 0755 "$root/usr/bin/facegate"
cp "$UNIT" "$root/etc/systemd/system/"
if ! systemd-analyze verify --root="$root" facegate.service >"$work/verify.log" 2>&1 ||
    [ -s "$work/verify.log" ]; then
    sed "s|$root||g" "$work/verify.log" >&2
    echo "check-packaging: $UNIT does not verify cleanly" >&2
    exit 1
fi
echo "check-packaging: $UNIT verifies cleanly"

# The default configuration, read by the agent itself.
cargo build --quiet --locked --bin facegate
facegate="$FACEGATE_TARGET_BASE/debug/facegate"
if "$facegate" config check --config "$CONFIG" >"$work/check.log" 2>&1; then
    echo "check-packaging: $CONFIG is accepted as shipped; it must demand a device number" >&2
    exit 1
fi
if ! grep -q device_no "$work/check.log"; then
    cat "$work/check.log" >&2
    echo "check-packaging: refusing $CONFIG as shipped should name device_no" >&2
    exit 1
fi
sed -e 's|^device_no = ""|device_no = "FG0001"|' -e 's|^url = ""|url = "https://cloud.example:8443"|' \
    "$CONFIG" >"$work/facegate.toml"
if ! "$facegate" config check --config "$work/facegate.toml" >"$work/check.log" 2>&1; then
    cat "$work/check.log" >&2
    echo "check-packaging: $CONFIG with device_no and url filled in is refused" >&2
    exit 1
fi
echo "check-packaging: $CONFIG is refused as shipped (device_no) and accepted once filled in"
