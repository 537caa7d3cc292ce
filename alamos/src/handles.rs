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

use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use metrics::{Counter, Gauge, Histogram, Key, Label, Recorder};

use crate::call::Outcome;

/// Counter of finished calls, labelled by `experiment`, `function`, `outcome`.
pub const CALLS_TOTAL: &str = "alamos_calls_total";
/// Histogram of call durations in seconds, labelled by `experiment`, `function`.
pub const CALL_DURATION_SECONDS: &str = "alamos_call_duration_seconds";
/// Gauge of calls in progress, labelled by `experiment`, `function`.
pub const CALLS_IN_FLIGHT: &str = "alamos_calls_in_flight";

/// The handles one callsite reports through.
#[derive(Debug)]
pub(crate) struct Handles {
    calls: [Counter; Outcome::ALL.len()],
    pub(crate) duration: Histogram,
    pub(crate) in_flight: Gauge,
}

impl Handles {
    fn register(recorder: &dyn Recorder, experiment: &'static str, function: &'static str) -> Self {
        let labels = || {
            vec![
                Label::from_static_parts("experiment", experiment),
                Label::from_static_parts("function", function),
            ]
        };
        let metadata = metrics::Metadata::new(module_path!(), metrics::Level::INFO, None);
        let calls = Outcome::ALL.map(|outcome| {
            let mut labels = labels();
            labels.push(Label::from_static_parts("outcome", outcome.as_str()));
            recorder.register_counter(&Key::from_parts(CALLS_TOTAL, labels), &metadata)
        });
        Handles {
            calls,
            duration: recorder.register_histogram(
                &Key::from_parts(CALL_DURATION_SECONDS, labels()),
                &metadata,
            ),
            in_flight: recorder.register_gauge(
                &Key::from_parts(CALLS_IN_FLIGHT, labels()),
                &metadata,
            ),
        }
    }

    pub(crate) fn calls(&self, outcome: Outcome) -> &Counter {
        &self.calls[outcome as usize]
    }
}

/// Handles of one callsite, either cached for the process or owned by one call.
#[derive(Debug)]
pub(crate) enum HandlesRef {
    Cached(&'static Handles),
    Owned(Box<Handles>),
}

impl std::ops::Deref for HandlesRef {
    type Target = Handles;
    fn deref(&self) -> &Handles {
        match self {
            HandlesRef::Cached(handles) => handles,
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
        metrics::with_recorder(|recorder| {
            let address = recorder_address(recorder);
            let cached = self.0.load(Ordering::Acquire);
            // SAFETY: a non-null pointer was published by `refresh` from a
            // leaked box, which is never freed.
            match unsafe { cached.as_ref() } {
                Some(cached) if cached.recorder == address => HandlesRef::Cached(&cached.handles),
                _ => self.refresh(recorder, address, experiment, function),
            }
        })
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

fn recorder_address(recorder: &dyn Recorder) -> usize {
    ptr::from_ref(recorder).cast::<()>() as usize
}

/// The address of the recorder a thread without a local recorder sees.
static GLOBAL_RECORDER: AtomicUsize = AtomicUsize::new(0);

/// Whether `address` is the global recorder (or the no-op stand-in used while
/// there is none) rather than a thread-local one.
fn is_global(address: usize) -> bool {
    if GLOBAL_RECORDER.load(Ordering::Relaxed) == address {
        return true;
    }
    // `metrics` offers no way to look past a thread-local recorder, so ask a
    // fresh thread, which has none. This runs only when the recorder changed.
    let global = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("alamos-recorder-probe".into())
            .spawn_scoped(scope, || metrics::with_recorder(recorder_address))
            .ok()
            .and_then(|probe| probe.join().ok())
    });
    match global {
        Some(global) => {
            GLOBAL_RECORDER.store(global, Ordering::Relaxed);
            global == address
        }
        None => false,
    }
}
