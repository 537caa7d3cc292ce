//! What a task's future costs the executor: how often it is polled, how long
//! each poll runs, and how long it waits between a wake and the poll that
//! follows (its scheduled delay), measured without `tokio_unstable`.
//!
//! # How the delay is seen
//!
//! An executor polls a future after something wakes it, through the waker
//! it passed in the future's last poll. [`TaskFuture`](super::TaskFuture)
//! hands its future a waker of its own ([`Stamp`]) that notes the clock at
//! the first wake since the last poll and then wakes the executor's waker;
//! the next poll reads and clears the note. The stamp is made once per run,
//! at its first poll; a later poll only swaps the executor's waker in when it
//! changed (`Waker::will_wake`), so a poll costs two clock readings, three
//! metric updates and no allocation. A future polled without a wake (the
//! first poll, or an executor that polls spuriously) has no delay to record.
//!
//! # Where it goes
//!
//! Per key, labelled by `experiment` and gated by the key's threshold like
//! the task's other metrics: the histograms
//! `alamos_task_poll_duration_seconds` and
//! `alamos_task_scheduled_delay_seconds`, recorded through alamos's
//! instruments (so the store or a recorder of the user's own receives
//! them), and the counter `alamos_task_polls_total`, sampled when metrics
//! are read from the running totals kept for [`TaskInfo`](super::TaskInfo)
//! (which the tree view and `/alamos/tasks` show), so a poll pays one
//! atomic add for it rather than a third metric update.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Wake, Waker};

use crate::clock;
use crate::level::Level;
use crate::metric::buckets::DURATIONS;
use crate::metric::instrument::{ExperimentOf, InstrumentCallsite, InstrumentSpec};
use crate::metric::name::{
    Kind, Unit, TASK_POLLS_HELP, TASK_POLLS_TOTAL, TASK_POLL_DURATION_HELP,
    TASK_POLL_DURATION_SECONDS, TASK_SCHEDULED_DELAY_HELP, TASK_SCHEDULED_DELAY_SECONDS,
};
use crate::metric::observe::{Observer, Watch};

/// A key's poll instruments and totals; leaked, one per key, in its site.
pub(super) struct Polls {
    /// The sampled `alamos_task_polls_total`, read from `totals`.
    count: OnceLock<Watch>,
    duration: &'static InstrumentCallsite,
    delay: &'static InstrumentCallsite,
    totals: Totals,
}

/// Running totals of every run of a key, read by [`TaskInfo`](super::TaskInfo).
#[derive(Default)]
struct Totals {
    polls: AtomicU64,
    busy_nanos: AtomicU64,
    delays: AtomicU64,
    delay_nanos: AtomicU64,
}

/// What the totals said when they were read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PollTotals {
    pub(crate) polls: u64,
    pub(crate) busy_nanos: u64,
    pub(crate) delays: u64,
    pub(crate) delay_nanos: u64,
}

impl Polls {
    pub(super) fn new(key: &'static str) -> &'static Polls {
        let instrument = |kind, name, help, unit| -> &'static InstrumentCallsite {
            Box::leak(Box::new(InstrumentCallsite::new(InstrumentSpec {
                kind,
                name,
                written: name,
                experiment: ExperimentOf::Key(key),
                level: Level::Prod,
                unit,
                help,
                buckets: if matches!(kind, Kind::Histogram) {
                    DURATIONS
                } else {
                    &[]
                },
                labels: &[],
            })))
        };
        let polls: &'static Polls = Box::leak(Box::new(Polls {
            count: OnceLock::new(),
            duration: instrument(
                Kind::Histogram,
                TASK_POLL_DURATION_SECONDS,
                TASK_POLL_DURATION_HELP,
                Some(Unit::Seconds),
            ),
            delay: instrument(
                Kind::Histogram,
                TASK_SCHEDULED_DELAY_SECONDS,
                TASK_SCHEDULED_DELAY_HELP,
                Some(Unit::Seconds),
            ),
            totals: Totals::default(),
        }));
        // Sampled when metrics are read, like the task's other counters: the
        // poll path already counts into `totals`.
        let _ = polls.count.set(
            Observer::new(key, TASK_POLLS_TOTAL)
                .describe(TASK_POLLS_HELP)
                .counter()
                .unlisted()
                .watch(move || {
                    #[allow(clippy::cast_precision_loss)]
                    let count = polls.totals.polls.load(Ordering::Relaxed) as f64;
                    count
                }),
        );
        polls
    }

    /// Whether polls of this key are measured now (its threshold).
    #[inline]
    pub(super) fn is_enabled(&self) -> bool {
        self.duration.is_enabled()
    }

    /// Records one poll that started at `start` and ended at `end` (clock
    /// readings), `woken` being the reading at the wake before it, if any.
    pub(super) fn record(&self, woken: Option<u64>, start: u64, end: u64) {
        self.totals.polls.fetch_add(1, Ordering::Relaxed);
        let busy = clock::nanos_between(start, end);
        self.totals.busy_nanos.fetch_add(busy, Ordering::Relaxed);
        self.duration.record(seconds(busy), &[]);
        if let Some(woken) = woken {
            let delay = clock::nanos_between(woken, start);
            self.totals.delays.fetch_add(1, Ordering::Relaxed);
            self.totals.delay_nanos.fetch_add(delay, Ordering::Relaxed);
            self.delay.record(seconds(delay), &[]);
        }
    }

    pub(super) fn totals(&self) -> PollTotals {
        PollTotals {
            polls: self.totals.polls.load(Ordering::Relaxed),
            busy_nanos: self.totals.busy_nanos.load(Ordering::Relaxed),
            delays: self.totals.delays.load(Ordering::Relaxed),
            delay_nanos: self.totals.delay_nanos.load(Ordering::Relaxed),
        }
    }
}

#[allow(clippy::cast_precision_loss)]
fn seconds(nanos: u64) -> f64 {
    nanos as f64 / 1e9
}

/// The waker a task's future is polled with: it notes when it was first
/// woken since the last poll, then wakes the executor's waker.
pub(super) struct Stamp {
    /// Clock reading of the first wake since the last poll; 0: none.
    woken_at: AtomicU64,
    executor: Mutex<Waker>,
}

/// A run's stamp and the waker made from it, kept for the run's life.
pub(super) struct Waking {
    stamp: Arc<Stamp>,
    waker: Waker,
}

impl Waking {
    pub(super) fn new(cx: &Context<'_>) -> Waking {
        let stamp = Arc::new(Stamp {
            woken_at: AtomicU64::new(0),
            executor: Mutex::new(cx.waker().clone()),
        });
        Waking {
            waker: Waker::from(Arc::clone(&stamp)),
            stamp,
        }
    }

    /// Before a poll: keeps the executor's current waker, and takes the
    /// reading of the wake that led to this poll, if one did.
    pub(super) fn before_poll(&self, cx: &Context<'_>) -> Option<u64> {
        {
            let mut executor = self
                .stamp
                .executor
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if !executor.will_wake(cx.waker()) {
                executor.clone_from(cx.waker());
            }
        }
        match self.stamp.woken_at.swap(0, Ordering::Relaxed) {
            0 => None,
            woken => Some(woken),
        }
    }

    /// The waker to poll the future with.
    pub(super) fn waker(&self) -> &Waker {
        &self.waker
    }
}

impl Wake for Stamp {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Only the first wake since the poll counts: later ones find the
        // future already scheduled.
        let _ = self.woken_at.compare_exchange(
            0,
            clock::now().max(1),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        self.executor
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .wake_by_ref();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Count(AtomicU64);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn a_wake_is_noted_once_and_reaches_the_executor() {
        let executor = Arc::new(Count(AtomicU64::new(0)));
        let waker = Waker::from(Arc::clone(&executor));
        let cx = Context::from_waker(&waker);
        let waking = Waking::new(&cx);
        assert_eq!(
            waking.before_poll(&cx),
            None,
            "no wake before the first poll"
        );
        waking.waker().wake_by_ref();
        // `wake` by value, as an executor's queue does with its clone.
        let owned: Waker = Waker::clone(waking.waker());
        owned.wake();
        assert_eq!(
            executor.0.load(Ordering::Relaxed),
            2,
            "every wake is passed on"
        );
        let woken = waking.before_poll(&cx).expect("the wake is noted");
        assert!(woken > 0);
        assert_eq!(waking.before_poll(&cx), None, "a poll clears the note");
    }

    #[test]
    fn a_new_executor_waker_is_the_one_woken() {
        let first = Arc::new(Count(AtomicU64::new(0)));
        let second = Arc::new(Count(AtomicU64::new(0)));
        let first_waker = Waker::from(Arc::clone(&first));
        let second_waker = Waker::from(Arc::clone(&second));
        let waking = Waking::new(&Context::from_waker(&first_waker));
        let _ = waking.before_poll(&Context::from_waker(&second_waker));
        waking.waker().wake_by_ref();
        assert_eq!(first.0.load(Ordering::Relaxed), 0);
        assert_eq!(second.0.load(Ordering::Relaxed), 1);
    }
}
