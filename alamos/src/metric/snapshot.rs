//! A read-only view of every metric alamos's store holds, for exporters.
//!
//! A snapshot is what exporters read: the Prometheus text, the tree view and
//! the inventory of experiments all render one, and none of them reaches
//! into the store. A call series becomes its three metrics here, and
//! observed values are sampled into gauges.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::metric::exemplar::Exemplar;
use crate::metric::name::{Kind, Unit, CALL_METRICS};
use crate::metric::observe;
use crate::metric::outcome::Outcome;
use crate::metric::store::{Labels, Layout, Store};

/// Every metric family, alamos's per-call metrics first, then by name.
#[derive(Clone, Debug, Default)]
pub(crate) struct Snapshot {
    pub(crate) families: Vec<FamilySnapshot>,
}

/// One metric name and its series.
#[derive(Clone, Debug)]
pub(crate) struct FamilySnapshot {
    pub(crate) name: Arc<str>,
    pub(crate) kind: Kind,
    pub(crate) help: Option<Arc<str>>,
    /// Announced by OpenMetrics' `# UNIT` and OTLP's unit.
    pub(crate) unit: Option<Unit>,
    /// Bucket bounds of a histogram; empty otherwise.
    pub(crate) bounds: Arc<[f64]>,
    /// Sorted by labels.
    pub(crate) series: Vec<SeriesSnapshot>,
}

/// One series: its labels and value.
#[derive(Clone, Debug)]
pub(crate) struct SeriesSnapshot {
    pub(crate) labels: Labels,
    pub(crate) value: Value,
}

impl SeriesSnapshot {
    /// The value of the label `name`, if the series has it.
    pub(crate) fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(label, _)| label == name)
            .map(|(_, value)| value.as_str())
    }
}

/// The value of one series.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Counter(u64),
    Gauge(f64),
    Histogram {
        /// Cumulative counts: one per bound, the last for `+Inf`.
        buckets: Vec<u64>,
        sum: f64,
        /// Per bucket, a recent sampled call's trace; empty without `otel`.
        exemplars: Vec<Option<Exemplar>>,
    },
}

impl Value {
    /// Observations of a histogram; the count of a counter.
    pub(crate) fn count(&self) -> u64 {
        match self {
            Value::Counter(count) => *count,
            Value::Histogram { buckets, .. } => buckets.last().copied().unwrap_or(0),
            Value::Gauge(_) => 0,
        }
    }
}

impl FamilySnapshot {
    fn new(
        name: Arc<str>,
        kind: Kind,
        help: Option<Arc<str>>,
        unit: Option<Unit>,
        bounds: Arc<[f64]>,
    ) -> Self {
        FamilySnapshot {
            name,
            kind,
            help,
            unit,
            bounds,
            series: Vec::new(),
        }
    }
}

/// The three families of alamos's per-call metrics, empty.
fn call_families(store: &Store) -> [FamilySnapshot; 3] {
    CALL_METRICS.map(|metric| {
        let bounds: Arc<[f64]> = if metric.kind == Kind::Histogram {
            Arc::clone(store.call_bounds())
        } else {
            Arc::new([])
        };
        FamilySnapshot::new(
            metric.name.into(),
            metric.kind,
            Some(metric.help.into()),
            metric.unit,
            bounds,
        )
    })
}

/// Reads `store` and samples the observed values.
pub(crate) fn take(store: &Store) -> Snapshot {
    let reading = store.read();
    let [mut calls, mut durations, mut in_flight] = call_families(store);
    let mut others: BTreeMap<Arc<str>, FamilySnapshot> = BTreeMap::new();
    for series in &reading.series {
        let family = &reading.families[series.family];
        let labels = Arc::clone(&series.labels);
        if family.layout == Layout::Calls {
            for outcome in Outcome::ALL {
                let mut with_outcome = labels.to_vec();
                with_outcome.push(("outcome".to_owned(), outcome.as_str().to_owned()));
                calls.series.push(SeriesSnapshot {
                    labels: with_outcome.into(),
                    value: Value::Counter(series.calls(outcome)),
                });
            }
            durations.series.push(SeriesSnapshot {
                labels: Arc::clone(&labels),
                value: Value::Histogram {
                    buckets: series.cumulative_buckets(),
                    sum: series.sum(),
                    exemplars: series.exemplars.clone(),
                },
            });
            #[allow(clippy::cast_precision_loss)]
            in_flight.series.push(SeriesSnapshot {
                labels,
                value: Value::Gauge(series.in_flight() as f64),
            });
            continue;
        }
        let value = match family.layout {
            Layout::Counter => Value::Counter(series.count()),
            Layout::Gauge => Value::Gauge(series.value()),
            Layout::Histogram(_) | Layout::Calls => Value::Histogram {
                buckets: series.cumulative_buckets(),
                sum: series.sum(),
                exemplars: series.exemplars.clone(),
            },
        };
        others
            .entry(Arc::clone(&family.name))
            .or_insert_with(|| {
                FamilySnapshot::new(
                    Arc::clone(&family.name),
                    family.kind(),
                    family.help.clone(),
                    family.unit,
                    Arc::clone(&family.bounds),
                )
            })
            .series
            .push(SeriesSnapshot { labels, value });
    }
    add_observed(&mut others);
    let mut families = Vec::with_capacity(3 + others.len());
    for family in [calls, durations, in_flight] {
        if !family.series.is_empty() {
            families.push(family);
        }
    }
    families.extend(others.into_values());
    for family in &mut families {
        family.series.sort_by(|a, b| a.labels.cmp(&b.labels));
    }
    Snapshot { families }
}

/// Samples the observed values into gauge (or counter) families.
fn add_observed(families: &mut BTreeMap<Arc<str>, FamilySnapshot>) {
    for sampled in observe::sample() {
        let name: Arc<str> = sampled.name.into();
        let family = families.entry(Arc::clone(&name)).or_insert_with(|| {
            FamilySnapshot::new(
                name,
                sampled.kind,
                sampled.help.map(Arc::from),
                sampled.unit,
                Arc::new([]),
            )
        });
        // A name taken by a metric of another kind keeps it.
        if family.kind == sampled.kind {
            let value = if sampled.kind == Kind::Counter {
                Value::Counter(observe::counter_value(sampled.value))
            } else {
                Value::Gauge(sampled.value)
            };
            family.series.push(SeriesSnapshot {
                labels: sampled.labels.into(),
                value,
            });
        }
    }
}

impl Snapshot {
    /// The family named `name`.
    pub(crate) fn family(&self, name: &str) -> Option<&FamilySnapshot> {
        self.families.iter().find(|family| &*family.name == name)
    }
}
