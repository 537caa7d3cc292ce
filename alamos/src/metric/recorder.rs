//! alamos's `metrics` recorder: every metric the program records through
//! the facade lands in alamos's store, beside alamos's own series, so that
//! exporters read one snapshot.
//!
//! Counters and histograms recorded through the facade get per-thread cells
//! like alamos's own. Histograms are always bucketed: by the bounds the
//! builder gave for the name, else by their unit (described through
//! `describe_histogram!`, or a name ending in `_seconds` or `_bytes`), else
//! by [`COUNTS`](crate::buckets::COUNTS). Handles registered by hand on
//! alamos's call metrics feed the call series they name.

use std::collections::HashMap;
use std::sync::Arc;

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString,
};

use crate::metric::buckets;
use crate::metric::name::{Unit, CALLS_IN_FLIGHT, CALLS_TOTAL, CALL_DURATION_SECONDS};
use crate::metric::outcome::Outcome;
use crate::metric::store::{Layout, Series, SeriesSpec, Store};

/// The recorder [`crate::Builder`] installs.
pub(crate) struct AlamosRecorder {
    store: &'static Store,
    buckets: Arc<HashMap<String, Vec<f64>>>,
}

impl AlamosRecorder {
    /// A recorder over `store`, with `buckets` for the histograms they name.
    pub(crate) fn new(store: &'static Store, buckets: HashMap<String, Vec<f64>>) -> Self {
        AlamosRecorder {
            store,
            buckets: Arc::new(buckets),
        }
    }

    fn labels(key: &Key) -> (Vec<(String, String)>, Option<Outcome>) {
        let mut outcome = None;
        let mut labels = Vec::new();
        for label in key.labels() {
            if key.name() == CALLS_TOTAL && label.key() == "outcome" {
                outcome = Outcome::ALL
                    .into_iter()
                    .find(|o| o.as_str() == label.value());
            } else {
                labels.push((label.key().to_owned(), label.value().to_owned()));
            }
        }
        (labels, outcome)
    }

    fn series(&self, key: &Key, layout: Layout, bounds: &[f64]) -> Option<Series> {
        let (labels, _) = Self::labels(key);
        self.store.series(SeriesSpec {
            name: key.name(),
            layout,
            labels,
            bounds,
            unit: None,
            help: None,
        })
    }

    /// The bounds of the plain histogram `name`.
    fn histogram_bounds(&self, name: &str) -> Vec<f64> {
        if let Some(bounds) = self.buckets.get(name) {
            return bounds.clone();
        }
        let unit = self.store.described_unit(name).or_else(|| {
            if name.ends_with("_seconds") {
                Some(Unit::Seconds)
            } else if name.ends_with("_bytes") {
                Some(Unit::Bytes)
            } else {
                None
            }
        });
        match unit {
            Some(Unit::Seconds) => buckets::DURATIONS,
            Some(Unit::Bytes) => buckets::BYTES,
            None => buckets::COUNTS,
        }
        .to_vec()
    }

    fn describe(&self, key: &KeyName, unit: Option<metrics::Unit>, description: &SharedString) {
        let unit = match unit {
            Some(metrics::Unit::Bytes) => Some(Unit::Bytes),
            Some(metrics::Unit::Seconds) => Some(Unit::Seconds),
            _ => None,
        };
        self.store
            .describe(key.as_str(), Some(description.as_ref()), unit);
    }
}

impl std::fmt::Debug for AlamosRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlamosRecorder").finish_non_exhaustive()
    }
}

struct StoreCounter(Series, &'static Store);

impl CounterFn for StoreCounter {
    fn increment(&self, value: u64) {
        self.0.increment(self.1, value);
    }

    fn absolute(&self, value: u64) {
        self.0.absolute(self.1, value);
    }
}

struct StoreGauge(Series);

impl GaugeFn for StoreGauge {
    fn increment(&self, value: f64) {
        self.0.add(value);
    }

    fn decrement(&self, value: f64) {
        self.0.add(-value);
    }

    fn set(&self, value: f64) {
        self.0.set(value);
    }
}

struct StoreHistogram(Series, &'static Store);

impl HistogramFn for StoreHistogram {
    fn record(&self, value: f64) {
        self.0.record(self.1, value);
    }
}

/// `alamos_calls_total` registered through the facade rather than a callsite.
struct CallsCounter {
    series: Series,
    store: &'static Store,
    outcome: Outcome,
}

impl CounterFn for CallsCounter {
    fn increment(&self, value: u64) {
        self.series.count_calls(self.store, self.outcome, value);
    }

    fn absolute(&self, _: u64) {}
}

/// `alamos_call_duration_seconds` registered through the facade.
struct DurationHistogram(Series, &'static Store);

impl HistogramFn for DurationHistogram {
    fn record(&self, seconds: f64) {
        self.0.record_duration(self.1, seconds);
    }
}

impl Recorder for AlamosRecorder {
    fn describe_counter(
        &self,
        key: KeyName,
        unit: Option<metrics::Unit>,
        description: SharedString,
    ) {
        self.describe(&key, unit, &description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<metrics::Unit>, description: SharedString) {
        self.describe(&key, unit, &description);
    }

    fn describe_histogram(
        &self,
        key: KeyName,
        unit: Option<metrics::Unit>,
        description: SharedString,
    ) {
        self.describe(&key, unit, &description);
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let store = self.store;
        if key.name() == CALLS_TOTAL {
            let (_, outcome) = Self::labels(key);
            return match (self.series(key, Layout::Calls, &[]), outcome) {
                (Some(series), Some(outcome)) => Counter::from_arc(Arc::new(CallsCounter {
                    series,
                    store,
                    outcome,
                })),
                _ => Counter::noop(),
            };
        }
        self.series(key, Layout::Counter, &[])
            .map_or_else(Counter::noop, |series| {
                Counter::from_arc(Arc::new(StoreCounter(series, store)))
            })
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        if key.name() == CALLS_IN_FLIGHT {
            // Derived from started and finished calls; nothing to set by hand.
            return Gauge::noop();
        }
        self.series(key, Layout::Gauge, &[])
            .map_or_else(Gauge::noop, |series| {
                Gauge::from_arc(Arc::new(StoreGauge(series)))
            })
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let store = self.store;
        if key.name() == CALL_DURATION_SECONDS {
            return self
                .series(key, Layout::Calls, &[])
                .map_or_else(Histogram::noop, |series| {
                    Histogram::from_arc(Arc::new(DurationHistogram(series, store)))
                });
        }
        let bounds = self.histogram_bounds(key.name());
        self.series(key, Layout::Histogram(bounds.len()), &bounds)
            .map_or_else(Histogram::noop, |series| {
                Histogram::from_arc(Arc::new(StoreHistogram(series, store)))
            })
    }
}
