//! The storage node: channels of values in memory, served over gRPC
//! (tonic) and, for their limits, over HTTP (axum).
//!
//! Both servers are wrapped in [`ServerLayer`] and nothing else: the layer
//! reads the caller's trace context, opens the request's span and counts
//! the call. The storage functions below are instrumented experiments, so
//! their spans are children of the request's span. Reading a channel that
//! was never written answers `NOT_FOUND`, which the storage node's
//! `storage.grpc` layer and the front node's `distribution.storage` layer
//! both count as outcome `error`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use alamos::tower::ServerLayer;
use axum::extract::Path;
use axum::routing::get;
use tonic::server::NamedService;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};
use tonic_prost::ProstCodec;

use crate::proto::{self, AppendReply, AppendRequest, ReadReply, ReadRequest};

/// How many values a channel keeps: compaction drops the older ones.
const RETAIN: usize = 1000;

/// Every channel's values, oldest first.
#[derive(Debug, Default)]
struct Store {
    channels: Mutex<HashMap<String, Vec<f64>>>,
}

impl Store {
    fn channels(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<f64>>> {
        // A panic while holding the lock leaves whole vectors behind: the
        // data is still consistent.
        self.channels.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Debug)]
enum StoreError {
    /// The channel was never written.
    NotFound(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::NotFound(channel) => write!(f, "no channel {channel:?}"),
        }
    }
}

/// Adds `values` to `channel`; how many it then holds.
#[alamos::experiment("storage.frames", fields(%channel, count = values.len()))]
fn append(store: &Store, channel: &str, values: &[f64]) -> u64 {
    alamos::counter!("values_written", values.len() as u64);
    let mut channels = store.channels();
    let stored = channels.entry(channel.to_owned()).or_default();
    stored.extend_from_slice(values);
    stored.len() as u64
}

/// A channel's values, or `NotFound`.
#[alamos::experiment("storage.frames", fields(%channel), err)]
fn read(store: &Store, channel: &str) -> Result<Vec<f64>, StoreError> {
    store
        .channels()
        .get(channel)
        .cloned()
        .ok_or_else(|| StoreError::NotFound(channel.to_owned()))
}

/// Drops what each channel holds beyond [`RETAIN`]; how many values went.
#[alamos::experiment("storage.compaction", level = debug)]
fn compact(store: &Store) -> usize {
    let mut dropped = 0;
    for values in store.channels().values_mut() {
        let excess = values.len().saturating_sub(RETAIN);
        values.drain(..excess);
        dropped += excess;
    }
    alamos::counter!(debug, "values_compacted", dropped as u64);
    dropped
}

/// The range a channel's values must lie in, as the front node validates
/// them: served over HTTP, the front node's downstream call.
#[alamos::experiment("storage.limits", fields(%channel))]
fn limits(channel: &str) -> (f64, f64) {
    if channel.starts_with("pressure") {
        (0.0, 500.0)
    } else {
        (-1000.0, 1000.0)
    }
}

/// The compaction task: one pass a second, for the life of the node.
async fn compaction(store: Arc<Store>) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    loop {
        every.tick().await;
        compact(&store);
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The `Storage` gRPC service, as tonic's generated server would route it:
/// one arm per method, each decoding its request with prost.
#[derive(Clone, Debug)]
struct StorageService {
    store: Arc<Store>,
}

impl NamedService for StorageService {
    const NAME: &'static str = proto::SERVICE;
}

impl tower::Service<http::Request<tonic::body::Body>> for StorageService {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let store = Arc::clone(&self.store);
        match request.uri().path() {
            proto::APPEND => Box::pin(async move {
                let method = tower::service_fn(move |request: Request<AppendRequest>| {
                    let request = request.into_inner();
                    let stored = append(&store, &request.channel, &request.values);
                    async move { Ok::<_, Status>(Response::new(AppendReply { stored })) }
                });
                let mut grpc =
                    tonic::server::Grpc::new(ProstCodec::<AppendReply, AppendRequest>::new());
                Ok(grpc.unary(method, request).await)
            }),
            proto::READ => Box::pin(async move {
                let method = tower::service_fn(move |request: Request<ReadRequest>| {
                    let answer = read(&store, &request.into_inner().channel)
                        .map(|values| Response::new(ReadReply { values }))
                        .map_err(|error| Status::not_found(error.to_string()));
                    async move { answer }
                });
                let mut grpc =
                    tonic::server::Grpc::new(ProstCodec::<ReadReply, ReadRequest>::new());
                Ok(grpc.unary(method, request).await)
            }),
            _ => Box::pin(async { Ok(Status::unimplemented("no such method").into_http()) }),
        }
    }
}

/// `GET /channels/{name}/limits`: `"min max"`.
async fn get_limits(Path(name): Path<String>) -> String {
    let (min, max) = limits(&name);
    format!("{min} {max}")
}

/// Serves gRPC on `grpc` and HTTP on `http` until the process is stopped.
pub(crate) async fn run(grpc: SocketAddr, http: SocketAddr) -> Result<(), String> {
    let store = Arc::new(Store::default());
    tokio::spawn(alamos::task(
        "storage.compaction",
        compaction(Arc::clone(&store)),
    ));

    let incoming =
        TcpIncoming::bind(grpc).map_err(|error| format!("cannot listen on {grpc}: {error}"))?;
    let grpc_server = tonic::transport::Server::builder()
        // gRPC paths name methods: a bounded set of routes.
        .layer(ServerLayer::new("storage.grpc").route(|req| Some(req.uri.path())))
        .add_service(StorageService { store })
        .serve_with_incoming(incoming);

    let listener = tokio::net::TcpListener::bind(http)
        .await
        .map_err(|error| format!("cannot listen on {http}: {error}"))?;
    let app = axum::Router::new()
        .route("/channels/{name}/limits", get(get_limits))
        .layer(ServerLayer::new("storage.http").route(crate::matched_path));
    let http_server = axum::serve(listener, app);

    eprintln!("storage: gRPC on {grpc}, HTTP on http://{http}");
    tokio::select! {
        served = grpc_server => served.map_err(|error| format!("gRPC server: {error}")),
        served = async { http_server.await } => served.map_err(|error| format!("HTTP server: {error}")),
    }
}
