//! How `alamos::init()`'s subscriber filters events that are not alamos's
//! own, with and without `RUST_LOG`, and how it follows threshold changes
//! at run time: one probe process per environment.

/// Runs the probe with `env` set and the rest of alamos's variables unset;
/// returns stdout and stderr.
fn probe(env: &[(&str, &str)]) -> (String, String) {
    probe_args(&[], env)
}

fn probe_args(args: &[&str], env: &[(&str, &str)]) -> (String, String) {
    alamos_tests::run_probe_with(env!("CARGO_BIN_EXE_filter_probe"), args, env)
}

/// Which of `messages` (each `"<step>: <what>"`) stderr shows.
fn shown<'a>(stderr: &str, messages: &[&'a str]) -> Vec<&'a str> {
    messages
        .iter()
        .copied()
        .filter(|message| stderr.lines().any(|line| line.contains(message)))
        .collect()
}

/// Every event the probe emits at `step`.
fn all(step: &str) -> Vec<String> {
    [
        "foreign info",
        "foreign debug",
        "foreign warn",
        "hyper debug",
        "hyper trace",
        "alamos info",
        "late bench log",
    ]
    .iter()
    .map(|what| format!("{step}: {what}"))
    .collect()
}

fn shown_at(stderr: &str, step: &str) -> Vec<String> {
    let messages = all(step);
    let messages: Vec<&str> = messages.iter().map(String::as_str).collect();
    shown(stderr, &messages)
        .into_iter()
        .map(|message| {
            message
                .split_once(": ")
                .map_or("", |(_, what)| what)
                .to_owned()
        })
        .collect()
}

fn current(stdout: &str, step: &str) -> String {
    stdout
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{step} current=")))
        .unwrap_or_else(|| panic!("no {step} in {stdout}"))
        .to_owned()
}

#[test]
fn foreign_targets_follow_the_root_threshold_live() {
    let (stdout, stderr) = probe(&[]);
    assert_eq!(current(&stdout, "start"), "info", "{stdout}");
    assert_eq!(
        shown_at(&stderr, "start"),
        ["foreign info", "foreign warn", "alamos info"],
        "{stderr}"
    );
    assert_eq!(current(&stdout, "root-debug"), "debug");
    assert_eq!(
        shown_at(&stderr, "root-debug"),
        [
            "foreign info",
            "foreign debug",
            "foreign warn",
            "hyper debug",
            "alamos info"
        ],
        "{stderr}"
    );
    // Every threshold off: `tracing` itself filters every foreign event.
    assert_eq!(current(&stdout, "root-off"), "off");
    assert_eq!(
        shown_at(&stderr, "root-off"),
        Vec::<String>::new(),
        "{stderr}"
    );
    // An experiment enabled later at `bench` logs at TRACE: the hint follows.
    assert_eq!(current(&stdout, "late-bench"), "trace");
    assert_eq!(
        shown_at(&stderr, "late-bench"),
        ["late bench log"],
        "{stderr}"
    );
    assert_eq!(current(&stdout, "directives-warn"), "warn");
    assert_eq!(
        shown_at(&stderr, "directives-warn"),
        ["foreign warn"],
        "{stderr}"
    );
}

#[test]
fn alamos_level_off_from_the_start_filters_in_tracing() {
    let (stdout, stderr) = probe(&[(alamos::env::LEVEL, "off")]);
    assert_eq!(current(&stdout, "start"), "off", "{stdout}");
    assert_eq!(shown_at(&stderr, "start"), Vec::<String>::new(), "{stderr}");
    assert_eq!(
        shown_at(&stderr, "late-bench"),
        ["late bench log"],
        "{stderr}"
    );
}

#[test]
fn rust_log_decides_for_foreign_targets_and_never_for_alamos() {
    let (stdout, stderr) = probe(&[("RUST_LOG", "warn,hyper=trace")]);
    assert_eq!(current(&stdout, "start"), "trace", "{stdout}");
    assert_eq!(
        shown_at(&stderr, "start"),
        ["foreign warn", "hyper debug", "hyper trace", "alamos info"],
        "{stderr}"
    );
    // The root threshold moves alamos's callsites, not RUST_LOG's targets.
    assert_eq!(
        shown_at(&stderr, "root-off"),
        ["foreign warn", "hyper debug", "hyper trace"],
        "{stderr}"
    );
    assert_eq!(current(&stdout, "root-off"), "trace");
}

#[test]
fn targets_rust_log_does_not_name_follow_the_root_threshold() {
    let (stdout, stderr) = probe(&[("RUST_LOG", "hyper=debug")]);
    assert_eq!(current(&stdout, "start"), "debug", "{stdout}");
    assert_eq!(
        shown_at(&stderr, "start"),
        ["foreign info", "foreign warn", "hyper debug", "alamos info"],
        "{stderr}"
    );
    assert_eq!(shown_at(&stderr, "root-off"), ["hyper debug"], "{stderr}");
}

#[test]
fn a_malformed_rust_log_is_reported_and_skipped() {
    let (stdout, stderr) = probe(&[("RUST_LOG", "[span]=debug,hyper=loud,hyper::proto=debug")]);
    assert!(
        stderr.contains(
            "alamos: RUST_LOG: skipping \"[span]=debug\": span and field filters are not supported"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("alamos: RUST_LOG: skipping \"hyper=loud\": not a level"),
        "{stderr}"
    );
    assert_eq!(current(&stdout, "start"), "debug", "{stdout}");
    assert_eq!(
        shown_at(&stderr, "start"),
        ["foreign info", "foreign warn", "hyper debug", "alamos info"],
        "{stderr}"
    );
}

#[test]
fn an_admin_put_rebuilds_what_tracing_filters() {
    let (stdout, stderr) = probe_args(
        &["admin"],
        &[
            (alamos::env::PROMETHEUS_ADDR, "127.0.0.1:0"),
            (alamos::env::ADMIN_TOKEN, "filter-probe-admin-token-5e1a"),
        ],
    );
    assert_eq!(current(&stdout, "start"), "info", "{stdout}");
    assert_eq!(current(&stdout, "admin-debug"), "debug", "{stdout}");
    assert_eq!(
        shown_at(&stderr, "admin-debug"),
        [
            "foreign info",
            "foreign debug",
            "foreign warn",
            "hyper debug",
            "alamos info"
        ],
        "{stderr}"
    );
    // With the admin routes served, their change lines pass whatever the
    // thresholds: `off` keeps the ceiling at `warn`, and only the lines of
    // wanted callsites print (none of the foreign ones).
    assert_eq!(current(&stdout, "admin-off"), "warn", "{stdout}");
    assert!(shown_at(&stderr, "admin-off").is_empty(), "{stderr}");
    assert!(
        stderr.contains(r#"thresholds changed through PUT /alamos/levels old="debug" new="off""#)
            || stderr.contains("thresholds changed through PUT /alamos/levels old=debug new=off"),
        "{stderr}"
    );
}
