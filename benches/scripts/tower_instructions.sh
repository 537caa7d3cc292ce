#!/usr/bin/env bash
# The service-edge rows of BENCHMARKS.md in instructions (cachegrind): each
# row of benches/benches/tower.rs in its loop mode (ALAMOS_BENCH_TOWER_LOOP),
# 22,000 requests minus 2,000, divided by 20,000, so start-up cancels.
#
#   bash benches/scripts/tower_instructions.sh [row ...]     (default: every row)
#
# Needs valgrind; about a minute on 2 cores. Uses alamos's own recorder, as
# the criterion table does. Honours CARGO_TARGET_DIR and CARGO_FEATURES
# (e.g. CARGO_FEATURES=otel for the rows with alamos's `otel`).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
command -v valgrind >/dev/null || { echo "tower_instructions.sh: valgrind is not installed" >&2; exit 1; }

features=()
[ -n "${CARGO_FEATURES:-}" ] && features=(--features "$CARGO_FEATURES")
cargo bench -p alamos-benches --bench tower "${features[@]}" --no-run
bench="$(cargo bench -p alamos-benches --bench tower "${features[@]}" --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "tower":
        print(m["executable"])')"

rows=("$@")
[ ${#rows[@]} -eq 0 ] && rows=(bare bare_no_context alamos_server_traced alamos_server_untraced alamos_server_root_untraced
    tower_http_trace_by_hand alamos_client_traced alamos_client_root_untraced alamos_fn_metrics_only)

echo "tower_instructions.sh: commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), features ${CARGO_FEATURES:-default}, $(valgrind --version)"
echo
echo "| row | instructions / request |"
echo "|---|---:|"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
count() { # row requests -> instruction total
    env -u RUST_LOG -u ALAMOS_LEVEL -u ALAMOS_TRACE_SAMPLE ALAMOS_BENCH_RECORDER=alamos ALAMOS_BENCH_TOWER_LOOP="$1:$2" \
        valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file="$work/out" "$bench" >/dev/null 2>&1
    sed -n 's/^summary: //p' "$work/out"
}
for row in "${rows[@]}"; do
    short="$(count "$row" 2000)"
    long="$(count "$row" 22000)"
    python3 -c "print(f'| \`tower/$row\` | {($long - $short) / 20000:.0f} |')"
done
