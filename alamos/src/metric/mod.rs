//! The metric layer: names, the store, where each callsite's metrics go, and
//! the read-only snapshot exporters read.
//!
//! It sits above the experiment tree and below everything that exports:
//!
//! - [`name`]: metric names, kinds, units and HELP text;
//! - [`buckets`]: histogram bucket presets;
//! - [`store`]: the per-thread cells every series lives in, in the
//!   per-thread [`arena`] (every `unsafe` of that side of the store);
//! - [`sink`]: the choice, per callsite and recorder, between the store and
//!   the `metrics` facade, and the bounded label sets;
//! - [`calls`] and [`instrument`]: what an instrumented call and an
//!   instrument macro record;
//! - [`observe`]: values sampled when metrics are read;
//! - [`exemplar`]: per bucket, the trace of a recent sampled call (`otel`);
//! - [`recorder`]: alamos's `metrics` recorder, which writes the store;
//! - [`snapshot`](fn@snapshot): what the store holds, as exporters read it.
//!
//! Nothing here names an exporter: Prometheus, the tree view and the admin
//! endpoint read [`snapshot()`].

mod arena;
pub(crate) mod buckets;
pub(crate) mod calls;
pub(crate) mod exemplar;
pub(crate) mod instrument;
pub(crate) mod name;
pub(crate) mod observe;
pub(crate) mod outcome;
#[cfg(feature = "runtime")]
pub(crate) mod recorder;
pub(crate) mod sink;
pub(crate) mod snapshot;
pub(crate) mod store;

/// What alamos's store holds now, if alamos's recorder is installed.
pub(crate) fn snapshot() -> Option<snapshot::Snapshot> {
    sink::installed_store().map(snapshot::take)
}
