#!/usr/bin/env python3
"""The admin endpoint of the running frame_writer example, driven by a plain
Python client (urllib, nothing else) while a real Prometheus scrapes it.
Run by tests/admin/e2e.sh (.ci/steps/35-admin.sh); see that file.

    e2e.py live --base URL --prometheus URL --token T --canary C --control K
    e2e.py consistent --base URL --token T BODY...
    e2e.py clean FILE... --canary C

`live`: wrong token -> 401 (the same answer each time), the GET routes
answer JSON, a bad body -> 400 with errors and nearest keys and nothing
changed, and Prometheus sees alamos_calls_total{experiment="distribution.relay"}
start growing within a few scrapes of `PUT prod,distribution=bench` and stop
after `PUT prod`. The canary secret is in no answer of any route.
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


def wait_for(what, seconds, probe):
    """Calls probe() until it returns something truthy; fails after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.25)
    fail(f"timed out after {seconds} s waiting for {what}")


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
    def restarted():
        return any(task["key"] == "distribution.peer_sync" and task["restarts"] >= 1
                   for task in get_json(base, "/alamos/tasks", token)["tasks"])
    wait_for("a restart of distribution.peer_sync", 10, restarted)
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
    status, _, body = put_levels(base, token, "prod,distribution=bench")
    if status != 200:
        fail(f"PUT answered {status}: {body!r}")
    print("e2e: PUT prod,distribution=bench ->", body.decode())
    put_at = time.monotonic()
    first = wait_for("relay calls in Prometheus", 8,
                     lambda: (query(args.prometheus, RELAY) or 0) > 0 and query(args.prometheus, RELAY))
    seen_after = time.monotonic() - put_at
    higher = wait_for("relay calls to keep growing", 6,
                      lambda: (query(args.prometheus, RELAY) or 0) > first and query(args.prometheus, RELAY))
    print(f"e2e: after the PUT: {RELAY} = {first} after {seen_after:.1f} s "
          f"(~{seen_after / SCRAPE_SECONDS:.0f} scrapes), then {higher}")

    status, _, body = put_levels(base, token, "prod")
    if status != 200:
        fail(f"the reverse PUT answered {status}")
    print("e2e: PUT prod ->", body.decode())
    # Calls in flight at the PUT finish; then the counter must stand still.
    time.sleep(3 * SCRAPE_SECONDS)
    settled = query(args.prometheus, RELAY)
    time.sleep(4 * SCRAPE_SECONDS)
    later = query(args.prometheus, RELAY)
    print(f"e2e: after the reverse PUT: {RELAY} = {settled}, 4 s later {later}")
    if settled is None or later != settled:
        fail(f"relay calls still grow after the reverse PUT: {settled} -> {later}")
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
