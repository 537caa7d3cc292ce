//! The tower layers against real tonic (issue 17, items 1 and 2): a tonic
//! server (`tonic::transport::Server`, a unary service written as tonic's
//! code generator writes one, with `tonic::server::Grpc` and prost
//! messages derived by hand) behind `ServerLayer`, and a tonic client
//! (`tonic::client::Grpc` over a `tonic::transport::Channel`) wrapped in
//! `ClientLayer`, on loopback over HTTP/2. One call answers OK (its status
//! in the trailers), one `Status::not_found` (a trailers-only response, its
//! status in the head): span names and fields, outcomes and counts on both
//! sides, and the caller's trace carried through the client into the server.
//! With `--features otel` (CI's interop step), the spans an OTLP receiver
//! decoded show the server's span as the child of the client's, one trace.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{calls, run, until};
use ::tonic::transport::server::TcpIncoming;
use ::tonic::{Code, Status};
use alamos::tower::{ClientLayer, ServerLayer};
use alamos_tests::SpanRecord;
use http::uri::PathAndQuery;
use tokio::net::TcpListener;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const READ: &str = "/store.Frames/Read";
const SERVER: &str = "api.t_tonic";
const CLIENT: &str = "distribution.t_tonic";

#[derive(Clone, PartialEq, prost::Message)]
struct ReadRequest {
    #[prost(string, tag = "1")]
    key: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ReadReply {
    #[prost(string, tag = "1")]
    value: String,
    /// The `traceparent` the server received.
    #[prost(string, tag = "2")]
    traceparent: String,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

/// The `store.Frames` service, as tonic's code generator would write its
/// server: routes by path, one unary method.
#[derive(Clone)]
struct Frames;

impl ::tonic::server::NamedService for Frames {
    const NAME: &'static str = "store.Frames";
}

/// `Read`: the frame `key`, or `NOT_FOUND` for the key `missing`.
struct Read;

impl ::tonic::server::UnaryService<ReadRequest> for Read {
    type Response = ReadReply;
    type Future = BoxFuture<::tonic::Response<ReadReply>, Status>;

    fn call(&mut self, request: ::tonic::Request<ReadRequest>) -> Self::Future {
        let traceparent = request
            .metadata()
            .get("traceparent")
            .and_then(|value| value.to_str().ok())
            .unwrap_or("none")
            .to_owned();
        let key = request.into_inner().key;
        Box::pin(async move {
            if key == "missing" {
                return Err(Status::not_found(format!("no frame {key:?}")));
            }
            Ok(::tonic::Response::new(ReadReply {
                value: format!("frame {key}"),
                traceparent,
            }))
        })
    }
}

impl tower::Service<http::Request<::tonic::body::Body>> for Frames {
    type Response = http::Response<::tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<::tonic::body::Body>) -> Self::Future {
        if request.uri().path() == READ {
            Box::pin(async move {
                let mut grpc = ::tonic::server::Grpc::new(tonic_prost::ProstCodec::default());
                Ok(grpc.unary(Read, request).await)
            })
        } else {
            Box::pin(async { Ok(Status::unimplemented("no such method").into_http()) })
        }
    }
}

/// A tonic server on loopback, `ServerLayer::new(key)` around its router.
async fn server(key: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let layer = ServerLayer::new(key).route(|req| Some(req.uri.path()));
    tokio::spawn(
        ::tonic::transport::Server::builder()
            .layer(layer)
            .add_service(Frames)
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    address
}

/// Reads `key` through a tonic channel wrapped in `ClientLayer::new(client)`.
async fn read(address: SocketAddr, client: &'static str, key: &str) -> Result<ReadReply, Status> {
    let channel = ::tonic::transport::Endpoint::try_from(format!("http://{address}"))
        .expect("an endpoint")
        .connect()
        .await
        .expect("a channel");
    let channel = tower::Layer::layer(
        &ClientLayer::new(client).route(|req| Some(req.uri.path())),
        channel,
    );
    let mut grpc = ::tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("the channel is ready");
    let request = ::tonic::Request::new(ReadRequest {
        key: key.to_owned(),
    });
    grpc.unary(
        request,
        PathAndQuery::from_static(READ),
        tonic_prost::ProstCodec::default(),
    )
    .await
    .map(::tonic::Response::into_inner)
}

/// The caller: a request this node received, sampled, in trace `TRACE`.
#[alamos::experiment("api.t_tonic_front")]
async fn front(address: SocketAddr, client: &'static str) -> (ReadReply, Status) {
    let found = read(address, client, "7").await.expect("frame 7");
    let missing = read(address, client, "missing")
        .await
        .expect_err("no frame `missing`");
    (found, missing)
}

/// The request this node received: sampled, in trace `TRACE`.
fn caller() -> std::collections::HashMap<String, String> {
    std::collections::HashMap::from([(
        "traceparent".to_owned(),
        format!("00-{TRACE}-00f067aa0ba902b7-01"),
    )])
}

/// The span of `key` whose call ended with gRPC status `code`.
fn span_with_status(spans: &[SpanRecord], key: &str, code: &str) -> SpanRecord {
    let name = format!("{key}.{READ}");
    let matching: Vec<&SpanRecord> = spans
        .iter()
        .filter(|span| span.name == name && span.field("rpc.grpc.status_code") == Some(code))
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "one {name} with status {code}: {spans:#?}"
    );
    matching[0].clone()
}

#[test]
fn tonic_calls_are_traced_and_counted_on_both_sides() {
    let ((found, missing), captured) = run(async {
        let address = server(SERVER).await;
        let replies = alamos::depropagate(&caller())
            .instrument(front(address, CLIENT))
            .await;
        until("the server's calls to end", || {
            calls(SERVER, READ, "ok") + calls(SERVER, READ, "error") == 2
        })
        .await;
        replies
    });

    assert_eq!(found.value, "frame 7");
    assert_eq!(missing.code(), Code::NotFound);
    assert_eq!(missing.message(), "no frame \"missing\"");
    // The server received the caller's trace, sampled, from the client.
    assert!(
        found.traceparent.starts_with(&format!("00-{TRACE}-")),
        "{}",
        found.traceparent
    );
    assert!(found.traceparent.ends_with("-01"), "{}", found.traceparent);

    // Counted by the gRPC method on both sides: OK is `ok`, NOT_FOUND is
    // `error`, though both answered HTTP 200.
    for key in [SERVER, CLIENT] {
        assert_eq!(calls(key, READ, "ok"), 1, "{key}");
        assert_eq!(calls(key, READ, "error"), 1, "{key}");
    }

    let spans = captured.spans();
    for (key, kind) in [(SERVER, "server"), (CLIENT, "client")] {
        let ok = span_with_status(&spans, key, "0");
        let not_found = span_with_status(&spans, key, "5");
        for span in [&ok, &not_found] {
            assert_eq!(span.field("http.route"), Some(READ), "{key}");
            assert_eq!(span.field("http.request.method"), Some("POST"), "{key}");
            assert_eq!(
                span.field("http.response.status_code"),
                Some("200"),
                "{key}"
            );
            assert_eq!(span.field("otel.kind"), Some(kind), "{key}");
            assert_eq!(span.field("alamos.experiment"), Some(key), "{key}");
            assert!(span.closed, "{key}: the call ended");
        }
        assert_eq!(ok.field("otel.status_code"), None, "{key}");
        assert_eq!(not_found.field("otel.status_code"), Some("error"), "{key}");
    }
    // The client spans are the caller's children; the server's continue the
    // trace from the headers the client wrote (above).
    for code in ["0", "5"] {
        let client = span_with_status(&spans, CLIENT, code);
        assert_eq!(client.parent.as_deref(), Some("api.t_tonic_front.front"));
    }
}

/// With OpenTelemetry's ids (`--features otel`, as CI's interop step runs
/// it), the link is checked on the spans an OTLP receiver decoded: one
/// trace, the server's span the child of the client's, which is the child
/// of the caller's function, and the server received the client span's id.
#[cfg(feature = "otel")]
#[test]
fn with_opentelemetry_the_server_span_is_the_child_of_the_client_span() {
    use tracing_subscriber::layer::SubscriberExt as _;

    const SERVER_OTEL: &str = "api.t_tonic_otel";
    const CLIENT_OTEL: &str = "distribution.t_tonic_otel";
    super::guard();
    let receiver = super::receiver::Receiver::start();
    let (layer, otel) = alamos::OtelConfig::new()
        .endpoint(receiver.endpoint())
        .service_name("alamos-tests")
        .build_layer::<tracing_subscriber::Registry>()
        .expect("the exporter builds");
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let (found, _) = tracing::dispatcher::with_default(&dispatch, || {
        runtime.block_on(async {
            let address = server(SERVER_OTEL).await;
            let replies = alamos::depropagate(&caller())
                .instrument(front(address, CLIENT_OTEL))
                .await;
            until("the server's calls to end", || {
                calls(SERVER_OTEL, READ, "ok") + calls(SERVER_OTEL, READ, "error") == 2
            })
            .await;
            replies
        })
    });
    otel.shutdown().expect("the spans are exported");
    let spans = receiver.spans();
    let named = |name: &str| -> Vec<super::receiver::ReceivedSpan> {
        spans
            .iter()
            .filter(|span| span.name == name)
            .cloned()
            .collect()
    };
    let front = named("api.t_tonic_front.front");
    let clients = named(&format!("{CLIENT_OTEL}.{READ}"));
    let servers = named(&format!("{SERVER_OTEL}.{READ}"));
    assert_eq!(
        (front.len(), clients.len(), servers.len()),
        (1, 2, 2),
        "{spans:#?}"
    );
    for span in front.iter().chain(&clients).chain(&servers) {
        assert_eq!(span.trace_id, TRACE, "one trace: {}", span.name);
    }
    for client in &clients {
        assert_eq!(client.parent_span_id.as_ref(), Some(&front[0].span_id));
        let children: Vec<_> = servers
            .iter()
            .filter(|server| server.parent_span_id.as_ref() == Some(&client.span_id))
            .collect();
        assert_eq!(
            children.len(),
            1,
            "one server span under client {}",
            client.span_id
        );
    }
    // The server saw the client span's id in `traceparent`, sampled.
    assert!(
        clients
            .iter()
            .any(|client| found.traceparent == format!("00-{TRACE}-{}-01", client.span_id)),
        "{} from {clients:#?}",
        found.traceparent
    );
}
