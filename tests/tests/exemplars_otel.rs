//! Exemplars in-process: with `otel`, the OpenMetrics answer of `/metrics`
//! has, on duration and instrument buckets, the trace and span ids of calls
//! whose spans the OTLP receiver then gets. The real-Prometheus version of
//! this check is in `tests/interop/pillars.py`.
#![cfg(feature = "otel")]

#[path = "propagation_otel/receiver.rs"]
#[allow(dead_code)]
mod receiver;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use receiver::Receiver;

#[alamos::experiment("exemplar_test.io")]
fn io(micros: u32) {
    alamos::histogram!(
        "exemplar_test_wait",
        f64::from(micros) * 1e-6,
        unit = seconds
    );
    std::thread::sleep(Duration::from_micros(u64::from(micros)));
}

fn get(addr: SocketAddr, accept: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: t\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}

/// `(metric line, trace id, span id)` of every exemplar.
fn exemplars(openmetrics: &str) -> Vec<(String, String, String)> {
    openmetrics
        .lines()
        .filter_map(|line| {
            let (sample, exemplar) = line.split_once(" # {trace_id=\"")?;
            let (trace_id, rest) = exemplar.split_once("\",span_id=\"")?;
            let (span_id, _) = rest.split_once('"')?;
            Some((sample.to_owned(), trace_id.to_owned(), span_id.to_owned()))
        })
        .collect()
}

#[test]
fn exemplars_name_spans_the_receiver_gets() {
    let receiver = Receiver::start();
    let guard = alamos::Builder::new()
        .span_events(alamos::SpanEvents::None)
        .prometheus_addr(SocketAddr::from(([127, 0, 0, 1], 0)))
        .otel(
            alamos::OtelConfig::new()
                .endpoint(receiver.endpoint())
                .service_name("exemplars-otel")
                .metrics(false)
                .logs(false),
        )
        .install()
        .expect("installs");
    let addr = guard.prometheus_addr().expect("served");
    // Durations spread over several buckets.
    for round in 0..3 {
        for micros in [0, 30, 300, 3_000] {
            io(micros + round);
        }
    }
    let text = get(addr, "text/plain");
    assert!(
        !text.contains("trace_id"),
        "the text format has no exemplars"
    );
    let openmetrics = get(addr, "application/openmetrics-text; version=1.0.0");
    let found = exemplars(&openmetrics);
    drop(guard);

    let durations: Vec<_> = found
        .iter()
        .filter(|(sample, ..)| {
            sample
                .starts_with("alamos_call_duration_seconds_bucket{experiment=\"exemplar_test.io\"")
        })
        .collect();
    let waits: Vec<_> = found
        .iter()
        .filter(|(sample, ..)| sample.starts_with("exemplar_test_wait_seconds_bucket{"))
        .collect();
    assert!(
        durations.len() >= 3,
        "exemplars in 3 buckets at least:\n{openmetrics}"
    );
    assert!(waits.len() >= 3, "instrument exemplars too:\n{openmetrics}");
    let spans = receiver.spans();
    for (sample, trace_id, span_id) in durations.iter().chain(&waits) {
        assert_eq!(trace_id.len(), 32, "{sample}");
        let span = spans
            .iter()
            .find(|span| &span.span_id == span_id)
            .unwrap_or_else(|| panic!("no span {span_id} for {sample}: {spans:#?}"));
        assert_eq!(&span.trace_id, trace_id, "{sample}");
        assert_eq!(span.name, "exemplar_test.io.io");
    }
    // Distinct buckets hold distinct calls.
    let mut ids: Vec<_> = durations.iter().map(|(_, _, span)| span).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), durations.len(), "{durations:#?}");
}
