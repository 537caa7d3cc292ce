//! Instrumentation for distributed Rust systems.
//!
//! One attribute turns a function into the three pillars of observability
//! under one hierarchical name, an *experiment* key such as
//! `distribution.frame_writer`:
//!
//! ```
//! # #[derive(Debug)] struct Error;
//! # struct Frame; impl Frame { fn len(&self) -> usize { 3 } }
//! struct FrameWriter;
//!
//! #[alamos::experiment("distribution.frame_writer")]
//! impl FrameWriter {
//!     #[alamos::level(debug)]
//!     fn write(&mut self, frame: &Frame) -> Result<usize, Error> {
//!         alamos::bench!(len = frame.len(), "writing a frame");
//!         Ok(frame.len())
//!     }
//! }
//! # FrameWriter.write(&Frame).unwrap();
//! ```
//!
//! Each enabled call opens a `tracing` span `distribution.frame_writer.write`,
//! counts `alamos_calls_total{experiment, function, outcome}`, times
//! `alamos_call_duration_seconds` and tracks `alamos_calls_in_flight` through
//! the `metrics` facade. Log macros ([`bench!`], [`debug!`], [`prod!`],
//! [`warn!`], [`error!`]) carry the experiment and obey its threshold.
//!
//! # Instruments
//!
//! Values that are not calls belong to experiments too: [`counter!`],
//! [`gauge!`] and [`histogram!`] record them under the enclosing
//! experiment (or `experiment = "key"`), gated by its threshold, and
//! [`observe`] samples a layer's state whenever metrics are read:
//!
//! ```
//! # struct Frame(Vec<u8>);
//! #[alamos::experiment("distribution.frame_writer")]
//! fn write(frame: &Frame) {
//!     alamos::histogram!("frame_size", frame.0.len() as f64, unit = bytes);
//!     alamos::counter!(debug, "frames", 1, node = 3);
//! }
//! # write(&Frame(vec![1, 2]));
//! let queue = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
//! let depth = std::sync::Arc::clone(&queue);
//! let _watch = alamos::observe("distribution.relay", "relay_queue_depth", move || {
//!     depth.load(std::sync::atomic::Ordering::Relaxed) as f64
//! });
//! ```
//!
//! # Levels and thresholds
//!
//! Levels run `bench < debug < prod < warn < error` ([`Level`]). Each
//! experiment has a threshold, set at start-up by the `ALAMOS_LEVEL`
//! environment variable (`"prod,distribution=debug,storage.cesium=off"`: the
//! longest matching key wins) and at run time by [`set_level`]. A callsite is
//! enabled when its level is at or above its experiment's threshold; a
//! disabled one costs a relaxed atomic load and a branch.
//!
//! # Live state
//!
//! [`spawn`] and [`task`](fn@task) run background work as *tasks* under an experiment
//! key, whose states ([`tasks()`], `alamos_tasks`, the tree view, the
//! shutdown report of `Guard`) tell what a node is doing on start-up,
//! shutdown and failure; [`report`](fn@report) attaches any `serde::Serialize` value
//! (a layer's configuration) to an experiment and [`reports()`] reads them
//! back as JSON, with [`Redacted`] for secrets. With `ALAMOS_ADMIN_TOKEN`,
//! the metrics server also answers `GET /alamos/tree`, `/alamos/reports`,
//! `/alamos/tasks`, `/alamos/levels` and `PUT /alamos/levels` (new
//! thresholds, all or nothing) behind a bearer token.
//!
//! # Compile-time stripping
//!
//! The `max_level_*` and `release_max_level_*` features remove callsites below
//! a ceiling entirely: such a function compiles to exactly its original body.

// The hot-path helpers are inlined into every instrumented function on
// purpose: a disabled call must cost one load and a branch (see BENCHMARKS.md).
#![allow(clippy::inline_always)]
#![warn(missing_docs)]

#[cfg(feature = "runtime")]
mod admin;
mod call;
mod callsite;
mod ceiling;
mod clock;
mod directive;
pub mod env;
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
#[cfg(feature = "runtime")]
mod stderr;
mod task;
mod tree;
mod view;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use alamos_macros::{counter, experiment, gauge, histogram, level, skip};

// The surface DESIGN.md names, and what its functions return or take.
pub use crate::ceiling::STATIC_MAX_LEVEL;
pub use crate::directive::DirectiveError;
#[cfg(feature = "runtime")]
pub use crate::init::{init, Builder, Guard, InitError, LogFormat};
pub use crate::inventory::{experiments, Experiment, Instrument, InstrumentValue, MetricKind};
pub use crate::key::{validate_key, KeyError, ROOT};
pub use crate::level::{Level, LevelFilter, ParseLevelError};
pub use crate::metric::name::Unit;
pub use crate::metric::observe::{observe, Observer, Watch};
pub use crate::metric::outcome::Outcome;
pub use crate::metric::sink::set_max_label_sets;
#[cfg(feature = "otel")]
pub use crate::otel::{ExportReport, OtelConfig, OtelError, OtelGuard, OtelLayer};
pub use crate::propagate::{depropagate, propagate, with_parent, Carrier, RemoteContext};
#[cfg(feature = "reports")]
pub use crate::report::{report, report_at, reports, Redacted, ReportError};
#[cfg(feature = "runtime")]
pub use crate::stderr::SpanEvents;
pub use crate::task::{spawn, task, tasks, TaskFuture, TaskInfo, TaskOutput, TaskState};
pub use crate::tree::{set_directives, set_level, threshold, SetLevelError, UnknownExperiment};
pub use crate::view::{tree, TreeView};

/// Histogram bucket presets for `histogram!` and [`Builder`].
pub mod buckets {
    pub use crate::metric::buckets::{BYTES, COUNTS, DURATIONS};
}

/// The names of the metrics alamos exports itself, and the label value of
/// overflow series.
pub mod names {
    pub use crate::metric::name::{
        CALLS_IN_FLIGHT, CALLS_TOTAL, CALL_DURATION_SECONDS, LABEL_OVERFLOW_TOTAL,
        OVERFLOW_LABEL_VALUE, TASKS, TASK_RESTARTS_TOTAL,
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
