//! OTLP export of the three pillars (feature `otel`): spans, metrics and
//! log records.
//!
//! [`OtelConfig`] says where each signal goes and how this process is
//! named; [`OtelConfig::build_layer`] turns it into a `tracing` layer for a
//! `Registry`-based subscriber and an [`OtelGuard`] that flushes every
//! finished span, the last metrics and every log record on
//! [`shutdown`](OtelGuard::shutdown) or drop.
//!
//! Export is OTLP over HTTP with protobuf bodies, from background threads
//! with reqwest's blocking client, which runs its own small runtime on a
//! thread of its own: the program needs no async runtime.
//!
//! - **Spans**: every instrumented call's span carries `alamos.experiment`,
//!   `code.function` and `code.namespace` as attributes, and a call that
//!   returned `Err` or panicked has span status *error*.
//! - **Log records**: every event that passes alamos's thresholds (alamos's
//!   log macros, `err`/`ret` events, plain `tracing` events), through
//!   `opentelemetry-appender-tracing` and the SDK's batch log processor;
//!   an event inside a span carries that span's trace and span ids.
//! - **Metrics**: the series of the Prometheus exposition, read from the
//!   same snapshot and pushed every `OTEL_METRIC_EXPORT_INTERVAL`
//!   ([`metrics`] says why not through the SDK's metrics pipeline).
//!
//! # Trace ids without a receiver
//!
//! `alamos::init()` (and [`Builder`](crate::Builder)) installs the
//! OpenTelemetry layer whenever the `otel` feature is on, exporting or not:
//! with no endpoint configured its tracer provider has no exporter, and
//! spans still get W3C ids, so log lines carry them and
//! [`propagate`](fn@crate::propagate)/[`depropagate`](crate::depropagate)
//! join one trace across processes. `OTEL_SDK_DISABLED=true` leaves the
//! layer out. A signal whose exporter cannot be built is left out alone,
//! said so on stderr; the others are exported.
//!
//! All three carry one resource: `service.name`, `service.instance.id`
//! (generated once per process unless named) and the attributes of
//! `OTEL_RESOURCE_ATTRIBUTES`, parsed by alamos rather than the SDK's
//! detector (see `identity` for why), plus the SDK's
//! `telemetry.sdk.*`.
//!
//! # Loss and shutdown
//!
//! What export drops is counted in `alamos_exported_total{signal}` and
//! `alamos_export_dropped_total{signal, reason}` (`queue_full`, `rejected`,
//! `unreachable`, `timeout`, `shutdown`) and said on stderr at most once a
//! minute per signal (`health`). Dropping the guard flushes the three
//! signals at once within [`OtelConfig::shutdown_timeout`] (5 s), then says
//! what was not delivered (`guard`); with
//! [`Builder::flush_on_signals`](crate::Builder::flush_on_signals), SIGTERM
//! and SIGINT do the same before the signal's default action.
//!
//! # Layout
//!
//! - `config`: [`OtelConfig`], the `OTEL_*` variables and the setters;
//! - `pipeline`: each signal's exporter, the providers and batch
//!   processors, the `tracing` layers;
//! - `failures`: the spans of untraced roots that failed, exported all the
//!   same (`crate::failure` says when);
//! - `guard`: [`OtelGuard`], flush and the bounded shutdown;
//! - `health`: what became of each signal's items (exported, dropped and
//!   why);
//! - `metrics`: the metrics pusher, alamos's own.

mod config;
mod failures;
mod guard;
mod health;
pub(crate) mod metrics;
mod pipeline;

pub use config::OtelConfig;
pub use guard::{ExportReport, OtelError, OtelGuard};
pub(crate) use health::Signal;
pub use pipeline::OtelLayer;
