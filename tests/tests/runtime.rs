//! `alamos::init` and `Builder` as a binary uses them, in fresh processes
//! (each can install a global subscriber and recorder only once).

use std::net::TcpListener;

use alamos_tests::lines_with;

fn probe(mode: &str, env: &[(&str, &str)]) -> (String, String) {
    probe_args(&[mode], env)
}

fn probe_args(args: &[&str], env: &[(&str, &str)]) -> (String, String) {
    alamos_tests::run_probe_with(env!("CARGO_BIN_EXE_init_probe"), args, env)
}

#[test]
fn text_logs_show_events_with_their_span_path_and_respect_the_root_threshold() {
    let (stdout, stderr) = probe("text", &[]);
    assert_eq!(stdout.trim(), "done");
    // One line per event: time, level, the span path, the message, fields.
    let writing = lines_with(&stderr, "writing");
    assert_eq!(writing.len(), 2, "{stderr}");
    assert!(
        writing[0].contains("  INFO probe.writer.write: writing n=1"),
        "{stderr}"
    );
    let error = lines_with(&stderr, "error=refused");
    assert_eq!(error.len(), 1, "{stderr}");
    assert!(
        error[0].contains("ERROR probe.writer.write: error=refused"),
        "{stderr}"
    );
    // What every alamos span and event carries is said by the span path.
    assert!(!stderr.contains("alamos.experiment"), "{stderr}");
    assert!(!stderr.contains("code.function"), "{stderr}");
    // Outside any experiment: nothing where the experiment would be.
    let outside = lines_with(&stderr, "outside any experiment");
    assert_eq!(outside.len(), 1, "{stderr}");
    assert!(
        outside[0].ends_with(" INFO outside any experiment"),
        "{stderr}"
    );
    // Span lifecycle lines only when asked.
    assert!(!stderr.contains("close time.busy="), "{stderr}");
    // An event that is not alamos's names its target.
    assert!(
        stderr.contains("init_probe: a plain tracing event"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("a plain tracing debug event"),
        "debug is below the default root threshold prod: {stderr}"
    );

    let (_, stderr) = probe("text", &[(alamos::env::LOG_SPANS, "close")]);
    let closes = lines_with(&stderr, "probe.writer.write: close time.busy=");
    assert_eq!(closes.len(), 2, "{stderr}");
    let (_, stderr) = probe("text", &[(alamos::env::LOG_SPANS, "sometimes")]);
    assert!(
        stderr.contains("ALAMOS_LOG_SPANS=\"sometimes\" is not one of"),
        "{stderr}"
    );
    assert!(!stderr.contains("close time.busy="), "{stderr}");

    let (_, stderr) = probe("text", &[("ALAMOS_LEVEL", "debug")]);
    assert!(stderr.contains("a plain tracing debug event"), "{stderr}");
    let (_, stderr) = probe("text", &[("ALAMOS_LEVEL", "prod,probe=off")]);
    assert!(!stderr.contains("probe.writer"), "{stderr}");
    assert!(stderr.contains("a plain tracing event"), "{stderr}");
}

/// `Builder::span_events` turns span lines on, and off, whatever
/// `ALAMOS_LOG_SPANS` says.
#[test]
fn the_builder_says_which_span_lines_are_written() {
    let count = |stderr: &str| {
        (
            lines_with(stderr, "probe.writer.write: new").len(),
            lines_with(stderr, "probe.writer.write: close time.busy=").len(),
        )
    };
    for (events, expected) in [
        ("none", (0, 0)),
        ("close", (0, 2)),
        ("open", (2, 0)),
        ("full", (2, 2)),
    ] {
        let (stdout, stderr) = probe_args(&["spans", events], &[]);
        assert_eq!(stdout.trim(), "done");
        assert_eq!(count(&stderr), expected, "{events}: {stderr}");
        // The events are written either way.
        assert_eq!(lines_with(&stderr, "writing n=").len(), 2, "{stderr}");
    }
    // The builder wins over the environment, both ways.
    let (_, stderr) = probe_args(&["spans", "close"], &[(alamos::env::LOG_SPANS, "none")]);
    assert_eq!(count(&stderr), (0, 2), "{stderr}");
    let (_, stderr) = probe_args(&["spans", "none"], &[(alamos::env::LOG_SPANS, "full")]);
    assert_eq!(count(&stderr), (0, 0), "{stderr}");
}

/// The builder's on/off setters: `prometheus_endpoint(false)` and
/// `admin(false)` win over an address or a token given by the builder or
/// the environment, in whichever order the setters are called;
/// `recorder(false)` serves nothing either.
#[test]
fn the_builder_leaves_parts_out_whatever_the_order_of_its_setters() {
    let served = |args: &[&str], env: &[(&str, &str)]| {
        let (stdout, stderr) = probe_args(&[&["parts"], args].concat(), env);
        (stdout.lines().collect::<Vec<_>>().join(" "), stderr)
    };
    let (stdout, _) = served(&["addr", "token"], &[]);
    assert_eq!(stdout, "addr=some metrics=200 admin=200 render=true");
    for args in [
        ["addr", "token", "admin_off"],
        ["admin_off", "addr", "token"],
    ] {
        let (stdout, _) = served(&args, &[]);
        assert_eq!(
            stdout, "addr=some metrics=200 admin=404 render=true",
            "{args:?}"
        );
    }
    for args in [
        ["addr", "token", "endpoint_off"],
        ["endpoint_off", "addr", "token"],
    ] {
        let (stdout, stderr) = served(&args, &[]);
        assert_eq!(stdout, "addr=none render=true", "{args:?}");
        assert!(
            stderr.contains("the builder was told to serve no endpoint"),
            "{stderr}"
        );
    }
    let (stdout, _) = served(&["addr", "recorder_off"], &[]);
    assert_eq!(stdout, "addr=none render=false");

    let env = [
        (alamos::env::PROMETHEUS_ADDR, "127.0.0.1:0"),
        (alamos::env::ADMIN_TOKEN, "init-probe-admin-token-3c9d"),
    ];
    let (stdout, _) = served(&[], &env);
    assert_eq!(stdout, "addr=some metrics=200 admin=200 render=true");
    let (stdout, _) = served(&["admin_off"], &env);
    assert_eq!(stdout, "addr=some metrics=200 admin=404 render=true");
    let (stdout, _) = served(&["endpoint_off"], &env);
    assert_eq!(stdout, "addr=none render=true");
}

#[test]
fn json_logs_are_one_object_per_line() {
    let (_, stderr) = probe("json", &[(alamos::env::LOG_FORMAT, "json")]);
    let objects: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let event = objects
        .iter()
        .find(|o| o["fields"]["message"] == "writing")
        .unwrap_or_else(|| panic!("no event in {stderr}"));
    assert_eq!(event["experiment"], "probe.writer");
    assert_eq!(event["fields"]["n"], 1);
    assert!(
        event["fields"].get("alamos.experiment").is_none(),
        "{event}"
    );
    assert_eq!(event["span"]["name"], "probe.writer.write");
    assert_eq!(event["spans"][0]["name"], "probe.writer.write");
    assert_eq!(event["level"], "INFO");
    assert!(event["timestamp"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    let error = objects
        .iter()
        .find(|o| o["fields"]["error"] == "refused")
        .unwrap_or_else(|| panic!("no err event in {stderr}"));
    assert_eq!(error["experiment"], "probe.writer", "{error}");
    let outside = objects
        .iter()
        .find(|o| o["fields"]["message"] == "outside any experiment")
        .unwrap_or_else(|| panic!("no root event in {stderr}"));
    assert!(outside.get("experiment").is_none(), "{outside}");
    assert!(outside.get("span").is_none(), "{outside}");
}

#[test]
fn an_existing_subscriber_and_recorder_are_kept_and_said_so() {
    let (stdout, stderr) = probe("foreign", &[]);
    assert!(
        stderr.contains("a tracing subscriber is already installed; keeping it"),
        "{stderr}"
    );
    assert!(
        stderr.contains("a metrics recorder is already installed; keeping it"),
        "{stderr}"
    );
    // alamos's metrics went to the program's own recorder.
    // One `alamos_calls_total` series per outcome (ok, error, panic,
    // cancelled, unknown), registered when the callsite is first enabled.
    assert_eq!(stdout.trim(), "foreign_series=5 render=false", "{stderr}");
}

#[test]
fn malformed_environment_is_reported_and_the_rest_is_set_up() {
    let (stdout, stderr) = probe(
        "serve",
        &[
            (alamos::env::PROMETHEUS_ADDR, "not-an-address"),
            (alamos::env::LOG_FORMAT, "xml"),
            ("ALAMOS_LEVEL", "prod,probe=loud"),
        ],
    );
    assert!(
        stderr.contains("ALAMOS_PROMETHEUS_ADDR: \"not-an-address\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("ALAMOS_LOG_FORMAT=\"xml\" is neither"),
        "{stderr}"
    );
    assert!(stderr.contains("unknown level \"loud\""), "{stderr}");
    assert!(stdout.contains("addr=none"), "{stdout}");
    assert!(stdout.contains("render=true"), "{stdout}");
    assert!(
        stderr.contains("probe.writer.write"),
        "logs still work: {stderr}"
    );
}

#[test]
fn an_address_in_use_is_reported_and_metrics_still_render() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("a port");
    let addr = taken.local_addr().expect("bound").to_string();
    let (stdout, stderr) = probe("serve", &[(alamos::env::PROMETHEUS_ADDR, &addr)]);
    assert!(
        stderr.contains(&format!("cannot serve metrics on {addr}")),
        "{stderr}"
    );
    assert!(
        stdout.contains("addr=none") && stdout.contains("render=true"),
        "{stdout}"
    );
}

#[test]
fn a_bare_port_is_served_on_loopback() {
    let free = TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = free.local_addr().expect("bound").port();
    drop(free);
    let (stdout, _) = probe(
        "serve",
        &[(alamos::env::PROMETHEUS_ADDR, &port.to_string())],
    );
    assert!(
        stdout.contains(&format!("addr=127.0.0.1:{port}")),
        "{stdout}"
    );
}
