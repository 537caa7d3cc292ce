#!/usr/bin/env bash
# Runs one cargo-fuzz target of alamos on a stable toolchain.
#
#   fuzz/fuzz.sh <target> [libFuzzer flags...]
#   fuzz/fuzz.sh w3c -runs=10000000
#   fuzz/fuzz.sh directives -max_total_time=15
#   fuzz/fuzz.sh build          # builds every target, runs nothing
#
# cargo-fuzz passes nightly-only flags to rustc (`-Zsanitizer=address`, the
# sancov passes); RUSTC_BOOTSTRAP=1 lets a stable rustc accept them.
# New inputs go to a working corpus, $FUZZ_WORK/<target> (default: under the
# target directory); the committed seeds in fuzz/corpus/<target> are only
# read. Crashes land in
# fuzz/artifacts/<target>/. The dictionary fuzz/dict/<target>.dict is used.
# FUZZ_SANITIZER (default address) picks cargo-fuzz's sanitizer; `none`
# runs the safe-Rust parsers two to three times faster for the long runs.
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
export CARGO_TARGET_DIR="$target_dir"
sanitizer="${FUZZ_SANITIZER:-address}"

if [ $# -lt 1 ]; then
    echo "usage: $0 <target>|build [libFuzzer flags...]; targets:" >&2
    cargo fuzz list >&2
    exit 2
fi
target=$1
shift
if [ "$target" = build ]; then
    exec cargo fuzz build --sanitizer "$sanitizer" "$@"
fi

work="${FUZZ_WORK:-$target_dir/fuzz-corpus}/$target"
mkdir -p "$work" "artifacts/$target"
exec cargo fuzz run --sanitizer "$sanitizer" "$target" "$work" "corpus/$target" -- \
    -dict="dict/$target.dict" -print_final_stats=1 "$@"
