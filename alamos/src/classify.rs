//! What generated code asks of the types it meets, answered by trait
//! resolution rather than by the macro, which sees no types: whether a `?`
//! operand is about to return an error ([`Observe`]), whether a returned
//! value is an error (`IsErrResult`/`IsErrOther`), the parts of it that `err`
//! and `ret` record (`ErrOf*`, `OkOf*`), whether a return type is a `Result`
//! (`Returns*`), and the bounds under which a field is recorded
//! (`RecordDisplay`, `RecordDebug`).
//!
//! Each `*Result`/`*Other` pair is autoref specialization: the expansion
//! calls the method on a value (or `&PhantomData<R>`), method lookup tries
//! the impl for the type itself first, and every other type reaches the
//! impl for `&T`, one autoref further away. Generated code names these as
//! `::alamos::__private::...`; `private.rs` re-exports them.

use std::convert::Infallible;
use std::fmt;
use std::ops::ControlFlow;
use std::task::Poll;

use crate::call::FnCall;

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
