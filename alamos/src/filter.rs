//! Which callsites the subscriber of `alamos::init()` wants, decided once per
//! callsite rather than once per event.
//!
//! # alamos's callsites and everyone else's
//!
//! alamos's own spans and events (those with an `alamos.experiment` field)
//! are gated before they reach `tracing` by their experiment's threshold, so
//! the subscriber always wants them. Every other callsite (a
//! `tracing::debug!` in a dependency, hyper's spans) is *foreign*, and is
//! held to a threshold of its own:
//!
//! - without `RUST_LOG` (unset or empty), foreign targets follow the root
//!   threshold of `ALAMOS_LEVEL` (`prod` by default), live: `set_level("",
//!   ..)` moves them too;
//! - with `RUST_LOG`, its directives decide for foreign targets, in
//!   `EnvFilter`'s spelling: `target=level` (the longest target that is a
//!   prefix of the callsite's wins), a bare `level` for every foreign target
//!   no `target=` directive matches, and a bare `target` meaning
//!   `target=trace`. A foreign target that no directive matches (no bare
//!   level given) still follows the root threshold of `ALAMOS_LEVEL`.
//!   `RUST_LOG` never reaches alamos's own callsites, which only
//!   `ALAMOS_LEVEL` and `set_level` govern. Span and field filters
//!   (`[span{field}]`) are not supported: such a directive is reported on
//!   stderr and skipped, like any malformed one, and the rest applies.
//!
//! # Why interest, and a level hint
//!
//! `tracing` caches what a subscriber answers for a callsite: a callsite
//! the subscriber never wants costs one load and a branch, and a level
//! above the subscriber's hint (`LevelFilter::current()`) costs a compare.
//! Filtering each event instead would dispatch every `tracing::debug!` of
//! every dependency. So the answer is `always` or `never`, the hint is the
//! most verbose level any threshold or directive allows, and both are
//! recomputed (`tracing::callsite::rebuild_interest_cache`) whenever a
//! threshold changes: the tree calls the hook [`install`] leaves with it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use tracing::level_filters::LevelFilter as TracingFilter;
use tracing::subscriber::Interest;
use tracing::{Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use crate::level::{Level, LevelFilter};
use crate::tree;

/// The standard variable of `tracing-subscriber`'s `EnvFilter`.
pub(crate) const RUST_LOG: &str = "RUST_LOG";

/// The field every alamos span and event carries.
const EXPERIMENT_FIELD: &str = "alamos.experiment";

/// `RUST_LOG`'s directives for foreign targets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TargetFilter {
    /// The bare level, for targets no directive names.
    default: Option<LevelFilter>,
    /// `(target prefix, threshold)`, longest prefix first.
    targets: Vec<(String, LevelFilter)>,
}

/// A `RUST_LOG` directive that was skipped, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Skipped {
    pub(crate) text: String,
    pub(crate) reason: &'static str,
}

impl TargetFilter {
    /// The well-formed directives of `spec`, and each one skipped.
    pub(crate) fn parse(spec: &str) -> (TargetFilter, Vec<Skipped>) {
        let mut filter = TargetFilter::default();
        let mut skipped = Vec::new();
        for part in spec
            .split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
        {
            let skip = |reason| Skipped {
                text: part.to_owned(),
                reason,
            };
            if part.contains(['[', ']', '{', '}']) {
                skipped.push(skip("span and field filters are not supported"));
                continue;
            }
            let (target, level) = match part.split_once('=') {
                Some((target, level)) => (target.trim(), Some(level.trim())),
                None => match level(part) {
                    Some(level) => {
                        filter.default = Some(level);
                        continue;
                    }
                    None => (part, None),
                },
            };
            if target.is_empty() || target.contains(char::is_whitespace) {
                skipped.push(skip("not a target"));
                continue;
            }
            // `EnvFilter`: a target alone enables all of it.
            let threshold = if let Some(text) = level {
                let Some(level) = self::level(text) else {
                    skipped.push(skip("not a level (trace, debug, info, warn, error, off)"));
                    continue;
                };
                level
            } else {
                LevelFilter::BENCH
            };
            filter.targets.retain(|(known, _)| known != target);
            filter.targets.push((target.to_owned(), threshold));
        }
        filter
            .targets
            .sort_by(|(a, _), (b, _)| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        (filter, skipped)
    }

    /// The threshold for `target`, if a directive gives one.
    fn threshold(&self, target: &str) -> Option<LevelFilter> {
        self.targets
            .iter()
            .find(|(prefix, _)| target.starts_with(prefix.as_str()))
            .map(|&(_, threshold)| threshold)
            .or(self.default)
    }

    /// The most verbose threshold a directive sets, and whether some
    /// targets are left to the root threshold (no bare level).
    fn most_verbose(&self) -> (LevelFilter, bool) {
        let most = self
            .targets
            .iter()
            .map(|&(_, threshold)| threshold)
            .chain(self.default)
            .fold(LevelFilter::Off, more_verbose);
        (most, self.default.is_none())
    }
}

/// A level as `RUST_LOG` spells it (names in any case, or `0` to `5`).
fn level(text: &str) -> Option<LevelFilter> {
    match text {
        "0" => Some(LevelFilter::Off),
        "1" => Some(LevelFilter::Level(Level::Error)),
        "2" => Some(LevelFilter::Level(Level::Warn)),
        "3" => Some(LevelFilter::Level(Level::Prod)),
        "4" => Some(LevelFilter::Level(Level::Debug)),
        "5" => Some(LevelFilter::Level(Level::Bench)),
        _ => text.parse().ok(),
    }
}

/// The more verbose of two thresholds (`off` is the least).
pub(crate) fn more_verbose(a: LevelFilter, b: LevelFilter) -> LevelFilter {
    match (a.level(), b.level()) {
        (Some(a), Some(b)) => LevelFilter::Level(a.min(b)),
        (Some(_), None) => a,
        (None, _) => b,
    }
}

fn tracing_filter(filter: LevelFilter) -> TracingFilter {
    match filter.level() {
        Some(level) => TracingFilter::from_level(level.as_tracing()),
        None => TracingFilter::OFF,
    }
}

/// The global filter of alamos's subscriber: `always` or `never` per
/// callsite, and a max-level hint.
#[derive(Clone, Debug)]
pub(crate) struct AlamosFilter {
    rust_log: Option<TargetFilter>,
}

impl AlamosFilter {
    /// Foreign targets filtered by `RUST_LOG` when it is set (malformed
    /// directives reported on stderr), else by the root threshold.
    pub(crate) fn from_env() -> AlamosFilter {
        let spec = std::env::var(RUST_LOG).ok();
        AlamosFilter::new(spec.as_deref())
    }

    pub(crate) fn new(rust_log: Option<&str>) -> AlamosFilter {
        let rust_log = rust_log.filter(|spec| !spec.trim().is_empty()).map(|spec| {
            let (filter, skipped) = TargetFilter::parse(spec);
            for skipped in skipped {
                eprintln!(
                    "alamos: {RUST_LOG}: skipping {:?}: {}",
                    skipped.text, skipped.reason
                );
            }
            filter
        });
        AlamosFilter { rust_log }
    }

    /// Whether the subscriber wants this callsite, now.
    fn wants(&self, metadata: &Metadata<'_>) -> bool {
        if metadata.fields().field(EXPERIMENT_FIELD).is_some() {
            return true;
        }
        // A `log` record: the bridge held it to its experiment's threshold.
        #[cfg(all(feature = "log", feature = "runtime"))]
        if crate::log_bridge::is_record(metadata) {
            return true;
        }
        let threshold = self
            .rust_log
            .as_ref()
            .and_then(|filter| filter.threshold(metadata.target()))
            .unwrap_or_else(tree::root_threshold);
        threshold.enables(Level::from(*metadata.level()))
    }

    /// The most verbose level any callsite may be wanted at, now.
    fn most_verbose(&self) -> LevelFilter {
        let foreign = match &self.rust_log {
            None => tree::root_threshold(),
            Some(filter) => match filter.most_verbose() {
                (most, true) => more_verbose(most, tree::root_threshold()),
                (most, false) => most,
            },
        };
        let ours = more_verbose(foreign, tree::most_verbose());
        if OPERATOR_LINES.load(Ordering::Relaxed) {
            // The admin routes log every change at `warn` whatever the
            // thresholds say (they may have just silenced everything).
            more_verbose(ours, LevelFilter::Level(Level::Warn))
        } else {
            ours
        }
    }
}

impl<S: Subscriber> Layer<S> for AlamosFilter {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if self.wants(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>, _: Context<'_, S>) -> bool {
        self.wants(metadata)
    }

    fn max_level_hint(&self) -> Option<TracingFilter> {
        Some(tracing_filter(self.most_verbose()))
    }
}

/// Whether the admin routes are served: their change lines, at `warn`, must
/// pass `tracing`'s level ceiling under any thresholds.
static OPERATOR_LINES: AtomicBool = AtomicBool::new(false);

/// Keeps the ceiling at `warn` or more verbose from now on, for the admin
/// routes' change lines; a foreign `warn!` or `error!` then costs the
/// callsite's cached interest check rather than the level compare.
pub(crate) fn keep_operator_lines() {
    if !OPERATOR_LINES.swap(true, Ordering::Relaxed) {
        tracing::callsite::rebuild_interest_cache();
    }
}

/// Makes every threshold change rebuild `tracing`'s interest cache (and
/// with it `LevelFilter::current()`), once alamos's subscriber is the
/// global one.
pub(crate) fn install() {
    static HOOKED: OnceLock<()> = OnceLock::new();
    HOOKED.get_or_init(|| tree::on_change(tracing::callsite::rebuild_interest_cache));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn threshold(spec: &str, target: &str) -> Option<LevelFilter> {
        let (filter, skipped) = TargetFilter::parse(spec);
        assert_eq!(skipped, [], "{spec}");
        filter.threshold(target)
    }

    #[test]
    fn the_longest_matching_target_wins() {
        let spec = "warn,hyper=debug,hyper::proto=error,tokio";
        assert_eq!(threshold(spec, "hyper::client"), Some(Level::Debug.into()));
        assert_eq!(
            threshold(spec, "hyper::proto::h1"),
            Some(Level::Error.into())
        );
        assert_eq!(threshold(spec, "tokio::runtime"), Some(LevelFilter::BENCH));
        assert_eq!(threshold(spec, "mio"), Some(Level::Warn.into()));
        assert_eq!(threshold("hyper=info", "mio"), None);
        assert_eq!(threshold("hyper=OFF", "hyper"), Some(LevelFilter::Off));
        assert_eq!(threshold("4", "any"), Some(Level::Debug.into()));
    }

    #[test]
    fn malformed_directives_are_skipped_and_the_rest_applies() {
        let (filter, skipped) =
            TargetFilter::parse("hyper=loud, [span]=debug,mio=info,=warn,a b=info");
        let reasons: Vec<&str> = skipped
            .iter()
            .map(|skipped| skipped.text.as_str())
            .collect();
        assert_eq!(reasons, ["hyper=loud", "[span]=debug", "=warn", "a b=info"]);
        assert_eq!(filter.threshold("mio"), Some(Level::Prod.into()));
        assert_eq!(filter.threshold("hyper"), None);
    }

    #[test]
    fn most_verbose_counts_every_directive() {
        let (filter, _) = TargetFilter::parse("error,hyper=debug,mio=off");
        assert_eq!(filter.most_verbose(), (Level::Debug.into(), false));
        let (filter, _) = TargetFilter::parse("mio=off");
        assert_eq!(filter.most_verbose(), (LevelFilter::Off, true));
        assert_eq!(
            more_verbose(LevelFilter::Off, Level::Warn.into()),
            Level::Warn
        );
        assert_eq!(
            more_verbose(Level::Bench.into(), Level::Warn.into()),
            Level::Bench
        );
    }
}
