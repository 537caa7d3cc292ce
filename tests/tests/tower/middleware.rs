//! `alamos::reqwest::Middleware` (issue 17, item 2) in a
//! `reqwest_middleware` client calling a hyper server behind a
//! `ServerLayer` on loopback: the context written into the outgoing
//! headers and continued by the server, a client span inside the caller's,
//! outcomes from the status and the transport error.

use std::convert::Infallible;
use std::net::SocketAddr;

use super::{calls, run};
use alamos::tower::ServerLayer;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use reqwest_middleware::ClientWithMiddleware;
use tokio::net::TcpListener;
use tower::Layer as _;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// A hyper server behind `ServerLayer::new(key)` whose handler answers
/// `status` with the `traceparent` it received as the body.
async fn backend(key: &'static str, status: StatusCode) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let service = ServerLayer::new(key).layer(tower::service_fn(
        move |req: Request<Incoming>| async move {
            let traceparent = req
                .headers()
                .get("traceparent")
                .and_then(|value| value.to_str().ok())
                .unwrap_or("none")
                .to_owned();
            let mut response = Response::new(Full::new(Bytes::from(traceparent)));
            *response.status_mut() = status;
            Ok::<_, Infallible>(response)
        },
    ));
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.expect("accept");
            tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(
                TokioIo::new(stream),
                TowerToHyperService::new(service.clone()),
            ));
        }
    });
    address
}

fn client(key: &'static str) -> ClientWithMiddleware {
    reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(alamos::reqwest::Middleware::new(key))
        .build()
}

#[alamos::experiment("api.reqwest_front")]
async fn front(address: SocketAddr) -> String {
    let response = client("distribution.r_peer")
        .get(format!("http://{address}/frames"))
        .send()
        .await
        .expect("a response");
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.expect("the body")
}

fn headers(flags: &str) -> std::collections::HashMap<String, String> {
    std::collections::HashMap::from([(
        "traceparent".to_owned(),
        format!("00-{TRACE}-00f067aa0ba902b7-{flags}"),
    )])
}

#[test]
fn the_server_continues_the_trace_the_middleware_writes() {
    let ((sampled, unsampled), captured) = run(async {
        let address = backend("api.r_backend", StatusCode::OK).await;
        let sampled = alamos::depropagate(&headers("01"))
            .instrument(front(address))
            .await;
        let unsampled = alamos::depropagate(&headers("00"))
            .instrument(front(address))
            .await;
        (sampled, unsampled)
    });
    assert!(sampled.starts_with(&format!("00-{TRACE}-")), "{sampled}");
    assert!(sampled.ends_with("-01"), "{sampled}");
    assert!(
        unsampled.starts_with(&format!("00-{TRACE}-")),
        "{unsampled}"
    );
    assert!(unsampled.ends_with("-00"), "{unsampled}");

    assert_eq!(calls("distribution.r_peer", "GET", "ok"), 2);
    assert_eq!(calls("api.r_backend", "GET", "ok"), 2);
    let client = captured.span("distribution.r_peer.GET");
    assert_eq!(client.parent.as_deref(), Some("api.reqwest_front.front"));
    assert_eq!(client.field("otel.kind"), Some("client"));
    assert_eq!(client.field("http.response.status_code"), Some("200"));
    assert!(client.closed);
    assert_eq!(captured.spans_named("api.r_backend.GET").len(), 1);
}

#[test]
fn a_5xx_and_a_transport_error_are_errors() {
    let ((), captured) = run(async {
        let failing = backend("api.r_failing", StatusCode::BAD_GATEWAY).await;
        let response = client("distribution.r_5xx")
            .get(format!("http://{failing}/"))
            .send()
            .await
            .expect("a response");
        assert_eq!(response.status(), StatusCode::BAD_GATEWAY);

        let closed = {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            listener.local_addr().expect("address")
        };
        let refused = client("distribution.r_refused")
            .get(format!("http://{closed}/"))
            .send()
            .await;
        assert!(refused.is_err());
    });
    assert_eq!(calls("distribution.r_5xx", "GET", "error"), 1);
    assert_eq!(calls("distribution.r_refused", "GET", "error"), 1);
    assert_eq!(
        captured
            .span("distribution.r_refused.GET")
            .field("otel.status_code"),
        Some("error")
    );
}
