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
//!     static CALLSITE: FnCallsite = FnCallsite::new("storage.cesium", "write", Level::Debug);
//!     // CALLSITE is also listed in a link-time registry, so the tree knows it at start-up.
//!     let call = if CALLSITE.is_enabled() {          // one relaxed load and a branch
//!         FnCall::start(&CALLSITE, span!("storage.cesium.write", ...))
//!     } else {
//!         FnCall::disabled()
//!     };
//!     body // with `e?` as `Observe::observe(e, &call)?`, and returns classified
//! }        // `call` drops here: in-flight, duration and outcome are recorded
//! ```

mod args;
mod expand;
mod instrument;
mod nest;
mod rewrite;
mod strip;
mod valid;

use proc_macro::TokenStream;

/// Instruments a function, or every method of an impl block, under an
/// experiment key. See the `alamos` crate for the arguments.
#[proc_macro_attribute]
pub fn experiment(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::experiment(args.into(), item.into()).into()
}

/// Sets the level of an instrumented function: above or below
/// `#[alamos::experiment]`, or on one method of an instrumented impl block.
#[proc_macro_attribute]
pub fn level(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::level(&args.into(), item.into()).into()
}

/// Leaves one method of an instrumented impl block uninstrumented.
#[proc_macro_attribute]
pub fn skip(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::skip(args.into(), item.into()).into()
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
