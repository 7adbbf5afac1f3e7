#!/usr/bin/env bash
# The newcomer's first run: installs what a host build needs (scripts/setup-debian.sh --host),
# builds the agent and runs examples/demo.rs, which starts the real daemon on the sim board
# against a mock cloud on 127.0.0.1 and narrates each step. Exits 0 when every step was seen.
#
# usage: scripts/demo.sh
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$FACEGATE_ROOT"

if [ "${FACEGATE_SKIP_SETUP:-0}" != 1 ]; then
    scripts/setup-debian.sh --host
fi
# cargo: rustup's when installed (lib.sh puts it first), else Debian's 1.85 that the set-up
# installed.
command -v cargo >/dev/null || {
    echo "demo: cargo is missing: run scripts/setup-debian.sh --host (Debian's Rust 1.85) or install rustup" >&2
    exit 1
}
echo "demo: building facegate and the demo (the first build takes a few minutes)"
# The demo finds the daemon beside itself: target/debug/facegate.
cargo build --quiet --locked --bin facegate --example demo
exec cargo run --quiet --locked --example demo
