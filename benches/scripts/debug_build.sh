#!/usr/bin/env bash
# The per-call rows of the overhead bench in an unoptimized build, the way
# a crate's `cargo test` runs its instrumented code (issue 13, B8):
# opt-level 0, debug assertions on, every dependency unoptimized too.
#
#   bash benches/scripts/debug_build.sh [criterion args]
#
# Builds into $CARGO_TARGET_DIR/o0 so that it does not replace the optimized
# bench build.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}/o0"
export CARGO_PROFILE_BENCH_OPT_LEVEL=0
export CARGO_PROFILE_BENCH_DEBUG_ASSERTIONS=true
export CARGO_PROFILE_BENCH_LTO=false
export CARGO_PROFILE_BENCH_CODEGEN_UNITS=256
cargo bench -p alamos-benches --bench overhead -- "$@" \
    'overhead/(bare|alamos_disabled|alamos_metrics_only|alamos_span_metrics|tracing_disabled|tracing_enabled)$'
