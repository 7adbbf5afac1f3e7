#!/usr/bin/env bash
# Builds facegate in release and installs it for a local try: the binary on PATH, the packaged
# configuration template (never over an existing configuration) and the systemd unit (neither
# enabled nor started). A terminal gets the Debian package instead (scripts/package.sh).
#
# usage: scripts/install.sh [--no-build]
#   PREFIX   where the binary goes, $PREFIX/bin/facegate (default /usr/local)
#   DESTDIR  stages everything under this root instead of / (to look at it first)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$FACEGATE_ROOT"

build=1
case "${1:-}" in
    "") ;;
    --no-build) build=0 ;;
    -h | --help)
        sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "install: unknown argument '$1' (usage: scripts/install.sh [--no-build])" >&2
        exit 2
        ;;
esac

prefix="${PREFIX:-/usr/local}"
dest="${DESTDIR:-}"
bin="$FACEGATE_TARGET_BASE/release/facegate"
conf="$dest/etc/facegate/facegate.toml"
unit="$dest/etc/systemd/system/facegate.service"

if [ -z "$dest" ] && [ "$(id -u)" != 0 ]; then
    echo "install: writing $prefix/bin and /etc needs root (or set DESTDIR to stage elsewhere)" >&2
    exit 1
fi

if [ "$build" = 1 ]; then
    command -v cargo >/dev/null || {
        echo "install: cargo is missing: run scripts/setup-debian.sh --host first" >&2
        exit 1
    }
    echo "install: building $bin (release; the first build takes several minutes)"
    cargo build --quiet --release --locked --bin facegate
fi
[ -x "$bin" ] || {
    echo "install: $bin is missing: run without --no-build" >&2
    exit 1
}

install -D -m 0755 "$bin" "$dest$prefix/bin/facegate"
echo "install: $dest$prefix/bin/facegate"

if [ -e "$conf" ]; then
    echo "install: $conf exists: kept (the template is packaging/facegate.toml)"
else
    install -D -m 0644 packaging/facegate.toml "$conf"
    echo "install: $conf (from packaging/facegate.toml)"
fi

# The unit names the packaged binary's path; this one lives under $prefix.
install -d "$(dirname "$unit")"
sed "s|^ExecStart=/usr/bin/facegate |ExecStart=$prefix/bin/facegate |" systemd/facegate.service >"$unit.new"
grep -q "^ExecStart=$prefix/bin/facegate run " "$unit.new" || {
    rm -f "$unit.new"
    echo "install: systemd/facegate.service has no 'ExecStart=/usr/bin/facegate run' line to adapt" >&2
    exit 1
}
chmod 0644 "$unit.new"
mv "$unit.new" "$unit"
echo "install: $unit (not enabled, not started)"
if [ -z "$dest" ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
fi

cat <<EOF

Next:
  1. Edit /etc/facegate/facegate.toml: device_no, url and the board profile ("sim" on a
     machine without the terminal's hardware).
  2. facegate config check
  3. facegate run            (in the foreground; Ctrl-C stops it)
     or: systemctl start facegate, and journalctl -u facegate -f for its log
  4. facegate status, facegate doctor
EOF
