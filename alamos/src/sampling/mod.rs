//! Sampling: every call counted, some traced.
//!
//! An enabled call always records its metrics; its span exists only when
//! the call is *traced*. This module holds what that decision needs below
//! the tree: the probabilities' grammar ([`directive`]), the per-callsite
//! cache of a probability ([`SampleRate`]), the decision itself ([`Trace`])
//! and where it lives while a call runs.
//!
//! # Where a trace starts
//!
//! The decision is made once, where a trace starts, and everything under it
//! follows:
//!
//! - a call inside a traced call is traced, one inside an untraced call is
//!   not, whatever their own experiments' probabilities;
//! - a call under an entered remote context (`depropagate`) whose parent is
//!   sampled is traced, one whose parent is not sampled is not;
//! - any other call is a *root*: it is traced with its experiment's
//!   probability (`ALAMOS_TRACE_SAMPLE`, [`set_trace_sample`], or
//!   `OTEL_TRACES_SAMPLER` when that is unset; 1 by default).
//!
//! Only alamos's own decisions count: a span of another crate
//! (`#[tracing::instrument]`, a task's span) neither makes a call traced nor
//! keeps it from being a root. With every probability at 1, the default,
//! this is what tracing alone does.
//!
//! # How a call knows what it is inside
//!
//! The decision in scope is one thread-local word (`CURRENT`): zero when no
//! decision is in scope, one for traced, any other value for untraced, that
//! value being the seed of the trace id an untraced call propagates. A
//! synchronous call swaps its decision in when it starts and puts the
//! previous one back when it ends; an `async` call keeps the decision made
//! when its future was created and swaps it in for each poll, as it enters
//! its span, so a future created inside an untraced call and polled on
//! another thread stays untraced. An entered remote context does the same
//! with the decision its parent's flags carry.
//!
//! # Failures are traced anyway
//!
//! With `otel`, an untraced root that ends in `error` or `panic` is
//! exported as a span after all, under the ids [`Trace::untraced_ids`]
//! gives (what `propagate` wrote inside it): `crate::failure` says how,
//! at no cost to a call that succeeds. [`Trace::decide_root`] tells an
//! `async` call's start whether it is a root.
//!
//! A root draws from a per-thread `wyrand` generator and compares with its
//! callsite's cached threshold; at probability 1 the threshold is a sentinel
//! and no number is drawn. The tree rewrites every callsite's threshold when
//! probabilities change, as it does their enabled state.
//!
//! [`set_trace_sample`]: crate::set_trace_sample

pub(crate) mod directive;
pub(crate) mod otel_env;
mod rng;

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

pub use self::directive::InvalidProbability;
pub(crate) use self::directive::{parse_samples, Probability, SampleDirective};

/// A threshold meaning "always traced": probability 1.
const ALWAYS: u64 = u64::MAX;

/// No decision in scope.
const NONE: u64 = 0;
/// Traced.
const TRACED: u64 = 1;

thread_local! {
    /// The decision of the innermost call (or remote context) in scope.
    static CURRENT: Cell<u64> = const { Cell::new(NONE) };
}

/// A callsite's root probability, cached as the threshold a random `u64`
/// is compared with; written by the tree, read by every root call.
#[doc(hidden)]
pub struct SampleRate(AtomicU64);

impl SampleRate {
    /// Probability 1 until the tree says otherwise.
    pub const fn new() -> Self {
        SampleRate(AtomicU64::new(ALWAYS))
    }

    pub(crate) fn set(&self, probability: Probability) {
        self.0.store(threshold(probability), Ordering::Relaxed);
    }

    /// The probability the cached threshold stands for.
    #[cfg(test)]
    pub(crate) fn probability(&self) -> f64 {
        match self.0.load(Ordering::Relaxed) {
            ALWAYS => 1.0,
            #[allow(clippy::cast_precision_loss)]
            threshold => threshold as f64 / 18_446_744_073_709_551_616.0,
        }
    }
}

impl Default for SampleRate {
    fn default() -> Self {
        SampleRate::new()
    }
}

impl fmt::Debug for SampleRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SampleRate")
            .field(&self.0.load(Ordering::Relaxed))
            .finish()
    }
}

/// The threshold of `probability`: a random `u64` below it is traced.
fn threshold(probability: Probability) -> u64 {
    let p = probability.get();
    if p >= 1.0 {
        ALWAYS
    } else if p <= 0.0 {
        0
    } else {
        // 2^64 · p, at least 1 so that a positive probability is never 0.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let scaled = (p * 18_446_744_073_709_551_616.0) as u64;
        scaled.clamp(1, ALWAYS - 1)
    }
}

/// Whether a call is traced: the decision of a root, or inherited.
#[doc(hidden)]
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Trace(u64);

impl Trace {
    /// Traced: what a sampled parent gives its children.
    pub(crate) const TRACED: Trace = Trace(TRACED);

    /// No decision: the next call is a root.
    pub(crate) const NONE: Trace = Trace(NONE);

    /// Untraced, under a trace id derived from `seed`.
    pub(crate) fn untraced(seed: u64) -> Trace {
        Trace(seed.max(TRACED + 1))
    }

    /// The decision for a call through a callsite whose probability is
    /// cached in `rate`: the one in scope, else a root's draw.
    /// Inlined, the root flag of [`Trace::decide_root`] is never computed.
    #[inline(always)]
    pub(crate) fn decide(rate: &SampleRate) -> Trace {
        Trace::decide_root(rate).0
    }

    /// [`Trace::decide`], and whether the call is a root (no decision was
    /// in scope): an `async` call keeps that, to export its failure when it
    /// is an untraced root (see `crate::failure`). Inlined, the `false` of
    /// an inherited decision is a constant on its own path.
    #[inline(always)]
    pub(crate) fn decide_root(rate: &SampleRate) -> (Trace, bool) {
        let current = current();
        if current.0 != NONE {
            return (current, false);
        }
        let threshold = rate.0.load(Ordering::Relaxed);
        if threshold == ALWAYS {
            return (Trace::TRACED, true);
        }
        (root(threshold), true)
    }

    /// [`Trace::decide`] with a root's draw inlined, for callers that are
    /// themselves out of line (a synchronous call's start): the draw then
    /// costs no call, no saved registers.
    #[inline(always)]
    pub(crate) fn decide_inline(rate: &SampleRate) -> Trace {
        let current = current();
        if current.0 != NONE {
            return current;
        }
        let threshold = rate.0.load(Ordering::Relaxed);
        if threshold == ALWAYS {
            return Trace::TRACED;
        }
        draw(threshold)
    }

    /// Whether the call has a span.
    #[inline(always)]
    pub fn is_traced(self) -> bool {
        self.0 == TRACED
    }

    /// Whether this is an untraced decision.
    #[inline(always)]
    pub(crate) fn is_untraced(self) -> bool {
        self.0 > TRACED
    }

    /// Makes this the decision in scope on this thread; returns the one it
    /// replaces, for [`Trace::restore`].
    #[inline(always)]
    pub(crate) fn enter(self) -> Trace {
        // `try_with`: during thread teardown there is nothing to replace.
        Trace(
            CURRENT
                .try_with(|current| current.replace(self.0))
                .unwrap_or(NONE),
        )
    }

    /// Puts back the decision [`Trace::enter`] returned.
    #[inline(always)]
    pub(crate) fn restore(self) {
        // `try_with`: a call finishing during thread teardown has nothing to
        // restore.
        let _ = CURRENT.try_with(|current| current.set(self.0));
    }

    /// The decision in scope for as long as the guard lives.
    #[inline(always)]
    pub(crate) fn scope(self) -> TraceScope {
        TraceScope {
            previous: self.enter(),
        }
    }

    /// The W3C ids an untraced call propagates: a trace id and a parent id
    /// derived from its seed, never zero. `None` unless untraced.
    #[cfg_attr(not(feature = "otel"), allow(dead_code))]
    pub(crate) fn untraced_ids(self) -> Option<([u8; 16], [u8; 8])> {
        if !self.is_untraced() {
            return None;
        }
        let high = rng::mix(self.0) | 1;
        let low = rng::mix(self.0 ^ 0x9e37_79b9_7f4a_7c15);
        let parent = rng::mix(self.0 ^ 0xd1b5_4a32_d192_ed03) | 1;
        let trace = (u128::from(high) << 64) | u128::from(low);
        Some((trace.to_be_bytes(), parent.to_be_bytes()))
    }
}

impl fmt::Debug for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            NONE => "Trace::None",
            TRACED => "Trace::Traced",
            _ => "Trace::Untraced",
        })
    }
}

/// Restores the previous decision when dropped, unwinding included.
pub(crate) struct TraceScope {
    previous: Trace,
}

impl Drop for TraceScope {
    #[inline(always)]
    fn drop(&mut self) {
        self.previous.restore();
    }
}

/// The decision in scope on this thread.
#[inline(always)]
pub(crate) fn current() -> Trace {
    Trace(CURRENT.try_with(Cell::get).unwrap_or(NONE))
}

/// Whether the code running now is inside an untraced call: exemplars are
/// not taken there.
#[inline(always)]
#[cfg_attr(not(feature = "otel"), allow(dead_code))]
pub(crate) fn in_untraced() -> bool {
    current().is_untraced()
}

/// A root's draw, out of line: only probabilities strictly between 0 and 1
/// draw a number.
#[cold]
#[inline(never)]
fn root(threshold: u64) -> Trace {
    draw(threshold)
}

/// A root's draw against `threshold` (never [`ALWAYS`]).
#[inline(always)]
fn draw(threshold: u64) -> Trace {
    if threshold == 0 {
        return Trace::untraced(rng::next());
    }
    let draw = rng::next();
    if draw < threshold {
        Trace::TRACED
    } else {
        Trace::untraced(draw)
    }
}

/// Seeds this thread's generator, for tests that want the same draws on
/// every run.
pub(crate) fn seed_thread(seed: u64) {
    rng::seed(seed);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(p: f64) -> SampleRate {
        let rate = SampleRate::new();
        rate.set(Probability::new(p).unwrap());
        rate
    }

    #[test]
    fn probabilities_become_thresholds_and_back() {
        assert_eq!(threshold(Probability::new(1.0).unwrap()), ALWAYS);
        assert_eq!(threshold(Probability::new(0.0).unwrap()), 0);
        assert_eq!(threshold(Probability::new(1e-30).unwrap()), 1);
        let half = rate(0.5).probability();
        assert!((half - 0.5).abs() < 1e-12, "{half}");
        assert!((rate(0.001).probability() - 0.001).abs() < 1e-12);
    }

    #[test]
    fn roots_draw_with_their_probability() {
        seed_thread(7);
        for (p, low, high) in [(0.0, 0, 0), (1.0, 20_000, 20_000), (0.1, 1_700, 2_300)] {
            let rate = rate(p);
            let traced = (0..20_000)
                .filter(|_| Trace::decide(&rate).is_traced())
                .count();
            assert!((low..=high).contains(&traced), "p={p}: {traced}");
        }
    }

    #[test]
    fn the_decision_in_scope_is_inherited_and_restored() {
        let never = rate(0.0);
        let always = rate(1.0);
        assert_eq!(current(), Trace::NONE);
        let untraced = Trace::decide(&never);
        assert!(untraced.is_untraced());
        {
            let _scope = untraced.scope();
            assert_eq!(Trace::decide(&always), untraced, "a child follows");
            let inner = Trace::TRACED.enter();
            assert!(Trace::decide(&never).is_traced());
            inner.restore();
            assert!(in_untraced());
        }
        assert_eq!(current(), Trace::NONE);
        assert!(Trace::decide(&always).is_traced());
    }

    #[test]
    fn a_root_is_a_call_with_no_decision_in_scope() {
        let never = rate(0.0);
        let always = rate(1.0);
        let (root, is_root) = Trace::decide_root(&never);
        assert!(root.is_untraced() && is_root);
        assert_eq!(Trace::decide_root(&always), (Trace::TRACED, true));
        let _scope = root.scope();
        assert_eq!(Trace::decide_root(&always), (root, false), "a child");
        let _inner = Trace::TRACED.scope();
        assert_eq!(Trace::decide_root(&never), (Trace::TRACED, false));
    }

    #[test]
    fn untraced_ids_are_stable_and_never_zero() {
        for seed in [2_u64, 3, u64::MAX, 0x1234_5678] {
            let trace = Trace::untraced(seed);
            let (id, parent) = trace.untraced_ids().unwrap();
            assert_eq!(trace.untraced_ids(), Some((id, parent)));
            assert_ne!(id, [0; 16]);
            assert_ne!(parent, [0; 8]);
        }
        assert_ne!(
            Trace::untraced(2).untraced_ids(),
            Trace::untraced(3).untraced_ids()
        );
        assert_eq!(Trace::TRACED.untraced_ids(), None);
        assert_eq!(Trace::NONE.untraced_ids(), None);
    }
}
