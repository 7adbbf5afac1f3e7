#!/bin/sh
# Runs every cargo-fuzz target of fuzz/ for SECONDS each (default 240) and prints, per target,
# the executions, the corpus size and whether it crashed.
#
#   tools/fuzz.sh [SECONDS] [TARGET...]
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`) and a C++ compiler (libFuzzer is
# built from source). Nightly features are unlocked on the stable toolchain with
# RUSTC_BOOTSTRAP=1 unless FUZZ_TOOLCHAIN names another one (e.g. FUZZ_TOOLCHAIN=nightly).
# FUZZ_SANITIZER=none runs without AddressSanitizer (faster; Rust code needs it rarely).
# FUZZ_JOBS=N runs N workers per target (default 1). Corpora grow in fuzz/corpus/TARGET,
# crashes land in fuzz/artifacts/TARGET (only those of this run are counted); both are
# ignored by git. A crash found is reproduced
# with `cargo fuzz run TARGET fuzz/artifacts/TARGET/crash-...` and kept as a regression test.
set -eu

seconds=${1:-240}
[ $# -gt 0 ] && shift
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/fuzz"

all="cloud_answer person_record field_parsers wiegand_frames board_profile config_toml serial_frames"
targets=${*:-$all}
sanitizer=${FUZZ_SANITIZER:-address}
jobs=${FUZZ_JOBS:-1}

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
    exit 2
fi
if [ -n "${FUZZ_TOOLCHAIN:-}" ]; then
    fuzz() { cargo "+$FUZZ_TOOLCHAIN" fuzz "$@"; }
else
    fuzz() { RUSTC_BOOTSTRAP=1 cargo fuzz "$@"; }
fi

# The seeds: the spec's examples for the cloud answers, the hand-made inputs in fuzz/seeds
# (built-in board profiles, the README's configuration, ...) and past crashes in
# fuzz/regressions.
seed_dirs() {
    t=$1
    echo "seeds/$t"
    # Inputs that once crashed a target: every run checks them again.
    [ -d "regressions/$t" ] && echo "regressions/$t"
    case $t in
        cloud_answer) echo "$root/src/protocol/testdata" ;;
    esac
}

max_len() {
    case $1 in
        person_record) echo 16384 ;;
        cloud_answer | config_toml | board_profile) echo 8192 ;;
        *) echo 4096 ;;
    esac
}

echo "building the targets ($sanitizer sanitizer)"
fuzz build --sanitizer "$sanitizer" >/dev/null

summary=""
status=0
for t in $targets; do
    mkdir -p "corpus/$t" "artifacts/$t" "seeds/$t"
    log="artifacts/$t/last-run.log"
    echo "fuzzing $t for $seconds s"
    touch "$log.start"
    parallel=""
    [ "$jobs" -gt 1 ] && parallel="-jobs=$jobs -workers=$jobs"
    set +e
    # shellcheck disable=SC2046,SC2086
    fuzz run --sanitizer "$sanitizer" "$t" "corpus/$t" $(seed_dirs "$t") -- \
        -max_total_time="$seconds" -max_len="$(max_len "$t")" -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 $parallel >"$log" 2>&1
    rc=$?
    set -e
    # With -jobs the workers log to fuzz-N.log in the current directory.
    [ "$jobs" -gt 1 ] && cat fuzz-*.log >>"$log" 2>/dev/null && rm -f fuzz-*.log
    runs=$(grep -a -h '^stat::number_of_executed_units' "$log" | awk '{s += $2} END {print s + 0}')
    corpus=$(find "corpus/$t" -type f | wc -l)
    crashes=$(find "artifacts/$t" -type f -newer "$log.start" \( -name 'crash-*' -o -name 'oom-*' \
        -o -name 'timeout-*' -o -name 'leak-*' \) | wc -l)
    rm -f "$log.start"
    if [ $rc -ne 0 ] || [ "$crashes" -gt 0 ]; then
        status=1
        verdict="FOUND $crashes (exit $rc, see $log)"
    else
        verdict="clean"
    fi
    line=$(printf '%-16s %6ss %12s execs %6s corpus  %s' "$t" "$seconds" "$runs" "$corpus" "$verdict")
    echo "$line"
    summary="$summary$line
"
done
echo
echo "summary:"
printf '%s' "$summary"
exit $status
