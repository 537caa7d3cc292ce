//! Who this process is: its resource (`service.name`, `service.instance.id`
//! and the attributes of `OTEL_RESOURCE_ATTRIBUTES`), and the constant
//! labels every exported series carries.
//!
//! `alamos::Builder::install` sets it once; exporters read it: the
//! Prometheus text and OpenMetrics write the resource as `target_info` and
//! add the constant labels to every series, and OTLP sends the resource with
//! every request and the constant labels as attributes of every data point.
//! The store never sees constant labels: they are not part of any series'
//! key, so a node's series are the same whatever it is called.
//!
//! # Why `OTEL_RESOURCE_ATTRIBUTES` is parsed here
//!
//! The OpenTelemetry SDK's `EnvResourceDetector` (0.33) reads the variable
//! too, but neither percent-decodes values, as the specification requires
//! (`team=a%20b` stays `a%20b`), nor says anything about a malformed
//! member: it drops it and keeps the rest, where the specification asks to
//! reject the whole value. alamos needs the decoded values for
//! `target_info` in builds without the SDK as well, and reports problems on
//! stderr like every other variable it reads, so it parses the variable
//! here (`tests::the_sdk_detector_does_not_decode_values` pins the
//! difference); the SDK's `TelemetryResourceDetector` still supplies the
//! `telemetry.sdk.*` attributes of OTLP resources.

use std::hash::{BuildHasher as _, Hasher as _};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use crate::metric::store::Labels;

/// The resource attribute naming the service.
pub(crate) const SERVICE_NAME: &str = "service.name";
/// The resource attribute telling this process from others of its service.
pub(crate) const SERVICE_INSTANCE_ID: &str = "service.instance.id";

/// The node's resource and constant labels.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Identity {
    /// Resource attributes, `service.name` and `service.instance.id` first.
    pub(crate) resource: Vec<(String, String)>,
    /// Labels added to every exported series that lacks them.
    pub(crate) constant_labels: Vec<(String, String)>,
}

static IDENTITY: RwLock<Option<Arc<Identity>>> = RwLock::new(None);

/// Sets the identity exporters read from now on.
pub(crate) fn install(identity: Identity) {
    *IDENTITY.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(identity));
}

/// The identity `install` set, if any.
pub(crate) fn current() -> Option<Arc<Identity>> {
    IDENTITY
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

impl Identity {
    /// `labels` followed by the constant labels they do not name already:
    /// a series' own label wins over a constant one.
    pub(crate) fn labels_of(&self, labels: &Labels) -> Labels {
        if self.constant_labels.is_empty() {
            return Arc::clone(labels);
        }
        let mut all = labels.to_vec();
        for (name, value) in &self.constant_labels {
            if !labels.iter().any(|(known, _)| known == name) {
                all.push((name.clone(), value.clone()));
            }
        }
        all.into()
    }
}

/// The resource the OpenTelemetry variables describe, read through `var`:
/// `service.name` from `OTEL_SERVICE_NAME`, else `OTEL_RESOURCE_ATTRIBUTES`,
/// else `unknown_service:<executable>`; `service.instance.id` from the
/// attributes, else this process's generated one; then the other
/// attributes. The second value lists what was malformed.
#[cfg_attr(feature = "otel", allow(dead_code))]
pub(crate) fn resource_from(
    var: impl Fn(&str) -> Option<String>,
) -> (Vec<(String, String)>, Vec<String>) {
    let set = |name: &str| var(name).filter(|value| !value.trim().is_empty());
    let mut problems = Vec::new();
    let attributes = match set("OTEL_RESOURCE_ATTRIBUTES").map(|text| parse_attributes(&text)) {
        Some(Ok(attributes)) => attributes,
        Some(Err(problem)) => {
            problems.push(format!("ignoring OTEL_RESOURCE_ATTRIBUTES: {problem}"));
            Vec::new()
        }
        None => Vec::new(),
    };
    let service_name = set("OTEL_SERVICE_NAME").map(|name| name.trim().to_owned());
    (resource(service_name, &attributes), problems)
}

/// A resource: `service.name` (`name`, else the attributes', else the
/// default), `service.instance.id` (the attributes', else this process's),
/// then the other attributes in order.
pub(crate) fn resource(
    name: Option<String>,
    attributes: &[(String, String)],
) -> Vec<(String, String)> {
    let get = |key: &str| {
        attributes
            .iter()
            .find(|(known, _)| known == key)
            .map(|(_, value)| value.clone())
    };
    let mut resource = vec![
        (
            SERVICE_NAME.to_owned(),
            name.or_else(|| get(SERVICE_NAME))
                .unwrap_or_else(default_service_name),
        ),
        (
            SERVICE_INSTANCE_ID.to_owned(),
            get(SERVICE_INSTANCE_ID).unwrap_or_else(|| instance_id().to_owned()),
        ),
    ];
    resource.extend(
        attributes
            .iter()
            .filter(|(key, _)| key != SERVICE_NAME && key != SERVICE_INSTANCE_ID)
            .cloned(),
    );
    resource
}

/// `unknown_service:<executable name>`, as the OpenTelemetry specification
/// names a service that did not name itself.
pub(crate) fn default_service_name() -> String {
    let executable = std::env::current_exe().ok().and_then(|path| {
        path.file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
    });
    match executable {
        Some(name) => format!("unknown_service:{name}"),
        None => "unknown_service".to_owned(),
    }
}

/// This process's `service.instance.id` when nothing names one: a random
/// UUID (version 4), made once.
pub(crate) fn instance_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let random = |salt: u64| {
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u64(salt);
            hasher.write_u32(std::process::id());
            if let Ok(since) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
                hasher.write_u128(since.as_nanos());
            }
            hasher.finish()
        };
        let bits = (u128::from(random(1)) << 64) | u128::from(random(2));
        // Version 4, variant 10.
        let bits = (bits & !(0xf << 76) & !(0b11 << 62)) | (0x4 << 76) | (0b10 << 62);
        let hex = format!("{bits:032x}");
        format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        )
    })
}

/// Parses `key=value,key2=value2`: keys and values trimmed, values
/// percent-decoded, empty members skipped, a later key replacing an earlier.
///
/// # Errors
///
/// A member without `=` or with an empty key rejects the whole value, as
/// the OpenTelemetry specification asks.
pub(crate) fn parse_attributes(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut attributes: Vec<(String, String)> = Vec::new();
    for member in text.split(',') {
        let member = member.trim();
        if member.is_empty() {
            continue;
        }
        let Some((key, value)) = member.split_once('=') else {
            return Err(format!("{member:?} is not `key=value`"));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(format!("{member:?} has no key"));
        }
        let value = percent_decode_lossy(value.trim());
        attributes.retain(|(k, _)| k != key);
        attributes.push((key.to_owned(), value));
    }
    Ok(attributes)
}

/// Decodes `%XX` escapes; anything else, broken escapes included, stays.
pub(crate) fn percent_decode_lossy(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        if let Some(byte) = escaped {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Checks a constant label's name: a Prometheus label name
/// (`[a-zA-Z_][a-zA-Z0-9_]*`), not reserved (`__` prefix), and not one that
/// alamos's own series or the histogram format use.
pub(crate) fn check_label_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!(
            "constant label {name:?} is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)"
        ));
    }
    if name.starts_with("__") {
        return Err(format!(
            "constant label {name:?}: names starting with `__` are reserved"
        ));
    }
    if ["le", "quantile", "experiment", "function", "outcome"].contains(&name) {
        return Err(format!(
            "constant label {name:?} would clash with a label of alamos's series"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn the_resource_names_the_service_and_the_instance() {
        let (resource, problems) = resource_from(vars(&[(
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.name=from-attrs, deployment.environment=prod,team=a%20b%2Cc",
        )]));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(resource[0], ("service.name".into(), "from-attrs".into()));
        assert_eq!(resource[1].0, "service.instance.id");
        assert_eq!(resource[1].1, instance_id());
        assert_eq!(
            &resource[2..],
            [
                ("deployment.environment".into(), "prod".into()),
                ("team".into(), "a b,c".into())
            ]
        );
        let (named, _) = resource_from(vars(&[
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=x,service.instance.id=node-7",
            ),
            ("OTEL_SERVICE_NAME", "from-name"),
        ]));
        assert_eq!(
            named,
            [
                ("service.name".into(), "from-name".into()),
                ("service.instance.id".into(), "node-7".into())
            ]
        );
        let (default, _) = resource_from(vars(&[]));
        assert!(default[0].1.starts_with("unknown_service:"), "{default:?}");
    }

    #[test]
    fn instance_ids_are_uuids_made_once() {
        let id = instance_id();
        assert_eq!(id.len(), 36, "{id}");
        assert_eq!(&id[14..15], "4", "{id}");
        assert!("89ab".contains(&id[19..20]), "{id}");
        assert_eq!(instance_id(), id);
    }

    #[test]
    fn malformed_attributes_are_reported_and_ignored_whole() {
        let (resource, problems) =
            resource_from(vars(&[("OTEL_RESOURCE_ATTRIBUTES", "good=1,bad")]));
        assert_eq!(resource.len(), 2, "{resource:?}");
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("\"bad\""), "{problems:?}");
        assert!(parse_attributes("=v").unwrap_err().contains("no key"));
    }

    #[test]
    fn percent_decoding_is_lossy() {
        assert_eq!(percent_decode_lossy("a%20b"), "a b");
        assert_eq!(percent_decode_lossy("100%"), "100%");
        assert_eq!(percent_decode_lossy("%zz%2"), "%zz%2");
        assert_eq!(percent_decode_lossy("%C3%BC"), "ü");
        assert_eq!(percent_decode_lossy("%FF"), "\u{FFFD}");
    }

    /// Why the variable is parsed here rather than by the SDK's detector.
    #[cfg(feature = "otel")]
    #[test]
    fn the_sdk_detector_does_not_decode_values() {
        use opentelemetry_sdk::resource::{EnvResourceDetector, ResourceDetector as _};

        // The only test of this binary that sets the variable.
        std::env::set_var("OTEL_RESOURCE_ATTRIBUTES", "team=a%20b,bad");
        let detected = EnvResourceDetector::new().detect();
        std::env::remove_var("OTEL_RESOURCE_ATTRIBUTES");
        let team = detected
            .get(&opentelemetry::Key::new("team"))
            .map(|value| value.to_string());
        // Undecoded, and the malformed member silently dropped.
        assert_eq!(team.as_deref(), Some("a%20b"));
        assert_eq!(detected.len(), 1);
        assert_eq!(
            parse_attributes("team=a%20b").unwrap(),
            [("team".to_owned(), "a b".to_owned())]
        );
        assert!(parse_attributes("team=a%20b,bad").is_err());
    }

    #[test]
    fn constant_labels_follow_the_series_own() {
        let identity = Identity {
            resource: Vec::new(),
            constant_labels: vec![("node".into(), "a".into()), ("dc".into(), "x".into())],
        };
        let own: Labels = vec![("node".to_owned(), "own".to_owned())].into();
        assert_eq!(
            &identity.labels_of(&own)[..],
            [
                ("node".to_owned(), "own".to_owned()),
                ("dc".to_owned(), "x".to_owned())
            ]
        );
        assert!(check_label_name("node").is_ok());
        assert!(check_label_name("_x9").is_ok());
        for bad in ["", "9a", "a-b", "__x", "le", "experiment"] {
            assert!(check_label_name(bad).is_err(), "{bad}");
        }
    }
}
