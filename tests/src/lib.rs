//! Shared helpers of the integration tests: capture spans and events with a
//! `tracing` layer and metrics with `metrics-util`'s debugging recorder.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context as TaskContext, Poll, Wake, Waker};

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::{CompositeKey, MetricKind};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// A span as the capturing layer saw it.
#[derive(Clone, Debug)]
pub struct SpanRecord {
    pub name: String,
    pub level: tracing::Level,
    pub target: String,
    pub fields: BTreeMap<String, String>,
    /// The name of the parent span, if any.
    pub parent: Option<String>,
    /// How many times the span was entered.
    pub entered: usize,
    /// How many times it was exited.
    pub exited: usize,
    pub closed: bool,
}

/// An event as the capturing layer saw it.
#[derive(Clone, Debug)]
pub struct EventRecord {
    pub level: tracing::Level,
    pub target: String,
    pub fields: BTreeMap<String, String>,
    /// The name of the span the event happened in, if any.
    pub span: Option<String>,
}

impl EventRecord {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

impl SpanRecord {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

#[derive(Default)]
struct State {
    spans: Vec<SpanRecord>,
    live: BTreeMap<u64, usize>,
    events: Vec<EventRecord>,
}

impl State {
    fn mentions(&self, text: &str) -> bool {
        let in_spans = self
            .spans
            .iter()
            .flat_map(|span| span.fields.values().chain([&span.name]));
        let in_events = self.events.iter().flat_map(|event| event.fields.values());
        in_spans.chain(in_events).any(|value| value.contains(text))
    }
}

/// What a [`capture`] saw.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<State>>);

impl Captured {
    fn state(&self) -> MutexGuard<'_, State> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn spans(&self) -> Vec<SpanRecord> {
        self.state().spans.clone()
    }

    pub fn events(&self) -> Vec<EventRecord> {
        self.state().events.clone()
    }

    /// The spans with this name.
    pub fn spans_named(&self, name: &str) -> Vec<SpanRecord> {
        self.spans()
            .into_iter()
            .filter(|s| s.name == name)
            .collect()
    }

    /// The events emitted inside the span with this name.
    pub fn events_in(&self, span: &str) -> Vec<EventRecord> {
        self.events()
            .into_iter()
            .filter(|event| event.span.as_deref() == Some(span))
            .collect()
    }

    /// Whether `text` appears in any field of any span or event.
    pub fn mentions(&self, text: &str) -> bool {
        self.state().mentions(text)
    }

    /// The one span with this name; panics unless there is exactly one.
    pub fn span(&self, name: &str) -> SpanRecord {
        let mut spans = self.spans_named(name);
        assert_eq!(
            spans.len(),
            1,
            "expected one span {name:?}, saw {:#?}",
            self.spans()
        );
        spans.remove(0)
    }
}

impl fmt::Debug for Captured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("Captured")
            .field("spans", &state.spans)
            .field("events", &state.events)
            .finish()
    }
}

struct FieldVisitor<'a>(&'a mut BTreeMap<String, String>);

impl Visit for FieldVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

struct CaptureLayer(Captured);

impl<S> Layer<S> for CaptureLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        attrs.record(&mut FieldVisitor(&mut fields));
        let parent = ctx
            .span(id)
            .and_then(|span| span.parent())
            .map(|parent| parent.name().to_owned());
        let mut state = self.0.state();
        let index = state.spans.len();
        state.spans.push(SpanRecord {
            name: attrs.metadata().name().to_owned(),
            level: *attrs.metadata().level(),
            target: attrs.metadata().target().to_owned(),
            fields,
            parent,
            entered: 0,
            exited: 0,
            closed: false,
        });
        state.live.insert(id.into_u64(), index);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        let mut state = self.0.state();
        if let Some(&index) = state.live.get(&id.into_u64()) {
            values.record(&mut FieldVisitor(&mut state.spans[index].fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut FieldVisitor(&mut fields));
        let span = ctx.event_span(event).map(|span| span.name().to_owned());
        self.0.state().events.push(EventRecord {
            level: *event.metadata().level(),
            target: event.metadata().target().to_owned(),
            fields,
            span,
        });
    }

    fn on_enter(&self, id: &Id, _: Context<'_, S>) {
        let mut state = self.0.state();
        if let Some(&index) = state.live.get(&id.into_u64()) {
            state.spans[index].entered += 1;
        }
    }

    fn on_exit(&self, id: &Id, _: Context<'_, S>) {
        let mut state = self.0.state();
        if let Some(&index) = state.live.get(&id.into_u64()) {
            state.spans[index].exited += 1;
        }
    }

    fn on_close(&self, id: Id, _: Context<'_, S>) {
        let mut state = self.0.state();
        if let Some(index) = state.live.remove(&id.into_u64()) {
            state.spans[index].closed = true;
        }
    }
}

/// A subscriber that records every span and event into `captured`.
pub fn subscriber(captured: &Captured) -> impl Subscriber + Send + Sync {
    tracing_subscriber::registry().with(CaptureLayer(captured.clone()))
}

/// Runs `f` with a capturing subscriber as this thread's default.
pub fn capture<R>(f: impl FnOnce() -> R) -> (R, Captured) {
    let captured = Captured::default();
    let result = tracing::subscriber::with_default(subscriber(&captured), f);
    (result, captured)
}

/// Metrics recorded while running `f` under a thread-local debugging recorder.
pub fn record_metrics<R>(f: impl FnOnce() -> R) -> (R, Metrics) {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let result = metrics::with_local_recorder(&recorder, f);
    (result, Metrics::take(&snapshotter))
}

/// A snapshot of a debugging recorder, looked up by name and labels, with
/// the unit and HELP text each metric was described with.
#[derive(Debug, Default)]
pub struct Metrics(Vec<Entry>, Vec<Description>);

/// A metric name, its unit and its HELP text, as `describe_*` gave them.
type Description = (String, Option<metrics::Unit>, String);

impl Metrics {
    pub fn take(snapshotter: &Snapshotter) -> Self {
        let mut descriptions: Vec<Description> = Vec::new();
        let entries = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(
                |(key, unit, help, value): (CompositeKey, _, _, DebugValue)| {
                    let (kind, key) = key.into_parts();
                    let labels = key
                        .labels()
                        .map(|l| (l.key().to_owned(), l.value().to_owned()))
                        .collect();
                    if let Some(help) = help {
                        let name = key.name().to_owned();
                        if !descriptions.iter().any(|(known, _, _)| *known == name) {
                            descriptions.push((name, unit, help.to_string()));
                        }
                    }
                    (kind, key.name().to_owned(), labels, value)
                },
            )
            .collect();
        Metrics(entries, descriptions)
    }

    /// The unit and HELP text `name` was described with, if it was.
    pub fn description(&self, name: &str) -> Option<(Option<metrics::Unit>, &str)> {
        self.1
            .iter()
            .find(|(known, _, _)| known == name)
            .map(|(_, unit, help)| (*unit, help.as_str()))
    }

    /// Every series of `name`, with its labels.
    pub fn series(&self, name: &str) -> Vec<&[(String, String)]> {
        self.0
            .iter()
            .filter(|(_, n, _, _)| n == name)
            .map(|(_, _, labels, _)| labels.as_slice())
            .collect()
    }

    fn find(&self, kind: MetricKind, name: &str, labels: &[(&str, &str)]) -> Option<&DebugValue> {
        self.0
            .iter()
            .find(|(k, n, l, _)| {
                *k == kind
                    && n == name
                    && labels.len() == l.len()
                    && labels
                        .iter()
                        .all(|(key, value)| l.iter().any(|(lk, lv)| lk == key && lv == value))
            })
            .map(|(_, _, _, value)| value)
    }

    /// A counter's value; 0 when the series does not exist.
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        match self.find(MetricKind::Counter, name, labels) {
            Some(DebugValue::Counter(value)) => *value,
            _ => 0,
        }
    }

    /// A gauge's value, if the series exists.
    pub fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        match self.find(MetricKind::Gauge, name, labels) {
            Some(DebugValue::Gauge(value)) => Some(value.into_inner()),
            _ => None,
        }
    }

    /// A histogram's samples, if the series exists.
    pub fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Option<Vec<f64>> {
        match self.find(MetricKind::Histogram, name, labels) {
            Some(DebugValue::Histogram(values)) => {
                Some(values.iter().map(|v| v.into_inner()).collect())
            }
            _ => None,
        }
    }

    /// `alamos_calls_total` for one function and outcome.
    pub fn calls(&self, experiment: &str, function: &str, outcome: &str) -> u64 {
        self.counter(
            alamos::names::CALLS_TOTAL,
            &[
                ("experiment", experiment),
                ("function", function),
                ("outcome", outcome),
            ],
        )
    }

    /// `alamos_calls_in_flight` for one function.
    pub fn in_flight(&self, experiment: &str, function: &str) -> Option<f64> {
        self.gauge(
            alamos::names::CALLS_IN_FLIGHT,
            &[("experiment", experiment), ("function", function)],
        )
    }

    /// The samples of `alamos_call_duration_seconds` for one function.
    pub fn durations(&self, experiment: &str, function: &str) -> Vec<f64> {
        self.histogram(
            alamos::names::CALL_DURATION_SECONDS,
            &[("experiment", experiment), ("function", function)],
        )
        .unwrap_or_default()
    }

    /// Whether any series of any alamos metric exists.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// A debugging recorder whose snapshots add up.
///
/// `metrics-util`'s snapshots drain what they read: counters and gauges are
/// swapped to zero and histograms cleared. `Recorded` folds every snapshot
/// into running totals, so a snapshot taken in the middle of a call (to read
/// the in-flight gauge from inside a body) does not disturb the final one.
/// Gauges add up correctly as long as they only move by increments and
/// decrements, which is all alamos does with them.
#[derive(Debug)]
pub struct Recorded {
    snapshotter: Snapshotter,
    totals: Mutex<(Vec<Entry>, Vec<Description>)>,
}

type Entry = (MetricKind, String, Vec<(String, String)>, DebugValue);

impl Recorded {
    pub fn new(snapshotter: Snapshotter) -> Self {
        Recorded {
            snapshotter,
            totals: Mutex::new((Vec::new(), Vec::new())),
        }
    }

    /// Everything recorded so far.
    pub fn snapshot(&self) -> Metrics {
        // Drain under the lock: a concurrent snapshot must not hold drained
        // values that are not in the totals yet.
        let mut totals = self
            .totals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Metrics(fresh, descriptions) = Metrics::take(&self.snapshotter);
        let (totals, known) = &mut *totals;
        for description in descriptions {
            if !known.iter().any(|(name, _, _)| *name == description.0) {
                known.push(description);
            }
        }
        for (kind, name, labels, value) in fresh {
            let existing = totals
                .iter_mut()
                .find(|(k, n, l, _)| *k == kind && *n == name && *l == labels);
            match existing {
                None => totals.push((kind, name, labels, value)),
                Some((_, _, _, total)) => match (total, value) {
                    (DebugValue::Counter(total), DebugValue::Counter(value)) => *total += value,
                    (DebugValue::Gauge(total), DebugValue::Gauge(value)) => *total += value,
                    (DebugValue::Histogram(total), DebugValue::Histogram(value)) => {
                        total.extend(value);
                    }
                    (total, value) => *total = value,
                },
            }
        }
        Metrics(
            totals
                .iter()
                .map(|(kind, name, labels, value)| {
                    let value = match value {
                        DebugValue::Counter(v) => DebugValue::Counter(*v),
                        DebugValue::Gauge(v) => DebugValue::Gauge(*v),
                        DebugValue::Histogram(v) => DebugValue::Histogram(v.clone()),
                    };
                    (*kind, name.clone(), labels.clone(), value)
                })
                .collect(),
            known.clone(),
        )
    }
}

/// A command for the probe program at `program`, run without any inherited
/// variable that changes what alamos does: every `ALAMOS_*` and `OTEL_*`
/// variable and `RUST_LOG` are removed, so a developer's shell or CI's
/// environment cannot decide a test. The test sets what it means to.
pub fn probe_command(program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
    let mut command = std::process::Command::new(program);
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        if name.starts_with("ALAMOS_") || name.starts_with("OTEL_") || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    command
}

/// Runs the probe program at `program` with `args` and `env` (and no other
/// inherited variable, as [`probe_command`]) to its end: its stdout and
/// stderr, after asserting that it succeeded.
pub fn run_probe_with(program: &str, args: &[&str], env: &[(&str, &str)]) -> (String, String) {
    let mut command = probe_command(program);
    command.args(args).envs(env.iter().copied());
    run_probe(&mut command)
}

/// The lines of `text` that contain `needle`.
pub fn lines_with<'a>(text: &'a str, needle: &str) -> Vec<&'a str> {
    text.lines().filter(|line| line.contains(needle)).collect()
}

/// Runs a probe program to its end: its stdout and stderr, after asserting
/// that it succeeded (the message shows both).
pub fn run_probe(command: &mut std::process::Command) -> (String, String) {
    let std::process::Output {
        status,
        stdout,
        stderr,
    } = command.output().expect("the probe runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    );
    assert!(
        status.success(),
        "{command:?} failed: {status:?}\n{stdout}\n{stderr}"
    );
    (stdout, stderr)
}

/// As [`record_metrics`], and `f` may look at the metrics while it runs.
pub fn record_metrics_live<R>(f: impl FnOnce(&Recorded) -> R) -> (R, Metrics) {
    let recorder = DebuggingRecorder::new();
    let view = Recorded::new(recorder.snapshotter());
    let result = metrics::with_local_recorder(&recorder, || f(&view));
    (result, view.snapshot())
}

/// The name of the span `tracing` considers current on this thread.
pub fn current_span_name() -> Option<&'static str> {
    tracing::Span::current()
        .metadata()
        .map(tracing::Metadata::name)
}

/// A minimal executor: polls `future` on this thread until it completes,
/// parking while it is pending.
pub fn block_on<F: Future>(future: F) -> F::Output {
    block_on_observed(future, |_| {})
}

/// As [`block_on`], calling `between` after every `Pending` poll with the
/// number of polls so far.
pub fn block_on_observed<F: Future>(future: F, mut between: impl FnMut(usize)) -> F::Output {
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = TaskContext::from_waker(&waker);
    let mut future = pin!(future);
    let mut polls = 0;
    loop {
        polls += 1;
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(output) => return output,
            Poll::Pending => {
                between(polls);
                std::thread::park();
            }
        }
    }
}

/// Polls `future` once with a waker that does nothing.
pub fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    let waker = Waker::from(Arc::new(NoopWaker));
    Pin::new(future).poll(&mut TaskContext::from_waker(&waker))
}

struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

struct NoopWaker;

impl Wake for NoopWaker {
    fn wake(self: Arc<Self>) {}
}

/// A future that is pending `times` times, waking itself each time, then ready.
///
/// Each poll records the current span's name in `seen`, so a test can tell
/// which span was entered while the future was polled.
#[derive(Debug)]
pub struct Pending {
    left: usize,
    pub seen: Arc<Mutex<Vec<Option<&'static str>>>>,
}

impl Pending {
    pub fn new(times: usize) -> Self {
        Pending {
            left: times,
            seen: Arc::default(),
        }
    }

    /// Another handle on the spans seen, to read after the future is gone.
    pub fn seen(&self) -> Arc<Mutex<Vec<Option<&'static str>>>> {
        Arc::clone(&self.seen)
    }
}

impl Future for Pending {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(current_span_name());
        if self.left == 0 {
            Poll::Ready(())
        } else {
            self.left -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// The README's Rust examples, compiled and run as doctests.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// An HTTP response as [`http`] read it.
#[derive(Clone, Debug)]
pub struct HttpResponse {
    pub status: u16,
    /// The status line and header lines.
    pub head: String,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The value of the header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// Sends `request` (raw bytes, which should ask `Connection: close`) to
/// `addr` and reads the response until the server closes.
pub fn http(addr: std::net::SocketAddr, request: &[u8]) -> HttpResponse {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connects");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(request).expect("sends");
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let body = raw.get(split + 4..).unwrap_or_default().to_vec();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    HttpResponse { status, head, body }
}

/// A request with these headers and body (its `Content-Length` added).
pub fn http_request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    use std::fmt::Write as _;
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for (name, value) in headers {
        let _ = write!(request, "{name}: {value}\r\n");
    }
    let _ = write!(request, "Content-Length: {}\r\n\r\n", body.len());
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    http(addr, &bytes)
}
