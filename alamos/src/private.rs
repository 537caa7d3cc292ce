//! What the macros' expansions name, and hooks for alamos's own tests,
//! benchmarks and fuzz targets. Not public API: nothing here follows semver,
//! and it may change in any release.

pub use linkme;
/// For the label values of an `async fn`, computed before its arguments move
/// into the future: generated code names `::alamos` and `::core` paths only,
/// and `String` is not in `core`.
pub use std::string::{String, ToString};
pub use tracing;

pub use crate::call::{call_once, CallFuture, CallSlot, CallStart, FnCall, HiddenExits, Returns};
pub use crate::callsite::{FnCallsite, Location, LogCallsite};
pub use crate::classify::{
    debug, display, ErrOfOther, ErrOfResult, IsErrOther, IsErrResult, Observe, OkOfOther,
    OkOfResult, RecordDebug, RecordDisplay, ReturnsOther, ReturnsResult,
};
/// The `ALAMOS_LEVEL` grammar, for the fuzzer and the property tests.
pub use crate::directive::{parse_directives, Directive, Directives};
pub use crate::metric::instrument::{ExperimentOf, InstrumentCallsite, InstrumentSpec};
pub use crate::metric::name::{Kind, Unit};
/// `Builder::max_label_sets` without installing a recorder, for the tests
/// that cap label sets under a recorder of their own.
pub use crate::metric::sink::set_max_label_sets;
pub use crate::tree::{Gate, GATES};

/// The receiver through which a log macro finds its experiment.
///
/// A log macro calls `__alamos_experiment` on `&&&&&&&&Scope`. An
/// instrumented function that may contain log macros declares a local trait
/// with that method for `&Scope`, or one more reference for each instrumented
/// item around it. Method lookup tries the receiver with the most references
/// first, so the innermost function wins; outside any, lookup reaches this
/// inherent method on `Scope` itself: the root experiment.
#[derive(Clone, Copy, Debug)]
pub struct Scope;

impl Scope {
    /// The root experiment, for log macros outside instrumented functions.
    #[inline(always)]
    pub fn __alamos_experiment(self) -> &'static str {
        crate::key::ROOT
    }
}

/// Parses an HTTP request head the way the `/metrics` endpoint does; for the
/// fuzzer. Returns whether the head was accepted.
#[cfg(feature = "runtime")]
pub fn fuzz_http_request_head(head: &[u8]) -> bool {
    crate::http::parse_head(head).is_ok()
}

/// How many threads alamos started, from the current thread, to find the
/// global `metrics` recorder; for the tests that check no instrumented call
/// starts one.
pub fn recorder_probes() -> usize {
    crate::metric::sink::probes()
}

/// Sets how old a bucket's exemplar gets before a call landing there may
/// replace it (default 1 s); for the benchmark that measures a capture.
#[cfg(feature = "otel")]
pub fn set_exemplar_interval(interval: std::time::Duration) {
    if let Some(store) = crate::metric::store::existing() {
        store.set_exemplar_interval(interval);
    }
}

/// Seeds this thread's generator of root trace decisions, so a test sees
/// the same decisions on every run.
pub fn seed_trace_sampling(seed: u64) {
    crate::sampling::seed_thread(seed);
}

/// Applies a `PUT /alamos/levels` body as the admin endpoint does, for the
/// fuzzer: the response's status code and body.
#[cfg(feature = "runtime")]
pub fn fuzz_admin_put_levels(body: &[u8]) -> (u16, String) {
    let response = crate::admin::put_levels(body);
    let code = response.status.line().split(' ').next().unwrap_or("0");
    (
        code.parse().unwrap_or(0),
        String::from_utf8_lossy(&response.body).into_owned(),
    )
}

/// The directives in force, as `GET /alamos/levels` reports them; for the
/// fuzzer.
#[cfg(feature = "runtime")]
pub fn fuzz_admin_directives() -> String {
    crate::tree::spec()
}
