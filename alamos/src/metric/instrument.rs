//! Instruments: the callsites of `counter!`, `gauge!` and `histogram!`.
//!
//! Each macro call owns one `static` [`InstrumentCallsite`], built by a
//! `const fn` and listed in the link-time registry of gates, so the tree
//! knows it (and its experiment) at start-up and `ALAMOS_LEVEL` switches it
//! like any other callsite. The handles it records through are registered
//! at its first enabled use and cached, as a function's are.

use std::any::Any;
use std::fmt::{self, Display};

use metrics::{Counter, Gauge, Histogram};

use crate::level::Level;
use crate::metric::name::{Description, Kind, Unit};
use crate::metric::sink::{
    facade_key, metadata, owned_labels, HandleCache, LabelSets, Register, Target,
};
use crate::metric::store::{Layout, Series, SeriesSpec, Store};
use crate::tree::{Gate, Interest};

/// Where an instrument finds its experiment.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub enum ExperimentOf {
    /// Named by `experiment = "key"`.
    Key(&'static str),
    /// The enclosing instrumented function's, found through its scope.
    Scope(fn() -> &'static str),
}

/// What the macro knows of an instrument: everything but its state.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct InstrumentSpec {
    /// Counter, gauge or histogram.
    pub kind: Kind,
    /// The exported name, conventions applied (`_total`, unit suffix).
    pub name: &'static str,
    /// The name as written in the macro.
    pub written: &'static str,
    pub experiment: ExperimentOf,
    pub level: Level,
    pub unit: Option<Unit>,
    /// HELP text.
    pub help: &'static str,
    /// Bucket bounds of a histogram.
    pub buckets: &'static [f64],
    /// Names of the `name = value` labels, in order.
    pub labels: &'static [&'static str],
}

/// The callsite of an instrument macro.
#[doc(hidden)]
pub struct InstrumentCallsite {
    interest: Interest,
    spec: InstrumentSpec,
    handles: HandleCache<InstrumentHandle>,
    label_sets: LabelSets<InstrumentHandle>,
}

impl InstrumentCallsite {
    /// Used by generated code only.
    pub const fn new(spec: InstrumentSpec) -> Self {
        InstrumentCallsite {
            interest: Interest::new(),
            label_sets: LabelSets::new(spec.labels),
            spec,
            handles: HandleCache::new(),
        }
    }

    /// Whether updates through this callsite are recorded right now.
    #[inline(always)]
    pub fn is_enabled(&'static self) -> bool {
        self.interest.is_enabled(self)
    }

    /// The experiment key; empty for the root.
    pub fn experiment(&self) -> &'static str {
        match self.spec.experiment {
            ExperimentOf::Key(key) => key,
            ExperimentOf::Scope(scope) => scope(),
        }
    }

    /// The exported name.
    pub fn name(&self) -> &'static str {
        self.spec.name
    }

    /// Counter, gauge or histogram.
    pub fn kind(&self) -> Kind {
        self.spec.kind
    }

    /// The level the instrument is recorded at.
    pub fn level(&self) -> Level {
        self.spec.level
    }

    pub(crate) fn unit(&self) -> Option<Unit> {
        self.spec.unit
    }

    /// Runs `update` on the handle for these label values (the macro
    /// passes none for an unlabelled instrument, a constant, so the branch
    /// folds away).
    #[inline(always)]
    fn update(&'static self, labels: &[&dyn Display], update: impl FnOnce(&InstrumentHandle)) {
        if labels.is_empty() {
            self.handles.with(self, update);
        } else {
            update(&self.label_sets.get(self, labels));
        }
    }

    // The four updates are `cold` and out of line: the macro evaluates the
    // value in the caller, then calls one of them, so a disabled instrument
    // is a load and a not-taken branch with no prologue, and an enabled one
    // pays a call (BENCHMARKS.md, `overhead/alamos_counter_disabled`).

    /// `counter!`: adds `delta`.
    #[cold]
    #[inline(never)]
    pub fn increment(&'static self, delta: u64, labels: &[&dyn Display]) {
        self.update(labels, |handle| match handle {
            InstrumentHandle::Store(series, store) => series.increment(store, delta),
            InstrumentHandle::Counter(counter) => counter.increment(delta),
            _ => {}
        });
    }

    /// `gauge!(name, value)`: sets the gauge.
    #[cold]
    #[inline(never)]
    pub fn set(&'static self, value: f64, labels: &[&dyn Display]) {
        self.update(labels, |handle| match handle {
            InstrumentHandle::Store(series, _) => series.set(value),
            InstrumentHandle::Gauge(gauge) => gauge.set(value),
            _ => {}
        });
    }

    /// `gauge!(name, += delta)` (or `-=`, a negative `delta`).
    #[cold]
    #[inline(never)]
    pub fn add(&'static self, delta: f64, labels: &[&dyn Display]) {
        self.update(labels, |handle| match handle {
            InstrumentHandle::Store(series, _) => series.add(delta),
            InstrumentHandle::Gauge(gauge) if delta >= 0.0 => gauge.increment(delta),
            InstrumentHandle::Gauge(gauge) => gauge.decrement(-delta),
            _ => {}
        });
    }

    /// `histogram!`: records one observation.
    #[cold]
    #[inline(never)]
    pub fn record(&'static self, value: f64, labels: &[&dyn Display]) {
        self.update(labels, |handle| match handle {
            InstrumentHandle::Store(series, store) => {
                let bucket = series.record(store, value);
                #[cfg(feature = "otel")]
                if let Some(slot) = bucket.and_then(|bucket| series.exemplar(bucket)) {
                    crate::metric::exemplar::offer(
                        slot,
                        crate::clock::now(),
                        store.exemplar_interval(),
                        value,
                        || crate::metric::exemplar::sampled_ids(&tracing::Span::current()),
                    );
                }
                #[cfg(not(feature = "otel"))]
                let _ = bucket;
            }
            InstrumentHandle::Histogram(histogram) => histogram.record(value),
            _ => {}
        });
    }

    fn description(&self) -> Description {
        Description {
            name: self.spec.name,
            kind: self.spec.kind,
            help: self.spec.help,
            unit: self.spec.unit,
        }
    }
}

impl Register for InstrumentCallsite {
    type Handles = InstrumentHandle;

    fn register(&self, target: &Target<'_>, extra: &[(&'static str, String)]) -> InstrumentHandle {
        let mut labels = vec![("experiment", self.experiment().to_owned())];
        labels.extend_from_slice(extra);
        match target {
            Target::Store(store) => {
                let layout = match self.spec.kind {
                    Kind::Counter => Layout::Counter,
                    Kind::Gauge => Layout::Gauge,
                    Kind::Histogram => Layout::Histogram(self.spec.buckets.len()),
                };
                store
                    .series(SeriesSpec {
                        name: self.spec.name,
                        layout,
                        labels: owned_labels(&labels),
                        bounds: self.spec.buckets,
                        unit: self.spec.unit,
                        help: Some(self.spec.help),
                    })
                    .map_or(InstrumentHandle::None, |series| {
                        InstrumentHandle::Store(series, store)
                    })
            }
            Target::Facade { recorder, .. } => {
                target.describe(&self.description());
                let key = facade_key(self.spec.name, &labels);
                match self.spec.kind {
                    Kind::Counter => {
                        InstrumentHandle::Counter(recorder.register_counter(&key, &metadata()))
                    }
                    Kind::Gauge => {
                        InstrumentHandle::Gauge(recorder.register_gauge(&key, &metadata()))
                    }
                    Kind::Histogram => {
                        InstrumentHandle::Histogram(recorder.register_histogram(&key, &metadata()))
                    }
                }
            }
        }
    }

    fn overflow_labels(&self) -> Vec<(&'static str, String)> {
        vec![
            ("experiment", self.experiment().to_owned()),
            ("metric", self.spec.name.to_owned()),
        ]
    }
}

impl Gate for InstrumentCallsite {
    fn experiment(&self) -> &'static str {
        InstrumentCallsite::experiment(self)
    }
    fn level(&self) -> Level {
        self.spec.level
    }
    fn interest(&self) -> &Interest {
        &self.interest
    }
    fn names_experiment(&self) -> bool {
        false
    }
    fn enabled(&self) {
        if self.label_sets.names().is_empty() {
            self.handles.preregister(self);
        }
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl fmt::Debug for InstrumentCallsite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstrumentCallsite")
            .field("name", &self.spec.name)
            .field("kind", &self.spec.kind)
            .field("experiment", &self.experiment())
            .field("level", &self.spec.level)
            .finish_non_exhaustive()
    }
}

/// What one instrument records through.
#[derive(Debug)]
pub(crate) enum InstrumentHandle {
    Store(Series, &'static Store),
    Counter(Counter),
    Gauge(Gauge),
    Histogram(Histogram),
    /// The name is taken by a metric of another kind.
    None,
}
