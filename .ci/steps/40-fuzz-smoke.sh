#!/usr/bin/env bash
# Fuzz smoke (issue 6): every cargo-fuzz target in fuzz/ runs for a few
# seconds from its committed seed corpus; any crash or failed invariant
# fails the step. The long runs (10 million executions each) and their
# figures are in fuzz/README.md.
#
# cargo-fuzz is installed at a pinned version if missing (about 30 s from
# source). It builds with nightly-only rustc flags, which RUSTC_BOOTSTRAP=1
# (set by fuzz/fuzz.sh) allows on the stable toolchain. The targets build
# into their own directory, $FUZZ_TARGET_DIR or <target dir>/fuzz, since
# their flags differ from the workspace's.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

cargo_fuzz_version=0.13.2
seconds_per_target="${FUZZ_SMOKE_SECONDS:-15}"

if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $cargo_fuzz_version" ]; then
    echo "--- installing cargo-fuzz $cargo_fuzz_version"
    cargo install --locked "cargo-fuzz@$cargo_fuzz_version"
fi
cargo fuzz --version

target_dir="${FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:-target}/fuzz}"
case "$target_dir" in
    /*) ;;
    *) target_dir="$root/$target_dir" ;;
esac
export CARGO_TARGET_DIR="$target_dir"

echo "--- building the fuzz targets"
fuzz/fuzz.sh build

# New inputs found here are thrown away: each run starts from the seeds.
FUZZ_WORK="$(mktemp -d)"
export FUZZ_WORK
trap 'rm -rf "$FUZZ_WORK"' EXIT

for target in $(cd fuzz && cargo fuzz list); do
    echo "--- fuzzing $target for ${seconds_per_target}s"
    # -timeout: a single input taking 10 s counts as a failure (a hang).
    if ! fuzz/fuzz.sh "$target" -max_total_time="$seconds_per_target" -timeout=10 \
        >"$FUZZ_WORK/$target.log" 2>&1; then
        tail -n 60 "$FUZZ_WORK/$target.log"
        echo "fuzz target $target failed; the input is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
    grep -E '^Done|stat::(number_of_executed_units|average_exec_per_sec)' "$FUZZ_WORK/$target.log"
done
