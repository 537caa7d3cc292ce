//! What the macros' expansions name. Not public API: nothing here follows
//! semver, and it may change in any release.

pub use linkme;
pub use tracing;

pub use crate::call::{
    CallFuture, ErrOfOther, ErrOfResult, FnCall, IsErrOther, IsErrResult, Observe,
};
pub use crate::callsite::{FnCallsite, LogCallsite, FN_CALLSITES, LOG_CALLSITES};

/// The receiver through which a log macro finds its experiment.
///
/// An instrumented function that may contain log macros declares a local trait
/// with a by-value `__alamos_experiment` method for `Scope`. Method lookup
/// prefers that over this inherent by-reference method, so inside the function
/// the log macros see its key, and everywhere else the root's.
#[derive(Clone, Copy, Debug)]
pub struct Scope;

impl Scope {
    /// The root experiment, for log macros outside instrumented functions.
    #[inline(always)]
    pub fn __alamos_experiment(&self) -> &'static str {
        crate::key::ROOT
    }
}
