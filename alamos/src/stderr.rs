//! How `alamos::init()` writes events to stderr: one line per event, human
//! text or JSON.
//!
//! A text line is what a `tracing-subscriber` user expects, made compact:
//!
//! ```text
//! 2026-12-01T21:11:42.337319Z ERROR api.frames.write_frames:storage.cesium.write{samples=64}: error=disk full
//! 2026-12-01T21:11:42.337392Z  WARN frame_writer: write batch failed node=2 error=disk full
//! ```
//!
//! The span path names each enclosing span (`experiment.function`), with
//! only the fields a function opted into; the fields every alamos span has
//! (`alamos.experiment`, `code.*`, `otel.status_code`) are left out, since
//! the span names say the same. An alamos event outside any span shows its
//! experiment as `[key]`, and nothing for the root; events that are not
//! alamos's show their target. Span open and close lines are off unless
//! asked for ([`SpanEvents`]).
//!
//! A JSON line keeps `tracing-subscriber`'s shape (`timestamp`, `level`,
//! `fields` with the `message`, `target`, `span`, `spans`) and adds the
//! event's `experiment`.
//!
//! # Trace context (feature `otel`)
//!
//! With `otel`, an event inside a span carries the span's W3C ids, which
//! OpenTelemetry's layer gives it (installed by `init()` whether or not
//! anything is exported; not with `OTEL_SDK_DISABLED=true`): JSON lines get
//! `"trace_id":"<32 hex>","span_id":"<16 hex>"`, text lines end in
//! `trace=<trace id>/<span id>`. Without `otel` none of this is compiled.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{FmtSpan, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::env;
use crate::json::Members;

/// Which span lifecycle events are written as lines of their own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpanEvents {
    /// Only events (the default).
    #[default]
    None,
    /// A line when a span closes, with its busy and idle time.
    Close,
    /// A line when a span opens.
    Open,
    /// Both.
    Full,
}

impl SpanEvents {
    /// Reads `ALAMOS_LOG_SPANS`; a malformed value is reported on stderr and
    /// means `none`.
    pub(crate) fn from_env() -> SpanEvents {
        let Some(text) = env::var(env::LOG_SPANS, "writing no span lines") else {
            return SpanEvents::None;
        };
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "none" | "off" => SpanEvents::None,
            "close" => SpanEvents::Close,
            "open" => SpanEvents::Open,
            "full" | "all" | "open,close" | "close,open" => SpanEvents::Full,
            _ => {
                eprintln!(
                    "alamos: {}={text:?} is not one of none, close, open, full; writing no span lines",
                    env::LOG_SPANS
                );
                SpanEvents::None
            }
        }
    }

    pub(crate) fn fmt_span(self) -> FmtSpan {
        match self {
            SpanEvents::None => FmtSpan::NONE,
            SpanEvents::Close => FmtSpan::CLOSE,
            SpanEvents::Open => FmtSpan::NEW,
            SpanEvents::Full => FmtSpan::NEW | FmtSpan::CLOSE,
        }
    }
}

/// The fmt layer as its events see it, when no span has lines of its own
/// ([`SpanEvents::None`], the default): events go through, span lifecycles
/// do not. The fmt layer would otherwise, for every span, format its fields
/// into a `String` it stores in the span's extensions (a box and a map
/// insert, though [`TextFields`] writes nothing there) and be called at every
/// enter, exit and close to find it had nothing to do: 1,345 of the 13,928
/// instructions a traced request of the service bench cost. Events
/// read spans only through the registry and [`SpanFields`], so the lines
/// are the same.
pub(crate) struct EventsOnly<L>(pub(crate) L);

impl<S, L> Layer<S> for EventsOnly<L>
where
    S: Subscriber,
    L: Layer<S>,
{
    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        self.0.on_register_dispatch(subscriber);
    }
    fn on_layer(&mut self, subscriber: &mut S) {
        self.0.on_layer(subscriber);
    }
    fn register_callsite(
        &self,
        metadata: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        self.0.register_callsite(metadata)
    }
    fn enabled(&self, metadata: &tracing::Metadata<'_>, ctx: Context<'_, S>) -> bool {
        self.0.enabled(metadata, ctx)
    }
    fn event_enabled(&self, event: &Event<'_>, ctx: Context<'_, S>) -> bool {
        self.0.event_enabled(event, ctx)
    }
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        self.0.on_event(event, ctx);
    }
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        self.0.max_level_hint()
    }
    unsafe fn downcast_raw(&self, id: std::any::TypeId) -> Option<*const ()> {
        if id == std::any::TypeId::of::<Self>() {
            return Some(std::ptr::from_ref(self).cast());
        }
        // SAFETY: forwarded as asked; the fmt layer answers for its own types.
        unsafe { self.0.downcast_raw(id) }
    }
}

/// Fields every alamos span carries, which the span name already says.
const STANDARD_FIELDS: [&str; 4] = [
    "alamos.experiment",
    "code.function",
    "code.namespace",
    "otel.status_code",
];

const EXPERIMENT_FIELD: &str = "alamos.experiment";

/// Whether `name` is one of [`STANDARD_FIELDS`]: by length first, since
/// this runs for every field of every span.
#[inline]
fn is_standard(name: &str) -> bool {
    match name.len() {
        17 => name == STANDARD_FIELDS[0],
        13 => name == STANDARD_FIELDS[1],
        14 => name == STANDARD_FIELDS[2],
        16 => name == STANDARD_FIELDS[3],
        _ => false,
    }
}

/// Text fields: `name=value`, space-separated.
struct TextVisitor<'a> {
    out: &'a mut String,
    message: Option<String>,
    experiment: Option<String>,
    skip_standard: bool,
}

impl TextVisitor<'_> {
    fn field(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        let name = field.name();
        if is_log_metadata(name) {
            return;
        }
        if name == "message" {
            self.message = Some(value.to_string());
            return;
        }
        if name == EXPERIMENT_FIELD {
            self.experiment = Some(value.to_string());
        }
        if self.skip_standard && STANDARD_FIELDS.contains(&name) {
            return;
        }
        if !self.out.is_empty() {
            self.out.push(' ');
        }
        let _ = write!(self.out, "{name}={value}");
    }
}

impl Visit for TextVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message = Some(value.to_owned()),
            EXPERIMENT_FIELD if self.skip_standard => self.experiment = Some(value.to_owned()),
            _ => self.field(field, format_args!("{value:?}")),
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.field(field, format_args!("{value:?}"));
    }
}

/// The span fields text lines show: only those a function opted into.
///
/// `tracing-subscriber`'s fmt layer would format a span's fields into a
/// `String` when the span is created, whether or not a line ever shows
/// them; here it formats nothing. [`SpanFields`] keeps the values typed, and
/// [`Text`] writes them when it writes a line.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TextFields;

impl<'writer> FormatFields<'writer> for TextFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        _: Writer<'writer>,
        _: R,
    ) -> fmt::Result {
        Ok(())
    }
}

/// The text of a span's own fields: `name=value`, space-separated, each
/// later `record` appended after a space (as the fmt layer appends them).
fn text_fields(fields: &SpanFields) -> String {
    fields.render(|batch| {
        let mut out = String::new();
        let mut visitor = TextVisitor {
            out: &mut out,
            message: None,
            experiment: None,
            skip_standard: true,
        };
        for (field, value) in batch.iter().flatten() {
            value.replay(field, &mut visitor);
        }
        out
    })
}

/// One human-readable line per event.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Text;

impl<S, N> FormatEvent<S, N> for Text
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        SystemTime.format_time(&mut writer)?;
        write!(writer, " {:>5} ", event.metadata().level())?;
        let mut fields = String::new();
        let mut visitor = TextVisitor {
            out: &mut fields,
            message: None,
            experiment: None,
            skip_standard: true,
        };
        event.record(&mut visitor);
        let (message, experiment) = (visitor.message, visitor.experiment);
        let mut path = String::new();
        let mut innermost_target = None;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                innermost_target = Some(span.metadata().target());
                if !path.is_empty() {
                    path.push(':');
                }
                path.push_str(span.name());
                let extensions = span.extensions();
                if let Some(own) = extensions.get::<SpanFields>().map(text_fields) {
                    if !own.is_empty() {
                        let _ = write!(path, "{{{own}}}");
                    }
                }
            }
        }
        if !path.is_empty() {
            write!(writer, "{path}: ")?;
        } else if let Some(experiment) = experiment.filter(|key| !key.is_empty()) {
            write!(writer, "[{experiment}] ")?;
        }
        // alamos's events (logs, `err` and `ret`) are placed by their span
        // path or experiment; others say which target they come from (a
        // `log` record: the record's own).
        let target = target_of(event);
        if experiment_less(event) && innermost_target != Some(&*target) {
            write!(writer, "{target}: ")?;
        }
        match (message, fields.is_empty()) {
            (Some(message), true) => write!(writer, "{message}")?,
            (Some(message), false) => write!(writer, "{message} {fields}")?,
            (None, _) => write!(writer, "{fields}")?,
        }
        #[cfg(feature = "otel")]
        if let Some((trace_id, span_id)) = trace_ids(ctx) {
            write!(writer, " trace={trace_id}/{span_id}")?;
        }
        writeln!(writer)
    }
}

/// The W3C trace and span ids of the span an event is in, if
/// OpenTelemetry gave it ids (its layer is installed).
#[cfg(feature = "otel")]
fn trace_ids<S, N>(ctx: &FmtContext<'_, S, N>) -> Option<(String, String)>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    use opentelemetry::trace::TraceContextExt as _;

    // The id only: the span's extensions must not stay borrowed while the
    // OpenTelemetry layer looks its context up.
    let id = ctx.event_scope()?.next()?.id();
    let context = tracing::dispatcher::get_default(|dispatch| {
        tracing_opentelemetry::get_otel_context(&id, dispatch)
    })?;
    let span = context.span();
    let span_context = span.span_context();
    span_context.is_valid().then(|| {
        (
            span_context.trace_id().to_string(),
            span_context.span_id().to_string(),
        )
    })
}

/// The target an event came from: a `log` record's own target (the bridge
/// gives every record one `tracing` target and the real one as a field).
#[cfg(feature = "log")]
fn target_of(event: &Event<'_>) -> std::borrow::Cow<'static, str> {
    use tracing_log::NormalizeEvent as _;
    match event.normalized_metadata() {
        Some(metadata) => std::borrow::Cow::Owned(metadata.target().to_owned()),
        None => std::borrow::Cow::Borrowed(event.metadata().target()),
    }
}

#[cfg(not(feature = "log"))]
fn target_of(event: &Event<'_>) -> std::borrow::Cow<'static, str> {
    std::borrow::Cow::Borrowed(event.metadata().target())
}

/// The fields the `log` bridge adds to a record's event (its target, module,
/// file and line): the line shows the target and leaves the rest out, as
/// tracing-subscriber's own format does.
fn is_log_metadata(name: &str) -> bool {
    cfg!(feature = "log") && name.starts_with("log.")
}

/// Whether an event is not one of alamos's own (which carry their
/// experiment): its target then says where it comes from.
fn experiment_less(event: &Event<'_>) -> bool {
    event.metadata().fields().field(EXPERIMENT_FIELD).is_none()
}

/// JSON fields: `"name":value` members.
struct JsonVisitor<'a> {
    members: &'a mut Members,
    experiment: Option<String>,
    skip_standard: bool,
}

impl JsonVisitor<'_> {
    fn skip(&mut self, field: &Field, value: Option<&str>) -> bool {
        if field.name() == EXPERIMENT_FIELD {
            if let Some(value) = value {
                self.experiment = Some(value.to_owned());
            }
            return true;
        }
        is_log_metadata(field.name())
            || (self.skip_standard && STANDARD_FIELDS.contains(&field.name()))
    }
}

impl Visit for JsonVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if !self.skip(field, Some(value)) {
            self.members.str(field.name(), value);
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if !self.skip(field, None) {
            self.members.raw(field.name(), &value.to_string());
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if !self.skip(field, None) {
            self.members.raw(field.name(), &value.to_string());
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if !self.skip(field, None) {
            self.members.float(field.name(), value);
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if !self.skip(field, None) {
            self.members
                .raw(field.name(), if value { "true" } else { "false" });
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if !self.skip(field, None) {
            self.members.display(field.name(), value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        if !self.skip(field, Some(&text)) {
            self.members.str(field.name(), &text);
        }
    }
}

/// The span fields JSON lines show: written, like [`TextFields`]'s, only
/// when a line is (see [`json_fields`]).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct JsonFields;

impl<'writer> FormatFields<'writer> for JsonFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        _: Writer<'writer>,
        _: R,
    ) -> fmt::Result {
        Ok(())
    }
}

/// A span's own fields as JSON members, each later `record` appended
/// after a space (as the fmt layer appends them).
fn json_fields(fields: &SpanFields) -> String {
    fields.render(|batch| {
        let mut members = Members::default();
        let mut visitor = JsonVisitor {
            members: &mut members,
            experiment: None,
            skip_standard: true,
        };
        for (field, value) in batch.iter().flatten() {
            value.replay(field, &mut visitor);
        }
        members.as_str().to_owned()
    })
}

/// One JSON object per line.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Json;

impl<S, N> FormatEvent<S, N> for Json
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = Members::default();
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        line.str("timestamp", &timestamp);
        line.display("level", event.metadata().level());
        let mut fields = Members::default();
        let mut visitor = JsonVisitor {
            members: &mut fields,
            experiment: None,
            skip_standard: false,
        };
        event.record(&mut visitor);
        let mut experiment = visitor.experiment.filter(|key| !key.is_empty());
        let mut span_experiment = None;
        line.raw("fields", &format!("{{{}}}", fields.as_str()));
        line.str("target", &target_of(event));
        #[cfg(feature = "otel")]
        if let Some((trace_id, span_id)) = trace_ids(ctx) {
            line.str("trace_id", &trace_id);
            line.str("span_id", &span_id);
        }
        let mut spans = Vec::new();
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let mut object = Members::default();
                object.str("name", span.name());
                let extensions = span.extensions();
                if let Some(own) = extensions.get::<SpanFields>().map(json_fields) {
                    if !own.is_empty() {
                        object.extend_raw(&own);
                    }
                }
                // An alamos span is named `experiment.function`.
                if span.fields().field(EXPERIMENT_FIELD).is_some() {
                    span_experiment = span.name().rsplit_once('.').map(|(key, _)| key.to_owned());
                }
                spans.push(format!("{{{}}}", object.as_str()));
            }
        }
        experiment = experiment.or(span_experiment);
        if let Some(experiment) = experiment {
            line.str("experiment", &experiment);
        }
        if let Some(innermost) = spans.last() {
            line.raw("span", innermost);
            line.raw("spans", &format!("[{}]", spans.join(",")));
        }
        writeln!(writer, "{{{}}}", line.as_str())
    }
}

/// A span's own fields as recorded, kept typed until a line shows them:
/// numbers and booleans as they are, strings copied, and only `Debug` and
/// `Display` values (which are borrowed for the call) formatted, once.
/// The fields every alamos span has are not kept: no line shows them.
#[derive(Debug, Default)]
pub(crate) struct SpanFields {
    /// The fields, in the order recorded; `None` starts the fields of a
    /// later `record` call.
    values: Values,
}

/// Inline up to two: a span with one or two fields of its own (most have
/// one or two) costs no allocation beside its extension's.
type Values = smallvec::SmallVec<[Option<(Field, FieldValue)>; 2]>;

#[derive(Debug)]
enum FieldValue {
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
    /// A string short enough to keep without allocating.
    Short(ShortStr),
    Str(String),
    /// What the value's `Debug` wrote.
    Debug(String),
    /// What the error's `Display` wrote.
    Error(String),
}

impl FieldValue {
    /// Hands the value to `visitor` as it was first recorded.
    fn replay(&self, field: &Field, visitor: &mut dyn Visit) {
        match self {
            FieldValue::I64(value) => visitor.record_i64(field, *value),
            FieldValue::U64(value) => visitor.record_u64(field, *value),
            FieldValue::F64(value) => visitor.record_f64(field, *value),
            FieldValue::Bool(value) => visitor.record_bool(field, *value),
            FieldValue::Short(value) => visitor.record_str(field, value.as_str()),
            FieldValue::Str(value) => visitor.record_str(field, value),
            FieldValue::Debug(text) => visitor.record_debug(field, &Written(text)),
            FieldValue::Error(text) => visitor.record_error(field, &ErrorText(text.clone())),
        }
    }
}

/// A string of up to [`ShortStr::MAX`] bytes, kept inline: most span
/// fields are keys and names, which then cost no allocation.
#[derive(Clone, Copy, Debug)]
struct ShortStr {
    len: u8,
    bytes: [u8; ShortStr::MAX],
}

impl ShortStr {
    const MAX: usize = 22;

    fn new(text: &str) -> Option<ShortStr> {
        let len = text.len();
        if len > ShortStr::MAX {
            return None;
        }
        let mut bytes = [0; ShortStr::MAX];
        bytes[..len].copy_from_slice(text.as_bytes());
        Some(ShortStr {
            // A length of at most MAX fits.
            #[allow(clippy::cast_possible_truncation)]
            len: len as u8,
            bytes,
        })
    }

    fn as_str(&self) -> &str {
        // Cannot fail: the bytes are a copy of a whole `str`'s.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

/// Text a formatter already wrote, written again as is.
struct Written<'a>(&'a str);

impl fmt::Debug for Written<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// An error's text, as its `Display` wrote it (`record_error` wants a
/// `'static` error: copied, only when a line is written).
#[derive(Debug)]
struct ErrorText(String);

impl fmt::Display for ErrorText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ErrorText {}

impl SpanFields {
    /// The fields as one string: each record call's fields formatted by
    /// `format`, joined by a space after a non-empty start.
    fn render(&self, mut format: impl FnMut(&[Option<(Field, FieldValue)>]) -> String) -> String {
        let mut out = String::new();
        for (index, batch) in self.values.split(Option::is_none).enumerate() {
            if index > 0 && !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&format(batch));
        }
        out
    }
}

/// Records fields into a [`SpanFields`], skipping the standard ones.
struct Recorder<'a>(&'a mut Values);

impl Recorder<'_> {
    #[inline]
    fn push(&mut self, field: &Field, value: impl FnOnce() -> FieldValue) {
        if !is_standard(field.name()) {
            self.0.push(Some((field.clone(), value())));
        }
    }
}

impl Visit for Recorder<'_> {
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, || FieldValue::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, || FieldValue::U64(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, || FieldValue::F64(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, || FieldValue::Bool(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, || {
            ShortStr::new(value)
                .map_or_else(|| FieldValue::Str(value.to_owned()), FieldValue::Short)
        });
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.push(field, || FieldValue::Error(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field, || FieldValue::Debug(format!("{value:?}")));
    }
}

/// Keeps each span's own fields typed in its extensions ([`SpanFields`]),
/// for [`Text`] and [`Json`] to write when, and only when, a line shows
/// them. A span with none of its own gets nothing.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct KeepSpanFields;

impl<S> Layer<S> for KeepSpanFields
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut values = Values::new();
        attrs.record(&mut Recorder(&mut values));
        if values.is_empty() {
            return;
        }
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields { values });
        }
    }

    fn on_record(&self, id: &Id, record: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut extensions = span.extensions_mut();
        if let Some(fields) = extensions.get_mut::<SpanFields>() {
            fields.values.push(None);
            record.record(&mut Recorder(&mut fields.values));
            return;
        }
        let mut values = Values::new();
        record.record(&mut Recorder(&mut values));
        extensions.insert(SpanFields { values });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_events_parse_from_their_names() {
        for (text, expected) in [
            ("close", SpanEvents::Close),
            ("open", SpanEvents::Open),
            ("FULL", SpanEvents::Full),
            (" none ", SpanEvents::None),
        ] {
            std::env::set_var(crate::env::LOG_SPANS, text);
            assert_eq!(SpanEvents::from_env(), expected, "{text}");
        }
        std::env::set_var(crate::env::LOG_SPANS, "sometimes");
        assert_eq!(SpanEvents::from_env(), SpanEvents::None);
        std::env::remove_var(crate::env::LOG_SPANS);
        assert_eq!(SpanEvents::from_env(), SpanEvents::None);
    }
}
