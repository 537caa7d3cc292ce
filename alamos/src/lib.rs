//! Instrumentation for distributed Rust systems: one attribute gives a
//! function a `tracing` span, per-call metrics and level-gated logs under one
//! hierarchical *experiment* key, switched per experiment at run time.
//!
//! ```
//! # #[derive(Debug)] struct Error;
//! # impl std::fmt::Display for Error {
//! #     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("error") }
//! # }
//! struct FrameWriter;
//!
//! #[alamos::experiment("distribution.frame_writer", err)]
//! impl FrameWriter {
//!     #[alamos::level(debug)]
//!     fn write(&mut self, frame: &[u8]) -> Result<usize, Error> {
//!         alamos::bench!(len = frame.len(), "writing a frame");
//!         alamos::histogram!("frame_size", frame.len() as f64, unit = bytes);
//!         Ok(frame.len())
//!     }
//! }
//!
//! fn main() {
//!     let _guard = alamos::init();   // stderr logs, Prometheus recorder; flushes on drop
//!     FrameWriter.write(b"frame").unwrap();
//!     println!("{}", alamos::tree());
//! }
//! ```
//!
//! Each enabled call of `write` opens the span
//! `distribution.frame_writer.write`, counts
//! `alamos_calls_total{experiment, function, outcome}`, times
//! `alamos_call_duration_seconds` and tracks `alamos_calls_in_flight`; its
//! log line and its histogram carry the experiment and obey its threshold.
//! A binary calls [`init`](fn@init) (or configures a [`Builder`]); a library only
//! annotates, and depends on `alamos` with `default-features = false`.
//!
//! # Where to look
//!
//! | for | see |
//! |---|---|
//! | instrumenting functions | [`#[experiment]`](macro@experiment) (every argument), [`#[level]`](macro@level), [`#[skip]`](macro@skip) |
//! | logs | [`bench!`](crate::bench!) (the arguments of all five), [`trace!`](crate::trace!), [`debug!`](crate::debug!), [`prod!`](crate::prod!), [`info!`](crate::info!), [`warn!`](crate::warn!), [`error!`](crate::error!) |
//! | values that are not calls | [`counter!`](macro@counter), [`gauge!`](macro@gauge), [`histogram!`](macro@histogram), [`observe`], [`buckets`] |
//! | levels and thresholds | [`Level`], [`set_level`], [`set_directives`], [`threshold`], [`experiments()`], [`tree()`] |
//! | a binary's set-up | [`init`](fn@init), [`Builder`], [`Guard`], [`env`](mod@env) (every `ALAMOS_*` variable), [`names`] (the metric names) |
//! | background work and state | [`spawn`], [`task`](fn@task), [`tasks()`], [`report`](fn@report), [`reports()`], [`Redacted`] |
//! | traces across processes | [`propagate`](fn@propagate), [`depropagate`], [`with_parent`], [`Carrier`], [`context`] |
//!
//! Running a node (the admin endpoint and its security, signals, export
//! health, sampling, what can be lost) is described in
//! [docs/operations.md](https://github.com/synnaxlabs/alamos/blob/main/docs/operations.md).
//!
//! # Levels and thresholds
//!
//! Levels run `bench < debug < prod < warn < error` ([`Level`]; `trace` and
//! `info` are accepted for `bench` and `prod`). Each experiment has a
//! threshold, set at start-up by the `ALAMOS_LEVEL` environment variable
//! (`"prod,distribution=debug,storage.cesium=off"`: a bare level sets the
//! root, the longest matching key prefix wins) and at run time by
//! [`set_level`]. A callsite is enabled when its level is at or above its
//! experiment's threshold; a disabled one costs a relaxed atomic load and a
//! branch, and does not evaluate its arguments.
//!
//! # Sampling
//!
//! Every enabled call is counted; only *traced* calls have a span. A call
//! that starts a trace is traced with its experiment's probability
//! (`ALAMOS_TRACE_SAMPLE="0.01,api.auth=1"`, [`set_trace_sample`]; 1 by
//! default), and the calls inside it follow its decision, as do calls under
//! a remote parent ([`depropagate`]), whose sampled flag they obey.
//!
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `runtime` | yes | [`init`](fn@init), [`Builder`], the stderr subscriber (text or JSON), alamos's Prometheus recorder and its HTTP endpoint (`/metrics`, the admin routes), the `log` bridge, the tree view's values; implies `reports` |
//! | `reports` | with `runtime` | [`report`](fn@report), [`reports()`], [`Redacted`]: `serde` values as JSON |
//! | `http` | no | [`Carrier`] for `http::HeaderMap` |
//! | `tower` | no | `alamos::tower::{ServerLayer, ClientLayer}`: requests traced and counted where they enter and leave (axum, hyper, tonic); implies `http` |
//! | `reqwest` | no | `alamos::reqwest::Middleware`: the client layer for `reqwest_middleware` clients; implies `tower` |
//! | `otel` | no | OTLP/HTTP export of spans, metrics and logs, W3C ids for spans, trace ids in log lines, exemplars; implies `runtime` |
//! | `max_level_{off,error,warn,prod,debug,bench}` | no | a compile-time ceiling: callsites below it compile to exactly the original code |
//! | `release_max_level_*` | no | the same, without `debug_assertions` |
//!
//! Without `runtime`, the macros record through the `metrics` facade and
//! `tracing` into whatever recorder and subscriber the binary installs.
//! When several ceilings are set, the most restrictive wins
//! ([`STATIC_MAX_LEVEL`]).

// The hot-path helpers are inlined into every instrumented function on
// purpose: a disabled call must cost one load and a branch (see BENCHMARKS.md).
#![allow(clippy::inline_always)]
#![warn(missing_docs)]

#[cfg(feature = "runtime")]
mod admin;
mod call;
mod callsite;
mod ceiling;
mod classify;
mod clock;
mod directive;
mod dynsite;
pub mod env;
#[cfg(feature = "otel")]
mod failure;
#[cfg(feature = "runtime")]
mod filter;
#[cfg(feature = "runtime")]
mod http;
#[cfg(feature = "runtime")]
mod identity;
#[cfg(feature = "runtime")]
mod init;
mod inventory;
// Without `runtime` only reports and tasks write JSON.
#[cfg_attr(not(feature = "runtime"), allow(dead_code))]
mod json;
mod key;
mod level;
#[cfg(all(feature = "log", feature = "runtime"))]
mod log_bridge;
mod log_macros;
// Without `runtime` nothing installs alamos's recorder, so the store and its
// snapshots go unused: callsites then record through the `metrics` facade.
#[cfg_attr(not(feature = "runtime"), allow(dead_code))]
mod metric;
#[cfg(feature = "otel")]
mod otel;
#[cfg(feature = "runtime")]
mod prometheus;
mod propagate;
#[cfg(feature = "reports")]
mod report;
#[cfg(feature = "reqwest")]
pub mod reqwest;
mod sampling;
#[cfg(feature = "runtime")]
mod signals;
#[cfg(feature = "runtime")]
mod stderr;
mod task;
#[cfg(feature = "tower")]
pub mod tower;
mod tree;
mod view;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

// The macros' reference lives here, on the re-exports, so that its examples
// are doctested against this crate (the macro crate cannot name `alamos`);
// rustdoc appends the macro crate's own docs (the expansion) after it.
#[doc(inline)]
#[doc(alias = "instrument", alias = "span", alias = "trace")]
#[doc = include_str!("doc/experiment.md")]
pub use alamos_macros::experiment;

#[doc(inline)]
#[doc(alias = "verbosity")]
#[doc = include_str!("doc/level.md")]
pub use alamos_macros::level;

#[doc(inline)]
#[doc(alias = "exclude", alias = "ignore")]
#[doc = include_str!("doc/skip.md")]
pub use alamos_macros::skip;

#[doc(inline)]
#[doc(alias = "increment", alias = "metric")]
#[doc = include_str!("doc/counter.md")]
pub use alamos_macros::counter;

#[doc(inline)]
#[doc(alias = "metric")]
#[doc = include_str!("doc/gauge.md")]
pub use alamos_macros::gauge;

#[doc(inline)]
#[doc(alias = "metric", alias = "distribution", alias = "buckets")]
#[doc = include_str!("doc/histogram.md")]
pub use alamos_macros::histogram;

// The surface DESIGN.md names, and what its functions return or take.
pub use crate::ceiling::STATIC_MAX_LEVEL;
pub use crate::directive::DirectiveError;
#[cfg(feature = "runtime")]
pub use crate::init::{init, Builder, Guard, InitError, LogFormat};
pub use crate::inventory::{
    experiments, Experiment, InstrumentInfo, InstrumentKind, InstrumentValue,
};
pub use crate::key::{validate_key, KeyError, ROOT};
pub use crate::level::{Level, LevelFilter, ParseLevelError};
pub use crate::metric::name::InstrumentUnit;
pub use crate::metric::observe::{observe, Observer, Watch};
pub use crate::metric::outcome::Outcome;
#[cfg(feature = "otel")]
pub use crate::otel::{ExportReport, OtelConfig, OtelError, OtelGuard, OtelLayer};
pub use crate::propagate::{depropagate, propagate, with_parent, Carrier, RemoteContext};
#[cfg(feature = "reports")]
pub use crate::report::{report, report_at, reports, Redacted, ReportError};
pub use crate::sampling::InvalidProbability;
#[cfg(feature = "runtime")]
pub use crate::stderr::SpanEvents;
pub use crate::task::{spawn, task, tasks, TaskFuture, TaskInfo, TaskOutput, TaskState};
pub use crate::tree::{
    set_directives, set_level, set_trace_sample, threshold, trace_sample, SetLevelError,
    SetTraceSampleError, UnknownExperiment,
};
pub use crate::view::{tree, TreeView};

/// Histogram bucket presets for `histogram!` and [`Builder`].
pub mod buckets {
    pub use crate::metric::buckets::{BYTES, COUNTS, DURATIONS};
}

/// The names of the metrics alamos exports itself, and the label value of
/// overflow series.
pub mod names {
    pub use crate::metric::name::{
        CALLS_IN_FLIGHT, CALLS_TOTAL, CALL_DURATION_SECONDS, EXPORTED_TOTAL, EXPORT_DROPPED_TOTAL,
        LABEL_OVERFLOW_TOTAL, OVERFLOW_LABEL_VALUE, TASKS, TASK_POLLS_TOTAL,
        TASK_POLL_DURATION_SECONDS, TASK_RESTARTS_TOTAL, TASK_SCHEDULED_DELAY_SECONDS,
    };
    pub use crate::metric::sink::DEFAULT_MAX_LABEL_SETS;
}

/// W3C trace context: what [`propagate`](fn@propagate) writes and [`depropagate`] reads,
/// and the types [`RemoteContext`]'s methods return.
pub mod context {
    pub use crate::propagate::{
        Baggage, BaggageError, EnteredContext, InvalidBaggageKey, TraceParent, TraceParentError,
        TraceState, TraceStateError, WithRemoteContext,
    };
}
