//! A readable rendering of the experiment tree: a reader of the tree and of
//! metric snapshots.

use std::collections::BTreeMap;
use std::fmt;

use crate::inventory::{self, InstrumentInfo, InstrumentValue};
#[cfg(feature = "runtime")]
use crate::json::Members;
use crate::level::LevelFilter;
use crate::metric::name::{CALLS_IN_FLIGHT, CALLS_TOTAL, CALL_DURATION_SECONDS};
use crate::metric::outcome::Outcome;
use crate::metric::snapshot::{Snapshot, Value};
use crate::task::{self, TaskInfo, TaskState};
use crate::tree as experiment_tree;

/// A snapshot of the experiment tree: every experiment and its ancestors,
/// with level, threshold and root trace probability, its task if it is one
/// (state, age, restarts) and, when alamos's recorder is installed, call
/// counts by outcome, calls in flight, latency quantiles and the current
/// value of each instrument.
///
/// Its `Display` draws the tree:
///
/// ```text
/// experiment                   level  threshold   traced     calls  errors  panics  cancelled  unknown  in flight       p50       p99
/// (root)                       -      prod            1%
/// ├── distribution             -      debug           1%
/// │   └── distribution.writer  debug  debug         100%       120       3       0          0        0          0     41 µs    130 µs
/// │         frame_writer_bytes_total  counter  30720
/// └── storage                  prod   prod            1%        40       0       0          0        0          1    2.6 ms    9.8 ms
///     └── storage.compaction   prod   prod            1%
///           task  running for 12.3 s  1 restart
/// ```
///
/// `traced` is the experiment's root trace probability: how many of the
/// calls that start a trace there are traced (every call is counted).
#[derive(Clone, Debug)]
pub struct TreeView {
    rows: Vec<Row>,
}

#[derive(Clone, Debug)]
struct Row {
    key: String,
    depth: usize,
    /// Whether each ancestor column (and this node) is the last child.
    last: Vec<bool>,
    level: Option<crate::Level>,
    threshold: LevelFilter,
    trace_sample: f64,
    calls: Option<Calls>,
    instruments: Vec<InstrumentInfo>,
    task: Option<TaskInfo>,
}

/// The call metrics of one experiment, summed over its functions.
#[derive(Clone, Debug, Default)]
struct Calls {
    by_outcome: [u64; Outcome::ALL.len()],
    in_flight: f64,
    /// Cumulative duration buckets, over the bounds.
    buckets: Vec<u64>,
    bounds: Vec<f64>,
}

impl Calls {
    /// The `q` quantile of durations, in seconds, interpolated within its
    /// bucket as Prometheus' `histogram_quantile` does.
    #[allow(clippy::cast_precision_loss)]
    fn quantile(&self, q: f64) -> Option<f64> {
        let total = *self.buckets.last()?;
        if total == 0 {
            return None;
        }
        let rank = q * total as f64;
        let bucket = self
            .buckets
            .iter()
            .position(|&count| count as f64 >= rank)?;
        let Some(&upper) = self.bounds.get(bucket) else {
            // In `+Inf`: the highest finite bound is all that is known.
            return self.bounds.last().copied();
        };
        let lower = if bucket == 0 {
            0.0
        } else {
            self.bounds[bucket - 1]
        };
        let below = if bucket == 0 {
            0
        } else {
            self.buckets[bucket - 1]
        };
        let inside = (self.buckets[bucket] - below) as f64;
        Some(lower + (upper - lower) * (rank - below as f64) / inside.max(1.0))
    }
}

/// Takes a snapshot of the experiment tree for display.
#[doc(alias = "dump", alias = "status")]
pub fn tree() -> TreeView {
    let snapshot = crate::metric::snapshot();
    let calls = snapshot.as_ref().map(calls_by_experiment);
    let mut instruments = inventory::instruments_by_key(snapshot.as_ref());
    let mut tasks = task::by_key();
    let named = experiment_tree::named();
    let mut keys: Vec<String> = vec![String::new()];
    for node in &named {
        for ancestor in crate::key::lineage(node.key) {
            if !keys.iter().any(|k| k == ancestor) {
                keys.push(ancestor.to_owned());
            }
        }
    }
    keys.sort();
    let rows = keys
        .iter()
        .map(|key| {
            let depth = if key.is_empty() {
                0
            } else {
                key.split('.').count()
            };
            let last = crate::key::lineage(key)
                .filter(|k| !k.is_empty())
                .map(|k| is_last_child(&keys, k))
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            Row {
                key: key.clone(),
                depth,
                last,
                level: named.iter().find(|n| n.key == key).map(|n| n.level),
                threshold: experiment_tree::threshold(key).unwrap_or_default(),
                trace_sample: experiment_tree::trace_sample(key).unwrap_or(1.0),
                calls: calls
                    .as_ref()
                    .and_then(|calls| calls.get(key.as_str()).cloned()),
                instruments: instruments.remove(key.as_str()).unwrap_or_default(),
                task: tasks.remove(key.as_str()),
            }
        })
        .collect();
    TreeView { rows }
}

/// The call metrics of every experiment, summed over its functions.
fn calls_by_experiment(snapshot: &Snapshot) -> BTreeMap<String, Calls> {
    let mut by_key: BTreeMap<String, Calls> = BTreeMap::new();
    let experiment = |labels: &[(String, String)]| {
        labels
            .iter()
            .find(|(name, _)| name == "experiment")
            .map(|(_, key)| key.clone())
    };
    if let Some(family) = snapshot.family(CALLS_TOTAL) {
        for series in &family.series {
            let (Some(key), Some(outcome), Value::Counter(count)) = (
                experiment(&series.labels),
                series.label("outcome"),
                &series.value,
            ) else {
                continue;
            };
            let calls = by_key.entry(key).or_default();
            if let Some(index) = Outcome::ALL.iter().position(|o| o.as_str() == outcome) {
                calls.by_outcome[index] += count;
            }
        }
    }
    if let Some(family) = snapshot.family(CALL_DURATION_SECONDS) {
        for series in &family.series {
            let (Some(key), Value::Histogram { buckets, .. }) =
                (experiment(&series.labels), &series.value)
            else {
                continue;
            };
            let calls = by_key.entry(key).or_default();
            if calls.buckets.is_empty() {
                calls.buckets = vec![0; buckets.len()];
                calls.bounds = family.bounds.to_vec();
            }
            for (total, count) in calls.buckets.iter_mut().zip(buckets) {
                *total += count;
            }
        }
    }
    if let Some(family) = snapshot.family(CALLS_IN_FLIGHT) {
        for series in &family.series {
            if let (Some(key), Value::Gauge(value)) = (experiment(&series.labels), &series.value) {
                by_key.entry(key).or_default().in_flight += value;
            }
        }
    }
    by_key
}

fn parent(key: &str) -> &str {
    key.rfind('.').map_or("", |dot| &key[..dot])
}

fn is_last_child(keys: &[String], key: &str) -> bool {
    let parent = parent(key);
    !keys
        .iter()
        .any(|other| other.as_str() > key && !other.is_empty() && self::parent(other) == parent)
}

/// A task's state, restarts and polls, as its line in the tree shows them.
fn task_line(task: &TaskInfo) -> String {
    let restarts = match task.restarts() {
        0 => String::new(),
        1 => "  1 restart".to_owned(),
        n => format!("  {n} restarts"),
    };
    let state = match (task.state(), task.running()) {
        (TaskState::Running, 1) => format!("running for {}", task::age(task.age())),
        (TaskState::Running, runs) => {
            format!("running ({runs} runs) for {}", task::age(task.age()))
        }
        (state, _) => format!("{state}, started {} ago", task::age(task.age())),
    };
    let polls = match (task.polls(), task.mean_scheduled_delay()) {
        (0, _) => String::new(),
        (polls, None) => format!(
            "  {polls} polls, busy {}",
            duration(task.busy().as_secs_f64())
        ),
        (polls, Some(delay)) => format!(
            "  {polls} polls, busy {}, mean delay {}",
            duration(task.busy().as_secs_f64()),
            duration(delay.as_secs_f64())
        ),
    };
    format!("{state}{restarts}{polls}")
}

/// A probability as a percentage, to four decimals at most:
/// `100%`, `1%`, `0.1%`, `33.3333%`.
fn percent(probability: f64) -> String {
    let text = format!("{:.4}", probability * 100.0);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}%")
}

/// A duration in seconds, to three significant digits in a fitting unit.
fn duration(seconds: f64) -> String {
    let (value, unit) = if seconds < 1e-6 {
        (seconds * 1e9, "ns")
    } else if seconds < 1e-3 {
        (seconds * 1e6, "µs")
    } else if seconds < 1.0 {
        (seconds * 1e3, "ms")
    } else {
        (seconds, "s")
    };
    if value >= 100.0 {
        format!("{value:.0} {unit}")
    } else if value >= 10.0 {
        format!("{value:.1} {unit}")
    } else {
        format!("{value:.2} {unit}")
    }
}

impl fmt::Display for TreeView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .rows
            .iter()
            .map(|row| row.depth * 4 + row.key.len().max(6))
            .max()
            .unwrap_or(10)
            .max(10);
        writeln!(
            f,
            "{:<width$}  {:<5}  {:<9}  {:>7}  {:>8}  {:>6}  {:>6}  {:>9}  {:>7}  {:>9}  {:>8}  {:>8}",
            "experiment",
            "level",
            "threshold",
            "traced",
            "calls",
            "errors",
            "panics",
            "cancelled",
            "unknown",
            "in flight",
            "p50",
            "p99"
        )?;
        for row in &self.rows {
            let mut prefix = String::new();
            let mut name = String::new();
            if row.key.is_empty() {
                name.push_str("(root)");
            } else {
                let (own, ancestors) = row.last.split_last().unwrap_or((&true, &[]));
                for ancestor_is_last in ancestors {
                    prefix.push_str(if *ancestor_is_last { "    " } else { "│   " });
                }
                name.push_str(&prefix);
                name.push_str(if *own { "└── " } else { "├── " });
                name.push_str(&row.key);
                prefix.push_str(if *own { "    " } else { "│   " });
            }
            let level = row.level.map_or("-", crate::Level::as_str);
            // `{:<width$}` counts chars, and the tree lines are one char each.
            write!(
                f,
                "{name:<width$}  {level:<5}  {:<9}  {:>7}",
                row.threshold.as_str(),
                percent(row.trace_sample)
            )?;
            if let Some(calls) = &row.calls {
                let total: u64 = calls.by_outcome.iter().sum();
                let quantile = |q| calls.quantile(q).map_or_else(|| "-".to_owned(), duration);
                write!(
                    f,
                    "  {total:>8}  {:>6}  {:>6}  {:>9}  {:>7}  {:>9}  {:>8}  {:>8}",
                    calls.by_outcome[Outcome::Error as usize],
                    calls.by_outcome[Outcome::Panic as usize],
                    calls.by_outcome[Outcome::Cancelled as usize],
                    calls.by_outcome[Outcome::Unknown as usize],
                    calls.in_flight,
                    quantile(0.5),
                    quantile(0.99),
                )?;
            }
            writeln!(f)?;
            if let Some(task) = &row.task {
                writeln!(f, "{prefix}      task  {}", task_line(task))?;
            }
            for instrument in &row.instruments {
                let value = match instrument.value() {
                    Some(InstrumentValue::Counter(count)) => count.to_string(),
                    Some(InstrumentValue::Gauge(value)) => value.to_string(),
                    Some(InstrumentValue::Histogram { count, sum }) => {
                        #[allow(clippy::cast_precision_loss)]
                        let mean = if count == 0 { 0.0 } else { sum / count as f64 };
                        format!("{count} values, mean {mean:.3}")
                    }
                    None => "-".to_owned(),
                };
                let off = if instrument.is_enabled() {
                    ""
                } else {
                    " (off)"
                };
                writeln!(
                    f,
                    "{prefix}      {}  {}  {value}{off}",
                    instrument.name(),
                    instrument.kind().as_str()
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(feature = "runtime")]
impl TreeView {
    /// The tree as JSON: `{"experiments":[...]}`, one object per node, the
    /// root (key `""`) first, then by key; see `GET /alamos/tree`.
    pub(crate) fn json(&self) -> String {
        let rows: Vec<String> = self.rows.iter().map(Row::json).collect();
        format!("{{\"experiments\":[{}]}}", rows.join(","))
    }
}

#[cfg(feature = "runtime")]
impl Row {
    fn json(&self) -> String {
        let mut members = Members::default();
        members.str("key", &self.key);
        match self.level {
            Some(level) => members.str("level", level.as_str()),
            None => members.raw("level", "null"),
        }
        members.str("threshold", self.threshold.as_str());
        members.float("trace_sample", self.trace_sample);
        if let Some(level) = self.level {
            members.raw("enabled", bool_json(self.threshold.enables(level)));
        }
        members.raw(
            "calls",
            &self
                .calls
                .as_ref()
                .map_or_else(|| "null".to_owned(), Calls::json),
        );
        let instruments: Vec<String> = self.instruments.iter().map(instrument_json).collect();
        members.raw("instruments", &format!("[{}]", instruments.join(",")));
        members.raw(
            "task",
            &self
                .task
                .as_ref()
                .map_or_else(|| "null".to_owned(), TaskInfo::json),
        );
        format!("{{{}}}", members.as_str())
    }
}

#[cfg(feature = "runtime")]
impl Calls {
    fn json(&self) -> String {
        let mut members = Members::default();
        let total: u64 = self.by_outcome.iter().sum();
        members.raw("total", &total.to_string());
        for outcome in Outcome::ALL {
            members.raw(
                outcome.as_str(),
                &self.by_outcome[outcome as usize].to_string(),
            );
        }
        members.float("in_flight", self.in_flight);
        for (name, q) in [("p50_seconds", 0.5), ("p99_seconds", 0.99)] {
            match self.quantile(q) {
                Some(seconds) => members.float(name, seconds),
                None => members.raw(name, "null"),
            }
        }
        format!("{{{}}}", members.as_str())
    }
}

#[cfg(feature = "runtime")]
fn bool_json(value: bool) -> &'static str {
    if value {
        "true"
    } else {
        "false"
    }
}

#[cfg(feature = "runtime")]
fn instrument_json(instrument: &InstrumentInfo) -> String {
    let mut members = Members::default();
    members.str("name", instrument.name());
    members.str("kind", instrument.kind().as_str());
    members.str("level", instrument.level().as_str());
    match instrument.unit() {
        Some(unit) => members.str("unit", unit.as_str()),
        None => members.raw("unit", "null"),
    }
    members.raw("enabled", bool_json(instrument.is_enabled()));
    match instrument.value() {
        Some(InstrumentValue::Counter(count)) => members.raw("value", &count.to_string()),
        Some(InstrumentValue::Gauge(value)) => members.float("value", value),
        Some(InstrumentValue::Histogram { count, sum }) => {
            let mut histogram = Members::default();
            histogram.raw("count", &count.to_string());
            histogram.float("sum", sum);
            members.raw("value", &format!("{{{}}}", histogram.as_str()));
        }
        None => members.raw("value", "null"),
    }
    format!("{{{}}}", members.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_within_their_bucket() {
        let calls = Calls {
            buckets: vec![0, 50, 100, 100],
            bounds: vec![0.001, 0.002, 0.004],
            ..Calls::default()
        };
        assert_eq!(calls.quantile(0.5), Some(0.002));
        let p75 = calls.quantile(0.75).unwrap();
        assert!((p75 - 0.003).abs() < 1e-12, "{p75}");
        let empty = Calls::default();
        assert_eq!(empty.quantile(0.5), None);
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(0.000_041), "41.0 µs");
        assert_eq!(duration(0.0026), "2.60 ms");
        assert_eq!(duration(12.0), "12.0 s");
        assert_eq!(duration(0.000_000_5), "500 ns");
    }

    #[test]
    fn probabilities_read_as_percentages() {
        assert_eq!(percent(1.0), "100%");
        assert_eq!(percent(0.01), "1%");
        assert_eq!(percent(0.001), "0.1%");
        assert_eq!(percent(0.0), "0%");
        assert_eq!(percent(1.0 / 3.0), "33.3333%");
    }
}
