//! The OpenMetrics 1.0 text format: what `GET /metrics` answers a scraper
//! that asks for `application/openmetrics-text`.
//!
//! Beside the text format's content it has `# UNIT` lines, `target_info`
//! as an `info` family, exemplars on histogram buckets (the trace of a
//! recent sampled call in that bucket, with `otel`), and a closing
//! `# EOF`. Counters are announced under their family name (the sample
//! name without `_total`); a counter whose name lacks `_total` (one
//! registered through the `metrics` facade) is written as `unknown`, so
//! that its series keeps the name the text format gives it.
//!
//! Its samples are written with the text format's sample writer, and its
//! names and escapes follow the same rules ([`super::format`]).

use std::fmt::Write as _;

use super::format::{escape_label_value, float, sanitize_metric_name};
use super::{target_labels, write_series, TARGET_INFO_HELP};
use crate::identity::Identity;
use crate::metric::exemplar::Exemplar;
use crate::metric::name::Kind;
use crate::metric::snapshot::{FamilySnapshot, Snapshot, Value};

/// The content type of OpenMetrics 1.0.
pub(super) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Every family of `snapshot` in OpenMetrics, `target_info` first, then
/// `# EOF`.
pub(super) fn render(snapshot: &Snapshot, identity: &Identity) -> String {
    let mut out = String::with_capacity(8192);
    if !identity.resource.is_empty() {
        descriptor(&mut out, "target", "info", Some(TARGET_INFO_HELP), None);
        write_series(&mut out, "target_info", "", &target_labels(identity), None);
        out.push_str(" 1\n");
    }
    for family in &snapshot.families {
        write_family(&mut out, family, identity);
    }
    out.push_str("# EOF\n");
    out
}

/// `# TYPE`, `# UNIT` and `# HELP` of a family.
fn descriptor(out: &mut String, family: &str, kind: &str, help: Option<&str>, unit: Option<&str>) {
    let _ = writeln!(out, "# TYPE {family} {kind}");
    if let Some(unit) = unit {
        let _ = writeln!(out, "# UNIT {family} {unit}");
    }
    if let Some(help) = help {
        let _ = write!(out, "# HELP {family} ");
        // OpenMetrics escapes a HELP text as a label value: `\`, `"` and
        // line feeds.
        escape_label_value(out, help);
        out.push('\n');
    }
}

fn write_family(out: &mut String, family: &FamilySnapshot, identity: &Identity) {
    if family.series.is_empty() {
        return;
    }
    let name = sanitize_metric_name(&family.name);
    let (family_name, kind) = match family.kind {
        Kind::Counter => match name.strip_suffix("_total") {
            Some(base) if !base.is_empty() => (base.to_owned(), "counter"),
            _ => (name.clone(), "unknown"),
        },
        Kind::Gauge => (name.clone(), "gauge"),
        Kind::Histogram => (name.clone(), "histogram"),
    };
    // A unit must be the family name's suffix, or parsers reject it.
    let unit = family
        .unit
        .map(crate::metric::name::Unit::as_str)
        .filter(|unit| family_name.ends_with(&format!("_{unit}")));
    descriptor(out, &family_name, kind, family.help.as_deref(), unit);
    let bounds: Vec<String> = family.bounds.iter().map(|b| float(*b)).collect();
    for series in &family.series {
        let labels = identity.labels_of(&series.labels);
        let labels = &labels[..];
        match &series.value {
            Value::Counter(count) => {
                write_series(out, &name, "", labels, None);
                let _ = writeln!(out, " {count}");
            }
            Value::Gauge(value) => {
                write_series(out, &name, "", labels, None);
                let _ = writeln!(out, " {}", float(*value));
            }
            Value::Histogram {
                buckets,
                sum,
                exemplars,
            } => {
                let les = bounds.iter().map(String::as_str).chain(["+Inf"]);
                for (bucket, (le, count)) in les.zip(buckets).enumerate() {
                    write_series(out, &name, "_bucket", labels, Some(("le", le)));
                    let _ = write!(out, " {count}");
                    if let Some(Some(exemplar)) = exemplars.get(bucket) {
                        write_exemplar(out, exemplar);
                    }
                    out.push('\n');
                }
                write_series(out, &name, "_sum", labels, None);
                let _ = writeln!(out, " {}", float(*sum));
                write_series(out, &name, "_count", labels, None);
                let _ = writeln!(out, " {}", series.value.count());
            }
        }
    }
}

/// ` # {trace_id="…",span_id="…"} <value> <timestamp>`.
fn write_exemplar(out: &mut String, exemplar: &Exemplar) {
    let seconds = exemplar.unix_nanos / 1_000_000_000;
    let millis = exemplar.unix_nanos % 1_000_000_000 / 1_000_000;
    let _ = write!(
        out,
        " # {{trace_id=\"{}\",span_id=\"{}\"}} {} {seconds}.{millis:03}",
        exemplar.trace_id_hex(),
        exemplar.span_id_hex(),
        float(exemplar.value),
    );
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::metric::name::Unit;
    use crate::metric::snapshot::SeriesSnapshot;

    fn family(name: &str, kind: Kind, unit: Option<Unit>, value: Value) -> FamilySnapshot {
        FamilySnapshot {
            name: name.into(),
            kind,
            help: Some("Help with a \"quote\".".into()),
            unit,
            bounds: Arc::new([0.001, 0.01]),
            series: vec![SeriesSnapshot {
                labels: vec![("experiment".to_owned(), "x".to_owned())].into(),
                value,
            }],
        }
    }

    #[test]
    fn families_exemplars_target_info_and_eof() {
        let snapshot = Snapshot {
            families: vec![
                family("alamos_calls_total", Kind::Counter, None, Value::Counter(5)),
                family("requests", Kind::Counter, None, Value::Counter(2)),
                family("queue_depth", Kind::Gauge, None, Value::Gauge(1.5)),
                family(
                    "alamos_call_duration_seconds",
                    Kind::Histogram,
                    Some(Unit::Seconds),
                    Value::Histogram {
                        buckets: vec![1, 3, 4],
                        sum: 0.5,
                        exemplars: vec![
                            None,
                            Some(Exemplar {
                                trace_id: [0xab; 16],
                                span_id: [0x01; 8],
                                value: 0.004,
                                unix_nanos: 1_700_000_000_123_456_789,
                            }),
                            None,
                        ],
                    },
                ),
                family(
                    "frame_size",
                    Kind::Histogram,
                    Some(Unit::Bytes),
                    Value::Histogram {
                        buckets: vec![0, 0, 0],
                        sum: 0.0,
                        exemplars: Vec::new(),
                    },
                ),
            ],
        };
        let identity = Identity {
            resource: vec![("service.name".to_owned(), "svc".to_owned())],
            constant_labels: vec![("node".to_owned(), "a".to_owned())],
        };
        let text = render(&snapshot, &identity);
        for expected in [
            "# TYPE target info\n",
            "target_info{service_name=\"svc\",node=\"a\"} 1\n",
            "# TYPE alamos_calls counter\n# HELP alamos_calls Help with a \\\"quote\\\".\n",
            "alamos_calls_total{experiment=\"x\",node=\"a\"} 5\n",
            "# TYPE requests unknown\n",
            "requests{experiment=\"x\",node=\"a\"} 2\n",
            "queue_depth{experiment=\"x\",node=\"a\"} 1.5\n",
            "# TYPE alamos_call_duration_seconds histogram\n# UNIT alamos_call_duration_seconds seconds\n",
            "alamos_call_duration_seconds_bucket{experiment=\"x\",node=\"a\",le=\"0.001\"} 1\n",
            "alamos_call_duration_seconds_bucket{experiment=\"x\",node=\"a\",le=\"0.01\"} 3 # {trace_id=\"abababababababababababababababab\",span_id=\"0101010101010101\"} 0.004 1700000000.123\n",
            "alamos_call_duration_seconds_bucket{experiment=\"x\",node=\"a\",le=\"+Inf\"} 4\n",
            "alamos_call_duration_seconds_count{experiment=\"x\",node=\"a\"} 4\n",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
        // A unit that is not the name's suffix is not announced.
        assert!(!text.contains("# UNIT frame_size"), "{text}");
        assert!(
            text.ends_with("\n# EOF\n") || text.ends_with("} 0\n# EOF\n"),
            "{text}"
        );
        assert_eq!(text.matches("# EOF").count(), 1);
    }
}
