//! Callsites: the per-annotation statics that generated code checks.
//!
//! Every annotated function and every log macro owns one `static` callsite,
//! built by a `const fn` and listed in a link-time registry (a `linkme`
//! distributed slice), so the experiment tree knows every key before the first
//! call. A callsite caches whether it is enabled in one atomic byte: the
//! disabled path is a relaxed load and a branch. The tree rewrites the byte of
//! every affected callsite when a threshold changes.

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::handles::{HandleCache, LabelSets};
use crate::level::Level;
use crate::tree;

const UNREGISTERED: u8 = 0;
const DISABLED: u8 = 1;
const ENABLED: u8 = 2;

/// The cached enabled state shared by both kinds of callsite.
pub(crate) struct Interest(AtomicU8);

impl Interest {
    const fn new() -> Self {
        Interest(AtomicU8::new(UNREGISTERED))
    }

    #[inline(always)]
    fn is_enabled(&self, gate: &'static dyn Gate) -> bool {
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

#[cold]
#[inline(never)]
fn register(gate: &'static dyn Gate) -> bool {
    tree::register(gate);
    gate.interest().0.load(Ordering::Relaxed) == ENABLED
}

/// What the tree needs to know of a callsite.
pub(crate) trait Gate: Sync {
    fn experiment(&self) -> &'static str;
    fn level(&self) -> Level;
    fn interest(&self) -> &Interest;
    fn as_fn(&self) -> Option<&FnCallsite> {
        None
    }
}

/// The callsite of an instrumented function.
#[doc(hidden)]
pub struct FnCallsite {
    interest: Interest,
    experiment: &'static str,
    function: &'static str,
    level: Level,
    pub(crate) handles: HandleCache,
    pub(crate) label_sets: LabelSets,
}

impl FnCallsite {
    /// Used by generated code only.
    pub const fn new(experiment: &'static str, function: &'static str, level: Level) -> Self {
        FnCallsite::with_labels(experiment, function, level, &[])
    }

    /// Used by generated code only: a callsite with `labels(...)`.
    pub const fn with_labels(
        experiment: &'static str,
        function: &'static str,
        level: Level,
        labels: &'static [&'static str],
    ) -> Self {
        FnCallsite {
            interest: Interest::new(),
            experiment,
            function,
            level,
            handles: HandleCache::new(),
            label_sets: LabelSets::new(labels),
        }
    }

    /// Whether calls through this callsite are instrumented right now.
    #[inline(always)]
    pub fn is_enabled(&'static self) -> bool {
        self.interest.is_enabled(self)
    }

    /// The experiment key.
    pub fn experiment(&self) -> &'static str {
        self.experiment
    }

    /// Registers this callsite's metric handles now rather than at its first
    /// call, so its series exist from start-up.
    pub(crate) fn preregister(&self) {
        // A labelled callsite's series depend on values only calls provide.
        if self.label_sets.names().is_empty() {
            drop(self.handles.get(self.experiment, self.function));
        }
    }

    /// The `function` label: `Type::method` or the fn name.
    pub fn function(&self) -> &'static str {
        self.function
    }

    /// The callsite's level.
    pub fn level(&self) -> Level {
        self.level
    }
}

impl Gate for FnCallsite {
    fn experiment(&self) -> &'static str {
        self.experiment
    }
    fn level(&self) -> Level {
        self.level
    }
    fn interest(&self) -> &Interest {
        &self.interest
    }
    fn as_fn(&self) -> Option<&FnCallsite> {
        Some(self)
    }
}

impl fmt::Debug for FnCallsite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnCallsite")
            .field("experiment", &self.experiment)
            .field("function", &self.function)
            .field("level", &self.level)
            .finish_non_exhaustive()
    }
}

/// The callsite of a log macro.
///
/// The experiment is found through the scope of the enclosing instrumented
/// function, which the key cannot be named in a `const` from, hence the fn.
#[doc(hidden)]
pub struct LogCallsite {
    interest: Interest,
    experiment: fn() -> &'static str,
    level: Level,
}

impl LogCallsite {
    /// Used by generated code only.
    pub const fn new(level: Level, experiment: fn() -> &'static str) -> Self {
        LogCallsite {
            interest: Interest::new(),
            experiment,
            level,
        }
    }

    /// Whether this log statement is emitted right now.
    #[inline(always)]
    pub fn is_enabled(&'static self) -> bool {
        self.interest.is_enabled(self)
    }

    /// The key of the enclosing experiment; empty for the root.
    pub fn experiment(&self) -> &'static str {
        (self.experiment)()
    }
}

impl Gate for LogCallsite {
    fn experiment(&self) -> &'static str {
        (self.experiment)()
    }
    fn level(&self) -> Level {
        self.level
    }
    fn interest(&self) -> &Interest {
        &self.interest
    }
}

impl fmt::Debug for LogCallsite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogCallsite")
            .field("experiment", &self.experiment())
            .field("level", &self.level)
            .finish_non_exhaustive()
    }
}

/// Every instrumented function in the binary, collected at link time.
#[doc(hidden)]
#[linkme::distributed_slice]
pub static FN_CALLSITES: [&'static FnCallsite];

/// Every log macro in the binary, collected at link time.
#[doc(hidden)]
#[linkme::distributed_slice]
pub static LOG_CALLSITES: [&'static LogCallsite];
