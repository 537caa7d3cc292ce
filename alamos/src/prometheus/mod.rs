//! The Prometheus side: a recorder, the exposition, and its HTTP endpoint.
//!
//! [`AlamosRecorder`] is a `metrics` recorder. alamos's three metrics go to
//! its own striped storage, which keeps the per-call cost flat when threads
//! share a callsite; every other metric the program records goes to an inner
//! `metrics-exporter-prometheus` recorder. [`Exporter::render`] writes both in
//! the Prometheus text format, with bucketed histograms.

mod http;
mod native;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};

use metrics::{
    Counter, CounterFn, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

pub(crate) use self::http::{parse_listen_addr, parse_request, Server};
use self::native::Store;
pub(crate) use self::native::{LocalCells, SeriesId};
use crate::call::Outcome;
use crate::handles::{CALLS_IN_FLIGHT, CALLS_TOTAL, CALL_DURATION_SECONDS};

/// Bucket upper bounds, in seconds, for `alamos_call_duration_seconds`: from a
/// microsecond to a minute, about three per decade.
pub const DEFAULT_DURATION_BUCKETS: &[f64] = &[
    0.000_001,
    0.000_002_5,
    0.000_005,
    0.000_01,
    0.000_025,
    0.000_05,
    0.000_1,
    0.000_25,
    0.000_5,
    0.001,
    0.002_5,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    25.0,
    60.0,
];

const HELP: [(&str, &str, &str); 3] = [
    (
        CALLS_TOTAL,
        "counter",
        "Finished calls of instrumented functions, by experiment, function and outcome (ok, error, panic, cancelled).",
    ),
    (
        CALL_DURATION_SECONDS,
        "histogram",
        "Duration of calls of instrumented functions, in seconds.",
    ),
    (
        CALLS_IN_FLIGHT,
        "gauge",
        "Calls of instrumented functions in progress.",
    ),
];

/// The state behind an installed [`AlamosRecorder`]: what `/metrics` serves.
pub(crate) struct Exporter {
    inner: PrometheusHandle,
    store: &'static Store,
}

/// The global recorder's address and exporter, once alamos's is installed.
static INSTALLED: OnceLock<(usize, Arc<Exporter>)> = OnceLock::new();

/// Records that `exporter`'s recorder is the global one, found at `address`.
pub(crate) fn publish(exporter: Arc<Exporter>, address: usize) {
    let _ = INSTALLED.set((address, exporter));
}

/// The exporter of the recorder installed as the global one, if alamos's.
pub(crate) fn installed() -> Option<&'static Arc<Exporter>> {
    INSTALLED.get().map(|(_, exporter)| exporter)
}

/// The Prometheus exposition of everything recorded so far, if alamos's
/// recorder is the global `metrics` recorder (see [`crate::Builder`]).
pub fn render_prometheus() -> Option<String> {
    installed().map(|exporter| exporter.render())
}

/// A series of alamos's own storage, written without the `metrics` facade.
#[derive(Clone, Copy)]
pub(crate) struct NativeSeries {
    id: SeriesId,
    store: &'static Store,
}

impl std::fmt::Debug for NativeSeries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("NativeSeries").field(&self.id).finish()
    }
}

impl NativeSeries {
    /// Counts a call started, and returns the calling thread's cells of the
    /// series when it has them.
    #[inline]
    pub(crate) fn start(self) -> Option<LocalCells> {
        self.id.start(self.store)
    }

    /// [`NativeSeries::finish`] through the cells `start` returned.
    ///
    /// # Safety
    ///
    /// `cells` came from `start` of this series on the calling thread.
    #[inline]
    pub(crate) unsafe fn finish_local(self, cells: LocalCells, outcome: Outcome, nanos: u64) {
        // SAFETY: as the caller promises.
        unsafe { cells.finish(self.store, outcome, nanos) }
    }

    #[inline]
    pub(crate) fn finish(self, outcome: Outcome, nanos: u64) {
        self.id.finish(self.store, outcome, nanos);
    }
}

/// The native series for these labels if `recorder` is alamos's installed
/// recorder: callsites then skip the facade and its virtual calls.
pub(crate) fn native_series(
    recorder_address: usize,
    labels: &[(&str, &str)],
) -> Option<NativeSeries> {
    let (address, exporter) = INSTALLED.get()?;
    if *address != recorder_address {
        return None;
    }
    let labels = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Some(NativeSeries {
        id: exporter.store.series(labels),
        store: exporter.store,
    })
}

impl Exporter {
    /// The series a key of one of alamos's metrics belongs to, and its
    /// outcome if it has an `outcome` label.
    fn series(&self, key: &Key) -> (SeriesId, Option<Outcome>) {
        let mut outcome = None;
        let mut labels = Vec::new();
        for label in key.labels() {
            if label.key() == "outcome" {
                outcome = Outcome::ALL
                    .into_iter()
                    .find(|o| o.as_str() == label.value());
            } else {
                labels.push((label.key().to_owned(), label.value().to_owned()));
            }
        }
        (self.store.series(labels), outcome)
    }

    /// Finished calls per experiment key, by outcome.
    pub(crate) fn calls_by_experiment(&self) -> BTreeMap<String, [u64; Outcome::ALL.len()]> {
        let mut totals: BTreeMap<String, [u64; Outcome::ALL.len()]> = BTreeMap::new();
        for series in self.store.snapshot() {
            let Some((_, key)) = series.labels.iter().find(|(name, _)| name == "experiment") else {
                continue;
            };
            let counts = totals.entry(key.clone()).or_default();
            for (count, outcome) in counts.iter_mut().zip(Outcome::ALL) {
                *count += series.calls(outcome);
            }
        }
        totals
    }

    /// Every metric in the Prometheus text format (version 0.0.4).
    pub(crate) fn render(&self) -> String {
        let mut out = self.inner.render();
        let mut series = self.store.snapshot();
        if series.is_empty() {
            return out;
        }
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        if !out.is_empty() && !out.ends_with("\n\n") {
            out.push('\n');
        }
        let bounds: Vec<String> = self
            .store
            .bounds()
            .iter()
            .map(ToString::to_string)
            .collect();
        for (name, kind, help) in HELP {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for series in &series {
                let labels = &series.labels;
                match kind {
                    "counter" => {
                        for outcome in Outcome::ALL {
                            let extra = Some(("outcome", outcome.as_str()));
                            write_sample(&mut out, name, "", labels, extra, series.calls(outcome));
                        }
                    }
                    "histogram" => {
                        let buckets = series.cumulative_buckets();
                        let les = bounds.iter().map(String::as_str).chain(["+Inf"]);
                        for (le, count) in les.zip(&buckets) {
                            write_sample(
                                &mut out,
                                name,
                                "_bucket",
                                labels,
                                Some(("le", le)),
                                count,
                            );
                        }
                        let sum = series.duration_sum_seconds();
                        write_sample(&mut out, name, "_sum", labels, None, sum);
                        let count = buckets.last().copied().unwrap_or(0);
                        write_sample(&mut out, name, "_count", labels, None, count);
                    }
                    _ => write_sample(&mut out, name, "", labels, None, series.in_flight()),
                }
            }
            out.push('\n');
        }
        out
    }
}

fn write_sample(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &[(String, String)],
    extra: Option<(&str, &str)>,
    value: impl std::fmt::Display,
) {
    out.push_str(name);
    out.push_str(suffix);
    let all = labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(extra);
    let mut first = true;
    for (key, value) in all {
        out.push(if first { '{' } else { ',' });
        first = false;
        out.push_str(key);
        out.push_str("=\"");
        escape_label_value(out, value);
        out.push('"');
    }
    if !first {
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// A `metrics` recorder that keeps alamos's series in its own per-thread
/// storage and every other metric in a `metrics-exporter-prometheus` recorder.
///
/// Build and install one with [`crate::Builder`].
pub struct AlamosRecorder {
    inner: metrics_exporter_prometheus::PrometheusRecorder,
    exporter: Arc<Exporter>,
}

impl AlamosRecorder {
    pub(crate) fn new(bounds: &[f64]) -> Result<Self, metrics_exporter_prometheus::BuildError> {
        let inner = PrometheusBuilder::new()
            .set_buckets(bounds)?
            .build_recorder();
        let exporter = Arc::new(Exporter {
            inner: inner.handle(),
            store: native::store(bounds),
        });
        Ok(AlamosRecorder { inner, exporter })
    }

    pub(crate) fn exporter(&self) -> &Arc<Exporter> {
        &self.exporter
    }

    pub(crate) fn upkeep_handle(&self) -> PrometheusHandle {
        self.exporter.inner.clone()
    }
}

impl std::fmt::Debug for AlamosRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlamosRecorder").finish_non_exhaustive()
    }
}

fn is_native(name: &str) -> bool {
    [CALLS_TOTAL, CALL_DURATION_SECONDS, CALLS_IN_FLIGHT].contains(&name)
}

/// `alamos_calls_total` registered through the facade rather than a callsite.
struct CallsCounter {
    id: SeriesId,
    store: &'static Store,
    outcome: Outcome,
}

impl CounterFn for CallsCounter {
    fn increment(&self, value: u64) {
        self.id.count(self.store, self.outcome, value);
    }

    fn absolute(&self, _: u64) {}
}

/// `alamos_call_duration_seconds` registered through the facade.
struct DurationHistogram {
    id: SeriesId,
    store: &'static Store,
}

impl HistogramFn for DurationHistogram {
    fn record(&self, seconds: f64) {
        self.id.observe(self.store, seconds);
    }
}

impl Recorder for AlamosRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        if !is_native(key.as_str()) {
            self.inner.describe_counter(key, unit, description);
        }
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        if !is_native(key.as_str()) {
            self.inner.describe_gauge(key, unit, description);
        }
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        if !is_native(key.as_str()) {
            self.inner.describe_histogram(key, unit, description);
        }
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        if key.name() == CALLS_TOTAL {
            let store = self.exporter.store;
            return match self.exporter.series(key) {
                (id, Some(outcome)) => {
                    Counter::from_arc(Arc::new(CallsCounter { id, store, outcome }))
                }
                (_, None) => Counter::noop(),
            };
        }
        self.inner.register_counter(key, metadata)
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        if key.name() == CALLS_IN_FLIGHT {
            // Derived from started and finished calls; nothing to set by hand.
            return Gauge::noop();
        }
        self.inner.register_gauge(key, metadata)
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        if key.name() == CALL_DURATION_SECONDS {
            let (id, _) = self.exporter.series(key);
            let store = self.exporter.store;
            return Histogram::from_arc(Arc::new(DurationHistogram { id, store }));
        }
        self.inner.register_histogram(key, metadata)
    }
}
