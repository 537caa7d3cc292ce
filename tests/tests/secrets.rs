//! No secret leaves the process through alamos unless the user records it.
//!
//! A canary secret goes through an argument no `fields(...)` names, a
//! `redact(...)` argument (also one named in `fields`), an `Err` when `err` is
//! not asked for (returned and propagated by `?`), a returned value when
//! `ret` is not asked for, a panic message and a panic payload, an `async fn`
//! and a `self` whose `Debug` shows it (the calls of
//! `src/bin/secrets_probe/calls.rs`). Every output alamos produces is then
//! searched for it: span names and fields and events as a `tracing` layer
//! sees them, every metric and label, the text and JSON logs of a binary set
//! up by `alamos::init()`, its exposition from `Guard::render()` and from
//! `GET /metrics`, and the tree view. The OTLP export is searched by
//! `secrets_otel.rs` (feature `otel`).
//!
//! Each search is shown able to fail: a control value, recorded where the
//! user asked (`fields`, `err`, `ret`, `labels`, a log field), must be found
//! in the same output.

#[path = "../src/bin/secrets_probe/calls.rs"]
mod calls;

use alamos_tests::{capture, record_metrics};

const SECRET: &str = "CANARY-7f3a9c";
const CONTROL: &str = "CONTROL-51d2e8";

#[test]
fn spans_events_and_metrics_hold_the_secret_nowhere() {
    alamos::set_level("secrets", alamos::Level::Bench).expect("a known subtree");
    let (((), captured), metrics) = record_metrics(|| capture(|| calls::run(SECRET, CONTROL)));

    // Every call was instrumented, so the secret went through alamos.
    for (experiment, function, outcome, count) in calls::CALLS {
        assert_eq!(
            metrics.calls(experiment, function, outcome),
            *count,
            "{experiment} {function} {outcome}: {metrics:#?}"
        );
        let span = captured.spans_named(&format!("{experiment}.{}", short(function)));
        assert!(!span.is_empty(), "no span for {function}: {captured:#?}");
        assert!(span.iter().all(|span| span.closed), "{span:#?}");
    }

    let everything = format!("{captured:?}\n{metrics:?}");
    assert!(
        !everything.contains(SECRET),
        "the secret leaked into spans, events or metrics:\n{everything}"
    );

    // The controls: the same search finds what the user recorded.
    let login = captured.span("secrets.auth.login");
    assert_eq!(login.field("user"), Some(CONTROL));
    assert_eq!(login.field("password"), None);
    let redacted = captured.span("secrets.auth.login_redacted");
    assert_eq!(redacted.field("user"), Some(CONTROL));
    assert_eq!(redacted.field("password"), Some("<redacted>"));
    assert_eq!(
        redacted.field("len"),
        Some(SECRET.len().to_string().as_str())
    );
    let named = captured.span("secrets.auth.login_named_and_redacted");
    assert_eq!(named.field("password"), Some("<redacted>"));
    assert_eq!(named.field("pin"), Some("<redacted>"));
    let refused = captured.events_in("secrets.control.refuse");
    assert!(
        refused
            .iter()
            .any(|event| event.field("error") == Some(&format!("vault refused key {CONTROL}"))),
        "{refused:#?}"
    );
    let issued = captured.events_in("secrets.control.issue");
    assert!(
        issued
            .iter()
            .any(|event| event.field("return").is_some_and(|v| v.contains(CONTROL))),
        "{issued:#?}"
    );
    let scoped = captured.events_in("secrets.control.scoped");
    assert!(
        scoped
            .iter()
            .any(|event| event.field("tenant") == Some(CONTROL)),
        "{scoped:#?}"
    );
    assert_eq!(
        metrics.counter(
            alamos::names::CALLS_TOTAL,
            &[
                ("experiment", "secrets.control"),
                ("function", "scoped"),
                ("tenant", CONTROL),
                ("outcome", "ok"),
            ],
        ),
        1,
        "{metrics:#?}"
    );
    assert!(everything.contains(CONTROL));
}

/// The fn name part of a `function` label (`Session::check` → `check`).
fn short(function: &str) -> &str {
    function.rsplit("::").next().unwrap_or(function)
}

/// What the probe printed: stdout by `=== section`, and stderr.
struct Run {
    sections: Vec<(String, String)>,
    stderr: String,
}

impl Run {
    fn section(&self, name: &str) -> &str {
        self.sections
            .iter()
            .find(|(n, _)| n == name)
            .map_or_else(|| panic!("no section {name}"), |(_, text)| text.as_str())
    }

    fn everything(&self) -> String {
        let mut all = self.stderr.clone();
        for (name, text) in &self.sections {
            all.push_str(name);
            all.push_str(text);
        }
        all
    }
}

fn probe(format: &str) -> Run {
    let output = alamos_tests::probe_command(env!("CARGO_BIN_EXE_secrets_probe"))
        .args([SECRET, CONTROL])
        .env("ALAMOS_LEVEL", "bench")
        .env(alamos::env::LOG_FORMAT, format)
        // Span open and close lines too: they must not hold the secret either.
        .env(alamos::env::LOG_SPANS, "full")
        .env(alamos::env::PROMETHEUS_ADDR, "127.0.0.1:0")
        .output()
        .expect("the probe runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "probe failed: {:?}\n{stdout}\n{stderr}",
        output.status
    );
    let mut sections = Vec::new();
    for chunk in stdout.split("=== ").skip(1) {
        let (name, text) = chunk.split_once('\n').unwrap_or((chunk, ""));
        sections.push((name.trim().to_owned(), text.to_owned()));
    }
    assert_eq!(
        sections.last().map(|(name, _)| name.as_str()),
        Some("done"),
        "{stdout}"
    );
    Run { sections, stderr }
}

/// The value of one sample line, `series` written as in the exposition.
fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.trim().parse().ok()
    })
}

/// Checks what every binary run shares: the calls were counted, the
/// exposition and endpoint show the control label and not the secret.
fn check_metrics(run: &Run) {
    let render = run.section("render");
    for (experiment, function, outcome, count) in calls::CALLS {
        let series = format!(
            r#"alamos_calls_total{{experiment="{experiment}",function="{function}",outcome="{outcome}"}}"#
        );
        #[allow(clippy::cast_precision_loss)]
        let expected = *count as f64;
        assert_eq!(
            sample(render, &series),
            Some(expected),
            "{series}\n{render}"
        );
    }
    let control_series = format!(
        r#"alamos_calls_total{{experiment="secrets.control",function="scoped",tenant="{CONTROL}",outcome="ok"}}"#
    );
    assert_eq!(sample(render, &control_series), Some(1.0), "{render}");
    let http = run.section("http");
    assert!(http.starts_with("HTTP/1.1 200 OK\r\n"), "{http}");
    assert!(http.contains(&control_series), "{http}");
    assert!(run.section("tree").contains("secrets.vault"));
}

#[test]
fn text_logs_exposition_endpoint_and_tree_of_a_binary_hold_the_secret_nowhere() {
    let run = probe("text");
    check_metrics(&run);
    let everything = run.everything();
    assert!(
        !everything.contains(SECRET),
        "the secret leaked:\n{everything}"
    );
    // The logs were written, and show what the user recorded.
    let logs = &run.stderr;
    for needle in [
        "secrets.vault.unseal",
        "secrets.vault.decrypt",
        "secrets.vault.rotate",
        "secrets.session.renew",
        "password=\"<redacted>\"",
        "checking credentials",
        "secrets_probe: a panic at",
    ] {
        assert!(logs.contains(needle), "no {needle:?} in\n{logs}");
    }
    for control in [
        format!("user=\"{CONTROL}\""),
        format!("error=vault refused key {CONTROL}"),
        format!("tenant=\"{CONTROL}\""),
    ] {
        assert!(logs.contains(&control), "no {control:?} in\n{logs}");
    }
}

#[test]
fn json_logs_of_a_binary_hold_the_secret_nowhere() {
    let run = probe("json");
    check_metrics(&run);
    let everything = run.everything();
    assert!(
        !everything.contains(SECRET),
        "the secret leaked:\n{everything}"
    );
    // Search the decoded strings too, in case an encoder escaped the secret.
    let mut strings = Vec::new();
    let mut lines = 0;
    for line in run.stderr.lines().filter(|line| line.starts_with('{')) {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}"));
        collect_strings(&value, &mut strings);
        lines += 1;
    }
    assert!(lines > 20, "too few JSON lines:\n{}", run.stderr);
    assert!(!strings.iter().any(|s| s.contains(SECRET)), "{strings:#?}");
    for control in [CONTROL.to_owned(), format!("vault refused key {CONTROL}")] {
        assert!(
            strings.contains(&control),
            "no {control:?} among the JSON strings:\n{}",
            run.stderr
        );
    }
    assert!(strings.iter().any(|s| s == "<redacted>"));
    assert!(strings.iter().any(|s| s == "secrets.vault.decrypt"));
}

fn collect_strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(items) => {
            for item in items {
                collect_strings(item, out);
            }
        }
        serde_json::Value::Object(map) => {
            for (key, item) in map {
                out.push(key.clone());
                collect_strings(item, out);
            }
        }
        other => out.push(other.to_string()),
    }
}
