//! Export health (DESIGN.md "Operation"): with a receiver that is down,
//! slow or refusing, every signal's loss is counted in
//! `alamos_export_dropped_total{signal, reason}` from the first dropped
//! item, stderr hears of it once (at most one line per signal per minute),
//! and the shutdown's final line says what was not delivered, within its
//! time. And `OTEL_TRACES_EXPORTER=none` exports no spans while metrics
//! and log records still go.
//!
//! Each test runs `export_probe` (`tests/src/bin`) against an in-process
//! receiver; `EXPORT_PROBE=<path>` runs another build of it (an older
//! alamos, to compare).
#![cfg(all(feature = "otel", unix))]

#[path = "propagation_otel/receiver.rs"]
#[allow(dead_code)]
mod receiver;

use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use receiver::{Behaviour, Receiver};

fn probe() -> Command {
    let path = std::env::var("EXPORT_PROBE")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_export_probe").to_owned());
    let mut command = alamos_tests::probe_command(path);
    command
        .env("ALAMOS_LOG_FORMAT", "text")
        // Quick batches and pushes, short requests: the run takes seconds.
        .env("OTEL_BSP_SCHEDULE_DELAY", "200")
        .env("OTEL_BLRP_SCHEDULE_DELAY", "200")
        .env("OTEL_METRIC_EXPORT_INTERVAL", "300")
        .env("OTEL_EXPORTER_OTLP_TIMEOUT", "500")
        .env("ALAMOS_LEVEL", "prod");
    command
}

/// A loopback address nobody listens on.
fn nobody() -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}")
}

/// The value of the `/metrics` series of `name` with these labels, as the
/// probe printed them.
fn series(stdout: &str, name: &str, labels: &[(&str, &str)]) -> Option<u64> {
    stdout
        .lines()
        .filter(|line| line.starts_with(&format!("{name}{{")))
        .find(|line| {
            labels
                .iter()
                .all(|(k, v)| line.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

fn shutdown_millis(stdout: &str) -> u64 {
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("shutdown took ")?.strip_suffix(" ms"))
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("no shutdown time in {stdout}"))
}

/// Runs the probe for two seconds against `endpoint` and checks what a
/// receiver in trouble must leave behind: the dropped series of each
/// signal with `reason`, one stderr line per signal, the final line, and a
/// shutdown within its 5 s.
fn dropped_and_said(endpoint: &str, reason: &str) {
    let (stdout, stderr) = alamos_tests::run_probe(
        probe()
            .args(["run", "2"])
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
    );
    println!("{stdout}\n{stderr}");
    for signal in ["spans", "logs", "metrics"] {
        let dropped = series(
            &stdout,
            alamos::names::EXPORT_DROPPED_TOTAL,
            &[("signal", signal), ("reason", reason)],
        );
        assert!(
            dropped.is_some_and(|n| n > 0),
            "{signal} dropped for {reason}: {dropped:?}\n{stdout}"
        );
        assert_eq!(
            series(
                &stdout,
                alamos::names::EXPORTED_TOTAL,
                &[("signal", signal)]
            ),
            None,
            "nothing exported: {stdout}"
        );
    }
    for items in ["spans", "log records", "metric points"] {
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|line| {
                line.starts_with(&format!("alamos: OTLP export of {items} to {endpoint}"))
            })
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "one line for {items} in two seconds:\n{stderr}"
        );
        assert!(lines[0].contains(reason), "{}", lines[0]);
    }
    let last = stderr
        .lines()
        .find(|line| line.contains("not delivered in this run"))
        .unwrap_or_else(|| panic!("a final line:\n{stderr}"));
    for items in ["spans", "log records", "metric points"] {
        assert!(last.contains(items), "{last}");
    }
    let millis = shutdown_millis(&stdout);
    assert!(millis < 6_000, "shutdown took {millis} ms");
}

#[test]
fn a_receiver_that_is_down_is_counted_unreachable() {
    dropped_and_said(&nobody(), "unreachable");
}

#[test]
fn a_receiver_slower_than_the_timeout_is_counted_timeout() {
    let receiver = Receiver::with(Behaviour::Slow(Duration::from_secs(3)));
    dropped_and_said(&receiver.endpoint(), "timeout");
    assert!(receiver.spans().is_empty());
}

#[test]
fn a_receiver_answering_503_is_counted_rejected() {
    let receiver = Receiver::with(Behaviour::Status(503));
    dropped_and_said(&receiver.endpoint(), "rejected");
}

#[test]
fn a_full_queue_is_counted_queue_full() {
    // Eight items may wait, and the receiver holds every request for 3 s.
    let receiver = Receiver::with(Behaviour::Slow(Duration::from_secs(3)));
    let (stdout, stderr) = alamos_tests::run_probe(
        probe()
            .args(["run", "1"])
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint())
            .env("OTEL_BSP_MAX_QUEUE_SIZE", "8")
            .env("OTEL_BLRP_MAX_QUEUE_SIZE", "8"),
    );
    for signal in ["spans", "logs"] {
        assert!(
            series(
                &stdout,
                alamos::names::EXPORT_DROPPED_TOTAL,
                &[("signal", signal), ("reason", "queue_full")]
            )
            .is_some_and(|n| n > 0),
            "{signal}: {stdout}"
        );
    }
    assert!(
        stderr
            .lines()
            .any(|line| line.starts_with("alamos: OTLP export of spans")
                && line.contains("queue_full")),
        "{stderr}"
    );
}

#[test]
fn a_healthy_receiver_gets_everything_and_stderr_stays_quiet() {
    let receiver = Receiver::start();
    let (stdout, stderr) = alamos_tests::run_probe(
        probe()
            .args(["run", "1"])
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
    );
    for signal in ["spans", "logs", "metrics"] {
        assert!(
            series(
                &stdout,
                alamos::names::EXPORTED_TOTAL,
                &[("signal", signal)]
            )
            .is_some_and(|n| n > 0),
            "{signal} exported: {stdout}"
        );
    }
    assert!(
        !stdout.contains(alamos::names::EXPORT_DROPPED_TOTAL),
        "{stdout}"
    );
    assert!(!stderr.contains("OTLP export"), "{stderr}");
    let calls: usize = stdout
        .lines()
        .find_map(|line| line.strip_prefix("made ")?.strip_suffix(" calls"))
        .and_then(|n| n.parse().ok())
        .expect("the call count");
    let spans = receiver
        .spans()
        .iter()
        .filter(|span| span.name == "export_probe.work.work")
        .count();
    assert_eq!(spans, calls);
}

#[test]
fn traces_exporter_none_exports_no_spans_while_metrics_and_logs_go() {
    let receiver = Receiver::start();
    let (stdout, stderr) = alamos_tests::run_probe(
        probe()
            .args(["burst", "20", "0"])
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint())
            .env("OTEL_TRACES_EXPORTER", "none"),
    );
    assert!(stdout.contains("burst done 20"), "{stdout}\n{stderr}");
    assert!(receiver.spans().is_empty(), "{:?}", receiver.spans());
    assert_eq!(
        receiver.last_counter(
            alamos::names::CALLS_TOTAL,
            &[("experiment", "export_probe.work"), ("outcome", "ok")]
        ),
        Some(20),
        "{:?}",
        receiver.metric_pushes()
    );
    assert_eq!(
        receiver
            .log_bodies()
            .iter()
            .filter(|body| *body == "worked")
            .count(),
        20
    );
}

#[test]
fn malformed_otel_variables_are_reported_and_export_goes_on() {
    let receiver = Receiver::start();
    let (stdout, stderr) = alamos_tests::run_probe(
        probe()
            .args(["burst", "5", "0"])
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint())
            .env("OTEL_TRACES_EXPORTER", "jaeger")
            .env("OTEL_METRIC_EXPORT_INTERVAL", "soon")
            .env("OTEL_EXPORTER_OTLP_TIMEOUT", "-1")
            .env("OTEL_BSP_MAX_QUEUE_SIZE", "many")
            .env("OTEL_EXPORTER_OTLP_HEADERS", "novalue")
            .env("OTEL_RESOURCE_ATTRIBUTES", "a=1,b")
            .env("OTEL_SDK_DISABLED", "maybe"),
    );
    assert!(stdout.contains("burst done 5"), "{stdout}");
    for variable in [
        "OTEL_TRACES_EXPORTER",
        "OTEL_METRIC_EXPORT_INTERVAL",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        "OTEL_BSP_MAX_QUEUE_SIZE",
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_RESOURCE_ATTRIBUTES",
        "OTEL_SDK_DISABLED",
    ] {
        assert!(
            stderr
                .lines()
                .any(|line| line.starts_with("alamos: ") && line.contains(variable)),
            "{variable} reported:\n{stderr}"
        );
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    // The defaults apply: spans are exported.
    assert_eq!(
        receiver
            .spans()
            .iter()
            .filter(|span| span.name == "export_probe.work.work")
            .count(),
        5
    );
}

/// In process: a receiver that takes every request and answers after 30 s,
/// the exporters' own timeout (10 s) untouched; the guard's shutdown still
/// ends within its time, and says the spans are lost.
#[test]
fn shutdown_ends_within_its_time_whatever_the_receiver_does() {
    use tracing_subscriber::layer::SubscriberExt as _;

    let receiver = Receiver::with(Behaviour::Slow(Duration::from_secs(30)));
    let (layer, guard) = alamos::OtelConfig::new()
        .endpoint(receiver.endpoint())
        .metric_export_interval(Duration::from_secs(3600))
        .shutdown_timeout(Duration::from_millis(1500))
        .build_layer::<tracing_subscriber::Registry>()
        .expect("builds");
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..20 {
            let _span = tracing::info_span!("export_otel.slow", i).entered();
            tracing::info!("inside");
        }
    });
    let started = std::time::Instant::now();
    let result = guard.shutdown();
    let took = started.elapsed();
    assert!(took < Duration::from_millis(2500), "shutdown took {took:?}");
    let Err(alamos::OtelError::Lost(report)) = result else {
        panic!("the spans are lost: {result:?}");
    };
    assert_eq!((report.finished, report.exported), (20, 0), "{report}");
}
