//! One instrumented call: its span, its timing and its outcome.
//!
//! A synchronous function keeps a [`FnCall`] in its frame: created at entry,
//! dropped at every exit, so a `return`, a `?`, a panic and falling off the end
//! all finish the call exactly once. An `async fn` wraps its body in a
//! [`CallFuture`], which enters the span for every poll and tells completion
//! from a panic in `poll` and from being dropped unfinished (cancelled).
//!
//! # Why `CallFuture` projects its pin by hand
//!
//! `pin-project-lite` projects the pin of alamos's other futures
//! (`WithRemoteContext`), but not this one's. A cancelled call must record
//! `cancelled` and then drop the body's future *inside* the call's span, so
//! that what the body's locals do when dropped is attributed to the call.
//! `pin-project-lite`'s `PinnedDrop` runs before the fields are dropped, and
//! the fields drop after it returns, when the span guard it entered is gone.
//! So the body's future is a `ManuallyDrop`, dropped in place from `Drop`
//! while the span is entered, and `poll` projects to it with one `unsafe`
//! block whose invariant (the future never moves until that drop) is stated
//! there.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::pin::Pin;
use std::ptr::{addr_of_mut, NonNull};
use std::task::{Context, Poll};

use tracing::span::EnteredSpan;
use tracing::Span;

use crate::callsite::{FnCallsite, STATUS_FIELD};
use crate::clock;
use crate::metric::calls::{CallHandles, Started};
use crate::metric::outcome::Outcome;
use crate::metric::sink::HandleRef;
use crate::sampling::{Trace, TraceScope};

/// The metrics side of a call in progress; also what the tower layers
/// (`src/tower`) record a request with.
pub(crate) struct Recording {
    handles: HandleRef<CallHandles>,
    started: Started,
    start: u64,
}

impl Recording {
    /// `labels` holds the values of the callsite's `labels(...)`, if any;
    /// `here`: the call finishes on this thread (see [`Recording::begin`]).
    #[inline(always)]
    fn start(callsite: &'static FnCallsite, labels: &[&dyn fmt::Display], here: bool) -> Self {
        // The cached handles first, in registers; the rest out of line.
        if labels.is_empty() {
            if let Some(handles) = callsite.cached_call_handles() {
                return Recording::begin(HandleRef::cached(handles), here);
            }
        }
        Recording::start_uncached(callsite, labels, here)
    }

    /// A start whose handles are not cached: labelled, under another
    /// recorder, or the first.
    #[cold]
    #[inline(never)]
    fn start_uncached(
        callsite: &'static FnCallsite,
        labels: &[&dyn fmt::Display],
        here: bool,
    ) -> Self {
        Recording::begin(callsite.call_handles(labels), here)
    }

    /// A call through these handles starts now. `here` says it finishes
    /// on this thread, as [`Recording::finish`]'s does: a call that may
    /// finish elsewhere keeps the thread's number too.
    #[inline(always)]
    pub(crate) fn begin(handles: HandleRef<CallHandles>, here: bool) -> Self {
        let started = handles.start(here);
        Recording {
            handles,
            started,
            start: clock::now(),
        }
    }

    /// The nanoseconds since the call started.
    #[cfg(all(feature = "otel", feature = "tower"))]
    pub(crate) fn elapsed(&self) -> u64 {
        clock::nanos_since(self.start)
    }

    /// Records the outcome; failures also mark `span` for OpenTelemetry.
    /// `here` says the call finishes on the thread it started on.
    /// With `otel`, the call is also offered as its bucket's exemplar,
    /// which reads `span`'s trace only when that exemplar is old enough.
    #[inline(always)]
    pub(crate) fn finish(&self, outcome: Outcome, span: &Span, here: bool) {
        self.finish_root(outcome, span, here, || true);
    }

    /// [`Recording::finish`] for a call that knows whether it is a root
    /// only by looking (`root`, read only if it failed): with `otel`, an
    /// untraced root that fails is exported all the same (`failure`).
    #[inline(always)]
    #[cfg_attr(not(feature = "otel"), allow(unused_variables))]
    fn finish_root(&self, outcome: Outcome, span: &Span, here: bool, root: impl FnOnce() -> bool) {
        #[cfg(feature = "otel")]
        let end = clock::now();
        #[cfg(feature = "otel")]
        let nanos = clock::nanos_between(self.start, end);
        #[cfg(not(feature = "otel"))]
        let nanos = clock::nanos_since(self.start);
        if matches!(outcome, Outcome::Error | Outcome::Panic) {
            if span.is_disabled() {
                // An untraced call's span is disabled (naming the call's
                // own callsite's metadata, when it is a root).
                #[cfg(feature = "otel")]
                if root() {
                    crate::failure::root_failed(span, outcome, nanos);
                }
            } else {
                span.record(STATUS_FIELD, "error");
            }
        }
        let landed = if here {
            self.handles.finish_here(self.started, outcome, nanos)
        } else {
            self.handles.finish(self.started, outcome, nanos)
        };
        #[cfg(feature = "otel")]
        landed.offer(end, nanos, span);
        #[cfg(not(feature = "otel"))]
        let _ = landed;
    }
}

/// A synchronous call in progress; finishes when dropped.
///
/// The call's state lives in a [`CallSlot`] of the caller's frame, written
/// in place by the enabled path only: a disabled call is one pointer, so
/// even an unoptimized build moves and checks no more than that.
#[doc(hidden)]
pub struct FnCall<'a> {
    active: Option<NonNull<ActiveCall>>,
    slot: PhantomData<&'a mut CallSlot>,
}

/// Room in the caller's frame for the state of an enabled call.
#[doc(hidden)]
pub struct CallSlot(MaybeUninit<ActiveCall>);

impl CallSlot {
    #[inline(always)]
    pub const fn new() -> Self {
        CallSlot(MaybeUninit::uninit())
    }
}

impl Default for CallSlot {
    #[inline(always)]
    fn default() -> Self {
        CallSlot::new()
    }
}

impl fmt::Debug for CallSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallSlot").finish_non_exhaustive()
    }
}

struct ActiveCall {
    recording: Recording,
    error: Cell<bool>,
    /// It left through an exit whose value was not seen (see `HiddenExits`).
    unknown: Cell<bool>,
    /// Set when the body produced the value it returns.
    completed: Cell<bool>,
    /// The thread was panicking when the call began (a call from a `Drop`
    /// during unwinding): then panicking at the end means the call unwound
    /// only if it did not complete. Otherwise it does, even after the body
    /// completed (a local's `Drop` panicked as the body returned).
    began_panicking: bool,
    /// The exit mark armed last: which macro the body is running, that may
    /// leave the function unseen (`#[track_caller]` bodies only).
    exit: Cell<Option<&'static &'static str>>,
    /// The trace decision in scope before this call, put back as it ends.
    outer: Trace,
    // Dropped after the metrics are recorded, so they happen inside the span.
    // It also keeps the call on its thread (`!Send`), which `finish_here`
    // relies on.
    span: EnteredSpan,
}

impl<'a> FnCall<'a> {
    /// A call through `callsite`: recorded, with the callsite's span, when
    /// the callsite is enabled; otherwise one load and a branch.
    #[inline(always)]
    pub fn enter(callsite: &'static FnCallsite, slot: &'a mut CallSlot) -> Self {
        if callsite.is_enabled() {
            FnCall::start(callsite, slot)
        } else {
            FnCall::disabled()
        }
    }

    /// A call through an enabled callsite, inside the callsite's span.
    ///
    /// `cold` only moves the call out of the straight line: a disabled call
    /// then runs no taken branch, and an enabled one, which costs tens of
    /// nanoseconds anyway, pays one jump.
    #[cold]
    #[inline(never)]
    pub fn start(callsite: &'static FnCallsite, slot: &'a mut CallSlot) -> Self {
        FnCall::begin(callsite, slot, || callsite.span(), &[])
    }

    /// A call through an enabled callsite, inside the span `span` makes
    /// when the call is traced: for functions whose span records fields of
    /// their own, evaluated only then.
    #[inline(never)]
    pub fn start_span(
        callsite: &'static FnCallsite,
        slot: &'a mut CallSlot,
        span: impl FnOnce() -> Span,
    ) -> Self {
        FnCall::begin(callsite, slot, span, &[])
    }

    /// A call through an enabled callsite with `labels(...)`, whose values
    /// are `labels`, in the order the callsite names them.
    #[inline(never)]
    pub fn start_labeled(
        callsite: &'static FnCallsite,
        slot: &'a mut CallSlot,
        span: impl FnOnce() -> Span,
        labels: &[&dyn fmt::Display],
    ) -> Self {
        FnCall::begin(callsite, slot, span, labels)
    }

    /// The trace decision (a root's draw inlined: the starts are out of
    /// line already), then a traced or an untraced start.
    #[inline(always)]
    fn begin(
        callsite: &'static FnCallsite,
        slot: &'a mut CallSlot,
        span: impl FnOnce() -> Span,
        labels: &[&dyn fmt::Display],
    ) -> Self {
        let trace = callsite.trace_inline();
        if trace.is_traced() {
            let span = span();
            if !span.is_none() {
                return FnCall::begin_span(callsite, slot, trace, span, labels);
            }
        }
        FnCall::begin_spanless(callsite, slot, trace, labels)
    }

    #[inline(always)]
    fn begin_span(
        callsite: &'static FnCallsite,
        slot: &'a mut CallSlot,
        trace: Trace,
        span: Span,
        labels: &[&dyn fmt::Display],
    ) -> Self {
        let outer = trace.enter();
        let span = span.entered();
        let active = slot.0.write(ActiveCall {
            recording: Recording::start(callsite, labels, true),
            error: Cell::new(false),
            unknown: Cell::new(false),
            completed: Cell::new(false),
            began_panicking: std::thread::panicking(),
            exit: Cell::new(None),
            outer,
            span,
        });
        FnCall {
            active: Some(NonNull::from(active)),
            slot: PhantomData,
        }
    }

    /// A call without a span (untraced, or no subscriber wants its span):
    /// its span is known here to be none, so entering it folds away and
    /// every field is stored straight into the slot (a span that may be
    /// some made the whole call go through the stack two or three times
    /// first).
    #[inline(always)]
    fn begin_spanless(
        callsite: &'static FnCallsite,
        slot: &'a mut CallSlot,
        trace: Trace,
        labels: &[&dyn fmt::Display],
    ) -> Self {
        let active = slot.0.as_mut_ptr();
        // SAFETY: `active` points to the slot, borrowed mutably for `'a`;
        // every field is written before `FnCall::active` can read it, and
        // only the first write may unwind, leaving nothing to drop.
        unsafe {
            addr_of_mut!((*active).recording).write(Recording::start(callsite, labels, true));
            addr_of_mut!((*active).error).write(Cell::new(false));
            addr_of_mut!((*active).unknown).write(Cell::new(false));
            addr_of_mut!((*active).completed).write(Cell::new(false));
            addr_of_mut!((*active).began_panicking).write(std::thread::panicking());
            addr_of_mut!((*active).exit).write(Cell::new(None));
            addr_of_mut!((*active).outer).write(trace.enter());
            addr_of_mut!((*active).span).write(callsite.spanless().entered());
        }
        FnCall {
            // SAFETY: a pointer into a borrowed slot is not null.
            active: Some(unsafe { NonNull::new_unchecked(active) }),
            slot: PhantomData,
        }
    }

    /// A call through a disabled callsite: records nothing.
    #[inline(always)]
    pub const fn disabled() -> Self {
        FnCall {
            active: None,
            slot: PhantomData,
        }
    }

    #[inline(always)]
    fn active(&self) -> Option<&ActiveCall> {
        // SAFETY: `active` points into the slot this call borrows mutably,
        // written by `begin` and dropped only by `drop`.
        // A `match`, not `map`: an unoptimized build calls `map`.
        match self.active {
            Some(active) => Some(unsafe { &*active.as_ptr() }),
            None => None,
        }
    }

    /// Whether this call is being recorded.
    #[inline(always)]
    pub fn is_active(&self) -> bool {
        // Not `is_some`, which an unoptimized build calls.
        #[allow(clippy::redundant_pattern_matching)]
        let active = matches!(self.active, Some(_));
        active
    }

    /// A `?` returns an error: the call completed, as an error.
    #[inline(always)]
    pub(crate) fn leaving_with_error(&self) {
        if let Some(active) = self.active() {
            active.completed.set(true);
            active.error.set(true);
        }
    }

    /// Counts the call as an error when it finishes.
    #[inline]
    pub fn mark_error(&self) {
        if let Some(active) = self.active() {
            active.error.set(true);
        }
    }

    /// Records that the body returned normally.
    #[inline(always)]
    pub fn completed(&self) {
        if let Some(active) = self.active() {
            active.completed.set(true);
        }
    }

    /// Passes a returned value through, classifying it with `is_error`: for
    /// a return type that cannot be named (`Result<impl Display, E>`).
    #[inline(always)]
    pub fn returned<T>(&self, value: T, is_error: impl FnOnce(&T) -> bool) -> T {
        self.completed();
        if self.is_active() && is_error(&value) {
            self.mark_error();
        }
        value
    }

    /// Passes a value the body returns through, marking the call completed.
    #[inline(always)]
    pub fn done<T>(&self, value: T) -> T {
        self.completed();
        value
    }

    /// For a body whose exits are not marked (an `impl Trait` return): it
    /// counts as completed, so a call that begins while the thread panics
    /// is not a panic for the panic already unwinding.
    #[must_use]
    pub fn untracked(self) -> Self {
        self.completed();
        self
    }

    /// Arms an exit mark: the body is about to run a macro that may leave
    /// the function unseen, described by `exit`.
    #[inline(always)]
    pub fn arm(&self, exit: &'static &'static str) {
        if let Some(active) = self.active() {
            active.exit.set(Some(exit));
        }
    }

    /// The mark armed when the function left without completing and
    /// without unwinding: it left through that macro.
    fn hidden_exit(&self) -> Option<&'static str> {
        let active = self.active()?;
        if active.completed.get() || std::thread::panicking() {
            return None;
        }
        active.exit.get().copied()
    }
}

/// Passes every value an inline body returns through its classifier `C`,
/// and marks the call completed. The classifier fixes `T`, so a returned
/// expression is coerced to the function's return type as at a `return`.
#[doc(hidden)]
pub struct Returns<T, C> {
    classify: C,
    returns: std::marker::PhantomData<fn(&T)>,
}

impl<T, C: Fn(&T) -> bool> Returns<T, C> {
    #[inline(always)]
    pub const fn new(classify: C) -> Self {
        Returns {
            classify,
            returns: std::marker::PhantomData,
        }
    }

    /// `value`, returned by the body of `call`.
    #[inline(always)]
    pub fn value(&self, call: &FnCall<'_>, value: T) -> T {
        if let Some(active) = call.active {
            classify(active, &self.classify, &value);
        }
        value
    }
}

/// The enabled side of [`Returns::value`]; out of line in an unoptimized
/// build, which keeps the locals of every inlined call in the caller's frame
/// (one copy per exit).
#[cfg_attr(debug_assertions, inline(never))]
#[cfg_attr(not(debug_assertions), inline(always))]
fn classify<T, C: Fn(&T) -> bool>(active: NonNull<ActiveCall>, classify: &C, value: &T) {
    // SAFETY: see `FnCall::active`.
    let active = unsafe { &*active.as_ptr() };
    active.completed.set(true);
    if classify(value) {
        active.error.set(true);
    }
}

impl<T, C> fmt::Debug for Returns<T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Returns").finish_non_exhaustive()
    }
}

/// Dropped just before its call finishes: if the body left through a macro
/// while an exit mark was armed, and the function may return a `Result`,
/// the call counts `unknown`: the value it returned was never seen, so it
/// may have been an `Err` or an `Ok`.
#[doc(hidden)]
pub struct HiddenExits<'a> {
    call: &'a FnCall<'a>,
    returns_result: bool,
}

impl<'a> HiddenExits<'a> {
    #[inline(always)]
    pub fn new(call: &'a FnCall<'a>, returns_result: bool) -> Self {
        HiddenExits {
            call,
            returns_result,
        }
    }
}

impl Drop for HiddenExits<'_> {
    #[inline]
    fn drop(&mut self) {
        if !self.returns_result {
            return;
        }
        if self.call.hidden_exit().is_some() {
            if let Some(active) = self.call.active() {
                active.unknown.set(true);
            }
        }
    }
}

impl fmt::Debug for HiddenExits<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HiddenExits")
            .field("returns_result", &self.returns_result)
            .finish_non_exhaustive()
    }
}

impl Drop for FnCall<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        if let Some(active) = self.active {
            finish_call(active);
        }
    }
}

/// Finishes a call in place, in its slot.
///
/// `cold` for the same reason as `FnCall::start`: the disabled path's drop
/// check then falls through, and only an enabled call jumps.
#[cold]
#[inline(never)]
fn finish_call(active: NonNull<ActiveCall>) {
    // SAFETY: written by `begin`, not yet dropped; see `FnCall::active`.
    let call = unsafe { &*active.as_ptr() };
    let unwound = std::thread::panicking() && (!call.began_panicking || !call.completed.get());
    let outcome = if unwound {
        Outcome::Panic
    } else if call.unknown.get() {
        Outcome::Unknown
    } else if call.error.get() {
        Outcome::Error
    } else {
        Outcome::Ok
    };
    // No decision before it: a root.
    call.recording
        .finish_root(outcome, &call.span, true, || call.outer == Trace::NONE);
    let outer = call.outer;
    let untraced = call.span.is_disabled();
    let active = active.as_ptr();
    // SAFETY: each field with drop glue is dropped once, here, in
    // declaration order; the slot is never read again. An untraced call's
    // span is none: exiting and closing it would do nothing, and skipping
    // its drop glue saves an out-of-line call. (A disabled span that names
    // its metadata, as an untraced call's does with `otel`, drops as
    // none: `tracing`'s `log` feature, which would say so, is off.)
    unsafe {
        std::ptr::drop_in_place(addr_of_mut!((*active).recording));
        if !untraced {
            std::ptr::drop_in_place(addr_of_mut!((*active).span));
        }
    }
    outer.restore();
}

/// The span of a call: made by `span` when the call is traced, none
/// otherwise, so an untraced call evaluates no field and allocates nothing.
#[inline(always)]
fn traced_span(trace: Trace, span: impl FnOnce() -> Span) -> Span {
    if trace.is_traced() {
        span()
    } else {
        Span::none()
    }
}

/// How an `async` call starts, made when its future is created: for an
/// enabled callsite, the trace decision (from the decision in scope there,
/// or a root's draw), the span if traced, and the metrics of the call, which
/// starts then; for a disabled one, nothing. Its [`CallFuture`] keeps it
/// for every poll, wherever it is polled.
///
/// It is made before the body's future, and handed with it to
/// [`CallFuture::new`], which is inlined and calls nothing that could
/// unwind: the body's future then goes straight into its place in the
/// caller's future. A call that could unwind after the body's future is
/// built (starting the metrics, say) would need that future in memory to
/// drop it, so it would be built on the stack and copied in, hundreds of
/// bytes for a body that awaits a few futures of its own.
#[doc(hidden)]
pub struct CallStart {
    trace: Trace,
    span: Span,
    recording: Option<Recording>,
    /// An untraced root, whose span names its callsite's metadata: the
    /// future keeps that span (`failure`).
    #[cfg(feature = "otel")]
    root: bool,
}

impl CallStart {
    /// A call through the enabled `callsite`, with the span `span` makes if
    /// it is traced.
    #[inline]
    pub fn new(callsite: &'static FnCallsite, span: impl FnOnce() -> Span) -> Self {
        CallStart::new_labeled(callsite, span, &[])
    }

    /// As [`CallStart::new`], for a callsite with `labels(...)`, whose
    /// values are `labels`, in the order the callsite names them.
    #[inline]
    pub fn new_labeled(
        callsite: &'static FnCallsite,
        span: impl FnOnce() -> Span,
        labels: &[&dyn fmt::Display],
    ) -> Self {
        #[cfg(feature = "otel")]
        let trace = {
            let (trace, root) = callsite.trace_root();
            // Inlined, `root` is a constant `false` on an inherited
            // decision's path, which is then the path without `otel`.
            if root && trace.is_untraced() {
                return CallStart::untraced_root(callsite, trace, labels);
            }
            trace
        };
        #[cfg(not(feature = "otel"))]
        let trace = callsite.trace();
        CallStart {
            trace,
            span: traced_span(trace, span),
            recording: Some(start_recording(callsite, labels)),
            #[cfg(feature = "otel")]
            root: false,
        }
    }

    /// The start of an untraced root, out of line (roots already drew out
    /// of line): its span is disabled but names the callsite's metadata, so
    /// its end finds the callsite if it fails (`failure`). Kept off the
    /// inherited path, whose span then stays a constant none.
    #[cfg(feature = "otel")]
    #[inline(never)]
    fn untraced_root(
        callsite: &'static FnCallsite,
        trace: Trace,
        labels: &[&dyn fmt::Display],
    ) -> Self {
        CallStart {
            trace,
            span: callsite.spanless(),
            recording: Some(Recording::start(callsite, labels, false)),
            root: true,
        }
    }

    /// For a disabled callsite, whose call is not recorded.
    #[inline(always)]
    pub fn disabled() -> Self {
        CallStart {
            trace: Trace::NONE,
            span: Span::none(),
            recording: None,
            #[cfg(feature = "otel")]
            root: false,
        }
    }
}

/// The metrics side of an enabled call's start. The span is not entered
/// for it: starting records nothing that reads the current span (the
/// in-flight gauge, the clock; exemplars are taken at the end, from the span
/// passed there). Inlined, as the end is (see [`finish_recording`]): out of
/// line, the recording went through the stack twice on its way into the
/// caller's future.
#[inline(always)]
fn start_recording(callsite: &'static FnCallsite, labels: &[&dyn fmt::Display]) -> Recording {
    Recording::start(callsite, labels, false)
}

impl fmt::Debug for CallStart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("CallStart");
        debug
            .field("trace", &self.trace)
            .field("span", &self.span)
            .field("recorded", &self.recording.is_some());
        #[cfg(feature = "otel")]
        debug.field("root", &self.root);
        debug.finish()
    }
}

impl fmt::Debug for FnCall<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnCall")
            .field("active", &self.is_active())
            .finish_non_exhaustive()
    }
}

/// The future of an `async fn` call; its pin is projected by hand (see the
/// module doc for why). For a disabled callsite it only polls the body's
/// future: one type either way, so the expansion awaits one future.
#[doc(hidden)]
pub struct CallFuture<F: Future, C> {
    future: ManuallyDrop<F>,
    /// Some only when `trace` is traced, so only then dropped (see `drop`).
    span: ManuallyDrop<Span>,
    /// Swapped in for every poll (and the drop), as the span is entered.
    trace: Trace,
    /// `None` for a disabled call, and once the call finished; always
    /// `None` when `drop` returns, so it has no drop glue to run.
    recording: ManuallyDrop<Option<Recording>>,
    is_error: Option<C>,
}

impl<F, C> CallFuture<F, C>
where
    F: Future,
    C: FnOnce(&F::Output) -> bool,
{
    /// Wraps the body's future, for the call `start` began (see
    /// [`CallStart`] for why this is inlined and does nothing else).
    #[inline(always)]
    pub fn new(start: CallStart, future: F, is_error: C) -> Self {
        let CallStart {
            trace,
            span,
            recording,
            #[cfg(feature = "otel")]
            root,
        } = start;
        // An untraced call's span is none: written as such here, straight
        // into the caller's future, rather than copied there from the
        // start's (a span that might be some went through the stack twice).
        #[cfg(not(feature = "otel"))]
        let root = false;
        // An untraced root keeps its span, disabled, for its callsite's
        // metadata. Told by a flag, not by the span: reading the span kept
        // it in memory on every untraced call's path (~17 instructions).
        let span = if trace.is_traced() || root {
            span
        } else {
            std::mem::forget(span);
            Span::none()
        };
        CallFuture {
            future: ManuallyDrop::new(future),
            span: ManuallyDrop::new(span),
            trace,
            recording: ManuallyDrop::new(recording),
            is_error: Some(is_error),
        }
    }
}

/// A poll of a recorded call in progress: its span entered, its trace
/// decision in scope. Dropped when the poll returns, or as it unwinds, in
/// which case the call finishes as a panic, inside its span.
struct RecordedPoll<'a> {
    recording: &'a mut Option<Recording>,
    span: &'a Span,
    returned: bool,
    // Dropped after `drop` ran, in this order: the decision restored, then
    // the span exited.
    _trace: TraceScope,
    _enter: tracing::span::Entered<'a>,
}

impl<'a> RecordedPoll<'a> {
    #[inline(always)]
    fn enter(recording: &'a mut Option<Recording>, span: &'a Span, trace: Trace) -> Self {
        let enter = span.enter();
        RecordedPoll {
            recording,
            span,
            returned: false,
            _trace: trace.scope(),
            _enter: enter,
        }
    }

    /// The body's future answered `poll`: when it is ready, the call
    /// finishes, classified by `is_error`, still inside its span. By
    /// reference, as the end of the call is: moving the guard or the
    /// recording cost a copy of each at every poll.
    #[inline(always)]
    fn polled<T>(&mut self, poll: &Poll<T>, is_error: &mut Option<impl FnOnce(&T) -> bool>) {
        self.returned = true;
        if let Poll::Ready(output) = poll {
            if self.recording.is_some() {
                let is_error = is_error.take().is_some_and(|is_error| is_error(output));
                let outcome = if is_error {
                    Outcome::Error
                } else {
                    Outcome::Ok
                };
                finish_recording(self.recording, outcome, self.span);
            }
        }
    }
}

impl Drop for RecordedPoll<'_> {
    /// Inlined: every poll of a recorded call drops one, and only an
    /// unwinding poll has anything to do.
    #[inline(always)]
    fn drop(&mut self) {
        if !self.returned {
            self.unwound();
        }
    }
}

impl RecordedPoll<'_> {
    #[cold]
    #[inline(never)]
    fn unwound(&mut self) {
        if let Some(recording) = self.recording.take() {
            recording.finish(Outcome::Panic, self.span, false);
        }
    }
}

/// The end of an `async` call, inlined into the poll that calls it (itself
/// inlined into the caller's future). Out of line, the start and the end
/// cost an untraced call about 20 instructions more (the service bench,
/// `alamos_untraced`: 6,568 a request, 6,523 inlined). The price is code:
/// every instrumented `async fn`'s poll holds both, which a disabled call
/// never runs but may pay for in registers (the bench's `alamos_off`: 5,986
/// then 6,004, its connection's poll no longer inlined into its caller). A
/// user's own recorder's updates stay out of line (`FacadeCalls::finish`).
#[inline(always)]
fn finish_recording(recording: &mut Option<Recording>, outcome: Outcome, span: &Span) {
    // Read in place, then cleared: `take` copied the recording to the stack.
    if let Some(recording) = recording.as_ref() {
        recording.finish(outcome, span, false);
    }
    *recording = None;
}

impl<F, C> Future for CallFuture<F, C>
where
    F: Future,
    C: FnOnce(&F::Output) -> bool,
{
    type Output = F::Output;

    /// Inlined, with the body's `poll` called from one place, so that the
    /// compiler inlines the body here as it would a plain `async fn`'s into
    /// its caller (called from two, the body stayed out of line). A
    /// disabled call (or a finished one, whose body's future answers a poll
    /// as a spent `async` block does) polls the body alone, and pays one
    /// more check when it returns; a recorded one polls it inside its span
    /// and trace decision, and finishes when it is ready or unwinds.
    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is never moved out of the pinned `self`; the other
        // fields are not structurally pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let mut recorded = if this.recording.is_some() {
            Some(RecordedPoll::enter(
                &mut this.recording,
                &this.span,
                this.trace,
            ))
        } else {
            None
        };
        // SAFETY: see above; `future` stays in place until dropped in `drop`.
        let poll = unsafe { Pin::new_unchecked(&mut *this.future) }.poll(cx);
        if let Some(recorded) = &mut recorded {
            recorded.polled(&poll, &mut this.is_error);
        }
        poll
    }
}

impl<F: Future, C> Drop for CallFuture<F, C> {
    /// Every field that owns something is a `ManuallyDrop`, so a completed
    /// or disabled call, the common drop, runs this and no drop glue.
    #[inline(always)]
    fn drop(&mut self) {
        if self.recording.is_none() {
            // Disabled, or finished (returned or panicked in `poll`): the
            // body's future is spent, its locals already dropped, so
            // dropping it runs nothing the span must see. Entering the span
            // here cost every completed call an enter and an exit in each
            // layer. Only a disabled call's body may run code here (a
            // cancelled one's locals), and its span owns nothing.
            // SAFETY: dropped in place exactly once, and never used afterwards.
            unsafe { ManuallyDrop::drop(&mut self.future) };
            if self.trace.is_traced() {
                // SAFETY: dropped exactly once, here; an untraced or
                // disabled call's span is `Span::none()` (see `new`), which
                // owns nothing and is not dropped.
                unsafe { ManuallyDrop::drop(&mut self.span) };
            }
        } else {
            self.cancel();
        }
    }
}

impl<F: Future, C> CallFuture<F, C> {
    /// Dropped while recorded and unfinished: the call is cancelled, and
    /// the body's locals drop now, inside the call's span, which is dropped
    /// last, even if one of them panics.
    #[inline(never)]
    fn cancel(&mut self) {
        // SAFETY: taken exactly once, from `drop`, and never used afterwards.
        let span = unsafe { ManuallyDrop::take(&mut self.span) };
        let _enter = span.enter();
        let _trace = self.trace.scope();
        if let Some(recording) = self.recording.take() {
            recording.finish(Outcome::Cancelled, &span, false);
        }
        // SAFETY: dropped in place exactly once, from `drop`, and never used
        // afterwards.
        unsafe { ManuallyDrop::drop(&mut self.future) };
    }
}

impl<F: Future, C> fmt::Debug for CallFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallFuture")
            .field("span", &self.span)
            .field("finished", &self.recording.is_none())
            .finish_non_exhaustive()
    }
}

/// Calls the body of an instrumented function. Requiring `FnOnce` makes the
/// closure own its captures, so a body may return borrows of `&mut self`.
#[doc(hidden)]
#[inline(always)]
pub fn call_once<R, F: FnOnce() -> R>(body: F) -> R {
    body()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::task::Wake;

    use super::*;
    use crate::callsite::Location;
    use crate::classify::Observe;
    use crate::level::Level;
    use crate::metric::sink::Tally;

    // Built as the expansion builds them, but started with `FnCall::start`
    // and `CallStart::new`, which skip the gate: the tree's link-time
    // registry is out of reach of Miri.
    static SYNC: FnCallsite = FnCallsite::new(
        &SYNC,
        "call_test",
        "sync",
        Level::Prod,
        Location {
            span_name: "call_test.sync",
            module_path: module_path!(),
            file: file!(),
            line: line!(),
        },
    );
    static LABELLED: FnCallsite = FnCallsite::with_labels(
        &LABELLED,
        "call_test",
        "labelled",
        Level::Prod,
        Location {
            span_name: "call_test.labelled",
            module_path: module_path!(),
            file: file!(),
            line: line!(),
        },
        &["shard"],
    );
    static ASYNC: FnCallsite = FnCallsite::new(
        &ASYNC,
        "call_test",
        "async",
        Level::Prod,
        Location {
            span_name: "call_test.async",
            module_path: module_path!(),
            file: file!(),
            line: line!(),
        },
    );

    /// Runs `f` under a recorder of its own: the calls of `function`
    /// counted by outcome, in `Outcome::ALL` order.
    fn outcomes(function: &str, labels: &str, f: impl FnOnce()) -> [u64; 5] {
        let recorder = Tally::default();
        metrics::with_local_recorder(&recorder, f);
        Outcome::ALL.map(|outcome| {
            recorder.counter(&format!(
                "alamos_calls_total{{experiment=\"call_test\",function=\"{function}\"{labels},outcome=\"{outcome}\"}}"
            ))
        })
    }

    #[test]
    fn a_call_finishes_in_its_slot_once_with_its_outcome() {
        let counts = outcomes("sync", "", || {
            // Completed.
            let mut slot = CallSlot::new();
            let call = FnCall::start(&SYNC, &mut slot);
            assert_eq!(call.done(1), 1);
            drop(call);
            // An error through `?`, the guard moved before it drops.
            let mut slot = CallSlot::new();
            let call = Box::new(FnCall::start(&SYNC, &mut slot));
            let _ = Err::<(), u8>(3).observe(&call);
            drop(call);
            // A returned `Err`, classified.
            let mut slot = CallSlot::new();
            let call = FnCall::start(&SYNC, &mut slot);
            let returns = Returns::new(|value: &Result<u8, u8>| value.is_err());
            assert_eq!(returns.value(&call, Err(4)), Err(4));
            drop(call);
            // A panic in the body.
            let unwound = std::panic::catch_unwind(|| {
                let mut slot = CallSlot::new();
                let _call = FnCall::start(&SYNC, &mut slot);
                std::panic::resume_unwind(Box::new(()));
            });
            assert!(unwound.is_err());
            // A disabled call records nothing.
            let call = FnCall::disabled();
            assert!(!call.is_active());
            call.completed();
        });
        assert_eq!(counts, [1, 2, 1, 0, 0]);
    }

    #[test]
    fn a_hidden_exit_makes_a_result_call_unknown() {
        let counts = outcomes("sync", "", || {
            let mut slot = CallSlot::new();
            let call = FnCall::start(&SYNC, &mut slot);
            {
                let _exits = HiddenExits::new(&call, true);
                call.arm(&"bail");
                // Left through the armed macro: never completed.
            }
            drop(call);
        });
        // Its value was never seen: neither `ok` nor `error`.
        assert_eq!(counts, [0, 0, 0, 0, 1]);
    }

    #[test]
    fn labelled_calls_share_handles_per_label_set() {
        let recorder = Tally::default();
        metrics::with_local_recorder(&recorder, || {
            for shard in [1, 2, 1] {
                let mut slot = CallSlot::new();
                let call = FnCall::start_labeled(&LABELLED, &mut slot, Span::none, &[&shard]);
                call.completed();
            }
        });
        let ok = |shard: u8| {
            recorder.counter(&format!(
                "alamos_calls_total{{experiment=\"call_test\",function=\"labelled\",shard=\"{shard}\",outcome=\"ok\"}}"
            ))
        };
        assert_eq!((ok(1), ok(2)), (2, 1));
    }

    struct Noop;

    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }

    /// Pending once, then its value.
    struct Later<T>(Option<T>, bool);

    impl<T: Unpin> Future for Later<T> {
        type Output = T;
        fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<T> {
            if std::mem::replace(&mut self.1, true) {
                Poll::Ready(self.0.take().expect("polled after completion"))
            } else {
                Poll::Pending
            }
        }
    }

    #[test]
    fn a_call_future_finishes_once_done_cancelled_or_panicked() {
        let waker = std::task::Waker::from(Arc::new(Noop));
        let mut cx = Context::from_waker(&waker);
        let counts = outcomes("async", "", || {
            let is_err = |output: &Result<u8, u8>| output.is_err();
            // Completed with an error, over two polls.
            let mut future = Box::pin(CallFuture::new(
                CallStart::new(&ASYNC, Span::none),
                Later(Some(Err::<u8, u8>(1)), false),
                is_err,
            ));
            assert!(future.as_mut().poll(&mut cx).is_pending());
            assert_eq!(future.as_mut().poll(&mut cx), Poll::Ready(Err(1)));
            drop(future);
            // Dropped while pending: cancelled, and the body's future
            // dropped too.
            let body = Arc::new(());
            let held = Arc::clone(&body);
            let mut future = Box::pin(CallFuture::new(
                CallStart::new(&ASYNC, Span::none),
                async move {
                    Later(Some(()), false).await;
                    drop(held);
                    Ok::<u8, u8>(2)
                },
                is_err,
            ));
            assert!(future.as_mut().poll(&mut cx).is_pending());
            drop(future);
            assert_eq!(Arc::strong_count(&body), 1);
            // Panicked in poll.
            let mut future = Box::pin(CallFuture::new(
                CallStart::new(&ASYNC, Span::none),
                async { std::panic::resume_unwind(Box::new(())) },
                |(): &()| false,
            ));
            let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                future.as_mut().poll(&mut cx)
            }));
            assert!(unwound.is_err());
            drop(future);
        });
        assert_eq!(counts, [0, 1, 1, 1, 0]);
    }

    /// Counts the references to spans a subscriber has handed out, so a
    /// test can see every span closed exactly once.
    #[derive(Default)]
    struct SpanRefs {
        next: std::sync::atomic::AtomicU64,
        live: std::sync::atomic::AtomicI64,
    }

    impl tracing::Subscriber for SpanRefs {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            self.live.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tracing::span::Id::from_u64(
                self.next.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1,
            )
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, _: &tracing::Event<'_>) {}
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
        fn clone_span(&self, id: &tracing::span::Id) -> tracing::span::Id {
            self.live.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            id.clone()
        }
        fn try_close(&self, _: tracing::span::Id) -> bool {
            self.live.fetch_sub(1, std::sync::atomic::Ordering::SeqCst) == 1
        }
    }

    /// A local whose drop panics, as a cancelled body's may.
    struct PanicsOnDrop;

    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            panic!("a local's drop panicked");
        }
    }

    #[test]
    fn a_call_future_closes_its_span_once_however_it_ends() {
        let waker = std::task::Waker::from(Arc::new(Noop));
        let mut cx = Context::from_waker(&waker);
        let refs = Arc::new(SpanRefs::default());
        let dispatch = tracing::Dispatch::from(Arc::clone(&refs));
        let live = || refs.live.load(std::sync::atomic::Ordering::SeqCst);
        let span = || tracing::info_span!("call_test.async");
        let counts = outcomes("async", "", || {
            tracing::dispatcher::with_default(&dispatch, || {
                // Completed, traced: the span is closed with the future.
                let mut future = Box::pin(CallFuture::new(
                    CallStart::new(&ASYNC, span),
                    Later(Some(()), false),
                    |(): &()| false,
                ));
                assert!(future.as_mut().poll(&mut cx).is_pending());
                assert_eq!(live(), 1);
                assert!(future.as_mut().poll(&mut cx).is_ready());
                drop(future);
                assert_eq!(live(), 0);
                // Cancelled while a local's drop panics: the call is
                // cancelled and its span still closed.
                let mut future = Box::pin(CallFuture::new(
                    CallStart::new(&ASYNC, span),
                    async {
                        let _local = PanicsOnDrop;
                        Later(Some(()), false).await;
                    },
                    |(): &()| false,
                ));
                assert!(future.as_mut().poll(&mut cx).is_pending());
                let unwound =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(future)));
                assert!(unwound.is_err());
                assert_eq!(live(), 0);
                // Disabled: no span is made.
                let mut future = Box::pin(CallFuture::new(
                    CallStart::disabled(),
                    Later(Some(()), false),
                    |(): &()| false,
                ));
                assert!(future.as_mut().poll(&mut cx).is_pending());
                drop(future);
                assert_eq!(refs.next.load(std::sync::atomic::Ordering::SeqCst), 2);
            });
        });
        assert_eq!(counts, [1, 0, 0, 1, 0]);
    }
}
