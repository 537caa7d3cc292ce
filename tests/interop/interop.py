"""Interop test: two alamos nodes and the official Python OpenTelemetry SDK,
all exporting to oteltest's HttpSink.

Topology, all on 127.0.0.1:

    client (this script; a Python SDK span for some requests)
      -> node a (two_nodes, Rust)
        -> node b (two_nodes, Rust)
          -> python server (this script; extracts the context, continues it)

Every process exports over OTLP/HTTP to one oteltest HttpSink. The nodes
export only when stopped (a long batch delay), so what the sink holds after
`POST /shutdown` is exactly what the graceful shutdown flushed.

    python tests/interop/interop.py --bin target/debug/two_nodes

Prints each check, the trace trees the sink saw (ids shortened), and a closing
`interop: N passed, N failed` line; exits 1 if any check failed.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry import baggage, context, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sink import Sink, free_port, wait_for_port  # noqa: E402

PROPAGATOR = CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
ZERO_TRACE = "0" * 32
# Spans each Rust node exports per forwarded request: write, commit, forward.
RUST_SPANS_PER_HOP = 3
REQUEST_TIMEOUT_S = 15
STOP_TIMEOUT_S = 15


def tracer_for(service, endpoint):
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces")))
    return provider, provider.get_tracer("alamos-interop")


class PythonServer:
    """The last hop: extracts the W3C context node b sent and continues it."""

    def __init__(self, tracer):
        self.port = free_port()
        self.received = []  # the trace headers of each request, as received
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the stdlib's name
                headers = {name.lower(): value for name, value in self.headers.items()}
                outer.received.append(headers)
                parent = PROPAGATOR.extract(headers)
                with tracer.start_as_current_span(
                    "python.server.write",
                    context=parent,
                    kind=SpanKind.SERVER,
                    attributes={
                        "received.traceparent": headers.get("traceparent", ""),
                        "received.tenant": str(baggage.get_baggage("tenant", parent) or ""),
                    },
                ) as span:
                    ids = span.get_span_context()
                    body = json.dumps(
                        {
                            "node": "python",
                            "trace_id": format(ids.trace_id, "032x"),
                            "span_id": format(ids.span_id, "016x"),
                            "peer": None,
                        }
                    ).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format, *args):  # noqa: A002 - the stdlib's name
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Node:
    """One two_nodes process, stopped by PID if it does not stop by itself."""

    def __init__(self, binary, name, peer, endpoint, workdir):
        self.name = name
        self.port = free_port()
        self.log_path = os.path.join(workdir, f"node-{name}.log")
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env.update(
            OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
            # Nothing is exported on a timer: only the graceful shutdown flushes.
            OTEL_BSP_SCHEDULE_DELAY="600000",
            ALAMOS_LEVEL="prod",
        )
        args = [binary, "node", "--name", name, "--listen", f"127.0.0.1:{self.port}"]
        if peer:
            args += ["--peer", peer]
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(args, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    @property
    def addr(self):
        return f"127.0.0.1:{self.port}"

    def wait_ready(self):
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"node {self.name} exited early:\n{self.output()}")
            if wait_for_port(self.port, 0.2):
                return
        raise RuntimeError(f"node {self.name} did not listen on {self.addr} in 15 s")

    def shutdown(self):
        """POST /shutdown; waits for a clean exit, else kills by PID."""
        try:
            post(self.addr, "/shutdown")
        except OSError:
            pass
        try:
            return self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self):
        if self.process.poll() is None:
            os.kill(self.process.pid, 9)
            self.process.wait(timeout=5)

    def output(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def report(self):
        """(exported, finished) from the node's shutdown report line."""
        match = re.search(r"(\d+) of (\d+) finished spans exported", self.output())
        return (int(match.group(1)), int(match.group(2))) if match else None


def post(addr, target, headers=None):
    request = urllib.request.Request(f"http://{addr}{target}", data=b"", headers=headers or {}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


# ----------------------------------------------------------------- the run


class Run:
    """What happened: the requests, their answers, and the spans."""

    def __init__(self):
        self.answers = {}
        self.client_spans = {}
        self.server_headers = []
        self.spans = []
        self.exit_codes = {}
        self.reports = {}
        self.logs = {}


def drive(binary, workdir):
    run = Run()
    sink = Sink().start()
    client_provider, client_tracer = tracer_for("python-client", sink.endpoint)
    server_provider, server_tracer = tracer_for("python-server", sink.endpoint)
    python_server = PythonServer(server_tracer).start()
    nodes = []
    try:
        b = Node(binary, "b", f"127.0.0.1:{python_server.port}", sink.endpoint, workdir)
        nodes.append(b)
        a = Node(binary, "a", b.addr, sink.endpoint, workdir)
        nodes.append(a)
        for node in nodes:
            node.wait_ready()

        # 1. No trace context: node a starts the trace.
        run.answers["plain"] = post(a.addr, "/frames?count=2")

        # 2. A Python SDK span calls node a, with baggage.
        token = context.attach(baggage.set_baggage("tenant", "acme"))
        try:
            with client_tracer.start_as_current_span("python.client.request", kind=SpanKind.CLIENT) as span:
                headers = {}
                PROPAGATOR.inject(headers)
                run.client_spans["python"] = (span.get_span_context(), dict(headers))
                run.answers["python"] = post(a.addr, "/frames?count=3", headers)
        finally:
            context.detach(token)

        # 3. A malformed traceparent: all-zero trace id.
        bad = {"traceparent": f"00-{ZERO_TRACE}-00f067aa0ba902b7-01"}
        run.answers["malformed"] = post(a.addr, "/frames?count=1", bad)

        # 4. Synnax's Go transport spelling, in mixed case.
        with client_tracer.start_as_current_span("python.client.alamos_header", kind=SpanKind.CLIENT) as span:
            headers = {}
            PROPAGATOR.inject(headers)
            run.client_spans["alamos"] = (span.get_span_context(), dict(headers))
            spelled = {"Alamos-TraceParent": headers["traceparent"]}
            run.answers["alamos"] = post(a.addr, "/frames?count=1", spelled)

        # 5. A failing request: nothing to write.
        run.answers["error"] = post(a.addr, "/frames?count=0")

        for node in nodes:
            run.exit_codes[node.name] = node.shutdown()
            run.reports[node.name] = node.report()
        client_provider.force_flush()
        server_provider.force_flush()
        expected = 4 * 2 * RUST_SPANS_PER_HOP + 2 + 4 + 2  # rust + python servers + clients
        run.spans = sink.wait(lambda spans: len(spans) >= expected, deadline_s=15)
        run.server_headers = list(python_server.received)
        run.logs = {node.name: node.output() for node in nodes}
        return run
    finally:
        for node in nodes:
            node.kill()
        python_server.stop()
        client_provider.shutdown()
        server_provider.shutdown()
        sink.stop()


# ----------------------------------------------------------------- checks


def by(spans, service, name, trace_id=None):
    found = [s for s in spans if s.service == service and s.name == name]
    if trace_id is not None:
        found = [s for s in found if s.trace_id == trace_id]
    return found


def one(spans, service, name, trace_id):
    found = by(spans, service, name, trace_id)
    assert len(found) == 1, f"expected one {service}/{name} in trace {trace_id[:8]}, got {len(found)}"
    return found[0]


def check_chain(spans, trace_id, python_hop=True):
    """a.write -> a.commit, a.forward -> b.write -> b.commit, b.forward -> python."""
    a_write = one(spans, "alamos-node-a", "api.frames.write", trace_id)
    a_commit = one(spans, "alamos-node-a", "storage.frames.commit", trace_id)
    a_forward = one(spans, "alamos-node-a", "distribution.peer.forward", trace_id)
    b_write = one(spans, "alamos-node-b", "api.frames.write", trace_id)
    b_commit = one(spans, "alamos-node-b", "storage.frames.commit", trace_id)
    b_forward = one(spans, "alamos-node-b", "distribution.peer.forward", trace_id)
    assert a_commit.parent_id == a_write.span_id
    assert a_forward.parent_id == a_write.span_id
    assert b_write.parent_id == a_forward.span_id, "node b continues node a's forwarding span"
    assert b_commit.parent_id == b_write.span_id
    assert b_forward.parent_id == b_write.span_id
    for span in (a_write, a_commit, a_forward, b_write, b_commit, b_forward):
        assert span.attributes.get("alamos.experiment"), span
        assert span.attributes.get("code.function"), span
        assert span.attributes.get("code.namespace") == "two_nodes", span
        assert span.name == f"{span.attributes['alamos.experiment']}.{span.attributes['code.function']}"
        assert span.status != 2, f"{span.name} failed"
    python = one(spans, "python-server", "python.server.write", trace_id) if python_hop else None
    return a_write, b_forward, python


def test_rust_nodes_share_one_trace(run):
    status, answer = run.answers["plain"]
    assert status == 200, answer
    trace_id = answer["trace_id"]
    assert answer["peer"]["trace_id"] == trace_id, "node b answered in node a's trace"
    a_write, _, _ = check_chain(run.spans, trace_id)
    assert a_write.parent_id == "", "without a traceparent, node a starts the trace"
    assert a_write.span_id == answer["span_id"]
    assert all(s.trace_id == trace_id for s in run.spans if s.trace_id == trace_id)


def test_python_client_trace_continues_in_rust(run):
    client, headers = run.client_spans["python"]
    trace_id = format(client.trace_id, "032x")
    assert headers["traceparent"].endswith("-03"), "the Python SDK sends flags 03"
    status, answer = run.answers["python"]
    assert status == 200, answer
    assert answer["trace_id"] == trace_id
    a_write, _, _ = check_chain(run.spans, trace_id)
    assert a_write.parent_id == format(client.span_id, "016x"), "node a's span is a child of the Python span"
    one(run.spans, "python-client", "python.client.request", trace_id)


def test_rust_injects_python_continues(run):
    for key in ("plain", "python"):
        trace_id = run.answers[key][1]["trace_id"]
        _, b_forward, python = check_chain(run.spans, trace_id)
        assert python.parent_id == b_forward.span_id, "the Python server continues node b's span"
        received = python.attributes["received.traceparent"]
        assert received == f"00-{trace_id}-{b_forward.span_id}-{received[-2:]}", received
    plain = one(run.spans, "python-server", "python.server.write", run.answers["plain"][1]["trace_id"])
    python = one(run.spans, "python-server", "python.server.write", run.answers["python"][1]["trace_id"])
    assert plain.attributes["received.traceparent"].endswith("-01"), "a Rust-started trace is sampled"
    assert python.attributes["received.traceparent"].endswith("-03"), "flags 03 survive two Rust hops"
    assert python.attributes["received.tenant"] == "acme", "baggage crossed both Rust nodes"
    assert plain.attributes["received.tenant"] == ""


def test_malformed_traceparent_starts_a_new_trace(run):
    status, answer = run.answers["malformed"]
    assert status == 200, answer
    trace_id = answer["trace_id"]
    assert trace_id != ZERO_TRACE
    a_write, _, _ = check_chain(run.spans, trace_id)
    assert a_write.parent_id == "", "a rejected traceparent is no parent"
    assert not [s for s in run.spans if s.trace_id == ZERO_TRACE]


def test_alamos_traceparent_spelling(run):
    client, _ = run.client_spans["alamos"]
    trace_id = format(client.trace_id, "032x")
    status, answer = run.answers["alamos"]
    assert status == 200, answer
    assert answer["trace_id"] == trace_id
    a_write, _, _ = check_chain(run.spans, trace_id)
    assert a_write.parent_id == format(client.span_id, "016x")


def test_errors_have_status_error(run):
    status, answer = run.answers["error"]
    assert status == 502, (status, answer)
    errors = [s for s in run.spans if s.service == "alamos-node-a" and s.status == 2]
    names = sorted(s.name for s in errors)
    assert names == ["api.frames.write", "storage.frames.commit"], names
    assert errors[0].trace_id == errors[1].trace_id


def test_graceful_shutdown_flushes_every_span(run):
    assert run.exit_codes == {"a": 0, "b": 0}, (run.exit_codes, run.logs)
    hops = 4
    created = {"a": hops * RUST_SPANS_PER_HOP + 2, "b": hops * RUST_SPANS_PER_HOP}
    for name, count in created.items():
        received = [s for s in run.spans if s.service == f"alamos-node-{name}"]
        assert len(received) == count, f"node {name}: sink has {len(received)} spans, node created {count}"
        assert len({s.span_id for s in received}) == count, "no span arrived twice"
        assert run.reports[name] == (count, count), f"node {name} reported {run.reports[name]}"


CHECKS = [
    test_rust_nodes_share_one_trace,
    test_python_client_trace_continues_in_rust,
    test_rust_injects_python_continues,
    test_malformed_traceparent_starts_a_new_trace,
    test_alamos_traceparent_spelling,
    test_errors_have_status_error,
    test_graceful_shutdown_flushes_every_span,
]


# ----------------------------------------------------------------- output


def print_trees(spans, answers):
    labels = {}
    for key, (_, answer) in answers.items():
        if answer and "trace_id" in answer:
            labels[answer["trace_id"]] = key
    traces = {}
    for span in spans:
        traces.setdefault(span.trace_id, []).append(span)
    print("\ntrace trees the sink received (ids shortened to 8 hex digits):")
    for trace_id, members in traces.items():
        ids = {s.span_id for s in members}
        children = {}
        for span in members:
            children.setdefault(span.parent_id if span.parent_id in ids else None, []).append(span)
        roots = children.get(None, [])
        label = labels.get(trace_id, "error" if any(s.status == 2 for s in members) else "")
        print(f"\ntrace {trace_id[:8]}  ({label}, {len(members)} spans)")

        def show(span, prefix, last):
            branch = "└─ " if last else "├─ "
            parent = f" <- {span.parent_id[:8]}" if span.parent_id and span.parent_id not in ids else ""
            status = "  [error]" if span.status == 2 else ""
            print(f"{prefix}{branch}{span.span_id[:8]}  {span.service:<14} {span.name}{parent}{status}")
            kids = sorted(children.get(span.span_id, []), key=lambda s: s.name)
            for i, kid in enumerate(kids):
                show(kid, prefix + ("   " if last else "│  "), i == len(kids) - 1)

        for i, root in enumerate(roots):
            show(root, "", i == len(roots) - 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", required=True, help="the two_nodes binary")
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="alamos-interop-") as workdir:
        run = drive(os.path.abspath(args.bin), workdir)
    passed = failed = 0
    for check in CHECKS:
        try:
            check(run)
        except Exception:  # noqa: BLE001 - report every failing check
            failed += 1
            print(f"FAIL {check.__name__}")
            traceback.print_exc(limit=3, file=sys.stdout)
        else:
            passed += 1
            print(f"ok   {check.__name__}")
    print_trees(run.spans, run.answers)
    if failed:
        for name, log in run.logs.items():
            print(f"\n--- node {name} output ---\n{log}")
    print(f"\n({len(run.spans)} spans, {time.monotonic() - started:.1f} s)")
    print(f"interop: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
