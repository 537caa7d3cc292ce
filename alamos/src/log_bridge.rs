//! The `log` crate's records in alamos's output (feature `log`, part of
//! `runtime`).
//!
//! Many crates a service depends on log through `log` rather than
//! `tracing`. `init()` installs a `log` logger that turns each record into a
//! `tracing` event ([`tracing_log::LogTracer`], tracing's own bridge), so a
//! record goes wherever alamos's events go: the stderr lines (text or JSON,
//! with the record's own target, and trace ids with `otel`) and the OTLP
//! log records.
//!
//! # Which records pass
//!
//! A record belongs to the experiment it is logged in: the nearest
//! enclosing span of an instrumented function (or task), and it passes when
//! that experiment's threshold allows the record's level (`trace` is
//! `bench`, `info` is `prod`); outside any, the root's threshold decides.
//! So `ALAMOS_LEVEL="prod,storage=debug"` shows a dependency's
//! `log::debug!` lines only while it works for `storage`. The first test is
//! one atomic load (the most verbose threshold anywhere), so a record no
//! threshold allows costs about what `log`'s own level check costs.
//!
//! # A logger of the program's own
//!
//! `log` takes one logger per process, and the first one set wins. `init()`
//! tries to set its bridge and, when the program already set a logger,
//! keeps that one and says so on stderr; a program that wants its own
//! logger sets it before calling `init()`, or turns the bridge off with
//! [`Builder::log_bridge(false)`](crate::Builder::log_bridge).

use tracing_log::log;
use tracing_log::{AsTrace as _, LogTracer};
use tracing_subscriber::registry::LookupSpan as _;
use tracing_subscriber::Registry;

use crate::level::{Level, LevelFilter};
use crate::tree;

/// The field every span and event of alamos's own carries.
const EXPERIMENT_FIELD: &str = "alamos.experiment";

/// Sets the bridge as the process's `log` logger; `false` (said on stderr)
/// when a logger is already set, which stays.
pub(crate) fn install() -> bool {
    let bridge = Bridge {
        tracer: LogTracer::new(),
    };
    if log::set_boxed_logger(Box::new(bridge)).is_err() {
        eprintln!(
            "alamos: a `log` logger is already installed; keeping it (records of the `log` crate don't reach alamos's output)"
        );
        return false;
    }
    log::set_max_level(log::LevelFilter::Trace);
    true
}

/// Whether `metadata` is the bridge's: an event made from a `log` record.
/// The bridge has already held it to its experiment's threshold.
pub(crate) fn is_record(metadata: &tracing::Metadata<'_>) -> bool {
    metadata.fields().field("log.target").is_some()
}

struct Bridge {
    tracer: LogTracer,
}

impl log::Log for Bridge {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        let level = Level::from(metadata.level().as_trace());
        tree::most_verbose().enables(level)
            && threshold_here().enables(level)
            && self.tracer.enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            self.tracer.log(record);
        }
    }

    fn flush(&self) {}
}

/// The threshold of the experiment whose span is the nearest one current on
/// this thread, else the root's.
fn threshold_here() -> LevelFilter {
    tracing::dispatcher::get_default(|dispatch| {
        let current = dispatch.current_span();
        let id = current.id()?;
        // Under alamos's subscriber the registry knows the enclosing spans;
        // under another one, only the current span is known.
        if let Some(registry) = dispatch.downcast_ref::<Registry>() {
            let span = registry.span(id)?;
            return span
                .scope()
                .find_map(|span| experiment_of(span.metadata()))
                .map(tree::threshold_covering);
        }
        experiment_of(current.metadata()?).map(tree::threshold_covering)
    })
    .unwrap_or_else(tree::root_threshold)
}

/// The experiment of one of alamos's spans: a function's is named
/// `<key>.<function>`, a task's by its key alone.
fn experiment_of(metadata: &'static tracing::Metadata<'static>) -> Option<&'static str> {
    let fields = metadata.fields();
    fields.field(EXPERIMENT_FIELD)?;
    let name = metadata.name();
    if fields.field("code.function").is_some() {
        name.rsplit_once('.').map(|(key, _)| key)
    } else {
        Some(name)
    }
}
