"""Issue 17 item 6 end to end: the two-node service example, traced from a
Python client through a real collector, with no hand-written propagation.

All on 127.0.0.1:

- oteltest's HttpSink (tests/interop/sink.py) is the receiver;
- rotel (a Rust OpenTelemetry collector, PyPI `rotel`) takes OTLP/HTTP from
  every process and forwards it to the sink (`--exporter otlp`, gzip bodies);
- the example's storage node (tonic gRPC + a small axum HTTP route) and
  front node (axum; a tonic channel and a reqwest client to storage), each
  wired only with alamos::tower::{ServerLayer, ClientLayer} and
  alamos::reqwest::Middleware, export to rotel and serve /metrics;
- this script is the client: the OpenTelemetry Python SDK with
  RequestsInstrumentor, exporting its own spans to rotel;
- a Prometheus 2.42 server scrapes both nodes.

Checks: one trace holds spans of all three processes with the right
parent links across them (client span -> front server span -> front's
gRPC and HTTP client spans -> storage's server spans -> storage's
experiments); names and `http.route` carry route templates, never raw
paths; a read of an unknown channel (gRPC NOT_FOUND) is counted outcome
`error` by the storage node's server layer and the front node's client
layer; a caller's not-sampled flag is obeyed on both nodes (counted, no
spans); ALAMOS_LEVEL and ALAMOS_TRACE_SAMPLE are read from the
environment; Prometheus has both targets up with series; the example's
source calls no propagate/depropagate.

    python tests/interop/service.py --bin target/debug/service --source examples/src/bin/service

Prints each check, the traces as the receiver got them, and a closing
`service: N passed, N failed` line; exits 1 if any check failed. Every
child process is stopped on the way out, whatever happened.
"""

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pillars import Checks, Program, Prometheus, http_get, parse_labels, samples, wait_until  # noqa: E402
from sink import Sink, free_port, wait_for_port  # noqa: E402

import rotel  # noqa: E402
from opentelemetry import trace  # noqa: E402
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: E402
from opentelemetry.instrumentation.requests import RequestsInstrumentor  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
import requests  # noqa: E402

SERVER, CLIENT = 2, 3  # OTLP span kinds
STATUS_ERROR = 2
APPEND = "/alamos.example.Storage/Append"
READ = "/alamos.example.Storage/Read"
FRAMES = "/channels/{name}/frames"
LIMITS = "/channels/{name}/limits"


class Rotel:
    """rotel-agent receiving OTLP/HTTP on a loopback port and forwarding to
    the sink over OTLP/HTTP."""

    def __init__(self, workdir, sink_endpoint):
        self.port = free_port()
        binary = os.path.join(os.path.dirname(rotel.__file__), "rotel-agent")
        self.log_path = os.path.join(workdir, "rotel.log")
        self.log = open(self.log_path, "w")
        args = [
            binary, "start",
            "--otlp-http-endpoint", f"127.0.0.1:{self.port}",
            # Its gRPC receiver would take 0.0.0.0:4317 by default.
            "--otlp-grpc-endpoint", f"127.0.0.1:{free_port()}",
            "--exporter", "otlp",
            "--otlp-exporter-endpoint", sink_endpoint,
            "--otlp-exporter-protocol", "http",
            # Forward within a fraction of a second, not its default batch wait.
            "--batch-timeout", "200ms",
        ]
        self.process = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        if not wait_for_port(self.port, 15):
            self.stop()
            raise RuntimeError(f"rotel did not listen on 127.0.0.1:{self.port}:\n{self.output()}")

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def output(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def metric(exposition, name, **labels):
    """The sum of `name`'s samples whose labels include `labels`."""
    return sum(
        value
        for text, value in samples(exposition, name).items()
        if all(parse_labels(text).get(k) == v for k, v in labels.items())
    )


def children_of(spans, parent):
    return [s for s in spans if s.parent_id == parent.span_id]


def one(checks, spans, what, predicate):
    """The single span matching `predicate`, checked; None if not exactly one."""
    found = [s for s in spans if predicate(s)]
    checks.check(f"one {what}", len(found) == 1, f"{len(found)} found: {[(s.service, s.name) for s in found]}")
    return found[0] if len(found) == 1 else None


def ancestors(spans, span):
    by_id = {s.span_id: s for s in spans}
    seen = []
    while span.parent_id in by_id:
        span = by_id[span.parent_id]
        seen.append(span)
    return seen


def print_trace(title, spans):
    """The trace as the receiver got it, as a tree: service, name, span id,
    parent id."""
    print(f"\n{title}: trace {spans[0].trace_id if spans else '-'}, {len(spans)} spans", flush=True)
    print(f"  {'service':16} {'span id':16} {'parent id':16}  name", flush=True)
    ids = {s.span_id for s in spans}

    def walk(span, depth):
        print(f"  {span.service:16} {span.span_id:16} {span.parent_id or '-':16}  {'  ' * depth}{span.name}", flush=True)
        for child in sorted(children_of(spans, span), key=lambda s: (s.service, s.name)):
            walk(child, depth + 1)

    for root in [s for s in spans if s.parent_id not in ids]:
        walk(root, 0)


def check_write_trace(checks, spans, client_span_name):
    """The POST's trace: every link from the Python span to storage's experiments."""
    services = {s.service for s in spans}
    checks.check(
        "the write's trace holds spans of all three processes",
        {"python-client", "alamos-front", "alamos-storage"} <= services,
        services,
    )
    root = one(checks, spans, "Python root span", lambda s: s.service == "python-client" and s.name == client_span_name)
    if root is None:
        return
    request = one(checks, spans, "Python requests span (RequestsInstrumentor)",
                  lambda s: s.service == "python-client" and s.kind == CLIENT and s.parent_id == root.span_id)
    front = one(checks, spans, f"front server span api.http.{FRAMES}",
                lambda s: s.service == "alamos-front" and s.name == f"api.http.{FRAMES}")
    if request is None or front is None:
        return
    checks.check("front's server span is a child of the Python client's span (across processes)",
                 front.parent_id == request.span_id, (front.parent_id, request.span_id))
    checks.check("front's server span: kind server, http.route the template, method POST",
                 front.kind == SERVER and front.attributes.get("http.route") == FRAMES
                 and front.attributes.get("http.request.method") == "POST",
                 (front.kind, front.attributes))
    write = one(checks, spans, "front experiment span api.frames.write",
                lambda s: s.service == "alamos-front" and s.name == "api.frames.write")
    if write is not None:
        checks.check("api.frames.write is a child of the request's span", write.parent_id == front.span_id)
    parse = [s for s in spans if s.name == "api.frames.parse"]
    checks.check("ALAMOS_LEVEL=...,api.frames=debug: the debug-level api.frames.parse span is there",
                 len(parse) == 1 and write is not None and parse[0].parent_id == write.span_id,
                 [(s.name, s.parent_id) for s in parse])

    grpc_client = one(checks, spans, f"front gRPC client span distribution.storage.{APPEND}",
                      lambda s: s.service == "alamos-front" and s.name == f"distribution.storage.{APPEND}")
    grpc_server = one(checks, spans, f"storage gRPC server span storage.grpc.{APPEND}",
                      lambda s: s.service == "alamos-storage" and s.name == f"storage.grpc.{APPEND}")
    if grpc_client and grpc_server:
        checks.check("front's gRPC client span is under its request span",
                     front in ancestors(spans, grpc_client) and grpc_client.kind == CLIENT,
                     [a.name for a in ancestors(spans, grpc_client)])
        checks.check("storage's gRPC server span is a child of front's client span (across processes)",
                     grpc_server.parent_id == grpc_client.span_id and grpc_server.kind == SERVER,
                     (grpc_server.parent_id, grpc_client.span_id))
        checks.check("storage's gRPC server span says grpc status 0",
                     str(grpc_server.attributes.get("rpc.grpc.status_code")) == "0", grpc_server.attributes)
        append = one(checks, spans, "storage experiment span storage.frames.append",
                     lambda s: s.service == "alamos-storage" and s.name == "storage.frames.append")
        if append is not None:
            checks.check("storage.frames.append is a child of storage's gRPC server span",
                         append.parent_id == grpc_server.span_id, (append.parent_id, grpc_server.span_id))

    http_client = one(checks, spans, f"front reqwest span distribution.limits.{LIMITS}",
                      lambda s: s.service == "alamos-front" and s.name == f"distribution.limits.{LIMITS}")
    http_server = one(checks, spans, f"storage HTTP server span storage.http.{LIMITS}",
                      lambda s: s.service == "alamos-storage" and s.name == f"storage.http.{LIMITS}")
    if http_client and http_server:
        checks.check("front's reqwest span is under its request span",
                     front in ancestors(spans, http_client) and http_client.kind == CLIENT)
        checks.check("storage's HTTP server span is a child of front's reqwest span (across processes)",
                     http_server.parent_id == http_client.span_id
                     and http_server.attributes.get("http.route") == LIMITS,
                     (http_server.parent_id, http_client.span_id, http_server.attributes))
        limits = one(checks, spans, "storage experiment span storage.limits.limits",
                     lambda s: s.service == "alamos-storage" and s.name == "storage.limits.limits")
        if limits is not None:
            checks.check("storage.limits.limits is a child of storage's HTTP server span",
                         limits.parent_id == http_server.span_id)


def check_error_trace(checks, spans):
    """The read of an unknown channel: NOT_FOUND on both sides of the gRPC call."""
    server = one(checks, spans, f"storage gRPC server span storage.grpc.{READ}",
                 lambda s: s.service == "alamos-storage" and s.name == f"storage.grpc.{READ}")
    client = one(checks, spans, f"front gRPC client span distribution.storage.{READ}",
                 lambda s: s.service == "alamos-front" and s.name == f"distribution.storage.{READ}")
    front = one(checks, spans, f"front server span api.http.{FRAMES} (GET)",
                lambda s: s.service == "alamos-front" and s.name == f"api.http.{FRAMES}")
    if server and client:
        checks.check("the failed read's server span is a child of front's client span",
                     server.parent_id == client.span_id)
        for side, span in (("storage's server", server), ("front's client", client)):
            checks.check(f"{side} span: grpc status 5 (NOT_FOUND), span status error",
                         str(span.attributes.get("rpc.grpc.status_code")) == "5" and span.status == STATUS_ERROR,
                         (span.status, span.attributes))
    if front:
        checks.check("front's server span: 404, not an error (4xx is the caller's)",
                     str(front.attributes.get("http.response.status_code")) == "404"
                     and front.status != STATUS_ERROR, (front.status, front.attributes))


def check_source(checks, source):
    """No hand-written propagation in the example: the layers do it."""
    found = []
    for directory, _, files in os.walk(source):
        for name in files:
            path = os.path.join(directory, name)
            with open(path) as f:
                for number, line in enumerate(f, 1):
                    code = line.split("//")[0]
                    if re.search(r"\b(propagate|depropagate|with_parent)\s*\(", code):
                        found.append(f"{path}:{number}: {line.strip()}")
    checks.check(f"no propagate/depropagate/with_parent call in {source}", not found, found)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", required=True, help="the example's `service` binary")
    parser.add_argument("--source", required=True, help="the example's source directory")
    args = parser.parse_args()
    checks = Checks()
    check_source(checks, args.source)

    workdir = tempfile.mkdtemp(prefix="alamos-service-")
    cleanup = []
    try:
        sink = Sink().start()
        cleanup.append(sink.stop)
        collector = Rotel(workdir, sink.endpoint)
        cleanup.append(collector.stop)
        print(f"  ..    sink on {sink.endpoint}, rotel on {collector.endpoint}", flush=True)

        ports = {name: free_port() for name in ("grpc", "http", "front", "storage_metrics", "front_metrics")}
        common = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
            # Debug-level helpers of the front node's API are on.
            "ALAMOS_LEVEL": "prod,api.frames=debug",
            # No trace starts here: only requests whose caller sampled them
            # are traced (the background tasks are counted, not traced).
            "ALAMOS_TRACE_SAMPLE": "0",
        }
        storage = Program(
            [args.bin, "storage", "--grpc", f"127.0.0.1:{ports['grpc']}", "--http", f"127.0.0.1:{ports['http']}"],
            {**common, "ALAMOS_PROMETHEUS_ADDR": f"127.0.0.1:{ports['storage_metrics']}"},
            os.path.join(workdir, "storage.log"),
        )
        cleanup.append(storage.kill)
        front = Program(
            [args.bin, "front", "--listen", f"127.0.0.1:{ports['front']}",
             "--storage-grpc", f"http://127.0.0.1:{ports['grpc']}",
             "--storage-http", f"http://127.0.0.1:{ports['http']}"],
            {**common, "ALAMOS_PROMETHEUS_ADDR": f"127.0.0.1:{ports['front_metrics']}"},
            os.path.join(workdir, "front.log"),
        )
        cleanup.append(front.kill)
        for name, port in ports.items():
            if not wait_for_port(port, 20):
                raise RuntimeError(f"nothing on {name} port {port}:\n{storage.output()}\n{front.output()}")
        metrics = {
            "front": f"127.0.0.1:{ports['front_metrics']}",
            "storage": f"127.0.0.1:{ports['storage_metrics']}",
        }
        prometheus = Prometheus(workdir, list(metrics.values()))
        cleanup.append(prometheus.stop)

        # The client: the OpenTelemetry SDK, its spans exported to rotel too.
        provider = TracerProvider(resource=Resource.create({"service.name": "python-client"}))
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{collector.endpoint}/v1/traces")))
        trace.set_tracer_provider(provider)
        RequestsInstrumentor().instrument()
        cleanup.append(RequestsInstrumentor().uninstrument)
        tracer = trace.get_tracer("alamos.interop.service")
        base = f"http://127.0.0.1:{ports['front']}"
        with tracer.start_as_current_span("python.write") as span:
            answer = requests.post(f"{base}/channels/temperature/frames", data="20.5,21,21.25", timeout=10)
            write_trace = format(span.get_span_context().trace_id, "032x")
        checks.check("POST /channels/temperature/frames answers 200", answer.status_code == 200,
                     (answer.status_code, answer.text))
        with tracer.start_as_current_span("python.read_missing") as span:
            answer = requests.get(f"{base}/channels/humidity/frames", timeout=10)
            error_trace = format(span.get_span_context().trace_id, "032x")
        checks.check("GET /channels/humidity/frames (never written) answers 404", answer.status_code == 404,
                     (answer.status_code, answer.text))
        # A caller that does not sample: plain urllib, a not-sampled traceparent.
        unsampled = "4bf92f3577b34da6a3ce929d0e0e4736"
        request = urllib.request.Request(
            f"{base}/channels/pressure/frames", data=b"1,2", method="POST",
            headers={"traceparent": f"00-{unsampled}-00f067aa0ba902b7-00"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            checks.check("POST with a not-sampled traceparent answers 200", response.status == 200, response.status)

        scraped = {node: http_get(f"http://{addr}/metrics")[2] for node, addr in metrics.items()}
        for node, experiment in (("storage", "storage.grpc"), ("front", "distribution.storage")):
            errors = metric(scraped[node], "alamos_calls_total", experiment=experiment, function=READ, outcome="error")
            checks.check(f"{node} node: alamos_calls_total{{experiment={experiment!r}, function={READ!r}, "
                         f"outcome='error'}} == 1", errors == 1, errors)
            appended = metric(scraped[node], "alamos_calls_total", experiment=experiment, function=APPEND, outcome="ok")
            checks.check(f"{node} node: both appends (sampled or not) counted ok under {experiment}", appended == 2, appended)
        functions = {parse_labels(t).get("function") for t in samples(scraped["front"], "alamos_calls_total")
                     if parse_labels(t).get("experiment") == "api.http"}
        checks.check("front node: api.http's function labels are route templates only", functions == {FRAMES}, functions)
        checks.check("front node: 3 requests counted ok (a 404 is not an error)",
                     metric(scraped["front"], "alamos_calls_total", experiment="api.http", outcome="ok") == 3,
                     metric(scraped["front"], "alamos_calls_total", experiment="api.http"))
        flushes = metric(scraped["front"], "alamos_calls_total", experiment="api.audit", function="flush")
        checks.check("front node: the audit task's flushes are counted", flushes >= 1, flushes)

        # Prometheus scraping both nodes.
        def both_up():
            targets = prometheus.targets()
            return len(targets) == 2 and all(t["health"] == "up" for t in targets) and targets

        targets = wait_until("both targets up", 20, both_up)
        checks.check("prometheus: both nodes' targets are up", bool(targets),
                     [(t.get("scrapeUrl"), t.get("health"), t.get("lastError")) for t in prometheus.targets()])

        def series():
            result = prometheus.api("query", query='count by (instance) (alamos_calls_total{experiment=~"api.http|storage.grpc"})')["result"]
            return len(result) == 2 and result

        result = wait_until("series of both nodes", 20, series)
        checks.check("prometheus: each node has edge series", bool(result), result)

        def stored_errors():
            result = prometheus.api("query", query='sum(alamos_calls_total{function="' + READ + '",outcome="error"})')["result"]
            return result and float(result[0]["value"][1]) == 2 and result

        checks.check("prometheus: the failed read is 2 errors summed over the nodes (one per side)",
                     bool(wait_until("the error series", 20, stored_errors)), prometheus.api(
                         "query", query='alamos_calls_total{function="' + READ + '",outcome="error"}')["result"])

        # SIGTERM: each node flushes its spans, then exits.
        for program in (front, storage):
            program.process.send_signal(signal.SIGTERM)
        for name, program in (("front", front), ("storage", storage)):
            code = program.wait(15)
            checks.check(f"{name} node exits on SIGTERM after flushing (status {code})", code in (0, 143, -15), code)

        def complete(spans):
            names = {(s.service, s.name) for s in spans if s.trace_id in (write_trace, error_trace)}
            return {("alamos-storage", "storage.frames.append"), ("alamos-storage", f"storage.grpc.{READ}"),
                    ("alamos-storage", "storage.limits.limits"), ("python-client", "python.write"),
                    ("python-client", "python.read_missing"), ("alamos-front", f"api.http.{FRAMES}")} <= names

        spans = sink.wait(complete, 20)
        write_spans = [s for s in spans if s.trace_id == write_trace]
        error_spans = [s for s in spans if s.trace_id == error_trace]
        print_trace("the write (POST /channels/temperature/frames) as the receiver got it", write_spans)
        print_trace("the failed read (GET /channels/humidity/frames)", error_spans)
        check_write_trace(checks, write_spans, "python.write")
        check_error_trace(checks, error_spans)
        raw = [s.name for s in spans if "temperature" in s.name or "humidity" in s.name or "pressure" in s.name]
        checks.check("no span is named after a raw path", not raw, raw)
        checks.check("the not-sampled request left no span on either node",
                     not [s for s in spans if s.trace_id == unsampled],
                     [(s.service, s.name) for s in spans if s.trace_id == unsampled])
        untraced = [s.name for s in spans if s.name.startswith(("api.audit", "storage.compaction"))]
        checks.check("ALAMOS_TRACE_SAMPLE=0: the background tasks (roots) left no span", not untraced, untraced)
        checks.check("everything reached the sink through rotel (bodies gzip-compressed)",
                     "gzip" in sink.encodings() and bool(write_spans), sink.encodings())
    except Exception as error:  # noqa: BLE001: any failure is a failed check, then cleanup
        checks.check("the run completed", False, f"{type(error).__name__}: {error}")
        for name in ("rotel.log", "storage.log", "front.log"):
            path = os.path.join(workdir, name)
            if os.path.exists(path):
                with open(path) as f:
                    print(f"--- {name} (last 30 lines)\n" + "".join(f.readlines()[-30:]), flush=True)
    finally:
        for stop in reversed(cleanup):
            try:
                stop()
            except Exception as error:  # noqa: BLE001: keep stopping the others
                print(f"  ..    cleanup: {error}", flush=True)

    print(f"service: {checks.passed} passed, {checks.failed} failed", flush=True)
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
