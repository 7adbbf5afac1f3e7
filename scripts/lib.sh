# shellcheck shell=bash disable=SC2034  # variables used by the scripts that source this
# Shared by facegate's scripts (sourced, not run): repository root, toolchain paths and timed
# sections, so CI logs show where the time goes and which step failed.

FACEGATE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# The host toolchain (host tests, clippy, rustfmt, the demo): rustup's when installed, first
# even when the caller's PATH lacks it; else Debian's Rust 1.85 in /usr/bin (rustc-web,
# cargo-web, rust-web-clippy, rustfmt-web: scripts/setup-debian.sh installs them).
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

# The shipped ARM targets: static musl binaries, which need nothing from the board's image but
# a Linux kernel (see README.md), built by Debian's rustc with std rebuilt from rust-web-src and
# linked by zig (scripts/build-arm.sh).
FACEGATE_ARM_TARGETS=(aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf)
declare -A FACEGATE_QEMU=(
    [aarch64-unknown-linux-musl]=qemu-aarch64-static
    [armv7-unknown-linux-musleabihf]=qemu-arm-static
)

# zig and cargo-zigbuild from PyPI, pinned, in a venv outside the repository
# (scripts/setup-debian.sh installs them).
FACEGATE_TOOLS="${FACEGATE_TOOLS:-/var/cache/facegate-tools}"
FACEGATE_ZIG_VERSION=0.17.1
FACEGATE_ZIGBUILD_VERSION=0.24.1
FACEGATE_ZIG_VENV="$FACEGATE_TOOLS/zig-$FACEGATE_ZIG_VERSION-zigbuild-$FACEGATE_ZIGBUILD_VERSION"

# Runs Debian's cargo with Debian's rustc (rustup's proxies would otherwise pick 1.95).
debian_cargo() {
    RUSTC="$DEBIAN_RUSTC" RUSTDOC=/usr/bin/rustdoc "$DEBIAN_CARGO" "$@"
}

# Runs `cargo-zigbuild COMMAND ARGS` (COMMAND: zigbuild, i.e. build; test; ...) for the static musl targets: Debian's cargo and rustc, std rebuilt
# from source (Debian ships no musl std; RUSTC_BOOTSTRAP lets the stable 1.85 take -Zbuild-std),
# zig as the linker with its own musl crt and libc.a (-C link-self-contained=no: Debian has no
# self-contained musl crt objects for rustc to pass). The caller adds -Zbuild-std=...
musl_cargo() {
    local venv="$FACEGATE_ZIG_VENV/bin"
    [ -x "$venv/cargo-zigbuild" ] || {
        echo "$venv/cargo-zigbuild is missing: run scripts/setup-debian.sh" >&2
        return 1
    }
    # /usr/bin first: cargo-zigbuild runs the `cargo` on PATH, which must be Debian's.
    PATH="$venv:/usr/bin:$PATH" RUSTC="$DEBIAN_RUSTC" RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1 \
        CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_RUSTFLAGS="-C link-self-contained=no" \
        CARGO_TARGET_ARMV7_UNKNOWN_LINUX_MUSLEABIHF_RUSTFLAGS="-C link-self-contained=no" \
        CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_RUNNER=qemu-aarch64-static \
        CARGO_TARGET_ARMV7_UNKNOWN_LINUX_MUSLEABIHF_RUNNER=qemu-arm-static \
        "$venv/cargo-zigbuild" "$@"
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
