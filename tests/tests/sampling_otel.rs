//! Sampling with `otel`: `propagate` inside an untraced call writes a valid
//! trace id with the not-sampled flag (`-00`), the same for every call under
//! one root, and the next node's `depropagate` then does not trace; the
//! OTLP receiver gets the spans of traced calls only; exemplars come from
//! traced calls only (an untraced call does not even take a bucket's turn).
#![cfg(feature = "otel")]

#[path = "propagation_otel/receiver.rs"]
#[allow(dead_code)]
mod receiver;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use alamos::context::TraceParent;
use alamos_tests::capture;
use receiver::Receiver;

type Headers = HashMap<String, String>;

fn propagated() -> Headers {
    let mut headers = Headers::new();
    alamos::propagate(&mut headers);
    headers
}

#[alamos::experiment("sampling_otel.untraced.child")]
fn untraced_child() -> Headers {
    propagated()
}

#[alamos::experiment("sampling_otel.untraced")]
fn untraced_root() -> (Headers, Headers) {
    (propagated(), untraced_child())
}

#[alamos::experiment("sampling_otel.next_node")]
fn next_node() -> Headers {
    propagated()
}

fn traceparent(headers: &Headers) -> TraceParent {
    let value = headers.get("traceparent").expect("a traceparent");
    TraceParent::parse(value).unwrap_or_else(|err| panic!("{value}: {err}"))
}

#[test]
fn an_untraced_call_propagates_a_trace_id_that_is_not_sampled() {
    alamos::set_trace_sample("sampling_otel.untraced", 0.0).unwrap();
    alamos::set_trace_sample("sampling_otel.next_node", 1.0).unwrap();
    let ((own, child), captured) = capture(untraced_root);
    assert!(captured.spans().is_empty());
    let sent = traceparent(&own);
    assert_eq!(sent.flags(), 0, "{own:?}");
    assert!(!sent.is_sampled());
    assert_ne!(sent.trace_id(), [0; 16]);
    assert_eq!(traceparent(&child), sent, "one trace under one root");
    let (other, _) = untraced_root();
    assert_ne!(
        traceparent(&other).trace_id(),
        sent.trace_id(),
        "a new root, a new trace"
    );

    // The next node does not trace it, whatever its probability, and
    // passes the same trace on, still not sampled.
    let (forwarded, captured) = capture(|| alamos::with_parent(&own, next_node));
    assert!(captured.spans().is_empty(), "{captured:?}");
    let forwarded = traceparent(&forwarded);
    assert_eq!(forwarded.trace_id(), sent.trace_id());
    assert_eq!(forwarded.flags(), 0);
    // The text is the W3C form with flags `00`.
    let text = own["traceparent"].clone();
    assert!(
        text.starts_with("00-") && text.ends_with("-00") && text.len() == 55,
        "{text}"
    );
}

#[alamos::experiment("sampling_otel.exported")]
fn exported(micros: u64) {
    std::thread::sleep(Duration::from_micros(micros));
}

fn openmetrics(addr: SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: t\r\nAccept: application/openmetrics-text; version=1.0.0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// The span ids of the exemplars on `sampling_otel.exported`'s buckets.
fn exemplar_spans(openmetrics: &str) -> Vec<String> {
    openmetrics
        .lines()
        .filter(|line| {
            line.starts_with(
                "alamos_call_duration_seconds_bucket{experiment=\"sampling_otel.exported\"",
            )
        })
        .filter_map(|line| {
            let (_, rest) = line.split_once("span_id=\"")?;
            Some(rest.split_once('"')?.0.to_owned())
        })
        .collect()
}

#[test]
fn only_traced_calls_are_exported_and_give_exemplars() {
    let receiver = Receiver::start();
    let guard = alamos::Builder::new()
        .span_events(alamos::SpanEvents::None)
        // Wide buckets: a call of 0, 3 or 30 ms lands in one of its own.
        .duration_buckets(&[0.001, 0.01, 1.0])
        .prometheus_addr(SocketAddr::from(([127, 0, 0, 1], 0)))
        .otel(
            alamos::OtelConfig::new()
                .endpoint(receiver.endpoint())
                .service_name("sampling-otel")
                .metrics(false)
                .logs(false),
        )
        .install()
        .expect("installs");
    let addr = guard.prometheus_addr().expect("served");
    // A bucket's turn comes once a minute: whoever takes it keeps it.
    alamos::__private::set_exemplar_interval(Duration::from_secs(60));

    // Untraced calls first, into every bucket the traced ones use next.
    alamos::set_trace_sample("sampling_otel.exported", 0.0).unwrap();
    for micros in [0, 3_000, 30_000] {
        exported(micros);
    }
    assert!(
        exemplar_spans(&openmetrics(addr)).is_empty(),
        "an untraced call gives no exemplar"
    );
    alamos::set_trace_sample("sampling_otel.exported", 1.0).unwrap();
    for micros in [0, 3_000, 30_000] {
        exported(micros);
    }
    let exemplars = exemplar_spans(&openmetrics(addr));
    drop(guard);

    let spans: Vec<_> = receiver
        .spans()
        .into_iter()
        .filter(|span| span.name == "sampling_otel.exported.exported")
        .collect();
    assert_eq!(spans.len(), 3, "the traced calls only: {spans:#?}");
    assert_eq!(
        exemplars.len(),
        3,
        "the traced calls took the buckets the untraced ones left: {exemplars:?}"
    );
    for span_id in &exemplars {
        assert!(
            spans.iter().any(|span| &span.span_id == span_id),
            "{span_id} is not an exported span"
        );
    }
}
