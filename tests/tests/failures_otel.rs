//! Every failure has a trace: with `otel`, an untraced root call that ends
//! in `error` or `panic` is exported as a span all the same, with its true
//! start and end, status error, and the ids `propagate` wrote inside it, so
//! a downstream node's spans join it. Only roots: an untraced child that
//! fails is not exported on its own; a root that succeeds or is cancelled
//! is not exported; a traced call that fails is exported once, as always.
//! Nothing is exported for a failure before the pipeline runs. A request
//! that starts its trace untraced and fails is exported the same way, with
//! its method and the status it failed by: through
//! `alamos::tower::ServerLayer`, answering a 5xx or a gRPC error, and
//! through `alamos::reqwest::Middleware`, answered a 5xx. Under a span of
//! another crate, the failure joins that span's trace, as its child.
#![cfg(feature = "otel")]
// With `--all-features` (`max_level_off`) these functions are stripped and
// clippy reads them as written; their shapes are the cases under test.
#![allow(clippy::unnecessary_wraps)]

#[path = "propagation_otel/receiver.rs"]
#[allow(dead_code)]
mod receiver;

use std::collections::HashMap;
use std::convert::Infallible;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alamos::context::TraceParent;
use alamos_tests::{block_on, poll_once, Pending};
use axum::body::Bytes;
use http_body_util::{BodyExt as _, Empty};
use receiver::{ReceivedSpan, Receiver};
use tower::{Layer as _, ServiceExt as _};

type Headers = HashMap<String, String>;

/// How long each failing call takes, so its start and end tell.
const TAKES: Duration = Duration::from_millis(30);
/// How far the span's times may be from `SystemTime` read around the call
/// (the end is read a little after the call timer's, and a busy machine
/// may preempt in between): well below [`TAKES`], so a start taken at the
/// end of the call would fail.
const EPSILON: Duration = Duration::from_millis(10);

/// What a test saw of one call: the headers `propagate` wrote inside it,
/// and the wall clock just before, inside and just after it.
#[derive(Debug)]
struct Seen {
    sent: Headers,
    before: SystemTime,
    entered: SystemTime,
    after: SystemTime,
}

fn nanos(time: SystemTime) -> u64 {
    u64::try_from(time.duration_since(UNIX_EPOCH).unwrap().as_nanos()).unwrap()
}

/// The body of every failing call: the time it starts, the headers it
/// propagates, then it takes [`TAKES`].
fn body(sent: &mut Headers) -> SystemTime {
    let entered = SystemTime::now();
    alamos::propagate(sent);
    std::thread::sleep(TAKES);
    entered
}

#[alamos::experiment("failures_otel.early")]
fn early() -> Result<(), String> {
    Err("before the pipeline".to_owned())
}

#[alamos::experiment("failures_otel.sync")]
fn sync_fails(sent: &mut Headers, entered: &mut Option<SystemTime>) -> Result<(), String> {
    *entered = Some(body(sent));
    Err("sync failed".to_owned())
}

#[alamos::experiment("failures_otel.async")]
async fn async_fails(sent: &mut Headers, entered: &mut Option<SystemTime>) -> Result<u8, String> {
    Pending::new(1).await;
    *entered = Some(body(sent));
    Err("async failed".to_owned())
}

#[alamos::experiment("failures_otel.panics")]
fn panics(sent: &mut Headers, entered: &mut Option<SystemTime>) {
    *entered = Some(body(sent));
    panic!("failures_otel: a panic on purpose");
}

#[alamos::experiment("failures_otel.ok")]
fn succeeds() -> Result<(), String> {
    Ok(())
}

#[alamos::experiment("failures_otel.parent")]
fn parent_ok() -> Result<(), String> {
    assert!(child_fails().is_err());
    Ok(())
}

#[alamos::experiment("failures_otel.parent.child")]
fn child_fails() -> Result<(), String> {
    Err("child failed".to_owned())
}

#[alamos::experiment("failures_otel.async_parent")]
async fn async_parent_fails() -> Result<(), String> {
    assert!(async_child_fails().await.is_err());
    Err("parent failed".to_owned())
}

#[alamos::experiment("failures_otel.async_parent.child")]
async fn async_child_fails() -> Result<(), String> {
    Pending::new(1).await;
    Err("child failed".to_owned())
}

#[alamos::experiment("failures_otel.cancelled")]
async fn cancelled() -> Result<(), String> {
    Pending::new(5).await;
    Err("never reached".to_owned())
}

#[alamos::experiment("failures_otel.foreign")]
fn under_foreign(sent: &mut Headers, entered: &mut Option<SystemTime>) -> Result<(), String> {
    *entered = Some(body(sent));
    Err("under a span of another crate".to_owned())
}

#[alamos::experiment("failures_otel.traced")]
fn traced_fails() -> Result<(), String> {
    Err("traced failed".to_owned())
}

/// A `method` request through a server layer of key `failures_otel.edge`,
/// answered with `status` (and `grpc-status: <grpc>`, if some) by a handler
/// that propagates, and read to its end.
fn request(method: http::Method, status: u16, grpc: Option<&'static str>) -> Seen {
    let sent = Arc::new(Mutex::new(None));
    let inside = Arc::clone(&sent);
    let service = alamos::tower::ServerLayer::new("failures_otel.edge").layer(tower::service_fn(
        move |_: http::Request<Empty<Bytes>>| {
            let inside = Arc::clone(&inside);
            async move {
                let mut headers = Headers::new();
                let entered = body(&mut headers);
                *inside.lock().unwrap() = Some((headers, entered));
                let mut response = http::Response::builder().status(status);
                if let Some(grpc) = grpc {
                    response = response.header("grpc-status", grpc);
                }
                Ok::<_, Infallible>(response.body(Empty::<Bytes>::new()).unwrap())
            }
        },
    ));
    let before = SystemTime::now();
    block_on(async {
        let response = service
            .oneshot(
                http::Request::builder()
                    .method(method)
                    .body(Empty::new())
                    .unwrap(),
            )
            .await
            .unwrap();
        response.into_body().collect().await.unwrap();
    });
    let after = SystemTime::now();
    let (sent, entered) = sent.lock().unwrap().take().expect("the handler ran");
    Seen {
        sent,
        before,
        entered,
        after,
    }
}

/// A `GET` through a `reqwest` client with `alamos::reqwest::Middleware`
/// (key `failures_otel.client`) to a loopback server that takes [`TAKES`]
/// and answers 503. The server's view is the call's: the headers it
/// received, and when.
fn client_request() -> Seen {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut buffer = [0; 1024];
            while !head.windows(4).any(|end| end == b"\r\n\r\n") {
                let read = stream.read(&mut buffer).await.unwrap();
                assert!(read > 0, "the client left before its request's head ended");
                head.extend_from_slice(&buffer[..read]);
            }
            let entered = SystemTime::now();
            let received: Headers = String::from_utf8(head)
                .unwrap()
                .lines()
                .skip(1)
                .filter_map(|line| line.split_once(':'))
                .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
                .collect();
            tokio::time::sleep(TAKES).await;
            stream
                .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .await
                .unwrap();
            (received, entered)
        });
        let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(alamos::reqwest::Middleware::new("failures_otel.client"))
            .build();
        let before = SystemTime::now();
        let response = client
            .get(format!("http://{address}/frames"))
            .send()
            .await
            .expect("a response");
        let after = SystemTime::now();
        assert_eq!(response.status(), 503);
        let (sent, entered) = server.await.unwrap();
        Seen {
            sent,
            before,
            entered,
            after,
        }
    })
}

/// Runs `call`, seeing its wall clock and what it propagated.
fn seen(call: impl FnOnce(&mut Headers, &mut Option<SystemTime>)) -> Seen {
    let mut sent = Headers::new();
    let mut entered = None;
    let before = SystemTime::now();
    call(&mut sent, &mut entered);
    let after = SystemTime::now();
    Seen {
        sent,
        before,
        entered: entered.expect("the body ran"),
        after,
    }
}

fn named<'a>(spans: &'a [ReceivedSpan], name: &str) -> Vec<&'a ReceivedSpan> {
    spans.iter().filter(|span| span.name == name).collect()
}

/// The one span named `name`, checked against what its call saw.
fn check_failed(spans: &[ReceivedSpan], name: &str, seen: &Seen, outcome: &str) {
    let span = check_times(spans, name, seen, outcome);
    let experiment = name.rsplit_once('.').unwrap().0;
    let function = name.rsplit_once('.').unwrap().1;
    assert_eq!(span.attribute("alamos.experiment"), Some(experiment));
    assert_eq!(span.attribute("code.function"), Some(function));
    assert_eq!(span.attribute("code.namespace"), Some("failures_otel"));
    assert_eq!(span.attribute("code.module.name"), Some("failures_otel"));
    assert_eq!(
        span.attribute("code.file.path"),
        Some("tests/tests/failures_otel.rs")
    );
    let line: u32 = span.attribute("code.line.number").unwrap().parse().unwrap();
    assert!(line > 0);
}

/// The one span named `name`: the ids its call propagated, its true start
/// and end, its error, and why it is exported.
fn check_times<'a>(
    spans: &'a [ReceivedSpan],
    name: &str,
    seen: &Seen,
    outcome: &str,
) -> &'a ReceivedSpan {
    let found = named(spans, name);
    assert_eq!(found.len(), 1, "{name}: {spans:#?}");
    let span = found[0];

    // The ids `propagate` wrote: the same trace, and the downstream's
    // parent is this span.
    let value = seen.sent.get("traceparent").expect("a traceparent");
    let sent = TraceParent::parse(value).unwrap();
    assert!(!sent.is_sampled(), "{value}");
    assert_eq!(span.trace_id, sent.trace_id_hex(), "{name}");
    assert_eq!(span.span_id, sent.parent_id_hex(), "{name}");
    assert_eq!(span.parent_span_id, None, "{name} is a root");

    // Its true start and end.
    let epsilon = u64::try_from(EPSILON.as_nanos()).unwrap();
    let takes = u64::try_from(TAKES.as_nanos()).unwrap();
    let (start, end) = (span.start_unix_nano, span.end_unix_nano);
    assert!(
        start + epsilon >= nanos(seen.before) && start <= nanos(seen.entered) + epsilon,
        "{name}: started at {start}, the call between {} and {}",
        nanos(seen.before),
        nanos(seen.entered)
    );
    assert!(end >= start + takes, "{name}: {start}..{end}");
    assert!(
        end + epsilon >= nanos(seen.entered) + takes && end <= nanos(seen.after) + epsilon,
        "{name}: ended at {end}, the call by {}",
        nanos(seen.after)
    );

    // Its error, and why it is here.
    assert_eq!(span.status_code, 2, "{name}: status error");
    assert_eq!(span.status_message, outcome, "{name}");
    assert_eq!(span.attribute("alamos.sampled"), Some("false"), "{name}");
    assert_eq!(span.attribute("alamos.outcome"), Some(outcome), "{name}");
    assert_eq!(span.attribute("alamos.level"), Some("prod"));
    assert_eq!(span.service_name, "failures-otel");
    span
}

/// The failed requests' spans: each with its method and the status by
/// which it failed (the server's request that answered 200 is not
/// exported: one span of its name).
fn check_requests(spans: &[ReceivedSpan], edge: &Seen, grpc: &Seen, client: &Seen) {
    let edge = check_times(spans, "failures_otel.edge.GET", edge, "error");
    assert_eq!(edge.attribute("http.route"), Some("GET"));
    assert_eq!(
        edge.attribute("alamos.experiment"),
        Some("failures_otel.edge")
    );
    assert_eq!(edge.attribute("http.request.method"), Some("GET"));
    assert_eq!(edge.attribute("http.response.status_code"), Some("503"));
    assert_eq!(edge.attribute("rpc.grpc.status_code"), None);
    let grpc = check_times(spans, "failures_otel.edge.POST", grpc, "error");
    assert_eq!(grpc.attribute("http.request.method"), Some("POST"));
    assert_eq!(grpc.attribute("http.response.status_code"), None);
    assert_eq!(grpc.attribute("rpc.grpc.status_code"), Some("13"));
    let client = check_times(spans, "failures_otel.client.GET", client, "error");
    assert_eq!(
        client.attribute("alamos.experiment"),
        Some("failures_otel.client")
    );
    assert_eq!(client.attribute("http.request.method"), Some("GET"));
    assert_eq!(client.attribute("http.response.status_code"), Some("503"));
}

/// `alamos_exported_total{signal="spans"}` in the exposition.
fn exported_spans(guard: &alamos::Guard) -> u64 {
    let text = guard.render().expect("alamos's recorder");
    text.lines()
        .find(|line| line.starts_with("alamos_exported_total{signal=\"spans\"}"))
        .and_then(|line| line.rsplit_once(' '))
        .map_or(0, |(_, value)| value.parse().unwrap())
}

#[test]
fn an_untraced_root_that_fails_is_exported_all_the_same() {
    // Before the pipeline runs, nothing is exported and nothing breaks.
    alamos::set_trace_sample("failures_otel", 0.0).unwrap();
    assert!(early().is_err());

    let receiver = Receiver::start();
    let guard = alamos::Builder::new()
        .span_events(alamos::SpanEvents::None)
        .prometheus_endpoint(false)
        .otel(
            alamos::OtelConfig::new()
                .endpoint(receiver.endpoint())
                .service_name("failures-otel")
                .scheduled_delay(Duration::from_millis(100))
                .metrics(false)
                .logs(false),
        )
        .install()
        .expect("installs");
    // Every experiment here untraced, children included (so a child would
    // be exported if it were taken for a root); one traced.
    alamos::set_trace_sample("failures_otel", 0.0).unwrap();
    alamos::set_trace_sample("failures_otel.traced", 1.0).unwrap();

    let sync = seen(|sent, entered| assert!(sync_fails(sent, entered).is_err()));
    let future = seen(|sent, entered| assert!(block_on(async_fails(sent, entered)).is_err()));
    let panic = seen(|sent, entered| {
        assert!(catch_unwind(AssertUnwindSafe(|| panics(sent, entered))).is_err());
    });
    assert!(succeeds().is_ok());
    assert!(parent_ok().is_ok());
    assert!(block_on(async_parent_fails()).is_err());
    let mut cancelled = Box::pin(cancelled());
    assert!(poll_once(&mut cancelled).is_pending());
    drop(cancelled);
    assert!(traced_fails().is_err());
    // Inside a span of another crate, which is exported: `propagate`
    // writes its ids, and the failure joins its trace under it.
    let foreign = tracing::info_span!("failures_otel_foreign_span");
    let in_foreign =
        foreign.in_scope(|| seen(|sent, entered| assert!(under_foreign(sent, entered).is_err())));
    drop(foreign);
    let edge_failed = request(http::Method::GET, 503, None);
    let _edge_ok = request(http::Method::GET, 200, None);
    // gRPC says it failed in a trailers-only response's head.
    let grpc_failed = request(http::Method::POST, 200, Some("13"));
    // A client's request that a server answers 503.
    let client_failed = client_request();

    // Through the batch processor, counted as exported: the three roots
    // above, the async parent, the traced call, the three failed requests,
    // the span of another crate and the failure under it.
    let deadline = Instant::now() + Duration::from_secs(20);
    while (receiver.spans().len() < 10 || exported_spans(&guard) < 10) && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(exported_spans(&guard), 10, "{:#?}", receiver.spans());
    drop(guard);

    let spans = receiver.spans();
    check_failed(&spans, "failures_otel.sync.sync_fails", &sync, "error");
    check_failed(&spans, "failures_otel.async.async_fails", &future, "error");
    check_failed(&spans, "failures_otel.panics.panics", &panic, "panic");

    let parent = named(&spans, "failures_otel.async_parent.async_parent_fails");
    assert_eq!(parent.len(), 1, "{spans:#?}");
    assert_eq!(parent[0].attribute("alamos.sampled"), Some("false"));
    for quiet in [
        "failures_otel.early.early",
        "failures_otel.ok.succeeds",
        "failures_otel.parent.parent_ok",
        "failures_otel.parent.child.child_fails",
        "failures_otel.async_parent.child.async_child_fails",
        "failures_otel.cancelled.cancelled",
    ] {
        assert!(named(&spans, quiet).is_empty(), "{quiet}: {spans:#?}");
    }

    // A traced call's span, once, as always.
    let traced = named(&spans, "failures_otel.traced.traced_fails");
    assert_eq!(traced.len(), 1, "{spans:#?}");
    assert_eq!(traced[0].status_code, 2);
    assert_eq!(traced[0].attribute("alamos.sampled"), None);

    check_requests(&spans, &edge_failed, &grpc_failed, &client_failed);

    let foreign = named(&spans, "failures_otel_foreign_span");
    assert_eq!(foreign.len(), 1, "{spans:#?}");
    let joined = named(&spans, "failures_otel.foreign.under_foreign");
    assert_eq!(joined.len(), 1, "{spans:#?}");
    let sent = TraceParent::parse(&in_foreign.sent["traceparent"]).unwrap();
    assert!(!sent.is_sampled());
    assert_eq!(sent.trace_id_hex(), foreign[0].trace_id);
    assert_eq!(sent.parent_id_hex(), foreign[0].span_id);
    assert_eq!(joined[0].trace_id, foreign[0].trace_id);
    assert_eq!(
        joined[0].parent_span_id.as_deref(),
        Some(&*foreign[0].span_id)
    );
    assert_ne!(joined[0].span_id, foreign[0].span_id);
    assert_eq!(joined[0].attribute("alamos.sampled"), Some("false"));
    assert_eq!(spans.len(), 10, "{spans:#?}");
}
