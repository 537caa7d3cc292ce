//! The metrics of one instrumented function: what a call records when it
//! starts and when it finishes.
//!
//! `alamos_calls_total{outcome}`, `alamos_call_duration_seconds` and
//! `alamos_calls_in_flight` go to one call series of the store when alamos's
//! recorder is installed, or to six facade handles otherwise.

use metrics::{Counter, Gauge, Histogram};

use crate::metric::name::{CALLS_IN_FLIGHT, CALLS_TOTAL, CALL_DURATION_SECONDS, CALL_METRICS};
use crate::metric::outcome::Outcome;
use crate::metric::sink::{facade_key, metadata, owned_labels, Register, Target};
use crate::metric::store::{Layout, LocalCells, Series, SeriesSpec, Store};

/// The names a function's call metrics are labelled with.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CallLabels {
    pub(crate) experiment: &'static str,
    pub(crate) function: &'static str,
}

impl CallLabels {
    fn labels(self, extra: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
        let mut labels = vec![
            ("experiment", self.experiment.to_owned()),
            ("function", self.function.to_owned()),
        ];
        labels.extend_from_slice(extra);
        labels
    }
}

impl Register for CallLabels {
    type Handles = CallHandles;

    fn register(&self, target: &Target<'_>, extra: &[(&'static str, String)]) -> CallHandles {
        let labels = self.labels(extra);
        match target {
            Target::Store(store) => store
                .series(SeriesSpec {
                    name: CALLS_TOTAL,
                    layout: Layout::Calls,
                    labels: owned_labels(&labels),
                    bounds: &[],
                    unit: None,
                    help: None,
                })
                .map_or_else(
                    || CallHandles::Facade(Box::new(FacadeCalls::noop())),
                    |series| CallHandles::Store { series, store },
                ),
            Target::Facade { recorder, .. } => {
                for description in &CALL_METRICS {
                    target.describe(description);
                }
                let metadata = metadata();
                let calls = Outcome::ALL.map(|outcome| {
                    let mut labels = labels.clone();
                    labels.push(("outcome", outcome.as_str().to_owned()));
                    recorder.register_counter(&facade_key(CALLS_TOTAL, &labels), &metadata)
                });
                CallHandles::Facade(Box::new(FacadeCalls {
                    calls,
                    duration: recorder
                        .register_histogram(&facade_key(CALL_DURATION_SECONDS, &labels), &metadata),
                    in_flight: recorder
                        .register_gauge(&facade_key(CALLS_IN_FLIGHT, &labels), &metadata),
                }))
            }
        }
    }

    fn overflow_labels(&self) -> Vec<(&'static str, String)> {
        self.labels(&[])
    }
}

/// What one function's calls report through.
#[derive(Debug)]
pub(crate) enum CallHandles {
    Store {
        series: Series,
        store: &'static Store,
    },
    Facade(Box<FacadeCalls>),
}

#[derive(Debug)]
pub(crate) struct FacadeCalls {
    calls: [Counter; Outcome::ALL.len()],
    duration: Histogram,
    in_flight: Gauge,
}

impl FacadeCalls {
    fn noop() -> Self {
        FacadeCalls {
            calls: Outcome::ALL.map(|_| Counter::noop()),
            duration: Histogram::noop(),
            in_flight: Gauge::noop(),
        }
    }

    /// Out of line: three dynamic calls anyway, kept out of the inlined
    /// end of every `async` call, which alamos's own store ends faster.
    #[inline(never)]
    fn finish(&self, outcome: Outcome, nanos: u64) {
        #[allow(clippy::cast_precision_loss)]
        self.duration.record(nanos as f64 / 1e9);
        self.in_flight.decrement(1.0);
        self.calls[outcome as usize].increment(1);
    }
}

/// Where a finished call's duration landed: the exemplar slot of its bucket,
/// for a call series of alamos's store (and with `otel`); nothing otherwise.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Landed {
    #[cfg(feature = "otel")]
    slot: Option<(&'static crate::metric::exemplar::Slot, &'static Store)>,
}

impl Landed {
    #[cfg_attr(not(feature = "otel"), allow(unused_variables))]
    #[inline(always)]
    fn at(series: Series, store: &'static Store, bucket: usize) -> Landed {
        Landed {
            #[cfg(feature = "otel")]
            slot: series.exemplar(bucket).map(|slot| (slot, store)),
        }
    }

    /// Offers the call, which ended at the raw clock reading `end` after
    /// `nanos`, as its bucket's exemplar; `span` is asked for its trace only
    /// if the bucket's exemplar is old enough to be replaced.
    #[cfg(feature = "otel")]
    #[inline(always)]
    pub(crate) fn offer(self, end: u64, nanos: u64, span: &tracing::Span) {
        if let Some((slot, store)) = self.slot {
            #[allow(clippy::cast_precision_loss)]
            crate::metric::exemplar::offer(
                slot,
                end,
                store.exemplar_interval(),
                nanos as f64 / 1e9,
                || crate::metric::exemplar::sampled_ids(span),
            );
        }
    }
}

/// What starting a call leaves for finishing it on the same thread.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Started(Option<LocalCells>);

impl CallHandles {
    /// A call started; what it returns lets [`CallHandles::finish_here`]
    /// (`here`: the call finishes on this thread) and, on the starting
    /// thread, [`CallHandles::finish`] skip looking up the thread's cells
    /// again.
    #[inline]
    pub(crate) fn start(&self, here: bool) -> Started {
        match self {
            CallHandles::Facade(handles) => {
                handles.in_flight.increment(1.0);
                Started(None)
            }
            CallHandles::Store { series, store } => Started(Some(series.call_started(store, here))),
        }
    }

    /// A call finished with `outcome` after `nanos`, on any thread; `start`
    /// returned `started`. On the starting thread, the cells found then are
    /// used again (a thread-local load and a compare tell), elsewhere that
    /// thread's cells are looked up. Inlined into the out-of-line end of
    /// a call: one call less at every end.
    #[inline(always)]
    pub(crate) fn finish(&self, started: Started, outcome: Outcome, nanos: u64) -> Landed {
        match (self, started.0) {
            (CallHandles::Facade(handles), _) => {
                handles.finish(outcome, nanos);
                Landed::default()
            }
            (CallHandles::Store { series, store }, Some(cells)) => {
                let bucket = cells.call_finished_anywhere(*series, store, outcome, nanos);
                Landed::at(*series, store, bucket)
            }
            (CallHandles::Store { series, store }, None) => {
                let bucket = series.call_finished(store, outcome, nanos);
                Landed::at(*series, store, bucket)
            }
        }
    }

    /// A call finished with `outcome` after `nanos`, on the thread where
    /// `start` returned `started`, before that thread exits.
    #[inline]
    pub(crate) fn finish_here(&self, started: Started, outcome: Outcome, nanos: u64) -> Landed {
        match (self, started.0) {
            (CallHandles::Facade(handles), _) => {
                handles.finish(outcome, nanos);
                Landed::default()
            }
            (CallHandles::Store { series, store }, Some(cells)) => {
                // SAFETY: `started` comes from `start` on this thread, whose
                // cells live until it exits, which it has not.
                let bucket = unsafe { cells.call_finished(store, outcome, nanos) };
                Landed::at(*series, store, bucket)
            }
            (CallHandles::Store { series, store }, None) => {
                let bucket = series.call_finished(store, outcome, nanos);
                Landed::at(*series, store, bucket)
            }
        }
    }
}
