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
//!   future is wrapped in a `CallFuture`, which enters the span for every
//!   poll and classifies the output;
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

/// Instruments a function, or every method of an impl block, under an
/// experiment key. See the `alamos` crate for the arguments.
#[proc_macro_attribute]
pub fn experiment(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    match valid::experiment(args.into(), item.clone()) {
        Ok(plan) => expand::experiment(plan),
        Err(err) => fallback::without_alamos_attrs(err, item),
    }
    .into()
}

/// Sets the level of an instrumented function: above or below
/// `#[alamos::experiment]`, or on one method of an instrumented impl block.
#[proc_macro_attribute]
pub fn level(args: TokenStream, item: TokenStream) -> TokenStream {
    let (args, item) = (args.into(), proc_macro2::TokenStream::from(item));
    match valid::level(&args, item.clone()) {
        Ok(moved) => expand::level(&args, moved),
        Err(err) => fallback::without_alamos_attrs(err, item),
    }
    .into()
}

/// Leaves one method of an instrumented impl block uninstrumented.
#[proc_macro_attribute]
pub fn skip(args: TokenStream, item: TokenStream) -> TokenStream {
    fallback::unchanged(valid::skip(args.into()), item.into()).into()
}

/// Adds to a counter of the enclosing experiment: see the `alamos` crate.
#[proc_macro]
pub fn counter(tokens: TokenStream) -> TokenStream {
    instrument::instrument(instrument::Kind::Counter, tokens.into()).into()
}

/// Sets or moves a gauge of the enclosing experiment: see the `alamos` crate.
#[proc_macro]
pub fn gauge(tokens: TokenStream) -> TokenStream {
    instrument::instrument(instrument::Kind::Gauge, tokens.into()).into()
}

/// Records a value in a histogram of the enclosing experiment: see the
/// `alamos` crate.
#[proc_macro]
pub fn histogram(tokens: TokenStream) -> TokenStream {
    instrument::instrument(instrument::Kind::Histogram, tokens.into()).into()
}
