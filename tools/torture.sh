#!/bin/bash
# The long crash torture: the real daemon on the sim board, SIGKILLed at random moments
# (start-up, mid-commit, mid-upload, mid person sync) and restarted, 500 times by default,
# then checked: every acknowledged event reached the cloud under its one msgID, no event has
# two msgIDs, the persons table equals what the cloud sent, SQLite's integrity check is ok.
# CI runs the same test with 30 kills (`cargo test --test torture`).
#
# Usage: tools/torture.sh [KILLS [SEED]]
#   KILLS  number of SIGKILLs (default 500)
#   SEED   replay a run (printed at the start of every run)
# Environment: FACEGATE_TORTURE_MAX_GAP_MS (longest random run between kills, default 2000),
# FACEGATE_TORTURE_LOG (output file, default target/torture-<time>.log).
set -euo pipefail
cd "$(dirname "$0")/.."
export FACEGATE_TORTURE_KILLS="${1:-500}"
if [ -n "${2:-}" ]; then
    export FACEGATE_TORTURE_SEED="$2"
fi
target="${CARGO_TARGET_DIR:-target}"
mkdir -p "$target"
log="${FACEGATE_TORTURE_LOG:-$target/torture-$(date -u +%Y%m%dT%H%M%SZ).log}"
echo "crash torture: $FACEGATE_TORTURE_KILLS kills, full output in $log"
start=$(date +%s)
status=0
cargo test --test torture crash_torture -- --exact --nocapture >"$log" 2>&1 || status=$?
grep -E '^crash_torture:|^test crash_torture|violations|panicked' "$log" || true
echo "finished in $(($(date +%s) - start)) s with exit status $status"
exit "$status"
