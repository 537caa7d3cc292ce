//! The Prometheus exposition: a reader of metric snapshots, in the text
//! format (version 0.0.4), served over HTTP as `GET /metrics` ([`Metrics`]).
//!
//! The `# HELP` and `# TYPE` lines, and the names and label names, go
//! through `metrics_exporter_prometheus::formatting`. Sample lines are
//! written here: that crate's label-value writer expects values that are
//! already escaped, so a value holding `\"` would come out as `"` (see
//! `tests::label_values_round_trip`).

use std::fmt::Write as _;

use metrics_exporter_prometheus::formatting::{
    sanitize_label_key, sanitize_metric_name, write_help_line, write_type_line,
};

use crate::http::{Request, Response, Route};
use crate::metric::snapshot::{FamilySnapshot, Snapshot, Value};

/// The content type of the text format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Metrics;

impl Route for Metrics {
    fn respond(&self, request: &Request<'_>) -> Option<Response> {
        if request.path() != "/metrics" {
            return None;
        }
        Some(if request.method() == "GET" {
            Response::ok(CONTENT_TYPE, render_current().unwrap_or_default())
        } else {
            Response::method_not_allowed("GET")
        })
    }
}

/// The exposition of what alamos's recorder holds now, if it is installed.
pub(crate) fn render_current() -> Option<String> {
    crate::metric::snapshot().map(|snapshot| render(&snapshot))
}

/// Every family of `snapshot` in the Prometheus text format.
pub(crate) fn render(snapshot: &Snapshot) -> String {
    let mut out = String::with_capacity(4096);
    for family in &snapshot.families {
        write_family(&mut out, family);
    }
    out
}

fn write_family(out: &mut String, family: &FamilySnapshot) {
    if family.series.is_empty() {
        return;
    }
    let name = sanitize_metric_name(&family.name);
    if let Some(help) = &family.help {
        write_help_line(out, &name, None, None, help);
    }
    write_type_line(out, &name, None, None, family.kind.as_str());
    let bounds: Vec<String> = family.bounds.iter().map(|b| float(*b)).collect();
    for series in &family.series {
        let labels = &series.labels[..];
        match &series.value {
            Value::Counter(count) => write_sample(out, &name, "", labels, None, count),
            Value::Gauge(value) => write_sample(out, &name, "", labels, None, float(*value)),
            Value::Histogram { buckets, sum } => {
                let les = bounds.iter().map(String::as_str).chain(["+Inf"]);
                for (le, count) in les.zip(buckets) {
                    write_sample(out, &name, "_bucket", labels, Some(("le", le)), count);
                }
                write_sample(out, &name, "_sum", labels, None, float(*sum));
                let count = series.value.count();
                write_sample(out, &name, "_count", labels, None, count);
            }
        }
    }
    out.push('\n');
}

/// A float as Prometheus reads it: `+Inf`, `-Inf` and `NaN` by name.
fn float(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        value.to_string()
    }
}

fn write_sample(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &[(String, String)],
    extra: Option<(&str, &str)>,
    value: impl std::fmt::Display,
) {
    out.push_str(name);
    out.push_str(suffix);
    let all = labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(extra);
    let mut first = true;
    for (key, value) in all {
        out.push(if first { '{' } else { ',' });
        first = false;
        out.push_str(&sanitize_label_key(key));
        out.push_str("=\"");
        escape_label_value(out, value);
        out.push('"');
    }
    if !first {
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// Escapes a label value as the text format requires: `\`, `"` and line
/// feeds, and nothing else.
fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::metric::name::Kind;
    use crate::metric::snapshot::SeriesSnapshot;

    fn family(value: &str) -> Snapshot {
        Snapshot {
            families: vec![FamilySnapshot {
                name: "escape_test".into(),
                kind: Kind::Gauge,
                help: Some("Escaping.".into()),
                unit: None,
                bounds: Arc::new([]),
                series: vec![SeriesSnapshot {
                    labels: vec![("v".to_owned(), value.to_owned())].into(),
                    value: Value::Gauge(1.0),
                }],
            }],
        }
    }

    /// Reads a label value back as a Prometheus parser would.
    fn unescape(escaped: &str) -> String {
        let mut out = String::new();
        let mut chars = escaped.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some(other) => out.push(other),
                    None => {}
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn label_values_round_trip() {
        for value in [
            r#"a\"b"#,
            "back\\slash",
            "quote\"d",
            "line\nfeed",
            r"\\",
            r"\n",
        ] {
            let text = render(&family(value));
            let line = text
                .lines()
                .find(|l| l.starts_with("escape_test{"))
                .unwrap();
            let inner = &line["escape_test{v=\"".len()..line.rfind("\"}").unwrap()];
            assert_eq!(unescape(inner), value, "{line}");
        }
        // The crate's own writer changes `a\"b` into `a"b`: why it is not used.
        let theirs = metrics_exporter_prometheus::formatting::sanitize_label_value(r#"a\"b"#);
        assert_ne!(unescape(&theirs), r#"a\"b"#);
    }

    #[test]
    fn special_floats_are_spelled_as_prometheus_reads_them() {
        assert_eq!(float(f64::INFINITY), "+Inf");
        assert_eq!(float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(float(f64::NAN), "NaN");
        assert_eq!(float(0.000_001), "0.000001");
        assert_eq!(float(2.5), "2.5");
    }
}
