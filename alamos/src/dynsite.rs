//! A span callsite built at run time, for spans whose name is known only
//! then: a task's key (`task/site.rs`), a layer's key and route
//! (`tower/site.rs`).
//!
//! A macro-built callsite is a static holding static metadata. A name made
//! at run time has no static to live in, so [`DynCallsite`] holds its
//! metadata in a cell, set once before the callsite is registered with
//! `tracing`, and caches the subscribers' interest as tracing's own
//! `DefaultCallsite` does: `never` and `always` are answered from the
//! cache, `sometimes` asks the current dispatcher. It lives in a leaked
//! site, one per name, and is never freed: its number stays bounded by
//! what creates them (a key, a capped set of routes).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

use tracing::field::FieldSet;
use tracing::Metadata;

/// What the subscribers said, cached.
const NEVER: u8 = 0;
const SOMETIMES: u8 = 1;
const ALWAYS: u8 = 2;

/// A span callsite whose metadata is made at run time (see the module
/// docs).
pub(crate) struct DynCallsite {
    metadata: OnceLock<Metadata<'static>>,
    subscribers: AtomicU8,
}

impl DynCallsite {
    /// A callsite with no metadata yet; [`DynCallsite::register`] it.
    pub(crate) const fn new() -> Self {
        DynCallsite {
            metadata: OnceLock::new(),
            subscribers: AtomicU8::new(SOMETIMES),
        }
    }

    /// Makes the span metadata `name` (target `target`, `level`, `fields`
    /// in this order) and registers this callsite with `tracing`, which
    /// asks every subscriber for its interest. Once per callsite: a later
    /// call changes nothing.
    pub(crate) fn register(
        &'static self,
        name: &'static str,
        target: &'static str,
        level: tracing::Level,
        fields: &'static [&'static str],
    ) {
        let fresh = self
            .metadata
            .set(Metadata::new(
                name,
                target,
                level,
                None,
                None,
                None,
                FieldSet::new(fields, tracing::callsite::Identifier(self)),
                tracing::metadata::Kind::SPAN,
            ))
            .is_ok();
        if fresh {
            tracing::callsite::register(self);
        }
    }

    /// The metadata of a span about to be created here, if a subscriber
    /// wants it now: the checks `tracing::span!` makes (the static and the
    /// global level ceilings, the cached interest, then the current
    /// dispatcher when that interest is `sometimes`).
    pub(crate) fn enabled(&self) -> Option<&Metadata<'static>> {
        let metadata = self.metadata.get()?;
        let level = *metadata.level();
        if level > tracing::level_filters::STATIC_MAX_LEVEL
            || level > tracing::level_filters::LevelFilter::current()
        {
            return None;
        }
        let cached = self.subscribers.load(Ordering::Relaxed);
        wanted(cached, || {
            tracing::dispatcher::get_default(|dispatch| dispatch.enabled(metadata))
        })
        .then_some(metadata)
    }
}

/// Whether a span is wanted, given the cached interest: `ask` the
/// dispatcher only when that interest is `sometimes`.
fn wanted(cached: u8, ask: impl FnOnce() -> bool) -> bool {
    match cached {
        NEVER => false,
        ALWAYS => true,
        _ => ask(),
    }
}

impl tracing::callsite::Callsite for DynCallsite {
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
        // UNWRAP: set in `register` before the callsite is registered with
        // `tracing`, the only way `tracing` reaches it.
        self.metadata
            .get()
            .expect("a dynamic callsite's metadata is set before it is registered")
    }
}

impl std::fmt::Debug for DynCallsite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynCallsite")
            .field("name", &self.metadata.get().map(Metadata::name))
            .field("subscribers", &self.subscribers.load(Ordering::Relaxed))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    use tracing::callsite::Callsite as _;
    use tracing::span::{Attributes, Id, Record};
    use tracing::subscriber::Interest;
    use tracing::{Event, Subscriber};

    use super::*;

    static FIELDS: [&str; 2] = ["a", "b"];

    fn leaked() -> &'static DynCallsite {
        Box::leak(Box::new(DynCallsite::new()))
    }

    /// A subscriber with a fixed interest that enables spans named
    /// `wanted`, and counts how often it is asked.
    struct Picky {
        interest: fn() -> Interest,
        wanted: &'static str,
        asked: Arc<AtomicUsize>,
    }

    impl Subscriber for Picky {
        fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
            (self.interest)()
        }
        fn enabled(&self, metadata: &Metadata<'_>) -> bool {
            self.asked.fetch_add(1, Ordering::Relaxed);
            metadata.name() == self.wanted
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, _: &Event<'_>) {}
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    fn picky(interest: fn() -> Interest, wanted: &'static str) -> (Picky, Arc<AtomicUsize>) {
        let asked = Arc::new(AtomicUsize::new(0));
        let subscriber = Picky {
            interest,
            wanted,
            asked: asked.clone(),
        };
        (subscriber, asked)
    }

    #[test]
    fn the_metadata_names_this_callsite_and_its_fields() {
        let site = leaked();
        assert!(site.enabled().is_none(), "nothing before it is registered");
        site.register(
            "dynsite.test",
            "alamos::test",
            tracing::Level::INFO,
            &FIELDS,
        );
        let metadata = site.metadata();
        assert_eq!(metadata.name(), "dynsite.test");
        assert_eq!(metadata.target(), "alamos::test");
        assert_eq!(*metadata.level(), tracing::Level::INFO);
        assert!(metadata.is_span());
        let names: Vec<&str> = metadata.fields().iter().map(|f| f.name()).collect();
        assert_eq!(names, FIELDS);
        assert!(
            metadata.callsite() == tracing::callsite::Identifier(site),
            "the fields name this callsite"
        );
        // A second registration keeps the first metadata.
        site.register(
            "dynsite.other",
            "alamos::test",
            tracing::Level::ERROR,
            &FIELDS,
        );
        assert_eq!(site.metadata().name(), "dynsite.test");
    }

    #[test]
    fn the_interest_is_cached_as_tracing_callsites_cache_it() {
        let site = leaked();
        site.register(
            "dynsite.cached",
            "alamos::test",
            tracing::Level::INFO,
            &FIELDS,
        );
        site.set_interest(Interest::never());
        assert_eq!(site.subscribers.load(Ordering::Relaxed), NEVER);
        site.set_interest(Interest::always());
        assert_eq!(site.subscribers.load(Ordering::Relaxed), ALWAYS);
        site.set_interest(Interest::sometimes());
        assert_eq!(site.subscribers.load(Ordering::Relaxed), SOMETIMES);
    }

    #[test]
    fn never_and_always_are_answered_from_the_cache() {
        let asked = std::cell::Cell::new(0);
        let ask = |answer: bool| {
            asked.set(asked.get() + 1);
            answer
        };
        assert!(!wanted(NEVER, || ask(true)));
        assert!(wanted(ALWAYS, || ask(false)));
        assert_eq!(asked.get(), 0, "the dispatcher is not asked");
        assert!(wanted(SOMETIMES, || ask(true)));
        assert!(!wanted(SOMETIMES, || ask(false)));
        assert_eq!(asked.get(), 2);
    }

    /// Interest `sometimes` (what any rebuild gives while this subscriber
    /// is one of those registered): the current dispatcher decides.
    #[test]
    fn sometimes_asks_the_current_dispatcher() {
        let site = leaked();
        site.register(
            "dynsite.asked",
            "alamos::test",
            tracing::Level::ERROR,
            &FIELDS,
        );
        let (wanting, asked) = picky(Interest::sometimes, "dynsite.asked");
        tracing::subscriber::with_default(wanting, || {
            site.set_interest(Interest::sometimes());
            assert!(site.enabled().is_some());
        });
        assert_eq!(asked.load(Ordering::Relaxed), 1);
        let (refusing, asked) = picky(Interest::sometimes, "something else");
        tracing::subscriber::with_default(refusing, || {
            site.set_interest(Interest::sometimes());
            assert!(site.enabled().is_none());
        });
        assert_eq!(asked.load(Ordering::Relaxed), 1);
    }
}
