//! W3C trace context through the public API, with any subscriber: received
//! headers, instrumented calls under them, and the headers they send on.
//!
//! No OpenTelemetry layer is installed here, so spans have no W3C ids of
//! their own and a process forwards what it received (see
//! `tests/propagation_otel` for export and re-parenting).

use std::collections::{BTreeMap, HashMap};

use alamos::context::TraceParent;
use alamos::{depropagate, propagate, with_parent, Carrier, RemoteContext};
use alamos_tests::capture;

const PYTHON: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03";

fn headers(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A handler that calls a peer: what headers would it send?
#[alamos::experiment("distribution.propagation_test")]
fn relay() -> HashMap<String, String> {
    let mut outgoing = HashMap::new();
    propagate(&mut outgoing);
    outgoing
}

#[test]
fn a_handler_forwards_the_received_context() {
    let incoming = headers(&[
        ("TraceParent", PYTHON),
        ("TraceState", "congo=t61rcWkgMzE"),
        ("Baggage", "tenant=acme"),
    ]);
    let (outgoing, captured) = capture(|| with_parent(&incoming, relay));
    assert_eq!(
        outgoing.get("traceparent").map(String::as_str),
        Some(PYTHON)
    );
    assert_eq!(
        outgoing.get("tracestate").map(String::as_str),
        Some("congo=t61rcWkgMzE")
    );
    assert_eq!(
        outgoing.get("baggage").map(String::as_str),
        Some("tenant=acme")
    );
    // The call itself is instrumented as usual.
    let span = captured.span("distribution.propagation_test.relay");
    assert!(span.closed);
    assert!(captured.events().is_empty(), "{:?}", captured.events());
}

#[test]
fn the_go_transport_spelling_is_read() {
    let incoming = headers(&[("Alamos-Traceparent", PYTHON)]);
    let outgoing = with_parent(&incoming, relay);
    assert_eq!(
        outgoing.get("traceparent").map(String::as_str),
        Some(PYTHON)
    );
    assert!(
        !outgoing.contains_key("alamos-traceparent"),
        "W3C names are written"
    );
}

#[test]
fn nothing_is_sent_outside_a_received_context() {
    assert!(relay().is_empty());
    let _entered = depropagate(&headers(&[("traceparent", PYTHON)])).enter();
    assert_eq!(relay().len(), 1);
}

#[test]
fn a_malformed_header_is_logged_at_debug_and_ignored() {
    let incoming = headers(&[(
        "traceparent",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
    )]);
    let (outgoing, captured) = capture(|| with_parent(&incoming, relay));
    assert!(outgoing.is_empty(), "a new trace: no parent to forward");
    let events = captured.events();
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event.level, tracing::Level::DEBUG);
    assert_eq!(event.target, "alamos::propagate");
    assert_eq!(event.field("header"), Some("traceparent"));
    assert_eq!(event.field("error"), Some("trace-id is all zeros"));
    assert!(captured.span("distribution.propagation_test.relay").closed);
}

#[test]
fn hostile_headers_never_panic() {
    let long = "f".repeat(1 << 20);
    let cases = [
        "",
        "-",
        "00",
        "ff-ffffffffffffffffffffffffffffffff-ffffffffffffffff-ff",
        "00-\u{1F600}\u{1F600}\u{1F600}\u{1F600}\u{1F600}\u{1F600}\u{1F600}\u{1F600}-00f067aa0ba902b7-01",
        "\0\0\0",
        long.as_str(),
    ];
    for value in cases {
        let map = headers(&[
            ("traceparent", value),
            ("tracestate", value),
            ("baggage", value),
        ]);
        let cx = depropagate(&map);
        assert!(cx.parent().is_none(), "{value:.40}");
        assert!(cx.trace_state().is_empty());
    }
}

#[test]
fn any_carrier_works() {
    /// gRPC-style metadata: a list of pairs.
    #[derive(Default)]
    struct Metadata(Vec<(String, String)>);

    impl Carrier for Metadata {
        fn get(&self, key: &str) -> Option<&str> {
            self.0
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.as_str())
        }

        fn set(&mut self, key: &str, value: String) {
            self.0.retain(|(k, _)| !k.eq_ignore_ascii_case(key));
            self.0.push((key.to_owned(), value));
        }
    }

    let received = Metadata(vec![("TRACEPARENT".to_owned(), PYTHON.to_owned())]);
    let cx = depropagate(&received);
    let parent: &TraceParent = cx.parent().unwrap();
    assert_eq!(parent.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
    let mut sent = Metadata::default();
    cx.in_scope(|| propagate(&mut sent));
    assert_eq!(sent.0, [("traceparent".to_owned(), PYTHON.to_owned())]);

    let mut tree = BTreeMap::new();
    RemoteContext::default().inject(&mut tree);
    assert!(tree.is_empty());
}
