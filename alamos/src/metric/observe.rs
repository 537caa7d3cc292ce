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
//!
//! # A closure can't stall a read
//!
//! A read never calls a closure on its own thread: it hands them one at a
//! time to a reader thread and waits at most the observe timeout
//! ([`set_timeout`], `Builder::observe_timeout`) for each, counted from when
//! the thread starts it, so that a busy machine does not drop a fast
//! closure (a thread that never starts it is given up after ten times the
//! timeout). A closure that
//! panics is left out of that read; one still running at the timeout is
//! left out too and its watch is marked hung: the read abandons that reader
//! thread to it and carries on with a fresh one, and later reads skip the
//! watch until the closure returns (the abandoned thread then clears the
//! mark and exits). So a closure that never returns holds exactly one
//! thread, whatever the number of reads, and no read waits for it more than
//! once. Each read that leaves a value out counts it in
//! `alamos_observe_failures_total{experiment, name, reason}` (`timeout`,
//! `panic`), exported with the observed values to alamos's recorder or to
//! another one. Reads are serialized: one reader thread serves them all,
//! and exits when a read finds nothing to sample.

use std::any::Any;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
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

/// Counter of reads that left an observed value out, labelled by
/// `experiment`, `name` (the observed value's) and `reason` (`timeout`,
/// `panic`).
pub(crate) const FAILURES_TOTAL: &str = "alamos_observe_failures_total";
const FAILURES_HELP: &str = "Reads that left an observed value out: its closure panicked (panic), or ran past the observe timeout in this read or an earlier one and has not returned since (timeout).";

/// The default of `Builder::observe_timeout`: 100 ms.
const DEFAULT_TIMEOUT_NANOS: u64 = 100_000_000;

/// The observe timeout, in nanoseconds.
static TIMEOUT_NANOS: AtomicU64 = AtomicU64::new(DEFAULT_TIMEOUT_NANOS);

/// How long a read waits for one closure before leaving its value out.
pub(crate) fn set_timeout(timeout: Duration) {
    let nanos = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
    TIMEOUT_NANOS.store(nanos, Ordering::Relaxed);
}

fn timeout() -> Duration {
    Duration::from_nanos(TIMEOUT_NANOS.load(Ordering::Relaxed))
}

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
    /// Whether its closure is running on a reader thread, or still running
    /// on one a read abandoned to it ([`IDLE`], [`RUNNING`], [`HUNG`]).
    state: Arc<AtomicU8>,
    /// The handle of a facade recorder this value is sampled into, with that
    /// recorder's address.
    facade: Option<(usize, FacadeHandle)>,
}

/// The closure of a watch is not running.
const IDLE: u8 = 0;
/// A read sent the closure to a reader thread, which has not started it.
const QUEUED: u8 = 1;
/// A reader thread runs the closure for a read that waits for it.
const RUNNING: u8 = 2;
/// The closure ran past the timeout; the read that waited for it gave its
/// reader thread up to it, and reads skip the watch until it returns.
const HUNG: u8 = 3;

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
            let mut registry = registry();
            registry.observed.retain(|observed| observed.id != self.id);
            if registry.observed.is_empty() {
                drop(registry);
                // The reader thread ends with the last watch. A read in
                // progress (perhaps the caller of this drop) ends it itself.
                if let Ok(mut reader) = READER.try_lock() {
                    reader.take();
                }
            }
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
            state: Arc::new(AtomicU8::new(IDLE)),
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

/// Samples every registered value whose experiment enables it, then adds
/// the failure counts. The closures run on a reader thread, outside
/// alamos's locks, so they may themselves use alamos; see the module doc for
/// what a read does with one that blocks or panics.
pub(crate) fn sample() -> Vec<Sampled> {
    let pending: Vec<(Sampled, Sample, Arc<AtomicU8>)> = registry()
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
                Arc::clone(&observed.state),
            )
        })
        .collect();
    let (sampled, jobs): (Vec<Sampled>, Vec<Job>) = pending
        .into_iter()
        .map(|(sampled, sample, state)| (sampled, Job { sample, state }))
        .unzip();
    let values = read(jobs);
    let mut out = Vec::with_capacity(sampled.len());
    for (mut sampled, value) in sampled.into_iter().zip(values) {
        match value {
            Ok(value) => {
                sampled.value = value;
                out.push(sampled);
            }
            Err(reason) => count_failure(&sampled, reason),
        }
    }
    out.extend(failures_sampled());
    out
}

/// Why a read left a value out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The closure ran past the timeout, in this read or an earlier one.
    Timeout,
    /// The closure panicked.
    Panic,
}

impl Failure {
    fn as_str(self) -> &'static str {
        match self {
            Failure::Timeout => "timeout",
            Failure::Panic => "panic",
        }
    }
}

/// One closure for a reader thread, and its watch's state.
struct Job {
    sample: Sample,
    state: Arc<AtomicU8>,
}

/// A reader thread: where closures go, and where their values come back
/// (`Err` for a panic).
struct Reader {
    jobs: mpsc::Sender<Job>,
    done: mpsc::Receiver<Result<f64, ()>>,
    /// When the thread started its current closure, in nanoseconds since
    /// [`epoch`]: the timeout counts from there, not from when the read
    /// sent it, so a thread slow to be scheduled does not drop a fast one.
    started: Arc<AtomicU64>,
}

/// What reader threads' start times count from.
fn epoch() -> std::time::Instant {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(std::time::Instant::now)
}

fn since_epoch() -> Duration {
    epoch().elapsed()
}

/// The reader thread of the reads, if one is running; a read holds the lock
/// throughout, so reads are serialized.
static READER: Mutex<Option<Reader>> = Mutex::new(None);

impl Reader {
    fn spawn() -> Option<Reader> {
        let (jobs, inbox) = mpsc::channel::<Job>();
        let (outbox, done) = mpsc::channel();
        let started = Arc::new(AtomicU64::new(0));
        let start_times = Arc::clone(&started);
        std::thread::Builder::new()
            .name("alamos-sample".into())
            .spawn(move || run_reader(&inbox, &outbox, &start_times))
            .ok()?;
        Some(Reader {
            jobs,
            done,
            started,
        })
    }
}

/// A reader thread's loop: runs each closure it is sent and sends its value
/// back, until the read that owns it drops it or abandons it to a closure.
fn run_reader(
    inbox: &mpsc::Receiver<Job>,
    outbox: &mpsc::Sender<Result<f64, ()>>,
    started: &AtomicU64,
) {
    while let Ok(Job { sample, state }) = inbox.recv() {
        let now = u64::try_from(since_epoch().as_nanos()).unwrap_or(u64::MAX);
        started.store(now, Ordering::Release);
        if state
            .compare_exchange(QUEUED, RUNNING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            // The read gave up before this thread got to it (starved):
            // later reads try the closure again, on another thread.
            state.store(IDLE, Ordering::Release);
            return;
        }
        let value = catch_unwind(AssertUnwindSafe(|| sample())).map_err(|payload| {
            // A payload whose drop panics must not end the thread.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
        });
        drop(sample);
        if state
            .compare_exchange(RUNNING, IDLE, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            // The read gave up on this closure and on this thread: the watch
            // may be read again, by the thread that replaced this one.
            state.store(IDLE, Ordering::Release);
            return;
        }
        if outbox.send(value).is_err() {
            return;
        }
    }
}

/// Runs each job's closure on the reader thread, waiting at most the
/// timeout for each; the values in order, or why each was left out.
fn read(jobs: Vec<Job>) -> Vec<Result<f64, Failure>> {
    let mut reader = READER.lock().unwrap_or_else(PoisonError::into_inner);
    if jobs.is_empty() {
        // Nothing is observed: the thread ends until something is.
        reader.take();
        return Vec::new();
    }
    let timeout = timeout();
    jobs.into_iter()
        .map(|job| read_one(&mut reader, job, timeout))
        .collect()
}

fn read_one(reader: &mut Option<Reader>, job: Job, timeout: Duration) -> Result<f64, Failure> {
    // Still running since an earlier read: skipped, and counted again.
    if job.state.load(Ordering::Acquire) == HUNG {
        return Err(Failure::Timeout);
    }
    let state = Arc::clone(&job.state);
    state.store(QUEUED, Ordering::Release);
    let mut job = Some(job);
    // A reader that ended since the last read (it cannot, but a channel can
    // say so) is replaced once.
    for _ in 0..2 {
        if reader.is_none() {
            *reader = Reader::spawn();
        }
        let Some(current) = reader.as_ref() else {
            break;
        };
        match current
            .jobs
            .send(job.take().unwrap_or_else(|| unreachable!()))
        {
            Ok(()) => return wait(reader, &state, timeout),
            Err(mpsc::SendError(unsent)) => {
                job = Some(unsent);
                reader.take();
            }
        }
    }
    // No thread could be started: run it here rather than lose it.
    state.store(IDLE, Ordering::Release);
    let job = job.unwrap_or_else(|| unreachable!());
    catch_unwind(AssertUnwindSafe(|| (job.sample)())).map_err(|_| Failure::Panic)
}

/// Waits for the value of the closure the reader was just sent: until it
/// has run for `timeout`, or, if the thread never starts it, ten times
/// that.
fn wait(reader: &mut Option<Reader>, state: &AtomicU8, timeout: Duration) -> Result<f64, Failure> {
    let Some(current) = reader.as_ref() else {
        return Err(Failure::Timeout);
    };
    let sent = since_epoch();
    let mut wait = timeout;
    loop {
        match current.done.recv_timeout(wait) {
            Ok(value) => return value.map_err(|()| Failure::Panic),
            Err(RecvTimeoutError::Disconnected) => {
                // The thread ended without answering (a panic that escaped).
                state.store(IDLE, Ordering::Release);
                reader.take();
                return Err(Failure::Panic);
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        let now = since_epoch();
        let (from, limit, expected) = match state.load(Ordering::Acquire) {
            QUEUED => (sent, timeout.saturating_mul(10), QUEUED),
            RUNNING => {
                let started = Duration::from_nanos(current.started.load(Ordering::Acquire));
                (started, timeout, RUNNING)
            }
            // It returned just now: the thread sends its value next.
            _ => {
                return if let Ok(value) = current.done.recv() {
                    value.map_err(|()| Failure::Panic)
                } else {
                    reader.take();
                    Err(Failure::Panic)
                };
            }
        };
        if let Some(left) = limit
            .checked_sub(now.saturating_sub(from))
            .filter(|left| !left.is_zero())
        {
            wait = left.max(Duration::from_millis(1));
            continue;
        }
        if state
            .compare_exchange(expected, HUNG, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            // The closure keeps this thread (or, never started, the thread
            // lets it go when it gets to it, and reads skip it until then);
            // the next read gets a new thread.
            reader.take();
            return Err(Failure::Timeout);
        }
        // The state moved on meanwhile (started, or returned): look again.
        wait = Duration::from_millis(1);
    }
}

/// How often reads left one observed value out for one reason.
struct FailureCount {
    key: String,
    name: &'static str,
    reason: Failure,
    count: u64,
    /// The counter of a facade recorder it is copied into, with that
    /// recorder's address.
    facade: Option<(usize, Counter)>,
}

/// Failure counts, kept after their watches drop: counters never go back.
/// One per experiment, name and reason ever left out.
static FAILURES: Mutex<Vec<FailureCount>> = Mutex::new(Vec::new());

fn failures() -> MutexGuard<'static, Vec<FailureCount>> {
    FAILURES.lock().unwrap_or_else(PoisonError::into_inner)
}

fn count_failure(sampled: &Sampled, reason: Failure) {
    let key = sampled
        .labels
        .first()
        .map_or("", |(_, experiment)| experiment.as_str());
    let mut failures = failures();
    if let Some(known) = failures
        .iter_mut()
        .find(|known| known.reason == reason && known.name == sampled.name && known.key == key)
    {
        known.count += 1;
        return;
    }
    failures.push(FailureCount {
        key: key.to_owned(),
        name: sampled.name,
        reason,
        count: 1,
        facade: None,
    });
}

fn failure_labels(failure: &FailureCount) -> Vec<(&'static str, String)> {
    vec![
        ("experiment", failure.key.clone()),
        ("name", failure.name.to_owned()),
        ("reason", failure.reason.as_str().to_owned()),
    ]
}

/// The failure counts as sampled counters.
#[allow(clippy::cast_precision_loss)]
fn failures_sampled() -> Vec<Sampled> {
    failures()
        .iter()
        .map(|failure| Sampled {
            id: 0,
            name: FAILURES_TOTAL,
            labels: failure_labels(failure)
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value))
                .collect(),
            help: Some(FAILURES_HELP),
            unit: None,
            kind: Kind::Counter,
            value: failure.count as f64,
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
        drop(registry);
        for failure in failures().iter_mut() {
            let counter = match &failure.facade {
                Some((at, counter)) if *at == address => counter,
                _ => {
                    target.describe(&Description {
                        name: FAILURES_TOTAL,
                        kind: Kind::Counter,
                        help: FAILURES_HELP,
                        unit: None,
                    });
                    let key = facade_key(FAILURES_TOTAL, &failure_labels(failure));
                    let counter = recorder.register_counter(&key, &metadata());
                    &failure.facade.insert((address, counter)).1
                }
            };
            counter.absolute(failure.count);
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

    fn readers() -> usize {
        std::fs::read_dir("/proc/self/task").map_or(0, |tasks| {
            tasks
                .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
                .filter(|comm| comm.trim_end() == "alamos-sample")
                .count()
        })
    }

    #[test]
    fn a_closure_that_hangs_holds_one_thread_and_is_skipped_until_it_returns() {
        let (release, hold) = mpsc::channel::<()>();
        let hold = Mutex::new(hold);
        let hung: Sample = Arc::new(move || {
            let _ = hold.lock().map(|hold| hold.recv());
            1.0
        });
        // Unwinds without the panic hook, whose backtrace (RUST_BACKTRACE)
        // could take longer than the timeout.
        let panics: Sample = Arc::new(|| std::panic::resume_unwind(Box::new(())));
        let fast: Sample = Arc::new(|| 2.0);
        let states: Vec<Arc<AtomicU8>> = (0..3).map(|_| Arc::new(AtomicU8::new(IDLE))).collect();
        let jobs = || {
            [&hung, &panics, &fast]
                .into_iter()
                .zip(&states)
                .map(|(sample, state)| Job {
                    sample: Arc::clone(sample),
                    state: Arc::clone(state),
                })
                .collect::<Vec<_>>()
        };
        for _ in 0..20 {
            let values = read(jobs());
            assert_eq!(values[0], Err(Failure::Timeout));
            assert_eq!(values[2], Ok(2.0));
            assert_eq!(values[1], Err(Failure::Panic));
            // One thread held by the hung closure and the one every read
            // shares (other tests' too).
            assert!(readers() <= 2, "{} reader threads", readers());
        }
        assert_eq!(states[0].load(Ordering::Acquire), HUNG);
        drop(release);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while states[0].load(Ordering::Acquire) == HUNG {
            assert!(std::time::Instant::now() < deadline, "never returned");
            std::thread::sleep(Duration::from_millis(5));
        }
        let values = read(jobs());
        assert_eq!((values[0], values[2]), (Ok(1.0), Ok(2.0)));
    }

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
