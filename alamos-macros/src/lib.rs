//! Attribute macros of [alamos](https://docs.rs/alamos). Use them through the
//! `alamos` crate, which re-exports them: the expansions name `::alamos` paths.
//!
//! `#[alamos::experiment("storage.cesium", level = debug)]` on
//!
//! ```ignore
//! fn write(&mut self, frame: &Frame) -> Result<usize, Error> { body }
//! ```
//!
//! expands, in outline, to
//!
//! ```ignore
//! fn write(&mut self, frame: &Frame) -> Result<usize, Error> {
//!     #![inner attributes of the body]
//!     let callsite: &'static FnCallsite = {
//!         static CALLSITE: FnCallsite = FnCallsite::new("storage.cesium", "write", Level::Debug, ..);
//!         // also listed in a link-time registry, so the tree knows it at start-up
//!         &CALLSITE
//!     };
//!     let call = FnCall::enter(callsite);      // disabled: one relaxed load and a branch
//!     let returns = Returns::<Result<usize, Error>, _>::new(|value| value.is_err());
//!     let value: Result<usize, Error> = {
//!         body // `e?` as `Observe::observe(e, &call)?`; `return e` as
//!              // `return returns.value(&call, e)`, which classifies `e`
//!     };
//!     returns.value(&call, value) // the block's value, whichever tail it was
//! }   // `call` drops here: in-flight, duration and outcome are recorded
//! ```
//!
//! The body keeps its own frame and block. Other shapes:
//!
//! - an `async fn`, or a synchronous fn whose tail is `async move { .. }` or
//!   `Box::pin(async move { .. })` (what `#[async_trait]` generates): the
//!   call starts first (`CallStart`: nothing for a disabled callsite), then
//!   the body's future is built straight into a `CallFuture`, awaited at
//!   once, which for an enabled call enters the span for every poll and
//!   classifies the output, and for a disabled one polls the body alone;
//! - a body with a macro that may hide an exit (`bail!`, `ready!`, any macro
//!   not named by a path into a known crate, such as `::std::format!` or
//!   `tracing::info!`; a bare `println!` may be the user's own, see
//!   `shape.rs`) and a return type that may be a `Result`: the body runs in
//!   a closure called once, whose value is classified, so every exit is seen;
//! - the same under `#[track_caller]`, where no closure may be introduced:
//!   the body stays inline, and each such macro arms an exit mark before it
//!   runs; leaving the function while a mark is armed counts `unknown` if
//!   the function may return a `Result`, and records no `err` event: the
//!   returned value is never seen, so it may be an `Ok` as well as an `Err`.
//!
//! Above the compile-time ceiling, the function is emitted exactly as
//! written.

mod args;
mod attrs;
mod expand;
mod fallback;
mod instrument;
mod nest;
mod rewrite;
mod shape;
mod strip;
mod valid;

use proc_macro::TokenStream;

/// # Expansion
///
/// `#[experiment]` is defined in `alamos-macros` and re-exported by `alamos`,
/// whose page documents its arguments with examples
/// (<https://docs.rs/alamos/latest/alamos/attr.experiment.html>). On
///
/// ```ignore
/// #[alamos::experiment("storage.cesium", level = debug)]
/// fn write(&mut self, frame: &Frame) -> Result<usize, Error> { body }
/// ```
///
/// it expands, in outline, to
///
/// ```ignore
/// fn write(&mut self, frame: &Frame) -> Result<usize, Error> {
///     static CALLSITE: FnCallsite = FnCallsite::new("storage.cesium", "write", Level::Debug, ..);
///     // CALLSITE is also listed in a link-time registry: the tree knows it at start-up.
///     let call = FnCall::enter(&CALLSITE);   // disabled: one relaxed load and a branch
///     {
///         body   // `e?` observed on its way out, `return e` and the tail classified
///     }
/// }   // `call` drops here: in-flight, duration and outcome are recorded, the span closes
/// ```
///
/// An `async fn`, or a function returning `async move { .. }` or
/// `Box::pin(async move { .. })`, has its future wrapped instead, which
/// enters the span on every poll and records `cancelled` when dropped
/// early. A body with a macro that may hide an exit, in a function that may
/// return a `Result`, runs in a closure called once (not under
/// `#[track_caller]`). Above the compile-time ceiling the function is
/// emitted exactly as written. On an impl block, each method is expanded so.
#[proc_macro_attribute]
pub fn experiment(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    match valid::experiment(args.into(), item.clone()) {
        Ok(plan) => expand::experiment(plan),
        Err(err) => fallback::without_alamos_attrs(err, item),
    }
    .into()
}

/// # Expansion
///
/// `#[level]` is defined in `alamos-macros` and re-exported by `alamos`
/// (<https://docs.rs/alamos/latest/alamos/attr.level.html>). It expands to
/// nothing of its own: above `#[alamos::experiment]` it moves its level into
/// that attribute, and below it, or on a method of an instrumented impl
/// block, `#[experiment]` reads and removes it.
#[proc_macro_attribute]
pub fn level(args: TokenStream, item: TokenStream) -> TokenStream {
    let (args, item) = (args.into(), proc_macro2::TokenStream::from(item));
    match valid::level(&args, item.clone()) {
        Ok(moved) => expand::level(&args, moved),
        Err(err) => fallback::without_alamos_attrs(err, item),
    }
    .into()
}

/// # Expansion
///
/// `#[skip]` is defined in `alamos-macros` and re-exported by `alamos`
/// (<https://docs.rs/alamos/latest/alamos/attr.skip.html>).
/// `#[experiment]` on the impl block reads and removes it, and leaves that
/// method as written; anywhere else it is a compile error.
#[proc_macro_attribute]
pub fn skip(args: TokenStream, item: TokenStream) -> TokenStream {
    fallback::unchanged(valid::skip(args.into()), item.into()).into()
}

/// # Expansion
///
/// `counter!` is defined in `alamos-macros` and re-exported by `alamos`
/// (<https://docs.rs/alamos/latest/alamos/macro.counter.html>).
/// `counter!(debug, "relay_frames", n, node = id)` expands, in outline, to
///
/// ```ignore
/// {
///     static CALLSITE: InstrumentCallsite = InstrumentCallsite::new(InstrumentSpec {
///         kind: Kind::Counter, name: "relay_frames_total", level: Level::Debug,
///         experiment: /* the enclosing instrumented function's */, labels: &["node"], ..
///     });
///     // also listed in a link-time registry: `experiments()` knows it at start-up
///     if CALLSITE.is_enabled() {          // a relaxed load and a branch
///         CALLSITE.increment(n, &[&id]);  // the handle is registered once per label set
///     }
/// }
/// ```
///
/// Above the compile-time ceiling it expands to a closure that is never
/// called, which keeps the value and labels type-checked.
#[proc_macro]
pub fn counter(tokens: TokenStream) -> TokenStream {
    instrument::instrument(instrument::Kind::Counter, tokens.into()).into()
}

/// # Expansion
///
/// `gauge!` is defined in `alamos-macros` and re-exported by `alamos`
/// (<https://docs.rs/alamos/latest/alamos/macro.gauge.html>). It expands as
/// `counter!` does, to a `static` callsite and, when enabled,
/// `CALLSITE.set(value, labels)` (`add(delta, ..)` for `+=` and `-=`).
#[proc_macro]
pub fn gauge(tokens: TokenStream) -> TokenStream {
    instrument::instrument(instrument::Kind::Gauge, tokens.into()).into()
}

/// # Expansion
///
/// `histogram!` is defined in `alamos-macros` and re-exported by `alamos`
/// (<https://docs.rs/alamos/latest/alamos/macro.histogram.html>). It expands
/// as `counter!` does, to a `static` callsite holding its bucket bounds and,
/// when enabled, `CALLSITE.record(value, labels)`.
#[proc_macro]
pub fn histogram(tokens: TokenStream) -> TokenStream {
    instrument::instrument(instrument::Kind::Histogram, tokens.into()).into()
}
