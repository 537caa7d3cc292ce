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
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::ops::ControlFlow;
use std::pin::Pin;
use std::ptr::NonNull;
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
        FnCall::begin(callsite, slot, callsite.span(), &[])
    }

    /// A call through an enabled callsite, inside `span`: for functions
    /// whose span records fields of their own.
    #[inline(never)]
    pub fn start_span(callsite: &'static FnCallsite, slot: &'a mut CallSlot, span: Span) -> Self {
        FnCall::begin(callsite, slot, span, &[])
    }

    /// A call through an enabled callsite with `labels(...)`, whose values
    /// are `labels`, in the order the callsite names them.
    #[inline(never)]
    pub fn start_labeled(
        callsite: &'static FnCallsite,
        slot: &'a mut CallSlot,
        span: Span,
        labels: &[&dyn fmt::Display],
    ) -> Self {
        FnCall::begin(callsite, slot, span, labels)
    }

    #[inline(always)]
    fn begin(
        callsite: &'static FnCallsite,
        slot: &'a mut CallSlot,
        span: Span,
        labels: &[&dyn fmt::Display],
    ) -> Self {
        let span = span.entered();
        let active = slot.0.write(ActiveCall {
            recording: Recording::start(callsite, labels),
            error: Cell::new(false),
            unknown: Cell::new(false),
            completed: Cell::new(false),
            began_panicking: std::thread::panicking(),
            exit: Cell::new(None),
            span,
        });
        FnCall {
            active: Some(NonNull::from(active)),
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
    fn leaving_with_error(&self) {
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
    call.recording.finish(outcome, &call.span, true);
    // SAFETY: dropped once, here; the slot is never read again.
    unsafe { std::ptr::drop_in_place(active.as_ptr()) };
}

impl fmt::Debug for FnCall<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnCall")
            .field("active", &self.is_active())
            .finish_non_exhaustive()
    }
}

/// The future of an enabled `async fn` call; its pin is projected by hand
/// (see the module doc for why).
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
    fn observe(self, call: &FnCall<'_>) -> Self;

    /// As [`Observe::observe`], and hands the error to `record` first.
    #[must_use]
    fn observe_err(self, call: &FnCall<'_>, record: impl FnOnce(&Self::Error)) -> Self;
}

impl<T, E> Observe for Result<T, E> {
    type Error = E;

    #[inline(always)]
    fn observe(self, call: &FnCall<'_>) -> Self {
        if self.is_err() {
            call.leaving_with_error();
        }
        self
    }

    #[inline(always)]
    fn observe_err(self, call: &FnCall<'_>, record: impl FnOnce(&E)) -> Self {
        if let Err(error) = &self {
            if call.is_active() {
                record(error);
                call.leaving_with_error();
            }
        }
        self
    }
}

impl<T, E> Observe for Poll<Result<T, E>> {
    type Error = E;

    #[inline(always)]
    fn observe(self, call: &FnCall<'_>) -> Self {
        if matches!(self, Poll::Ready(Err(_))) {
            call.leaving_with_error();
        }
        self
    }

    #[inline(always)]
    fn observe_err(self, call: &FnCall<'_>, record: impl FnOnce(&E)) -> Self {
        if let Poll::Ready(Err(error)) = &self {
            if call.is_active() {
                record(error);
                call.leaving_with_error();
            }
        }
        self
    }
}

impl<T, E> Observe for Poll<Option<Result<T, E>>> {
    type Error = E;

    #[inline(always)]
    fn observe(self, call: &FnCall<'_>) -> Self {
        if matches!(self, Poll::Ready(Some(Err(_)))) {
            call.leaving_with_error();
        }
        self
    }

    #[inline(always)]
    fn observe_err(self, call: &FnCall<'_>, record: impl FnOnce(&E)) -> Self {
        if let Poll::Ready(Some(Err(error))) = &self {
            if call.is_active() {
                record(error);
                call.leaving_with_error();
            }
        }
        self
    }
}

/// `None` and `Break` are not errors, but `?` returns them: the call
/// completed.
impl<T> Observe for Option<T> {
    type Error = Infallible;

    #[inline(always)]
    fn observe(self, call: &FnCall<'_>) -> Self {
        if self.is_none() {
            call.completed();
        }
        self
    }

    #[inline(always)]
    fn observe_err(self, call: &FnCall<'_>, _: impl FnOnce(&Infallible)) -> Self {
        self.observe(call)
    }
}

impl<B, C> Observe for ControlFlow<B, C> {
    type Error = Infallible;

    #[inline(always)]
    fn observe(self, call: &FnCall<'_>) -> Self {
        if self.is_break() {
            call.completed();
        }
        self
    }

    #[inline(always)]
    fn observe_err(self, call: &FnCall<'_>, _: impl FnOnce(&Infallible)) -> Self {
        self.observe(call)
    }
}

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

/// The value of a returned `Ok`, for `ret` beside `err`…
#[doc(hidden)]
pub trait OkOfResult {
    type Ok;
    fn __alamos_ok(&self) -> Option<&Self::Ok>;
}

impl<T, E> OkOfResult for Result<T, E> {
    type Ok = T;

    #[inline(always)]
    fn __alamos_ok(&self) -> Option<&T> {
        self.as_ref().ok()
    }
}

/// …and the whole value for every other type.
#[doc(hidden)]
pub trait OkOfOther {
    type Ok: ?Sized;
    fn __alamos_ok(&self) -> Option<&Self::Ok>;
}

impl<T: ?Sized> OkOfOther for &T {
    type Ok = T;

    #[inline(always)]
    fn __alamos_ok(&self) -> Option<&T> {
        Some(*self)
    }
}

/// Whether a function's return type is a `Result`, decided on the type
/// alone (`&PhantomData<R>`): `Result` picks this impl…
#[doc(hidden)]
pub trait ReturnsResult {
    fn __alamos_returns_result(&self) -> bool;
}

impl<T, E> ReturnsResult for std::marker::PhantomData<Result<T, E>> {
    #[inline(always)]
    fn __alamos_returns_result(&self) -> bool {
        true
    }
}

/// …and every other type this one.
#[doc(hidden)]
pub trait ReturnsOther {
    fn __alamos_returns_result(&self) -> bool;
}

impl<T: ?Sized> ReturnsOther for &std::marker::PhantomData<T> {
    #[inline(always)]
    fn __alamos_returns_result(&self) -> bool {
        false
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
