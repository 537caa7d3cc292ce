//! Span export over OTLP and W3C propagation through OpenTelemetry, checked
//! on what an OTLP/HTTP receiver on a loopback port actually decoded.
//!
//! Each test builds its own exporter and receiver and installs its
//! subscriber only on the threads it runs, so tests stay independent.
#![cfg(feature = "otel")]
// With `--all-features` (`max_level_off`) these functions are stripped and
// clippy reads them as written; their shapes are the cases under test.
#![allow(clippy::unused_async)]

mod receiver;

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use alamos::{depropagate, propagate, with_parent, OtelConfig, OtelError, OtelGuard};
use receiver::{ReceivedSpan, Receiver};
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt as _;

/// What the Python SDK sends: sampled, random trace id.
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

fn remote_headers() -> HashMap<String, String> {
    HashMap::from([
        ("TraceParent".to_owned(), format!("00-{TRACE}-{PARENT}-03")),
        ("tracestate".to_owned(), "congo=t61rcWkgMzE".to_owned()),
        ("baggage".to_owned(), "tenant=acme".to_owned()),
    ])
}

/// A subscriber exporting to `receiver`, and its guard.
fn exporting(receiver: &Receiver, config: OtelConfig) -> (Dispatch, OtelGuard) {
    let (layer, guard) = config
        .endpoint(receiver.endpoint())
        .service_name("alamos-tests")
        .build_layer::<tracing_subscriber::Registry>()
        .expect("the exporter builds");
    (
        Dispatch::new(tracing_subscriber::registry().with(layer)),
        guard,
    )
}

#[derive(Debug, PartialEq)]
struct Seven;

#[alamos::experiment("distribution.otel_test")]
fn outer(n: u32) -> Result<u32, Seven> {
    let value = inner(n)?;
    Ok(value + 1)
}

#[alamos::experiment("distribution.otel_test")]
fn inner(n: u32) -> Result<u32, Seven> {
    if n.is_multiple_of(7) {
        return Err(Seven);
    }
    Ok(n)
}

#[alamos::experiment("distribution.otel_test")]
fn boom() {
    panic!("boom, on purpose");
}

/// A server handler: forwards the request downstream.
#[alamos::experiment("distribution.otel_test")]
fn handle() -> HashMap<String, String> {
    forward()
}

/// Writes the headers of a downstream request.
#[alamos::experiment("distribution.otel_test")]
fn forward() -> HashMap<String, String> {
    let mut headers = HashMap::new();
    propagate(&mut headers);
    headers
}

#[alamos::experiment("distribution.otel_test")]
async fn handle_async() -> HashMap<String, String> {
    forward()
}

fn by_name<'a>(spans: &'a [ReceivedSpan], name: &str) -> Vec<&'a ReceivedSpan> {
    spans.iter().filter(|span| span.name == name).collect()
}

fn one<'a>(spans: &'a [ReceivedSpan], name: &str) -> &'a ReceivedSpan {
    let found = by_name(spans, name);
    assert_eq!(found.len(), 1, "expected one {name:?} in {spans:#?}");
    found[0]
}

#[test]
fn graceful_shutdown_exports_every_finished_span() {
    let receiver = Receiver::start();
    // Nothing is exported on a timer during the test: only the shutdown flush
    // can deliver the spans.
    let (dispatch, guard) = exporting(
        &receiver,
        OtelConfig::new().scheduled_delay(Duration::from_secs(600)),
    );
    let threads = 4;
    let calls = 150;
    let workers: Vec<_> = (0..threads)
        .map(|thread| {
            let dispatch = dispatch.clone();
            std::thread::spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    let mut created = 0;
                    for n in 0..calls {
                        let result = outer(thread * 1000 + n);
                        assert_eq!(result.is_err(), (thread * 1000 + n) % 7 == 0);
                        created += 2;
                        if n % 25 == 0 {
                            assert!(std::panic::catch_unwind(boom).is_err());
                            created += 1;
                        }
                    }
                    created
                })
            })
        })
        .collect();
    let created: u64 = workers
        .into_iter()
        .map(|worker| worker.join().unwrap())
        .sum();
    assert_eq!(created, 4 * (150 * 2 + 6));

    let report = guard.shutdown().expect("a clean shutdown");
    assert_eq!(report.finished, created, "{report}");
    assert_eq!(report.exported, created, "{report}");
    assert_eq!(report.failed, 0);

    let spans = receiver.spans();
    assert_eq!(spans.len() as u64, created, "the receiver got every span");
    assert_eq!(receiver.malformed(), 0);
    let ids: BTreeSet<_> = spans.iter().map(|span| &span.span_id).collect();
    assert_eq!(ids.len(), spans.len(), "span ids are unique");

    for span in &spans {
        assert_eq!(span.service_name, "alamos-tests");
        assert_eq!(
            span.attribute("alamos.experiment"),
            Some("distribution.otel_test")
        );
        assert_eq!(span.attribute("code.namespace"), Some("propagation_otel"));
        let function = span.attribute("code.function").unwrap();
        assert_eq!(span.name, format!("distribution.otel_test.{function}"));
    }
    let outers = by_name(&spans, "distribution.otel_test.outer");
    let inners = by_name(&spans, "distribution.otel_test.inner");
    let booms = by_name(&spans, "distribution.otel_test.boom");
    assert_eq!((outers.len(), inners.len(), booms.len()), (600, 600, 24));
    for inner in &inners {
        let parent = inner.parent_span_id.as_ref().expect("inner has a parent");
        let outer = outers
            .iter()
            .find(|outer| outer.span_id == *parent)
            .expect("inner's parent is an outer span");
        assert_eq!(outer.trace_id, inner.trace_id);
        assert_eq!(outer.parent_span_id, None, "outer is a root");
        // Both failed, or neither did.
        assert_eq!(outer.status_code, inner.status_code);
    }
    let errors = inners.iter().filter(|span| span.status_code == 2).count();
    assert_eq!(
        errors,
        (0..4)
            .flat_map(|t| (0..150).map(move |n| t * 1000 + n))
            .filter(|n| n % 7 == 0)
            .count()
    );
    assert!(
        booms.iter().all(|span| span.status_code == 2),
        "a panic is an error"
    );
    let traces: BTreeSet<_> = outers.iter().map(|span| &span.trace_id).collect();
    assert_eq!(traces.len(), 600, "each outer call starts its own trace");
}

#[test]
fn dropping_the_guard_flushes() {
    let receiver = Receiver::start();
    let (dispatch, guard) = exporting(
        &receiver,
        OtelConfig::new().scheduled_delay(Duration::from_secs(600)),
    );
    tracing::dispatcher::with_default(&dispatch, || {
        for n in 1..=10 {
            outer(n).ok();
        }
    });
    assert!(receiver.spans().is_empty(), "nothing before the flush");
    drop(guard);
    assert_eq!(receiver.spans().len(), 20);
}

#[test]
fn flush_exports_what_finished_so_far() {
    let receiver = Receiver::start();
    let (dispatch, guard) = exporting(
        &receiver,
        OtelConfig::new().scheduled_delay(Duration::from_secs(600)),
    );
    tracing::dispatcher::with_default(&dispatch, || outer(1)).unwrap();
    let report = guard.flush().unwrap();
    assert_eq!((report.finished, report.exported), (2, 2));
    assert_eq!(receiver.spans().len(), 2);
    tracing::dispatcher::with_default(&dispatch, || outer(2)).unwrap();
    assert_eq!(guard.shutdown().unwrap().exported, 4);
    assert_eq!(receiver.spans().len(), 4);
}

#[test]
fn an_unreachable_receiver_is_reported_as_lost_spans() {
    // A port nobody listens on any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (layer, guard) = OtelConfig::new()
        .endpoint(format!("http://127.0.0.1:{port}"))
        .timeout(Duration::from_secs(2))
        .build_layer::<tracing_subscriber::Registry>()
        .unwrap();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || outer(3)).unwrap();
    match guard.shutdown() {
        Err(OtelError::Lost(report)) => {
            assert_eq!(report.finished, 2);
            assert_eq!(report.exported, 0);
            assert_eq!(report.failed, 2);
            assert_eq!(report.lost(), 2);
        }
        other => panic!("expected lost spans, got {other:?}"),
    }
}

#[test]
fn a_handler_continues_the_remote_trace() {
    let receiver = Receiver::start();
    let (dispatch, guard) = exporting(&receiver, OtelConfig::new());
    let headers = remote_headers();
    let downstream = tracing::dispatcher::with_default(&dispatch, || {
        let _parent = depropagate(&headers).enter();
        handle()
    });
    guard.shutdown().unwrap();
    let spans = receiver.spans();
    let handler = one(&spans, "distribution.otel_test.handle");
    let forwarder = one(&spans, "distribution.otel_test.forward");
    assert_eq!(handler.trace_id, TRACE, "joined the remote trace");
    assert_eq!(handler.parent_span_id.as_deref(), Some(PARENT));
    assert_eq!(forwarder.trace_id, TRACE);
    assert_eq!(forwarder.parent_span_id.as_ref(), Some(&handler.span_id));
    // Downstream continues from the forwarding span, flags and state intact.
    assert_eq!(
        downstream.get("traceparent").unwrap(),
        &format!("00-{TRACE}-{}-03", forwarder.span_id)
    );
    assert_eq!(downstream.get("tracestate").unwrap(), "congo=t61rcWkgMzE");
    assert_eq!(downstream.get("baggage").unwrap(), "tenant=acme");
}

#[test]
fn with_parent_on_a_server_thread() {
    let receiver = Receiver::start();
    let (dispatch, guard) = exporting(&receiver, OtelConfig::new());
    let headers = remote_headers();
    let worker = {
        let dispatch = dispatch.clone();
        std::thread::spawn(move || {
            tracing::dispatcher::with_default(&dispatch, || with_parent(&headers, handle))
        })
    };
    let downstream = worker.join().unwrap();
    guard.shutdown().unwrap();
    let spans = receiver.spans();
    let handler = one(&spans, "distribution.otel_test.handle");
    assert_eq!(handler.parent_span_id.as_deref(), Some(PARENT));
    assert!(downstream["traceparent"].starts_with(&format!("00-{TRACE}-")));
}

#[test]
fn the_remote_parent_wins_over_an_entered_tracing_span() {
    let receiver = Receiver::start();
    let (dispatch, guard) = exporting(&receiver, OtelConfig::new());
    let headers = remote_headers();
    tracing::dispatcher::with_default(&dispatch, || {
        let server = tracing::info_span!("server");
        let _server = server.enter();
        {
            let _parent = depropagate(&headers).enter();
            handle();
        }
        // Once the remote context is left, spans nest under `server` again.
        outer(1).unwrap();
    });
    guard.shutdown().unwrap();
    let spans = receiver.spans();
    let server = one(&spans, "server");
    let handler = one(&spans, "distribution.otel_test.handle");
    let after = one(&spans, "distribution.otel_test.outer");
    assert_eq!(handler.parent_span_id.as_deref(), Some(PARENT));
    assert_eq!(handler.trace_id, TRACE);
    assert_eq!(after.parent_span_id.as_ref(), Some(&server.span_id));
    assert_eq!(after.trace_id, server.trace_id);
}

#[test]
fn malformed_or_missing_headers_start_new_traces() {
    let receiver = Receiver::start();
    let (dispatch, guard) = exporting(&receiver, OtelConfig::new());
    let cases = [
        format!("00-{}-{PARENT}-01", "0".repeat(32)),
        format!("00-{TRACE}-{}-01", "0".repeat(16)),
        format!("ff-{TRACE}-{PARENT}-01"),
        format!("00-{}-{PARENT}-01", TRACE.to_uppercase()),
        format!("00-{TRACE}-{PARENT}"),
        String::new(),
    ];
    tracing::dispatcher::with_default(&dispatch, || {
        let server = tracing::info_span!("server");
        let _server = server.enter();
        for value in &cases {
            let headers = HashMap::from([("traceparent".to_owned(), value.clone())]);
            let _parent = depropagate(&headers).enter();
            let downstream = handle();
            assert!(!downstream["traceparent"].contains(TRACE), "{value:?}");
        }
        let _parent = depropagate(&HashMap::<String, String>::new()).enter();
        handle();
    });
    guard.shutdown().unwrap();
    let spans = receiver.spans();
    let handlers = by_name(&spans, "distribution.otel_test.handle");
    assert_eq!(handlers.len(), cases.len() + 1);
    for handler in &handlers {
        assert_eq!(
            handler.parent_span_id, None,
            "a new trace's root: {handler:?}"
        );
        assert_ne!(handler.trace_id, TRACE);
        assert_ne!(handler.trace_id, "0".repeat(32));
    }
    let traces: BTreeSet<_> = handlers.iter().map(|span| &span.trace_id).collect();
    assert_eq!(traces.len(), handlers.len(), "each one a trace of its own");
}

#[test]
fn an_unsampled_remote_parent_is_not_exported() {
    let receiver = Receiver::start();
    let (dispatch, guard) = exporting(&receiver, OtelConfig::new());
    let headers = HashMap::from([("traceparent".to_owned(), format!("00-{TRACE}-{PARENT}-00"))]);
    let downstream = tracing::dispatcher::with_default(&dispatch, || with_parent(&headers, handle));
    let report = guard.shutdown().unwrap();
    assert_eq!(report.finished, 0);
    assert!(receiver.spans().is_empty());
    // The decision travels on: downstream is not sampled either.
    assert!(downstream["traceparent"].starts_with(&format!("00-{TRACE}-")));
    assert!(downstream["traceparent"].ends_with("-00"));
}

struct NoopWake;

impl Wake for NoopWake {
    fn wake(self: Arc<Self>) {}
}

fn block_on<F: Future>(future: F) -> F::Output {
    let waker = Waker::from(Arc::new(NoopWake));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

#[test]
fn an_async_handler_continues_the_remote_trace() {
    let receiver = Receiver::start();
    let (dispatch, guard) = exporting(&receiver, OtelConfig::new());
    let headers = remote_headers();
    let downstream = tracing::dispatcher::with_default(&dispatch, || {
        // The future is made outside the context; its span, at first poll, inside.
        let future = depropagate(&headers).instrument(handle_async());
        block_on(future)
    });
    guard.shutdown().unwrap();
    let spans = receiver.spans();
    let handler = one(&spans, "distribution.otel_test.handle_async");
    let forwarder = one(&spans, "distribution.otel_test.forward");
    assert_eq!(handler.parent_span_id.as_deref(), Some(PARENT));
    assert_eq!(forwarder.parent_span_id.as_ref(), Some(&handler.span_id));
    assert_eq!(
        downstream["traceparent"],
        format!("00-{TRACE}-{}-03", forwarder.span_id)
    );
}

#[test]
fn two_processes_worth_of_hops_share_one_trace() {
    // Node A's handler calls node B through headers; B calls C. Each hop
    // depropagates what the previous one propagated.
    let receiver = Receiver::start();
    let (dispatch, guard) = exporting(&receiver, OtelConfig::new());
    tracing::dispatcher::with_default(&dispatch, || {
        let to_b = handle();
        let to_c = with_parent(&to_b, handle);
        with_parent(&to_c, handle);
    });
    guard.shutdown().unwrap();
    let spans = receiver.spans();
    let handlers = by_name(&spans, "distribution.otel_test.handle");
    let forwards = by_name(&spans, "distribution.otel_test.forward");
    assert_eq!((handlers.len(), forwards.len()), (3, 3));
    let trace = &handlers[0].trace_id;
    assert!(
        spans.iter().all(|span| span.trace_id == *trace),
        "one trace"
    );
    let roots: Vec<_> = spans
        .iter()
        .filter(|s| s.parent_span_id.is_none())
        .collect();
    assert_eq!(roots.len(), 1);
    // Every other handler's parent is a forwarding span.
    for handler in handlers.iter().filter(|h| h.parent_span_id.is_some()) {
        let parent = handler.parent_span_id.as_ref().unwrap();
        assert!(forwards.iter().any(|f| f.span_id == *parent));
    }
}

/// The front node's handler: calls the backend through a `ClientLayer`.
#[alamos::experiment("distribution.otel_edge_front")]
async fn call_backend(address: std::net::SocketAddr) -> http::StatusCode {
    use tower::{Layer as _, ServiceExt as _};
    let client = alamos::tower::ClientLayer::new("distribution.otel_edge_peer").layer(
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http::<http_body_util::Empty<hyper::body::Bytes>>(),
    );
    let request = http::Request::get(format!("http://{address}/frames"))
        .body(http_body_util::Empty::new())
        .expect("a request");
    let response = client.oneshot(request).await.expect("a response");
    let status = response.status();
    http_body_util::BodyExt::collect(response.into_body())
        .await
        .expect("the body");
    status
}

#[test]
fn the_tower_layers_carry_one_trace_from_client_span_to_server_span() {
    use tower::Layer as _;
    let receiver = Receiver::start();
    let (dispatch, guard) = exporting(&receiver, OtelConfig::new());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let status = tracing::dispatcher::with_default(&dispatch, || {
        runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let address = listener.local_addr().expect("address");
            let backend = alamos::tower::ServerLayer::new("api.otel_edge_backend").layer(
                tower::service_fn(|_req: http::Request<hyper::body::Incoming>| async {
                    Ok::<_, std::convert::Infallible>(http::Response::new(
                        http_body_util::Full::new(hyper::body::Bytes::from_static(b"ok")),
                    ))
                }),
            );
            tokio::spawn(async move {
                let (stream, _) = listener.accept().await.expect("accept");
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(
                        hyper_util::rt::TokioIo::new(stream),
                        hyper_util::service::TowerToHyperService::new(backend),
                    )
                    .await
            });
            depropagate(&remote_headers())
                .instrument(call_backend(address))
                .await
        })
    });
    assert_eq!(status, http::StatusCode::OK);
    drop(runtime);
    guard.shutdown().unwrap();
    let spans = receiver.spans();
    let front = one(&spans, "distribution.otel_edge_front.call_backend");
    let client = one(&spans, "distribution.otel_edge_peer.GET");
    let server = one(&spans, "api.otel_edge_backend.GET");
    // One trace, from the remote caller through both layers.
    for span in [front, client, server] {
        assert_eq!(span.trace_id, TRACE, "{span:#?}");
    }
    assert_eq!(front.parent_span_id.as_deref(), Some(PARENT));
    assert_eq!(client.parent_span_id.as_ref(), Some(&front.span_id));
    assert_eq!(server.parent_span_id.as_ref(), Some(&client.span_id));
    assert_eq!(server.attribute("http.route"), Some("GET"));
    assert_eq!(server.attribute("http.response.status_code"), Some("200"));
}
