//! The spans of untraced roots that failed (`crate::failure`), built here as
//! the SDK's span data and handed straight to the span processor: past the
//! tracer and its sampler (the span is exported on purpose), through the
//! batch processor and its bound (`CountingSpans`), so export health counts
//! it as any other span.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceContextExt as _, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks, SpanProcessor};
use opentelemetry_sdk::Resource;

use crate::callsite::FnCallsite;
use crate::failure::{self, Failure, Installed, Origin, Request};

/// A span processor the tracer provider and the failure sink share.
///
/// Its resource is set before it is shared (`set_resource` needs the
/// processor alone, and the provider calls it when it is built, after the
/// sink holds its clone): see [`shared`].
#[derive(Debug)]
pub(super) struct SharedSpans<P>(Arc<P>);

impl<P: SpanProcessor> SpanProcessor for SharedSpans<P> {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &opentelemetry::Context) {
        self.0.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        self.0.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, _resource: &Resource) {
        // Set by `shared` already, to the provider's resource.
    }
}

/// `processor`, given `resource`, for the tracer provider; and the sink that
/// sends the failures of untraced roots to it, with `scope`, installed until
/// the returned [`Installed`] is removed (at shutdown).
pub(super) fn shared<P: SpanProcessor + 'static>(
    mut processor: P,
    resource: &Resource,
    scope: InstrumentationScope,
) -> (SharedSpans<P>, Installed) {
    processor.set_resource(resource);
    let processor = Arc::new(processor);
    let sink = Arc::clone(&processor);
    let installed = failure::install(Arc::new(move |failure: &Failure| {
        sink.on_end(span_data(failure, &scope));
    }));
    (SharedSpans(processor), installed)
}

/// The span of an untraced root that failed: the ids `propagate` wrote
/// inside it, its true start and end, status *error*, and the attributes
/// a traced call's span carries that need no field of the call (its
/// fields are never evaluated for an untraced call).
fn span_data(failure: &Failure, scope: &InstrumentationScope) -> SpanData {
    // Inside a span of another crate, `propagate` writes that span's ids
    // (not sampled): the failure joins that trace, under that span.
    let cx = opentelemetry::Context::current();
    let current = cx.span();
    let current = current.span_context();
    let (trace_id, parent_span_id) = if current.is_valid() {
        (current.trace_id(), current.span_id())
    } else {
        (TraceId::from_bytes(failure.trace_id), SpanId::INVALID)
    };
    let (name, span_kind, mut attributes) = match &failure.origin {
        Origin::Call(callsite) => call(callsite),
        Origin::Request(request) => self::request(request),
    };
    attributes.extend([
        KeyValue::new("alamos.outcome", failure.outcome.as_str()),
        // Exported although untraced, because it failed.
        KeyValue::new("alamos.sampled", false),
    ]);
    SpanData {
        // Sampled: the batch processor exports sampled spans only.
        span_context: SpanContext::new(
            trace_id,
            SpanId::from_bytes(failure.span_id),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id,
        parent_span_is_remote: false,
        span_kind,
        name,
        start_time: failure.start,
        end_time: failure.end,
        attributes,
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: Status::error(failure.outcome.as_str()),
        instrumentation_scope: scope.clone(),
    }
}

/// A function's span: its name, and the attributes its traced span has.
fn call(callsite: &'static FnCallsite) -> (Cow<'static, str>, SpanKind, Vec<KeyValue>) {
    let metadata = callsite.span_metadata();
    let mut attributes = vec![
        KeyValue::new("alamos.experiment", callsite.experiment()),
        KeyValue::new("code.function", callsite.function()),
        KeyValue::new("code.namespace", callsite.module_path()),
        KeyValue::new("alamos.level", callsite.level().as_str()),
    ];
    if let Some(file) = metadata.file() {
        attributes.push(KeyValue::new("code.file.path", file));
    }
    if let Some(module) = metadata.module_path() {
        attributes.push(KeyValue::new("code.module.name", module));
    }
    if let Some(line) = metadata.line() {
        attributes.push(KeyValue::new("code.line.number", i64::from(line)));
    }
    (
        Cow::Borrowed(metadata.name()),
        SpanKind::Internal,
        attributes,
    )
}

/// A request's span: `<key>.<route>`, server or client, and the attributes
/// its traced span has: the method, and the status the response failed by.
fn request(request: &Request) -> (Cow<'static, str>, SpanKind, Vec<KeyValue>) {
    let mut attributes = vec![
        KeyValue::new("alamos.experiment", request.experiment),
        KeyValue::new("http.route", request.route),
        KeyValue::new("alamos.level", request.level.as_str()),
        KeyValue::new("http.request.method", request.method),
    ];
    if let Some(status) = request.status {
        attributes.push(KeyValue::new(
            "http.response.status_code",
            i64::from(status),
        ));
    }
    if let Some(code) = request.grpc_status {
        attributes.push(KeyValue::new("rpc.grpc.status_code", code));
    }
    let kind = if request.server {
        SpanKind::Server
    } else {
        SpanKind::Client
    };
    (
        Cow::Owned(format!("{}.{}", request.experiment, request.route)),
        kind,
        attributes,
    )
}
