#!/usr/bin/env bash
# The admin endpoint against real parts (issue 11, item 4), on loopback:
#
# 1. builds frame_writer in release (the same build .ci/steps/50-load.sh
#    uses) and runs it with ALAMOS_ADMIN_TOKEN, a canary secret in its API
#    configuration report, and ALAMOS_PROMETHEUS_ADDR on a free port;
# 2. starts Prometheus scraping it every second;
# 3. curl: no token and a wrong token get 401, the right one reads the tree,
#    and a level changes while it runs; a PUT without a body (curl sends no
#    Content-Length) gets 411, and one with `Expect: 100-continue` gets the
#    interim 100 at once, so curl sends its body without waiting 1 s;
# 4. tests/admin/e2e.py (urllib) checks every route, the failing and
#    restarted task distribution.peer_sync, a bad body (400 with the errors
#    and nearest keys, nothing changed), and that Prometheus sees
#    alamos_calls_total{experiment="distribution.relay"} start growing within
#    a few scrapes of PUT prod,distribution=bench and stop after PUT prod,
#    the example's prod-level instruments from the start and its debug-level
#    relay instruments only while distribution is turned up;
# 5. wrk -t2 -c4 -d3s of concurrent PUTs with four bodies: no non-2xx, and
#    afterwards one of the bodies is in force with every threshold agreeing;
# 6. stops the example (FRAME_WRITER_STOP_FILE): it exits 0, logged each
#    change at warn with old and new directives, reported no stuck task, and
#    the canary is in none of its output.
#
# Prints the figures the closing note quotes. Every wait is bounded; every
# process it starts is stopped by its PID.
set -euo pipefail
cd "$(dirname "$0")/../.."

for tool in curl wrk prometheus python3; do
    command -v "$tool" >/dev/null || { echo "admin: $tool is not installed (bash .ci/install.sh)"; exit 1; }
done
target_dir="${CARGO_TARGET_DIR:-target}"

echo "--- building frame_writer (release)"
cargo build --release -p alamos-examples --bin frame_writer
binary="$target_dir/release/frame_writer"

work="$(mktemp -d)"
example_pid=""
prometheus_pid=""
cleanup() {
    for pid in "$prometheus_pid" "$example_pid"; do
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$work"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port="$(free_port)"
prometheus_port="$(free_port)"
base="http://127.0.0.1:$port"
token="$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')"
canary="CANARY-ADMIN-$(python3 -c 'import secrets; print(secrets.token_hex(6))')"
control="/var/lib/synnax/cesium"

echo "--- frame_writer on 127.0.0.1:$port"
ALAMOS_PROMETHEUS_ADDR="127.0.0.1:$port" ALAMOS_ADMIN_TOKEN="$token" ALAMOS_LEVEL=prod \
    FRAME_WRITER_API_SECRET="$canary" FRAME_WRITER_STOP_FILE="$work/stop" \
    "$binary" --seconds 120 >"$work/example.out" 2>"$work/example.err" &
example_pid=$!

ready=""
for _ in $(seq 1 100); do
    if curl -sf -o /dev/null "$base/metrics"; then
        ready=yes
        break
    fi
    kill -0 "$example_pid" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$ready" ]; then
    echo "admin: the endpoint never answered"; tail -20 "$work/example.err"; exit 1
fi

echo "--- prometheus on 127.0.0.1:$prometheus_port, scraping every 1 s"
cat >"$work/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: frame_writer
    static_configs:
      - targets: ["127.0.0.1:$port"]
EOF
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
    --web.listen-address="127.0.0.1:$prometheus_port" >"$work/prometheus.log" 2>&1 &
prometheus_pid=$!

echo "--- curl"
status="$(curl -s -o /dev/null -w '%{http_code}' "$base/alamos/tree")"
[ "$status" = 401 ] || { echo "admin: FAIL no token -> $status"; exit 1; }
status="$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer not-the-token' "$base/alamos/tree")"
[ "$status" = 401 ] || { echo "admin: FAIL wrong token -> $status"; exit 1; }
# The commands of docs/operations.md: read the tree, change a level while it runs.
curl -sf -H "Authorization: Bearer $token" "$base/alamos/tree" >"$work/tree.json"
python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$work/tree.json"
curl -sf -X PUT -H "Authorization: Bearer $token" --data 'prod,storage=debug' "$base/alamos/levels"
echo
levels="$(curl -sf -H "Authorization: Bearer $token" "$base/alamos/levels")"
case "$levels" in
    *'"directives":"prod,storage=debug"'*) ;;
    *) echo "admin: FAIL curl PUT did not apply: $levels"; exit 1 ;;
esac
curl -sf -X PUT -H "Authorization: Bearer $token" --data 'prod' "$base/alamos/levels" >/dev/null
# `curl -X PUT` with no data sends no Content-Length: 411, saying so.
status="$(curl -s -o "$work/411.txt" -w '%{http_code}' -X PUT -H "Authorization: Bearer $token" "$base/alamos/levels")"
if [ "$status" != 411 ] || ! grep -q 'PUT must give its body.s length in a Content-Length header' "$work/411.txt"; then
    echo "admin: FAIL PUT without a body -> $status: $(cat "$work/411.txt")"; exit 1
fi
# With Expect: 100-continue curl holds the body back until the interim 100,
# or for 1 s (its --expect100-timeout) if none comes.
seconds="$(curl -sf -v -o /dev/null -w '%{time_total}' -X PUT -H "Authorization: Bearer $token" \
    -H 'Expect: 100-continue' --data 'prod' "$base/alamos/levels" 2>"$work/expect.txt")"
grep -q '^< HTTP/1.1 100 Continue' "$work/expect.txt" \
    || { echo "admin: FAIL no 100 Continue:"; cat "$work/expect.txt"; exit 1; }
awk -v s="$seconds" 'BEGIN { exit !(s < 0.5) }' \
    || { echo "admin: FAIL the PUT with Expect: 100-continue took $seconds s"; exit 1; }
echo "admin: curl: 401 without and with a wrong token, 200 reading the tree, a PUT applied;" \
    "PUT without a body -> 411 ($(cat "$work/411.txt"));" \
    "Expect: 100-continue -> 100 Continue, the PUT done in $seconds s"

echo "--- python urllib client and Prometheus"
python3 tests/admin/e2e.py live --base "$base" --prometheus "http://127.0.0.1:$prometheus_port" \
    --token "$token" --canary "$canary" --control "$control"

echo "--- wrk: concurrent PUT /alamos/levels"
bodies="prod,distribution=bench;warn,api.frames=off,storage=debug;debug,distribution.relay=bench;error"
ALAMOS_ADMIN_TOKEN="$token" ADMIN_BODIES="$bodies" \
    wrk -t2 -c4 -d3s --timeout 2s -s tests/admin/put_levels.lua "$base/alamos/levels" | tee "$work/wrk.txt"
if grep -qE 'Non-2xx|Socket errors' "$work/wrk.txt"; then
    echo "admin: FAIL wrk saw errors"; exit 1
fi
puts="$(awk '/requests in/ { print $1 }' "$work/wrk.txt")"
[ -n "$puts" ] && [ "$puts" -gt 0 ] || { echo "admin: FAIL no PUTs were made"; exit 1; }
IFS=';' read -r -a body_list <<<"$bodies"
python3 tests/admin/e2e.py consistent --base "$base" --token "$token" "${body_list[@]}"

echo "--- stopping frame_writer"
touch "$work/stop"
exited=""
for _ in $(seq 1 100); do
    if ! kill -0 "$example_pid" 2>/dev/null; then
        exited=yes
        break
    fi
    sleep 0.1
done
[ -n "$exited" ] || { echo "admin: FAIL frame_writer did not stop"; exit 1; }
example_status=0
wait "$example_pid" || example_status=$?
example_pid=""
[ "$example_status" = 0 ] || { echo "admin: FAIL frame_writer exited $example_status"; tail -20 "$work/example.err"; exit 1; }

changes="$(grep -c 'thresholds changed through PUT /alamos/levels old=' "$work/example.err" || true)"
# The curl PUTs (3), the urllib ones (2), wrk's and the reset after them.
if [ "$changes" -lt $((puts + 6)) ]; then
    echo "admin: FAIL $changes change lines for $((puts + 6)) PUTs"; exit 1
fi
grep -m1 'old=prod new=prod,distribution=bench' "$work/example.err" \
    || { echo "admin: FAIL the change to distribution=bench was not logged"; exit 1; }
if grep -q 'still running at shutdown' "$work/example.err"; then
    echo "admin: FAIL tasks were stuck at shutdown"; grep -A5 'still running' "$work/example.err"; exit 1
fi
python3 tests/admin/e2e.py clean --canary "$canary" "$work/example.out" "$work/example.err" "$work/tree.json"
echo "admin: $changes changes logged at warn; PUTs under wrk: $puts; no task stuck at shutdown"
