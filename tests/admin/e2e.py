#!/usr/bin/env python3
"""The admin endpoint of the running frame_writer example, driven by a plain
Python client (urllib, nothing else) while a real Prometheus scrapes it.
Run by tests/admin/e2e.sh (.ci/steps/35-admin.sh); see that file.

    e2e.py live --base URL --prometheus URL --token T --canary C --control K
    e2e.py consistent --base URL --token T BODY...
    e2e.py clean FILE... --canary C

`live`: wrong token -> 401 (the same answer each time), the GET routes
answer JSON, the task distribution.peer_sync is seen `failed` and then
running again with more restarts, a bad body -> 400 with errors and nearest
keys and nothing changed, and Prometheus sees
alamos_calls_total{experiment="distribution.relay"} start growing within a
few scrapes of `PUT prod,distribution=bench` and stop after `PUT prod`.
The example's instruments at the levels ALAMOS_LEVEL switches (issue 10,
item 6): the prod ones (frame_size_bytes, whose median lies in the bucket of
the example's 1 KiB frames, cesium_written_bytes_total per node,
cesium_cache_channels) have series from the start; the debug ones in
distribution.relay (relay_bytes_total, relay_queue_depth) have none until
the PUT, then grow by one frame's bytes per relayed call, and stand still
after the reverse PUT. peer_sync's restarts grow in
alamos_task_restarts_total, and its alamos_tasks series sum to one run.
The canary secret is in no answer of any route.
`consistent`: after concurrent PUTs (wrk), GET /alamos/levels holds one of
the bodies and every threshold is the one that body gives.
`clean`: the canary is in none of the files (the example's stdout/stderr).
Prints the figures the closing note quotes. Every wait is bounded.
"""

import argparse
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

RELAY = 'sum(alamos_calls_total{experiment="distribution.relay"})'
SCRAPE_SECONDS = 1.0

# frame_writer's frames: 64 samples on 2 channels, 8 bytes a sample; byte
# histograms have buckets at powers of four from 64 B (alamos's BYTES).
FRAME_BYTES = 64 * 2 * 8
BYTE_BUCKETS = [64 * 4 ** i for i in range(13)]
NODES = 3
# Prod-level instruments: series from the start at ALAMOS_LEVEL=prod.
FRAME_SIZE_MEDIAN = ('histogram_quantile(0.5, sum by (le) '
                     '(rate(frame_size_bytes_bucket{experiment="distribution.frame_writer"}[5s])))')
WRITTEN_NODES = 'count(cesium_written_bytes_total{experiment="storage.cesium"})'
WRITTEN = 'sum(cesium_written_bytes_total{experiment="storage.cesium"})'
CACHE = 'cesium_cache_channels{experiment="storage.cesium"}'
# Debug-level instruments in distribution.relay: none until distribution
# is turned up.
RELAY_BYTES = 'sum(relay_bytes_total{experiment="distribution.relay"})'
RELAY_DEPTH = 'count(relay_queue_depth{experiment="distribution.relay"})'
PEER_SYNC = 'distribution.peer_sync'
RESTARTS = f'alamos_task_restarts_total{{experiment="{PEER_SYNC}"}}'


def fail(message):
    print(f"e2e: FAIL {message}", flush=True)
    sys.exit(1)


def request(base, path, token=None, method="GET", body=None, headers=None):
    """(status, headers, body bytes) of one request; HTTP errors included."""
    all_headers = dict(headers or {})
    if token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(base + path, data=body, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(req, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def get_json(base, path, token):
    status, headers, body = request(base, path, token)
    if status != 200:
        fail(f"GET {path} answered {status}: {body[:200]!r}")
    if headers.get("Content-Type") != "application/json":
        fail(f"GET {path} has content type {headers.get('Content-Type')}")
    return json.loads(body)


def put_levels(base, token, spec):
    body = spec if isinstance(spec, bytes) else spec.encode()
    return request(base, "/alamos/levels", token, "PUT", body)


def query(prometheus, expr):
    url = prometheus + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as response:
        answer = json.loads(response.read())
    if answer.get("status") != "success":
        fail(f"query {expr}: {answer}")
    result = answer["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def wait_for(what, seconds, probe, interval=0.25):
    """Calls probe() until it returns something truthy; fails after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(interval)
    fail(f"timed out after {seconds} s waiting for {what}")


def bucket_of(value):
    """The (lower, upper] bucket of the byte histograms holding `value`."""
    upper = next(bound for bound in BYTE_BUCKETS if value <= bound)
    lower = max((bound for bound in BYTE_BUCKETS if bound < upper), default=0)
    return lower, upper


def peer_sync_fails_and_restarts(base, token):
    """distribution.peer_sync fails after 1 s and its supervisor starts it
    again 100 ms later: polled every 30 ms, /alamos/tasks shows it `failed`
    with no run in progress, then running again with one more restart."""
    def task_when(condition):
        def probe():
            for row in get_json(base, "/alamos/tasks", token)["tasks"]:
                if row["key"] == PEER_SYNC:
                    return row if condition(row) else None
            fail(f"no task {PEER_SYNC} in /alamos/tasks")
        return probe

    failed = wait_for(f"{PEER_SYNC} in state failed", 5,
                      task_when(lambda row: row["state"] == "failed"), 0.03)
    if failed["running"] != 0:
        fail(f"{PEER_SYNC} is failed with a run in progress: {failed}")
    again = wait_for(f"{PEER_SYNC} running again after it failed", 5,
                     task_when(lambda row: row["state"] == "running"
                               and row["restarts"] > failed["restarts"]), 0.03)
    print(f"e2e: task {PEER_SYNC}: state failed (restarts {failed['restarts']}, "
          f"changed_at {failed['changed_at']}), then running again (restarts {again['restarts']})")


def reference_threshold(spec, key):
    best_len, best = -1, "prod"
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        directive, _, level = item.rpartition("=") if "=" in item else ("", "", item)
        directive = directive.strip()
        covers = directive == "" or key == directive or key.startswith(directive + ".")
        if covers and len(directive) > best_len:
            best_len, best = len(directive), level.strip()
    return best


def live(args):
    base, token = args.base, args.token

    # Wrong or missing tokens: 401, one answer for all, no hint.
    answers = set()
    for path in ["/alamos/tree", "/alamos/levels", "/alamos/reports", "/alamos/tasks", "/alamos/x"]:
        for bad in [None, "wrong", token[:-1], token + "x", token.upper()]:
            for method, body in [("GET", None), ("PUT", b"prod")]:
                status, headers, answer = request(base, path, bad, method, body)
                if status != 401:
                    fail(f"{method} {path} with token {bad!r} answered {status}")
                if headers.get("WWW-Authenticate") != 'Bearer realm="alamos"':
                    fail(f"401 without WWW-Authenticate: {headers}")
                answers.add(answer)
    if answers != {b"401 Unauthorized\n"}:
        fail(f"401 answers differ: {answers}")
    status, _, _ = request(base, "/metrics")
    if status != 200:
        fail(f"/metrics answered {status} without a token")
    print("e2e: wrong or missing token -> 401 on every admin route (same body); /metrics open")

    tree = get_json(base, "/alamos/tree", token)
    keys = {row["key"]: row for row in tree["experiments"]}
    for key in ["distribution.relay", "storage.cesium.compaction", "distribution.gossip",
                "distribution.peer_sync", "api.frames"]:
        if key not in keys:
            fail(f"{key} not in the tree: {sorted(keys)}")
    if keys["distribution.relay"]["threshold"] != "prod" or keys["distribution.relay"]["enabled"]:
        fail(f"relay should start disabled: {keys['distribution.relay']}")
    tasks = {task["key"]: task for task in get_json(base, "/alamos/tasks", token)["tasks"]}
    for key in ["storage.cesium.compaction", "distribution.gossip", "distribution.heartbeat_loop"]:
        if tasks.get(key, {}).get("state") != "running":
            fail(f"task {key} is not running: {tasks.get(key)}")
    peer_sync_fails_and_restarts(base, token)
    reports = get_json(base, "/alamos/reports", token)
    for layer in ["storage", "distribution", "api"]:
        if layer not in reports:
            fail(f"no {layer} report: {reports}")
    excerpt = {"experiments": [keys[k] for k in ["distribution.relay", "storage.cesium.compaction"]]}
    print("e2e: /alamos/tree excerpt:", json.dumps(excerpt))

    # A bad body: 400, each error with the nearest keys, nothing changed.
    before = get_json(base, "/alamos/levels", token)
    status, _, body = put_levels(base, token, "prod,distribution=bench,distribution.relya=bench,api=loud")
    answer = json.loads(body)
    if status != 400:
        fail(f"a bad body answered {status}: {answer}")
    errors = answer["errors"]
    if [e["position"] for e in errors] != [3, 4] or errors[0]["nearest"][0] != "distribution.relay":
        fail(f"wrong errors: {answer}")
    if get_json(base, "/alamos/levels", token) != before:
        fail("a refused PUT changed the thresholds")
    status, _, _ = put_levels(base, token, b"prod,\xff")
    if status != 400 or get_json(base, "/alamos/levels", token) != before:
        fail(f"a non-UTF-8 body answered {status} or changed something")
    print("e2e: bad body -> 400:", json.dumps(errors[0]), "; levels unchanged:", before["directives"])

    # Prometheus: relay calls start growing after the PUT, stop after the reverse.
    wait_for("Prometheus to scrape the example", 20,
             lambda: query(args.prometheus, 'up{job="frame_writer"}') == 1.0)
    time.sleep(2 * SCRAPE_SECONDS)
    series_before = query(args.prometheus, RELAY)
    print(f"e2e: before the PUT: {RELAY} = {series_before}")
    if series_before not in (None, 0.0):
        fail(f"relay calls counted before the PUT: {series_before}")
    prod_level_instruments(args.prometheus)
    for expr in [RELAY_BYTES, RELAY_DEPTH]:
        if query(args.prometheus, expr) is not None:
            fail(f"a debug instrument has series while distribution is at prod: {expr}")
    print(f"e2e: at prod: {RELAY_BYTES} and {RELAY_DEPTH} have no series")
    status, _, body = put_levels(base, token, "prod,distribution=bench")
    if status != 200:
        fail(f"PUT answered {status}: {body!r}")
    print("e2e: PUT prod,distribution=bench ->", body.decode())
    put_at = time.monotonic()
    first = wait_for("relay calls in Prometheus", 8,
                     lambda: (query(args.prometheus, RELAY) or 0) > 0 and query(args.prometheus, RELAY))
    seen_after = time.monotonic() - put_at
    bytes_first = query(args.prometheus, RELAY_BYTES)
    higher = wait_for("relay calls to keep growing", 6,
                      lambda: (query(args.prometheus, RELAY) or 0) > first and query(args.prometheus, RELAY))
    print(f"e2e: after the PUT: {RELAY} = {first} after {seen_after:.1f} s "
          f"(~{seen_after / SCRAPE_SECONDS:.0f} scrapes), then {higher}")
    if not bytes_first:
        fail(f"relay calls are counted but {RELAY_BYTES} is {bytes_first}")
    bytes_higher = wait_for("relay bytes to keep growing", 4,
                            lambda: (query(args.prometheus, RELAY_BYTES) or 0) > bytes_first
                            and query(args.prometheus, RELAY_BYTES))
    depth = query(args.prometheus, RELAY_DEPTH)
    if not depth:
        fail(f"{RELAY_DEPTH} has no series after the PUT")
    print(f"e2e: after the PUT: {RELAY_BYTES} = {bytes_first:.0f}, then {bytes_higher:.0f}; "
          f"{RELAY_DEPTH} = {depth:.0f}")

    status, _, body = put_levels(base, token, "prod")
    if status != 200:
        fail(f"the reverse PUT answered {status}")
    print("e2e: PUT prod ->", body.decode())
    # Calls in flight at the PUT finish; then the counter must stand still.
    depth_expr = RELAY_DEPTH.replace("count(", "sum(")
    time.sleep(3 * SCRAPE_SECONDS)
    settled = query(args.prometheus, RELAY)
    bytes_settled = query(args.prometheus, RELAY_BYTES)
    depth_settled = query(args.prometheus, depth_expr)
    time.sleep(4 * SCRAPE_SECONDS)
    later = query(args.prometheus, RELAY)
    bytes_later = query(args.prometheus, RELAY_BYTES)
    depth_later = query(args.prometheus, depth_expr)
    print(f"e2e: after the reverse PUT: {RELAY} = {settled}, 4 s later {later}")
    if settled is None or later != settled:
        fail(f"relay calls still grow after the reverse PUT: {settled} -> {later}")
    print(f"e2e: after the reverse PUT: {RELAY_BYTES} = {bytes_settled:.0f}, 4 s later "
          f"{bytes_later:.0f}; {depth_expr} = {depth_settled}, then {depth_later}")
    if bytes_later != bytes_settled or depth_later != depth_settled:
        fail(f"relay instruments still move after the reverse PUT: {RELAY_BYTES} "
             f"{bytes_settled} -> {bytes_later}, {depth_expr} {depth_settled} -> {depth_later}")
    # One frame's bytes per relayed call. A call in flight at a PUT may count
    # its bytes and not itself, or the reverse: one per client thread (one
    # per node) at each of the two PUTs.
    if abs(bytes_later - later * FRAME_BYTES) > 2 * NODES * FRAME_BYTES:
        fail(f"{RELAY_BYTES} = {bytes_later} for {later} relay calls of {FRAME_BYTES} B frames")
    print(f"e2e: relayed bytes per relay call: {bytes_later / later:.1f} (frames are {FRAME_BYTES} B)")
    peer_sync_metrics(args.prometheus)
    if query(args.prometheus, 'up{job="frame_writer"}') != 1.0:
        fail("the target is down")

    # The canary is in no answer of any route; the control is.
    everything = b""
    for path in ["/alamos/tree", "/alamos/reports", "/alamos/tasks", "/alamos/levels"]:
        everything += request(base, path, token)[2]
    everything += request(base, "/metrics")[2]
    if args.canary.encode() in everything:
        fail("the canary secret is in an answer")
    if args.control.encode() not in everything:
        fail("the control value is in no answer: the search cannot fail")
    print("e2e: the canary secret is in no answer of /alamos/* or /metrics; the control is")


def prod_level_instruments(prometheus):
    """frame_writer's prod-level instruments have series at ALAMOS_LEVEL=prod."""
    median = wait_for("a frame_size_bytes median", 6, lambda: query(prometheus, FRAME_SIZE_MEDIAN))
    lower, upper = bucket_of(FRAME_BYTES)
    if not lower < median <= upper:
        fail(f"median frame size {median} outside the bucket ({lower}, {upper}] "
             f"of the example's {FRAME_BYTES} B frames")
    nodes = query(prometheus, WRITTEN_NODES)
    written = query(prometheus, WRITTEN)
    if nodes != NODES or not written or written % FRAME_BYTES:
        fail(f"{WRITTEN_NODES} = {nodes} (want {NODES}), {WRITTEN} = {written} "
             f"(want a positive multiple of {FRAME_BYTES})")
    cache = query(prometheus, CACHE)
    if not cache:
        fail(f"{CACHE} = {cache}")
    print(f"e2e: at prod: {FRAME_SIZE_MEDIAN} = {median:.0f} in ({lower}, {upper}]; "
          f"{WRITTEN_NODES} = {nodes:.0f}, {WRITTEN} = {written:.0f}; {CACHE} = {cache:.0f}")


def peer_sync_metrics(prometheus):
    """peer_sync's restarts, as Prometheus scraped them: the counter grows
    (each restart follows a failed run), and its alamos_tasks series sum to
    its one run, running or ended."""
    restarts = query(prometheus, RESTARTS)
    grown = query(prometheus, f"increase({RESTARTS}[10s])")
    # Each state's series is sampled on its own: a scrape may rarely fall
    # between two of them as a run ends or starts, so a sum off by one is
    # given the next scrapes to come right.
    runs_expr = f'sum(alamos_tasks{{experiment="{PEER_SYNC}"}})'
    runs = wait_for(f"{runs_expr} to be 1", 3, lambda: query(prometheus, runs_expr) == 1.0 and 1.0)
    failed_series = query(prometheus, f'count(alamos_tasks{{experiment="{PEER_SYNC}",state="failed"}})')
    if not restarts or not grown or runs != 1.0 or failed_series != 1.0:
        fail(f"{RESTARTS} = {restarts}, increase over 10 s = {grown}, "
             f"alamos_tasks summed = {runs}, failed series = {failed_series}")
    print(f"e2e: {RESTARTS} = {restarts:.0f}, increase over 10 s = {grown:.1f}; "
          f"alamos_tasks for {PEER_SYNC} sums to {runs:.0f}, its failed series exported")


def consistent(args):
    levels = get_json(args.base, "/alamos/levels", args.token)
    spec = levels["directives"]
    if spec not in args.bodies:
        fail(f"after concurrent PUTs the directives are {spec!r}, none of {args.bodies}")
    for key, threshold in levels["thresholds"].items():
        if threshold != reference_threshold(spec, key):
            fail(f"{key} has {threshold} under {spec!r}")
    print(f"e2e: after concurrent PUTs: {spec!r}, and all {len(levels['thresholds'])} thresholds agree")
    status, _, _ = put_levels(args.base, args.token, "prod")
    if status != 200:
        fail("cannot reset the levels")


def clean(args):
    for path in args.files:
        with open(path, "rb") as file:
            if args.canary.encode() in file.read():
                fail(f"the canary secret is in {path}")
    print(f"e2e: the canary secret is in none of {', '.join(args.files)}")


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("live")
    p.add_argument("--base", required=True)
    p.add_argument("--prometheus", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--canary", required=True)
    p.add_argument("--control", required=True)
    p = sub.add_parser("consistent")
    p.add_argument("--base", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("bodies", nargs="+")
    p = sub.add_parser("clean")
    p.add_argument("--canary", required=True)
    p.add_argument("files", nargs="+")
    args = parser.parse_args()
    {"live": live, "consistent": consistent, "clean": clean}[args.command](args)


if __name__ == "__main__":
    main()
