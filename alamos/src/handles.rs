//! Metric handles, registered once per callsite.
//!
//! Each instrumented function reports through six `metrics` handles. They are
//! registered against the process-wide recorder at the first enabled call and
//! cached in the callsite, so later calls touch no registry.
//!
//! A handle belongs to the recorder that issued it. The cache therefore
//! remembers which recorder that was and registers again when the program
//! installs a global recorder after the first call. A thread-local recorder
//! (`metrics::with_local_recorder`, common in tests) is never cached: calls
//! under one register per call, so each local recorder sees its own calls.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use metrics::{Counter, Gauge, Histogram, Key, Label, Recorder};

use crate::call::Outcome;

/// Counter of finished calls, labelled by `experiment`, `function`, `outcome`.
pub const CALLS_TOTAL: &str = "alamos_calls_total";
/// Histogram of call durations in seconds, labelled by `experiment`, `function`.
pub const CALL_DURATION_SECONDS: &str = "alamos_call_duration_seconds";
/// Gauge of calls in progress, labelled by `experiment`, `function`.
pub const CALLS_IN_FLIGHT: &str = "alamos_calls_in_flight";
/// Counter of calls whose `labels(...)` values were folded into the overflow
/// series because their function already had the maximum number of label
/// sets, labelled by `experiment`, `function`.
pub const LABEL_OVERFLOW_TOTAL: &str = "alamos_label_overflow_total";

/// The value every extra label takes in the overflow series.
pub const OVERFLOW_LABEL_VALUE: &str = "__overflow__";

/// The default for [`set_max_label_sets`].
pub const DEFAULT_MAX_LABEL_SETS: usize = 256;

static MAX_LABEL_SETS: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_LABEL_SETS);

/// Caps the label sets each instrumented function with `labels(...)` keeps;
/// calls with further sets are counted in one overflow series whose extra
/// labels read `__overflow__`, and in `alamos_label_overflow_total`.
///
/// Applies to label sets seen from now on.
pub fn set_max_label_sets(max: usize) {
    MAX_LABEL_SETS.store(max, Ordering::Relaxed);
}

/// What one callsite reports through: alamos's own storage when alamos's
/// recorder is the global one, else handles of whatever recorder is.
#[derive(Debug)]
pub(crate) enum Handles {
    Facade(Box<FacadeHandles>),
    #[cfg(feature = "runtime")]
    Native(crate::prometheus::NativeSeries),
}

#[derive(Debug)]
pub(crate) struct FacadeHandles {
    calls: [Counter; Outcome::ALL.len()],
    duration: Histogram,
    in_flight: Gauge,
}

impl Handles {
    fn register(recorder: &dyn Recorder, experiment: &'static str, function: &'static str) -> Self {
        Handles::register_with(recorder, experiment, function, &[])
    }

    fn register_with(
        recorder: &dyn Recorder,
        experiment: &'static str,
        function: &'static str,
        extra: &[Label],
    ) -> Self {
        #[cfg(feature = "runtime")]
        {
            let mut labels = vec![("experiment", experiment), ("function", function)];
            labels.extend(extra.iter().map(|label| (label.key(), label.value())));
            if let Some(series) =
                crate::prometheus::native_series(recorder_address(recorder), &labels)
            {
                return Handles::Native(series);
            }
        }
        let labels = || {
            let mut labels = vec![
                Label::from_static_parts("experiment", experiment),
                Label::from_static_parts("function", function),
            ];
            labels.extend_from_slice(extra);
            labels
        };
        let metadata = metrics::Metadata::new(module_path!(), metrics::Level::INFO, None);
        let calls = Outcome::ALL.map(|outcome| {
            let mut labels = labels();
            labels.push(Label::from_static_parts("outcome", outcome.as_str()));
            recorder.register_counter(&Key::from_parts(CALLS_TOTAL, labels), &metadata)
        });
        Handles::Facade(Box::new(FacadeHandles {
            calls,
            duration: recorder
                .register_histogram(&Key::from_parts(CALL_DURATION_SECONDS, labels()), &metadata),
            in_flight: recorder
                .register_gauge(&Key::from_parts(CALLS_IN_FLIGHT, labels()), &metadata),
        }))
    }

    /// A call started; what it returns lets [`Handles::finish_here`] skip
    /// looking up the thread's cells again.
    #[inline]
    pub(crate) fn start(&self) -> Started {
        match self {
            Handles::Facade(handles) => {
                handles.in_flight.increment(1.0);
                Started::default()
            }
            #[cfg(feature = "runtime")]
            Handles::Native(series) => Started {
                cells: series.start(),
            },
        }
    }

    /// A call finished with `outcome` after `nanos`, on any thread.
    #[inline]
    pub(crate) fn finish(&self, outcome: Outcome, nanos: u64) {
        match self {
            Handles::Facade(handles) => handles.finish(outcome, nanos),
            #[cfg(feature = "runtime")]
            Handles::Native(series) => series.finish(outcome, nanos),
        }
    }

    /// A call finished with `outcome` after `nanos`, on the thread where
    /// `start` returned `started`, before that thread exits.
    #[inline]
    pub(crate) fn finish_here(&self, started: Started, outcome: Outcome, nanos: u64) {
        #[cfg(not(feature = "runtime"))]
        let Started {} = started;
        match self {
            Handles::Facade(handles) => handles.finish(outcome, nanos),
            #[cfg(feature = "runtime")]
            Handles::Native(series) => match started.cells {
                // SAFETY: `started` comes from `start` on this thread, whose
                // cells live until it exits, which it has not.
                Some(cells) => unsafe { series.finish_local(cells, outcome, nanos) },
                None => series.finish(outcome, nanos),
            },
        }
    }
}

impl FacadeHandles {
    #[inline]
    fn finish(&self, outcome: Outcome, nanos: u64) {
        #[allow(clippy::cast_precision_loss)]
        self.duration.record(nanos as f64 / 1e9);
        self.in_flight.decrement(1.0);
        self.calls[outcome as usize].increment(1);
    }
}

/// What starting a call leaves for finishing it on the same thread.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Started {
    /// The calling thread's cells of the series, with alamos's recorder.
    #[cfg(feature = "runtime")]
    cells: Option<crate::prometheus::LocalCells>,
}

/// Handles of one callsite, either cached for the process, shared by the calls
/// with one label set, or owned by one call.
#[derive(Debug)]
pub(crate) enum HandlesRef {
    Cached(&'static Handles),
    Shared(Arc<Handles>),
    Owned(Box<Handles>),
}

impl std::ops::Deref for HandlesRef {
    type Target = Handles;
    fn deref(&self) -> &Handles {
        match self {
            HandlesRef::Cached(handles) => handles,
            HandlesRef::Shared(handles) => handles,
            HandlesRef::Owned(handles) => handles,
        }
    }
}

struct Cached {
    recorder: usize,
    handles: Handles,
}

/// A callsite's cached handles and the recorder they came from.
pub(crate) struct HandleCache(AtomicPtr<Cached>);

impl HandleCache {
    pub(crate) const fn new() -> Self {
        HandleCache(AtomicPtr::new(ptr::null_mut()))
    }

    #[inline]
    pub(crate) fn get(&self, experiment: &'static str, function: &'static str) -> HandlesRef {
        // Only the address is taken under `with_recorder`, so that its
        // thread-local access inlines here; `refresh` asks again.
        let address = metrics::with_recorder(recorder_address);
        let cached = self.0.load(Ordering::Acquire);
        // SAFETY: a non-null pointer was published by `refresh` from a
        // leaked box, which is never freed.
        match unsafe { cached.as_ref() } {
            Some(cached) if cached.recorder == address => HandlesRef::Cached(&cached.handles),
            _ => metrics::with_recorder(|recorder| {
                self.refresh(recorder, recorder_address(recorder), experiment, function)
            }),
        }
    }

    #[cold]
    #[inline(never)]
    fn refresh(
        &self,
        recorder: &dyn Recorder,
        address: usize,
        experiment: &'static str,
        function: &'static str,
    ) -> HandlesRef {
        let handles = Handles::register(recorder, experiment, function);
        if !is_global(address) {
            return HandlesRef::Owned(Box::new(handles));
        }
        // Leaked on purpose: calls in progress may still hold the previous
        // handles. A callsite caches at most twice (the no-op recorder, then
        // the global one, which is set once), so the leak is bounded.
        let cached = Box::leak(Box::new(Cached {
            recorder: address,
            handles,
        }));
        self.0.store(cached, Ordering::Release);
        HandlesRef::Cached(&cached.handles)
    }
}

#[inline]
pub(crate) fn recorder_address(recorder: &dyn Recorder) -> usize {
    ptr::from_ref(recorder).cast::<()>() as usize
}

/// The address of the recorder a thread without a local recorder sees.
static GLOBAL_RECORDER: AtomicUsize = AtomicUsize::new(0);

/// Whether `address` is the global recorder (or the no-op stand-in used while
/// there is none) rather than a thread-local one.
fn is_global(address: usize) -> bool {
    GLOBAL_RECORDER.load(Ordering::Relaxed) == address || global_recorder_address() == Some(address)
}

/// The address of the global recorder, as a thread without a local one sees it.
pub(crate) fn global_recorder_address() -> Option<usize> {
    // `metrics` offers no way to look past a thread-local recorder, so ask a
    // fresh thread, which has none. This runs only when the recorder changed.
    let global = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("alamos-recorder-probe".into())
            .spawn_scoped(scope, || metrics::with_recorder(recorder_address))
            .ok()
            .and_then(|probe| probe.join().ok())
    })?;
    GLOBAL_RECORDER.store(global, Ordering::Relaxed);
    Some(global)
}

/// The handles of a callsite with `labels(...)`, one entry per label set seen,
/// up to the cap, plus the overflow series.
pub(crate) struct LabelSets {
    names: &'static [&'static str],
    state: RwLock<LabelState>,
}

struct LabelState {
    recorder: usize,
    sets: BTreeMap<Vec<String>, Arc<Handles>>,
    overflow: Option<Overflow>,
}

/// The series every label set past the cap folds into, and the counter of
/// calls that did.
struct Overflow {
    handles: Arc<Handles>,
    calls: Counter,
}

impl Overflow {
    /// Counts one more overflowing call and hands out the overflow series.
    fn hit(&self) -> HandlesRef {
        self.calls.increment(1);
        HandlesRef::Shared(Arc::clone(&self.handles))
    }
}

impl LabelSets {
    pub(crate) const fn new(names: &'static [&'static str]) -> Self {
        LabelSets {
            names,
            state: RwLock::new(LabelState {
                recorder: 0,
                sets: BTreeMap::new(),
                overflow: None,
            }),
        }
    }

    pub(crate) fn names(&self) -> &'static [&'static str] {
        self.names
    }

    pub(crate) fn get(
        &self,
        experiment: &'static str,
        function: &'static str,
        values: &[&dyn Display],
    ) -> HandlesRef {
        let values: Vec<String> = values.iter().map(ToString::to_string).collect();
        metrics::with_recorder(|recorder| {
            let address = recorder_address(recorder);
            if address != GLOBAL_RECORDER.load(Ordering::Relaxed) && !is_global(address) {
                let labels = self.labels(&values);
                return HandlesRef::Owned(Box::new(Handles::register_with(
                    recorder, experiment, function, &labels,
                )));
            }
            {
                let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
                if state.recorder == address {
                    if let Some(handles) = state.sets.get(&values) {
                        return HandlesRef::Shared(Arc::clone(handles));
                    }
                    // Past the cap, every new label set overflows: no need
                    // to wait for the write lock.
                    if let Some(overflow) = &state.overflow {
                        if state.sets.len() >= MAX_LABEL_SETS.load(Ordering::Relaxed) {
                            return overflow.hit();
                        }
                    }
                }
            }
            let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
            if state.recorder != address {
                state.recorder = address;
                state.sets.clear();
                state.overflow = None;
            }
            if let Some(handles) = state.sets.get(&values) {
                return HandlesRef::Shared(Arc::clone(handles));
            }
            if state.sets.len() < MAX_LABEL_SETS.load(Ordering::Relaxed) {
                let labels = self.labels(&values);
                let handles = Arc::new(Handles::register_with(
                    recorder, experiment, function, &labels,
                ));
                state.sets.insert(values, Arc::clone(&handles));
                return HandlesRef::Shared(handles);
            }
            let overflow = state.overflow.get_or_insert_with(|| {
                let labels: Vec<Label> = self
                    .names
                    .iter()
                    .map(|name| Label::from_static_parts(name, OVERFLOW_LABEL_VALUE))
                    .collect();
                let counter_labels = vec![
                    Label::from_static_parts("experiment", experiment),
                    Label::from_static_parts("function", function),
                ];
                let metadata = metrics::Metadata::new(module_path!(), metrics::Level::INFO, None);
                Overflow {
                    handles: Arc::new(Handles::register_with(
                        recorder, experiment, function, &labels,
                    )),
                    calls: recorder.register_counter(
                        &Key::from_parts(LABEL_OVERFLOW_TOTAL, counter_labels),
                        &metadata,
                    ),
                }
            });
            overflow.hit()
        })
    }

    fn labels(&self, values: &[String]) -> Vec<Label> {
        self.names
            .iter()
            .zip(values)
            .map(|(name, value)| Label::new(*name, value.clone()))
            .collect()
    }
}
