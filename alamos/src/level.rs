//! Levels and thresholds.
//!
//! alamos has one ordered scale for spans, metrics and logs, taken from
//! Synnax's environments: `bench < debug < prod < warn < error`. `trace` is
//! accepted as another spelling of `bench` and `info` of `prod`, so each level
//! lines up with the [`tracing::Level`] of the same rank.
//!
//! A [`LevelFilter`] is a threshold: a level, or `off`. A callsite is enabled
//! when its level is at or above the threshold of its experiment.

use std::fmt;
use std::str::FromStr;

/// How important a piece of instrumentation is.
///
/// Ordered from the most verbose to the most important:
/// `Bench < Debug < Prod < Warn < Error`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Level {
    /// Fine-grained instrumentation for benchmarking (alias `trace`).
    Bench = 0,
    /// Instrumentation for debugging a development cluster.
    Debug = 1,
    /// Instrumentation that stays on in production (alias `info`). The default.
    #[default]
    Prod = 2,
    /// Something unexpected that the program recovered from.
    Warn = 3,
    /// Something failed.
    Error = 4,
}

impl Level {
    /// `trace`, the `tracing` spelling of [`Level::Bench`].
    pub const TRACE: Level = Level::Bench;
    /// `info`, the `tracing` spelling of [`Level::Prod`].
    pub const INFO: Level = Level::Prod;

    /// Every level, from the most verbose to the most important.
    pub const ALL: [Level; 5] = [
        Level::Bench,
        Level::Debug,
        Level::Prod,
        Level::Warn,
        Level::Error,
    ];

    /// The canonical lowercase name: `bench`, `debug`, `prod`, `warn` or `error`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Level::Bench => "bench",
            Level::Debug => "debug",
            Level::Prod => "prod",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }

    /// The [`tracing::Level`] of the same rank.
    pub const fn as_tracing(self) -> tracing::Level {
        match self {
            Level::Bench => tracing::Level::TRACE,
            Level::Debug => tracing::Level::DEBUG,
            Level::Prod => tracing::Level::INFO,
            Level::Warn => tracing::Level::WARN,
            Level::Error => tracing::Level::ERROR,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl From<Level> for tracing::Level {
    fn from(level: Level) -> Self {
        level.as_tracing()
    }
}

impl From<tracing::Level> for Level {
    fn from(level: tracing::Level) -> Self {
        match level {
            tracing::Level::TRACE => Level::Bench,
            tracing::Level::DEBUG => Level::Debug,
            tracing::Level::INFO => Level::Prod,
            tracing::Level::WARN => Level::Warn,
            _ => Level::Error,
        }
    }
}

impl FromStr for Level {
    type Err = ParseLevelError;

    /// Parses a level name, ignoring ASCII case: `bench` (or `trace`), `debug`,
    /// `prod` (or `info`), `warn`, `error`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match LevelFilter::from_str(s).map_err(|_| ParseLevelError::new(s, false))? {
            LevelFilter::Level(level) => Ok(level),
            LevelFilter::Off => Err(ParseLevelError::new(s, false)),
        }
    }
}

/// A threshold: a [`Level`], or `off` to disable everything.
///
/// Compares with [`Level`] directly: `filter == Level::Debug`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LevelFilter {
    /// Enable callsites at this level and above.
    Level(Level),
    /// Enable nothing.
    Off,
}

impl LevelFilter {
    /// The threshold that enables everything.
    pub const BENCH: LevelFilter = LevelFilter::Level(Level::Bench);
    /// The default threshold.
    pub const PROD: LevelFilter = LevelFilter::Level(Level::Prod);
    /// The threshold that enables nothing.
    pub const OFF: LevelFilter = LevelFilter::Off;

    /// Whether a callsite at `level` passes this threshold.
    pub const fn enables(self, level: Level) -> bool {
        match self {
            LevelFilter::Level(threshold) => level as u8 >= threshold as u8,
            LevelFilter::Off => false,
        }
    }

    /// The level, or `None` for `off`.
    pub const fn level(self) -> Option<Level> {
        match self {
            LevelFilter::Level(level) => Some(level),
            LevelFilter::Off => None,
        }
    }

    /// The canonical lowercase name: a level's name or `off`.
    pub const fn as_str(self) -> &'static str {
        match self {
            LevelFilter::Level(level) => level.as_str(),
            LevelFilter::Off => "off",
        }
    }
}

impl Default for LevelFilter {
    fn default() -> Self {
        LevelFilter::PROD
    }
}

impl From<Level> for LevelFilter {
    fn from(level: Level) -> Self {
        LevelFilter::Level(level)
    }
}

impl From<Option<Level>> for LevelFilter {
    fn from(level: Option<Level>) -> Self {
        level.map_or(LevelFilter::Off, LevelFilter::Level)
    }
}

impl PartialEq<Level> for LevelFilter {
    fn eq(&self, other: &Level) -> bool {
        *self == LevelFilter::Level(*other)
    }
}

impl PartialEq<LevelFilter> for Level {
    fn eq(&self, other: &LevelFilter) -> bool {
        other == self
    }
}

impl fmt::Display for LevelFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for LevelFilter {
    type Err = ParseLevelError;

    /// Parses a level name or `off`, ignoring ASCII case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let level = match s.to_ascii_lowercase().as_str() {
            "bench" | "trace" => Level::Bench,
            "debug" => Level::Debug,
            "prod" | "info" => Level::Prod,
            "warn" => Level::Warn,
            "error" => Level::Error,
            "off" => return Ok(LevelFilter::Off),
            _ => return Err(ParseLevelError::new(s, true)),
        };
        Ok(LevelFilter::Level(level))
    }
}

/// A string that names no level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseLevelError {
    input: String,
    off_allowed: bool,
}

impl ParseLevelError {
    fn new(input: &str, off_allowed: bool) -> Self {
        ParseLevelError {
            input: input.to_owned(),
            off_allowed,
        }
    }
}

impl fmt::Display for ParseLevelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown level {:?}, expected one of bench, trace, debug, prod, info, warn, error",
            self.input
        )?;
        if self.off_allowed {
            f.write_str(", off")?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseLevelError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_follows_synnax_environments() {
        assert!(Level::Bench < Level::Debug);
        assert!(Level::Debug < Level::Prod);
        assert!(Level::Prod < Level::Warn);
        assert!(Level::Warn < Level::Error);
    }

    #[test]
    fn aliases_parse_to_the_same_level() {
        assert_eq!("trace".parse::<Level>(), Ok(Level::Bench));
        assert_eq!("info".parse::<Level>(), Ok(Level::Prod));
        assert_eq!("DEBUG".parse::<Level>(), Ok(Level::Debug));
        assert_eq!(Level::TRACE, Level::Bench);
        assert_eq!(Level::INFO, Level::Prod);
    }

    #[test]
    fn maps_to_tracing_levels_of_the_same_rank() {
        let tracing_levels = [
            tracing::Level::TRACE,
            tracing::Level::DEBUG,
            tracing::Level::INFO,
            tracing::Level::WARN,
            tracing::Level::ERROR,
        ];
        for (level, expected) in Level::ALL.into_iter().zip(tracing_levels) {
            assert_eq!(level.as_tracing(), expected);
            assert_eq!(Level::from(expected), level);
        }
    }

    #[test]
    fn off_is_a_filter_not_a_level() {
        assert_eq!("off".parse::<LevelFilter>(), Ok(LevelFilter::Off));
        let err = "off".parse::<Level>().unwrap_err().to_string();
        assert!(!err.ends_with("off"), "{err}");
        let err = "verbose".parse::<Level>().unwrap_err().to_string();
        assert!(!err.ends_with("off"), "{err}");
        let err = "verbose".parse::<LevelFilter>().unwrap_err().to_string();
        assert!(err.contains("\"verbose\"") && err.ends_with("off"), "{err}");
    }

    #[test]
    fn filter_enables_levels_at_or_above() {
        let debug = LevelFilter::from(Level::Debug);
        assert!(!debug.enables(Level::Bench));
        assert!(debug.enables(Level::Debug));
        assert!(debug.enables(Level::Error));
        assert!(Level::ALL.iter().all(|l| !LevelFilter::Off.enables(*l)));
        assert!(Level::ALL.iter().all(|l| LevelFilter::BENCH.enables(*l)));
        assert_eq!(debug, Level::Debug);
    }
}
