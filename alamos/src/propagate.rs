//! Trace context across processes: W3C `traceparent`, `tracestate` and
//! `baggage` through a [`Carrier`].
//!
//! # Sending
//!
//! Before a request leaves, [`propagate`] writes the context of the current
//! span into the request's headers (or any other [`Carrier`]), so the receiver
//! continues the same trace:
//!
//! ```
//! use std::collections::HashMap;
//!
//! let mut headers = HashMap::new();
//! alamos::propagate(&mut headers);
//! // ... send `headers` with the request
//! ```
//!
//! # Receiving
//!
//! [`depropagate`] reads a [`RemoteContext`] out of the incoming headers.
//! Entering it makes the sender's span the parent of the next instrumented
//! call on this thread, with no span plumbing in the handler:
//!
//! ```
//! use std::collections::HashMap;
//!
//! #[alamos::experiment("api.frames")]
//! fn handle(body: &str) -> usize {
//!     body.len()
//! }
//!
//! let headers = HashMap::from([(
//!     "traceparent".to_owned(),
//!     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
//! )]);
//! let _parent = alamos::depropagate(&headers).enter();
//! handle("frame"); // a child of span 00f067aa0ba902b7 of trace 4bf92f35...
//! ```
//!
//! [`with_parent`] does the same around a closure, and
//! [`RemoteContext::instrument`] around a future (enter it for every poll,
//! so an `async fn` handler's span, created at its first poll, gets the
//! parent too).
//!
//! Keys are matched case-insensitively. Besides `traceparent`, `tracestate`
//! and `baggage`, the `alamos-` prefixed spellings (`alamos-traceparent`,
//! Synnax's Go transport) are read; the plain W3C names are written. A
//! missing or malformed header starts a new trace: the reason is logged as a
//! `DEBUG` event with target `alamos::propagate`, and nothing panics.
//!
//! # Sampled and not sampled
//!
//! Entering a context whose parent is sampled (flag bit 0 set) makes the
//! calls under it traced; one whose parent is not sampled makes them
//! untraced, whatever their probabilities: the decision was made where the
//! trace started. A context without a parent leaves the next call to
//! decide, as a root. With `otel`, [`propagate`] inside an untraced call
//! writes a valid `traceparent` with the not-sampled flag (`-00`): the
//! remote parent's ids when the call continues one, else ids derived from
//! the root's decision, the same for every call under it. The next node then
//! does not trace the request either.
//!
//! # With and without the `otel` feature
//!
//! With `otel`, entering a [`RemoteContext`] makes it the current
//! OpenTelemetry context, which is where `tracing-opentelemetry` finds the
//! parent of a new span; [`propagate`] writes the current OpenTelemetry
//! context: the innermost entered span, or an entered remote context if no
//! span was entered after it. This relies on the layer's context activation,
//! which is on by default and in `OtelConfig`'s layer. `alamos::init()`
//! installs that layer whether or not spans are exported, so this works
//! without a receiver too; with `OTEL_SDK_DISABLED=true`, or a subscriber
//! without the layer, spans have no ids and this process is a transparent
//! hop, as below.
//!
//! Without `otel`, spans have no W3C ids, so this process is a transparent
//! hop: [`propagate`] forwards the innermost entered [`RemoteContext`]
//! unchanged (its `traceparent`, `tracestate` and `baggage`), so a downstream
//! service still joins the caller's trace, as a child of the caller's span.
//! With nothing entered it writes nothing.

mod w3c;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::hash::BuildHasher;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::sampling::{Trace, TraceScope};

pub use self::w3c::{
    Baggage, BaggageError, InvalidBaggageKey, TraceParent, TraceParentError, TraceState,
    TraceStateError,
};

/// The header that carries the parent span.
const TRACEPARENT: &str = "traceparent";
/// The header that carries vendor state.
const TRACESTATE: &str = "tracestate";
/// The header that carries application key-value pairs.
const BAGGAGE: &str = "baggage";
/// Also accepted on receipt: Synnax's Go transport prefixes its keys.
const ALAMOS_TRACEPARENT: &str = "alamos-traceparent";
const ALAMOS_TRACESTATE: &str = "alamos-tracestate";
const ALAMOS_BAGGAGE: &str = "alamos-baggage";
/// How much of a rejected header value a log event quotes.
const EXCERPT_LEN: usize = 96;

/// Something that carries string key-value pairs across a process boundary:
/// HTTP headers, gRPC metadata, a message's attribute map.
///
/// alamos asks only for lowercase ASCII keys (`traceparent`, `tracestate`,
/// `baggage` and their `alamos-` spellings). Implementations must match keys
/// case-insensitively, as HTTP does, on both `get` and `set`.
///
/// Implemented for `HashMap<String, String>`, `BTreeMap<String, String>`, and,
/// with the `http` feature, `http::HeaderMap`.
pub trait Carrier {
    /// The value stored under `key`, compared case-insensitively.
    fn get(&self, key: &str) -> Option<&str>;

    /// Every value stored under `key`, for carriers that can hold a key more
    /// than once (HTTP allows `tracestate` and `baggage` to be split across
    /// header fields). The default returns [`Carrier::get`]'s value.
    fn get_all(&self, key: &str) -> Vec<&str> {
        self.get(key).into_iter().collect()
    }

    /// Stores `value` under `key`, replacing whatever was stored under that
    /// key in any case.
    fn set(&mut self, key: &str, value: String);
}

impl<S: BuildHasher> Carrier for HashMap<String, String, S> {
    fn get(&self, key: &str) -> Option<&str> {
        HashMap::get(self, key)
            .or_else(|| {
                self.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(key))
                    .map(|(_, value)| value)
            })
            .map(String::as_str)
    }

    fn set(&mut self, key: &str, value: String) {
        self.retain(|k, _| !k.eq_ignore_ascii_case(key));
        self.insert(key.to_owned(), value);
    }
}

impl Carrier for BTreeMap<String, String> {
    fn get(&self, key: &str) -> Option<&str> {
        BTreeMap::get(self, key)
            .or_else(|| {
                self.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(key))
                    .map(|(_, value)| value)
            })
            .map(String::as_str)
    }

    fn set(&mut self, key: &str, value: String) {
        self.retain(|k, _| !k.eq_ignore_ascii_case(key));
        self.insert(key.to_owned(), value);
    }
}

/// Header names are case-insensitive by construction. A value that is not
/// visible ASCII is skipped on `get`; one that is not a valid header value
/// is not stored on `set` (alamos never writes one).
#[cfg(feature = "http")]
impl Carrier for http::HeaderMap {
    fn get(&self, key: &str) -> Option<&str> {
        let value = match known_header(key) {
            Some(name) => http::HeaderMap::get(self, name),
            None => http::HeaderMap::get(self, key),
        };
        value.and_then(|value| value.to_str().ok())
    }

    fn get_all(&self, key: &str) -> Vec<&str> {
        let values = match known_header(key) {
            Some(name) => http::HeaderMap::get_all(self, name),
            None => http::HeaderMap::get_all(self, key),
        };
        values
            .iter()
            .filter_map(|value| value.to_str().ok())
            .collect()
    }

    fn set(&mut self, key: &str, value: String) {
        let name = match known_header(key) {
            Some(name) => Ok(name.clone()),
            None => http::HeaderName::from_bytes(key.as_bytes()),
        };
        let value = http::HeaderValue::try_from(value);
        if let (Ok(name), Ok(value)) = (name, value) {
            self.insert(name, value);
        } else {
            tracing::debug!(
                target: "alamos::propagate",
                key,
                "not a valid HTTP header; not propagated"
            );
        }
    }
}

/// The header of one of alamos's keys, built at compile time: a `&str`
/// key makes `http` parse (and, to write, allocate) the name each time.
#[cfg(feature = "http")]
fn known_header(key: &str) -> Option<&'static http::HeaderName> {
    let index = Key::NAMES.iter().position(|name| *name == key)?;
    HEADER_NAMES.get(index)
}

/// The trace context a request arrived with: the remote parent span, if the
/// request named a valid one, its `tracestate`, and the request's baggage.
///
/// Made by [`depropagate`]. [`enter`](RemoteContext::enter) it, or run code
/// [`in_scope`](RemoteContext::in_scope), so that the next instrumented call
/// on this thread becomes a child of the remote span. A context without a
/// parent makes the next span the root of a new trace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoteContext {
    parent: Option<TraceParent>,
    state: TraceState,
    baggage: Baggage,
}

impl RemoteContext {
    /// A context from its parts. The trace state only travels with a parent.
    pub fn new(parent: Option<TraceParent>, state: TraceState, baggage: Baggage) -> Self {
        let state = if parent.is_some() {
            state
        } else {
            TraceState::default()
        };
        RemoteContext {
            parent,
            state,
            baggage,
        }
    }

    /// The remote span, or `None` to start a new trace.
    pub fn parent(&self) -> Option<&TraceParent> {
        self.parent.as_ref()
    }

    /// The remote vendors' `tracestate`; empty without a parent.
    pub fn trace_state(&self) -> &TraceState {
        &self.state
    }

    /// The request's baggage.
    pub fn baggage(&self) -> &Baggage {
        &self.baggage
    }

    /// Whether the request carried nothing usable.
    pub fn is_empty(&self) -> bool {
        self.parent.is_none() && self.baggage.is_empty()
    }

    /// Writes this context, as received, into `carrier`.
    pub fn inject<C: Carrier + ?Sized>(&self, carrier: &mut C) {
        if let Some(parent) = &self.parent {
            carrier.set(TRACEPARENT, parent.to_string());
            if !self.state.is_empty() {
                carrier.set(TRACESTATE, self.state.to_string());
            }
        }
        if !self.baggage.is_empty() {
            carrier.set(BAGGAGE, self.baggage.to_string());
        }
    }

    /// Makes this the parent of the spans created on this thread until the
    /// guard is dropped (spans created under an entered span keep that span
    /// as their parent, as usual).
    ///
    /// Guards nest; dropping one restores what was current before it.
    pub fn enter(self) -> EnteredContext {
        ContextScope::new(self).enter()
    }

    /// Runs `f` with this context entered.
    pub fn in_scope<R>(self, f: impl FnOnce() -> R) -> R {
        let _entered = self.enter();
        f()
    }

    /// Wraps `future` so that this context is entered while it is polled.
    ///
    /// An instrumented `async fn` creates its span at its first poll, so
    /// wrapping its future is how an async handler continues a remote trace:
    ///
    /// ```
    /// # use std::collections::HashMap;
    /// #[alamos::experiment("api.frames")]
    /// async fn handle(body: String) -> usize {
    ///     body.len()
    /// }
    ///
    /// # async fn serve(headers: HashMap<String, String>) {
    /// let len = alamos::depropagate(&headers)
    ///     .instrument(handle("frame".to_owned()))
    ///     .await;
    /// # }
    /// ```
    pub fn instrument<F: Future>(self, future: F) -> WithRemoteContext<F> {
        WithRemoteContext {
            scope: ContextScope::new(self),
            future,
        }
    }

    /// The OpenTelemetry context that makes the remote span the parent of a
    /// new span and carries the baggage.
    #[cfg(feature = "otel")]
    pub fn to_otel_context(&self) -> opentelemetry::Context {
        use opentelemetry::baggage::{BaggageExt as _, KeyValueMetadata};
        use opentelemetry::trace::{
            SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId,
        };

        let mut cx = opentelemetry::Context::new();
        if let Some(parent) = &self.parent {
            let state = opentelemetry::trace::TraceState::from_key_value(self.state.iter())
                .unwrap_or_default();
            cx = cx.with_remote_span_context(SpanContext::new(
                TraceId::from_bytes(parent.trace_id()),
                SpanId::from_bytes(parent.parent_id()),
                TraceFlags::new(parent.flags()),
                true,
                state,
            ));
        }
        if !self.baggage.is_empty() {
            let entries: Vec<KeyValueMetadata> = self
                .baggage
                .iter_with_properties()
                .map(|(key, value, properties)| {
                    KeyValueMetadata::new(key.to_owned(), value.to_owned(), properties)
                })
                .collect();
            cx = cx.with_baggage(entries);
        }
        cx
    }
}

/// Reads the trace context a request arrived with.
///
/// `traceparent` (or `alamos-traceparent`) names the parent span; when it is
/// missing or malformed the result has no parent, which starts a new trace.
/// `tracestate` is read only with a valid parent. `baggage` is read either
/// way. A malformed header is reported as a `DEBUG` event with target
/// `alamos::propagate` and ignored; this never panics.
///
/// OpenTelemetry calls this *extracting* a context.
#[doc(alias = "extract")]
pub fn depropagate<C: Carrier + ?Sized>(carrier: &C) -> RemoteContext {
    extract(&ByName(carrier))
}

/// [`depropagate`] for HTTP headers, by header names built at compile time
/// (what the tower layers read every request with: no name parsed, nothing
/// allocated unless a `tracestate` or `baggage` is there). `None` for an
/// empty context: most requests carry none, and an `Option` is less to
/// build, move and drop than an empty context.
#[cfg(feature = "tower")]
pub(crate) fn depropagate_headers(headers: &http::HeaderMap) -> Option<RemoteContext> {
    let headers = Headers::new(headers);
    if headers.present == 0 {
        // Most requests: nothing to look up or parse.
        return None;
    }
    Some(extract(&headers)).filter(|context| !context.is_empty())
}

/// The keys [`depropagate`] reads, in the order of [`Key::NAMES`].
#[derive(Clone, Copy)]
enum Key {
    TraceParent,
    TraceState,
    Baggage,
    AlamosTraceParent,
    AlamosTraceState,
    AlamosBaggage,
}

impl Key {
    const NAMES: [&'static str; 6] = [
        TRACEPARENT,
        TRACESTATE,
        BAGGAGE,
        ALAMOS_TRACEPARENT,
        ALAMOS_TRACESTATE,
        ALAMOS_BAGGAGE,
    ];

    fn name(self) -> &'static str {
        Key::NAMES[self as usize]
    }

    #[cfg(feature = "tower")]
    fn header(self) -> &'static http::HeaderName {
        &HEADER_NAMES[self as usize]
    }
}

/// [`Key::NAMES`] as header names.
#[cfg(feature = "http")]
static HEADER_NAMES: [http::HeaderName; 6] = [
    http::HeaderName::from_static(TRACEPARENT),
    http::HeaderName::from_static(TRACESTATE),
    http::HeaderName::from_static(BAGGAGE),
    http::HeaderName::from_static(ALAMOS_TRACEPARENT),
    http::HeaderName::from_static(ALAMOS_TRACESTATE),
    http::HeaderName::from_static(ALAMOS_BAGGAGE),
];

/// Where [`extract`] reads the keys.
trait Source {
    fn one(&self, key: Key) -> Option<&str>;
    fn all(&self, key: Key) -> Vec<&str>;

    /// The parent under `key`, parsed, or why not with the value.
    fn parent(&self, key: Key) -> Option<Result<TraceParent, (TraceParentError, &str)>> {
        let value = self.one(key)?;
        Some(TraceParent::parse(value).map_err(|error| (error, value)))
    }
}

/// Any carrier, by the keys' names.
struct ByName<'a, C: ?Sized>(&'a C);

impl<C: Carrier + ?Sized> Source for ByName<'_, C> {
    fn one(&self, key: Key) -> Option<&str> {
        self.0.get(key.name())
    }

    fn all(&self, key: Key) -> Vec<&str> {
        self.0.get_all(key.name())
    }
}

/// HTTP headers, by names built at compile time, and only the names the
/// map holds: a lookup hashes the name, so one pass over a request's few
/// names first says which of the six are worth looking up (usually none).
#[cfg(feature = "tower")]
struct Headers<'a> {
    map: &'a http::HeaderMap,
    /// Bit `key as usize` is set if the map may hold `key`.
    present: u8,
}

#[cfg(feature = "tower")]
impl<'a> Headers<'a> {
    /// Past this many names, a pass costs more than the lookups it saves.
    const SCAN_AT_MOST: usize = 32;

    fn new(map: &'a http::HeaderMap) -> Self {
        let present = if map.keys_len() > Self::SCAN_AT_MOST {
            u8::MAX
        } else {
            map.keys()
                .filter_map(|name| Key::NAMES.iter().position(|key| *key == name.as_str()))
                .fold(0, |present, key| present | (1 << key))
        };
        Headers { map, present }
    }

    fn has(&self, key: Key) -> bool {
        self.present & (1 << key as u8) != 0
    }
}

#[cfg(feature = "tower")]
impl Source for Headers<'_> {
    fn one(&self, key: Key) -> Option<&str> {
        if !self.has(key) {
            return None;
        }
        self.map
            .get(key.header())
            .and_then(|value| value.to_str().ok())
    }

    /// A valid version `00` parent (what nearly every request carries) is
    /// parsed from the value's bytes without `to_str`'s pass over them;
    /// anything else the way [`Source::one`] reads it.
    fn parent(&self, key: Key) -> Option<Result<TraceParent, (TraceParentError, &str)>> {
        if !self.has(key) {
            return None;
        }
        let value = self.map.get(key.header())?;
        if value.len() == w3c::TRACEPARENT_LEN {
            if let Ok(parent) = TraceParent::parse_bytes(value.as_bytes()) {
                return Some(Ok(parent));
            }
        }
        let value = value.to_str().ok()?;
        Some(TraceParent::parse(value).map_err(|error| (error, value)))
    }

    fn all(&self, key: Key) -> Vec<&str> {
        if !self.has(key) {
            return Vec::new();
        }
        self.map
            .get_all(key.header())
            .iter()
            .filter_map(|value| value.to_str().ok())
            .collect()
    }
}

/// What [`depropagate`] does, over any [`Source`].
fn extract<S: Source + ?Sized>(source: &S) -> RemoteContext {
    let mut parent = None;
    for key in [Key::TraceParent, Key::AlamosTraceParent] {
        match source.parent(key) {
            None => {}
            Some(Ok(valid)) => {
                parent = Some(valid);
                break;
            }
            Some(Err((error, value))) => rejected(key.name(), value, &error),
        }
    }
    // `tracestate` only travels with a parent: not even looked up without.
    let state = match parent
        .as_ref()
        .and_then(|_| joined(source, Key::TraceState, Key::AlamosTraceState))
    {
        Some(value) => TraceState::parse(&value).unwrap_or_else(|error| {
            rejected(TRACESTATE, &value, &error);
            TraceState::default()
        }),
        None => TraceState::default(),
    };
    let baggage = match joined(source, Key::Baggage, Key::AlamosBaggage) {
        Some(value) => Baggage::parse(&value).unwrap_or_else(|error| {
            rejected(BAGGAGE, &value, &error);
            Baggage::default()
        }),
        None => Baggage::default(),
    };
    RemoteContext {
        parent,
        state,
        baggage,
    }
}

/// Runs `f` as the continuation of the request whose headers are `carrier`:
/// the first instrumented call in `f` becomes a child of the remote span.
///
/// Shorthand for `depropagate(carrier).in_scope(f)`.
#[doc(alias = "extract")]
pub fn with_parent<C: Carrier + ?Sized, R>(carrier: &C, f: impl FnOnce() -> R) -> R {
    depropagate(carrier).in_scope(f)
}

/// Writes the current trace context into `carrier`, so the receiver of a
/// request continues this trace as a child of the current span.
///
/// Writes `traceparent` (always version `00`, flags as this span has them),
/// `tracestate` when it is not empty, and `baggage` when there is some. With
/// nothing to propagate it writes nothing.
///
/// With the `otel` feature, "current" is the current OpenTelemetry context:
/// the innermost entered span, or an entered [`RemoteContext`] if no span was
/// entered after it. Without it, spans have no W3C ids and this process is a
/// transparent hop: the innermost entered [`RemoteContext`] is forwarded as
/// received, so a downstream service joins the caller's trace as a child of
/// the caller's span.
///
/// OpenTelemetry calls this *injecting* a context.
#[doc(alias = "inject")]
pub fn propagate<C: Carrier + ?Sized>(carrier: &mut C) {
    current().inject(carrier);
}

/// The context [`propagate`] writes.
#[cfg(feature = "otel")]
fn current() -> RemoteContext {
    use opentelemetry::baggage::BaggageExt as _;
    use opentelemetry::trace::TraceContextExt as _;

    let cx = opentelemetry::Context::current();
    let span = cx.span();
    let span_context = span.span_context();
    let untraced = crate::sampling::current();
    let parent = if span_context.is_valid() {
        // Inside an untraced call the current context is the remote parent
        // it continues (or a span of another crate): its ids, not sampled.
        let flags = span_context.trace_flags().to_u8();
        TraceParent::new(
            span_context.trace_id().to_bytes(),
            span_context.span_id().to_bytes(),
            if untraced.is_untraced() {
                flags & !1
            } else {
                flags
            },
        )
    } else {
        // An untraced root: the ids its decision stands for.
        untraced
            .untraced_ids()
            .and_then(|(trace_id, parent_id)| TraceParent::new(trace_id, parent_id, 0))
    };
    let state = TraceState::parse(&span_context.trace_state().header()).unwrap_or_default();
    let mut baggage = Baggage::new();
    for (key, (value, metadata)) in cx.baggage() {
        // OpenTelemetry validates keys as tokens too; an odd one is skipped.
        let _ =
            baggage.insert_with_properties(key.to_string(), value.to_string(), metadata.as_str());
    }
    RemoteContext::new(parent, state, baggage)
}

/// The context [`propagate`] writes.
#[cfg(not(feature = "otel"))]
fn current() -> RemoteContext {
    entered::innermost().map_or_else(RemoteContext::default, |cx| (*cx).clone())
}

/// The values of `key` (or else of its `alamos-` spelling), joined with
/// `,`. Allocates nothing when neither is there.
fn joined<S: Source + ?Sized>(source: &S, key: Key, alamos_key: Key) -> Option<String> {
    let mut values = source.all(key);
    if values.is_empty() {
        values = source.all(alamos_key);
    }
    (!values.is_empty()).then(|| values.join(","))
}

fn rejected(key: &str, value: &str, error: &dyn std::error::Error) {
    tracing::debug!(
        target: "alamos::propagate",
        header = key,
        value = excerpt(value),
        %error,
        "ignoring a malformed trace context header"
    );
}

/// At most [`EXCERPT_LEN`] bytes of `value`, cut at a character boundary.
fn excerpt(value: &str) -> &str {
    if value.len() <= EXCERPT_LEN {
        return value;
    }
    let mut end = EXCERPT_LEN;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

/// What entering a [`RemoteContext`] makes current, prepared once (also
/// kept by the tower layers for every poll of a request).
#[derive(Clone, Debug)]
pub(crate) struct ContextScope {
    /// The decision its parent's sampled flag carries; `Trace::NONE`
    /// without a parent (not an `Option`: a word less for the tower layers
    /// to move with every request that has a context).
    trace: Trace,
    #[cfg(feature = "otel")]
    otel: opentelemetry::Context,
    #[cfg(not(feature = "otel"))]
    context: std::sync::Arc<RemoteContext>,
}

impl ContextScope {
    // Without `otel` the context is kept; with it, only what it converts to.
    #[cfg_attr(feature = "otel", allow(clippy::needless_pass_by_value))]
    pub(crate) fn new(context: RemoteContext) -> Self {
        ContextScope {
            trace: context.parent.as_ref().map_or(Trace::NONE, |parent| {
                if parent.is_sampled() {
                    Trace::TRACED
                } else {
                    let id = u128::from_be_bytes(parent.trace_id());
                    #[allow(clippy::cast_possible_truncation)]
                    Trace::untraced(id as u64)
                }
            }),
            #[cfg(feature = "otel")]
            otel: context.to_otel_context(),
            #[cfg(not(feature = "otel"))]
            context: std::sync::Arc::new(context),
        }
    }

    pub(crate) fn enter(&self) -> EnteredContext {
        EnteredContext {
            _trace: (self.trace != Trace::NONE).then(|| self.trace.scope()),
            #[cfg(feature = "otel")]
            _otel: self.otel.clone().attach(),
            #[cfg(not(feature = "otel"))]
            id: entered::push(self.context.clone()),
            _not_send: PhantomData,
        }
    }
}

/// A [`RemoteContext`] entered on this thread; leaves it when dropped.
///
/// Not `Send`: it must be dropped on the thread that entered it.
#[must_use = "the context is left when this guard is dropped"]
pub struct EnteredContext {
    _trace: Option<TraceScope>,
    #[cfg(feature = "otel")]
    _otel: opentelemetry::ContextGuard,
    #[cfg(not(feature = "otel"))]
    id: u64,
    _not_send: PhantomData<*const ()>,
}

#[cfg(not(feature = "otel"))]
impl Drop for EnteredContext {
    fn drop(&mut self) {
        entered::remove(self.id);
    }
}

impl fmt::Debug for EnteredContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnteredContext").finish_non_exhaustive()
    }
}

pin_project_lite::pin_project! {
    /// A future that enters a [`RemoteContext`] for every poll; made by
    /// [`RemoteContext::instrument`].
    #[must_use = "futures do nothing unless polled"]
    pub struct WithRemoteContext<F> {
        scope: ContextScope,
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for WithRemoteContext<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _entered = this.scope.enter();
        this.future.poll(cx)
    }
}

impl<F> fmt::Debug for WithRemoteContext<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithRemoteContext")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// Without OpenTelemetry, the entered remote contexts of each thread.
#[cfg(not(feature = "otel"))]
mod entered {
    use std::cell::{Cell, RefCell};
    use std::sync::Arc;

    use super::RemoteContext;

    thread_local! {
        static STACK: RefCell<Vec<(u64, Arc<RemoteContext>)>> = const { RefCell::new(Vec::new()) };
        static NEXT_ID: Cell<u64> = const { Cell::new(0) };
    }

    pub(super) fn push(context: Arc<RemoteContext>) -> u64 {
        let id = NEXT_ID.with(|next| {
            let id = next.get();
            next.set(id.wrapping_add(1));
            id
        });
        STACK.with(|stack| stack.borrow_mut().push((id, context)));
        id
    }

    /// Guards may be dropped out of order; each removes its own entry.
    pub(super) fn remove(id: u64) {
        // `try_with`: a guard dropped during thread teardown has nothing to do.
        let _ = STACK.try_with(|stack| {
            let mut stack = stack.borrow_mut();
            if let Some(index) = stack.iter().rposition(|(entry, _)| *entry == id) {
                stack.remove(index);
            }
        });
    }

    pub(super) fn innermost() -> Option<Arc<RemoteContext>> {
        STACK
            .try_with(|stack| stack.borrow().last().map(|(_, context)| context.clone()))
            .ok()
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::task::{Wake, Waker};

    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03";

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// The `DEBUG` events a closure emits, as `header: message` strings.
    fn debug_events<R>(f: impl FnOnce() -> R) -> (R, Vec<String>) {
        use tracing::field::{Field, Visit};

        #[derive(Default)]
        struct Fields(Vec<String>);
        impl Visit for Fields {
            fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
                self.0.push(format!("{}={value:?}", field.name()));
            }
            fn record_str(&mut self, field: &Field, value: &str) {
                self.0.push(format!("{}={value}", field.name()));
            }
        }

        struct Collect(Arc<Mutex<Vec<String>>>);
        impl tracing::Subscriber for Collect {
            fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
                true
            }
            fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
                tracing::span::Id::from_u64(1)
            }
            fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
            fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
            fn event(&self, event: &tracing::Event<'_>) {
                assert_eq!(*event.metadata().level(), tracing::Level::DEBUG);
                assert_eq!(event.metadata().target(), "alamos::propagate");
                let mut fields = Fields::default();
                event.record(&mut fields);
                self.0.lock().unwrap().push(fields.0.join(" "));
            }
            fn enter(&self, _: &tracing::span::Id) {}
            fn exit(&self, _: &tracing::span::Id) {}
        }

        let events = Arc::new(Mutex::new(Vec::new()));
        let result = tracing::subscriber::with_default(Collect(events.clone()), f);
        let events = events.lock().unwrap().clone();
        (result, events)
    }

    #[test]
    fn maps_match_keys_case_insensitively() {
        let mut headers = map(&[("TraceParent", PARENT)]);
        assert_eq!(Carrier::get(&headers, "traceparent"), Some(PARENT));
        headers.set("traceparent", "x".to_owned());
        assert_eq!(headers.len(), 1, "set replaces the key in any case");
        assert_eq!(
            HashMap::get(&headers, "traceparent").map(String::as_str),
            Some("x")
        );

        let mut tree: BTreeMap<String, String> = BTreeMap::new();
        tree.insert("BAGGAGE".to_owned(), "a=1".to_owned());
        assert_eq!(Carrier::get(&tree, "baggage"), Some("a=1"));
        assert_eq!(tree.get_all("baggage"), ["a=1"]);
        tree.set("baggage", "b=2".to_owned());
        assert_eq!(tree.len(), 1);
        assert_eq!(Carrier::get(&tree, "Baggage"), Some("b=2"));
        assert_eq!(Carrier::get(&tree, "tracestate"), None);
        assert!(tree.get_all("tracestate").is_empty());
    }

    #[test]
    fn depropagate_reads_every_part() {
        let headers = map(&[
            ("Traceparent", PARENT),
            ("TRACESTATE", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
            ("baggage", "tenant=acme,region=eu%20west"),
        ]);
        let (cx, events) = debug_events(|| depropagate(&headers));
        assert!(events.is_empty(), "{events:?}");
        let parent = cx.parent().unwrap();
        assert_eq!(parent.to_string(), PARENT);
        assert_eq!(parent.flags(), 3);
        assert_eq!(cx.trace_state().get("congo"), Some("t61rcWkgMzE"));
        assert_eq!(cx.baggage().get("region"), Some("eu west"));
        assert!(!cx.is_empty());
    }

    #[test]
    fn depropagate_accepts_the_alamos_spelling() {
        for key in [
            "alamos-traceparent",
            "Alamos-TraceParent",
            "ALAMOS-TRACEPARENT",
        ] {
            let headers = map(&[(key, PARENT), ("alamos-tracestate", "a=1")]);
            let cx = depropagate(&headers);
            assert_eq!(
                cx.parent().map(ToString::to_string).as_deref(),
                Some(PARENT),
                "{key}"
            );
            assert_eq!(cx.trace_state().get("a"), Some("1"));
        }
        // The W3C name wins when both are there.
        let other = "00-11111111111111111111111111111111-2222222222222222-01";
        let both = map(&[("alamos-traceparent", other), ("traceparent", PARENT)]);
        assert_eq!(depropagate(&both).parent().unwrap().to_string(), PARENT);
        // A malformed W3C header falls back to a valid alamos one.
        let fallback = map(&[("traceparent", "garbage"), ("alamos-traceparent", other)]);
        let (cx, events) = debug_events(|| depropagate(&fallback));
        assert_eq!(cx.parent().unwrap().to_string(), other);
        assert_eq!(events.len(), 1);
    }

    #[test]
    fn malformed_headers_start_a_new_trace_with_a_debug_event() {
        let zero_trace = "00-00000000000000000000000000000000-00f067aa0ba902b7-01";
        let zero_span = "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01";
        let version_ff = "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let short = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7";
        let non_hex = "00-4bf92f3577b34da6a3ce929d0e0e473x-00f067aa0ba902b7-01";
        let huge = "z".repeat(100_000);
        for value in [zero_trace, zero_span, version_ff, short, non_hex, "", &huge] {
            let headers = map(&[("traceparent", value), ("tracestate", "a=1")]);
            let (cx, events) = debug_events(|| depropagate(&headers));
            assert_eq!(cx.parent(), None, "{value:.60}");
            assert!(
                cx.trace_state().is_empty(),
                "no tracestate without a parent"
            );
            assert_eq!(events.len(), 1, "{events:?}");
            assert!(events[0].contains("header=traceparent"), "{events:?}");
            assert!(
                events[0].len() < 400,
                "the value is quoted in part: {}",
                events[0].len()
            );
        }
    }

    #[test]
    fn a_bad_tracestate_or_baggage_is_dropped_alone() {
        let headers = map(&[
            ("traceparent", PARENT),
            ("tracestate", "UPPER=1"),
            ("baggage", "k=a b"),
        ]);
        let (cx, events) = debug_events(|| depropagate(&headers));
        assert!(cx.parent().is_some());
        assert!(cx.trace_state().is_empty());
        assert!(cx.baggage().is_empty());
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(events[0].contains("header=tracestate"));
        assert!(events[1].contains("header=baggage"));
    }

    #[test]
    fn baggage_travels_without_a_parent() {
        let cx = depropagate(&map(&[("baggage", "k=v")]));
        assert!(cx.parent().is_none());
        assert_eq!(cx.baggage().get("k"), Some("v"));
        assert!(!cx.is_empty());
        assert!(depropagate(&map(&[])).is_empty());
    }

    #[test]
    fn inject_writes_what_was_received() {
        let received = map(&[
            ("traceparent", PARENT),
            ("tracestate", "a=1, b=2"),
            ("baggage", "k=v%20w;p"),
        ]);
        let mut out = map(&[("TRACEPARENT", "stale")]);
        depropagate(&received).inject(&mut out);
        assert_eq!(
            out,
            map(&[
                ("traceparent", PARENT),
                ("tracestate", "a=1,b=2"),
                ("baggage", "k=v%20w;p"),
            ])
        );
        let mut nothing = map(&[]);
        RemoteContext::default().inject(&mut nothing);
        assert!(nothing.is_empty());
    }

    #[test]
    fn remote_context_new_drops_state_without_parent() {
        let state = TraceState::parse("a=1").unwrap();
        assert!(RemoteContext::new(None, state.clone(), Baggage::new())
            .trace_state()
            .is_empty());
        let parent = TraceParent::parse(PARENT).ok();
        assert_eq!(
            RemoteContext::new(parent, state.clone(), Baggage::new()).trace_state(),
            &state
        );
    }

    #[test]
    fn excerpt_cuts_at_a_character_boundary() {
        assert_eq!(excerpt("short"), "short");
        let long = "é".repeat(100);
        let cut = excerpt(&long);
        assert!(cut.len() <= EXCERPT_LEN && cut.len() >= EXCERPT_LEN - 1);
        assert!(long.starts_with(cut));
    }

    #[test]
    fn propagate_writes_nothing_outside_any_context() {
        let mut out = map(&[]);
        propagate(&mut out);
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn entering_makes_the_context_current_until_dropped() {
        let outer = depropagate(&map(&[("traceparent", PARENT), ("baggage", "k=outer")]));
        let inner_parent = "00-11111111111111111111111111111111-2222222222222222-01";
        let inner = depropagate(&map(&[("traceparent", inner_parent)]));
        let written = || {
            let mut out = map(&[]);
            propagate(&mut out);
            out.get("traceparent").cloned()
        };
        let outer_guard = outer.enter();
        assert_eq!(written().as_deref(), Some(PARENT));
        {
            let _inner = inner.clone().enter();
            assert_eq!(written().as_deref(), Some(inner_parent));
        }
        assert_eq!(written().as_deref(), Some(PARENT));
        drop(outer_guard);
        assert_eq!(written(), None);
        assert_eq!(inner.in_scope(written).as_deref(), Some(inner_parent));
        assert_eq!(
            with_parent(&map(&[("traceparent", PARENT)]), written).as_deref(),
            Some(PARENT)
        );
        // A context without a parent hides an outer one: a new trace.
        let _outer = depropagate(&map(&[("traceparent", PARENT)])).enter();
        assert_eq!(RemoteContext::default().in_scope(written), None);
    }

    #[test]
    fn entered_baggage_is_propagated() {
        let cx = depropagate(&map(&[("baggage", "tenant=acme;ttl=5,city=Z%C3%BCrich")]));
        let mut out = map(&[]);
        cx.in_scope(|| propagate(&mut out));
        let baggage = Baggage::parse(out.get("baggage").unwrap()).unwrap();
        assert_eq!(baggage.get("tenant"), Some("acme"));
        assert_eq!(baggage.properties("tenant"), Some("ttl=5"));
        assert_eq!(baggage.get("city"), Some("Zürich"));
        assert!(!out.contains_key("traceparent"));
    }

    #[test]
    fn guards_dropped_out_of_order() {
        let a = "00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-aaaaaaaaaaaaaaaa-01";
        let b = "00-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-bbbbbbbbbbbbbbbb-01";
        let first = depropagate(&map(&[("traceparent", a)])).enter();
        let second = depropagate(&map(&[("traceparent", b)])).enter();
        drop(first);
        let mut out = map(&[]);
        propagate(&mut out);
        assert_eq!(out.get("traceparent").map(String::as_str), Some(b));
        drop(second);
        let mut out = map(&[]);
        propagate(&mut out);
        assert!(out.is_empty());
    }

    struct NoopWake;
    impl Wake for NoopWake {
        fn wake(self: Arc<Self>) {}
    }

    /// Polls `future` to completion, counting polls.
    fn block_on<F: Future>(future: F) -> (F::Output, usize) {
        let waker = Waker::from(Arc::new(NoopWake));
        let mut cx = Context::from_waker(&waker);
        let mut future = std::pin::pin!(future);
        let mut polls = 0;
        loop {
            polls += 1;
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return (output, polls);
            }
        }
    }

    /// Pending once, then ready.
    struct YieldOnce(bool);
    impl Future for YieldOnce {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                Poll::Ready(())
            } else {
                self.0 = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }

    #[test]
    fn instrumented_futures_enter_for_every_poll() {
        let written = || {
            let mut out = map(&[]);
            propagate(&mut out);
            out.get("traceparent").cloned()
        };
        let future = depropagate(&map(&[("traceparent", PARENT)])).instrument(async move {
            let first = written();
            YieldOnce(false).await;
            (first, written())
        });
        assert_eq!(written(), None, "nothing is entered before polling");
        let ((first, second), polls) = block_on(future);
        assert_eq!(polls, 2);
        assert_eq!(first.as_deref(), Some(PARENT));
        assert_eq!(second.as_deref(), Some(PARENT));
        assert_eq!(written(), None, "nothing stays entered between polls");
    }

    #[cfg(feature = "http")]
    #[test]
    fn header_maps_are_carriers() {
        let mut headers = http::HeaderMap::new();
        headers.insert("TraceParent", PARENT.parse().unwrap());
        headers.append("tracestate", "a=1".parse().unwrap());
        headers.append("tracestate", "b=2".parse().unwrap());
        headers.insert("baggage", http::HeaderValue::from_bytes(b"k=\xff").unwrap());
        assert_eq!(Carrier::get(&headers, "TRACEPARENT"), Some(PARENT));
        assert_eq!(Carrier::get_all(&headers, "tracestate"), ["a=1", "b=2"]);
        assert_eq!(Carrier::get(&headers, "baggage"), None, "not visible ASCII");
        let cx = depropagate(&headers);
        assert_eq!(cx.trace_state().to_string(), "a=1,b=2");

        let mut out = http::HeaderMap::new();
        out.insert("tracestate", "stale".parse().unwrap());
        cx.inject(&mut out);
        assert_eq!(out.get_all("tracestate").iter().count(), 1);
        assert_eq!(out["tracestate"], "a=1,b=2");
        assert_eq!(out["traceparent"], PARENT);
        // Values a header cannot hold are not stored.
        Carrier::set(&mut out, "x-bad", "line\nbreak".to_owned());
        Carrier::set(&mut out, "bad key", "v".to_owned());
        assert_eq!(out.len(), 2);
    }

    /// The tower layers' reader gives what `depropagate` gives for every
    /// mix of keys: either spelling, split values, a malformed parent, a
    /// map past the one-pass scan's size, and none at all.
    #[cfg(feature = "tower")]
    #[test]
    fn headers_read_by_static_names_agree_with_depropagate() {
        let malformed = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7";
        let cases: &[&[(&str, &str)]] = &[
            &[],
            &[("content-type", "text/plain"), ("host", "a")],
            &[("traceparent", PARENT)],
            &[("alamos-traceparent", PARENT), ("alamos-tracestate", "a=1")],
            &[("traceparent", malformed), ("alamos-traceparent", PARENT)],
            &[(
                "traceparent",
                "\t00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ",
            )],
            &[(
                "traceparent",
                "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            )],
            &[(
                "traceparent",
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            )],
            &[(
                "traceparent",
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            )],
            &[
                ("traceparent", PARENT),
                ("tracestate", "a=1"),
                ("tracestate", "b=2"),
            ],
            &[("tracestate", "a=1"), ("baggage", "k=v")],
            &[("alamos-baggage", "k=v"), ("user-agent", "x")],
            &[("baggage", "k=v"), ("alamos-baggage", "other=1")],
        ];
        for case in cases {
            for padding in [0, 40] {
                let mut headers = http::HeaderMap::new();
                for i in 0..padding {
                    headers.insert(
                        http::HeaderName::from_bytes(format!("x-pad-{i}").as_bytes()).unwrap(),
                        "1".parse().unwrap(),
                    );
                }
                for (key, value) in *case {
                    headers.append(*key, value.parse().unwrap());
                }
                assert_eq!(
                    depropagate_headers(&headers).unwrap_or_default(),
                    depropagate(&headers),
                    "{case:?} with {padding} more headers"
                );
                assert_eq!(
                    depropagate_headers(&headers).is_none(),
                    depropagate(&headers).is_empty(),
                    "{case:?} with {padding} more headers: `None` for an empty context"
                );
            }
        }
        let mut both = http::HeaderMap::new();
        both.insert("alamos-traceparent", PARENT.parse().unwrap());
        both.insert("baggage", "k=v".parse().unwrap());
        let cx = depropagate_headers(&both).expect("a context");
        assert_eq!(
            cx.parent().map(ToString::to_string).as_deref(),
            Some(PARENT)
        );
        assert_eq!(cx.baggage().get("k"), Some("v"));
    }
}
