"""Issue 12 end to end: the three pillars linked, against real components.

All on 127.0.0.1:

1. frame_writer (built with `--features otel`) exports spans, metrics and log
   records to oteltest's HttpSink; a Prometheus 2.42 server with
   `--enable-feature=exemplar-storage` scrapes it (OpenMetrics); promtool
   lints the text format and Prometheus's OpenMetrics parser (promtool's
   `tsdb create-blocks-from openmetrics`; promtool 2.42's `check metrics`
   reads only the text format) stores every sample of the OpenMetrics
   answer.
   Checks: exemplars from `/api/v1/query_exemplars` name spans the sink
   received; JSON log lines carry their span's trace id, and so does the
   OTLP log record of every event inside a span (which its JSON line
   tells), while records of events outside spans carry none; counters
   (alamos_calls_total and an instrument's) and the count and sum of
   histograms (call durations and an instrument's) pushed over OTLP equal
   a scrape of the same process; `target_info` and the OTLP resources name
   the same service and instance.
2. frame_writer again, text logs: lines end in `trace=<trace>/<span>` of
   spans the sink received.
3. two_nodes: two nodes with the constant label `node`, one Prometheus
   scraping both: `sum by (experiment) (rate(alamos_calls_total[30s]))` is
   the sum of the nodes' rates.

    python tests/interop/pillars.py --frame-writer target/debug/frame_writer \\
        --two-nodes target/debug/two_nodes

Prints each check and a closing `pillars: N passed, N failed` line; exits 1
if any check failed.
"""

import argparse
import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sink import Sink, free_port, wait_for_port  # noqa: E402

# What Prometheus 2.42 sends when it scrapes.
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"  ok    {name}", flush=True)
        else:
            self.failed += 1
            print(f"  FAIL  {name}: {detail}", flush=True)
        return ok


def http_get(url, headers=None, timeout=10):
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, response.headers.get("content-type", ""), response.read().decode()


def http_post(url, timeout=10):
    request = urllib.request.Request(url, data=b"", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def wait_until(what, deadline_s, probe, interval=0.25):
    """Calls probe() until it returns something truthy; that value, or None."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            value = probe()
        except (OSError, ValueError, KeyError):
            value = None
        if value:
            return value
        time.sleep(interval)
    print(f"  ..    gave up waiting for {what} after {deadline_s} s", flush=True)
    return None


def compare_push(checks, exposition, push, name, scraped_name, field):
    """Checks that every series of `scraped_name` in the text exposition has
    the value the push's `name` metric has in `field` (`value`, or `count`
    for a histogram's count), and that neither has a series the other has not."""
    scraped = {frozenset(parse_labels(labels).items()): value for labels, value in samples(exposition, scraped_name).items()}
    metric = push.metrics.get(name, {"points": []})
    pushed = {
        frozenset((k, str(v)) for k, v in point.attributes.items()): float(getattr(point, field))
        for point in metric["points"]
    }

    def same(a, b):
        return a is not None and b is not None and abs(a - b) <= 1e-9 * max(1.0, abs(a))

    differing = {
        ",".join(f"{k}={v}" for k, v in sorted(series)): (scraped.get(series), pushed.get(series))
        for series in set(scraped) | set(pushed)
        if not same(scraped.get(series), pushed.get(series))
    }
    checks.check(
        f"the {len(pushed)} pushed {scraped_name} series equal the scrape of the same process",
        len(pushed) > 0 and len(scraped) == len(pushed) and not differing,
        differing,
    )
    print(
        f"        {scraped_name} summed: {sum(pushed.values()):g} pushed, {sum(scraped.values()):g} scraped",
        flush=True,
    )


def line_key(line):
    """What a JSON log line and the OTLP record of its event both say:
    level, message and the other fields."""
    fields = dict(line.get("fields", {}))
    message = fields.pop("message", "")
    return (line.get("level"), message, frozenset((k, str(v)) for k, v in fields.items()))


def record_key(record):
    """As line_key, from an OTLP log record (alamos's events add their
    experiment as an attribute; the line says it apart)."""
    attributes = {k: v for k, v in record.attributes.items() if k != "alamos.experiment"}
    return (record.severity, record.body, frozenset((k, str(v)) for k, v in attributes.items()))


def samples(exposition, metric):
    """{labels text: value} of one metric's samples in the text format."""
    found = {}
    for line in exposition.splitlines():
        match = re.match(rf"^{re.escape(metric)}(\{{.*\}})? (\S+)$", line)
        if match:
            found[match.group(1) or ""] = float(match.group(2))
    return found


def parse_labels(text):
    return dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', text or ""))


class Prometheus:
    """A Prometheus server on a free loopback port; stopped by PID."""

    def __init__(self, workdir, targets, exemplars=False):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="prometheus-", dir=workdir)
        config = os.path.join(self.dir, "prometheus.yml")
        with open(config, "w") as f:
            f.write(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                "scrape_configs:\n  - job_name: alamos\n    static_configs:\n"
                f"      - targets: [{', '.join(repr(t) for t in targets)}]\n"
            )
        args = [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={os.path.join(self.dir, 'tsdb')}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--web.enable-lifecycle",
        ]
        if exemplars:
            args.append("--enable-feature=exemplar-storage")
        self.log = open(os.path.join(self.dir, "prometheus.log"), "w")
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.log)
        if not wait_until("prometheus ready", 20, lambda: http_get(self.url("/-/ready"))[0] == 200):
            raise RuntimeError(f"prometheus did not start; its log:\n{self.output()}")

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def api(self, path, **params):
        query = urllib.parse.urlencode(params)
        _, _, body = http_get(self.url(f"/api/v1/{path}?{query}"))
        answer = json.loads(body)
        if answer.get("status") != "success":
            raise ValueError(body)
        return answer["data"]

    def targets(self):
        return self.api("targets")["activeTargets"]

    def output(self):
        self.log.flush()
        with open(os.path.join(self.dir, "prometheus.log")) as f:
            return f.read()

    def stop(self):
        try:
            http_post(self.url("/-/quit"), timeout=2)
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait(timeout=5)


class Program:
    """A child process whose stderr goes to a file; stopped by PID."""

    def __init__(self, args, env, log_path):
        self.log_path = log_path
        self.log = open(log_path, "w")
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "ALAMOS_"))}
        clean.update(env)
        self.process = subprocess.Popen(args, env=clean, stdout=subprocess.DEVNULL, stderr=self.log)

    def output(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def wait(self, timeout):
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self):
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)


def promtool(args, stdin_text):
    done = subprocess.run(["promtool", *args], input=stdin_text, capture_output=True, text=True, timeout=60)
    return done.returncode, (done.stdout + done.stderr).strip()


def stored_samples(output):
    """The NUM SAMPLES column of `promtool tsdb create-blocks-from`, summed."""
    lines = output.splitlines()
    header = next((i for i, line in enumerate(lines) if line.startswith("BLOCK ULID")), None)
    if header is None:
        return None
    column = re.split(r"\s{2,}", lines[header].strip()).index("NUM SAMPLES")
    return sum(int(re.split(r"\s{2,}", line.strip())[column]) for line in lines[header + 1 :] if line.strip())


def timestamped(openmetrics):
    """The OpenMetrics text with a timestamp on every sample, which
    `promtool tsdb create-blocks-from openmetrics` needs to read it."""
    out = []
    for line in openmetrics.splitlines():
        if line.startswith("#"):
            out.append(line)
            continue
        match = re.match(r"^(\S+?(?:\{.*?\})?) (\S+)( # \{.*)?$", line)
        if not match:
            return None
        out.append(f"{match.group(1)} {match.group(2)} 1700000000{match.group(3) or ''}")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------ frame_writer


def frame_writer_run(checks, binary, workdir, sink):
    print("--- frame_writer: OpenMetrics, exemplars, OTLP metrics and logs, trace ids in JSON logs", flush=True)
    port = free_port()
    metrics_url = f"http://127.0.0.1:{port}/metrics"
    env = {
        "ALAMOS_PROMETHEUS_ADDR": f"127.0.0.1:{port}",
        "ALAMOS_LOG_FORMAT": "json",
        "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
        "OTEL_METRIC_EXPORT_INTERVAL": "500",
        "OTEL_BSP_SCHEDULE_DELAY": "500",
        "OTEL_SERVICE_NAME": "alamos-frame-writer",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=ci,team=a%20b",
    }
    program = Program([binary, "--seconds", "12", "--linger", "5"], env, os.path.join(workdir, "frame_writer.log"))
    prometheus = None
    try:
        if not wait_until("the metrics endpoint", 20, lambda: wait_for_port(port, 0.2)):
            checks.check("frame_writer serves /metrics", False, program.output()[-2000:])
            return
        prometheus = Prometheus(workdir, [f"127.0.0.1:{port}"], exemplars=True)
        # Give the calls time to fill buckets and exemplars.
        time.sleep(2)

        status, content_type, text = http_get(metrics_url)
        checks.check(
            "without Accept, /metrics is the text format 0.0.4",
            status == 200 and content_type.startswith("text/plain; version=0.0.4") and "# EOF" not in text,
            content_type,
        )
        rc, complaints = promtool(["check", "metrics"], text)
        checks.check("promtool check metrics accepts the text format", rc == 0 and not complaints, f"rc {rc}: {complaints}")
        target_info = re.search(r"^target_info(\{.*\}) 1$", text, re.M)
        checks.check("the text format has target_info", target_info is not None, text[:500])

        status, content_type, om = http_get(metrics_url, {"Accept": PROMETHEUS_ACCEPT})
        checks.check(
            "with Prometheus's Accept, /metrics is OpenMetrics 1.0.0",
            status == 200 and content_type.startswith("application/openmetrics-text; version=1.0.0"),
            content_type,
        )
        exemplar_lines = [line for line in om.splitlines() if " # {trace_id=" in line]
        checks.check(
            "OpenMetrics has # EOF, # UNIT, target_info and exemplars",
            om.endswith("# EOF\n")
            and "# UNIT alamos_call_duration_seconds seconds" in om
            and "# TYPE target info" in om
            and "\ntarget_info{" in om
            and len(exemplar_lines) > 0,
            om[-300:],
        )
        if exemplar_lines:
            print(f"        e.g. {exemplar_lines[0]}", flush=True)
        # promtool 2.42's `check metrics` lints with the 0.0.4 text parser
        # whatever the input, so it cannot judge OpenMetrics (it stops at
        # `# TYPE target info`: unknown metric type "info"). Prometheus's
        # own OpenMetrics parser is
        # reached through `promtool tsdb create-blocks-from openmetrics`,
        # which exits 1 on the first line it cannot parse and otherwise
        # says how many samples it stored.
        stamped = timestamped(om)
        blocks = os.path.join(workdir, "om-blocks")
        shutil.rmtree(blocks, ignore_errors=True)
        with open(os.path.join(workdir, "openmetrics.txt"), "w") as f:
            f.write(stamped or "")
        rc, output = promtool(
            ["tsdb", "create-blocks-from", "openmetrics", os.path.join(workdir, "openmetrics.txt"), blocks], ""
        )
        sample_lines = [line for line in (stamped or "").splitlines() if line and not line.startswith("#")]
        stored = stored_samples(output)
        checks.check(
            f"Prometheus's OpenMetrics parser (promtool tsdb create-blocks-from openmetrics) reads all "
            f"{len(sample_lines)} samples",
            stamped is not None and rc == 0 and stored == len(sample_lines),
            f"rc {rc}, {stored} samples stored: {output[-500:]}",
        )

        def scraped_healthily():
            targets = prometheus.targets()
            return targets and targets[0]["health"] == "up" and targets[0]["lastError"] == "" and targets[0]

        target = wait_until("a healthy scrape", 30, scraped_healthily)
        checks.check("Prometheus scrapes OpenMetrics with no error", bool(target), prometheus.targets() if prometheus else "")

        def exemplars():
            now = time.time()
            data = prometheus.api(
                "query_exemplars",
                query="alamos_call_duration_seconds_bucket",
                start=f"{now - 300:.3f}",
                end=f"{now + 60:.3f}",
            )
            return [(series, e) for series in data for e in series["exemplars"]]

        found = wait_until("exemplars in Prometheus", 30, exemplars)

        loaded = wait_until("the load to stop", 40, lambda: "load stopped" in program.output())
        checks.check("frame_writer stopped its load", bool(loaded), program.output()[-1500:])
        # Every value is still now: a scrape and the next push must agree.
        _, _, still = http_get(metrics_url)
        scraped_at = time.monotonic()
        push = wait_until(
            "a push after the scrape",
            10,
            lambda: next((p for p in sink.pushes() if p.received_at > scraped_at + 0.05), None),
            interval=0.1,
        )
        if push:
            # A counter of every call, an instrument counter, and the count
            # and sum of a call-duration and of an instrument histogram.
            for name, scraped, pushed in (
                ("alamos_calls_total", "alamos_calls_total", "value"),
                ("cesium_written_bytes_total", "cesium_written_bytes_total", "value"),
                ("alamos_call_duration_seconds", "alamos_call_duration_seconds_count", "count"),
                ("alamos_call_duration_seconds", "alamos_call_duration_seconds_sum", "value"),
                ("frame_size_bytes", "frame_size_bytes_count", "count"),
                ("frame_size_bytes", "frame_size_bytes_sum", "value"),
            ):
                compare_push(checks, still, push, name, scraped, pushed)
        else:
            checks.check("a metrics push arrived after the scrape", False, f"{len(sink.pushes())} pushes")
        found = exemplars() or found or []
        prometheus.stop()
        prometheus = None
    finally:
        if prometheus:
            prometheus.stop()
        code = program.wait(40)
    checks.check("frame_writer exits cleanly", code == 0, program.output()[-1500:])

    spans = sink.spans()
    by_span = {s.span_id: s for s in spans if s.service == "alamos-frame-writer"}
    traces = {s.trace_id for s in by_span.values()}
    checks.check("the sink received frame_writer's spans", len(by_span) > 0, f"{len(spans)} spans")

    unmatched = [e for _, e in found if e["labels"].get("trace_id") not in traces]
    checks.check(
        f"every one of the {len(found)} exemplars Prometheus returns names a trace the sink received",
        len(found) > 0 and not unmatched,
        unmatched[:3],
    )
    same_span = [e for _, e in found if e["labels"].get("span_id") in by_span]
    checks.check(
        "exemplars name the very span of the call",
        len(found) > 0
        and all(by_span[e["labels"]["span_id"]].trace_id == e["labels"]["trace_id"] for e in same_span)
        and len(same_span) == len(found),
        f"{len(same_span)} of {len(found)}",
    )
    if found:
        series, exemplar = found[-1]
        span = by_span.get(exemplar["labels"].get("span_id"))
        print(f"        query_exemplars: {json.dumps({'seriesLabels': series['seriesLabels'], 'exemplar': exemplar})}", flush=True)
        if span:
            print(
                f"        the sink's span: {span.name} trace_id={span.trace_id} span_id={span.span_id} "
                f"service={span.service} attributes={span.attributes}",
                flush=True,
            )

    # JSON log lines with trace ids of received spans.
    lines = []
    for line in program.output().splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except ValueError:
                pass
    traced = [line for line in lines if "trace_id" in line]
    good = [
        line
        for line in traced
        if HEX32.match(line["trace_id"])
        and HEX16.match(line.get("span_id", ""))
        and line["span_id"] in by_span
        and by_span[line["span_id"]].trace_id == line["trace_id"]
    ]
    checks.check(
        f"JSON log lines inside spans carry their span's trace_id and span_id ({len(traced)} of {len(lines)} lines)",
        len(traced) > 0 and len(good) == len(traced),
        [line for line in traced if line not in good][:2],
    )
    if traced:
        print(f"        e.g. {json.dumps(traced[0])}", flush=True)
    untraced_in_span = [line for line in lines if "span" in line and "trace_id" not in line]
    checks.check("no log line inside a span lacks a trace_id", not untraced_in_span, untraced_in_span[:2])

    # OTLP log records. Each is the record of one log line of the same
    # process, which says whether its event was inside a span: frame_writer
    # logs inside spans (the `err` events of storage.cesium.write, "read
    # failed" in api.frames.read) and outside any (warnings of its client
    # and supervisor threads).
    records = [r for r in sink.logs() if r.service == "alamos-frame-writer"]
    line_keys = collections.Counter(line_key(line) for line in lines)
    record_keys = collections.Counter(record_key(record) for record in records)
    checks.check(
        f"every OTLP log record is a log line of the process ({len(records)} records, {len(lines)} lines)",
        len(records) > 0 and record_keys == line_keys,
        {key: (line_keys[key], record_keys[key]) for key in set(line_keys) | set(record_keys) if line_keys[key] != record_keys[key]},
    )
    in_span_keys = {line_key(line) for line in lines if "span" in line}
    outside_keys = {line_key(line) for line in lines if "span" not in line}
    ambiguous = in_span_keys & outside_keys
    inside = [r for r in records if record_key(r) in in_span_keys - ambiguous]
    outside = [r for r in records if record_key(r) in outside_keys - ambiguous]
    # The ids of each event inside a span, from its line and from its record.
    from_lines = collections.Counter(
        (line_key(line), line.get("trace_id"), line.get("span_id")) for line in lines if line_key(line) in in_span_keys - ambiguous
    )
    from_records = collections.Counter((record_key(r), r.trace_id or None, r.span_id or None) for r in inside)
    matching = [r for r in inside if r.span_id in by_span and by_span[r.span_id].trace_id == r.trace_id]
    checks.check(
        f"every OTLP log record emitted inside a span carries its span's trace and span id "
        f"({len(inside)} of {len(records)} records inside spans, {len(matching)} with ids of received spans)",
        len(inside) > 0 and not ambiguous and len(matching) == len(inside) and from_records == from_lines,
        {
            "ambiguous": list(ambiguous)[:2],
            "without ids": [(r.severity, r.body, r.attributes) for r in inside if not r.trace_id][:3],
            "not the line's": list((from_records - from_lines).keys())[:3],
        },
    )
    kinds = {"err events": lambda r: r.severity == "ERROR" and "error" in r.attributes and not r.body,
             "read failed": lambda r: r.body.startswith("read failed")}
    checks.check(
        "records inside spans include err events and alamos::error! events",
        all(any(kind(r) for r in inside) for kind in kinds.values()),
        {name: sum(kind(r) for r in inside) for name, kind in kinds.items()},
    )
    checks.check(
        f"OTLP log records emitted outside any span carry no ids ({len(outside)} records)",
        len(outside) > 0 and not any(r.trace_id or r.span_id for r in outside),
        [(r.body, r.trace_id) for r in outside if r.trace_id][:3],
    )
    if matching:
        record = matching[0]
        print(
            f"        e.g. log record {record.severity} {record.attributes} trace_id={record.trace_id} "
            f"span_id={record.span_id} <- span {by_span[record.span_id].name}",
            flush=True,
        )

    # Pushed exemplars, and one identity everywhere.
    pushes = [p for p in sink.pushes() if p.resource.get("service.name") == "alamos-frame-writer"]
    pushed_exemplars = [
        e
        for p in pushes[-1:]
        for m in p.metrics.values()
        for point in m["points"]
        for e in (point.exemplars or [])
    ]
    checks.check(
        f"pushed histograms carry exemplars of received traces ({len(pushed_exemplars)} in the last push)",
        len(pushed_exemplars) > 0 and all(e["trace_id"] in traces for e in pushed_exemplars),
        pushed_exemplars[:2],
    )
    info = parse_labels(target_info.group(1)) if target_info else {}
    instance = info.get("service_instance_id")
    resources = [p.resource for p in pushes[-1:]] + [s.resource for s in list(by_span.values())[:1]] + [r.resource for r in records[:1]]
    checks.check(
        "target_info and the OTLP resources of all three signals name one service and instance",
        instance
        and len(resources) == 3
        and info.get("service_name") == "alamos-frame-writer"
        and all(
            r.get("service.instance.id") == instance and r.get("service.name") == "alamos-frame-writer" for r in resources
        ),
        (info, resources),
    )
    checks.check(
        "OTEL_RESOURCE_ATTRIBUTES reaches target_info and OTLP, percent-decoded",
        info.get("team") == "a b"
        and info.get("deployment_environment") == "ci"
        and all(r.get("team") == "a b" for r in resources),
        (info, resources),
    )


def text_logs_run(checks, binary, workdir, sink):
    print("--- frame_writer: trace ids in text log lines", flush=True)
    env = {
        "ALAMOS_PROMETHEUS_ADDR": f"127.0.0.1:{free_port()}",
        "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
        "OTEL_SERVICE_NAME": "alamos-frame-writer-text",
        "OTEL_METRICS_EXPORTER": "none",
    }
    program = Program([binary, "--seconds", "1.5"], env, os.path.join(workdir, "frame_writer_text.log"))
    code = program.wait(30)
    by_span = {s.span_id: s for s in sink.spans() if s.service == "alamos-frame-writer-text"}
    traced = re.findall(r" trace=([0-9a-f]{32})/([0-9a-f]{16})$", program.output(), re.M)
    good = [(t, s) for t, s in traced if s in by_span and by_span[s].trace_id == t]
    checks.check(
        f"text log lines end in trace=<trace>/<span> of received spans ({len(traced)} lines)",
        code == 0 and len(traced) > 0 and len(good) == len(traced),
        program.output()[-800:],
    )
    if traced:
        line = next(l for l in program.output().splitlines() if " trace=" in l)
        print(f"        e.g. {line}", flush=True)
    checks.check(
        "OTEL_METRICS_EXPORTER=none pushes no metrics",
        not any(p.resource.get("service.name") == "alamos-frame-writer-text" for p in sink.pushes()),
    )


# ------------------------------------------------------------ two nodes


def two_nodes_run(checks, binary, workdir, sink):
    print("--- two_nodes: constant labels, one Prometheus, cluster sums", flush=True)
    listen = {"a": free_port(), "b": free_port()}
    metrics = {"a": free_port(), "b": free_port()}
    nodes = {}
    for name, peer in (("b", None), ("a", f"127.0.0.1:{listen['b']}")):
        args = [binary, "node", "--name", name, "--listen", f"127.0.0.1:{listen[name]}", "--metrics", f"127.0.0.1:{metrics[name]}"]
        if peer:
            args += ["--peer", peer]
        nodes[name] = Program(args, {"OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint}, os.path.join(workdir, f"node-{name}.log"))
    prometheus = None
    stop = threading.Event()
    sent = [0]

    def load():
        while not stop.is_set():
            try:
                status, _ = http_post(f"http://127.0.0.1:{listen['a']}/frames?count=1", timeout=5)
                sent[0] += status == 200
            except OSError:
                time.sleep(0.05)

    loader = threading.Thread(target=load, daemon=True)
    try:
        for name in nodes:
            if not wait_until(f"node {name}", 20, lambda: wait_for_port(listen[name], 0.2) and wait_for_port(metrics[name], 0.2)):
                checks.check(f"node {name} starts", False, nodes[name].output()[-1500:])
                return
        loader.start()
        prometheus = Prometheus(workdir, [f"127.0.0.1:{metrics['a']}", f"127.0.0.1:{metrics['b']}"])

        def enough_samples():
            result = prometheus.api("query", query="min(count_over_time(up[30s]))")["result"]
            return result and float(result[0]["value"][1]) >= 4

        wait_until("4 scrapes of each node", 40, enough_samples)
        at = f"{time.time():.3f}"
        cluster = prometheus.api("query", query="sum by (experiment) (rate(alamos_calls_total[30s]))", time=at)["result"]
        per_node = prometheus.api("query", query="sum by (experiment, node) (rate(alamos_calls_total[30s]))", time=at)["result"]
        unlabelled = prometheus.api("query", query='count(alamos_calls_total{node=""}) or vector(0)', time=at)["result"]
        stop.set()
        sums = {}
        for series in per_node:
            labels = series["metric"]
            sums.setdefault(labels.get("experiment"), {})[labels.get("node")] = float(series["value"][1])
        totals = {s["metric"].get("experiment"): float(s["value"][1]) for s in cluster}
        mismatched = {
            experiment: (total, sums.get(experiment))
            for experiment, total in totals.items()
            if abs(total - sum(sums.get(experiment, {}).values())) > 1e-9 * max(1.0, total)
        }
        frames = sums.get("api.frames", {})
        checks.check(
            "every alamos_calls_total series of both nodes has the constant label node",
            unlabelled and float(unlabelled[0]["value"][1]) == 0,
            unlabelled,
        )
        checks.check(
            "sum by (experiment) (rate(alamos_calls_total[30s])) is the sum of the two nodes",
            totals and not mismatched and frames.get("a", 0) > 0 and frames.get("b", 0) > 0
            and totals["api.frames"] > max(frames.values()),
            (totals, sums, mismatched),
        )
        print(
            f"        api.frames: cluster {totals.get('api.frames', 0):.3f}/s = node a {frames.get('a', 0):.3f}/s "
            f"+ node b {frames.get('b', 0):.3f}/s ({sent[0]} requests sent)",
            flush=True,
        )
    finally:
        stop.set()
        if prometheus:
            prometheus.stop()
        for name in ("a", "b"):
            try:
                http_post(f"http://127.0.0.1:{listen[name]}/shutdown", timeout=5)
            except OSError:
                pass
        codes = {name: node.wait(20) for name, node in nodes.items()}
    checks.check("both nodes stop cleanly", all(code == 0 for code in codes.values()), codes)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--frame-writer", required=True)
    parser.add_argument("--two-nodes", required=True)
    args = parser.parse_args()
    for tool in ("prometheus", "promtool"):
        if not shutil.which(tool):
            print(f"pillars: `{tool}` is not installed: run .ci/install.sh")
            return 1
    checks = Checks()
    workdir = tempfile.mkdtemp(prefix="alamos-pillars-")
    sink = Sink().start()
    started = time.monotonic()
    try:
        for run, binary in (
            (frame_writer_run, args.frame_writer),
            (text_logs_run, args.frame_writer),
            (two_nodes_run, args.two_nodes),
        ):
            try:
                run(checks, binary, workdir, sink)
            except Exception as error:  # noqa: BLE001 - reported as a failed check
                checks.check(f"{run.__name__} ran", False, repr(error))
    finally:
        sink.stop()
    print(f"pillars: {time.monotonic() - started:.1f} s; logs in {workdir}")
    print(f"pillars: {checks.passed} passed, {checks.failed} failed")
    if checks.failed == 0:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
