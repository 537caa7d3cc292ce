//! `alamos::tower::ClientLayer` (issue 17, item 2) around hyper-util's
//! client, calling a hyper server behind a `ServerLayer` on loopback: the
//! context written into the outgoing headers and continued by the server
//! (its trace id and its sampled flag), a client span inside the caller's,
//! outcomes from the status, the transport error and a dropped request;
//! gRPC over HTTP/2 with its status in the trailers, on both sides.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use super::{calls, run, until};
use alamos::tower::{ClientLayer, ServerLayer};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::{Layer as _, ServiceExt as _};

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

fn client(
    key: &'static str,
) -> alamos::tower::Client<Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>>
{
    ClientLayer::new(key).layer(Client::builder(TokioExecutor::new()).build_http())
}

fn get(address: SocketAddr, path: &str) -> Request<Empty<Bytes>> {
    Request::get(format!("http://{address}{path}"))
        .body(Empty::new())
        .expect("a request")
}

#[alamos::experiment("api.tower_front")]
async fn front(address: SocketAddr) -> String {
    let response = client("distribution.t_peer")
        .oneshot(get(address, "/frames"))
        .await
        .expect("a response");
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.expect("the body");
    String::from_utf8_lossy(&body.to_bytes()).into_owned()
}

fn headers(flags: &str) -> std::collections::HashMap<String, String> {
    std::collections::HashMap::from([(
        "traceparent".to_owned(),
        format!("00-{TRACE}-00f067aa0ba902b7-{flags}"),
    )])
}

#[test]
fn the_server_continues_the_trace_the_client_writes() {
    let ((sampled, unsampled), captured) = run(async {
        let address = backend("api.t_backend", StatusCode::OK).await;
        // A request this node received, sampled, then one not sampled.
        let sampled = alamos::depropagate(&headers("01"))
            .instrument(front(address))
            .await;
        let unsampled = alamos::depropagate(&headers("00"))
            .instrument(front(address))
            .await;
        (sampled, unsampled)
    });
    // The backend received the caller's trace, with its sampled flag.
    assert!(sampled.starts_with(&format!("00-{TRACE}-")), "{sampled}");
    assert!(sampled.ends_with("-01"), "{sampled}");
    assert!(
        unsampled.starts_with(&format!("00-{TRACE}-")),
        "{unsampled}"
    );
    assert!(unsampled.ends_with("-00"), "{unsampled}");

    // Both counted on both sides; spans only for the sampled request.
    assert_eq!(calls("distribution.t_peer", "GET", "ok"), 2);
    assert_eq!(calls("api.t_backend", "GET", "ok"), 2);
    let client = captured.span("distribution.t_peer.GET");
    assert_eq!(client.parent.as_deref(), Some("api.tower_front.front"));
    assert_eq!(client.field("otel.kind"), Some("client"));
    assert_eq!(client.field("http.request.method"), Some("GET"));
    assert_eq!(client.field("http.response.status_code"), Some("200"));
    assert!(client.closed);
    let server = captured.span("api.t_backend.GET");
    assert_eq!(server.field("otel.kind"), Some("server"));
}

#[test]
fn a_5xx_and_a_transport_error_are_errors_and_a_dropped_request_is_cancelled() {
    let ((), captured) = run(async {
        let failing = backend("api.t_failing", StatusCode::INTERNAL_SERVER_ERROR).await;
        let response = client("distribution.t_5xx")
            .oneshot(get(failing, "/"))
            .await
            .expect("a response");
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        response.into_body().collect().await.expect("the body");

        // Nothing listens on a port just released.
        let closed = {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            listener.local_addr().expect("address")
        };
        let refused = client("distribution.t_refused")
            .oneshot(get(closed, "/"))
            .await;
        assert!(refused.is_err());

        // A server that never answers, and a caller that gives up.
        let silent = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = silent.local_addr().expect("address");
        let gave_up = tokio::time::timeout(
            Duration::from_millis(50),
            client("distribution.t_gave_up").oneshot(get(address, "/")),
        )
        .await;
        assert!(gave_up.is_err());
        until("the 5xx to be counted", || {
            calls("distribution.t_5xx", "GET", "error") == 1
        })
        .await;
    });
    assert_eq!(calls("distribution.t_refused", "GET", "error"), 1);
    assert_eq!(calls("distribution.t_gave_up", "GET", "cancelled"), 1);
    let refused = captured.span("distribution.t_refused.GET");
    assert_eq!(refused.field("otel.status_code"), Some("error"));
    assert_eq!(
        captured
            .span("distribution.t_5xx.GET")
            .field("http.response.status_code"),
        Some("500")
    );
}

/// A gRPC-shaped response body: one message, then trailers with `status`.
struct Grpc {
    data: Option<Bytes>,
    status: Option<&'static str>,
}

impl http_body::Body for Grpc {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        if let Some(data) = self.data.take() {
            return std::task::Poll::Ready(Some(Ok(http_body::Frame::data(data))));
        }
        std::task::Poll::Ready(self.status.take().map(|status| {
            let mut trailers = http::HeaderMap::new();
            trailers.insert("grpc-status", status.parse().expect("a header value"));
            Ok(http_body::Frame::trailers(trailers))
        }))
    }
}

#[test]
fn grpc_trailers_over_http2_make_both_sides_an_error() {
    let ((), captured) = run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let server = ServerLayer::new("api.t_grpc2")
            .route(|req| Some(req.uri.path()))
            .layer(tower::service_fn(|req: Request<Incoming>| async move {
                let status = if req.uri().path().ends_with("Fail") {
                    "13"
                } else {
                    "0"
                };
                let mut response = Response::new(Grpc {
                    data: Some(Bytes::from_static(b"\0\0\0\0\0")),
                    status: Some(status),
                });
                response
                    .headers_mut()
                    .insert("content-type", "application/grpc".parse().expect("value"));
                Ok::<_, Infallible>(response)
            }));
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.expect("accept");
                tokio::spawn(
                    hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(
                            TokioIo::new(stream),
                            TowerToHyperService::new(server.clone()),
                        ),
                );
            }
        });
        let channel = ClientLayer::new("distribution.t_grpc2")
            .route(|req| Some(req.uri.path()))
            .layer(
                Client::builder(TokioExecutor::new())
                    .http2_only(true)
                    .build_http::<Empty<Bytes>>(),
            );
        for method in ["/store.Frames/Fail", "/store.Frames/Read"] {
            let request = Request::post(format!("http://{address}{method}"))
                .header("content-type", "application/grpc")
                .header("te", "trailers")
                .body(Empty::new())
                .expect("a request");
            let response = channel.clone().oneshot(request).await.expect("a response");
            assert_eq!(response.status(), StatusCode::OK);
            let body = response.into_body().collect().await.expect("the body");
            let trailers = body.trailers().expect("trailers");
            let expected = if method.ends_with("Fail") { "13" } else { "0" };
            assert_eq!(trailers["grpc-status"], expected);
        }
        until("the server's calls to end", || {
            calls("api.t_grpc2", "/store.Frames/Fail", "error")
                + calls("api.t_grpc2", "/store.Frames/Read", "ok")
                == 2
        })
        .await;
    });
    for key in ["api.t_grpc2", "distribution.t_grpc2"] {
        assert_eq!(calls(key, "/store.Frames/Fail", "error"), 1, "{key}");
        assert_eq!(calls(key, "/store.Frames/Read", "ok"), 1, "{key}");
        let failed = captured.span(&format!("{key}./store.Frames/Fail"));
        assert_eq!(failed.field("rpc.grpc.status_code"), Some("13"), "{key}");
        assert_eq!(failed.field("otel.status_code"), Some("error"), "{key}");
    }
}
