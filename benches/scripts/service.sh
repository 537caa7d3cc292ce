#!/usr/bin/env bash
# The service benchmark of BENCHMARKS.md, in instructions (cachegrind):
#   1. `service measure`: the tokio key-value server of benches/benches/service.rs
#      per variant (plain, #[tracing::instrument] with spans off and on,
#      alamos at its default, ALAMOS_LEVEL=off, ALAMOS_TRACE_SAMPLE=0.01),
#      server instructions per request, the short run subtracted from the long;
#   2. an unprinted foreign `tracing::debug!` per subscriber
#      (benches/benches/foreign_events.rs in its loop mode): instructions per
#      event, 220,000 events minus 20,000.
#
#   bash benches/scripts/service.sh [variant ...]     (default: every variant)
#
# Needs valgrind. About two minutes on 2 cores; the counts do not depend on
# the machine's load. Honours CARGO_TARGET_DIR. ALAMOS_TRACE_SAMPLE is only
# an environment variable here: a build without sampling ignores it, and its
# row then equals the default's.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
command -v valgrind >/dev/null || { echo "service.sh: valgrind is not installed" >&2; exit 1; }

executable() { # bench name -> path of its binary
    cargo bench -p alamos-benches --bench "$1" --no-run --message-format=json 2>/dev/null |
        python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == sys.argv[1]:
        print(m["executable"])' "$1"
}

cargo bench -p alamos-benches --bench service --bench foreign_events --no-run
service="$(executable service)"
foreign="$(executable foreign_events)"

echo "service.sh: commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(valgrind --version), $(rustc --version)"
echo
"$service" measure "$@"

echo
echo "| unprinted foreign tracing::debug! under | instructions / event |"
echo "|---|---:|"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
count() { # subscriber events -> instruction total
    env -u RUST_LOG -u ALAMOS_LEVEL ALAMOS_BENCH_FOREIGN_SUBSCRIBER="$1" ALAMOS_BENCH_FOREIGN_LOOP="$2" ${3:+ALAMOS_LEVEL=$3} \
        valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file="$work/out" "$foreign" >/dev/null 2>&1
    sed -n 's/^summary: //p' "$work/out"
}
for subscriber in none fmt alamos alamos_off; do
    level=""
    [ "$subscriber" = alamos_off ] && level=off
    short="$(count "$subscriber" 20000 "$level")"
    long="$(count "$subscriber" 220000 "$level")"
    python3 -c "print(f'| $subscriber | {($long - $short) / 200000:.1f} |')"
done
