#!/bin/sh
# The field soak (tests/soak.rs): the release daemon on the sim board against the mock cloud
# under a seeded schedule of credentials, syncs, commands, outages, restarts, storage pressure
# and socket floods, with its invariants checked all along. Prints a report at the end.
#
#   tools/soak.sh                      # 5 minutes, intensity 3, a seed from the clock
#   tools/soak.sh 1234                 # replay seed 1234
#   SOAK_SECS=7200 tools/soak.sh 1234  # the 2-hour run
#
# Knobs (environment): SOAK_SEED, SOAK_SECS, SOAK_INTENSITY (1..10), SOAK_LATENCY_MS,
# SOAK_RESUME_SECS, SOAK_STALL_SECS, SOAK_MAX_RSS_MB, SOAK_MAX_THREADS, SOAK_MAX_FDS
# (see the top of tests/soak.rs). FACEGATE_KEEP_TEST_DIR=1 keeps the daemon's directory.
set -eu
cd "$(dirname "$0")/.."
if [ $# -gt 0 ]; then
    SOAK_SEED=$1
    export SOAK_SEED
fi
exec cargo test --locked --release --test soak -- --ignored --nocapture field_soak
