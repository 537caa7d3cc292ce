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
//! on their own: the root's span stands for the trace.
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
//!   span keeps the metadata only when it is a root, which its start knows
//!   from the decision's own branch;
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
use crate::metric::outcome::Outcome;
use crate::sampling;
use crate::tree::GATES;

/// An untraced root call that failed: what its span is made of.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) callsite: &'static FnCallsite,
    /// `Error` or `Panic`.
    pub(crate) outcome: Outcome,
    pub(crate) start: SystemTime,
    pub(crate) end: SystemTime,
    /// The ids the call's decision stands for (`Trace::untraced_ids`):
    /// what `propagate` wrote inside it.
    pub(crate) trace_id: [u8; 16],
    pub(crate) span_id: [u8; 8],
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
    // The decision in scope is the call's own as it ends.
    let Some((trace_id, span_id)) = sampling::current().untraced_ids() else {
        return;
    };
    let Some(callsite) = span.metadata().and_then(callsite_of) else {
        return;
    };
    let Some(sink) = SINK
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .map(|(_, sink)| Arc::clone(sink))
    else {
        return;
    };
    let end = SystemTime::now();
    let start = end.checked_sub(Duration::from_nanos(nanos)).unwrap_or(end);
    sink(&Failure {
        callsite,
        outcome,
        start,
        end,
        trace_id,
        span_id,
    });
}

/// The instrumented function whose span metadata is `metadata`; `None` for
/// any other metadata (a span of a function with fields of its own, made by
/// `tracing::span!`, is never an untraced call's).
fn callsite_of(metadata: &'static Metadata<'static>) -> Option<&'static FnCallsite> {
    static BY_METADATA: OnceLock<HashMap<usize, &'static FnCallsite>> = OnceLock::new();
    let key = std::ptr::from_ref(metadata) as usize;
    BY_METADATA
        .get_or_init(|| {
            GATES
                .iter()
                .filter_map(|gate| gate.as_any().downcast_ref::<FnCallsite>())
                .map(|callsite| {
                    (
                        std::ptr::from_ref(callsite.span_metadata()) as usize,
                        callsite,
                    )
                })
                .collect()
        })
        .get(&key)
        .copied()
}
