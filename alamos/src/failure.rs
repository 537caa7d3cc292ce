//! Every failure has a trace: an untraced root call that ends in `error` or
//! `panic` is handed to the span exporter anyway (feature `otel`).
//!
//! A call is untraced when its root drew so (`ALAMOS_TRACE_SAMPLE` below 1):
//! it has no span, and `propagate` inside it writes the ids its decision
//! stands for, not sampled (see `sampling`). When such a root fails, the
//! trace of that failure would be lost; so the end of the call, in its
//! error branch only, hands the exporter what a span needs, and the
//! exporter (`otel`'s pipeline, which installs itself here while it runs)
//! exports one span with the ids `propagate` wrote, the call's true start
//! and end, and its error. Children of an untraced root are not exported
//! on their own: the root's span stands for the trace. A request through
//! the `tower` layers (or the `reqwest` middleware) that starts its trace
//! untraced and fails (a 5xx, a gRPC error, an error from the service) is
//! exported the same way; it keeps its site for that, beside its decision.
//!
//! # At no cost to a call that succeeds
//!
//! Nothing is added to the call's state or to its path when it succeeds:
//!
//! - the callsite is found from the span the call has anyway: an untraced
//!   root's span is disabled but keeps its callsite's metadata (one word
//!   written either way), and [`callsite_of`] maps that metadata back to
//!   the callsite, through a table built at the first failure;
//! - whether a synchronous call is a root is the decision it restores as
//!   it ends (none: a root), read only after it failed; an `async` call's
//!   span keeps the metadata only when it is an untraced root, whose start
//!   is out of line (`CallStart::untraced_root`, where roots already drew),
//!   so the inherited path is unchanged; a request keeps its site beside
//!   its decision;
//! - the decision itself is the one in scope when the call ends (its own);
//!   only an untraced one has ids to export.
//!
//! Without an exporter installed, the error branch reads one atomic flag.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use tracing::{Metadata, Span};

use crate::callsite::FnCallsite;
use crate::level::Level;
use crate::metric::outcome::Outcome;
use crate::sampling;
use crate::tree::{Gate, GATES};

/// An untraced root call that failed: what its span is made of.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) origin: Origin,
    /// `Error` or `Panic`.
    pub(crate) outcome: Outcome,
    pub(crate) start: SystemTime,
    pub(crate) end: SystemTime,
    /// The ids the call's decision stands for (`Trace::untraced_ids`):
    /// what `propagate` wrote inside it.
    pub(crate) trace_id: [u8; 16],
    pub(crate) span_id: [u8; 8],
}

/// What failed.
#[derive(Debug)]
pub(crate) enum Origin {
    /// A call of an instrumented function.
    Call(&'static FnCallsite),
    /// A request through a `tower` layer or the `reqwest` middleware.
    #[cfg_attr(not(feature = "tower"), allow(dead_code))]
    Request(Request),
}

/// A request that failed, named as its span would be.
#[derive(Debug)]
#[cfg_attr(not(feature = "tower"), allow(dead_code))]
pub(crate) struct Request {
    /// The layer's key: the experiment.
    pub(crate) experiment: &'static str,
    pub(crate) route: &'static str,
    pub(crate) level: Level,
    /// A server's request (else a client's).
    pub(crate) server: bool,
    /// The request's method, as the semantic conventions name it (`_OTHER`
    /// for one HTTP does not define).
    pub(crate) method: &'static str,
    /// The response's status code, when it failed by it (a 5xx).
    pub(crate) status: Option<u16>,
    /// gRPC's `grpc-status`, when the response failed by it (not 0).
    pub(crate) grpc_status: Option<i64>,
}

/// What an exporter installs: called on the failing call's thread, while
/// it ends (unwinding, for a panic), so it must not panic nor block.
pub(crate) type Sink = Arc<dyn Fn(&Failure) + Send + Sync>;

/// Whether a sink is installed: the only thing a failure reads otherwise.
static INSTALLED: AtomicBool = AtomicBool::new(false);
/// The installed sink and its installation's number.
static SINK: RwLock<Option<(u64, Sink)>> = RwLock::new(None);
static INSTALLATIONS: AtomicU64 = AtomicU64::new(1);

/// An installed sink; [`Installed::remove`] takes it out, unless another
/// was installed since.
#[derive(Debug)]
pub(crate) struct Installed(u64);

/// Makes `sink` the one failures go to, replacing any other.
pub(crate) fn install(sink: Sink) -> Installed {
    let id = INSTALLATIONS.fetch_add(1, Ordering::Relaxed);
    *SINK.write().unwrap_or_else(PoisonError::into_inner) = Some((id, sink));
    INSTALLED.store(true, Ordering::Release);
    Installed(id)
}

impl Installed {
    /// Failures go nowhere from now on, if this is still the sink.
    pub(crate) fn remove(&self) {
        let mut sink = SINK.write().unwrap_or_else(PoisonError::into_inner);
        if sink.as_ref().is_some_and(|(id, _)| *id == self.0) {
            *sink = None;
            INSTALLED.store(false, Ordering::Release);
        }
    }
}

/// A call whose span is `span` failed with `outcome` after `nanos`; it is a
/// root (the caller knows). Exported if it is untraced, its span names its
/// callsite and an exporter is installed. Out of line and cold: only the
/// error branch of a call's end comes here.
#[cold]
#[inline(never)]
pub(crate) fn root_failed(span: &Span, outcome: Outcome, nanos: u64) {
    if !INSTALLED.load(Ordering::Acquire) {
        return;
    }
    if let Some(failure) = failure_of(span, outcome, nanos, callsite_of) {
        send(&failure);
    }
}

/// What is exported of a root whose span is `span` that failed with
/// `outcome` after `nanos`: `None` unless the decision in scope (the call's
/// own, as it ends) is untraced and `callsite` finds the callsite `span`
/// names.
fn failure_of(
    span: &Span,
    outcome: Outcome,
    nanos: u64,
    callsite: impl FnOnce(&'static Metadata<'static>) -> Option<&'static FnCallsite>,
) -> Option<Failure> {
    let (trace_id, span_id) = sampling::current().untraced_ids()?;
    let callsite = span.metadata().and_then(callsite)?;
    let (start, end) = times(nanos);
    Some(Failure {
        origin: Origin::Call(callsite),
        outcome,
        start,
        end,
        trace_id,
        span_id,
    })
}

/// A request whose decision was `trace`, a root's, failed after `nanos`
/// (its response said so, or it returned an error): exported if it is
/// untraced and an exporter is installed. Out of line and cold, as
/// [`root_failed`].
#[cfg(feature = "tower")]
#[cold]
#[inline(never)]
pub(crate) fn request_failed(trace: sampling::Trace, request: Request, nanos: u64) {
    if !INSTALLED.load(Ordering::Acquire) {
        return;
    }
    let Some((trace_id, span_id)) = trace.untraced_ids() else {
        return;
    };
    let (start, end) = times(nanos);
    send(&Failure {
        origin: Origin::Request(request),
        outcome: Outcome::Error,
        start,
        end,
        trace_id,
        span_id,
    });
}

/// The true start and end of a call that ends now after `nanos`.
fn times(nanos: u64) -> (SystemTime, SystemTime) {
    let end = SystemTime::now();
    let start = end.checked_sub(Duration::from_nanos(nanos)).unwrap_or(end);
    (start, end)
}

/// Hands `failure` to the installed sink, if any.
fn send(failure: &Failure) {
    let sink = SINK
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .map(|(_, sink)| Arc::clone(sink));
    if let Some(sink) = sink {
        sink(failure);
    }
}

/// The instrumented function whose span metadata is `metadata`; `None` for
/// any other metadata (a span of a function with fields of its own, made by
/// `tracing::span!`, is never an untraced call's).
fn callsite_of(metadata: &'static Metadata<'static>) -> Option<&'static FnCallsite> {
    static BY_METADATA: OnceLock<HashMap<usize, &'static FnCallsite>> = OnceLock::new();
    BY_METADATA
        .get_or_init(|| by_metadata(GATES.iter().copied()))
        .get(&address(metadata))
        .copied()
}

/// The instrumented functions among `gates`, by their span metadata's
/// address.
fn by_metadata(
    gates: impl Iterator<Item = &'static dyn Gate>,
) -> HashMap<usize, &'static FnCallsite> {
    gates
        .filter_map(|gate| gate.as_any().downcast_ref::<FnCallsite>())
        .map(|callsite| (address(callsite.span_metadata()), callsite))
        .collect()
}

fn address(metadata: &'static Metadata<'static>) -> usize {
    std::ptr::from_ref(metadata) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::callsite::Location;
    use crate::sampling::Trace;

    static FAILS: FnCallsite = FnCallsite::new(
        &FAILS,
        "failure_test",
        "fails",
        Level::Prod,
        Location {
            span_name: "failure_test.fails",
            module_path: module_path!(),
            file: file!(),
            line: line!(),
        },
    );
    static OTHER: FnCallsite = FnCallsite::new(
        &OTHER,
        "failure_test",
        "other",
        Level::Debug,
        Location {
            span_name: "failure_test.other",
            module_path: module_path!(),
            file: file!(),
            line: line!(),
        },
    );

    fn found(metadata: &'static Metadata<'static>) -> Option<&'static FnCallsite> {
        by_metadata([&FAILS as &'static dyn Gate].into_iter())
            .get(&address(metadata))
            .copied()
    }

    #[test]
    fn a_callsite_is_found_by_its_span_metadata_only() {
        assert!(std::ptr::eq(found(FAILS.span_metadata()).unwrap(), &FAILS));
        assert!(
            found(OTHER.span_metadata()).is_none(),
            "not among the gates"
        );
    }

    #[test]
    fn an_untraced_root_naming_its_callsite_is_exported() {
        let untraced = Trace::untraced(0x5eed);
        let (trace_id, span_id) = untraced.untraced_ids().unwrap();
        let failure = {
            let _scope = untraced.scope();
            failure_of(&FAILS.spanless(), Outcome::Panic, 7_000_000, found)
        }
        .expect("exported");
        assert!(matches!(failure.origin, Origin::Call(callsite) if std::ptr::eq(callsite, &FAILS)));
        assert_eq!(failure.outcome, Outcome::Panic);
        assert_eq!((failure.trace_id, failure.span_id), (trace_id, span_id));
        assert_eq!(
            failure.end.duration_since(failure.start).unwrap(),
            Duration::from_millis(7)
        );
        assert!(failure.end <= SystemTime::now());
    }

    #[test]
    fn anything_else_is_not() {
        let spanless = FAILS.spanless();
        // No decision in scope, or a traced one: nothing to export.
        assert!(failure_of(&spanless, Outcome::Error, 1, found).is_none());
        {
            let _scope = Trace::TRACED.scope();
            assert!(failure_of(&spanless, Outcome::Error, 1, found).is_none());
        }
        // Untraced, but no callsite named (a child), or one not known.
        let _scope = Trace::untraced(9).scope();
        assert!(failure_of(&Span::none(), Outcome::Error, 1, found).is_none());
        assert!(failure_of(&OTHER.spanless(), Outcome::Error, 1, found).is_none());
    }
}
