//! Reports (issue 11, item 2): any `Serialize` value, written as the JSON
//! `serde_json` would write (checked by parsing both), the latest winning,
//! gated by the experiment's threshold at the report's level, and secrets
//! (`Redacted`, `#[serde(skip)]`) in no output: `reports()`, the tree view,
//! the exposition, and the admin endpoint's answers.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::OnceLock;

use alamos::Redacted;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

const TOKEN: &str = "reports-test-token-3b1f0c9e";
const SECRET: &str = "CANARY-REPORT-9d2e71";
const CONTROL: &str = "CONTROL-REPORT-44ab10";

fn guard() -> &'static alamos::Guard {
    static GUARD: OnceLock<alamos::Guard> = OnceLock::new();
    GUARD.get_or_init(|| {
        alamos::Builder::new()
            .subscriber(false)
            .prometheus_addr(SocketAddr::from(([127, 0, 0, 1], 0)))
            .admin_token(TOKEN)
            .install()
            .expect("alamos installs")
    })
}

/// The value reported under `key`, read back from `reports()`.
fn reported(key: &str) -> Option<Value> {
    let all: Value = serde_json::from_str(&alamos::reports()).expect("reports() is JSON");
    all.get(key).map(|report| report["value"].clone())
}

#[derive(Serialize)]
struct UnitStruct;

#[derive(Serialize)]
struct Newtype(u16);

#[derive(Serialize)]
struct TupleStruct(i8, String);

#[derive(Serialize)]
enum Shape {
    Unit,
    Newtype(u8),
    Tuple(u8, bool),
    Struct { side: f64 },
}

struct Bytes(&'static [u8]);

impl Serialize for Bytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

#[derive(Serialize)]
struct Flattened {
    inner: u8,
}

/// Every type of serde's data model.
#[derive(Serialize)]
struct Everything {
    yes: bool,
    i8: i8,
    i16: i16,
    i32: i32,
    i64: i64,
    i128: i128,
    u8: u8,
    u16: u16,
    u32: u32,
    u64: u64,
    u128: u128,
    f32: f32,
    f64: f64,
    char: char,
    string: String,
    escaped: &'static str,
    bytes: Bytes,
    none: Option<u8>,
    some: Option<Vec<u8>>,
    unit: (),
    unit_struct: UnitStruct,
    newtype: Newtype,
    tuple: (u8, &'static str, ()),
    tuple_struct: TupleStruct,
    shapes: Vec<Shape>,
    map: BTreeMap<String, Vec<u8>>,
    int_keys: BTreeMap<i32, bool>,
    bool_keys: BTreeMap<bool, u8>,
    #[serde(rename = "renamed-field")]
    renamed: u8,
    #[serde(skip)]
    #[allow(dead_code)]
    skipped: String,
    #[serde(flatten)]
    flattened: Flattened,
}

fn everything() -> Everything {
    Everything {
        yes: true,
        i8: i8::MIN,
        i16: -300,
        i32: i32::MIN,
        i64: i64::MIN,
        i128: -(1 << 62),
        u8: u8::MAX,
        u16: u16::MAX,
        u32: u32::MAX,
        u64: u64::MAX,
        u128: 1 << 63,
        f32: 0.5,
        f64: -1.25e-7,
        char: 'é',
        string: "plain".to_owned(),
        escaped: "quote \" backslash \\ newline \n tab \t nul \u{0} bell \u{7} ✓ 𝄞",
        bytes: Bytes(&[0, 1, 255]),
        none: None,
        some: Some(vec![1, 2]),
        unit: (),
        unit_struct: UnitStruct,
        newtype: Newtype(7),
        tuple: (1, "two", ()),
        tuple_struct: TupleStruct(-1, "x".to_owned()),
        shapes: vec![
            Shape::Unit,
            Shape::Newtype(3),
            Shape::Tuple(4, false),
            Shape::Struct { side: 2.0 },
        ],
        map: BTreeMap::from([("a".to_owned(), vec![]), ("b\"".to_owned(), vec![9])]),
        int_keys: BTreeMap::from([(-5, true), (10, false)]),
        bool_keys: BTreeMap::from([(false, 0), (true, 1)]),
        renamed: 1,
        skipped: SECRET.to_owned(),
        flattened: Flattened { inner: 42 },
    }
}

#[test]
fn every_data_model_type_reads_back_as_serde_json_writes_it() {
    let value = everything();
    alamos::report("reports_test.everything", &value).unwrap();
    let ours = reported("reports_test.everything").expect("attached");
    let theirs = serde_json::to_value(&value).unwrap();
    assert_eq!(ours, theirs);
    assert!(ours.get("skipped").is_none());
    assert!(!alamos::reports().contains(SECRET));

    // Beyond u64, which serde_json's `Value` cannot hold: the text itself.
    alamos::report("reports_test.wide", &(u128::MAX, i128::MIN)).unwrap();
    assert!(alamos::reports().contains(&format!("\"value\":[{},{}]", u128::MAX, i128::MIN)));
}

#[test]
fn non_finite_floats_become_strings() {
    alamos::report(
        "reports_test.floats",
        &[f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1.5],
    )
    .unwrap();
    assert_eq!(
        reported("reports_test.floats"),
        Some(json!(["NaN", "inf", "-inf", 1.5]))
    );
}

#[test]
fn maps_with_keys_json_cannot_hold_are_refused_and_the_last_report_kept() {
    alamos::report("reports_test.keys", &BTreeMap::from([('k', 1)])).unwrap();
    let error = alamos::report(
        "reports_test.keys",
        &BTreeMap::from([(vec![1, 2], "compound")]),
    )
    .unwrap_err();
    assert!(
        matches!(error, alamos::ReportError::Serialize(_)),
        "{error}"
    );
    assert!(error.to_string().contains("map key"), "{error}");
    let error = alamos::report(
        "reports_test.keys",
        &vec![(1.5_f64, 1)].into_iter().collect::<Floats>(),
    )
    .unwrap_err();
    assert!(error.to_string().contains("not a float"), "{error}");
    assert_eq!(reported("reports_test.keys"), Some(json!({"k": 1})));
    assert!(alamos::report("Not.A.Key", &1).is_err());
}

/// A map with float keys (std's maps need `Ord`/`Hash` keys).
struct Floats(Vec<(f64, i32)>);

impl FromIterator<(f64, i32)> for Floats {
    fn from_iter<I: IntoIterator<Item = (f64, i32)>>(iter: I) -> Self {
        Floats(iter.into_iter().collect())
    }
}

impl Serialize for Floats {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

#[test]
fn the_latest_report_wins() {
    alamos::report("reports_test.membership", &["node-1"]).unwrap();
    alamos::report("reports_test.membership", &["node-1", "node-2"]).unwrap();
    assert_eq!(
        reported("reports_test.membership"),
        Some(json!(["node-1", "node-2"]))
    );
    let all: Value = serde_json::from_str(&alamos::reports()).unwrap();
    let report = &all["reports_test.membership"];
    assert_eq!(report["level"], "prod");
    assert!(
        report["reported_at"]
            .as_str()
            .is_some_and(|at| at.len() == 24 && at.ends_with('Z')),
        "{report}"
    );
}

/// Fails the test if it is ever serialized.
struct Panics;

impl Serialize for Panics {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        panic!("a disabled report was serialized");
    }
}

#[test]
fn reports_obey_the_threshold_at_their_level() {
    alamos::report("reports_test.gated", &1).unwrap();
    // Off: not attached, the earlier report stays.
    alamos::set_level("reports_test.gated", alamos::LevelFilter::Off).unwrap();
    alamos::report("reports_test.gated", &2).unwrap();
    assert_eq!(reported("reports_test.gated"), Some(json!(1)), "kept");
    // A `debug` report under the default `prod` threshold: not attached,
    // and not even serialized.
    alamos::report_at("reports_test.verbose", alamos::Level::Debug, &Panics).unwrap();
    assert_eq!(reported("reports_test.verbose"), None);
    alamos::set_level("reports_test.verbose", alamos::Level::Debug).unwrap();
    alamos::report_at("reports_test.verbose", alamos::Level::Debug, &"now on").unwrap();
    assert_eq!(reported("reports_test.verbose"), Some(json!("now on")));
    let all: Value = serde_json::from_str(&alamos::reports()).unwrap();
    assert_eq!(all["reports_test.verbose"]["level"], "debug");
    // The key is an experiment of the tree.
    assert!(alamos::experiments()
        .iter()
        .any(|experiment| experiment.key() == "reports_test.verbose"));
}

#[derive(Serialize, Deserialize)]
struct ApiConfig {
    user: String,
    password: Redacted<String>,
    #[serde(skip)]
    #[allow(dead_code)]
    session_key: String,
}

#[test]
fn a_canary_secret_in_a_report_is_in_no_output() {
    let guard = guard();
    let config: ApiConfig = serde_json::from_value(json!({
        "user": CONTROL,
        "password": SECRET,
    }))
    .expect("Redacted deserializes as what it wraps");
    assert_eq!(config.password.expose(), SECRET);
    let config = ApiConfig {
        session_key: SECRET.to_owned(),
        ..config
    };
    alamos::report("reports_test.api", &config).unwrap();
    assert_eq!(
        format!("{:?} {}", config.password, config.password),
        "<redacted> <redacted>"
    );

    let addr = guard.prometheus_addr().expect("served");
    let auth = format!("Bearer {TOKEN}");
    let mut outputs = vec![
        ("reports()", alamos::reports()),
        ("tree()", alamos::tree().to_string()),
        ("experiments()", format!("{:?}", alamos::experiments())),
        ("tasks()", format!("{:?}", alamos::tasks())),
        ("render()", guard.render().unwrap_or_default()),
    ];
    for path in [
        "/metrics",
        "/alamos/reports",
        "/alamos/tree",
        "/alamos/tasks",
        "/alamos/levels",
    ] {
        let response =
            alamos_tests::http_request(addr, "GET", path, &[("Authorization", &auth)], b"");
        assert_eq!(response.status, 200, "{path}: {}", response.text());
        outputs.push((path, format!("{}\n{}", response.head, response.text())));
    }
    for (name, output) in &outputs {
        assert!(
            !output.contains(SECRET),
            "the secret is in {name}:\n{output}"
        );
    }
    // The search can fail: the control value is where it was reported.
    let (_, reports) = outputs
        .iter()
        .find(|(name, _)| *name == "/alamos/reports")
        .expect("read");
    assert!(reports.contains(CONTROL), "{reports}");
    assert!(reports.contains(r#""password":"<redacted>""#), "{reports}");
    assert!(!reports.contains("session_key"), "{reports}");
}
