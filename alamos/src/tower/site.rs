//! The site of one route of one layer: its gate in the experiment tree, its
//! span's `tracing` callsite, its root trace probability and its call
//! metric handles, built once per (key, level, side, route) and leaked.
//!
//! A route is known only at run time, so there is no macro-built static
//! for it: the site hand-builds its span's metadata (named
//! `"<key>.<route>"`, a leaked string) and registers itself with `tracing`
//! as a callsite, as a task's site does (`src/task/site.rs`). What a request
//! records goes through the same [`Recording`](crate::call::Recording) as an
//! instrumented function's call: the same series, in-flight gauge and
//! exemplars.
//!
//! # Bounded
//!
//! Sites are leaked, so their number must stay bounded: a route is a
//! template (axum's `MatchedPath`, a gRPC method) or the HTTP method, never
//! the raw path. A layer holds at most [`MAX_ROUTES`] routes; further ones
//! fold into the route [`OTHER`], reported once on stderr.

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError, RwLock};

use tracing::field::{FieldSet, Value};
use tracing::{Metadata, Span};

use crate::level::Level;
use crate::metric::calls::{CallHandles, CallLabels};
use crate::metric::sink::{HandleCache, HandleRef};
use crate::sampling::SampleRate;
use crate::tree::{Gate, Interest};

/// The routes one layer keeps apart; more fold into [`OTHER`].
pub(crate) const MAX_ROUTES: usize = 256;

/// The route of the requests past [`MAX_ROUTES`].
pub(crate) const OTHER: &str = "other";

/// Which end of a request a layer instruments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Side {
    Server,
    Client,
}

impl Side {
    /// What `tracing-opentelemetry` reads as the span kind.
    fn otel_kind(self) -> &'static str {
        match self {
            Side::Server => "server",
            Side::Client => "client",
        }
    }
}

/// The fields of a request's span, in this order.
static SPAN_FIELDS: [&str; 7] = [
    "alamos.experiment",
    "otel.kind",
    "http.request.method",
    "http.route",
    "http.response.status_code",
    "rpc.grpc.status_code",
    crate::callsite::STATUS_FIELD,
];

pub(crate) const STATUS_CODE: &str = "http.response.status_code";
pub(crate) const GRPC_STATUS_CODE: &str = "rpc.grpc.status_code";

/// The sites of one layer's key, level and side, by route.
pub(crate) struct Routes {
    key: &'static str,
    level: Level,
    side: Side,
    sites: RwLock<HashMap<Box<str>, &'static Site>>,
    /// Whether the fold into [`OTHER`] was reported.
    reported: AtomicBool,
}

/// Every layer's routes. Looked up when a layer wraps a service, not per
/// request.
static ROUTES: Mutex<Vec<&'static Routes>> = Mutex::new(Vec::new());

impl Routes {
    /// The routes of `key` at `level` on `side`, shared by every layer that
    /// names them, so two layers of one key and route share one site.
    pub(crate) fn of(key: &'static str, level: Level, side: Side) -> &'static Routes {
        let mut all = ROUTES.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(routes) = all
            .iter()
            .find(|r| r.key == key && r.level == level && r.side == side)
        {
            return routes;
        }
        let routes: &'static Routes = Box::leak(Box::new(Routes {
            key,
            level,
            side,
            sites: RwLock::new(HashMap::new()),
            reported: AtomicBool::new(false),
        }));
        all.push(routes);
        routes
    }

    /// The site of `route`: a read lock and a hash lookup once it exists.
    pub(crate) fn site(&'static self, route: &str) -> &'static Site {
        if let Some(site) = self
            .sites
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(route)
        {
            return site;
        }
        self.add(route)
    }

    #[cold]
    #[inline(never)]
    fn add(&'static self, route: &str) -> &'static Site {
        let mut sites = self.sites.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(site) = sites.get(route) {
            return site;
        }
        let route = if sites.len() >= MAX_ROUTES {
            if !self.reported.swap(true, Ordering::Relaxed) {
                eprintln!(
                    "alamos: {}: more than {MAX_ROUTES} routes; further ones are counted as {OTHER:?} \
                     (is the route a template, not the raw path?)",
                    self.key
                );
            }
            if let Some(site) = sites.get(OTHER) {
                return site;
            }
            OTHER
        } else {
            route
        };
        let site = Site::new(self, route);
        sites.insert(route.into(), site);
        site
    }
}

const NEVER: u8 = 0;
const SOMETIMES: u8 = 1;
const ALWAYS: u8 = 2;

/// One route's gate, span callsite, probability and handles. Leaked.
pub(crate) struct Site {
    key: &'static str,
    route: &'static str,
    level: Level,
    side: Side,
    interest: Interest,
    sample: SampleRate,
    metadata: OnceLock<Metadata<'static>>,
    subscribers: AtomicU8,
    handles: HandleCache<CallHandles>,
}

impl Site {
    fn new(routes: &Routes, route: &str) -> &'static Site {
        let route: &'static str = Box::leak(route.into());
        let name: &'static str = Box::leak(format!("{}.{route}", routes.key).into_boxed_str());
        let site: &'static Site = Box::leak(Box::new(Site {
            key: routes.key,
            route,
            level: routes.level,
            side: routes.side,
            interest: Interest::new(),
            sample: SampleRate::new(),
            metadata: OnceLock::new(),
            subscribers: AtomicU8::new(SOMETIMES),
            handles: HandleCache::new(),
        }));
        let _ = site.metadata.set(Metadata::new(
            name,
            "alamos::tower",
            routes.level.as_tracing(),
            None,
            None,
            None,
            FieldSet::new(&SPAN_FIELDS, tracing::callsite::Identifier(site)),
            tracing::metadata::Kind::SPAN,
        ));
        tracing::callsite::register(site);
        // Registers the gate with the tree: the key is an experiment, its
        // threshold and probability cached here from now on.
        let _ = site.interest.is_enabled(site);
        site
    }

    /// Whether requests through this site are recorded right now.
    #[inline]
    pub(crate) fn is_enabled(&'static self) -> bool {
        self.interest.is_enabled(self)
    }

    pub(crate) fn sample(&self) -> &SampleRate {
        &self.sample
    }

    pub(crate) fn handles(&self) -> HandleRef<CallHandles> {
        self.handles.get(&self.labels())
    }

    fn labels(&self) -> CallLabels {
        CallLabels {
            experiment: self.key,
            function: self.route,
        }
    }

    /// A new span for a request with `method`, or a disabled span when no
    /// subscriber wants it: what `tracing::span!` does, for this metadata.
    pub(crate) fn span(&'static self, method: &str) -> Span {
        let Some(metadata) = self.metadata.get() else {
            return Span::none();
        };
        let level = *metadata.level();
        if level > tracing::level_filters::STATIC_MAX_LEVEL
            || level > tracing::level_filters::LevelFilter::current()
        {
            return Span::none();
        }
        let subscribers = self.subscribers.load(Ordering::Relaxed);
        if subscribers == NEVER
            || (subscribers != ALWAYS
                && !tracing::dispatcher::get_default(|dispatch| dispatch.enabled(metadata)))
        {
            return Span::none();
        }
        let fields = metadata.fields();
        let mut names = fields.iter();
        let (Some(experiment), Some(kind), Some(method_field), Some(route)) =
            (names.next(), names.next(), names.next(), names.next())
        else {
            return Span::none();
        };
        let side = self.side.otel_kind();
        Span::new(
            metadata,
            &fields.value_set(&[
                (&experiment, Some(&self.key as &dyn Value)),
                (&kind, Some(&side as &dyn Value)),
                (&method_field, Some(&method as &dyn Value)),
                (&route, Some(&self.route as &dyn Value)),
            ]),
        )
    }
}

impl tracing::callsite::Callsite for Site {
    fn set_interest(&self, interest: tracing::subscriber::Interest) {
        let value = if interest.is_never() {
            NEVER
        } else if interest.is_always() {
            ALWAYS
        } else {
            SOMETIMES
        };
        self.subscribers.store(value, Ordering::Relaxed);
    }

    fn metadata(&self) -> &Metadata<'_> {
        // UNWRAP: set in `Site::new` before the site is registered with
        // `tracing`, the only way `tracing` reaches it.
        self.metadata
            .get()
            .expect("a route's span metadata is set before it is registered")
    }
}

impl Gate for Site {
    fn experiment(&self) -> &'static str {
        self.key
    }
    fn level(&self) -> Level {
        self.level
    }
    fn interest(&self) -> &Interest {
        &self.interest
    }
    fn trace_sample(&self) -> Option<&SampleRate> {
        Some(&self.sample)
    }
    fn enabled(&self) {
        self.handles.preregister(&self.labels());
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl std::fmt::Debug for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Site")
            .field("key", &self.key)
            .field("route", &self.route)
            .field("level", &self.level)
            .finish_non_exhaustive()
    }
}
