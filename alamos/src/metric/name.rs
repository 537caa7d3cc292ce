//! Metric names, kinds, units and HELP text: what every exporter writes and
//! what the `describe_*` calls of the `metrics` facade carry.

/// Counter of finished calls, labelled by `experiment`, `function`, `outcome`.
pub const CALLS_TOTAL: &str = "alamos_calls_total";
/// Histogram of call durations in seconds, labelled by `experiment`, `function`.
pub const CALL_DURATION_SECONDS: &str = "alamos_call_duration_seconds";
/// Gauge of calls in progress, labelled by `experiment`, `function`.
pub const CALLS_IN_FLIGHT: &str = "alamos_calls_in_flight";
/// Counter of calls or instrument updates whose label values were folded
/// into the overflow series because their callsite already had the maximum
/// number of label sets, labelled by `experiment` and `function` (or
/// `metric` for an instrument).
pub const LABEL_OVERFLOW_TOTAL: &str = "alamos_label_overflow_total";

/// Gauge of tasks by `experiment` and `state` (`running`, `finished`,
/// `failed`, `panicked`, `cancelled`): a task's runs in progress, or 1 for
/// the state its latest run ended in.
pub const TASKS: &str = "alamos_tasks";
/// Counter of the times a task's key was started again, by `experiment`.
pub const TASK_RESTARTS_TOTAL: &str = "alamos_task_restarts_total";

/// Counter of the polls of a task's future ([`crate::task()`]), by `experiment`.
pub const TASK_POLLS_TOTAL: &str = "alamos_task_polls_total";
/// Histogram of how long each poll of a task's future ran, in seconds, by
/// `experiment`.
pub const TASK_POLL_DURATION_SECONDS: &str = "alamos_task_poll_duration_seconds";
/// Histogram of how long a task's future waited from a wake to the poll
/// that followed, in seconds, by `experiment`.
pub const TASK_SCHEDULED_DELAY_SECONDS: &str = "alamos_task_scheduled_delay_seconds";

pub(crate) const TASK_POLLS_HELP: &str = "Polls of a task's future.";
pub(crate) const TASK_POLL_DURATION_HELP: &str = "How long each poll of a task's future ran.";
pub(crate) const TASK_SCHEDULED_DELAY_HELP: &str =
    "How long a task's future waited from a wake to the poll that followed.";
pub(crate) const TASKS_HELP: &str = "Tasks by experiment and state: runs in progress (running), or 1 for the state the latest run ended in.";
pub(crate) const TASK_RESTARTS_HELP: &str =
    "Times a task was started again under the same experiment key.";

// The crate's own code says `Kind` and `Unit`; the public names are longer
// so that a glob import beside `metrics` or `metrics_util` does not collide.
pub use self::InstrumentKind as Kind;
pub use self::InstrumentUnit as Unit;

/// Counter of the items OTLP export delivered, by `signal` (`spans`,
/// `logs`, `metrics`: metric points).
pub const EXPORTED_TOTAL: &str = "alamos_exported_total";
/// Counter of the items OTLP export dropped, by `signal` and `reason`
/// (`queue_full`, `rejected`, `unreachable`, `timeout`, `shutdown`).
pub const EXPORT_DROPPED_TOTAL: &str = "alamos_export_dropped_total";

/// The value every extra label takes in the overflow series.
pub const OVERFLOW_LABEL_VALUE: &str = "__overflow__";

/// What kind of series an instrument has: counter, gauge or histogram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InstrumentKind {
    /// A monotonic count.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Bucketed observations with their sum and count.
    Histogram,
}

impl InstrumentKind {
    /// The Prometheus `# TYPE` of the kind.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// The unit of an instrument: its name ends in it, its buckets default to
/// it, and exporters announce it (`# UNIT`, OTLP's unit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InstrumentUnit {
    /// Sizes in bytes.
    Bytes,
    /// Durations in seconds.
    Seconds,
}

impl InstrumentUnit {
    /// The suffix of a metric name in this unit: `bytes` or `seconds`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Unit::Bytes => "bytes",
            Unit::Seconds => "seconds",
        }
    }

    /// The unit as the `metrics` facade spells it.
    pub(crate) const fn to_metrics(self) -> metrics::Unit {
        match self {
            Unit::Bytes => metrics::Unit::Bytes,
            Unit::Seconds => metrics::Unit::Seconds,
        }
    }
}

/// How a metric is announced: its kind, HELP text and unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Description {
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
    pub(crate) help: &'static str,
    pub(crate) unit: Option<Unit>,
}

/// alamos's three per-call metrics, in the order exporters write them.
pub(crate) const CALL_METRICS: [Description; 3] = [
    Description {
        name: CALLS_TOTAL,
        kind: Kind::Counter,
        help: "Finished calls of instrumented functions, by experiment, function and outcome (ok, error, panic, cancelled, unknown).",
        unit: None,
    },
    Description {
        name: CALL_DURATION_SECONDS,
        kind: Kind::Histogram,
        help: "Duration of calls of instrumented functions, in seconds.",
        unit: Some(Unit::Seconds),
    },
    Description {
        name: CALLS_IN_FLIGHT,
        kind: Kind::Gauge,
        help: "Calls of instrumented functions in progress.",
        unit: None,
    },
];

/// The counter of label sets folded into the overflow series.
pub(crate) const LABEL_OVERFLOW: Description = Description {
    name: LABEL_OVERFLOW_TOTAL,
    kind: Kind::Counter,
    help: "Calls and instrument updates whose label values were folded into the __overflow__ series: their callsite already had the maximum number of label sets.",
    unit: None,
};

/// The counter of items OTLP export delivered.
#[cfg_attr(not(feature = "otel"), allow(dead_code))]
pub(crate) const EXPORTED: Description = Description {
    name: EXPORTED_TOTAL,
    kind: Kind::Counter,
    help: "Items OTLP export delivered, by signal (spans, logs, metrics: metric points).",
    unit: None,
};

/// The counter of items OTLP export dropped.
#[cfg_attr(not(feature = "otel"), allow(dead_code))]
pub(crate) const EXPORT_DROPPED: Description = Description {
    name: EXPORT_DROPPED_TOTAL,
    kind: Kind::Counter,
    help: "Items OTLP export dropped, by signal and reason (queue_full, rejected, unreachable, timeout, shutdown).",
    unit: None,
};
