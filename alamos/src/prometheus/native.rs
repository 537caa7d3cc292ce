//! Storage for alamos's own series, built for the hot path.
//!
//! Every instrumented call touches its callsite's counter, gauge and histogram.
//! Kept in one place per series, those atomics would bounce between cores as
//! soon as two threads call the same function. Each series here keeps one
//! stripe per group of threads instead, each on its own cache lines; a thread
//! always writes its own stripe, and rendering adds the stripes up.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use metrics::{CounterFn, GaugeFn, HistogramFn};

/// 128 bytes: the unit of false sharing on current x86_64 and aarch64 parts.
#[repr(align(128))]
struct Line([AtomicU64; WORDS_PER_LINE]);

const WORDS_PER_LINE: usize = 16;

/// Word offsets inside a stripe.
const CALLS: usize = 0;
const IN_FLIGHT: usize = 4;
const SUM: usize = 5;
const BUCKETS: usize = 6;

/// The counters of one call series (one experiment, function and label set).
pub(crate) struct CallSeries {
    /// The label pairs, outcome excluded, in registration order.
    pub(crate) labels: Vec<(String, String)>,
    /// Upper bounds of the duration buckets, ascending; `+Inf` is implicit.
    bounds: Arc<[f64]>,
    lines_per_stripe: usize,
    stripe_mask: usize,
    lines: Box<[Line]>,
}

impl CallSeries {
    pub(crate) fn new(labels: Vec<(String, String)>, bounds: Arc<[f64]>, stripes: usize) -> Self {
        let stripes = stripes.max(1).next_power_of_two();
        let words = BUCKETS + bounds.len() + 1;
        let lines_per_stripe = words.div_ceil(WORDS_PER_LINE);
        let lines = (0..stripes * lines_per_stripe)
            .map(|_| Line(std::array::from_fn(|_| AtomicU64::new(0))))
            .collect();
        CallSeries {
            labels,
            bounds,
            lines_per_stripe,
            stripe_mask: stripes - 1,
            lines,
        }
    }

    fn stripes(&self) -> usize {
        self.stripe_mask + 1
    }

    #[inline(always)]
    fn word(&self, stripe: usize, word: usize) -> &AtomicU64 {
        let line = &self.lines[stripe * self.lines_per_stripe + word / WORDS_PER_LINE];
        &line.0[word % WORDS_PER_LINE]
    }

    #[inline(always)]
    fn own(&self, word: usize) -> &AtomicU64 {
        self.word(thread_stripe() & self.stripe_mask, word)
    }

    fn total(&self, word: usize) -> u64 {
        (0..self.stripes())
            .map(|stripe| self.word(stripe, word).load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }

    fn total_f64(&self, word: usize) -> f64 {
        (0..self.stripes())
            .map(|stripe| f64::from_bits(self.word(stripe, word).load(Ordering::Relaxed)))
            .sum()
    }

    /// Calls finished with this outcome (index into [`crate::Outcome::ALL`]).
    pub(crate) fn calls(&self, outcome: usize) -> u64 {
        self.total(CALLS + outcome)
    }

    pub(crate) fn in_flight(&self) -> f64 {
        self.total_f64(IN_FLIGHT)
    }

    pub(crate) fn duration_sum(&self) -> f64 {
        self.total_f64(SUM)
    }

    pub(crate) fn bounds(&self) -> &[f64] {
        &self.bounds
    }

    /// Cumulative bucket counts, one per bound and a last one for `+Inf`.
    pub(crate) fn cumulative_buckets(&self) -> Vec<u64> {
        let mut running = 0;
        (0..=self.bounds.len())
            .map(|bucket| {
                running += self.total(BUCKETS + bucket);
                running
            })
            .collect()
    }
}

fn add_f64(cell: &AtomicU64, delta: f64) {
    // Uncontended in practice: only threads sharing a stripe race here.
    let _ = cell.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
        Some((f64::from_bits(bits) + delta).to_bits())
    });
}

static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// This thread's stripe number, handed out round-robin at first use.
#[inline(always)]
fn thread_stripe() -> usize {
    STRIPE.with(|stripe| {
        let mut value = stripe.get();
        if value == usize::MAX {
            value = NEXT_STRIPE.fetch_add(1, Ordering::Relaxed);
            stripe.set(value);
        }
        value
    })
}

/// `alamos_calls_total` for one outcome of a series.
pub(crate) struct CallsCounter {
    pub(crate) series: Arc<CallSeries>,
    pub(crate) outcome: usize,
}

impl CounterFn for CallsCounter {
    #[inline]
    fn increment(&self, value: u64) {
        self.series.own(CALLS + self.outcome).fetch_add(value, Ordering::Relaxed);
    }

    fn absolute(&self, value: u64) {
        let current = self.series.calls(self.outcome);
        if value > current {
            self.increment(value - current);
        }
    }
}

/// `alamos_calls_in_flight` of a series.
pub(crate) struct InFlightGauge(pub(crate) Arc<CallSeries>);

impl GaugeFn for InFlightGauge {
    #[inline]
    fn increment(&self, value: f64) {
        add_f64(self.0.own(IN_FLIGHT), value);
    }

    #[inline]
    fn decrement(&self, value: f64) {
        add_f64(self.0.own(IN_FLIGHT), -value);
    }

    fn set(&self, value: f64) {
        for stripe in 0..self.0.stripes() {
            let word = if stripe == 0 { value } else { 0.0 };
            self.0.word(stripe, IN_FLIGHT).store(word.to_bits(), Ordering::Relaxed);
        }
    }
}

/// `alamos_call_duration_seconds` of a series.
pub(crate) struct DurationHistogram(pub(crate) Arc<CallSeries>);

impl HistogramFn for DurationHistogram {
    #[inline]
    fn record(&self, value: f64) {
        let series = &self.0;
        // Prometheus buckets are `le`: a value equal to a bound belongs to it.
        let bucket = series.bounds.partition_point(|&bound| bound < value);
        let stripe = thread_stripe() & series.stripe_mask;
        series.word(stripe, BUCKETS + bucket).fetch_add(1, Ordering::Relaxed);
        add_f64(series.word(stripe, SUM), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(stripes: usize) -> Arc<CallSeries> {
        Arc::new(CallSeries::new(Vec::new(), Arc::from([0.1, 1.0, 10.0]), stripes))
    }

    #[test]
    fn stripes_add_up_across_threads() {
        let series = series(4);
        std::thread::scope(|scope| {
            for _ in 0..8 {
                let series = Arc::clone(&series);
                scope.spawn(move || {
                    let counter = CallsCounter { series: Arc::clone(&series), outcome: 1 };
                    let gauge = InFlightGauge(Arc::clone(&series));
                    for _ in 0..1000 {
                        gauge.increment(1.0);
                        counter.increment(1);
                        gauge.decrement(1.0);
                    }
                });
            }
        });
        assert_eq!(series.calls(1), 8000);
        assert_eq!(series.calls(0), 0);
        assert!(series.in_flight().abs() < f64::EPSILON);
    }

    #[test]
    fn buckets_are_le_and_cumulative() {
        let series = series(2);
        let histogram = DurationHistogram(Arc::clone(&series));
        for value in [0.05, 0.1, 0.5, 1.0, 5.0, 50.0] {
            histogram.record(value);
        }
        assert_eq!(series.cumulative_buckets(), [2, 4, 5, 6]);
        assert!((series.duration_sum() - 56.65).abs() < 1e-9);
    }

    #[test]
    fn absolute_never_lowers_a_counter() {
        let series = series(2);
        let counter = CallsCounter { series: Arc::clone(&series), outcome: 0 };
        counter.increment(5);
        counter.absolute(3);
        assert_eq!(series.calls(0), 5);
        counter.absolute(9);
        assert_eq!(series.calls(0), 9);
    }
}
