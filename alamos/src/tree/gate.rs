//! Gates: what the tree knows of a callsite, and the cached state it writes.
//!
//! Every callsite (an instrumented function, a log macro, an instrument) is a
//! `static` that implements [`Gate`] and is listed in the link-time registry
//! `GATES`, so the tree knows every key before the first call. A gate
//! caches whether it is enabled in one atomic byte, [`Interest`]: the
//! disabled path of a callsite is a relaxed load and a branch. The tree
//! rewrites the byte of every affected gate when a threshold changes.
//!
//! The tree knows gates only through this trait; what a callsite does once
//! enabled (spans, metrics) belongs to the layers above.

use std::any::Any;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::level::Level;
use crate::sampling::SampleRate;

const UNREGISTERED: u8 = 0;
const DISABLED: u8 = 1;
const ENABLED: u8 = 2;

/// The cached enabled state of one gate.
#[doc(hidden)]
pub struct Interest(AtomicU8);

impl Interest {
    /// Not yet known: the first check registers the gate.
    pub const fn new() -> Self {
        Interest(AtomicU8::new(UNREGISTERED))
    }

    /// Whether the gate is enabled, registering it with the tree at its
    /// first check if the link-time registry did not list it.
    #[inline(always)]
    pub fn is_enabled(&self, gate: &'static dyn Gate) -> bool {
        match self.0.load(Ordering::Relaxed) {
            ENABLED => true,
            DISABLED => false,
            _ => register(gate),
        }
    }

    pub(crate) fn set(&self, enabled: bool) {
        self.0
            .store(if enabled { ENABLED } else { DISABLED }, Ordering::Relaxed);
    }

    pub(crate) fn is_registered(&self) -> bool {
        self.0.load(Ordering::Relaxed) != UNREGISTERED
    }
}

impl Default for Interest {
    fn default() -> Self {
        Interest::new()
    }
}

impl std::fmt::Debug for Interest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.0.load(Ordering::Relaxed) {
            ENABLED => "enabled",
            DISABLED => "disabled",
            _ => "unregistered",
        };
        f.write_str(state)
    }
}

#[cold]
#[inline(never)]
fn register(gate: &'static dyn Gate) -> bool {
    super::register(gate);
    gate.interest().0.load(Ordering::Relaxed) == ENABLED
}

/// What the tree needs to know of a callsite.
#[doc(hidden)]
pub trait Gate: Sync {
    /// The experiment key; empty for the root.
    fn experiment(&self) -> &'static str;
    /// The level the gate is enabled at or above.
    fn level(&self) -> Level;
    /// Where its enabled state is cached.
    fn interest(&self) -> &Interest;
    /// Whether the gate names its experiment for [`experiments`]: a log macro
    /// outside any experiment belongs to the root without naming it.
    ///
    /// [`experiments`]: crate::experiments
    fn names_experiment(&self) -> bool {
        true
    }
    /// Called after a change of thresholds (or an exporter's start) left the
    /// gate enabled, so a callsite can create its series at zero.
    fn enabled(&self) {}
    /// Where a callsite that starts traces caches its root probability
    /// (instrumented functions); `None` for the others.
    fn trace_sample(&self) -> Option<&SampleRate> {
        None
    }
    /// The callsite itself, for the layers above that list callsites of
    /// their own kind.
    fn as_any(&self) -> &dyn Any;
}

/// Every callsite in the binary, collected at link time.
#[doc(hidden)]
#[linkme::distributed_slice]
pub static GATES: [&'static dyn Gate];
