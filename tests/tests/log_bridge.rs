//! The `log` crate's records in alamos's output (issue 17, item 3): held to
//! the threshold of the experiment they are logged in, shown with their own
//! target in text and JSON lines, and a logger the program set first kept.
//! Each case runs `log_bridge_probe` in a fresh process.

use alamos_tests::lines_with;

fn probe(mode: &str, env: &[(&str, &str)]) -> (String, String) {
    alamos_tests::run_probe_with(env!("CARGO_BIN_EXE_log_bridge_probe"), &[mode], env)
}

#[test]
fn records_follow_the_threshold_of_their_experiment() {
    let (stdout, stderr) = probe("", &[(alamos::env::LEVEL, "prod,bridge.storage=debug")]);
    assert_eq!(stdout.trim(), "answer=2 own=0");
    // Inside `bridge.storage` (debug): its debug record passes, trace doesn't.
    let debug = lines_with(&stderr, "a debug record inside storage");
    assert_eq!(debug.len(), 1, "{stderr}");
    assert!(
        debug[0].contains("DEBUG bridge.api.serve:bridge.storage.store: dep::codec: a debug record inside storage"),
        "the span path and the record's own target: {stderr}"
    );
    assert!(
        !stderr.contains("a trace record inside storage"),
        "{stderr}"
    );
    assert_eq!(
        lines_with(&stderr, "an info record inside storage").len(),
        1,
        "{stderr}"
    );
    // `bridge.api` and the root stay at prod.
    assert!(!stderr.contains("a debug record inside api"), "{stderr}");
    assert!(!stderr.contains("a debug record outside"), "{stderr}");
    let warn = lines_with(&stderr, "a warn record outside any experiment");
    assert_eq!(warn.len(), 1, "{stderr}");
    assert!(
        warn[0].contains(" WARN dep::pool: a warn record"),
        "{stderr}"
    );
    // The bridge's bookkeeping fields stay out of the line.
    assert!(!stderr.contains("log.target"), "{stderr}");
    assert!(!stderr.contains("log.file"), "{stderr}");
}

#[test]
fn the_root_threshold_decides_outside_experiments() {
    let (_, stderr) = probe("", &[(alamos::env::LEVEL, "bench,bridge=prod")]);
    assert_eq!(
        lines_with(&stderr, "a debug record outside any experiment").len(),
        1,
        "{stderr}"
    );
    assert!(!stderr.contains("a debug record inside"), "{stderr}");
    let (_, stderr) = probe("", &[(alamos::env::LEVEL, "off")]);
    assert!(!stderr.contains("record"), "{stderr}");
}

#[test]
fn json_lines_carry_the_record_and_its_target() {
    let (_, stderr) = probe(
        "",
        &[
            (alamos::env::LEVEL, "prod,bridge.storage=debug"),
            (alamos::env::LOG_FORMAT, "json"),
        ],
    );
    let line = lines_with(&stderr, "a debug record inside storage");
    assert_eq!(line.len(), 1, "{stderr}");
    let value: serde_json::Value = serde_json::from_str(line[0]).expect("a JSON line");
    assert_eq!(value["target"], "dep::codec", "{value}");
    assert_eq!(value["level"], "DEBUG", "{value}");
    assert_eq!(
        value["fields"]["message"], "a debug record inside storage",
        "{value}"
    );
    assert!(value["fields"].get("log.target").is_none(), "{value}");
    assert_eq!(value["span"]["name"], "bridge.storage.store", "{value}");
}

#[test]
fn a_logger_set_before_init_is_kept() {
    let (stdout, stderr) = probe(
        "own-logger",
        &[(alamos::env::LEVEL, "prod,bridge.storage=debug")],
    );
    // Every record reached the program's logger: 3 in storage, 1 in api, 2 outside.
    assert_eq!(stdout.trim(), "answer=2 own=6", "{stderr}");
    assert_eq!(lines_with(&stderr, "own logger:").len(), 6, "{stderr}");
    assert_eq!(
        lines_with(&stderr, "a `log` logger is already installed; keeping it").len(),
        1,
        "{stderr}"
    );
    // alamos's own lines don't repeat them.
    assert!(!stderr.contains("dep::codec:"), "{stderr}");
}
