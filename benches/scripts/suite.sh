#!/usr/bin/env bash
# The whole benchmark suite of BENCHMARKS.md, then its tables:
#   1. `cargo bench -p alamos-benches` (overhead, threads, scaling, render,
#      exemplars without `otel`)
#      once per metrics recorder: metrics-exporter-prometheus, then alamos's
#      own (ALAMOS_BENCH_RECORDER=alamos); each run is one criterion directory,
#   2. the stripped build (stripped.sh),
#   3. the build cost (build_cost.sh; skip with BUILD_COST=0),
#   4. report.py over all of it.
#
#   bash benches/scripts/suite.sh [criterion args]       e.g. --measurement-time 5
#
# About ten minutes on 2 cores. Honours CARGO_TARGET_DIR. Prints the load
# average before and after: on a shared machine, a busy neighbour shows there.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"

echo "suite.sh: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(rustc --version)"
echo "suite.sh: commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), load average $(cut -d' ' -f1-3 /proc/loadavg)"
cargo bench -p alamos-benches --no-run

runs=()
for recorder in prometheus alamos; do
    export CRITERION_HOME="$CARGO_TARGET_DIR/criterion-$recorder"
    rm -rf "$CRITERION_HOME"
    echo "suite.sh: recorder $recorder, results in $CRITERION_HOME"
    # The targets report.py tabulates. `trace_context` logs a line per
    # iteration to stderr and is run on its own (BENCHMARKS.md).
    ALAMOS_BENCH_RECORDER="$recorder" cargo bench -p alamos-benches \
        --bench overhead --bench scaling_1 --bench scaling_10k --bench exemplars -- "$@"
    runs+=(--run "$recorder=$CRITERION_HOME")
done

CRITERION_HOME="$CARGO_TARGET_DIR/criterion-prometheus" bash benches/scripts/stripped.sh "$@"
echo "suite.sh: load average $(cut -d' ' -f1-3 /proc/loadavg) after the criterion runs"

if [ "${BUILD_COST:-1}" = 1 ]; then
    bash benches/scripts/build_cost.sh
fi

echo
python3 benches/scripts/report.py "${runs[@]}" --build-cost "$CARGO_TARGET_DIR/build_cost.json"
