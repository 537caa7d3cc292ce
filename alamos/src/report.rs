//! Reports: values attached to experiments (a layer's configuration, a
//! cluster's membership), read back as JSON.
//!
//! Synnax's Go alamos has a reporter whose reports nothing can read; here
//! [`report`] keeps the latest value of each experiment as JSON text, and
//! [`reports()`] (and the admin endpoint's `GET /alamos/reports`) reads them
//! all back.
//!
//! # Gating
//!
//! A report has a level (`prod` for [`report`], any with [`report_at`]) and
//! is attached only when its experiment's threshold enables that level at
//! the time of the call, like a log line: a disabled report is not even
//! serialized. The key becomes an experiment of the tree, so `ALAMOS_LEVEL`
//! can name it.
//!
//! # Secrets
//!
//! A report holds whatever the value serializes, and it leaves the process
//! through `reports()` and the admin endpoint: `#[serde(skip)]` keeps a
//! field out entirely, [`Redacted<T>`] writes `"<redacted>"` in its place
//! (see [`report`]).

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::json::{self, Members};
use crate::key::{validate_key, KeyError};
use crate::level::Level;
use crate::tree::{Gate, Interest};

/// What [`Redacted`] serializes as, and what `redact(...)` records.
pub(crate) const REDACTED: &str = "<redacted>";

/// Attaches `value` to the experiment `key` at level `prod`, replacing the
/// experiment's previous report; see [`report_at`].
///
/// # Secrets
///
/// A report leaves the process through [`reports()`] and the admin
/// endpoint's `GET /alamos/reports`. Keep a secret out of it with
/// `#[serde(skip)]` (the field is not serialized at all) or by giving the
/// field the type [`Redacted<T>`] (it serializes as `"<redacted>"`, so the
/// report shows the field is set, and deserializes as a `T`):
///
/// ```
/// use alamos::Redacted;
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct CesiumConfig {
///     nodes: u32,
///     password: Redacted<String>,
///     #[serde(skip)]
///     token: String,
/// }
///
/// let config = CesiumConfig {
///     nodes: 3,
///     password: Redacted::new("hunter2".into()),
///     token: "t0k3n".into(),
/// };
/// alamos::report("storage.cesium", &config).unwrap();
/// let reports = alamos::reports();
/// assert!(reports.contains(r#""value":{"nodes":3,"password":"<redacted>"}"#), "{reports}");
/// assert!(!reports.contains("hunter2") && !reports.contains("t0k3n"));
/// ```
///
/// # Errors
///
/// As [`report_at`].
pub fn report<T: Serialize + ?Sized>(key: &'static str, value: &T) -> Result<(), ReportError> {
    report_at(key, Level::Prod, value)
}

/// Attaches `value`, serialized as JSON now, to the experiment `key` as its
/// report at `level`, replacing the previous one (the latest wins, whatever
/// its level).
///
/// Nothing is serialized or attached when the experiment's threshold does
/// not enable `level`: that is not an error. Fields the value marks secret
/// never leave the process: see [`report`] for `#[serde(skip)]` and
/// [`Redacted`].
///
/// ```
/// alamos::report_at("api.bench_report", alamos::Level::Bench, &42).unwrap();
/// // The threshold is `prod` unless ALAMOS_LEVEL says otherwise.
/// # if std::env::var_os("ALAMOS_LEVEL").is_none() {
/// assert!(!alamos::reports().contains("api.bench_report"));
/// # }
/// ```
///
/// # Errors
///
/// Fails, attaching nothing and keeping the previous report, if `key` is
/// malformed or the value cannot be written as JSON: its `Serialize` impl
/// fails, or it holds a map whose keys are not strings, chars, integers,
/// bools or unit variants (JSON object keys are strings; floats, sequences
/// and other compound keys are refused rather than written ambiguously).
/// Non-finite floats are written as `"NaN"`, `"inf"` and `"-inf"`.
pub fn report_at<T: Serialize + ?Sized>(
    key: &'static str,
    level: Level,
    value: &T,
) -> Result<(), ReportError> {
    validate_key(key).map_err(ReportError::InvalidKey)?;
    let gate = gate(key, level);
    if !gate.interest.is_enabled(gate) {
        return Ok(());
    }
    let json =
        json::ser::to_string(value).map_err(|err| ReportError::Serialize(err.to_string()))?;
    let at = SystemTime::now();
    registry().reports.insert(key, Stored { level, at, json });
    Ok(())
}

/// Every report, as one JSON object keyed by experiment, sorted:
///
/// ```text
/// {"storage.cesium":{"level":"prod","reported_at":"2026-11-28T09:41:07.125Z","value":{"nodes":3}}}
/// ```
///
/// `value` is the reported value as JSON; `reported_at` is when it was
/// attached (UTC).
pub fn reports() -> String {
    let registry = registry();
    let mut members = Members::default();
    for (key, stored) in &registry.reports {
        let mut report = Members::default();
        report.str("level", stored.level.as_str());
        let mut at = String::new();
        let _ = json::timestamp(&mut at, stored.at);
        report.raw("reported_at", &at);
        report.raw("value", &stored.json);
        members.raw(key, &format!("{{{}}}", report.as_str()));
    }
    format!("{{{}}}", members.as_str())
}

/// Why [`report`] attached nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReportError {
    /// The key is malformed.
    InvalidKey(KeyError),
    /// The value cannot be written as JSON; the message says why.
    Serialize(String),
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportError::InvalidKey(err) => write!(f, "cannot report: {err}"),
            ReportError::Serialize(reason) => {
                write!(f, "cannot report: the value is not JSON: {reason}")
            }
        }
    }
}

impl std::error::Error for ReportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReportError::InvalidKey(err) => Some(err),
            ReportError::Serialize(_) => None,
        }
    }
}

/// A value that never leaves the process through alamos: it serializes as
/// `"<redacted>"` and prints (`Debug` and `Display`) as `<redacted>`.
///
/// Use it for the secret fields of a value you [`report`]; it deserializes
/// as the `T` it wraps, so a configuration read from a file can hold it.
///
/// ```
/// use alamos::Redacted;
///
/// let password = Redacted::new(String::from("hunter2"));
/// assert_eq!(format!("{password:?} {password}"), "<redacted> <redacted>");
/// assert_eq!(password.expose(), "hunter2");
/// alamos::report("api.auth", &password).unwrap();
/// assert!(!alamos::reports().contains("hunter2"));
/// ```
#[doc(alias = "secret", alias = "mask")]
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Redacted<T>(T);

impl<T> Redacted<T> {
    /// Wraps a secret.
    pub const fn new(value: T) -> Self {
        Redacted(value)
    }

    /// The secret, for the code that uses it.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// The secret, unwrapped.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Redacted<T> {
    fn from(value: T) -> Self {
        Redacted(value)
    }
}

impl<T> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T> fmt::Display for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T> Serialize for Redacted<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Redacted<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Redacted)
    }
}

// ------------------------------------------------------------- registry --

struct Stored {
    level: Level,
    at: SystemTime,
    json: String,
}

struct Registry {
    reports: BTreeMap<&'static str, Stored>,
    gates: Vec<&'static ReportGate>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    reports: BTreeMap::new(),
    gates: Vec::new(),
});

fn registry() -> MutexGuard<'static, Registry> {
    // Nothing panics while holding the lock; a poisoned map is consistent.
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The gate of the reports of one experiment at one level.
struct ReportGate {
    interest: Interest,
    key: &'static str,
    level: Level,
}

impl Gate for ReportGate {
    fn experiment(&self) -> &'static str {
        self.key
    }
    fn level(&self) -> Level {
        self.level
    }
    fn interest(&self) -> &Interest {
        &self.interest
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn gate(key: &'static str, level: Level) -> &'static ReportGate {
    let mut registry = registry();
    if let Some(gate) = registry
        .gates
        .iter()
        .find(|gate| gate.key == key && gate.level == level)
    {
        return gate;
    }
    // Leaked: one per key and level ever reported, like a callsite.
    let gate: &'static ReportGate = Box::leak(Box::new(ReportGate {
        interest: Interest::new(),
        key,
        level,
    }));
    registry.gates.push(gate);
    gate
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Config {
        nodes: u32,
        password: Redacted<&'static str>,
    }

    impl Serialize for Config {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeStruct;
            let mut st = s.serialize_struct("Config", 2)?;
            st.serialize_field("nodes", &self.nodes)?;
            st.serialize_field("password", &self.password)?;
            st.end()
        }
    }

    #[test]
    fn the_latest_report_wins_and_secrets_are_redacted() {
        let first = Config {
            nodes: 1,
            password: Redacted::new("s3cret-a"),
        };
        report("report_test.config", &first).unwrap();
        report("report_test.config", &Config { nodes: 2, ..first }).unwrap();
        let all = reports();
        assert!(
            all.contains(r#""report_test.config":{"level":"prod","reported_at":""#),
            "{all}"
        );
        assert!(
            all.contains(r#""value":{"nodes":2,"password":"<redacted>"}}"#),
            "{all}"
        );
        assert!(!all.contains("s3cret"), "{all}");
        assert_eq!(first.password.into_inner(), "s3cret-a");
    }

    #[test]
    fn a_disabled_level_attaches_nothing() {
        report_at("report_test.quiet", Level::Bench, &1).unwrap();
        if std::env::var_os(crate::env::LEVEL).is_none() {
            assert!(!reports().contains("report_test.quiet"));
        }
    }

    #[test]
    fn bad_keys_and_bad_values_keep_the_previous_report() {
        assert!(matches!(
            report("Bad Key", &1),
            Err(ReportError::InvalidKey(_))
        ));
        report("report_test.kept", &"first").unwrap();
        let float_keys = BTreeMap::from([(1_u8, 1.0_f64)]);
        report("report_test.kept", &float_keys).unwrap();
        let bad = std::collections::HashMap::from([(vec![1_u8], 1)]);
        let err = report("report_test.kept", &bad).unwrap_err();
        assert!(err.to_string().contains("map key"), "{err}");
        assert!(reports().contains(r#""value":{"1":1.0}"#), "{}", reports());
    }
}
