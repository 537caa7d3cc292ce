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
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use metrics::{
    Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

pub(crate) use self::http::{parse_listen_addr, Server};
use self::native::{CallSeries, CallsCounter, DurationHistogram, InFlightGauge};
use crate::call::Outcome;
use crate::handles::{CALLS_IN_FLIGHT, CALLS_TOTAL, CALL_DURATION_SECONDS};

/// Bucket upper bounds, in seconds, for `alamos_call_duration_seconds`: from a
/// microsecond to a minute, about three per decade.
pub const DEFAULT_DURATION_BUCKETS: &[f64] = &[
    0.000_001, 0.000_002_5, 0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25,
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    25.0, 60.0,
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
    series: Mutex<BTreeMap<Vec<(String, String)>, Arc<CallSeries>>>,
    bounds: Arc<[f64]>,
    stripes: usize,
}

static INSTALLED: OnceLock<Arc<Exporter>> = OnceLock::new();

/// Records that `exporter` belongs to the global recorder.
pub(crate) fn publish(exporter: Arc<Exporter>) {
    let _ = INSTALLED.set(exporter);
}

/// The exporter of the recorder installed as the global one, if alamos's.
pub(crate) fn installed() -> Option<&'static Arc<Exporter>> {
    INSTALLED.get()
}

/// The Prometheus exposition of everything recorded so far, if alamos's
/// recorder is the global `metrics` recorder (see [`crate::Builder`]).
pub fn render_prometheus() -> Option<String> {
    installed().map(|exporter| exporter.render())
}

impl Exporter {
    /// The series a key of one of alamos's metrics belongs to, and its
    /// outcome index if it has an `outcome` label.
    fn series(&self, key: &Key) -> (Arc<CallSeries>, Option<usize>) {
        let mut outcome = None;
        let mut labels = Vec::new();
        for label in key.labels() {
            if label.key() == "outcome" {
                outcome = Outcome::ALL.iter().position(|o| o.as_str() == label.value());
            } else {
                labels.push((label.key().to_owned(), label.value().to_owned()));
            }
        }
        let mut series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = series.entry(labels).or_insert_with_key(|labels| {
            Arc::new(CallSeries::new(labels.clone(), Arc::clone(&self.bounds), self.stripes))
        });
        (Arc::clone(entry), outcome)
    }

    /// Finished calls per experiment key (named keys only), by outcome.
    pub(crate) fn calls_by_experiment(&self) -> BTreeMap<String, [u64; Outcome::ALL.len()]> {
        let mut totals: BTreeMap<String, [u64; Outcome::ALL.len()]> = BTreeMap::new();
        let series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        for series in series.values() {
            let Some((_, key)) = series.labels.iter().find(|(name, _)| name == "experiment") else {
                continue;
            };
            let counts = totals.entry(key.clone()).or_default();
            for (index, count) in counts.iter_mut().enumerate() {
                *count += series.calls(index);
            }
        }
        totals
    }

    /// Every metric in the Prometheus text format (version 0.0.4).
    pub(crate) fn render(&self) -> String {
        let mut out = self.inner.render();
        let series: Vec<Arc<CallSeries>> = self
            .series
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        if series.is_empty() {
            return out;
        }
        if !out.is_empty() && !out.ends_with("\n\n") {
            out.push('\n');
        }
        for (name, kind, help) in HELP {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for series in &series {
                match kind {
                    "counter" => {
                        for (index, outcome) in Outcome::ALL.iter().enumerate() {
                            write_sample(&mut out, name, "", &series.labels, Some(("outcome", outcome.as_str())), series.calls(index));
                        }
                    }
                    "histogram" => {
                        let buckets = series.cumulative_buckets();
                        for (bound, count) in series.bounds().iter().zip(&buckets) {
                            write_sample(&mut out, name, "_bucket", &series.labels, Some(("le", &bound.to_string())), count);
                        }
                        let count = buckets.last().copied().unwrap_or(0);
                        write_sample(&mut out, name, "_bucket", &series.labels, Some(("le", "+Inf")), count);
                        write_sample(&mut out, name, "_sum", &series.labels, None, series.duration_sum());
                        write_sample(&mut out, name, "_count", &series.labels, None, count);
                    }
                    _ => write_sample(&mut out, name, "", &series.labels, None, series.in_flight()),
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
    let extra = extra.map(|(key, value)| (key, value));
    let all = labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).chain(extra);
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

/// A `metrics` recorder that keeps alamos's series in striped storage and
/// every other metric in a `metrics-exporter-prometheus` recorder.
///
/// Build one with [`crate::Builder`], which also installs it.
pub struct AlamosRecorder {
    inner: metrics_exporter_prometheus::PrometheusRecorder,
    exporter: Arc<Exporter>,
}

impl AlamosRecorder {
    pub(crate) fn new(bounds: &[f64]) -> Result<Self, metrics_exporter_prometheus::BuildError> {
        let inner = PrometheusBuilder::new().set_buckets(bounds)?.build_recorder();
        let stripes = std::thread::available_parallelism().map_or(1, usize::from).min(16);
        let exporter = Arc::new(Exporter {
            inner: inner.handle(),
            series: Mutex::new(BTreeMap::new()),
            bounds: Arc::from(bounds),
            stripes,
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
            if let (series, Some(outcome)) = self.exporter.series(key) {
                return Counter::from_arc(Arc::new(CallsCounter { series, outcome }));
            }
        }
        self.inner.register_counter(key, metadata)
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        if key.name() == CALLS_IN_FLIGHT {
            let (series, _) = self.exporter.series(key);
            return Gauge::from_arc(Arc::new(InFlightGauge(series)));
        }
        self.inner.register_gauge(key, metadata)
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        if key.name() == CALL_DURATION_SECONDS {
            let (series, _) = self.exporter.series(key);
            return Histogram::from_arc(Arc::new(DurationHistogram(series)));
        }
        self.inner.register_histogram(key, metadata)
    }
}
