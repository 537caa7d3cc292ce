//! A task key's site: its gate in the experiment tree, its span's
//! `tracing` callsite and its sampled metrics, built once per key at its
//! first start.
//!
//! Tasks are started with a key known only at run time, so there is no
//! macro-built static callsite for them: the site's span callsite is a
//! [`DynCallsite`], named by the key.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock, PoisonError};

use tracing::field::Value;
use tracing::Span;

use crate::dynsite::DynCallsite;
use crate::key::validate_key;
use crate::level::Level;
use crate::metric::observe::Watch;
use crate::tree::{Gate, Interest};

use super::polls::Polls;

/// The site of every key started so far. Its own lock, not the registry's:
/// building a site calls into `tracing` (a subscriber's `register_callsite`)
/// and the tree, which must be free to read `tasks()`.
static SITES: Mutex<BTreeMap<&'static str, &'static Site>> = Mutex::new(BTreeMap::new());

/// The site of `key`, built at its first start; `None` (reported on stderr)
/// for a malformed key.
pub(super) fn site(key: &'static str) -> Option<&'static Site> {
    let mut sites = SITES.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(site) = sites.get(key) {
        return Some(site);
    }
    if let Err(err) = validate_key(key) {
        drop(sites);
        eprintln!("alamos: task {key:?}: {err}; the task runs untracked");
        return None;
    }
    let site = Site::new(key);
    sites.insert(key, site);
    Some(site)
}

/// The fields of a task's span.
static SPAN_FIELDS: [&str; 2] = ["alamos.experiment", "alamos.task.restarts"];

/// What a task key needs once: its gate in the experiment tree (level
/// `prod`), its span's `tracing` callsite, and its metrics.
/// Leaked, one per key, like a callsite.
pub(super) struct Site {
    key: &'static str,
    interest: Interest,
    callsite: DynCallsite,
    watches: OnceLock<Vec<Watch>>,
    pub(super) polls: &'static Polls,
}

impl Site {
    fn new(key: &'static str) -> &'static Site {
        let site: &'static Site = Box::leak(Box::new(Site {
            key,
            interest: Interest::new(),
            callsite: DynCallsite::new(),
            watches: OnceLock::new(),
            polls: Polls::new(key),
        }));
        site.callsite
            .register(key, "alamos::task", Level::Prod.as_tracing(), &SPAN_FIELDS);
        // Registers the gate with the tree, so the key is an experiment.
        let _ = site.interest.is_enabled(site);
        let _ = site.watches.set(super::metrics(key));
        site
    }

    pub(super) fn span(&'static self, restarts: u64) -> Span {
        if !self.interest.is_enabled(self) {
            return Span::none();
        }
        let Some(metadata) = self.callsite.enabled() else {
            return Span::none();
        };
        let fields = metadata.fields();
        let mut names = fields.iter();
        let (Some(experiment), Some(restarts_field)) = (names.next(), names.next()) else {
            return Span::none();
        };
        // `Span::new` takes the current span as the parent: the spawner's.
        Span::new(
            metadata,
            &fields.value_set(&[
                (&experiment, Some(&self.key as &dyn Value)),
                (&restarts_field, Some(&restarts as &dyn Value)),
            ]),
        )
    }
}

impl Gate for Site {
    fn experiment(&self) -> &'static str {
        self.key
    }
    fn level(&self) -> Level {
        Level::Prod
    }
    fn interest(&self) -> &Interest {
        &self.interest
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}
