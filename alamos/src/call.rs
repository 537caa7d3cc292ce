//! One instrumented call: its span, its timing and its outcome.
//!
//! A synchronous function keeps a [`FnCall`] in its frame: created at entry,
//! dropped at every exit, so a `return`, a `?`, a panic and falling off the end
//! all finish the call exactly once. An `async fn` wraps its body in a
//! [`CallFuture`], which enters the span for every poll and tells completion
//! from a panic in `poll` and from being dropped unfinished (cancelled).

use std::cell::Cell;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::task::{Context, Poll};

use tracing::span::EnteredSpan;
use tracing::Span;

use crate::callsite::{FnCallsite, STATUS_FIELD};
use crate::clock;
use crate::metric::calls::{CallHandles, Started};
use crate::metric::outcome::Outcome;
use crate::metric::sink::HandleRef;

/// The metrics side of a call in progress.
struct Recording {
    handles: HandleRef<CallHandles>,
    started: Started,
    start: u64,
}

impl Recording {
    /// `labels` holds the values of the callsite's `labels(...)`, if any.
    #[inline(always)]
    fn start(callsite: &'static FnCallsite, labels: &[&dyn fmt::Display]) -> Self {
        let handles = callsite.call_handles(labels);
        let started = handles.start();
        Recording {
            handles,
            started,
            start: clock::now(),
        }
    }

    /// Records the outcome; failures also mark `span` for OpenTelemetry.
    /// `here` says the call finishes on the thread it started on.
    /// With `otel`, the call is also offered as its bucket's exemplar,
    /// which reads `span`'s trace only when that exemplar is old enough.
    #[inline(always)]
    fn finish(&self, outcome: Outcome, span: &Span, here: bool) {
        #[cfg(feature = "otel")]
        let end = clock::now();
        #[cfg(feature = "otel")]
        let nanos = clock::nanos_between(self.start, end);
        #[cfg(not(feature = "otel"))]
        let nanos = clock::nanos_since(self.start);
        if matches!(outcome, Outcome::Error | Outcome::Panic) {
            span.record(STATUS_FIELD, "error");
        }
        let landed = if here {
            self.handles.finish_here(self.started, outcome, nanos)
        } else {
            self.handles.finish(outcome, nanos)
        };
        #[cfg(feature = "otel")]
        landed.offer(end, nanos, span);
        #[cfg(not(feature = "otel"))]
        let _ = landed;
    }
}

/// A synchronous call in progress; finishes when dropped.
///
/// `ManuallyDrop` keeps the drop glue of a disabled call to one branch that
/// the compiler inlines; the enabled work is out of line.
#[doc(hidden)]
pub struct FnCall {
    active: ManuallyDrop<Option<ActiveCall>>,
}

struct ActiveCall {
    recording: Recording,
    error: Cell<bool>,
    /// Set when the body returned. Dropped without it while the thread
    /// panics, the call unwound; this holds even for a call that began while
    /// another panic was already unwinding (from a `Drop`).
    completed: Cell<bool>,
    // Dropped after the metrics are recorded, so they happen inside the span.
    // It also keeps the call on its thread (`!Send`), which `finish_here`
    // relies on.
    span: EnteredSpan,
}

impl FnCall {
    /// A call through `callsite`: recorded, with the callsite's span, when
    /// the callsite is enabled; otherwise one load and a branch.
    #[inline(always)]
    pub fn enter(callsite: &'static FnCallsite) -> Self {
        if callsite.is_enabled() {
            FnCall::start(callsite)
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
    pub fn start(callsite: &'static FnCallsite) -> Self {
        FnCall::begin(callsite, callsite.span(), &[])
    }

    /// A call through an enabled callsite, inside `span`: for functions
    /// whose span records fields of their own.
    #[inline(never)]
    pub fn start_span(callsite: &'static FnCallsite, span: Span) -> Self {
        FnCall::begin(callsite, span, &[])
    }

    /// A call through an enabled callsite with `labels(...)`, whose values
    /// are `labels`, in the order the callsite names them.
    #[inline(never)]
    pub fn start_labeled(
        callsite: &'static FnCallsite,
        span: Span,
        labels: &[&dyn fmt::Display],
    ) -> Self {
        FnCall::begin(callsite, span, labels)
    }

    #[inline(always)]
    fn begin(callsite: &'static FnCallsite, span: Span, labels: &[&dyn fmt::Display]) -> Self {
        let span = span.entered();
        FnCall {
            active: ManuallyDrop::new(Some(ActiveCall {
                recording: Recording::start(callsite, labels),
                error: Cell::new(false),
                completed: Cell::new(false),
                span,
            })),
        }
    }

    /// A call through a disabled callsite: records nothing.
    #[inline(always)]
    pub const fn disabled() -> Self {
        FnCall {
            active: ManuallyDrop::new(None),
        }
    }

    /// Whether this call is being recorded.
    #[inline(always)]
    pub fn is_active(&self) -> bool {
        self.active.is_some()
    }

    /// Counts the call as an error when it finishes.
    #[inline]
    pub fn mark_error(&self) {
        if let Some(active) = &*self.active {
            active.error.set(true);
        }
    }

    /// Records that the body returned normally.
    #[inline]
    pub fn completed(&self) {
        if let Some(active) = &*self.active {
            active.completed.set(true);
        }
    }

    /// Passes a returned value through, classifying it with `is_error`.
    #[inline(always)]
    pub fn returned<T>(&self, value: T, is_error: impl FnOnce(&T) -> bool) -> T {
        self.completed();
        if self.is_active() && is_error(&value) {
            self.mark_error();
        }
        value
    }
}

impl Drop for FnCall {
    #[inline(always)]
    fn drop(&mut self) {
        if self.active.is_some() {
            finish_call(&mut self.active);
        }
    }
}

/// Finishes a call in place: moving the call out of the frame would copy it
/// with wider loads than the stores that wrote it, which stalls.
#[inline(never)]
fn finish_call(active: &mut ManuallyDrop<Option<ActiveCall>>) {
    if let Some(call) = &**active {
        let outcome = if !call.completed.get() && std::thread::panicking() {
            Outcome::Panic
        } else if call.error.get() {
            Outcome::Error
        } else {
            Outcome::Ok
        };
        call.recording.finish(outcome, &call.span, true);
    }
    // SAFETY: called once, from `drop`; the field is never used again.
    unsafe { ManuallyDrop::drop(active) };
}

impl fmt::Debug for FnCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnCall")
            .field("active", &self.is_active())
            .finish_non_exhaustive()
    }
}

/// The future of an enabled `async fn` call.
#[doc(hidden)]
pub struct CallFuture<F: Future, C> {
    future: ManuallyDrop<F>,
    span: Span,
    recording: Option<Recording>,
    is_error: Option<C>,
}

impl<F, C> CallFuture<F, C>
where
    F: Future,
    C: FnOnce(&F::Output) -> bool,
{
    /// Wraps the body's future; the call starts now.
    pub fn new(callsite: &'static FnCallsite, span: Span, future: F, is_error: C) -> Self {
        CallFuture::new_labeled(callsite, span, &[], future, is_error)
    }

    /// As [`CallFuture::new`], for a callsite with `labels(...)`.
    pub fn new_labeled(
        callsite: &'static FnCallsite,
        span: Span,
        labels: &[&dyn fmt::Display],
        future: F,
        is_error: C,
    ) -> Self {
        let recording = {
            let _enter = span.enter();
            Recording::start(callsite, labels)
        };
        CallFuture {
            future: ManuallyDrop::new(future),
            span,
            recording: Some(recording),
            is_error: Some(is_error),
        }
    }
}

/// Finishes the call as a panic if `poll` unwinds: dropped before `poll`
/// returned.
struct PollGuard<'a> {
    recording: &'a mut Option<Recording>,
    span: &'a Span,
    returned: bool,
}

impl Drop for PollGuard<'_> {
    fn drop(&mut self) {
        if !self.returned {
            if let Some(recording) = self.recording.take() {
                recording.finish(Outcome::Panic, self.span, false);
            }
        }
    }
}

impl<F, C> Future for CallFuture<F, C>
where
    F: Future,
    C: FnOnce(&F::Output) -> bool,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is never moved out of the pinned `self`; the other
        // fields are not structurally pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let _enter = this.span.enter();
        let mut guard = PollGuard {
            recording: &mut this.recording,
            span: &this.span,
            returned: false,
        };
        // SAFETY: see above; `future` stays in place until dropped in `drop`.
        let future = unsafe { Pin::new_unchecked(&mut *this.future) };
        let poll = future.poll(cx);
        guard.returned = true;
        let Poll::Ready(output) = poll else {
            return Poll::Pending;
        };
        if let Some(recording) = guard.recording.take() {
            let is_error = this
                .is_error
                .take()
                .is_some_and(|is_error| is_error(&output));
            let outcome = if is_error {
                Outcome::Error
            } else {
                Outcome::Ok
            };
            recording.finish(outcome, guard.span, false);
        }
        Poll::Ready(output)
    }
}

impl<F: Future, C> Drop for CallFuture<F, C> {
    fn drop(&mut self) {
        let _enter = self.span.enter();
        if let Some(recording) = self.recording.take() {
            recording.finish(Outcome::Cancelled, &self.span, false);
        }
        // SAFETY: dropped in place exactly once, and never used afterwards.
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

/// Watches the operand of a rewritten `?` for the error it would return.
#[doc(hidden)]
pub trait Observe: Sized {
    /// What an early return through `?` carries.
    type Error;

    /// Marks the call as an error if `?` is about to return one.
    #[must_use]
    fn observe(self, call: &FnCall) -> Self;

    /// As [`Observe::observe`], and hands the error to `record` first.
    #[must_use]
    fn observe_err(self, call: &FnCall, record: impl FnOnce(&Self::Error)) -> Self;
}

impl<T, E> Observe for Result<T, E> {
    type Error = E;

    #[inline(always)]
    fn observe(self, call: &FnCall) -> Self {
        if self.is_err() {
            call.mark_error();
        }
        self
    }

    #[inline(always)]
    fn observe_err(self, call: &FnCall, record: impl FnOnce(&E)) -> Self {
        if let Err(error) = &self {
            if call.is_active() {
                record(error);
                call.mark_error();
            }
        }
        self
    }
}

impl<T, E> Observe for Poll<Result<T, E>> {
    type Error = E;

    #[inline(always)]
    fn observe(self, call: &FnCall) -> Self {
        if matches!(self, Poll::Ready(Err(_))) {
            call.mark_error();
        }
        self
    }

    #[inline(always)]
    fn observe_err(self, call: &FnCall, record: impl FnOnce(&E)) -> Self {
        if let Poll::Ready(Err(error)) = &self {
            if call.is_active() {
                record(error);
                call.mark_error();
            }
        }
        self
    }
}

impl<T, E> Observe for Poll<Option<Result<T, E>>> {
    type Error = E;

    #[inline(always)]
    fn observe(self, call: &FnCall) -> Self {
        if matches!(self, Poll::Ready(Some(Err(_)))) {
            call.mark_error();
        }
        self
    }

    #[inline(always)]
    fn observe_err(self, call: &FnCall, record: impl FnOnce(&E)) -> Self {
        if let Poll::Ready(Some(Err(error))) = &self {
            if call.is_active() {
                record(error);
                call.mark_error();
            }
        }
        self
    }
}

/// `None` and `Break` are not errors: `?` passes them through untouched.
macro_rules! observe_nothing {
    ($($ty:ty => [$($param:ident),*]),* $(,)?) => {$(
        impl<$($param),*> Observe for $ty {
            type Error = Infallible;

            #[inline(always)]
            fn observe(self, _: &FnCall) -> Self {
                self
            }

            #[inline(always)]
            fn observe_err(self, _: &FnCall, _: impl FnOnce(&Infallible)) -> Self {
                self
            }
        }
    )*};
}

observe_nothing!(Option<T> => [T], ControlFlow<B, C> => [B, C]);

/// Classifies a returned value of a concrete type: `Result` picks this impl…
#[doc(hidden)]
pub trait IsErrResult {
    fn __alamos_is_err(&self) -> bool;
}

impl<T, E> IsErrResult for Result<T, E> {
    #[inline(always)]
    fn __alamos_is_err(&self) -> bool {
        self.is_err()
    }
}

/// …and every other type falls back to this one, one autoref further away.
#[doc(hidden)]
pub trait IsErrOther {
    fn __alamos_is_err(&self) -> bool;
}

impl<T: ?Sized> IsErrOther for &T {
    #[inline(always)]
    fn __alamos_is_err(&self) -> bool {
        false
    }
}

/// The error of a returned `Result`, for the `err` argument…
#[doc(hidden)]
pub trait ErrOfResult {
    type Error;
    fn __alamos_err(&self) -> Option<&Self::Error>;
}

impl<T, E> ErrOfResult for Result<T, E> {
    type Error = E;

    #[inline(always)]
    fn __alamos_err(&self) -> Option<&E> {
        self.as_ref().err()
    }
}

/// …and none for every other type, so `err` on an impl block applies to the
/// methods that return a `Result` and leaves the others alone.
#[doc(hidden)]
pub trait ErrOfOther {
    fn __alamos_err(&self) -> Option<&Infallible>;
}

impl<T: ?Sized> ErrOfOther for &T {
    #[inline(always)]
    fn __alamos_err(&self) -> Option<&Infallible> {
        None
    }
}

/// Calls the body of an instrumented function. Requiring `FnOnce` makes the
/// closure own its captures, so a body may return borrows of `&mut self`.
#[doc(hidden)]
#[inline(always)]
pub fn call_once<R, F: FnOnce() -> R>(body: F) -> R {
    body()
}

/// A type `err` or `ret` records with `Display`.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be recorded with `Display`",
    label = "`err` and `ret` record with `Display` here, which `{Self}` does not implement",
    note = "write `err(Debug)` or `ret(Debug)` to record it with `Debug`"
)]
pub trait RecordDisplay: fmt::Display {}

impl<T: fmt::Display + ?Sized> RecordDisplay for T {}

/// A type `err` or `ret` records with `Debug`.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be recorded with `Debug`",
    label = "`err(Debug)` and `ret` record with `Debug` here, which `{Self}` does not implement",
    note = "derive `Debug`, or write `ret(Display)` to record it with `Display`"
)]
pub trait RecordDebug: fmt::Debug {}

impl<T: fmt::Debug + ?Sized> RecordDebug for T {}

/// A field value recorded with `Display`. The value is erased so that a
/// missing `Display` is reported once, by this function's bound.
#[doc(hidden)]
#[inline(always)]
pub fn display<T: RecordDisplay>(value: &T) -> tracing::field::DisplayValue<&dyn fmt::Display> {
    tracing::field::display(value)
}

/// A field value recorded with `Debug`; see [`display`].
#[doc(hidden)]
#[inline(always)]
pub fn debug<T: RecordDebug>(value: &T) -> tracing::field::DebugValue<&dyn fmt::Debug> {
    tracing::field::debug(value)
}
