//! `alamos::tower::ServerLayer` (issue 17, item 1) in front of real axum and
//! hyper servers on loopback: the route template as the `function` label,
//! outcomes from the status, gRPC trailers, a streaming body and a client
//! that goes away; trace context from the headers, malformed or not
//! sampled; the key switched as an experiment.

// With `--all-features` (`max_level_off`) these functions are stripped and
// clippy reads them as written; their shapes are the cases under test.
#![allow(clippy::unused_async)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::{calls, guard, in_flight, run, until};
use alamos::tower::ServerLayer;
use axum::body::Bytes;
use axum::extract::MatchedPath;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt as _, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tower::Layer as _;

/// A hyper HTTP/1 server on loopback running `handler` behind `layer`.
async fn serve_hyper<F, Fut, B>(layer: ServerLayer, handler: F) -> SocketAddr
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<Response<B>, Infallible>> + Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let service = layer.layer(tower::service_fn(handler));
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.expect("accept");
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    address
}

/// An axum server on loopback.
async fn serve_axum(app: axum::Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    address
}

/// Sends `GET path` with `headers` and reads the whole response.
async fn get(address: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (StatusCode, String) {
    let stream = TcpStream::connect(address).await.expect("connect");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(connection);
    let mut request = Request::get(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = sender
        .send_request(request.body(Empty::<Bytes>::new()).expect("a request"))
        .await
        .expect("a response");
    let status = response.status();
    let body = response.into_body().collect().await.expect("the body");
    (
        status,
        String::from_utf8_lossy(&body.to_bytes()).into_owned(),
    )
}

fn matched_path(key: &'static str) -> ServerLayer {
    ServerLayer::new(key).route(|req| req.extensions.get::<MatchedPath>().map(MatchedPath::as_str))
}

#[alamos::experiment("api.tower_inner")]
async fn lookup(id: u32) -> String {
    format!("user {id}")
}

#[test]
fn axum_routes_are_labelled_by_their_template_never_the_path() {
    let key = "api.t_route";
    let ((), captured) = run(async {
        let app = axum::Router::new()
            .route(
                "/users/{id}",
                axum::routing::get(|axum::extract::Path(id): axum::extract::Path<u32>| lookup(id)),
            )
            .layer(matched_path(key));
        let address = serve_axum(app).await;
        for id in [7, 8] {
            let (status, body) = get(address, &format!("/users/{id}"), &[]).await;
            assert_eq!((status, body), (StatusCode::OK, format!("user {id}")));
        }
    });
    assert_eq!(calls(key, "/users/{id}", "ok"), 2);
    let exposition = guard().render().expect("rendered");
    assert!(!exposition.contains("/users/7"), "{exposition}");
    assert_eq!(in_flight(key, "/users/{id}"), 0);

    let spans = captured.spans_named("api.t_route./users/{id}");
    assert_eq!(spans.len(), 2, "{:#?}", captured.spans());
    let span = &spans[0];
    assert_eq!(span.field("http.request.method"), Some("GET"));
    assert_eq!(span.field("http.route"), Some("/users/{id}"));
    assert_eq!(span.field("http.response.status_code"), Some("200"));
    assert_eq!(span.field("otel.kind"), Some("server"));
    assert!(span.closed && span.entered >= 1);
    // The handler's instrumented call is a child of the request's span.
    let inner = captured.spans_named("api.tower_inner.lookup");
    assert_eq!(inner.len(), 2);
    assert_eq!(inner[0].parent.as_deref(), Some("api.t_route./users/{id}"));

    // The key is an experiment once it served: listed and switchable.
    assert!(alamos::experiments().iter().any(|e| e.key() == key));
    alamos::set_level(key, alamos::LevelFilter::Off).expect("a known key");
    let ((), captured) = run(async {
        let app = axum::Router::new()
            .route("/users/{id}", axum::routing::get(|| async { "off" }))
            .layer(matched_path(key));
        let address = serve_axum(app).await;
        assert_eq!(get(address, "/users/9", &[]).await.0, StatusCode::OK);
    });
    assert_eq!(calls(key, "/users/{id}", "ok"), 2);
    assert!(captured.spans_named("api.t_route./users/{id}").is_empty());
}

#[test]
fn a_5xx_is_an_error_and_the_method_is_the_default_route() {
    let key = "api.t_5xx";
    let ((), captured) = run(async {
        let address = serve_hyper(ServerLayer::new(key), |_req: Request<Incoming>| async {
            let mut response = Response::new(Full::new(Bytes::from_static(b"down")));
            *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            Ok(response)
        })
        .await;
        assert_eq!(
            get(address, "/anything/42", &[]).await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
    });
    assert_eq!(calls(key, "GET", "error"), 1);
    assert_eq!(calls(key, "GET", "ok"), 0);
    let span = captured.span("api.t_5xx.GET");
    assert_eq!(span.field("http.response.status_code"), Some("503"));
    assert_eq!(span.field("otel.status_code"), Some("error"));
}

/// Data frames from a channel: a body that streams while the test watches.
struct Chunks(mpsc::Receiver<&'static str>);

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|chunk| Ok(Frame::data(Bytes::from_static(chunk.as_bytes())))))
    }
}

#[test]
fn a_streaming_body_keeps_the_call_open_until_its_end() {
    let key = "api.t_stream";
    let ((), captured) = run(async {
        let (tx, rx) = mpsc::channel(4);
        let rx = std::sync::Arc::new(std::sync::Mutex::new(Some(rx)));
        let address = serve_hyper(ServerLayer::new(key), move |_req: Request<Incoming>| {
            let rx = rx.lock().expect("lock").take().expect("one request");
            async move { Ok(Response::new(Chunks(rx))) }
        })
        .await;
        let stream = TcpStream::connect(address).await.expect("connect");
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(connection);
        let request = Request::get("/stream")
            .body(Empty::<Bytes>::new())
            .expect("request");
        let response = sender.send_request(request).await.expect("a response");
        let mut body = response.into_body();
        tx.send("first").await.expect("sent");
        let frame = body.frame().await.expect("a frame").expect("data");
        assert_eq!(frame.into_data().expect("data"), "first");
        // The head is sent and a frame read: the call is still open.
        assert_eq!(in_flight(key, "GET"), 1);
        assert_eq!(calls(key, "GET", "ok"), 0);
        tx.send("second").await.expect("sent");
        drop(tx);
        let rest = body.collect().await.expect("the rest").to_bytes();
        assert_eq!(rest, "second");
        until("the call to end", || calls(key, "GET", "ok") == 1).await;
    });
    assert_eq!(in_flight(key, "GET"), 0);
    let span = captured.span("api.t_stream.GET");
    assert!(span.closed);
    // Entered for the response future's poll and for the body's polls.
    assert!(span.entered >= 3, "{span:#?}");
}

#[test]
fn a_client_that_goes_away_cancels_the_call() {
    let key = "api.t_gone";
    let ((), captured) = run(async {
        let address = serve_hyper(ServerLayer::new(key), |_req: Request<Incoming>| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(Response::new(Empty::<Bytes>::new()))
        })
        .await;
        let mut stream = TcpStream::connect(address).await.expect("connect");
        stream
            .write_all(b"GET /slow HTTP/1.1\r\nhost: test\r\n\r\n")
            .await
            .expect("written");
        until("the request to start", || in_flight(key, "GET") == 1).await;
        drop(stream);
        until("the call to be cancelled", || {
            calls(key, "GET", "cancelled") == 1
        })
        .await;
    });
    assert_eq!(in_flight(key, "GET"), 0);
    assert_eq!(calls(key, "GET", "ok") + calls(key, "GET", "error"), 0);
    assert!(captured.span("api.t_gone.GET").closed);
}

#[test]
fn a_malformed_traceparent_starts_a_new_trace_and_the_request_succeeds() {
    let key = "api.t_malformed";
    let ((), captured) = run(async {
        let address = serve_hyper(ServerLayer::new(key), |_req: Request<Incoming>| async {
            Ok(Response::new(Full::new(Bytes::from_static(b"fine"))))
        })
        .await;
        for bad in [
            "garbage",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        ] {
            let (status, body) =
                get(address, "/", &[("traceparent", bad), ("baggage", "=;;")]).await;
            assert_eq!((status, body.as_str()), (StatusCode::OK, "fine"));
        }
    });
    assert_eq!(calls(key, "GET", "ok"), 2);
    // Roots of new traces: traced, with no parent.
    let spans = captured.spans_named("api.t_malformed.GET");
    assert_eq!(spans.len(), 2);
    assert!(spans.iter().all(|span| span.parent.is_none()));
}

#[test]
fn a_parent_not_sampled_leaves_the_request_untraced_but_counted() {
    let key = "api.t_unsampled";
    let ((), captured) = run(async {
        let address = serve_hyper(ServerLayer::new(key), |_req: Request<Incoming>| async {
            Ok(Response::new(Full::new(Bytes::from(lookup(1).await))))
        })
        .await;
        let unsampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
        let (status, _) = get(address, "/", &[("traceparent", unsampled)]).await;
        assert_eq!(status, StatusCode::OK);
        // A sampled parent (`-03`, as the Python SDK sends) is traced.
        let sampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03";
        let (status, _) = get(address, "/", &[("alamos-traceparent", sampled)]).await;
        assert_eq!(status, StatusCode::OK);
    });
    assert_eq!(calls(key, "GET", "ok"), 2);
    // One span, of the sampled request; the handler's call follows.
    assert_eq!(captured.spans_named("api.t_unsampled.GET").len(), 1);
    let inner = captured.spans_named("api.tower_inner.lookup");
    assert_eq!(inner.len(), 1);
    assert_eq!(inner[0].parent.as_deref(), Some("api.t_unsampled.GET"));
}

/// A gRPC response body: one message, then trailers with `status`.
struct Grpc {
    data: Option<Bytes>,
    status: Option<&'static str>,
}

impl http_body::Body for Grpc {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(data) = self.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        Poll::Ready(self.status.take().map(|status| {
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", status.parse().expect("a header value"));
            Ok(Frame::trailers(trailers))
        }))
    }
}

#[test]
fn a_grpc_status_other_than_ok_is_an_error() {
    let key = "api.t_grpc";
    let ((), captured) = run(async {
        let layer = ServerLayer::new(key).route(|req| Some(req.uri.path()));
        let address = serve_hyper(layer, |req: Request<Incoming>| async move {
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
            Ok(response)
        })
        .await;
        for method in ["/store.Frames/Fail", "/store.Frames/Read"] {
            let stream = TcpStream::connect(address).await.expect("connect");
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .expect("handshake");
            tokio::spawn(connection);
            let request = Request::post(method)
                .body(Empty::<Bytes>::new())
                .expect("request");
            let response = sender.send_request(request).await.expect("a response");
            assert_eq!(response.status(), StatusCode::OK);
            response.into_body().collect().await.expect("the body");
        }
        until("both calls to end", || {
            calls(key, "/store.Frames/Fail", "error") + calls(key, "/store.Frames/Read", "ok") == 2
        })
        .await;
    });
    let failed = captured.span("api.t_grpc./store.Frames/Fail");
    assert_eq!(failed.field("http.response.status_code"), Some("200"));
    // Read from the body's trailers frame (which hyper's HTTP/1 server does
    // not send on to a client that did not ask for trailers).
    assert_eq!(failed.field("rpc.grpc.status_code"), Some("13"));
    assert_eq!(
        captured
            .span("api.t_grpc./store.Frames/Read")
            .field("rpc.grpc.status_code"),
        Some("0")
    );
}

#[test]
fn a_grpc_status_header_of_a_trailers_only_response_is_read() {
    let key = "api.t_grpc_header";
    let ((), captured) = run(async {
        let address = serve_hyper(ServerLayer::new(key), |_req: Request<Incoming>| async {
            let mut response = Response::new(Empty::<Bytes>::new());
            response
                .headers_mut()
                .insert("grpc-status", "5".parse().expect("value"));
            Ok(response)
        })
        .await;
        assert_eq!(get(address, "/", &[]).await.0, StatusCode::OK);
    });
    assert_eq!(calls(key, "GET", "error"), 1);
    assert_eq!(
        captured
            .span("api.t_grpc_header.GET")
            .field("rpc.grpc.status_code"),
        Some("5")
    );
}

#[test]
fn a_malformed_key_is_reported_and_requests_pass_through() {
    let ((), captured) = run(async {
        let address = serve_hyper(
            ServerLayer::new("Not A Key"),
            |_req: Request<Incoming>| async {
                Ok(Response::new(Full::new(Bytes::from_static(b"fine"))))
            },
        )
        .await;
        assert_eq!(get(address, "/", &[]).await.0, StatusCode::OK);
    });
    assert!(captured
        .spans()
        .iter()
        .all(|span| !span.name.contains("Not A Key")));
}

#[test]
fn a_layer_at_debug_records_only_under_a_debug_threshold() {
    let key = "api.t_debug";
    let layer = || ServerLayer::new(key).level(alamos::Level::Debug);
    let ((), captured) = run(async {
        let address = serve_hyper(layer(), |_req: Request<Incoming>| async {
            Ok(Response::new(Full::new(Bytes::from_static(b"fine"))))
        })
        .await;
        // The default threshold is `prod`: served, not recorded.
        assert_eq!(get(address, "/", &[]).await.0, StatusCode::OK);
        alamos::set_level(key, alamos::Level::Debug).expect("a key that served");
        assert_eq!(get(address, "/", &[]).await.0, StatusCode::OK);
    });
    assert_eq!(calls(key, "GET", "ok"), 1);
    let span = captured.span("api.t_debug.GET");
    assert_eq!(span.level, tracing::Level::DEBUG);
}

#[test]
fn a_head_request_ends_with_its_head() {
    let key = "api.t_head";
    let ((), captured) = run(async {
        let address = serve_hyper(ServerLayer::new(key), |_req: Request<Incoming>| async {
            Ok(Response::new(Full::new(Bytes::from_static(
                b"a body never sent",
            ))))
        })
        .await;
        let stream = TcpStream::connect(address).await.expect("connect");
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(connection);
        let request = Request::head("/")
            .body(Empty::<Bytes>::new())
            .expect("request");
        let response = sender.send_request(request).await.expect("a response");
        assert_eq!(response.status(), StatusCode::OK);
        until("the call to end", || calls(key, "HEAD", "ok") == 1).await;
    });
    // hyper drops a HEAD response's body unpolled: not a cancellation.
    assert_eq!(calls(key, "HEAD", "cancelled"), 0);
    assert!(captured.span("api.t_head.HEAD").closed);
}
