//! Outgoing `reqwest` requests traced and counted: [`Middleware`], a
//! [`reqwest_middleware::Middleware`] with the behaviour of
//! [`ClientLayer`](crate::tower::ClientLayer) (feature `reqwest`).
//!
//! Per request: a client span `"<key>.<route>"` (the route is what
//! [`Middleware::route`] returns, else the method), the current trace
//! context written into the request's headers from inside that span, and
//! the call metrics with `experiment` = the key and `function` = the route.
//! The outcome is `error` for a transport error or a 5xx status (or a gRPC
//! status other than `OK` in the headers), `cancelled` when the request is
//! dropped before its response arrives, else `ok`.
//!
//! The call ends when the response's head arrives: reading the body is the
//! caller's, after the middleware has returned.
//!
//! ```
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(alamos::reqwest::Middleware::new("distribution.storage"))
//!     .build();
//! # let _ = client;
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Extensions;
use reqwest_middleware::Next;

use crate::level::Level;
use crate::propagate::propagate;
use crate::tower::call::EdgeCall;
use crate::tower::site::{Routes, Side};

/// What names a request's route.
type RouteFn = Arc<dyn Fn(&reqwest::Request) -> Option<&str> + Send + Sync>;

/// A `reqwest_middleware` middleware that traces and counts requests and
/// writes the trace context into their headers (see the
/// [module docs](self)).
#[derive(Clone)]
#[must_use = "a middleware does nothing until a client uses it"]
pub struct Middleware {
    key: &'static str,
    routes: Option<&'static Routes>,
    level: Level,
    route: Option<RouteFn>,
}

impl Middleware {
    /// A middleware recording requests under the experiment `key`.
    ///
    /// A malformed key is reported on stderr; the middleware then still
    /// writes the trace context but records nothing.
    pub fn new(key: &'static str) -> Self {
        let routes = crate::tower::valid_key(key, "reqwest::Middleware")
            .then(|| Routes::of(key, Level::Prod, Side::Client));
        Middleware {
            key,
            routes,
            level: Level::Prod,
            route: None,
        }
    }

    /// The level of the requests' spans and metrics (`prod` by default).
    pub fn level(mut self, level: Level) -> Self {
        self.level = level;
        self.routes = self
            .routes
            .map(|_| Routes::of(self.key, level, Side::Client));
        self
    }

    /// Names a request's route (the `function` label and the span name's
    /// last part); `None` falls back to the method. Return a template,
    /// never the raw URL: each route keeps its series for the process.
    pub fn route<F>(mut self, route: F) -> Self
    where
        F: Fn(&reqwest::Request) -> Option<&str> + Send + Sync + 'static,
    {
        self.route = Some(Arc::new(route));
        self
    }
}

impl fmt::Debug for Middleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Middleware")
            .field("key", &self.key)
            .field("routes", &self.routes.is_some())
            .field("level", &self.level)
            .field("route", &self.route.as_ref().map(|_| "Fn"))
            .finish()
    }
}

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for Middleware {
    async fn handle(
        &self,
        mut request: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let site = self.routes.map(|routes| {
            let route = self
                .route
                .as_ref()
                .and_then(|route| route(&request))
                .unwrap_or_else(|| request.method().as_str());
            routes.site(route)
        });
        let call = EdgeCall::start(site, request.method(), None);
        {
            let _entered = call.enter();
            propagate(request.headers_mut());
        }
        let (mut call, result) = InCall {
            call: Some(call),
            inner: next.run(request, extensions),
        }
        .await;
        match &result {
            Ok(response) => {
                call.head(response.status(), response.headers());
                call.finish(false);
            }
            Err(_) => call.finish(true),
        }
        result
    }
}

pin_project_lite::pin_project! {
    /// A future polled inside a call; hands the call back with its output.
    /// Dropped unfinished, the call is cancelled.
    struct InCall<F> {
        call: Option<EdgeCall>,
        #[pin]
        inner: F,
    }
}

impl<F: Future> Future for InCall<F> {
    type Output = (EdgeCall, F::Output);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // UNWRAP: taken only when the inner future is ready, after which an
        // `async fn`'s await polls it no more.
        let call = this.call.as_ref().expect("polled after completion");
        let entered = call.enter();
        let Poll::Ready(output) = this.inner.poll(cx) else {
            return Poll::Pending;
        };
        drop(entered);
        let call = this.call.take().expect("polled after completion");
        Poll::Ready((call, output))
    }
}
