//! Requests traced and counted where they enter and leave the process:
//! [`ServerLayer`] and [`ClientLayer`], `tower` layers over
//! `http::Request<B>` that serve axum, hyper and tonic alike (feature
//! `tower`).
//!
//! # What a request records
//!
//! Each layer has an experiment key (`api.http`, `distribution.peer`).
//! Per request it records, as an instrumented function's call does:
//!
//! - the call metrics `alamos_calls_total{experiment, function, outcome}`,
//!   `alamos_call_duration_seconds` and `alamos_calls_in_flight`, with
//!   `experiment` = the key and `function` = the *route*;
//! - a span named `"<key>.<route>"` (when the request is traced), entered
//!   for every poll of the response future and of the response body, with
//!   the fields `http.request.method`, `http.route`,
//!   `http.response.status_code` and, for gRPC, `rpc.grpc.status_code`
//!   (`otel.kind` is `server` or `client`).
//!
//! The call lasts until the response body ends, so a streaming response is
//! timed to its last frame. Its outcome is `error` for a 5xx status, a gRPC
//! status other than `OK` (from the `grpc-status` header or the trailers)
//! or an error from the service or the body; `cancelled` when the response
//! future or its body is dropped before the end (the client went away);
//! else `ok`.
//!
//! The key is an experiment like any other once the layer has served a
//! request: listed by [`experiments`](crate::experiments), switched by
//! `ALAMOS_LEVEL` and [`set_level`](crate::set_level) at the layer's level
//! ([`ServerLayer::level`], `prod` by default), sampled by
//! `ALAMOS_TRACE_SAMPLE`. A layer whose key is malformed reports it on
//! stderr and records nothing.
//!
//! # Routes
//!
//! The `function` label and the span name carry a route, never the raw
//! path, so the number of series stays bounded: the route is what
//! [`ServerLayer::route`] returns for the request (a template such as
//! `/users/{id}`), else the HTTP method. alamos depends on no framework, so
//! axum's `MatchedPath` is read by a closure that names it:
//!
//! ```text
//! let layer = alamos::tower::ServerLayer::new("api.http").route(|req| {
//!     req.extensions
//!         .get::<axum::extract::MatchedPath>()
//!         .map(axum::extract::MatchedPath::as_str)
//! });
//! let app = axum::Router::new().route("/users/{id}", get(user)).layer(layer);
//! ```
//!
//! (`Router::layer` wraps each route after routing, where `MatchedPath` is
//! set.) For tonic, the path is the gRPC method (`/pkg.Service/Method`), a
//! bounded set: `.route(|req| Some(req.uri.path()))`. Each route's state
//! (its span callsite, gate and metric handles) is built at its first
//! request and kept for the process; a layer keeps at most 256 routes,
//! and counts further ones as the route `other` (reported once on stderr).
//!
//! # Trace context
//!
//! The server layer reads the W3C `traceparent`, `tracestate` and
//! `baggage` headers (or their `alamos-` spellings) as
//! [`depropagate`](fn@crate::depropagate) does: the request's span is a child
//! of the remote span, and the handler's instrumented calls are children of
//! the request's span. A missing or malformed header starts a new trace and
//! never fails the request. A remote parent's sampled flag is obeyed: a
//! request whose parent is not sampled gets no span (its metrics are still
//! recorded); one without a parent is traced with its key's probability.
//!
//! The client layer writes the current context into the outgoing request's
//! headers ([`propagate`](fn@crate::propagate)), from inside its own span, so
//! the server continues the trace as a child of the client span.
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//! use std::future::{ready, Ready};
//! use std::task::{Context, Poll};
//!
//! use tower_layer::Layer;
//! use tower_service::Service;
//!
//! /// A service that answers every request with "hello".
//! #[derive(Clone)]
//! struct Hello;
//!
//! impl Service<http::Request<String>> for Hello {
//!     type Response = http::Response<String>;
//!     type Error = Infallible;
//!     type Future = Ready<Result<Self::Response, Infallible>>;
//!
//!     fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
//!         Poll::Ready(Ok(()))
//!     }
//!
//!     fn call(&mut self, _: http::Request<String>) -> Self::Future {
//!         ready(Ok(http::Response::new("hello".to_owned())))
//!     }
//! }
//!
//! // Server side: `api.http.GET` spans and calls.
//! let server = alamos::tower::ServerLayer::new("api.http").layer(Hello);
//! // Client side: the outgoing request gets a `traceparent` when traced.
//! let client = alamos::tower::ClientLayer::new("distribution.peer")
//!     .route(|req| Some(req.uri.path()))
//!     .layer(server);
//! # let _ = client;
//! ```

pub(crate) mod call;
pub(crate) mod site;

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::request::Parts;
use tower_layer::Layer;
use tower_service::Service;

use self::call::EdgeCall;
pub use self::call::{ResponseBody, ResponseFuture};
use self::site::{Routes, Side};
use crate::key::validate_key;
use crate::level::Level;
use crate::propagate::{depropagate_headers, propagate};

/// What names a request's route, from its head.
type RouteFn = Arc<dyn Fn(&Parts) -> Option<&str> + Send + Sync>;

/// What both layers hold: the key, level and route of their requests.
#[derive(Clone)]
struct Edge {
    key: &'static str,
    /// The key was valid: requests are recorded.
    valid: bool,
    level: Level,
    route: Option<RouteFn>,
}

/// Whether `key` can name an edge's experiment; reported on stderr if not.
pub(crate) fn valid_key(key: &'static str, what: &str) -> bool {
    match validate_key(key) {
        Ok(()) => true,
        Err(err) => {
            eprintln!("alamos: {what} {key:?}: {err}; its requests are not recorded");
            false
        }
    }
}

impl Edge {
    fn new(key: &'static str, side: Side) -> Self {
        let valid = valid_key(
            key,
            match side {
                Side::Server => "ServerLayer",
                Side::Client => "ClientLayer",
            },
        );
        Edge {
            key,
            valid,
            level: Level::Prod,
            route: None,
        }
    }

    /// What a service this edge wraps shares across its clones.
    fn wrapped(&self, side: Side) -> Wrapped {
        Wrapped {
            routes: self.valid.then(|| Routes::of(self.key, self.level, side)),
            route: self.route.clone(),
        }
    }
}

impl fmt::Debug for Edge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Edge")
            .field("key", &self.key)
            .field("valid", &self.valid)
            .field("level", &self.level)
            .field("route", &self.route.as_ref().map(|_| "Fn"))
            .finish()
    }
}

/// The state a wrapped service shares across its clones.
#[derive(Clone)]
struct Wrapped {
    routes: Option<&'static Routes>,
    route: Option<RouteFn>,
}

impl Wrapped {
    /// The route's site, from the route closure or the method.
    fn site(&self, parts: &Parts) -> Option<&'static site::Site> {
        let routes = self.routes?;
        let route = self
            .route
            .as_ref()
            .and_then(|route| route(parts))
            .unwrap_or_else(|| parts.method.as_str());
        Some(routes.site(route))
    }
}

impl fmt::Debug for Wrapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wrapped")
            .field("routes", &self.routes.is_some())
            .finish_non_exhaustive()
    }
}

/// A `tower` layer that traces and counts the requests a server receives
/// (see the [module docs](self)).
#[derive(Clone, Debug)]
#[must_use = "a layer does nothing until it wraps a service"]
pub struct ServerLayer {
    edge: Edge,
}

impl ServerLayer {
    /// A layer recording requests under the experiment `key`.
    ///
    /// A malformed key is reported on stderr; the layer then passes
    /// requests through, still continuing their trace context.
    pub fn new(key: &'static str) -> Self {
        ServerLayer {
            edge: Edge::new(key, Side::Server),
        }
    }

    /// The level of the requests' spans and metrics (`prod` by default),
    /// gated by the key's threshold as an instrumented function's is.
    pub fn level(mut self, level: Level) -> Self {
        self.edge.level = level;
        self
    }

    /// Names a request's route, the `function` label and the span name's
    /// last part, from the request's head; `None` falls back to the
    /// method. Return a template (`/users/{id}`), never the raw path: each
    /// route keeps its own series for the life of the process.
    pub fn route<F>(mut self, route: F) -> Self
    where
        F: Fn(&Parts) -> Option<&str> + Send + Sync + 'static,
    {
        self.edge.route = Some(Arc::new(route));
        self
    }
}

impl<S> Layer<S> for ServerLayer {
    type Service = Server<S>;

    fn layer(&self, inner: S) -> Server<S> {
        Server {
            inner,
            wrapped: self.edge.wrapped(Side::Server),
        }
    }
}

/// A service wrapped by a [`ServerLayer`].
#[derive(Clone, Debug)]
pub struct Server<S> {
    inner: S,
    wrapped: Wrapped,
}

impl<S, B, R> Service<http::Request<B>> for Server<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    R: http_body::Body,
{
    type Response = http::Response<ResponseBody<R>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let (parts, body) = request.into_parts();
        let site = self.wrapped.site(&parts);
        let call = EdgeCall::start(site, &parts.method, depropagate_headers(&parts.headers));
        let future = {
            let _entered = call.enter();
            // Built in the argument: one move of the request fewer.
            self.inner.call(http::Request::from_parts(parts, body))
        };
        ResponseFuture::new(future, call)
    }
}

/// A `tower` layer that traces and counts the requests a client sends, and
/// writes the trace context into their headers (see the
/// [module docs](self)).
#[derive(Clone, Debug)]
#[must_use = "a layer does nothing until it wraps a service"]
pub struct ClientLayer {
    edge: Edge,
}

impl ClientLayer {
    /// A layer recording requests under the experiment `key` (the peer:
    /// `distribution.peer`, `storage.client`).
    ///
    /// A malformed key is reported on stderr; the layer then still writes
    /// the trace context but records nothing.
    pub fn new(key: &'static str) -> Self {
        ClientLayer {
            edge: Edge::new(key, Side::Client),
        }
    }

    /// As [`ServerLayer::level`].
    pub fn level(mut self, level: Level) -> Self {
        self.edge.level = level;
        self
    }

    /// As [`ServerLayer::route`]: for a tonic channel, the gRPC method
    /// (`.route(|req| Some(req.uri.path()))`) is a bounded set.
    pub fn route<F>(mut self, route: F) -> Self
    where
        F: Fn(&Parts) -> Option<&str> + Send + Sync + 'static,
    {
        self.edge.route = Some(Arc::new(route));
        self
    }
}

impl<S> Layer<S> for ClientLayer {
    type Service = Client<S>;

    fn layer(&self, inner: S) -> Client<S> {
        Client {
            inner,
            wrapped: self.edge.wrapped(Side::Client),
        }
    }
}

/// A service wrapped by a [`ClientLayer`].
#[derive(Clone, Debug)]
pub struct Client<S> {
    inner: S,
    wrapped: Wrapped,
}

impl<S, B, R> Service<http::Request<B>> for Client<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    R: http_body::Body,
{
    type Response = http::Response<ResponseBody<R>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let (mut parts, body) = request.into_parts();
        let site = self.wrapped.site(&parts);
        let call = EdgeCall::start(site, &parts.method, None);
        let future = {
            let _entered = call.enter();
            // Inside the client span: the server's span becomes its child.
            propagate(&mut parts.headers);
            self.inner.call(http::Request::from_parts(parts, body))
        };
        ResponseFuture::new(future, call)
    }
}
