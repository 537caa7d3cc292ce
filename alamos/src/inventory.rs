//! What the binary holds: every experiment a callsite names, with its
//! thresholds, root trace probabilities and its instruments' current values.
//!
//! A reader of the tree and of metric snapshots, like every exporter.

use std::collections::BTreeMap;

use crate::level::{Level, LevelFilter};
use crate::metric::instrument::InstrumentCallsite;
use crate::metric::name::{InstrumentUnit, Kind};
use crate::metric::observe;
use crate::metric::snapshot::{Snapshot, Value};
use crate::tree;

/// An experiment: a key named by an instrumentation callsite in this binary.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Experiment {
    key: &'static str,
    level: Level,
    threshold: LevelFilter,
    trace_sample: f64,
    instruments: Vec<InstrumentInfo>,
}

impl Experiment {
    /// The dot-separated key, such as `distribution.frame_writer`.
    pub fn key(&self) -> &'static str {
        self.key
    }

    /// The most verbose level among the experiment's callsites: the
    /// threshold at which all of its instrumentation is on.
    pub fn level(&self) -> Level {
        self.level
    }

    /// The current threshold.
    pub fn threshold(&self) -> LevelFilter {
        self.threshold
    }

    /// The root trace probability: how likely a call of this experiment
    /// that starts a trace is traced (see [`set_trace_sample`]).
    ///
    /// [`set_trace_sample`]: crate::set_trace_sample
    pub fn trace_sample(&self) -> f64 {
        self.trace_sample
    }

    /// Whether the experiment's most verbose instrumentation is on.
    pub fn is_enabled(&self) -> bool {
        self.threshold.enables(self.level)
    }

    /// The experiment's instruments (`counter!`, `gauge!`, `histogram!`
    /// callsites and observed values), by name.
    pub fn instruments(&self) -> &[InstrumentInfo] {
        &self.instruments
    }
}

/// One instrument of an experiment: a metric name the experiment records.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct InstrumentInfo {
    name: &'static str,
    kind: InstrumentKind,
    level: Level,
    unit: Option<InstrumentUnit>,
    enabled: bool,
    value: Option<InstrumentValue>,
}

impl InstrumentInfo {
    /// The exported metric name (`frame_writer_bytes_total`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Counter, gauge or histogram.
    pub fn kind(&self) -> InstrumentKind {
        self.kind
    }

    /// The level it records at.
    pub fn level(&self) -> Level {
        self.level
    }

    /// Its unit, if it has one.
    pub fn unit(&self) -> Option<InstrumentUnit> {
        self.unit
    }

    /// Whether its experiment's threshold lets it record now.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Its current value, summed over its label sets, when alamos's recorder
    /// holds it (`None` under another recorder, or before any update).
    pub fn value(&self) -> Option<InstrumentValue> {
        self.value
    }
}

pub use crate::metric::name::InstrumentKind;

/// The current value of an instrument.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum InstrumentValue {
    /// A counter's count.
    Counter(u64),
    /// A gauge's value.
    Gauge(f64),
    /// A histogram's observations and their sum.
    Histogram {
        /// How many values were recorded.
        count: u64,
        /// Their sum.
        sum: f64,
    },
}

/// Every experiment named by a callsite in this binary, sorted by key, with
/// its level, current threshold, root trace probability and instruments.
pub fn experiments() -> Vec<Experiment> {
    let snapshot = crate::metric::snapshot();
    let mut instruments = instruments_by_key(snapshot.as_ref());
    tree::named()
        .into_iter()
        .map(|node| Experiment {
            key: node.key,
            level: node.level,
            threshold: node.threshold,
            trace_sample: node.trace_sample,
            instruments: instruments.remove(node.key).unwrap_or_default(),
        })
        .collect()
}

/// The instruments of every experiment, the root's under `""`, by name.
pub(crate) fn instruments_by_key(
    snapshot: Option<&Snapshot>,
) -> BTreeMap<&'static str, Vec<InstrumentInfo>> {
    let mut by_key: BTreeMap<&'static str, Vec<InstrumentInfo>> = BTreeMap::new();
    for gate in tree::gates() {
        let Some(callsite) = gate.as_any().downcast_ref::<InstrumentCallsite>() else {
            continue;
        };
        let key = callsite.experiment();
        let known = by_key.entry(key).or_default();
        if known.iter().any(|i| i.name == callsite.name()) {
            continue;
        }
        known.push(InstrumentInfo {
            name: callsite.name(),
            kind: callsite.kind(),
            level: callsite.level(),
            unit: callsite.unit(),
            enabled: callsite.is_enabled(),
            value: snapshot.and_then(|s| value(s, callsite.name(), key)),
        });
    }
    for observed in observe::registered() {
        let known = by_key.entry(observed.key).or_default();
        if known.iter().any(|i| i.name == observed.name) {
            continue;
        }
        known.push(InstrumentInfo {
            name: observed.name,
            kind: Kind::Gauge,
            level: observed.level,
            unit: observed.unit,
            enabled: observed.enabled,
            value: snapshot.and_then(|s| value(s, observed.name, observed.key)),
        });
    }
    for instruments in by_key.values_mut() {
        instruments.sort_by_key(|instrument| instrument.name);
    }
    by_key
}

/// The value of `name` in experiment `key`, summed over its label sets.
fn value(snapshot: &Snapshot, name: &str, key: &str) -> Option<InstrumentValue> {
    let family = snapshot.family(name)?;
    let mut total: Option<InstrumentValue> = None;
    for series in family
        .series
        .iter()
        .filter(|series| series.label("experiment") == Some(key))
    {
        total = Some(match (total, &series.value) {
            (None, Value::Counter(count)) => InstrumentValue::Counter(*count),
            (Some(InstrumentValue::Counter(sum)), Value::Counter(count)) => {
                InstrumentValue::Counter(sum + count)
            }
            (None, Value::Gauge(value)) => InstrumentValue::Gauge(*value),
            (Some(InstrumentValue::Gauge(sum)), Value::Gauge(value)) => {
                InstrumentValue::Gauge(sum + value)
            }
            (None, histogram @ Value::Histogram { sum, .. }) => InstrumentValue::Histogram {
                count: histogram.count(),
                sum: *sum,
            },
            (
                Some(InstrumentValue::Histogram { count, sum }),
                histogram @ Value::Histogram { sum: more, .. },
            ) => InstrumentValue::Histogram {
                count: count + histogram.count(),
                sum: sum + more,
            },
            (total, _) => total?,
        });
    }
    total
}
