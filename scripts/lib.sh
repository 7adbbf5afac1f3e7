# shellcheck shell=bash disable=SC2034  # variables used by the scripts that source this
# Shared by facegate's scripts (sourced, not run): repository root, toolchain paths and timed
# sections, so CI logs show where the time goes and which step failed.

FACEGATE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# rustup's toolchain (host tests, clippy, rustfmt) comes first even when the caller's PATH
# lacks it: Debian's /usr/bin/cargo has neither clippy nor rustfmt.
if [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]; then
    PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi

# Debian's Rust 1.85 (the crate's rust-version), used for the MSRV build and the ARM builds.
DEBIAN_CARGO=/usr/bin/cargo
DEBIAN_RUSTC=/usr/bin/rustc

# The Debian toolchain builds in its own tree, apart from rustup's. Its host build (MSRV check)
# and ARM builds share one tree so build scripts and proc-macros are compiled once.
FACEGATE_TARGET_BASE="${CARGO_TARGET_DIR:-$FACEGATE_ROOT/target}"
FACEGATE_CROSS_TARGET_DIR="${FACEGATE_CROSS_TARGET_DIR:-$FACEGATE_TARGET_BASE/cross}"
FACEGATE_MSRV_TARGET_DIR="${FACEGATE_MSRV_TARGET_DIR:-$FACEGATE_CROSS_TARGET_DIR}"

# The ARM targets and the Debian cross prefix / sysroot of each.
FACEGATE_ARM_TARGETS=(aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf)
declare -A FACEGATE_CROSS_PREFIX=(
    [aarch64-unknown-linux-gnu]=aarch64-linux-gnu
    [armv7-unknown-linux-gnueabihf]=arm-linux-gnueabihf
)
declare -A FACEGATE_QEMU=(
    [aarch64-unknown-linux-gnu]=qemu-aarch64-static
    [armv7-unknown-linux-gnueabihf]=qemu-arm-static
)

# Runs Debian's cargo with Debian's rustc (rustup's proxies would otherwise pick 1.95).
debian_cargo() {
    RUSTC="$DEBIAN_RUSTC" RUSTDOC=/usr/bin/rustdoc "$DEBIAN_CARGO" "$@"
}

_section_names=()
_section_secs=()
_section_cpu=()
_section_status=()

# Runs "$@" as a named, timed section; the script stops at the first failing section.
# The command runs as a child so that `set -e` keeps working inside shell functions (bash
# ignores it for anything on the left of `||`); variables it sets do not come back.
section() {
    local name="$1"; shift
    local start=$SECONDS cpu_start rc=0 _cpu
    _read_children_cpu
    cpu_start=$_cpu
    printf '\n==== %s ====\n' "$name"
    "$@" &
    wait $! || rc=$?
    _read_children_cpu
    local secs=$((SECONDS - start)) cpu=$((_cpu - cpu_start))
    _section_names+=("$name")
    _section_secs+=("$secs")
    _section_cpu+=("$cpu")
    if [ "$rc" -eq 0 ]; then
        _section_status+=(ok)
        printf '==== %s: ok (%s, cpu %s) ====\n' "$name" "$(_duration "$secs")" "$(_duration "$cpu")"
    else
        _section_status+=("FAILED ($rc)")
        printf '==== %s: FAILED with exit code %s after %s ====\n' "$name" "$rc" "$(_duration "$secs")" >&2
        exit "$rc"
    fi
}

_duration() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# Sets _cpu to the CPU seconds (user + system) used so far by this shell's finished children.
# Wall time on a shared machine says little; CPU time divided by the cores estimates an idle
# machine's time. Not a function returning via $(...): `times` in a subshell sees no children.
_read_children_cpu() {
    local f line user sys
    f="$(mktemp)"
    times >"$f"
    line="$(sed -n 2p "$f")"
    rm -f "$f"
    read -r user sys <<<"$line"
    _cpu=$(( $(_secs "$user") + $(_secs "$sys") ))
}

# "1m2.345s" -> 62
_secs() {
    local m="${1%%m*}" s="${1#*m}"
    s="${s%%.*}"
    s="${s%s}"
    echo $((10#$m * 60 + 10#$s))
}

# Prints every section's outcome and time; meant for an EXIT trap so failures show it too.
section_summary() {
    local i _cpu
    [ "${#_section_names[@]}" -gt 0 ] || return 0
    _read_children_cpu
    printf '\n%-48s %-9s %-9s %s\n' "section (${1:-summary})" wall cpu result
    for i in "${!_section_names[@]}"; do
        printf '%-48s %-9s %-9s %s\n' "${_section_names[$i]}" "$(_duration "${_section_secs[$i]}")" \
            "$(_duration "${_section_cpu[$i]:-0}")" "${_section_status[$i]}"
    done
    printf '%-48s %-9s %s\n' total "$(_duration "$SECONDS")" "$(_duration "$_cpu")"
}
