//! The process-wide experiment tree.
//!
//! The tree is built at its first use from the link-time registries of
//! callsites, so it knows every key named by any macro in the binary before
//! the first instrumented call. Thresholds come from directives (the
//! `ALAMOS_LEVEL` environment variable, then [`set_level`] and
//! [`set_directives`]): the directive with the longest key covering an
//! experiment, by whole segments, sets its threshold. After each change the
//! tree rewrites the cached state of every callsite, so the hot path never
//! looks anything up.
//!
//! Beside thresholds, the tree holds each experiment's root trace
//! probability (`ALAMOS_TRACE_SAMPLE`, [`set_trace_sample`]), resolved the
//! same way and cached in every instrumented function's callsite
//! (`sample.rs`).
//!
//! The tree sits below every other runtime layer: it knows callsites only as
//! [`Gate`]s, and nothing of spans, metrics or exporters.

mod gate;
mod sample;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

pub(crate) use self::gate::Interest;
pub use self::gate::{Gate, GATES};
#[cfg(feature = "runtime")]
pub(crate) use self::sample::{replace_samples, sample_spec, samples};
pub use self::sample::{set_trace_sample, trace_sample, SetTraceSampleError};
use crate::directive::{parse_directives, Directive, DirectiveError};
use crate::env;
use crate::key::{covers, lineage, validate_key, KeyError, ROOT};
use crate::level::{Level, LevelFilter};
use crate::sampling::{Probability, SampleDirective};

struct Tree {
    gates: Vec<&'static dyn Gate>,
    /// Keys named by a macro, with the most verbose level among their callsites.
    named: BTreeMap<&'static str, Level>,
    /// Every node: named keys, their ancestors and the root.
    nodes: BTreeSet<&'static str>,
    directives: Vec<Directive>,
    /// Root trace probabilities, as directives.
    samples: Vec<SampleDirective>,
    /// The root's probability when no directive sets it: 1, or what
    /// `OTEL_TRACES_SAMPLER` says when `ALAMOS_TRACE_SAMPLE` is unset.
    sample_default: Probability,
}

static TREE: OnceLock<Mutex<Tree>> = OnceLock::new();

fn lock_tree() -> MutexGuard<'static, Tree> {
    TREE.get_or_init(|| Mutex::new(Tree::from_environment()))
        .lock()
        // The tree never panics while locked; if a caller's panic poisoned it
        // anyway, its state is still consistent.
        .unwrap_or_else(PoisonError::into_inner)
}

impl Tree {
    fn from_environment() -> Tree {
        let mut tree = Tree {
            gates: Vec::new(),
            named: BTreeMap::new(),
            nodes: BTreeSet::from([ROOT]),
            directives: Vec::new(),
            samples: Vec::new(),
            sample_default: Probability::ONE,
        };
        for gate in GATES {
            tree.add(*gate);
        }
        let spec = env::var(env::LEVEL, "using the default threshold prod").unwrap_or_default();
        for error in tree.replace_directives(&spec) {
            eprintln!("alamos: {}: {error}", env::LEVEL);
        }
        tree.samples_from_environment();
        tree
    }

    fn add(&mut self, gate: &'static dyn Gate) {
        let key = gate.experiment();
        if gate.names_experiment() || key != ROOT {
            let level = self.named.entry(key).or_insert(gate.level());
            *level = (*level).min(gate.level());
        }
        self.nodes.extend(lineage(key));
        self.gates.push(gate);
    }

    fn threshold(&self, key: &str) -> LevelFilter {
        threshold_for(&self.directives, key)
    }

    fn refresh(&self) {
        for gate in &self.gates {
            let enabled = self.threshold(gate.experiment()).enables(gate.level());
            gate.interest().set(enabled);
        }
        ROOT_THRESHOLD.store(encode(self.threshold(ROOT)), Ordering::Relaxed);
        MOST_VERBOSE.store(encode(self.most_verbose()), Ordering::Relaxed);
        self.notify_enabled();
    }

    /// The most verbose threshold any experiment has: the root's default
    /// (`prod`) unless a directive sets the root, and every directive's.
    fn most_verbose(&self) -> LevelFilter {
        let root_set = self
            .directives
            .iter()
            .any(|directive| directive.key == ROOT);
        let start = if root_set {
            LevelFilter::Off
        } else {
            LevelFilter::default()
        };
        self.directives
            .iter()
            .map(|directive| directive.filter)
            .fold(start, |most, filter| match (most.level(), filter.level()) {
                (Some(a), Some(b)) => LevelFilter::Level(a.min(b)),
                (Some(_), None) => most,
                (None, _) => filter,
            })
    }

    /// Tells every enabled gate it is enabled, so that callsites can create
    /// their series at zero and `rate()` works from the first scrape.
    fn notify_enabled(&self) {
        for gate in &self.gates {
            if self.threshold(gate.experiment()).enables(gate.level()) {
                gate.enabled();
            }
        }
    }

    /// Replaces every directive with those of `spec` and returns what was skipped.
    fn replace_directives(&mut self, spec: &str) -> Vec<DirectiveError> {
        let (directives, rejected) = self.check(spec);
        self.directives = directives;
        self.refresh();
        rejected
            .into_iter()
            .map(|rejected| rejected.error)
            .collect()
    }

    /// The well-formed directives of `spec`, and every directive that is
    /// malformed or names no known experiment, sorted by position.
    fn check(&self, spec: &str) -> (Vec<Directive>, Vec<Rejected>) {
        let parsed = parse_directives(spec);
        let mut rejected: Vec<Rejected> = parsed
            .errors
            .into_iter()
            .map(|error| Rejected {
                error,
                nearest: Vec::new(),
            })
            .collect();
        for (position, directive) in spec.split(',').enumerate() {
            let Some((key, _)) = directive.split_once('=') else {
                continue;
            };
            let key = key.trim();
            let malformed = rejected
                .iter()
                .any(|rejected| rejected.error.position == position + 1);
            if !malformed && !self.nodes.contains(key) {
                let unknown = UnknownExperiment::new(key, &self.nodes);
                rejected.push(Rejected {
                    error: DirectiveError {
                        position: position + 1,
                        text: directive.trim().to_owned(),
                        reason: unknown.to_string(),
                    },
                    nearest: unknown.nearest,
                });
            }
        }
        rejected.sort_by_key(|rejected| rejected.error.position);
        // A directive naming no experiment is still kept by `set_directives`:
        // a key registered later (an observed value, a task) obeys it.
        (parsed.directives, rejected)
    }

    #[cfg(feature = "runtime")]
    /// The directives in force, as an `ALAMOS_LEVEL` string: the root's
    /// first (as a bare level), then by key; `prod` when there are none.
    fn spec(&self) -> String {
        let mut directives: Vec<&Directive> = self.directives.iter().collect();
        directives.sort_by(|a, b| a.key.cmp(&b.key));
        let spec: Vec<String> = directives
            .into_iter()
            .map(|directive| {
                if directive.key.is_empty() {
                    directive.filter.as_str().to_owned()
                } else {
                    format!("{}={}", directive.key, directive.filter.as_str())
                }
            })
            .collect();
        if spec.is_empty() {
            LevelFilter::default().as_str().to_owned()
        } else {
            spec.join(",")
        }
    }
}

/// A directive refused by [`replace_all`]: why, and for a key naming no
/// experiment, the nearest known keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rejected {
    pub(crate) error: DirectiveError,
    #[cfg_attr(not(feature = "runtime"), allow(dead_code))]
    pub(crate) nearest: Vec<&'static str>,
}

#[cfg(feature = "runtime")]
/// A change of every threshold: the directives before and after, each as
/// [`spec`] writes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Change {
    pub(crate) old: String,
    pub(crate) new: String,
}

#[cfg(feature = "runtime")]
/// Replaces every threshold with the directives of `spec`, all or nothing:
/// if any directive is malformed or names no known experiment, nothing
/// changes and every such directive is returned.
pub(crate) fn replace_all(spec: &str) -> Result<Change, Vec<Rejected>> {
    let mut tree = lock_tree();
    let (directives, rejected) = tree.check(spec);
    if !rejected.is_empty() {
        return Err(rejected);
    }
    let old = tree.spec();
    tree.directives = directives;
    tree.refresh();
    let change = Change {
        old,
        new: tree.spec(),
    };
    drop(tree);
    changed();
    Ok(change)
}

#[cfg(feature = "runtime")]
/// The directives in force as an `ALAMOS_LEVEL` string that sets the same
/// thresholds: the root's level first, then `key=level` by key (`prod` when
/// no directive is set).
pub(crate) fn spec() -> String {
    lock_tree().spec()
}

#[cfg(feature = "runtime")]
/// The directives in force and the threshold of every node, read at once.
pub(crate) fn thresholds() -> (String, Vec<(&'static str, LevelFilter)>) {
    let tree = lock_tree();
    let thresholds = tree
        .nodes
        .iter()
        .map(|&node| (node, tree.threshold(node)))
        .collect();
    (tree.spec(), thresholds)
}

/// The threshold the directives give `key`: the longest covering key wins.
pub(crate) fn threshold_for(directives: &[Directive], key: &str) -> LevelFilter {
    directives
        .iter()
        .filter(|directive| covers(&directive.key, key))
        .max_by_key(|directive| directive.key.len())
        .map_or(LevelFilter::default(), |directive| directive.filter)
}

const OFF: u8 = u8::MAX;

/// The root threshold, for filtering events that are not alamos's own.
static ROOT_THRESHOLD: AtomicU8 = AtomicU8::new(OFF - 1);

/// The most verbose threshold of any experiment, set with `ROOT_THRESHOLD`.
static MOST_VERBOSE: AtomicU8 = AtomicU8::new(OFF - 1);

fn encode(filter: LevelFilter) -> u8 {
    filter.level().map_or(OFF, |level| level as u8)
}

/// The current threshold of the root experiment.
#[cfg(feature = "runtime")]
pub(crate) fn root_threshold() -> LevelFilter {
    let encoded = ROOT_THRESHOLD.load(Ordering::Relaxed);
    if encoded == OFF - 1 {
        // Not read yet: building the tree reads ALAMOS_LEVEL and stores it.
        drop(lock_tree());
        return root_threshold();
    }
    decode(encoded)
}

/// The threshold of whatever `name` falls under: an experiment key, or a
/// name below one (a span's `key.function`), by the longest covering
/// directive.
#[cfg(all(feature = "log", feature = "runtime"))]
pub(crate) fn threshold_covering(name: &str) -> LevelFilter {
    threshold_for(&lock_tree().directives, name)
}

#[cfg(feature = "runtime")]
fn decode(encoded: u8) -> LevelFilter {
    Level::ALL
        .into_iter()
        .find(|level| *level as u8 == encoded)
        .map_or(LevelFilter::Off, LevelFilter::Level)
}

/// The most verbose threshold of any experiment (for a subscriber's
/// max-level hint: no enabled alamos callsite is more verbose).
#[cfg(feature = "runtime")]
pub(crate) fn most_verbose() -> LevelFilter {
    if ROOT_THRESHOLD.load(Ordering::Relaxed) == OFF - 1 {
        drop(lock_tree());
    }
    decode(MOST_VERBOSE.load(Ordering::Relaxed))
}

/// What runs after thresholds change, outside the tree's lock: the
/// subscriber `init()` installs rebuilds `tracing`'s interest cache there.
static ON_CHANGE: OnceLock<fn()> = OnceLock::new();

/// Sets the hook run after every change of thresholds (once; later calls
/// are ignored).
#[cfg(feature = "runtime")]
pub(crate) fn on_change(hook: fn()) {
    let _ = ON_CHANGE.set(hook);
}

/// Runs the change hook; never under the tree's lock, since the hook asks
/// `tracing`, whose callsite registration may read thresholds.
fn changed() {
    if let Some(hook) = ON_CHANGE.get() {
        hook();
    }
}

/// Tells every enabled gate it is enabled: for an exporter that starts
/// after the tree was built, so enabled callsites create their series.
#[cfg(feature = "runtime")]
pub(crate) fn notify_enabled() {
    lock_tree().notify_enabled();
}

/// Adds a callsite the link-time registry did not list, and caches its state.
pub(crate) fn register(gate: &'static dyn Gate) {
    let mut tree = lock_tree();
    if gate.interest().is_registered() {
        return;
    }
    tree.add(gate);
    let enabled = tree.threshold(gate.experiment()).enables(gate.level());
    tree.cache_sample(gate);
    gate.interest().set(enabled);
}

/// A node named by a callsite: its key, the most verbose level among its
/// callsites and its current threshold.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Node {
    pub(crate) key: &'static str,
    pub(crate) level: Level,
    pub(crate) threshold: LevelFilter,
    /// Its root trace probability.
    pub(crate) trace_sample: f64,
}

/// Every key named by a callsite, sorted.
pub(crate) fn named() -> Vec<Node> {
    let tree = lock_tree();
    tree.named
        .iter()
        .map(|(&key, &level)| Node {
            key,
            level,
            threshold: tree.threshold(key),
            trace_sample: tree.probability(key).get(),
        })
        .collect()
}

/// Every gate the tree knows, in registration order.
pub(crate) fn gates() -> Vec<&'static dyn Gate> {
    lock_tree().gates.clone()
}

/// The current threshold of the experiment `key` (empty for the root).
///
/// # Errors
///
/// Fails if `key` is malformed or names no node of the tree.
pub fn threshold(key: &str) -> Result<LevelFilter, SetLevelError> {
    let tree = lock_tree();
    check_known(&tree, key)?;
    Ok(tree.threshold(key))
}

/// Sets the threshold of the subtree under `key` (empty for the root), as the
/// directive `key=level` would, for every thread at once.
///
/// A more specific directive below `key` keeps precedence. Pass
/// [`LevelFilter::Off`] to disable the subtree.
///
/// # Errors
///
/// Fails, changing nothing, if `key` is malformed or names no experiment and no
/// ancestor of one; the error lists the nearest known keys.
pub fn set_level(key: &str, level: impl Into<LevelFilter>) -> Result<(), SetLevelError> {
    let mut tree = lock_tree();
    check_known(&tree, key)?;
    let directive = Directive {
        key: key.to_owned(),
        filter: level.into(),
    };
    tree.directives
        .retain(|existing| existing.key != directive.key);
    tree.directives.push(directive);
    tree.refresh();
    drop(tree);
    changed();
    Ok(())
}

/// Replaces every threshold with the directives of `spec`, written as for
/// `ALAMOS_LEVEL` (`"prod,distribution=debug,storage=off"`).
///
/// # Errors
///
/// Returns the directives that were skipped, malformed or naming no known
/// experiment. The well-formed ones are applied all the same.
pub fn set_directives(spec: &str) -> Result<(), Vec<DirectiveError>> {
    let errors = lock_tree().replace_directives(spec);
    changed();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn check_known(tree: &Tree, key: &str) -> Result<(), SetLevelError> {
    if key != ROOT {
        validate_key(key).map_err(SetLevelError::InvalidKey)?;
    }
    if tree.nodes.contains(key) {
        Ok(())
    } else {
        Err(SetLevelError::UnknownExperiment(UnknownExperiment::new(
            key,
            &tree.nodes,
        )))
    }
}

/// Why a threshold could not be set.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SetLevelError {
    /// The key is malformed.
    InvalidKey(KeyError),
    /// The key names no experiment and no ancestor of one.
    UnknownExperiment(UnknownExperiment),
}

impl fmt::Display for SetLevelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetLevelError::InvalidKey(err) => err.fmt(f),
            SetLevelError::UnknownExperiment(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for SetLevelError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SetLevelError::InvalidKey(err) => Some(err),
            SetLevelError::UnknownExperiment(_) => None,
        }
    }
}

/// A key that names no experiment, with the nearest known keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownExperiment {
    key: String,
    nearest: Vec<&'static str>,
}

impl UnknownExperiment {
    fn new(key: &str, nodes: &BTreeSet<&'static str>) -> Self {
        // Keys that extend what was typed (`dist` → `distribution`) come
        // first, then the closest by edit distance.
        let mut ranked: Vec<_> = nodes
            .iter()
            .filter(|node| !node.is_empty())
            .map(|node| (!node.starts_with(key), edit_distance(key, node), *node))
            .collect();
        ranked.sort_unstable();
        UnknownExperiment {
            key: key.to_owned(),
            nearest: ranked
                .into_iter()
                .take(3)
                .map(|(_, _, node)| node)
                .collect(),
        }
    }

    /// The unknown key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Up to three known keys closest to it, nearest first.
    pub fn nearest(&self) -> &[&'static str] {
        &self.nearest
    }
}

impl fmt::Display for UnknownExperiment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no experiment is named {:?}", self.key)?;
        if self.nearest.is_empty() {
            f.write_str(" (no experiments are known)")
        } else {
            write!(f, "; nearest known: {}", self.nearest.join(", "))
        }
    }
}

impl std::error::Error for UnknownExperiment {}

/// Levenshtein distance over bytes; keys are ASCII.
fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.as_bytes().iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn directives(spec: &str) -> Vec<Directive> {
        parse_directives(spec).directives
    }

    #[test]
    fn longest_whole_segment_prefix_wins() {
        let d = directives(
            "warn,distribution=debug,distribution.frame_writer=bench,storage.cesium=off,dist=error",
        );
        assert_eq!(threshold_for(&d, "api"), Level::Warn);
        assert_eq!(threshold_for(&d, "distribution"), Level::Debug);
        assert_eq!(threshold_for(&d, "distribution.relay"), Level::Debug);
        assert_eq!(threshold_for(&d, "distribution.frame_writer"), Level::Bench);
        assert_eq!(
            threshold_for(&d, "distribution.frame_writer.x"),
            Level::Bench
        );
        assert_eq!(threshold_for(&d, "storage.cesium.index"), LevelFilter::Off);
        assert_eq!(threshold_for(&d, "storage"), Level::Warn);
    }

    #[test]
    fn unset_means_prod() {
        assert_eq!(threshold_for(&[], "anything"), Level::Prod);
        assert_eq!(
            threshold_for(&directives("api=debug"), "storage"),
            Level::Prod
        );
    }

    fn tree_of(nodes: &[&'static str], spec: &str) -> Tree {
        Tree {
            gates: Vec::new(),
            named: BTreeMap::new(),
            nodes: nodes.iter().copied().chain([ROOT]).collect(),
            directives: directives(spec),
            samples: Vec::new(),
            sample_default: Probability::ONE,
        }
    }

    #[test]
    fn check_reports_malformed_and_unknown_directives_in_order() {
        let tree = tree_of(&["storage", "storage.cesium", "distribution"], "");
        let (kept, rejected) =
            tree.check("prod,storage.cesum=debug,distribution=loud,storage=bench");
        assert_eq!(kept, directives("prod,storage.cesum=debug,storage=bench"));
        let positions: Vec<_> = rejected.iter().map(|r| r.error.position).collect();
        assert_eq!(positions, [2, 3]);
        assert_eq!(rejected[0].nearest[0], "storage.cesium");
        assert!(rejected[0]
            .error
            .reason
            .starts_with("no experiment is named"));
        assert!(rejected[1].nearest.is_empty(), "a malformed one has none");
        let (_, none) = tree.check("warn,storage=off");
        assert_eq!(none, []);
    }

    #[test]
    #[cfg(feature = "runtime")]
    fn spec_is_canonical_and_parses_back() {
        let tree = tree_of(&["a", "b"], "b=off,a=debug,warn");
        assert_eq!(tree.spec(), "warn,a=debug,b=off");
        assert_eq!(parse_directives(&tree.spec()).errors, []);
        assert_eq!(tree_of(&[], "").spec(), "prod");
        assert_eq!(tree_of(&["a"], "a=bench").spec(), "a=bench");
    }

    #[test]
    fn nearest_keys_rank_by_edit_distance() {
        let nodes = BTreeSet::from(["", "storage", "storage.cesium", "distribution", "api"]);
        let unknown = UnknownExperiment::new("storage.cesum", &nodes);
        assert_eq!(unknown.nearest()[0], "storage.cesium");
        assert!(unknown
            .to_string()
            .contains("nearest known: storage.cesium"));
        let unknown = UnknownExperiment::new("dist", &nodes);
        assert_eq!(unknown.nearest()[0], "distribution");
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
