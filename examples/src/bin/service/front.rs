//! The front node: an HTTP API (axum) over the storage node.
//!
//! `POST /channels/{name}/frames` takes comma-separated values, checks them
//! against the channel's limits (an HTTP call to the storage node, through
//! reqwest and [`alamos::reqwest::Middleware`]) and appends them over gRPC
//! (a tonic channel wrapped in [`ClientLayer`]). `GET
//! /channels/{name}/frames` reads them back; a channel never written
//! answers 404, from the storage node's `NOT_FOUND`. Every accepted write
//! leaves an audit record that a background task (`alamos::task`) flushes
//! once a second.
//!
//! The router is wrapped in [`ServerLayer`], keyed by axum's route
//! template, so the span and the `function` label say
//! `/channels/{name}/frames` whatever the channel. No handler touches a
//! trace header: the layers read and write them.

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use alamos::tower::{ClientLayer, ServerLayer};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use http::uri::PathAndQuery;
use tonic::transport::{Channel, Endpoint};
use tonic::Status;
use tonic_prost::ProstCodec;
use tower::Layer as _;

use crate::proto::{self, AppendReply, AppendRequest, ReadReply, ReadRequest};

/// The storage node's gRPC client: a tonic channel behind alamos's layer.
type Storage = tonic::client::Grpc<alamos::tower::Client<Channel>>;

/// What every handler shares.
#[derive(Clone, Debug)]
struct Front {
    storage: Storage,
    /// The storage node's HTTP side, for limits.
    http: reqwest_middleware::ClientWithMiddleware,
    limits_base: Arc<str>,
    /// Audit records waiting for the flush task.
    audit: Arc<Mutex<Vec<String>>>,
}

#[derive(Debug)]
enum FrontError {
    /// A channel name outside `[a-z0-9_]+`.
    BadChannel(String),
    /// A value that is not a number.
    BadValue(String),
    /// A value outside the channel's limits.
    OutOfRange { value: f64, min: f64, max: f64 },
    /// The limits could not be had.
    Limits(String),
    /// The storage node answered with an error.
    Storage(Status),
}

impl FrontError {
    fn status(&self) -> StatusCode {
        match self {
            FrontError::BadChannel(_) | FrontError::BadValue(_) => StatusCode::BAD_REQUEST,
            FrontError::OutOfRange { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            FrontError::Storage(status) if status.code() == tonic::Code::NotFound => {
                StatusCode::NOT_FOUND
            }
            FrontError::Limits(_) | FrontError::Storage(_) => StatusCode::BAD_GATEWAY,
        }
    }
}

impl fmt::Display for FrontError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrontError::BadChannel(name) => write!(f, "bad channel name {name:?}"),
            FrontError::BadValue(value) => write!(f, "not a number: {value:?}"),
            FrontError::OutOfRange { value, min, max } => {
                write!(f, "{value} is outside [{min}, {max}]")
            }
            FrontError::Limits(error) => write!(f, "no limits: {error}"),
            FrontError::Storage(status) => {
                write!(f, "storage: {:?}: {}", status.code(), status.message())
            }
        }
    }
}

/// A channel name is a path segment the storage node's URL can carry as is.
#[alamos::experiment("api.frames", level = debug, err)]
fn check_channel(name: &str) -> Result<(), FrontError> {
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(FrontError::BadChannel(name.to_owned()))
    }
}

/// `"1.5, 2,3"` as values.
#[alamos::experiment("api.frames", level = debug, fields(len = body.len()), err)]
fn parse(body: &str) -> Result<Vec<f64>, FrontError> {
    body.split(',')
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .map(|value| {
            value
                .parse()
                .map_err(|_| FrontError::BadValue(value.to_owned()))
        })
        .collect()
}

/// Every value within the channel's limits.
#[alamos::experiment("api.frames", err)]
fn validate(values: &[f64], (min, max): (f64, f64)) -> Result<(), FrontError> {
    match values.iter().find(|value| !(min..=max).contains(*value)) {
        Some(&value) => Err(FrontError::OutOfRange { value, min, max }),
        None => Ok(()),
    }
}

/// Values as the API answers them.
#[alamos::experiment("api.frames", level = debug)]
fn encode(values: &[f64]) -> String {
    let text: Vec<String> = values.iter().map(f64::to_string).collect();
    text.join(",")
}

/// The channel's limits, from the storage node's HTTP side.
async fn fetch_limits(front: &Front, channel: &str) -> Result<(f64, f64), FrontError> {
    let url = format!("{}/channels/{channel}/limits", front.limits_base);
    let response = front
        .http
        .get(url)
        .send()
        .await
        .map_err(|error| FrontError::Limits(error.to_string()))?;
    if !response.status().is_success() {
        return Err(FrontError::Limits(format!("status {}", response.status())));
    }
    let text = response
        .text()
        .await
        .map_err(|error| FrontError::Limits(error.to_string()))?;
    let mut bounds = text.split_whitespace().map(str::parse::<f64>);
    match (bounds.next(), bounds.next()) {
        (Some(Ok(min)), Some(Ok(max))) => Ok((min, max)),
        _ => Err(FrontError::Limits(format!("unreadable limits {text:?}"))),
    }
}

/// One unary call to the storage node.
async fn call<Req, Resp>(
    front: &Front,
    path: &'static str,
    request: Req,
) -> Result<Resp, FrontError>
where
    Req: prost::Message + Send + Sync + 'static,
    Resp: prost::Message + Default + Send + Sync + 'static,
{
    let mut storage = front.storage.clone();
    storage
        .ready()
        .await
        .map_err(|error| FrontError::Storage(Status::unavailable(error.to_string())))?;
    let response = storage
        .unary(
            tonic::Request::new(request),
            PathAndQuery::from_static(path),
            ProstCodec::<Req, Resp>::new(),
        )
        .await
        .map_err(FrontError::Storage)?;
    Ok(response.into_inner())
}

/// `POST /channels/{name}/frames`: how many values the channel then holds.
#[alamos::experiment("api.frames", fields(%channel), err)]
async fn write(front: &Front, channel: &str, body: &str) -> Result<u64, FrontError> {
    check_channel(channel)?;
    let values = parse(body)?;
    let limits = fetch_limits(front, channel).await?;
    validate(&values, limits)?;
    let count = values.len();
    let request = AppendRequest {
        channel: channel.to_owned(),
        values,
    };
    let reply: AppendReply = call(front, proto::APPEND, request).await?;
    front
        .audit
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(format!("{channel} +{count}"));
    Ok(reply.stored)
}

/// `GET /channels/{name}/frames`: the channel's values.
#[alamos::experiment("api.frames", fields(%channel), err)]
async fn read(front: &Front, channel: &str) -> Result<String, FrontError> {
    check_channel(channel)?;
    let request = ReadRequest {
        channel: channel.to_owned(),
    };
    let reply: ReadReply = call(front, proto::READ, request).await?;
    Ok(encode(&reply.values))
}

async fn post_frames(
    State(front): State<Front>,
    Path(name): Path<String>,
    body: String,
) -> (StatusCode, String) {
    match write(&front, &name, &body).await {
        Ok(stored) => (StatusCode::OK, format!("{name}: {stored} values stored\n")),
        Err(error) => (error.status(), format!("{error}\n")),
    }
}

async fn get_frames(State(front): State<Front>, Path(name): Path<String>) -> (StatusCode, String) {
    match read(&front, &name).await {
        Ok(values) => (StatusCode::OK, format!("{values}\n")),
        Err(error) => (error.status(), format!("{error}\n")),
    }
}

/// Writes the waiting audit records out (here, to the log); how many.
#[alamos::experiment("api.audit")]
fn flush(audit: &Mutex<Vec<String>>) -> usize {
    let records = std::mem::take(&mut *audit.lock().unwrap_or_else(PoisonError::into_inner));
    let count = records.len();
    if count > 0 {
        alamos::debug!(
            count,
            latest = records[count - 1].as_str(),
            "audit records flushed"
        );
    }
    alamos::counter!("audit_records", count as u64);
    count
}

/// The flush task: once a second, for the life of the node.
async fn flusher(audit: Arc<Mutex<Vec<String>>>) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    loop {
        every.tick().await;
        flush(&audit);
    }
}

/// Serves the API on `listen` until the process is stopped, with the
/// storage node at `storage_grpc` (`http://host:port`) and `storage_http`.
pub(crate) async fn run(
    listen: SocketAddr,
    storage_grpc: &str,
    storage_http: &str,
) -> Result<(), String> {
    let channel = Endpoint::from_shared(storage_grpc.to_owned())
        .map_err(|error| format!("--storage-grpc {storage_grpc:?}: {error}"))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        // Connects at the first call: the storage node may start later.
        .connect_lazy();
    let storage = tonic::client::Grpc::new(
        ClientLayer::new("distribution.storage")
            .route(|req| Some(req.uri.path()))
            .layer(channel),
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|error| format!("HTTP client: {error}"))?;
    let http = reqwest_middleware::ClientBuilder::new(client)
        // The one route this client calls, as a template.
        .with(
            alamos::reqwest::Middleware::new("distribution.limits")
                .route(|_| Some("/channels/{name}/limits")),
        )
        .build();
    let audit = Arc::new(Mutex::new(Vec::new()));
    tokio::spawn(alamos::task("api.audit", flusher(Arc::clone(&audit))));
    let front = Front {
        storage,
        http,
        limits_base: storage_http.trim_end_matches('/').into(),
        audit,
    };

    let app = axum::Router::new()
        .route("/channels/{name}/frames", post(post_frames).get(get_frames))
        .with_state(front)
        .layer(ServerLayer::new("api.http").route(crate::matched_path));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|error| format!("cannot listen on {listen}: {error}"))?;
    eprintln!("front: HTTP on http://{listen}, storage at {storage_grpc} and {storage_http}");
    axum::serve(listener, app)
        .await
        .map_err(|error| format!("HTTP server: {error}"))
}
