//! The site of one route of one layer: its gate in the experiment tree, its
//! span's `tracing` callsite, its root trace probability and its call
//! metric handles, built once per (key, level, side, route) and leaked.
//!
//! A route is known only at run time, so there is no macro-built static
//! for it: the site's span callsite is a [`DynCallsite`] named
//! `"<key>.<route>"` (a leaked string), as a task's is (`src/task/site.rs`). What a request
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
//!
//! # Found without a lock
//!
//! Every request looks its route's site up, so the lookup takes no lock:
//! each layer's sites sit in a fixed table of [`SLOTS`] write-once slots
//! (open addressing, linear probing, a hash of the route read eight bytes
//! at a time), filled under a mutex when a route is first seen and never
//! emptied. With at most
//! `MAX_ROUTES + 1` sites in twice as many slots, a probe stays short and
//! always reaches an empty slot; one that finds none takes the mutex and
//! looks again.

use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use tracing::field::Value;
use tracing::Span;

use crate::dynsite::DynCallsite;
use crate::level::Level;
use crate::metric::calls::{CallHandles, CallLabels};
use crate::metric::sink::{HandleCache, HandleRef};
use crate::sampling::SampleRate;
use crate::tree::{Gate, Interest};

/// The routes one layer keeps apart; more fold into [`OTHER`].
pub(crate) const MAX_ROUTES: usize = 256;

/// The route of the requests past [`MAX_ROUTES`].
pub(crate) const OTHER: &str = "other";

/// The slots of a layer's route table: a power of two, at least twice the
/// sites it can hold (`MAX_ROUTES` and [`OTHER`]).
const SLOTS: usize = 2 * MAX_ROUTES;
const _: () = assert!(SLOTS.is_power_of_two() && SLOTS > MAX_ROUTES + 1);

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
    /// The sites, read without a lock (see the module docs); [`SLOTS`] long.
    table: Box<[OnceLock<&'static Site>]>,
    /// How many sites the table holds; held while one is added.
    sites: Mutex<usize>,
    /// Whether the fold into [`OTHER`] was reported.
    reported: AtomicBool,
}

/// A hash of `route` read eight bytes at a time (wyhash's way of reading
/// a short key: overlapping words, no loop over its bytes for up to 16), each word
/// folded in by a multiply whose high half is mixed back into the low bits
/// the slot is taken from. Resisting collision attacks is moot: a layer
/// holds at most [`MAX_ROUTES`] routes.
#[inline]
fn hash(route: &str) -> usize {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    /// The 128-bit product's halves folded together: every input bit
    /// reaches the low bits.
    #[inline(always)]
    fn mix(a: u64, b: u64) -> u64 {
        let product = u128::from(a) * u128::from(b);
        // Truncations are the point: the halves of the product.
        #[allow(clippy::cast_possible_truncation)]
        let folded = (product as u64) ^ ((product >> 64) as u64);
        folded
    }
    let bytes = route.as_bytes();
    let len = bytes.len();
    let word = |at: usize| word(bytes, at);
    let half = |at: usize| {
        let mut half = [0u8; 4];
        half.copy_from_slice(&bytes[at..at + 4]);
        u64::from(u32::from_le_bytes(half))
    };
    let mut hash = K ^ len as u64;
    let (first, last) = if len >= 8 {
        let mut at = 0;
        while len - at > 16 {
            hash = mix(hash ^ word(at), K);
            at += 8;
        }
        (word(at), word(len - 8))
    } else if len >= 4 {
        (half(0), half(len - 4))
    } else if len > 0 {
        (
            u64::from(bytes[0]) | u64::from(bytes[len / 2]) << 8,
            u64::from(bytes[len - 1]),
        )
    } else {
        (0, 0)
    };
    hash = mix(hash ^ first, K ^ last);
    // Truncation is fine: only the low bits pick a slot.
    #[allow(clippy::cast_possible_truncation)]
    let hash = hash as usize;
    hash
}

/// Eight bytes of `bytes` from `at`.
#[inline(always)]
fn word(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

/// `a == b`, eight bytes at a time inline: a route found again is
/// compared on every request, and `memcmp`'s call costs more than the
/// compare for strings this short.
#[inline(always)]
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let len = a.len();
    if len != b.len() {
        return false;
    }
    if len < 8 {
        return a == b;
    }
    let mut at = 0;
    while at + 8 < len {
        if word(a, at) != word(b, at) {
            return false;
        }
        at += 8;
    }
    word(a, len - 8) == word(b, len - 8)
}

/// Where `route` is in `table`, or the empty slot where it would go; `None`
/// if neither came up in a whole round (never, while the table keeps free
/// slots).
#[inline(always)]
fn probe(table: &[OnceLock<&'static Site>], route: &str) -> Option<Result<&'static Site, usize>> {
    let mut slot = hash(route);
    for _ in 0..table.len() {
        slot &= table.len() - 1;
        match table[slot].get() {
            Some(site) if same(site.route, route) => return Some(Ok(site)),
            Some(_) => slot += 1,
            None => return Some(Err(slot)),
        }
    }
    None
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
            table: (0..SLOTS).map(|_| OnceLock::new()).collect(),
            sites: Mutex::new(0),
            reported: AtomicBool::new(false),
        }));
        all.push(routes);
        routes
    }

    /// The site of `route`: a hash and a probe, no lock, once it exists.
    #[inline]
    pub(crate) fn site(&'static self, route: &str) -> &'static Site {
        match probe(&self.table, route) {
            Some(Ok(site)) => site,
            _ => self.add(route),
        }
    }

    #[cold]
    #[inline(never)]
    fn add(&'static self, route: &str) -> &'static Site {
        let mut sites = self.sites.lock().unwrap_or_else(PoisonError::into_inner);
        let route = match probe(&self.table, route) {
            Some(Ok(site)) => return site,
            _ if *sites >= MAX_ROUTES => {
                if !self.reported.swap(true, Ordering::Relaxed) {
                    eprintln!(
                        "alamos: {}: more than {MAX_ROUTES} routes; further ones are counted as {OTHER:?} \
                         (is the route a template, not the raw path?)",
                        self.key
                    );
                }
                OTHER
            }
            _ => route,
        };
        match probe(&self.table, route) {
            Some(Ok(site)) => site,
            Some(Err(slot)) => {
                let site = Site::new(self, route);
                // Only this thread, holding `sites`, sets a slot.
                let _ = self.table[slot].set(site);
                *sites += 1;
                site
            }
            // UNWRAP: the table holds at most `MAX_ROUTES + 1` sites in
            // `SLOTS` slots (checked at compile time), so a probe always
            // ends at the route or a free slot.
            None => unreachable!("a route table with no free slot"),
        }
    }
}

/// One route's gate, span callsite, probability and handles. Leaked.
pub(crate) struct Site {
    key: &'static str,
    route: &'static str,
    level: Level,
    side: Side,
    interest: Interest,
    sample: SampleRate,
    callsite: DynCallsite,
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
            callsite: DynCallsite::new(),
            handles: HandleCache::new(),
        }));
        site.callsite.register(
            name,
            "alamos::tower",
            routes.level.as_tracing(),
            &SPAN_FIELDS,
        );
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

    #[inline]
    pub(crate) fn handles(&self) -> HandleRef<CallHandles> {
        self.handles.get(&self.labels())
    }

    fn labels(&self) -> CallLabels {
        CallLabels {
            experiment: self.key,
            function: self.route,
        }
    }

    /// What a failed request through this site is exported as, untraced:
    /// its `method`, and the status its response failed by, if it did.
    #[cfg(feature = "otel")]
    pub(crate) fn failure(
        &self,
        method: &'static str,
        status: Option<u16>,
        grpc_status: Option<i64>,
    ) -> crate::failure::Request {
        crate::failure::Request {
            experiment: self.key,
            route: self.route,
            level: self.level,
            server: self.side == Side::Server,
            method,
            status,
            grpc_status,
        }
    }

    /// A new span for a request with `method`, or a disabled span when no
    /// subscriber wants it: what `tracing::span!` does, for this metadata.
    pub(crate) fn span(&'static self, method: &str) -> Span {
        let Some(metadata) = self.callsite.enabled() else {
            return Span::none();
        };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_is_found_again_by_its_text() {
        let routes = Routes::of("tower_site_test.found", Level::Prod, Side::Server);
        let first = routes.site("/users/{id}");
        let again = routes.site(&String::from("/users/{id}"));
        assert!(std::ptr::eq(first, again), "one site per route");
        assert_eq!(again.route, "/users/{id}");
        let other = routes.site("/orders/{id}");
        assert!(!std::ptr::eq(first, other));
        assert_eq!(
            Routes::of("tower_site_test.found", Level::Prod, Side::Server)
                .site("/users/{id}")
                .route,
            "/users/{id}"
        );
        assert!(
            !std::ptr::eq(
                Routes::of("tower_site_test.found", Level::Prod, Side::Client).site("/users/{id}"),
                first,
            ),
            "each side has its own sites"
        );
    }

    #[test]
    fn routes_past_the_cap_fold_into_other_and_all_are_found_again() {
        let routes = Routes::of("tower_site_test.cap", Level::Prod, Side::Server);
        let names: Vec<String> = (0..MAX_ROUTES + 40).map(|i| format!("/r{i}")).collect();
        let sites: Vec<&'static Site> = names.iter().map(|name| routes.site(name)).collect();
        for (name, site) in names.iter().zip(&sites) {
            let again = routes.site(name);
            assert!(std::ptr::eq(*site, again), "{name}");
        }
        let kept = names[..MAX_ROUTES].iter().zip(&sites);
        for (name, site) in kept {
            assert_eq!(site.route, name.as_str());
        }
        for site in &sites[MAX_ROUTES..] {
            assert_eq!(site.route, OTHER);
        }
        assert_eq!(
            *routes.sites.lock().unwrap(),
            MAX_ROUTES + 1,
            "the kept routes and `other`"
        );
        let filled = routes
            .table
            .iter()
            .filter(|slot| slot.get().is_some())
            .count();
        assert_eq!(filled, MAX_ROUTES + 1);
    }

    #[test]
    fn routes_of_every_length_are_told_apart_and_found_again() {
        // Every branch of `hash` and `same`: empty, under 4, under 8, one
        // word, two overlapping words, and the loop past 16 bytes; each
        // route beside one that differs only in its last or first byte.
        let routes = Routes::of("tower_site_test.lengths", Level::Prod, Side::Server);
        let mut names = Vec::new();
        for len in 0..40 {
            let name: String = (0..len)
                .map(|i| char::from(b'a' + u8::try_from(i % 26).unwrap()))
                .collect();
            names.push(name.clone());
            if len > 0 {
                let mut last = name.clone().into_bytes();
                last[len - 1] = b'_';
                names.push(String::from_utf8(last).unwrap());
                let mut first = name.into_bytes();
                first[0] = b'/';
                names.push(String::from_utf8(first).unwrap());
            }
        }
        let sites: Vec<&'static Site> = names.iter().map(|name| routes.site(name)).collect();
        for (name, site) in names.iter().zip(&sites) {
            assert_eq!(site.route, name.as_str());
            assert!(std::ptr::eq(routes.site(&name.clone()), *site), "{name:?}");
        }
        for a in &names {
            for b in &names {
                assert_eq!(same(a, b), a == b, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn the_hash_spreads_similar_routes() {
        let slots: std::collections::HashSet<usize> = (0..64)
            .map(|i| hash(&format!("/r{i}")) & (SLOTS - 1))
            .collect();
        assert!(slots.len() > 48, "{} distinct slots of 64", slots.len());
    }
}
