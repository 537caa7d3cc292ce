//! Export health: what became of every span, log record and metric point
//! handed to export, counted where it happens and shown three ways.
//!
//! - **Metrics**: `alamos_exported_total{signal}` and
//!   `alamos_export_dropped_total{signal, reason}` through the `metrics`
//!   facade, so they are in `/metrics` (and pushed over OTLP like every
//!   series) from the first item exported or dropped.
//! - **stderr**: while items are dropped, at most one line per signal per
//!   minute saying how many and why since the last line; what a line could
//!   not say yet is in the next one, or in the final line at shutdown.
//! - **The final line** of [`OtelGuard`](super::OtelGuard)'s shutdown: what
//!   was not delivered over the whole run, per signal and reason.
//!
//! # Where items are counted
//!
//! | reason | spans and log records | metric points |
//! |---|---|---|
//! | `queue_full` | [`CountingSpans`]/[`CountingLogs`] keep the batch processor's queue bound themselves (the SDK's own count of what it drops is private), so the SDK's queue is never the one that overflows | — (a push is built when it is sent) |
//! | `rejected`, `unreachable`, `timeout` | [`CountingExporter`] around the OTLP exporter, which learns the failure's kind from [`ClassifyingClient`], the HTTP client it hands the exporter | the pusher, from its own request |
//! | `shutdown` | what was queued or in flight when the shutdown's time ran out | the same |
//!
//! The exporter retries a failed request (503, no connection) within its
//! timeout; a batch is counted once, by the last attempt's outcome.

use std::fmt::{self, Write as _};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use opentelemetry::InstrumentationScope;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::logs::{LogBatch, LogExporter, LogProcessor, SdkLogRecord};
use opentelemetry_sdk::trace::{SpanData, SpanExporter, SpanProcessor};
use opentelemetry_sdk::Resource;

use crate::metric::name;

/// One of the signals OTLP carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Signal {
    Traces,
    Metrics,
    Logs,
}

impl Signal {
    /// The `signal` label of the health metrics.
    pub(crate) const fn label(self) -> &'static str {
        match self {
            Signal::Traces => "spans",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }
}

impl Signal {
    /// What the signal's items are called in a sentence.
    const fn items(self) -> &'static str {
        match self {
            Signal::Traces => "spans",
            Signal::Metrics => "metric points",
            Signal::Logs => "log records",
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Signal::Traces => "spans",
            Signal::Metrics => "metrics",
            Signal::Logs => "log records",
        })
    }
}

/// Why items were dropped: the `reason` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reason {
    /// The queue before the exporter was full.
    QueueFull,
    /// The receiver answered with an error status.
    Rejected,
    /// No connection to the receiver (refused, reset, no route).
    Unreachable,
    /// The receiver did not answer within the export timeout.
    Timeout,
    /// Still queued or in flight when the shutdown's time ran out.
    Shutdown,
}

impl Reason {
    pub(crate) const ALL: [Reason; 5] = [
        Reason::QueueFull,
        Reason::Rejected,
        Reason::Unreachable,
        Reason::Timeout,
        Reason::Shutdown,
    ];

    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Reason::QueueFull => "queue_full",
            Reason::Rejected => "rejected",
            Reason::Unreachable => "unreachable",
            Reason::Timeout => "timeout",
            Reason::Shutdown => "shutdown",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }

    /// A request failed this way: its items had entered the pipeline.
    const fn is_failed_request(self) -> bool {
        matches!(
            self,
            Reason::Rejected | Reason::Unreachable | Reason::Timeout
        )
    }
}

/// How often stderr may hear about drops of one signal.
const LINE_INTERVAL: Duration = Duration::from_secs(60);

/// What became of one signal's items in one pipeline.
#[derive(Debug)]
pub(crate) struct Health {
    signal: Signal,
    endpoint: String,
    /// Items that entered the pipeline: queued for export, or in a push.
    accepted: AtomicU64,
    exported: AtomicU64,
    dropped: [AtomicU64; 5],
    /// Accepted items not yet handed to the exporter: the batch
    /// processor's queue, as alamos bounds it.
    queued: AtomicU64,
    /// The points of the metrics push under way; whoever takes them (the
    /// push when it ends, or the shutdown when its time runs out) counts
    /// them.
    in_flight: AtomicU64,
    /// Set by the shutdown once it has counted what was left: later export
    /// outcomes were already counted as `shutdown`.
    closed: AtomicBool,
    /// How the exporter's last request failed, as the HTTP client saw it:
    /// handed from the client to [`CountingExporter`].
    last_failure: Mutex<Option<(Reason, String)>>,
    /// The latest failure, for the stderr lines.
    last_error: Mutex<Option<String>>,
    lines: Mutex<Lines>,
    handles: Handles,
}

#[derive(Debug, Default)]
struct Lines {
    last: Option<Instant>,
    reported: [u64; 5],
}

/// The health counters' `metrics` handles, registered on first use (when
/// the recorder is installed) and kept.
#[derive(Debug, Default)]
struct Handles {
    exported: OnceLock<metrics::Counter>,
    dropped: [OnceLock<metrics::Counter>; 5],
}

impl Health {
    pub(crate) fn new(signal: Signal, endpoint: impl Into<String>) -> Arc<Health> {
        Arc::new(Health {
            signal,
            endpoint: endpoint.into(),
            accepted: AtomicU64::new(0),
            exported: AtomicU64::new(0),
            dropped: Default::default(),
            queued: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            last_failure: Mutex::new(None),
            last_error: Mutex::new(None),
            lines: Mutex::new(Lines::default()),
            handles: Handles::default(),
        })
    }

    /// Takes one item into the queue unless it holds `bound` already; a
    /// refused item is counted `queue_full`.
    fn enqueue(&self, bound: u64) -> bool {
        let admitted = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |queued| {
                (queued < bound).then_some(queued + 1)
            })
            .is_ok();
        if admitted {
            self.accepted.fetch_add(1, Ordering::AcqRel);
        } else {
            self.dropped(Reason::QueueFull, 1);
        }
        admitted
    }

    /// `n` queued items were handed to the exporter.
    fn dequeued(&self, n: u64) {
        let _ = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |queued| {
                Some(queued.saturating_sub(n))
            });
    }

    /// A push of `points` starts.
    pub(crate) fn push_started(&self, points: u64) {
        self.accepted.fetch_add(points, Ordering::AcqRel);
        self.in_flight.store(points, Ordering::Release);
    }

    /// The push under way ended so.
    pub(crate) fn push_ended(&self, outcome: Result<(), (Reason, String)>) {
        let points = self.in_flight.swap(0, Ordering::AcqRel);
        if points == 0 {
            return;
        }
        self.settle(points, outcome);
    }

    /// `n` items handed to the exporter were exported, or failed.
    fn settle(&self, n: u64, outcome: Result<(), (Reason, String)>) {
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        match outcome {
            Ok(()) => {
                self.exported.fetch_add(n, Ordering::AcqRel);
                self.handles
                    .exported
                    .get_or_init(|| {
                        describe();
                        metrics::counter!(name::EXPORTED_TOTAL, "signal" => self.signal.label())
                    })
                    .increment(n);
            }
            Err((reason, error)) => {
                *self
                    .last_error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(error);
                self.dropped(reason, n);
            }
        }
    }

    fn dropped(&self, reason: Reason, n: u64) {
        if n == 0 {
            return;
        }
        self.dropped[reason.index()].fetch_add(n, Ordering::AcqRel);
        self.handles.dropped[reason.index()]
            .get_or_init(|| {
                describe();
                metrics::counter!(
                    name::EXPORT_DROPPED_TOTAL,
                    "signal" => self.signal.label(),
                    "reason" => reason.as_str()
                )
            })
            .increment(n);
        if reason != Reason::Shutdown {
            self.maybe_say();
        }
    }

    /// One line on stderr, unless one was written less than a minute ago.
    fn maybe_say(&self) {
        if let Some(line) = self.line_at(Instant::now()) {
            eprintln!("{line}");
        }
    }

    /// The stderr line due at `now`: none if one was written less than a
    /// minute before, or nothing was dropped since; else how many were
    /// dropped since the last line, by reason.
    fn line_at(&self, now: Instant) -> Option<String> {
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        if lines
            .last
            .is_some_and(|last| now.saturating_duration_since(last) < LINE_INTERVAL)
        {
            return None;
        }
        let current = self.dropped_counts();
        let mut since = [0; 5];
        for (i, count) in current.iter().enumerate() {
            since[i] = count.saturating_sub(lines.reported[i]);
        }
        let total: u64 = since.iter().sum();
        if total == 0 {
            return None;
        }
        let when = if lines.last.is_some() {
            "since the last line"
        } else {
            "so far"
        };
        let error = self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|error| format!("; last error: {error}"))
            .unwrap_or_default();
        lines.last = Some(now);
        lines.reported = current;
        Some(format!(
            "alamos: OTLP export of {} to {}: {total} dropped {when} ({}){error}; export goes on, and stderr hears of it again in a minute at the earliest",
            self.signal.items(),
            self.endpoint,
            reasons(&since),
        ))
    }

    fn dropped_counts(&self) -> [u64; 5] {
        let mut counts = [0; 5];
        for (count, dropped) in counts.iter_mut().zip(&self.dropped) {
            *count = dropped.load(Ordering::Acquire);
        }
        counts
    }

    /// Counts what was never settled as lost at shutdown, and stops
    /// counting later outcomes. Returns what was not delivered over the
    /// whole run, by reason.
    pub(crate) fn close(&self) -> Undelivered {
        self.closed.store(true, Ordering::Release);
        let in_flight = self.in_flight.swap(0, Ordering::AcqRel);
        let failed: u64 = Reason::ALL
            .iter()
            .filter(|reason| reason.is_failed_request())
            .map(|reason| self.dropped[reason.index()].load(Ordering::Acquire))
            .sum();
        let settled = self.exported.load(Ordering::Acquire) + failed;
        let left = self
            .accepted
            .load(Ordering::Acquire)
            .saturating_sub(settled)
            .max(in_flight);
        self.dropped(Reason::Shutdown, left);
        Undelivered {
            signal: self.signal,
            dropped: self.dropped_counts(),
        }
    }

    /// Items that entered the pipeline or were refused at its queue.
    pub(crate) fn offered(&self) -> u64 {
        self.accepted.load(Ordering::Acquire)
            + self.dropped[Reason::QueueFull.index()].load(Ordering::Acquire)
    }

    pub(crate) fn exported(&self) -> u64 {
        self.exported.load(Ordering::Acquire)
    }

    /// Items in requests that failed.
    pub(crate) fn failed(&self) -> u64 {
        Reason::ALL
            .iter()
            .filter(|reason| reason.is_failed_request())
            .map(|reason| self.dropped[reason.index()].load(Ordering::Acquire))
            .sum()
    }

    /// Records how the last request of this signal's exporter failed.
    fn request_failed(&self, reason: Reason, error: String) {
        *self
            .last_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some((reason, error));
    }

    fn take_failure(&self) -> Option<(Reason, String)> {
        self.last_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

/// Gives the health metrics their HELP text (in the recorder of the time).
fn describe() {
    for description in [name::EXPORTED, name::EXPORT_DROPPED] {
        metrics::describe_counter!(description.name, description.help);
    }
}

/// `12 unreachable, 3 queue_full`: the non-zero counts, by reason.
fn reasons(counts: &[u64; 5]) -> String {
    let mut text = String::new();
    for reason in Reason::ALL {
        let count = counts[reason.index()];
        if count > 0 {
            if !text.is_empty() {
                text.push_str(", ");
            }
            let _ = write!(text, "{count} {}", reason.as_str());
        }
    }
    text
}

/// What one signal did not deliver over a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Undelivered {
    pub(crate) signal: Signal,
    pub(crate) dropped: [u64; 5],
}

impl Undelivered {
    pub(crate) fn total(&self) -> u64 {
        self.dropped.iter().sum()
    }
}

impl fmt::Display for Undelivered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} ({})",
            self.total(),
            self.signal.items(),
            reasons(&self.dropped)
        )
    }
}

/// How a request that got no answer failed, from reqwest's error.
pub(crate) fn classify(error: &(dyn std::error::Error + 'static)) -> Reason {
    let mut source = Some(error);
    while let Some(error) = source {
        if let Some(error) = error.downcast_ref::<reqwest::Error>() {
            if error.is_connect() {
                return Reason::Unreachable;
            }
            if error.is_timeout() {
                return Reason::Timeout;
            }
            if error.status().is_some() {
                return Reason::Rejected;
            }
        }
        if let Some(error) = error.downcast_ref::<std::io::Error>() {
            if error.kind() == std::io::ErrorKind::TimedOut {
                return Reason::Timeout;
            }
        }
        source = error.source();
    }
    Reason::Unreachable
}

/// An error and its causes, `: `-separated (reqwest's own text leaves the
/// cause out: "error sending request").
pub(crate) fn error_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text
}

/// The HTTP client of the span and log exporters: reqwest's blocking
/// client, noting how each failed request failed, which the exporter's
/// error (`HTTP export failed: network error`) no longer says.
#[derive(Debug)]
pub(crate) struct ClassifyingClient {
    inner: Arc<reqwest::blocking::Client>,
    health: Arc<Health>,
}

impl ClassifyingClient {
    pub(crate) fn new(inner: reqwest::blocking::Client, health: Arc<Health>) -> Self {
        ClassifyingClient {
            inner: Arc::new(inner),
            health,
        }
    }
}

type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<Response<Bytes>, HttpError>> + Send + 'a>>;

// `HttpClient` is an `async_trait`: this is the signature that macro writes.
impl HttpClient for ClassifyingClient {
    fn send_bytes<'life0, 'async_trait>(
        &'life0 self,
        request: Request<Bytes>,
    ) -> SendFuture<'async_trait>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            let result = self.inner.send_bytes(request).await;
            match &result {
                Ok(response) if !response.status().is_success() => self.health.request_failed(
                    Reason::Rejected,
                    format!("the receiver answered {}", response.status()),
                ),
                Ok(_) => {}
                Err(error) => {
                    let error: &(dyn std::error::Error + 'static) = error.as_ref();
                    self.health
                        .request_failed(classify(error), error_text(error));
                }
            }
            result
        })
    }
}

/// The outcome of an export call, as `Health::settle` takes it.
fn outcome(health: &Health, result: &OTelSdkResult) -> Result<(), (Reason, String)> {
    match result {
        Ok(()) => {
            // A retry that succeeded leaves the failure of an earlier attempt.
            let _ = health.take_failure();
            Ok(())
        }
        Err(error) => Err(health.take_failure().unwrap_or_else(|| {
            let reason = match error {
                OTelSdkError::Timeout(_) => Reason::Timeout,
                _ => Reason::Rejected,
            };
            (reason, error.to_string())
        })),
    }
}

/// Bounds and counts the spans handed to the batch processor.
#[derive(Debug)]
pub(crate) struct CountingSpans<P> {
    pub(crate) inner: P,
    pub(crate) health: Arc<Health>,
    pub(crate) bound: u64,
}

impl<P: SpanProcessor> SpanProcessor for CountingSpans<P> {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &opentelemetry::Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        // The batch processor exports sampled spans only.
        if span.span_context.is_sampled() && self.health.enqueue(self.bound) {
            self.inner.on_end(span);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Bounds and counts the log records handed to the batch processor.
#[derive(Debug)]
pub(crate) struct CountingLogs<P> {
    pub(crate) inner: P,
    pub(crate) health: Arc<Health>,
    pub(crate) bound: u64,
}

impl<P: LogProcessor> LogProcessor for CountingLogs<P> {
    fn emit(&self, data: &mut SdkLogRecord, instrumentation: &InstrumentationScope) {
        if self.health.enqueue(self.bound) {
            self.inner.emit(data, instrumentation);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Counts what the exporter delivered and what it failed to, by why.
#[derive(Debug)]
pub(crate) struct CountingExporter<E> {
    pub(crate) inner: E,
    pub(crate) health: Arc<Health>,
}

impl<E: SpanExporter> SpanExporter for CountingExporter<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len() as u64;
        self.health.dequeued(spans);
        let result = self.inner.export(batch).await;
        self.health.settle(spans, outcome(&self.health, &result));
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

impl<E: LogExporter> LogExporter for CountingExporter<E> {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        let records = batch.iter().count() as u64;
        self.health.dequeued(records);
        let result = self.inner.export(batch).await;
        self.health.settle(records, outcome(&self.health, &result));
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;
    use std::net::TcpListener;

    use super::*;

    fn failure(reason: Reason) -> Result<(), (Reason, String)> {
        Err((reason, format!("{} happened", reason.as_str())))
    }

    #[test]
    fn the_queue_bound_drops_and_counts_queue_full() {
        let health = Health::new(Signal::Traces, "http://r/v1/traces");
        assert!(health.enqueue(2));
        assert!(health.enqueue(2));
        assert!(!health.enqueue(2), "a third item while two wait");
        health.dequeued(2);
        assert!(health.enqueue(2), "room again once exported");
        assert_eq!(health.dropped_counts()[Reason::QueueFull.index()], 1);
        assert_eq!(health.offered(), 4);
    }

    #[test]
    fn outcomes_are_counted_and_what_is_left_is_lost_at_shutdown() {
        let health = Health::new(Signal::Logs, "http://r/v1/logs");
        for _ in 0..10 {
            assert!(health.enqueue(100));
        }
        health.dequeued(6);
        health.settle(3, Ok(()));
        health.settle(2, failure(Reason::Timeout));
        health.settle(1, failure(Reason::Rejected));
        assert_eq!((health.exported(), health.failed()), (3, 3));
        let undelivered = health.close();
        // Four were still queued when the time ran out.
        assert_eq!(undelivered.dropped, [0, 1, 0, 2, 4]);
        assert_eq!(undelivered.total(), 7);
        assert_eq!(
            undelivered.to_string(),
            "7 log records (1 rejected, 2 timeout, 4 shutdown)"
        );
        // An export that ends after the shutdown counted it is not counted
        // twice.
        health.settle(4, Ok(()));
        assert_eq!(health.exported(), 3);
    }

    #[test]
    fn a_push_in_flight_at_shutdown_is_lost_once() {
        let health = Health::new(Signal::Metrics, "http://r/v1/metrics");
        health.push_started(5);
        health.push_ended(Ok(()));
        health.push_started(7);
        assert_eq!(health.close().dropped[Reason::Shutdown.index()], 7);
        // The push ends after all: already counted.
        health.push_ended(Ok(()));
        assert_eq!(health.exported(), 5);
    }

    #[test]
    fn stderr_hears_at_most_once_a_minute_and_the_next_line_carries_the_rest() {
        let health = Health::new(Signal::Traces, "http://r/v1/traces");
        let start = Instant::now();
        assert_eq!(health.line_at(start), None, "nothing dropped yet");
        // Counted as `settle` does, without its own line (which would take
        // the real clock's minute).
        health.dropped[Reason::Unreachable.index()].fetch_add(3, Ordering::AcqRel);
        *health.last_error.lock().unwrap() = Some("connection refused".to_owned());
        let first = health.line_at(start).expect("the first drop is said");
        assert!(
            first.starts_with(
                "alamos: OTLP export of spans to http://r/v1/traces: 3 dropped so far (3 unreachable); last error: connection refused"
            ),
            "{first}"
        );
        // Within the minute: counted, not said.
        health.settle(2, failure(Reason::Timeout));
        health.dropped(Reason::QueueFull, 4);
        assert_eq!(health.line_at(start + Duration::from_secs(59)), None);
        let next = health
            .line_at(start + Duration::from_secs(61))
            .expect("a minute later");
        assert!(
            next.contains("6 dropped since the last line (4 queue_full, 2 timeout)"),
            "{next}"
        );
        assert_eq!(health.line_at(start + Duration::from_secs(200)), None);
    }

    #[test]
    fn failed_requests_are_classified_from_reqwests_errors() {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_millis(300))
            .build()
            .unwrap();
        let dead = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let refused = client.get(format!("http://{dead}/")).send().unwrap_err();
        assert_eq!(classify(&refused), Reason::Unreachable);
        assert!(
            error_text(&refused).contains("onnect"),
            "{}",
            error_text(&refused)
        );

        // Takes the request and never answers.
        let silent = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = silent.local_addr().unwrap();
        let keep = std::thread::spawn(move || {
            let (mut stream, _) = silent.accept().unwrap();
            let mut buffer = [0; 1024];
            let _ = stream.read(&mut buffer);
            std::thread::sleep(Duration::from_secs(2));
        });
        let timed_out = client.get(format!("http://{addr}/")).send().unwrap_err();
        assert_eq!(classify(&timed_out), Reason::Timeout);
        keep.join().unwrap();
    }
}
