//! Root trace probabilities, beside thresholds: directives in the
//! `ALAMOS_TRACE_SAMPLE` grammar, resolved by the longest covering key and
//! cached in each instrumented function's callsite ([`SampleRate`]).
//!
//! [`SampleRate`]: crate::sampling::SampleRate

use std::fmt::{self, Write as _};

use super::{check_known, lock_tree, Gate, Rejected, SetLevelError, Tree, UnknownExperiment};
use crate::directive::DirectiveError;
use crate::env;
use crate::key::{covers, KeyError, ROOT};
use crate::sampling::{otel_env, parse_samples, InvalidProbability, Probability, SampleDirective};

impl Tree {
    /// Reads `ALAMOS_TRACE_SAMPLE`, or `OTEL_TRACES_SAMPLER` when it is
    /// unset, reporting what is skipped on stderr, and caches the result.
    pub(super) fn samples_from_environment(&mut self) {
        let spec = env::var(env::TRACE_SAMPLE, "reading it as unset")
            .filter(|spec| !spec.trim().is_empty());
        match spec {
            Some(spec) => {
                let (samples, rejected) = self.check_samples(&spec);
                self.samples = samples;
                for rejected in rejected {
                    eprintln!("alamos: {}: {}", env::TRACE_SAMPLE, rejected.error);
                }
            }
            None => {
                if let Some(probability) = otel_env::from_env() {
                    self.sample_default = probability;
                }
            }
        }
        self.refresh_samples();
    }

    /// The root probability of `key`: the longest covering directive's.
    pub(super) fn probability(&self, key: &str) -> Probability {
        self.samples
            .iter()
            .filter(|directive| covers(&directive.key, key))
            .max_by_key(|directive| directive.key.len())
            .map_or(self.sample_default, |directive| directive.probability)
    }

    /// Caches the probability of `gate`'s experiment in it, if it has a
    /// place for one.
    pub(super) fn cache_sample(&self, gate: &dyn Gate) {
        if let Some(rate) = gate.trace_sample() {
            rate.set(self.probability(gate.experiment()));
        }
    }

    fn refresh_samples(&self) {
        for gate in &self.gates {
            self.cache_sample(*gate);
        }
    }

    /// The well-formed directives of `spec`, and every directive that is
    /// malformed or names no known experiment, by position (the unknown
    /// ones are kept, as for thresholds: a key registered later obeys them).
    fn check_samples(&self, spec: &str) -> (Vec<SampleDirective>, Vec<Rejected>) {
        let (directives, errors) = parse_samples(spec);
        let mut rejected: Vec<Rejected> = errors
            .into_iter()
            .map(|error| Rejected {
                error,
                nearest: Vec::new(),
            })
            .collect();
        for (index, text) in spec.split(',').enumerate() {
            let position = index + 1;
            let Some((key, _)) = text.split_once('=') else {
                continue;
            };
            let key = key.trim();
            let malformed = rejected.iter().any(|r| r.error.position == position);
            if !malformed && !self.nodes.contains(key) {
                let unknown = UnknownExperiment::new(key, &self.nodes);
                rejected.push(Rejected {
                    error: DirectiveError {
                        position,
                        text: text.trim().to_owned(),
                        reason: unknown.to_string(),
                    },
                    nearest: unknown.nearest,
                });
            }
        }
        rejected.sort_by_key(|rejected| rejected.error.position);
        (directives, rejected)
    }

    /// The probabilities in force as an `ALAMOS_TRACE_SAMPLE` string: the
    /// root's first, always, then `key=probability` by key.
    #[cfg_attr(not(feature = "runtime"), allow(dead_code))]
    fn sample_spec(&self) -> String {
        let mut keyed: Vec<&SampleDirective> = self
            .samples
            .iter()
            .filter(|directive| directive.key != ROOT)
            .collect();
        keyed.sort_by(|a, b| a.key.cmp(&b.key));
        let mut spec = self.probability(ROOT).to_string();
        for directive in keyed {
            let _ = write!(spec, ",{}={}", directive.key, directive.probability);
        }
        spec
    }
}

/// The root trace probability of experiment `key` (empty for the root):
/// how likely a call of it that starts a trace is traced.
///
/// # Errors
///
/// Fails if `key` is malformed or names no node of the tree.
pub fn trace_sample(key: &str) -> Result<f64, SetTraceSampleError> {
    let tree = lock_tree();
    check_known(&tree, key).map_err(SetTraceSampleError::from)?;
    Ok(tree.probability(key).get())
}

/// Sets the root trace probability of the subtree under `key` (empty for
/// the root), as the directive `key=probability` of `ALAMOS_TRACE_SAMPLE`
/// would, for every thread at once.
///
/// A call that starts a trace (one not inside another instrumented call or
/// an entered remote context) is traced with this probability; calls
/// inside it follow its decision. Every call is counted in the metrics
/// either way. A more specific directive below `key` keeps precedence.
///
/// With `otel`, an untraced call that starts a trace and ends in `error` or
/// `panic` is exported as a span all the same (with `alamos.sampled =
/// false`, its true start and end, and the trace id its
/// [`propagate`](fn@crate::propagate) wrote), so every failure has a trace.
///
/// ```
/// #[alamos::experiment("api.search")]
/// fn search() {}
///
/// alamos::set_trace_sample("api", 0.01).unwrap();
/// assert_eq!(alamos::trace_sample("api.search"), Ok(0.01));
/// assert!(alamos::set_trace_sample("api", 1.5).is_err());
/// ```
///
/// # Errors
///
/// Fails, changing nothing, if `probability` is not a number from 0 to 1,
/// or `key` is malformed or names no experiment and no ancestor of one (the
/// error lists the nearest known keys).
pub fn set_trace_sample(key: &str, probability: f64) -> Result<(), SetTraceSampleError> {
    let probability =
        Probability::new(probability).map_err(SetTraceSampleError::InvalidProbability)?;
    let mut tree = lock_tree();
    check_known(&tree, key).map_err(SetTraceSampleError::from)?;
    tree.samples.retain(|existing| existing.key != key);
    tree.samples.push(SampleDirective {
        key: key.to_owned(),
        probability,
    });
    tree.refresh_samples();
    Ok(())
}

#[cfg(feature = "runtime")]
/// Replaces every probability with the directives of `spec`, all or
/// nothing, as [`replace_all`](super::replace_all) does for thresholds.
pub(crate) fn replace_samples(spec: &str) -> Result<super::Change, Vec<Rejected>> {
    let mut tree = lock_tree();
    let (samples, rejected) = tree.check_samples(spec);
    if !rejected.is_empty() {
        return Err(rejected);
    }
    let old = tree.sample_spec();
    tree.samples = samples;
    tree.refresh_samples();
    Ok(super::Change {
        old,
        new: tree.sample_spec(),
    })
}

#[cfg(feature = "runtime")]
/// The probabilities in force, as an `ALAMOS_TRACE_SAMPLE` string that sets
/// the same ones.
pub(crate) fn sample_spec() -> String {
    lock_tree().sample_spec()
}

#[cfg(feature = "runtime")]
/// The probabilities in force and the probability of every node, read at
/// once.
pub(crate) fn samples() -> (String, Vec<(&'static str, f64)>) {
    let tree = lock_tree();
    let probabilities = tree
        .nodes
        .iter()
        .map(|&node| (node, tree.probability(node).get()))
        .collect();
    (tree.sample_spec(), probabilities)
}

/// Why a trace probability could not be set.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SetTraceSampleError {
    /// The key is malformed.
    InvalidKey(KeyError),
    /// The key names no experiment and no ancestor of one.
    UnknownExperiment(UnknownExperiment),
    /// The probability is not a number from 0 to 1.
    InvalidProbability(InvalidProbability),
}

impl From<SetLevelError> for SetTraceSampleError {
    fn from(error: SetLevelError) -> Self {
        match error {
            SetLevelError::InvalidKey(err) => SetTraceSampleError::InvalidKey(err),
            SetLevelError::UnknownExperiment(err) => SetTraceSampleError::UnknownExperiment(err),
        }
    }
}

impl fmt::Display for SetTraceSampleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetTraceSampleError::InvalidKey(err) => err.fmt(f),
            SetTraceSampleError::UnknownExperiment(err) => err.fmt(f),
            SetTraceSampleError::InvalidProbability(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for SetTraceSampleError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SetTraceSampleError::InvalidKey(err) => Some(err),
            SetTraceSampleError::InvalidProbability(err) => Some(err),
            SetTraceSampleError::UnknownExperiment(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    fn tree(nodes: &[&'static str], samples: &str) -> Tree {
        let mut tree = Tree {
            gates: Vec::new(),
            named: BTreeMap::new(),
            nodes: nodes.iter().copied().chain([ROOT]).collect::<BTreeSet<_>>(),
            directives: Vec::new(),
            samples: Vec::new(),
            sample_default: Probability::ONE,
        };
        tree.samples = parse_samples(samples).0;
        tree
    }

    #[test]
    fn longest_covering_key_wins_and_the_default_is_one() {
        let t = tree(
            &["api", "api.auth", "storage"],
            "0.01,api.auth=1,storage=0.001",
        );
        assert!((t.probability("api").get() - 0.01).abs() < f64::EPSILON);
        assert!((t.probability("api.auth.login").get() - 1.0).abs() < f64::EPSILON);
        assert!((t.probability("storage.kv").get() - 0.001).abs() < f64::EPSILON);
        assert!((tree(&["api"], "").probability("api").get() - 1.0).abs() < f64::EPSILON);
        assert_eq!(t.sample_spec(), "0.01,api.auth=1,storage=0.001");
        assert_eq!(tree(&[], "").sample_spec(), "1");
        assert_eq!(tree(&["a"], "a=0.5").sample_spec(), "1,a=0.5");
    }

    #[test]
    fn unknown_keys_are_rejected_with_the_nearest_ones() {
        let t = tree(&["storage", "storage.cesium"], "");
        let (kept, rejected) = t.check_samples("0.5,storage.cesum=0.1,storage=2,storage=0.2");
        assert_eq!(
            kept.len(),
            3,
            "unknown keys are kept, malformed ones are not"
        );
        let positions: Vec<_> = rejected.iter().map(|r| r.error.position).collect();
        assert_eq!(positions, [2, 3]);
        assert_eq!(rejected[0].nearest.first(), Some(&"storage.cesium"));
        assert!(rejected[1].error.reason.contains("between 0 and 1"));
    }
}
