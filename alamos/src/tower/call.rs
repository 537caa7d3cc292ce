//! One request through a layer, from the call of the inner service to the
//! end of the response body: its span, its trace decision, the remote
//! context it continues, and its metrics.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use tracing::Span;

use super::site::{Site, GRPC_STATUS_CODE, STATUS_CODE};
use crate::call::Recording;
use crate::metric::outcome::Outcome;
use crate::propagate::{ContextScope, EnteredContext, RemoteContext};
use crate::sampling::{Trace, TraceScope};

/// A request in progress. Dropped unfinished, it records `cancelled`.
pub(crate) struct EdgeCall {
    span: Span,
    trace: Trace,
    /// The context the request arrived with, entered for every poll, so the
    /// handler's calls continue its trace (and, without `otel`, forward it).
    remote: Option<ContextScope>,
    recording: Option<Recording>,
    /// The response said it failed (5xx, gRPC status): the outcome is
    /// `error` whenever the call ends.
    failed: bool,
    /// No body goes out (a `HEAD` request, a 1xx, 204 or 304 status):
    /// hyper drops it unpolled, so the call ends with the head.
    bodiless: bool,
    /// An untraced root, whose failure is exported all the same
    /// (`crate::failure`); `None` otherwise.
    #[cfg(feature = "otel")]
    root: Option<Root>,
}

/// What an untraced root keeps for its failure's span, which its own span
/// (none) cannot hold: the request's method, and the status by which the
/// response said it failed, written only when a response fails.
#[cfg(feature = "otel")]
struct Root {
    site: &'static Site,
    /// Its name as the semantic conventions spell it.
    method: &'static str,
    /// A 5xx.
    status: Option<u16>,
    /// A `grpc-status` other than 0.
    grpc_status: Option<i64>,
}

/// What [`EdgeCall::enter`] makes current; left when dropped.
pub(crate) struct Entered<'a> {
    _trace: Option<TraceScope>,
    _span: Option<tracing::span::Entered<'a>>,
    _remote: Option<EnteredContext>,
}

impl EdgeCall {
    /// A request through `site` (`None`: the layer's key is malformed or
    /// its site disabled, and only `remote` is kept), continuing `remote`
    /// (`None` when the request carries no context: never an empty one).
    pub(crate) fn start(
        site: Option<&'static Site>,
        method: &http::Method,
        remote: Option<RemoteContext>,
    ) -> Self {
        let remote = remote.map(ContextScope::new);
        let Some(site) = site.filter(|site| site.is_enabled()) else {
            return EdgeCall {
                span: Span::none(),
                trace: Trace::NONE,
                remote,
                recording: None,
                failed: false,
                bodiless: false,
                #[cfg(feature = "otel")]
                root: None,
            };
        };
        // The decision and the span's parent come from the remote context
        // (or what is in scope on this thread, for a client).
        let _remote = remote.as_ref().map(ContextScope::enter);
        #[cfg(feature = "otel")]
        let (trace, root) = Trace::decide_root(site.sample());
        #[cfg(not(feature = "otel"))]
        let trace = Trace::decide(site.sample());
        let span = if trace.is_traced() {
            site.span(method.as_str())
        } else {
            Span::none()
        };
        let recording = {
            let _enter = span.enter();
            Recording::begin(site.handles(), false)
        };
        EdgeCall {
            span,
            trace,
            remote,
            recording: Some(recording),
            failed: false,
            bodiless: method == http::Method::HEAD,
            #[cfg(feature = "otel")]
            root: (root && trace.is_untraced()).then(|| Root {
                site,
                method: known_method(method),
                status: None,
                grpc_status: None,
            }),
        }
    }

    /// Enters the remote context, the span and the trace decision.
    ///
    /// Inlined for every poll: an untraced request without a remote
    /// context has no span (and `Span::none()` has nothing to enter, not
    /// even `tracing`'s `log` records), so only the thread's decision is
    /// swapped.
    #[inline(always)]
    pub(crate) fn enter(&self) -> Entered<'_> {
        if self.remote.is_none() && self.span.is_none() {
            return Entered {
                _trace: (self.recording.is_some()).then(|| self.trace.scope()),
                _span: None,
                _remote: None,
            };
        }
        self.enter_all()
    }

    #[inline(never)]
    fn enter_all(&self) -> Entered<'_> {
        let remote = self.remote.as_ref().map(ContextScope::enter);
        let span = self.span.enter();
        let trace = (self.recording.is_some()).then(|| self.trace.scope());
        Entered {
            _trace: trace,
            _span: Some(span),
            _remote: remote,
        }
    }

    /// Reads the response's head: its status code and, for gRPC, the
    /// `grpc-status` header of a trailers-only response.
    #[inline]
    pub(crate) fn head(&mut self, status: http::StatusCode, headers: &HeaderMap) {
        self.span.record(STATUS_CODE, status.as_u16());
        if status.is_server_error() {
            self.failed = true;
            #[cfg(feature = "otel")]
            if let Some(root) = &mut self.root {
                root.status = Some(status.as_u16());
            }
        }
        if status.is_informational()
            || status == http::StatusCode::NO_CONTENT
            || status == http::StatusCode::NOT_MODIFIED
        {
            self.bodiless = true;
        }
        self.trailers(headers);
    }

    /// Reads `grpc-status` from headers or trailers.
    #[inline]
    pub(crate) fn trailers(&mut self, headers: &HeaderMap) {
        /// Built at compile time: a `&str` name is parsed on each lookup.
        static GRPC_STATUS: http::HeaderName = http::HeaderName::from_static("grpc-status");
        let Some(value) = headers.get(&GRPC_STATUS) else {
            return;
        };
        // A malformed status is not `OK`.
        let code = value
            .to_str()
            .ok()
            .and_then(|value| value.trim().parse::<i64>().ok());
        if let Some(code) = code {
            self.span.record(GRPC_STATUS_CODE, code);
        }
        if code != Some(0) {
            self.failed = true;
            #[cfg(feature = "otel")]
            if let Some(root) = &mut self.root {
                root.grpc_status = code;
            }
        }
    }

    /// Ends the call, inside its span: `error` if the response said so or
    /// `error` is set, else `ok`.
    #[inline]
    pub(crate) fn finish(&mut self, error: bool) {
        if let Some(recording) = self.recording.take() {
            let outcome = if error || self.failed {
                Outcome::Error
            } else {
                Outcome::Ok
            };
            let _enter = self.span.enter();
            recording.finish(outcome, &self.span, false);
            #[cfg(feature = "otel")]
            self.failed_root(outcome, &recording);
        }
    }

    /// An untraced root request that failed is exported all the same.
    #[cfg(feature = "otel")]
    #[inline]
    fn failed_root(&self, outcome: Outcome, recording: &Recording) {
        if outcome == Outcome::Error {
            if let Some(root) = &self.root {
                let request = root
                    .site
                    .failure(root.method, root.status, root.grpc_status);
                crate::failure::request_failed(self.trace, request, recording.elapsed());
            }
        }
    }
}

impl Drop for EdgeCall {
    /// Inlined: most calls are finished by the time they are dropped, and
    /// that costs a compare here, not a call.
    #[inline(always)]
    fn drop(&mut self) {
        if self.recording.is_some() {
            self.unfinished();
        }
    }
}

impl EdgeCall {
    /// Dropped unfinished: `cancelled`, or `error` if the response said so.
    #[inline(never)]
    fn unfinished(&mut self) {
        if let Some(recording) = self.recording.take() {
            // A response known to have failed stays `error` even if its body
            // is then abandoned.
            let outcome = if self.failed {
                Outcome::Error
            } else {
                Outcome::Cancelled
            };
            let _enter = self.span.enter();
            recording.finish(outcome, &self.span, false);
            #[cfg(feature = "otel")]
            self.failed_root(outcome, &recording);
        }
    }
}

impl fmt::Debug for EdgeCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EdgeCall")
            .field("span", &self.span)
            .field("trace", &self.trace)
            .field("finished", &self.recording.is_none())
            .finish_non_exhaustive()
    }
}

pin_project_lite::pin_project! {
    /// The response future of a service wrapped by a [`ServerLayer`] or a
    /// [`ClientLayer`]: enters the request's span for every poll, and hands
    /// the call on to the response's [`ResponseBody`].
    ///
    /// [`ServerLayer`]: super::ServerLayer
    /// [`ClientLayer`]: super::ClientLayer
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        call: Option<EdgeCall>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, call: EdgeCall) -> Self {
        ResponseFuture {
            inner,
            call: Some(call),
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    B: Body,
{
    type Output = Result<http::Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(call) = this.call.as_mut() else {
            // Polled after completion: the inner future says what that does.
            return this
                .inner
                .poll(cx)
                .map_ok(|response| response.map(ResponseBody::done));
        };
        let entered = call.enter();
        let Poll::Ready(result) = this.inner.poll(cx) else {
            return Poll::Pending;
        };
        drop(entered);
        Poll::Ready(match result {
            Ok(response) => {
                call.head(response.status(), response.headers());
                // UNWRAP: checked above.
                let call = this.call.take().expect("the call is there");
                let (parts, body) = response.into_parts();
                Ok(http::Response::from_parts(
                    parts,
                    ResponseBody::new(body, call),
                ))
            }
            Err(error) => {
                call.finish(true);
                *this.call = None;
                Err(error)
            }
        })
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("call", &self.call)
            .finish_non_exhaustive()
    }
}

pin_project_lite::pin_project! {
    /// A response body that keeps its request's call open until it ends:
    /// its last frame (gRPC trailers are read there), an error, or its drop
    /// before the end (`cancelled`). Its span is entered for every poll.
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        call: Option<EdgeCall>,
    }
}

impl<B: Body> ResponseBody<B> {
    fn new(inner: B, mut call: EdgeCall) -> Self {
        if inner.is_end_stream() || call.bodiless {
            call.finish(false);
            return ResponseBody::done(inner);
        }
        ResponseBody {
            inner,
            call: Some(call),
        }
    }

    fn done(inner: B) -> Self {
        ResponseBody { inner, call: None }
    }
}

impl<B: Body> Body for ResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let Some(call) = this.call.as_mut() else {
            return this.inner.poll_frame(cx);
        };
        let entered = call.enter();
        let frame = this.inner.as_mut().poll_frame(cx);
        drop(entered);
        let end = match &frame {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(None) => Some(false),
            Poll::Ready(Some(Err(_))) => Some(true),
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    // Trailers are a body's last frame: hyper polls no
                    // further after them.
                    call.trailers(trailers);
                    Some(false)
                } else {
                    // hyper stops polling a body that says it has ended.
                    this.inner.is_end_stream().then_some(false)
                }
            }
        };
        if let Some(error) = end {
            // Finished in place, then dropped there: not moved out first.
            call.finish(error);
            *this.call = None;
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody")
            .field("call", &self.call)
            .finish_non_exhaustive()
    }
}

/// `method` as OpenTelemetry's semantic conventions name it on a span:
/// one of the methods HTTP defines, else `_OTHER` (a request's method is
/// the client's to choose, and a failure's span outlives the request).
#[cfg(feature = "otel")]
fn known_method(method: &http::Method) -> &'static str {
    use http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::CONNECT => "CONNECT",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::PATCH => "PATCH",
        _ => "_OTHER",
    }
}

#[cfg(all(test, feature = "otel"))]
mod tests {
    use super::known_method;

    #[test]
    fn a_method_http_defines_is_named_and_any_other_is_other() {
        for name in [
            "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
        ] {
            let method = http::Method::from_bytes(name.as_bytes()).unwrap();
            assert_eq!(known_method(&method), name);
        }
        // A client chooses the method: an extension, however long, is not
        // kept, nor is a standard name in another case.
        for name in ["PURGE", "get", "A-VERY-LONG-EXTENSION-METHOD-NAME"] {
            let method = http::Method::from_bytes(name.as_bytes()).unwrap();
            assert_eq!(known_method(&method), "_OTHER", "{name}");
        }
    }
}
