//! `alamos::init` and `Builder` as a binary uses them, in fresh processes
//! (each can install a global subscriber and recorder only once).

use std::net::TcpListener;
use std::process::{Command, Output};

fn probe(mode: &str, env: &[(&str, &str)]) -> (String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_init_probe"));
    command
        .arg(mode)
        .env_remove("ALAMOS_LEVEL")
        .env_remove(alamos::LOG_FORMAT_ENV)
        .env_remove(alamos::PROMETHEUS_ADDR_ENV);
    for (key, value) in env {
        command.env(key, value);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().expect("the probe runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    );
    assert!(
        status.success(),
        "probe {mode} failed: {status:?}\n{stdout}\n{stderr}"
    );
    (stdout, stderr)
}

#[test]
fn text_logs_show_spans_events_and_respect_the_root_threshold() {
    let (stdout, stderr) = probe("text", &[]);
    assert_eq!(stdout.trim(), "done");
    assert!(stderr.contains("probe.writer.write{"), "{stderr}");
    assert!(
        stderr.contains("alamos.experiment=\"probe.writer\""),
        "{stderr}"
    );
    assert!(stderr.contains("writing"), "{stderr}");
    assert!(stderr.contains("error=refused"), "{stderr}");
    assert!(
        stderr.contains("close time.busy="),
        "span close events: {stderr}"
    );
    assert!(stderr.contains("a plain tracing event"), "{stderr}");
    assert!(
        !stderr.contains("a plain tracing debug event"),
        "debug is below the default root threshold prod: {stderr}"
    );

    let (_, stderr) = probe("text", &[("ALAMOS_LEVEL", "debug")]);
    assert!(stderr.contains("a plain tracing debug event"), "{stderr}");
    let (_, stderr) = probe("text", &[("ALAMOS_LEVEL", "prod,probe=off")]);
    assert!(!stderr.contains("probe.writer"), "{stderr}");
    assert!(stderr.contains("a plain tracing event"), "{stderr}");
}

#[test]
fn json_logs_are_one_object_per_line() {
    let (_, stderr) = probe("json", &[(alamos::LOG_FORMAT_ENV, "json")]);
    let objects: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let event = objects
        .iter()
        .find(|o| o["fields"]["message"] == "writing")
        .unwrap_or_else(|| panic!("no event in {stderr}"));
    assert_eq!(event["fields"]["alamos.experiment"], "probe.writer");
    assert_eq!(event["span"]["name"], "probe.writer.write");
    assert_eq!(event["level"], "INFO");
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
    assert_eq!(stdout.trim(), "foreign_series=4 render=false", "{stderr}");
}

#[test]
fn malformed_environment_is_reported_and_the_rest_is_set_up() {
    let (stdout, stderr) = probe(
        "serve",
        &[
            (alamos::PROMETHEUS_ADDR_ENV, "not-an-address"),
            (alamos::LOG_FORMAT_ENV, "xml"),
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
    let (stdout, stderr) = probe("serve", &[(alamos::PROMETHEUS_ADDR_ENV, &addr)]);
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
    let (stdout, _) = probe("serve", &[(alamos::PROMETHEUS_ADDR_ENV, &port.to_string())]);
    assert!(
        stdout.contains(&format!("addr=127.0.0.1:{port}")),
        "{stdout}"
    );
}
