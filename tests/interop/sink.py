"""An OTLP/HTTP receiver for tests: oteltest's HttpSink on a loopback port.

oteltest's HttpSink decodes OTLP/HTTP bodies (protobuf or JSON) and hands each
Export{Trace,Metrics,Logs}ServiceRequest to a listener. This wrapper binds it
to 127.0.0.1 only (HttpSink itself listens on all interfaces), keeps every
span, metric push and log record with its resource, and lets a test wait for
them with a deadline.

Run on its own to watch what a program exports (all three signals):

    python tests/interop/sink.py 4318
"""

import gzip
import http.server
import logging
import socket
import sys
import threading
import time
from dataclasses import dataclass, field

import oteltest.sink as oteltest_sink
from oteltest.sink.handler import RequestHandler


class _LoopbackHTTPServer(http.server.HTTPServer):
    """HTTPServer that binds the loopback address whatever host it is given,
    and does not log every request on stderr."""

    def __init__(self, address, handler, *args, **kwargs):
        quiet = type(handler.__name__, (handler,), {"log_message": lambda self, *a: None})
        super().__init__(("127.0.0.1", address[1]), quiet, *args, **kwargs)


# HttpSink builds its server as `HTTPServer(("", port), Handler)`; it looks the
# name up in its module, so this is where to make it loopback-only.
oteltest_sink.HTTPServer = _LoopbackHTTPServer

_parse_request = oteltest_sink._parse_request


def _parse_decompressed(post_data, headers, request_class):
    """oteltest's parser, after undoing `Content-Encoding: gzip`: rotel (a
    collector between the programs and this sink) compresses what it
    forwards, and oteltest 0.49 reads bodies as they come."""
    encoding = next((v for k, v in headers.items() if k.lower() == "content-encoding"), "")
    if encoding.strip().lower() == "gzip":
        post_data = gzip.decompress(post_data)
    return _parse_request(post_data, headers, request_class)


# Looked up in the module at each request, as HTTPServer is.
oteltest_sink._parse_request = _parse_decompressed


@dataclass
class Span:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str  # "" for a root span
    kind: int
    status: int  # 0 unset, 1 ok, 2 error
    attributes: dict = field(default_factory=dict)
    resource: dict = field(default_factory=dict)


@dataclass
class Point:
    """One data point of a pushed metric."""

    attributes: dict
    value: float = None  # sums and gauges
    count: int = None  # histograms
    bucket_counts: list = None
    bounds: list = None
    exemplars: list = None  # [{"trace_id", "span_id", "value"}]


@dataclass
class Push:
    """One metrics request: when it arrived, its resource, its metrics."""

    received_at: float  # time.monotonic()
    resource: dict
    metrics: dict  # name -> {"kind", "unit", "points": [Point]}


@dataclass
class LogRecord:
    service: str
    resource: dict
    trace_id: str
    span_id: str
    severity: str
    body: str
    attributes: dict


def _value(any_value):
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def _attributes(pairs):
    return {kv.key: _value(kv.value) for kv in pairs}


def _number(point):
    kind = point.WhichOneof("value")
    return getattr(point, kind) if kind else None


def _metric(metric):
    kind = metric.WhichOneof("data")
    data = getattr(metric, kind)
    points = []
    for point in data.data_points:
        if kind == "histogram":
            points.append(
                Point(
                    attributes=_attributes(point.attributes),
                    count=point.count,
                    value=point.sum,
                    bucket_counts=list(point.bucket_counts),
                    bounds=list(point.explicit_bounds),
                    exemplars=[
                        {
                            "trace_id": e.trace_id.hex(),
                            "span_id": e.span_id.hex(),
                            "value": _number(e),
                        }
                        for e in point.exemplars
                    ],
                )
            )
        else:
            points.append(Point(attributes=_attributes(point.attributes), value=_number(point)))
    return {"kind": kind, "unit": metric.unit, "points": points}


class _Collector(RequestHandler):
    def __init__(self):
        self.lock = threading.Lock()
        self.spans = []
        self.pushes = []
        self.logs = []
        self.requests = 0
        # Content-Encoding of the trace requests received ("identity" if none).
        self.encodings = set()

    def handle_trace(self, request, headers):
        encoding = next((v for k, v in headers.items() if k.lower() == "content-encoding"), "identity")
        received = []
        for resource_spans in request.resource_spans:
            resource = _attributes(resource_spans.resource.attributes)
            service = resource.get("service.name", "")
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(
                        Span(
                            service=service,
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_id=span.parent_span_id.hex(),
                            kind=span.kind,
                            status=span.status.code,
                            attributes=_attributes(span.attributes),
                            resource=resource,
                        )
                    )
        with self.lock:
            self.requests += 1
            self.encodings.add(encoding.strip().lower())
            self.spans.extend(received)

    def handle_metrics(self, request, headers):
        received = []
        for resource_metrics in request.resource_metrics:
            resource = _attributes(resource_metrics.resource.attributes)
            metrics = {}
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    metrics[metric.name] = _metric(metric)
            received.append(Push(received_at=time.monotonic(), resource=resource, metrics=metrics))
        with self.lock:
            self.pushes.extend(received)

    def handle_logs(self, request, headers):
        received = []
        for resource_logs in request.resource_logs:
            resource = _attributes(resource_logs.resource.attributes)
            for scope_logs in resource_logs.scope_logs:
                for record in scope_logs.log_records:
                    received.append(
                        LogRecord(
                            service=resource.get("service.name", ""),
                            resource=resource,
                            trace_id=record.trace_id.hex(),
                            span_id=record.span_id.hex(),
                            severity=record.severity_text,
                            body=str(_value(record.body) or ""),
                            attributes=_attributes(record.attributes),
                        )
                    )
        with self.lock:
            self.logs.extend(received)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, deadline_s=10.0):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class Sink:
    """oteltest's HttpSink on a free loopback port, collecting spans."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self._collector = _Collector()
        self._sink = oteltest_sink.HttpSink(
            self._collector, logging.getLogger("oteltest"), port=self.port, daemon=True
        )

    @property
    def endpoint(self):
        """The base URL, as OTEL_EXPORTER_OTLP_ENDPOINT takes it."""
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        self._sink.start()
        if not wait_for_port(self.port):
            raise RuntimeError(f"the sink did not listen on 127.0.0.1:{self.port}")
        return self

    def stop(self):
        self._sink.stop()

    def spans(self):
        with self._collector.lock:
            return list(self._collector.spans)

    def pushes(self):
        """Every metrics request received, in order."""
        with self._collector.lock:
            return list(self._collector.pushes)

    def logs(self):
        with self._collector.lock:
            return list(self._collector.logs)

    def encodings(self):
        """The Content-Encodings trace requests came with."""
        with self._collector.lock:
            return set(self._collector.encodings)

    def wait(self, predicate, deadline_s=15.0):
        """Waits until predicate(spans) is true; returns the spans either way."""
        deadline = time.monotonic() + deadline_s
        while True:
            spans = self.spans()
            if predicate(spans) or time.monotonic() >= deadline:
                return spans
            time.sleep(0.05)


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 4318
    sink = Sink(port).start()
    print(
        f"listening for OTLP/HTTP on {sink.endpoint}/v1/{{traces,metrics,logs}}; Ctrl-C stops",
        flush=True,
    )
    seen = [0, 0, 0]
    try:
        while True:
            spans, pushes, logs = sink.spans(), sink.pushes(), sink.logs()
            for span in spans[seen[0]:]:
                parent = span.parent_id[:8] or "root"
                print(
                    f"span   {span.trace_id[:8]} {span.span_id[:8]} <- {parent:8}  "
                    f"{span.service}: {span.name}",
                    flush=True,
                )
            for push in pushes[seen[1]:]:
                calls = push.metrics.get("alamos_calls_total")
                total = sum(p.value for p in calls["points"]) if calls else 0
                exemplars = sum(
                    len(p.exemplars or [])
                    for m in push.metrics.values()
                    for p in m["points"]
                )
                print(
                    f"metric {push.resource.get('service.name', '')}: {len(push.metrics)} metrics, "
                    f"alamos_calls_total summed {total:g}, {exemplars} exemplars",
                    flush=True,
                )
            for log in logs[seen[2]:]:
                print(
                    f"log    {log.trace_id[:8] or '-':8} {log.span_id[:8] or '-':8} "
                    f"{log.service}: {log.severity} {log.body}",
                    flush=True,
                )
            seen = [len(spans), len(pushes), len(logs)]
            time.sleep(0.2)
    except KeyboardInterrupt:
        sink.stop()


if __name__ == "__main__":
    main()
