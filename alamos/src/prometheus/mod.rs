//! The Prometheus exposition: a reader of metric snapshots, in the text
//! format (version 0.0.4) or in OpenMetrics 1.0 ([`openmetrics`]), served
//! over HTTP as `GET /metrics` ([`Metrics`]).
//!
//! `GET /metrics` answers OpenMetrics when the scraper's `Accept` header
//! prefers `application/openmetrics-text` (as Prometheus's does), and the
//! text format otherwise (curl's `*/*`, a missing header). Both carry the
//! node's identity: `target_info` (one series whose labels are the
//! resource's attributes, `service_name`, `service_instance_id`, ...) and
//! the builder's constant labels on every series. Only OpenMetrics can
//! carry exemplars.
//!
//! Names, escapes and float spellings follow the rules in [`format`](mod@format).

use std::fmt::Write as _;

use self::format::{
    escape_label_value, float, sanitize_label_key, sanitize_metric_name, write_help_line,
    write_type_line,
};

use crate::http::{Request, Response, Route};
use crate::identity::{self, Identity};
use crate::metric::snapshot::{FamilySnapshot, Snapshot, Value};

mod format;
mod openmetrics;

/// The content type of the text format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The HELP text of `target_info`.
const TARGET_INFO_HELP: &str =
    "Target metadata: this process's OpenTelemetry resource (service.name, service.instance.id and OTEL_RESOURCE_ATTRIBUTES) as labels.";

/// `GET /metrics`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Metrics;

impl Route for Metrics {
    fn respond(&self, request: &Request<'_>) -> Option<Response> {
        if request.path() != "/metrics" {
            return None;
        }
        if request.method() != "GET" {
            return Some(Response::method_not_allowed("GET"));
        }
        let snapshot = crate::metric::snapshot().unwrap_or_default();
        let identity = identity::current().unwrap_or_default();
        Some(
            if wants_openmetrics(request.header("accept")) {
                Response::ok(
                    openmetrics::CONTENT_TYPE,
                    openmetrics::render(&snapshot, &identity),
                )
            } else {
                Response::ok(CONTENT_TYPE, render_with(&snapshot, &identity))
            }
            .with_header("Vary", "Accept"),
        )
    }
}

/// Whether an `Accept` header prefers OpenMetrics to the text format: its
/// highest `q` for `application/openmetrics-text` is positive and no lower
/// than the one for `text/plain` (or a wildcard).
fn wants_openmetrics(accept: Option<&str>) -> bool {
    let Some(accept) = accept else {
        return false;
    };
    let (mut openmetrics, mut text) = (0.0_f64, 0.0_f64);
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|param| param.split_once('='))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("q"))
            .map_or(Some(1.0), |(_, value)| value.trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        match media.as_str() {
            "application/openmetrics-text" => openmetrics = openmetrics.max(q),
            "text/plain" | "text/*" | "*/*" => text = text.max(q),
            _ => {}
        }
    }
    openmetrics > 0.0 && openmetrics >= text
}

/// The exposition of what alamos's recorder holds now, if it is installed.
pub(crate) fn render_current() -> Option<String> {
    crate::metric::snapshot().map(|snapshot| render(&snapshot))
}

/// Every family of `snapshot` in the Prometheus text format, with the
/// installed identity.
pub(crate) fn render(snapshot: &Snapshot) -> String {
    render_with(snapshot, &identity::current().unwrap_or_default())
}

/// Every family of `snapshot` in the text format: `target_info` first if
/// `identity` has a resource, constant labels on every series.
pub(crate) fn render_with(snapshot: &Snapshot, identity: &Identity) -> String {
    let mut out = String::with_capacity(4096);
    if !identity.resource.is_empty() {
        write_help_line(&mut out, "target_info", TARGET_INFO_HELP);
        write_type_line(&mut out, "target_info", "gauge");
        write_sample(
            &mut out,
            "target_info",
            "",
            &target_labels(identity),
            None,
            1,
        );
        out.push('\n');
    }
    for family in &snapshot.families {
        write_family(&mut out, family, identity);
    }
    out
}

/// The labels of `target_info`: the resource's attributes under Prometheus
/// label names (`service.name` is `service_name`), then the constant labels;
/// a name seen already is skipped.
fn target_labels(identity: &Identity) -> Vec<(String, String)> {
    let mut labels: Vec<(String, String)> = Vec::new();
    let attributes = identity
        .resource
        .iter()
        .map(|(key, value)| (sanitize_label_key(key), value.clone()));
    for (key, value) in attributes.chain(identity.constant_labels.iter().cloned()) {
        if !labels.iter().any(|(known, _)| *known == key) {
            labels.push((key, value));
        }
    }
    labels
}

fn write_family(out: &mut String, family: &FamilySnapshot, identity: &Identity) {
    if family.series.is_empty() {
        return;
    }
    let name = sanitize_metric_name(&family.name);
    if let Some(help) = &family.help {
        write_help_line(out, &name, help);
    }
    write_type_line(out, &name, family.kind.as_str());
    let bounds: Vec<String> = family.bounds.iter().map(|b| float(*b)).collect();
    for series in &family.series {
        let labels = identity.labels_of(&series.labels);
        let labels = &labels[..];
        match &series.value {
            Value::Counter(count) => write_sample(out, &name, "", labels, None, count),
            Value::Gauge(value) => write_sample(out, &name, "", labels, None, float(*value)),
            Value::Histogram { buckets, sum, .. } => {
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

fn write_sample(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &[(String, String)],
    extra: Option<(&str, &str)>,
    value: impl std::fmt::Display,
) {
    write_series(out, name, suffix, labels, extra);
    let _ = writeln!(out, " {value}");
}

/// A sample's name and labels, without its value.
fn write_series(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &[(String, String)],
    extra: Option<(&str, &str)>,
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

    #[test]
    fn openmetrics_is_chosen_as_prometheus_asks_for_it() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert!(wants_openmetrics(Some(prometheus)));
        assert!(wants_openmetrics(Some("application/openmetrics-text")));
        assert!(!wants_openmetrics(None));
        assert!(!wants_openmetrics(Some("*/*")));
        assert!(!wants_openmetrics(Some("text/plain")));
        assert!(!wants_openmetrics(Some(
            "text/plain;q=0.9,application/openmetrics-text;q=0.5"
        )));
        assert!(!wants_openmetrics(Some("application/openmetrics-text;q=0")));
        assert!(!wants_openmetrics(Some(
            "application/openmetrics-text;q=bad"
        )));
    }

    #[test]
    fn the_text_format_has_target_info_and_constant_labels() {
        let identity = Identity {
            resource: vec![
                ("service.name".to_owned(), "svc".to_owned()),
                ("service.instance.id".to_owned(), "i-1".to_owned()),
            ],
            constant_labels: vec![("node".to_owned(), "a".to_owned())],
        };
        let text = render_with(&family("x"), &identity);
        assert!(
            text.contains(
                "target_info{service_name=\"svc\",service_instance_id=\"i-1\",node=\"a\"} 1\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("escape_test{v=\"x\",node=\"a\"} 1\n"),
            "{text}"
        );
        let bare = render_with(&family("x"), &Identity::default());
        assert!(!bare.contains("target_info"), "{bare}");
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
    }
}
