#!/usr/bin/env bash
# Load on the /metrics endpoint of the frame_writer example (issue 6, item 5).
#
#   bash tests/load/metrics_wrk.sh            # wrk -d10s, the figures for the closing note
#   WRK_SECONDS=3 bash tests/load/metrics_wrk.sh   # the quick CI version (.ci/steps/50-load.sh)
#
# 1. builds `frame_writer` in release and runs it (for the wrk time plus a
#    margin) with ALAMOS_PROMETHEUS_ADDR on a free loopback port;
# 2. runs wrk against /metrics, a 2 s warm-up (WARMUP_SECONDS) and then the
#    measured `wrk -t2 -c16 -d${WRK_SECONDS}s --latency`, while
#    tests/load/abuse.py keeps 4 connections that sent half a request and
#    stalled, and sends malformed and refused requests in a loop (checking
#    each answer: 400, 404, 405, 431, 505, and 200 for a correct scrape);
# 3. samples the example's VmRSS (/proc/PID/status) twice a second during the
#    measured run.
#
# Fails when wrk reports any non-2xx response or socket error, when abuse.py
# saw a wrong answer, when the example died, or when VmRSS grew by more than
# RSS_GROWTH_KIB (default 2048 KiB) between the first and the last second of
# the wrk run. Prints requests/s, the non-2xx count and both VmRSS figures.
# Loopback only; every process it starts is stopped by its PID.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds="${WRK_SECONDS:-10}"
warmup="${WARMUP_SECONDS:-2}"
growth_limit_kib="${RSS_GROWTH_KIB:-2048}"
target_dir="${CARGO_TARGET_DIR:-target}"

for tool in wrk python3; do
    command -v "$tool" >/dev/null || { echo "load: $tool is not installed (bash .ci/install.sh)"; exit 1; }
done

echo "--- building frame_writer (release)"
cargo build --release -p alamos-examples --bin frame_writer
binary="$target_dir/release/frame_writer"

work="$(mktemp -d)"
example_pid=""
abuse_pid=""
sampler_pid=""
cleanup() {
    for pid in "$sampler_pid" "$abuse_pid" "$example_pid"; do
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$work"
}
trap cleanup EXIT

# The status code of one GET, or 000.
http_status() {
    python3 - "$1" <<'PY'
import sys, urllib.request, urllib.error
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as response:
        print(response.status)
except urllib.error.HTTPError as err:
    print(err.code)
except Exception:
    print("000")
PY
}

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
url="http://127.0.0.1:$port/metrics"

echo "--- frame_writer on 127.0.0.1:$port for $((warmup + seconds + 30)) s"
ALAMOS_PROMETHEUS_ADDR="127.0.0.1:$port" ALAMOS_LEVEL=prod \
    "$binary" --seconds "$((warmup + seconds + 30))" >"$work/example.out" 2>"$work/example.err" &
example_pid=$!

ready=""
for _ in $(seq 1 100); do
    if [ "$(http_status "$url")" = "200" ]; then
        ready=yes
        break
    fi
    kill -0 "$example_pid" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$ready" ]; then
    echo "load: the endpoint never answered"; tail -20 "$work/example.err"; exit 1
fi
# Let the example's workload register its series before measuring.
sleep 1

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$example_pid/status" 2>/dev/null || echo 0; }

python3 tests/load/abuse.py --port "$port" --seconds "$((warmup + seconds))" --slow 4 >"$work/abuse.out" 2>&1 &
abuse_pid=$!

# A first, unmeasured wrk run: the connection threads and the allocator's
# per-thread arenas reach their working size (about 3 MiB in the first 2 s).
echo "--- warm-up: wrk -t2 -c16 -d${warmup}s"
wrk -t2 -c16 -d"${warmup}s" "$url" >"$work/warmup.txt"

# VmRSS every half second while wrk runs: "elapsed_ms kib".
(
    start_ms=$(date +%s%3N)
    while true; do
        sleep 0.5
        now_ms=$(date +%s%3N)
        echo "$((now_ms - start_ms)) $(rss_kib)"
    done
) >"$work/rss.txt" &
sampler_pid=$!

echo "--- wrk -t2 -c16 -d${seconds}s --latency $url"
wrk -t2 -c16 -d"${seconds}s" --latency "$url" | tee "$work/wrk.txt"
kill "$sampler_pid" 2>/dev/null || true
wait "$sampler_pid" 2>/dev/null || true
sampler_pid=""

abuse_status=0
wait "$abuse_pid" || abuse_status=$?
abuse_pid=""
cat "$work/abuse.out"

failed=0
if ! kill -0 "$example_pid" 2>/dev/null; then
    echo "load: FAIL the example died during the run"; tail -20 "$work/example.err"; failed=1
fi
after="$(http_status "$url")"
if [ "$after" != "200" ]; then
    echo "load: FAIL /metrics answers $after after the run"; failed=1
fi

requests_per_s="$(awk '/^Requests\/sec:/ { print $2 }' "$work/wrk.txt")"
requests="$(awk '/requests in/ { print $1 }' "$work/wrk.txt")"
non_2xx="$(awk -F': *' '/Non-2xx or 3xx responses/ { print $2 }' "$work/wrk.txt")"
non_2xx="${non_2xx:-0}"
warmup_non_2xx="$(awk -F': *' '/Non-2xx or 3xx responses/ { print $2 }' "$work/warmup.txt")"
if [ -n "$warmup_non_2xx" ]; then
    echo "load: FAIL $warmup_non_2xx non-2xx responses during the warm-up"; failed=1
fi
socket_errors="$(grep -hE '^ *Socket errors' "$work/wrk.txt" "$work/warmup.txt" || true)"
if [ -z "$requests_per_s" ] || [ -z "$requests" ] || [ "$requests" -eq 0 ]; then
    echo "load: FAIL no wrk figures"; failed=1
fi
if [ "$non_2xx" != "0" ]; then
    echo "load: FAIL $non_2xx non-2xx responses"; failed=1
fi
if [ -n "$socket_errors" ]; then
    echo "load: FAIL wrk saw socket errors: $socket_errors"; failed=1
fi
if [ "$abuse_status" -ne 0 ]; then
    echo "load: FAIL malformed requests or slow clients got wrong answers"; failed=1
fi

# The first sample at or after 1 s, the last before the run's final 0.5 s.
first="$(awk '$1 >= 1000 && $2 > 0 { print $2; exit }' "$work/rss.txt")"
last="$(awk -v end="$(((seconds * 1000) - 250))" '$1 <= end && $2 > 0 { kib = $2 } END { print kib }' "$work/rss.txt")"
first="${first:-0}"
last="${last:-0}"
growth=$((last - first))
if [ "$first" -eq 0 ] || [ "$last" -eq 0 ]; then
    echo "load: FAIL VmRSS was not sampled"; failed=1
elif [ "$growth" -gt "$growth_limit_kib" ]; then
    echo "load: FAIL VmRSS grew by $growth KiB (limit $growth_limit_kib KiB)"; failed=1
fi

echo "load: requests_per_s=$requests_per_s requests=$requests non_2xx=$non_2xx \
rss_first_s_kib=$first rss_last_s_kib=$last rss_growth_kib=$growth (limit $growth_limit_kib) \
seconds=$seconds"
echo "load: VmRSS samples (ms kib): $(tr '\n' ' ' <"$work/rss.txt")"
exit "$failed"
