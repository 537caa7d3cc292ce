//! Observed values: gauges of layer state that changes without a call (a
//! cache's length, a queue's depth), read by calling a closure whenever
//! metrics are read, so the state costs nothing per mutation.
//!
//! With alamos's recorder, a read is a scrape, a render or a snapshot. With
//! another recorder, which alamos cannot see being read, a thread samples
//! every observed value into it once a second while any is registered; it
//! ends when the last watch drops.
//!
//! An observer whose level is above the compile-time ceiling
//! ([`STATIC_MAX_LEVEL`](crate::STATIC_MAX_LEVEL)) registers nothing, like an
//! instrument stripped by a `max_level_*` feature.

use std::any::Any;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use metrics::{Counter, Gauge};

use crate::key::validate_key;
use crate::level::Level;
use crate::metric::name::{Description, Kind, Unit};
use crate::metric::sink::{self, facade_key, metadata, Target};
use crate::tree::{Gate, Interest};

/// How often observed values are sampled into a recorder that is not alamos's.
const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

type Sample = Arc<dyn Fn() -> f64 + Send + Sync>;

struct Observed {
    id: u64,
    gate: &'static ObservedGate,
    name: &'static str,
    labels: Vec<(&'static str, String)>,
    help: Option<&'static str>,
    unit: Option<Unit>,
    kind: Kind,
    /// Listed among its experiment's instruments (not alamos's own task
    /// metrics).
    listed: bool,
    sample: Sample,
    /// The handle of a facade recorder this value is sampled into, with that
    /// recorder's address.
    facade: Option<(usize, FacadeHandle)>,
}

/// Where a sampled value goes in a facade recorder.
enum FacadeHandle {
    Gauge(Gauge),
    /// A counter whose total is sampled (`absolute`).
    Counter(Counter),
}

struct Registry {
    observed: Vec<Observed>,
    gates: Vec<&'static ObservedGate>,
    sampler: bool,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    observed: Vec::new(),
    gates: Vec::new(),
    sampler: false,
});
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The gate of the observed values of one experiment at one level, so that
/// thresholds apply to them and the tree knows their key.
struct ObservedGate {
    interest: Interest,
    key: &'static str,
    level: Level,
}

impl Gate for ObservedGate {
    fn experiment(&self) -> &'static str {
        self.key
    }
    fn level(&self) -> Level {
        self.level
    }
    fn interest(&self) -> &Interest {
        &self.interest
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Keeps an observed value registered; dropping it unregisters the value.
#[must_use = "the value is observed only while the watch lives"]
pub struct Watch {
    id: u64,
}

impl Watch {
    /// Whether the value is registered: `false` for a watch whose
    /// registration was refused (a malformed key or name) or stripped (a level
    /// above the compile-time ceiling).
    pub fn is_active(&self) -> bool {
        self.id != 0
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if self.id != 0 {
            registry()
                .observed
                .retain(|observed| observed.id != self.id);
        }
    }
}

impl fmt::Debug for Watch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watch")
            .field("active", &self.is_active())
            .finish_non_exhaustive()
    }
}

/// Registers a gauge named `name` in the experiment `key`, read by calling
/// `sample` whenever metrics are read; it stops when the returned [`Watch`]
/// is dropped.
///
/// The value is exported like a `gauge!` of that experiment at level `prod`
/// (the experiment's threshold switches it) with the label `experiment`. See
/// [`Observer`] for labels, a unit, HELP text or another level.
///
/// ```
/// use std::sync::{Arc, Mutex};
///
/// let cache = Arc::new(Mutex::new(Vec::<u8>::new()));
/// let entries = Arc::clone(&cache);
/// let _watch = alamos::observe("storage.cesium", "range_cache_entries", move || {
///     entries.lock().map_or(0.0, |cache| cache.len() as f64)
/// });
/// ```
///
/// A malformed key is reported on stderr and the returned watch is inert
/// ([`Watch::is_active`] is `false`): instrumentation never stops a program.
#[doc(alias = "callback", alias = "gauge_fn", alias = "observable")]
pub fn observe<F>(key: &'static str, name: &'static str, sample: F) -> Watch
where
    F: Fn() -> f64 + Send + Sync + 'static,
{
    // Checked here too, in the caller's crate, so that a stripped build
    // keeps neither the key nor the name.
    if !crate::ceiling::STATIC_MAX_LEVEL.enables(Level::Prod) {
        return Watch { id: 0 };
    }
    Observer::new(key, name).watch(sample)
}

/// An observed value with more than a key and a name; see [`observe`].
///
/// ```
/// let queue = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
/// let depth = std::sync::Arc::clone(&queue);
/// let _watch = alamos::Observer::new("distribution.relay", "relay_pending")
///     .label("node", 3)
///     .level(alamos::Level::Debug)
///     .describe("Frames waiting to be relayed.")
///     .watch(move || depth.load(std::sync::atomic::Ordering::Relaxed) as f64);
/// ```
#[derive(Debug)]
#[must_use = "an observer does nothing until `watch` is called"]
pub struct Observer {
    key: &'static str,
    name: &'static str,
    labels: Vec<(&'static str, String)>,
    help: Option<&'static str>,
    unit: Option<Unit>,
    level: Level,
    kind: Kind,
    listed: bool,
}

impl Observer {
    /// A gauge named `name` in the experiment `key`.
    #[inline]
    pub fn new(key: &'static str, name: &'static str) -> Self {
        Observer {
            key,
            name,
            labels: Vec::new(),
            help: None,
            unit: None,
            level: Level::Prod,
            kind: Kind::Gauge,
            listed: true,
        }
    }

    /// Exports the sampled value as a counter's total rather than a gauge:
    /// for a count alamos keeps itself (task restarts).
    pub(crate) fn counter(mut self) -> Self {
        self.kind = Kind::Counter;
        self
    }

    /// Leaves the value out of its experiment's instruments
    /// ([`crate::experiments`], the tree view): for alamos's own metrics.
    pub(crate) fn unlisted(mut self) -> Self {
        self.listed = false;
        self
    }

    /// Adds the label `name = value`.
    pub fn label(mut self, name: &'static str, value: impl fmt::Display) -> Self {
        self.labels.push((name, value.to_string()));
        self
    }

    /// The HELP text.
    pub fn describe(mut self, help: &'static str) -> Self {
        self.help = Some(help);
        self
    }

    /// The unit of the value: the name gets its suffix (`_bytes`,
    /// `_seconds`) unless it already ends in it, as an instrument's does, and
    /// exporters announce it.
    pub fn unit(mut self, unit: crate::InstrumentUnit) -> Self {
        self.unit = Some(unit);
        self
    }

    /// The level the value is exported at (default `prod`).
    pub fn level(mut self, level: Level) -> Self {
        self.level = level;
        self
    }

    /// Registers the value, read by calling `sample`.
    pub fn watch<F>(self, sample: F) -> Watch
    where
        F: Fn() -> f64 + Send + Sync + 'static,
    {
        if !crate::ceiling::STATIC_MAX_LEVEL.enables(self.level) {
            return Watch { id: 0 };
        }
        if let Err(err) = validate_key(self.key) {
            eprintln!(
                "alamos: observe({:?}, {:?}): {err}; the value is not observed",
                self.key, self.name
            );
            return Watch { id: 0 };
        }
        if let Err(reason) = check_name(self.name, &self.labels) {
            eprintln!(
                "alamos: observe({:?}, {:?}): {reason}; the value is not observed",
                self.key, self.name
            );
            return Watch { id: 0 };
        }
        let name = match self.unit {
            Some(unit) => with_unit_suffix(self.name, unit),
            None => self.name,
        };
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let mut registry = registry();
        let known = registry
            .gates
            .iter()
            .find(|gate| gate.key == self.key && gate.level == self.level)
            .copied();
        let gate = if let Some(gate) = known {
            gate
        } else {
            // Leaked: one per key and level ever observed, like a callsite.
            let gate: &'static ObservedGate = Box::leak(Box::new(ObservedGate {
                interest: Interest::new(),
                key: self.key,
                level: self.level,
            }));
            registry.gates.push(gate);
            gate
        };
        registry.observed.push(Observed {
            id,
            gate,
            name,
            labels: self.labels,
            help: self.help,
            unit: self.unit,
            kind: self.kind,
            listed: self.listed,
            sample: Arc::new(sample),
            facade: None,
        });
        let start_sampler = !registry.sampler;
        registry.sampler = true;
        drop(registry);
        // Registers the gate with the tree now, so its key is known.
        let _ = gate.interest.is_enabled(gate);
        if start_sampler {
            start_facade_sampler();
        }
        Watch { id }
    }
}

/// `name` ending in `_<unit>`, as the instrument macros name it. A name that lacks the suffix is extended once
/// and kept for the process's life: watches of one name share the string, so
/// what is kept is bounded by the distinct names observed.
fn with_unit_suffix(name: &'static str, unit: Unit) -> &'static str {
    static EXTENDED: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let suffix = unit.as_str();
    // The instrument macros' rule: a name that is the unit, or ends in
    // `_<unit>`, already says it.
    if name == suffix
        || name
            .strip_suffix(suffix)
            .is_some_and(|stem| stem.ends_with('_'))
    {
        return name;
    }
    let wanted = format!("{name}_{suffix}");
    let mut extended = EXTENDED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(known) = extended.iter().find(|known| **known == wanted) {
        return known;
    }
    let name: &'static str = Box::leak(wanted.into_boxed_str());
    extended.push(name);
    name
}

fn check_name(name: &str, labels: &[(&'static str, String)]) -> Result<(), String> {
    let valid = |text: &str, colon: bool| {
        let mut chars = text.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (colon && c == ':'))
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':'))
    };
    if !valid(name, true) {
        return Err(format!(
            "{name:?} is not a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)"
        ));
    }
    for (label, _) in labels {
        if !valid(label, false) || label.starts_with("__") || *label == "experiment" {
            return Err(format!(
                "{label:?} is not a label name of its own ([a-zA-Z_][a-zA-Z0-9_]*, not `experiment` nor starting with `__`)"
            ));
        }
    }
    Ok(())
}

/// One observed value, sampled.
#[derive(Clone, Debug)]
pub(crate) struct Sampled {
    id: u64,
    pub(crate) name: &'static str,
    pub(crate) labels: Vec<(String, String)>,
    pub(crate) help: Option<&'static str>,
    pub(crate) unit: Option<Unit>,
    pub(crate) kind: Kind,
    pub(crate) value: f64,
}

/// Samples every registered value whose experiment enables it. The closures
/// run outside alamos's locks, so they may themselves use alamos.
pub(crate) fn sample() -> Vec<Sampled> {
    let pending: Vec<(Sampled, Sample)> = registry()
        .observed
        .iter()
        .filter(|observed| observed.gate.interest.is_enabled(observed.gate))
        .map(|observed| {
            let mut labels = vec![("experiment".to_owned(), observed.gate.key.to_owned())];
            labels.extend(
                observed
                    .labels
                    .iter()
                    .map(|(name, value)| ((*name).to_owned(), value.clone())),
            );
            (
                Sampled {
                    id: observed.id,
                    name: observed.name,
                    labels,
                    help: observed.help,
                    unit: observed.unit,
                    kind: observed.kind,
                    value: 0.0,
                },
                Arc::clone(&observed.sample),
            )
        })
        .collect();
    pending
        .into_iter()
        .filter_map(|(mut sampled, sample)| {
            // A closure that panics is skipped, not propagated into a scrape.
            let value = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sample())).ok()?;
            sampled.value = value;
            Some(sampled)
        })
        .collect()
}

/// Starts the thread that samples observed values into a recorder that is
/// not alamos's, which cannot tell alamos when it is read.
fn start_facade_sampler() {
    let spawned = std::thread::Builder::new()
        .name("alamos-observe".into())
        .spawn(|| loop {
            std::thread::sleep(SAMPLE_INTERVAL);
            {
                let mut registry = registry();
                if registry.observed.is_empty() {
                    // The next watch starts a sampler again.
                    registry.sampler = false;
                    return;
                }
            }
            if sink::installed_store().is_none() {
                sample_into_facade();
            }
        });
    if spawned.is_err() {
        registry().sampler = false;
    }
}

/// Sets the facade gauge of every observed value from its sample.
pub(crate) fn sample_into_facade() {
    let values = sample();
    metrics::with_recorder(|recorder| {
        let address = sink::recorder_address(recorder);
        let target = Target::Facade {
            recorder,
            address,
            global: true,
        };
        let mut registry = registry();
        for observed in &mut registry.observed {
            let Some(value) = values.iter().find(|value| value.id == observed.id) else {
                continue;
            };
            let handle = match &observed.facade {
                Some((at, handle)) if *at == address => handle,
                _ => {
                    target.describe(&Description {
                        name: observed.name,
                        kind: observed.kind,
                        help: observed.help.unwrap_or("Observed by alamos::observe."),
                        unit: observed.unit,
                    });
                    let mut labels = vec![("experiment", observed.gate.key.to_owned())];
                    labels.extend(observed.labels.iter().cloned());
                    let key = facade_key(observed.name, &labels);
                    let handle = if observed.kind == Kind::Counter {
                        FacadeHandle::Counter(recorder.register_counter(&key, &metadata()))
                    } else {
                        FacadeHandle::Gauge(recorder.register_gauge(&key, &metadata()))
                    };
                    &observed.facade.insert((address, handle)).1
                }
            };
            match handle {
                FacadeHandle::Gauge(gauge) => gauge.set(value.value),
                FacadeHandle::Counter(counter) => counter.absolute(counter_value(value.value)),
            }
        }
    });
}

/// A sampled counter total as the counter's integer.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub(crate) fn counter_value(value: f64) -> u64 {
    // Saturating: NaN and negatives are 0.
    value as u64
}

/// What is known of one registered value, without sampling it.
#[derive(Clone, Debug)]
pub(crate) struct Registered {
    pub(crate) key: &'static str,
    pub(crate) name: &'static str,
    pub(crate) level: Level,
    pub(crate) unit: Option<Unit>,
    pub(crate) enabled: bool,
}

/// Every registered value listed among its experiment's instruments.
pub(crate) fn registered() -> Vec<Registered> {
    registry()
        .observed
        .iter()
        .filter(|observed| observed.listed)
        .map(|observed| Registered {
            key: observed.gate.key,
            name: observed.name,
            level: observed.gate.level,
            unit: observed.unit,
            enabled: observed.gate.interest.is_enabled(observed.gate),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unit_suffixes_the_name_once() {
        assert_eq!(with_unit_suffix("cache", Unit::Bytes), "cache_bytes");
        assert_eq!(with_unit_suffix("cache_bytes", Unit::Bytes), "cache_bytes");
        assert_eq!(with_unit_suffix("lag", Unit::Seconds), "lag_seconds");
        // Only a whole `_unit` segment counts.
        assert_eq!(
            with_unit_suffix("kilobytes", Unit::Bytes),
            "kilobytes_bytes"
        );
        assert_eq!(with_unit_suffix("bytes", Unit::Bytes), "bytes");
        // One string per distinct name, however often it is observed.
        assert!(std::ptr::eq(
            with_unit_suffix("cache", Unit::Bytes),
            with_unit_suffix("cache", Unit::Bytes)
        ));
    }
}
