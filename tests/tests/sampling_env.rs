//! `ALAMOS_TRACE_SAMPLE` and `OTEL_TRACES_SAMPLER(_ARG)` in fresh processes
//! (`src/bin/sampling_probe.rs`): probabilities per experiment, malformed
//! parts reported on stderr (which part, why, nearest keys) while the rest
//! apply and nothing panics, OpenTelemetry's sampler variables setting the
//! root probability only when `ALAMOS_TRACE_SAMPLE` is unset.

use std::collections::BTreeMap;
use std::ffi::OsStr;

/// The probe's facts: `probability`/`traced` per key, and the root's, with
/// its stderr lines. Every other `ALAMOS_*` and `OTEL_*` variable is removed.
fn probe(env: &[(&str, &OsStr)]) -> (BTreeMap<String, (f64, usize)>, f64, Vec<String>) {
    let mut command = alamos_tests::probe_command(env!("CARGO_BIN_EXE_sampling_probe"));
    command.envs(env.iter().copied());
    let (stdout, stderr) = alamos_tests::run_probe(&mut command);
    let mut facts: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    let mut root = f64::NAN;
    for line in stdout.lines() {
        let words: Vec<&str> = line.split(' ').collect();
        match words[..] {
            ["probability", key, p] => {
                facts.entry(key.to_owned()).or_default().0 = p.parse().unwrap();
            }
            ["traced", key, n] => facts.entry(key.to_owned()).or_default().1 = n.parse().unwrap(),
            ["root", p] => root = p.parse().unwrap(),
            _ => panic!("unexpected line {line:?}"),
        }
    }
    let stderr = stderr.lines().map(str::to_owned).collect();
    (facts, root, stderr)
}

fn text(pairs: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static OsStr)> {
    pairs.iter().map(|(k, v)| (*k, OsStr::new(*v))).collect()
}

#[test]
fn unset_traces_every_call() {
    let (facts, root, stderr) = probe(&[]);
    assert_eq!(stderr, Vec::<String>::new());
    assert!((root - 1.0).abs() < f64::EPSILON);
    for (key, (p, traced)) in facts {
        assert!((p - 1.0).abs() < f64::EPSILON, "{key}");
        assert_eq!(traced, 1_000, "{key}");
    }
}

#[test]
fn the_longest_key_sets_each_probability() {
    let (facts, root, stderr) = probe(&text(&[(
        "ALAMOS_TRACE_SAMPLE",
        "0, api.auth=1, storage=0.5",
    )]));
    assert_eq!(stderr, Vec::<String>::new());
    assert!(root.abs() < f64::EPSILON);
    assert_eq!(facts["api.auth"], (1.0, 1_000));
    assert_eq!(facts["api.search"], (0.0, 0));
    let (p, traced) = facts["storage.kv"];
    assert!((p - 0.5).abs() < f64::EPSILON);
    // Binomial(1000, 0.5): 500 ± 16 per standard deviation.
    assert!((400..=600).contains(&traced), "{traced}");
}

#[test]
fn malformed_parts_are_reported_and_the_rest_apply() {
    let (facts, root, stderr) = probe(&text(&[(
        "ALAMOS_TRACE_SAMPLE",
        "0.5,api=2,stroage=0.1,api.search,=0.2,storage=0,api.auth=often",
    )]));
    let expected = [
        r#"alamos: ALAMOS_TRACE_SAMPLE: directive 2 ("api=2") skipped: probability 2 is not between 0 and 1"#,
        r#"alamos: ALAMOS_TRACE_SAMPLE: directive 3 ("stroage=0.1") skipped: no experiment is named "stroage"; nearest known: storage"#,
        r#"alamos: ALAMOS_TRACE_SAMPLE: directive 4 ("api.search") skipped: "api.search" is not a probability: expected a number from 0 to 1, such as 0.01; to set the probability of experiment "api.search" write `api.search=<probability>`"#,
        r#"alamos: ALAMOS_TRACE_SAMPLE: directive 5 ("=0.2") skipped: no experiment key before `=`"#,
        r#"alamos: ALAMOS_TRACE_SAMPLE: directive 7 ("api.auth=often") skipped: "often" is not a probability: expected a number from 0 to 1, such as 0.01"#,
    ];
    assert_eq!(stderr.len(), expected.len(), "{stderr:#?}");
    for (line, expected) in stderr.iter().zip(expected) {
        assert!(line.starts_with(expected), "{line}\nexpected {expected}");
    }
    assert!((root - 0.5).abs() < f64::EPSILON);
    assert_eq!(facts["storage.kv"], (0.0, 0));
    assert!((facts["api.auth"].0 - 0.5).abs() < f64::EPSILON);
}

#[test]
fn a_value_that_is_not_utf8_is_reported_and_reads_as_unset() {
    use std::os::unix::ffi::OsStrExt as _;

    let bad = OsStr::from_bytes(b"0.5,\xff");
    let (facts, root, stderr) = probe(&[
        ("ALAMOS_TRACE_SAMPLE", bad),
        ("OTEL_TRACES_SAMPLER", OsStr::new("always_off")),
    ]);
    assert_eq!(
        stderr,
        ["alamos: ALAMOS_TRACE_SAMPLE is not valid UTF-8; reading it as unset"]
    );
    // Unset, so OpenTelemetry's variable applies.
    assert!(root.abs() < f64::EPSILON);
    assert_eq!(facts["api.auth"], (0.0, 0));
}

#[test]
fn otel_traces_sampler_sets_the_root_probability_when_alamos_is_unset() {
    for (sampler, arg, expected) in [
        ("always_on", None, 1.0),
        ("parentbased_always_on", None, 1.0),
        ("always_off", None, 0.0),
        ("parentbased_always_off", None, 0.0),
        ("traceidratio", Some("0.25"), 0.25),
        ("parentbased_traceidratio", Some("0.25"), 0.25),
        ("parentbased_traceidratio", None, 1.0),
    ] {
        let mut env = text(&[("OTEL_TRACES_SAMPLER", sampler)]);
        if let Some(arg) = arg {
            env.push(("OTEL_TRACES_SAMPLER_ARG", OsStr::new(arg)));
        }
        let (facts, root, stderr) = probe(&env);
        assert_eq!(stderr, Vec::<String>::new(), "{sampler}");
        assert!((root - expected).abs() < f64::EPSILON, "{sampler}: {root}");
        for (key, (p, traced)) in facts {
            assert!((p - expected).abs() < f64::EPSILON, "{sampler} {key}");
            match expected {
                0.0 => assert_eq!(traced, 0, "{sampler} {key}"),
                1.0 => assert_eq!(traced, 1_000, "{sampler} {key}"),
                // Binomial(1000, 0.25): 250 ± 14 per standard deviation.
                _ => assert!((150..=350).contains(&traced), "{sampler} {key}: {traced}"),
            }
        }
    }
}

#[test]
fn alamos_trace_sample_wins_over_otel_traces_sampler() {
    let (facts, root, stderr) = probe(&text(&[
        ("ALAMOS_TRACE_SAMPLE", "api=0"),
        ("OTEL_TRACES_SAMPLER", "always_off"),
    ]));
    assert_eq!(stderr, Vec::<String>::new());
    assert!((root - 1.0).abs() < f64::EPSILON);
    assert_eq!(facts["api.auth"], (0.0, 0));
    assert_eq!(facts["storage.kv"], (1.0, 1_000));
}

#[test]
fn malformed_otel_values_are_reported_and_trace_every_root() {
    let (facts, root, stderr) = probe(&text(&[
        ("OTEL_TRACES_SAMPLER", "traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
    ]));
    assert_eq!(
        stderr,
        ["alamos: ignoring OTEL_TRACES_SAMPLER_ARG: probability 1.5 is not between 0 and 1; using 1"]
    );
    assert!((root - 1.0).abs() < f64::EPSILON);
    assert_eq!(facts["api.search"], (1.0, 1_000));

    let (_, root, stderr) = probe(&text(&[("OTEL_TRACES_SAMPLER", "sometimes")]));
    assert_eq!(stderr.len(), 1, "{stderr:?}");
    assert!(
        stderr[0].starts_with("alamos: OTEL_TRACES_SAMPLER=\"sometimes\" is not one of always_on,"),
        "{stderr:?}"
    );
    assert!((root - 1.0).abs() < f64::EPSILON);
}
