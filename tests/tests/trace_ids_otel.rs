//! Trace ids in log lines, in fresh processes (`tests/src/bin/trace_probe.rs`)
//! set up by `alamos::init()` as a binary is: every event inside an
//! instrumented function's span (alamos's log macro, a plain `tracing`
//! event, `err` and `ret`) carries the ids of that span, in JSON and in
//! text, and events outside any span carry none. With an OTLP receiver the
//! ids are those of the spans it received; without one, spans still get
//! ids and propagation still works; `OTEL_SDK_DISABLED=true` gives none.
//! Also: a signal whose endpoint is unusable is left out alone.
#![cfg(feature = "otel")]

#[path = "propagation_otel/receiver.rs"]
#[allow(dead_code)]
mod receiver;

use std::collections::BTreeMap;

use receiver::{ReceivedSpan, Receiver};

/// The remote caller of `handle(2)`, as the probe sends it.
const REMOTE_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const REMOTE_PARENT: &str = "00f067aa0ba902b7";
const SPAN: &str = "trace_probe.handler.handle";

/// stdout and stderr of the probe run with `env` (and no other `OTEL_*`
/// or `ALAMOS_*` variable).
fn probe(env: &[(&str, &str)]) -> (String, String) {
    alamos_tests::run_probe_with(env!("CARGO_BIN_EXE_trace_probe"), &[], env)
}

/// One log line: which call's span it is in (`n`), what it says, its ids.
#[derive(Debug)]
struct Line {
    call: Option<u32>,
    text: String,
    ids: Option<(String, String)>,
}

impl Line {
    /// Which of the events a call emits this is.
    fn kind(&self) -> &'static str {
        if self.text.contains("alamos event") {
            "alamos"
        } else if self.text.contains("plain event") {
            "plain"
        } else if self.text.contains("return") {
            "ret"
        } else if self.text.contains("error") && self.text.contains("refused") {
            "err"
        } else {
            "other"
        }
    }
}

/// The probe's log lines, JSON or text; alamos's own messages left out.
fn lines(stderr: &str, json: bool) -> Vec<Line> {
    stderr
        .lines()
        .filter(|line| !line.starts_with("alamos:") && !line.trim().is_empty())
        .map(|line| {
            if json {
                json_line(line)
            } else {
                text_line(line)
            }
        })
        .collect()
}

fn json_line(line: &str) -> Line {
    let object: serde_json::Value =
        serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line}"));
    let call = (object["span"]["name"] == SPAN)
        .then(|| u32::try_from(object["span"]["n"].as_u64().expect("the span has n")).unwrap());
    let ids = match (object.get("trace_id"), object.get("span_id")) {
        (None, None) => None,
        (Some(trace), Some(span)) => Some((
            trace.as_str().unwrap().to_owned(),
            span.as_str().unwrap().to_owned(),
        )),
        _ => panic!("a trace id without a span id, or the reverse: {line}"),
    };
    Line {
        call,
        text: object["fields"].to_string(),
        ids,
    }
}

fn text_line(line: &str) -> Line {
    let call = line.split_once(&format!("{SPAN}{{n=")).map(|(_, rest)| {
        rest.split('}')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no n in {line}"))
    });
    let (text, ids) = match line.rsplit_once(" trace=") {
        Some((text, ids)) => {
            let (trace, span) = ids
                .split_once('/')
                .unwrap_or_else(|| panic!("trace=<trace>/<span>: {line}"));
            (text, Some((trace.to_owned(), span.to_owned())))
        }
        None => (line, None),
    };
    Line {
        call,
        text: text.to_owned(),
        ids,
    }
}

/// Each call's lines: three calls, each with its own events.
fn calls(lines: &[Line]) -> BTreeMap<u32, Vec<&Line>> {
    let mut calls: BTreeMap<u32, Vec<&Line>> = BTreeMap::new();
    for line in lines {
        if let Some(call) = line.call {
            calls.entry(call).or_default().push(line);
        }
    }
    for (call, lines) in &calls {
        let mut kinds: Vec<_> = lines.iter().map(|line| line.kind()).collect();
        kinds.sort_unstable();
        let last = if *call == 0 { "err" } else { "ret" };
        let mut expected = vec!["alamos", "plain", last];
        expected.sort_unstable();
        assert_eq!(kinds, expected, "call {call}: {lines:#?}");
    }
    assert_eq!(calls.keys().copied().collect::<Vec<_>>(), [0, 1, 2]);
    calls
}

/// Events outside any span: two, and without ids.
fn assert_outside_has_no_ids(lines: &[Line]) {
    let outside: Vec<_> = lines.iter().filter(|line| line.call.is_none()).collect();
    assert_eq!(outside.len(), 2, "{lines:#?}");
    for line in outside {
        assert!(line.text.contains("outside"), "{line:?}");
        assert_eq!(line.ids, None, "an event outside any span: {line:?}");
    }
}

/// The `traceparent` the probe propagated in call `n` (`outside` for the
/// one after every call).
fn propagated(stdout: &str, call: &str) -> String {
    stdout
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{call} traceparent=")))
        .unwrap_or_else(|| panic!("no traceparent of {call} in {stdout}"))
        .to_owned()
}

/// The ids every line of one call carries; panics unless they agree.
fn ids_of(call: u32, lines: &[&Line]) -> (String, String) {
    let ids = lines[0]
        .ids
        .clone()
        .unwrap_or_else(|| panic!("call {call}: a line inside a span without ids: {lines:#?}"));
    for line in lines {
        assert_eq!(line.ids.as_ref(), Some(&ids), "call {call}: {line:?}");
    }
    assert_eq!(ids.0.len(), 32, "{ids:?}");
    assert_eq!(ids.1.len(), 16, "{ids:?}");
    ids
}

#[test]
fn log_lines_inside_a_span_carry_the_ids_of_the_exported_span() {
    for format in ["json", "text"] {
        let receiver = Receiver::start();
        let endpoint = receiver.endpoint();
        let (stdout, stderr) = probe(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_SERVICE_NAME", "trace-probe"),
            (alamos::env::LOG_FORMAT, format),
        ]);
        let lines = lines(&stderr, format == "json");
        let spans: Vec<ReceivedSpan> = receiver
            .spans()
            .into_iter()
            .filter(|span| span.name == SPAN)
            .collect();
        assert_eq!(spans.len(), 3, "{format}: {spans:#?}");
        for (call, lines) in calls(&lines) {
            let span = spans
                .iter()
                .find(|span| span.attribute("n") == Some(&call.to_string()))
                .unwrap_or_else(|| panic!("no span of call {call}: {spans:#?}"));
            let ids = ids_of(call, &lines);
            assert_eq!(
                ids,
                (span.trace_id.clone(), span.span_id.clone()),
                "{format}, call {call}: the lines' ids are the exported span's\n{stderr}"
            );
            assert_eq!(
                propagated(&stdout, &format!("n={call}")),
                format!("00-{}-{}-01", span.trace_id, span.span_id),
                "{format}: propagate writes the current span"
            );
            if call == 2 {
                assert_eq!(span.trace_id, REMOTE_TRACE, "{span:?}");
                assert_eq!(span.parent_span_id.as_deref(), Some(REMOTE_PARENT));
            } else {
                assert_eq!(span.parent_span_id, None, "{span:?}");
            }
        }
        assert_outside_has_no_ids(&lines);
        assert_eq!(propagated(&stdout, "outside"), "none");
        assert!(!stderr.contains("alamos: not exporting"), "{stderr}");
    }
}

#[test]
fn without_a_receiver_spans_still_get_ids_and_propagate() {
    for format in ["json", "text"] {
        let (stdout, stderr) = probe(&[(alamos::env::LOG_FORMAT, format)]);
        let lines = lines(&stderr, format == "json");
        let calls = calls(&lines);
        let ids: BTreeMap<u32, (String, String)> = calls
            .iter()
            .map(|(call, lines)| (*call, ids_of(*call, lines)))
            .collect();
        // Two root calls, two traces; the remote caller's trace goes on.
        assert_ne!(ids[&0].0, ids[&1].0, "{ids:?}");
        assert_ne!(ids[&0].1, ids[&1].1, "{ids:?}");
        assert_eq!(
            ids[&2].0, REMOTE_TRACE,
            "{format}: depropagate parents the span"
        );
        assert_ne!(ids[&2].1, REMOTE_PARENT, "the call's own span: {ids:?}");
        for (call, (trace, span)) in &ids {
            assert_eq!(
                propagated(&stdout, &format!("n={call}")),
                format!("00-{trace}-{span}-01"),
                "{format}: propagate writes the span the lines name, sampled"
            );
        }
        assert_outside_has_no_ids(&lines);
        assert_eq!(propagated(&stdout, "outside"), "none");
        assert!(!stderr.contains("alamos:"), "nothing to report: {stderr}");
    }
}

#[test]
fn otel_sdk_disabled_gives_spans_no_ids_and_forwards_the_callers_context() {
    let (stdout, stderr) = probe(&[("OTEL_SDK_DISABLED", "true")]);
    let lines = lines(&stderr, false);
    let _ = calls(&lines);
    assert!(lines.iter().all(|line| line.ids.is_none()), "{stderr}");
    assert_eq!(propagated(&stdout, "n=1"), "none");
    assert_eq!(
        propagated(&stdout, "n=2"),
        format!("00-{REMOTE_TRACE}-{REMOTE_PARENT}-01"),
        "a transparent hop"
    );
}

#[test]
fn a_signal_that_cannot_be_exported_leaves_the_others_exporting() {
    let receiver = Receiver::start();
    let endpoint = receiver.endpoint();
    let (_, stderr) = probe(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "not a url"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
    ]);
    assert!(
        said_in(&stderr, "alamos: not exporting metrics over OTLP: cannot build the OTLP exporter: metrics to \"not a url\""),
        "{stderr}"
    );
    assert!(
        said_in(&stderr, "still exporting spans and log records"),
        "{stderr}"
    );
    assert!(
        said_in(
            &stderr,
            "OTEL_EXPORTER_OTLP_PROTOCOL=\"grpc\": alamos exports OTLP over http/protobuf only"
        ),
        "{stderr}"
    );
    assert_eq!(
        receiver
            .spans()
            .iter()
            .filter(|span| span.name == SPAN)
            .count(),
        3,
        "spans are exported over http/protobuf"
    );
    assert!(receiver.log_requests() > 0, "log records are exported");
    assert!(receiver.metric_pushes().is_empty());

    // A bad traces endpoint: no spans, but their ids, logs and metrics.
    let receiver = Receiver::start();
    let endpoint = receiver.endpoint();
    let (_, stderr) = probe(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://[::1"),
    ]);
    assert!(
        said_in(&stderr, "alamos: not exporting spans over OTLP"),
        "{stderr}"
    );
    assert!(
        said_in(&stderr, "still exporting metrics and log records"),
        "{stderr}"
    );
    let lines = lines(&stderr, false);
    for (call, lines) in calls(&lines) {
        let _ = ids_of(call, &lines);
    }
    assert!(receiver.spans().is_empty());
    assert!(receiver.log_requests() > 0, "log records are exported");
    assert!(
        receiver
            .metric_pushes()
            .iter()
            .any(|names| names.iter().any(|name| name == alamos::names::CALLS_TOTAL)),
        "metrics are pushed: {:?}",
        receiver.metric_pushes()
    );
}

fn said_in(stderr: &str, text: &str) -> bool {
    stderr.lines().any(|line| line.contains(text))
}
