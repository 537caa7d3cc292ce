//! Shutdown (DESIGN.md "Operation"): with `ALAMOS_FLUSH_ON_SIGNALS=1`, a
//! process killed with SIGTERM mid-run delivers every span, log record and
//! metric point a healthy receiver would have taken, then dies of the
//! signal (status 143 in a shell); a program's own tokio SIGTERM handler
//! still runs beside alamos's; and a program that handles SIGTERM itself,
//! with the setting off, shuts down its own way and still delivers
//! everything when it drops the guard.
//!
//! The probe (`tests/src/bin/export_probe.rs`) makes a burst of calls, says
//! so, and waits: the batch delay (5 s) and the metrics interval (60 s)
//! have not passed when the signal lands, so nothing has been exported
//! yet. `EXPORT_PROBE=<path>` runs another build of it.
#![cfg(all(feature = "otel", unix))]

#[path = "propagation_otel/receiver.rs"]
#[allow(dead_code)]
mod receiver;

use std::io::{BufRead as _, BufReader, Read as _};
use std::os::unix::process::ExitStatusExt as _;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use receiver::Receiver;

const SIGTERM: i32 = 15;

fn probe(receiver: &Receiver) -> Command {
    let path = std::env::var("EXPORT_PROBE")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_export_probe").to_owned());
    let mut command = alamos_tests::probe_command(path);
    command
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint())
        .env("ALAMOS_LEVEL", "prod")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// What the probe said and how it ended, after a SIGTERM sent once it has
/// made its calls.
struct Ended {
    stdout: String,
    stderr: String,
    status: ExitStatus,
    took: Duration,
}

fn terminate_after_burst(mut child: Child) -> Ended {
    let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
    let mut said = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !said.contains("burst done") && Instant::now() < deadline {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        said.push_str(&line);
    }
    assert!(
        said.contains("burst done"),
        "the probe made its calls: {said}"
    );
    let started = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = child.wait().expect("the probe ends");
    let took = started.elapsed();
    let _ = stdout.read_to_string(&mut said);
    let mut stderr = String::new();
    let _ = child
        .stderr
        .take()
        .expect("piped")
        .read_to_string(&mut stderr);
    Ended {
        stdout: said,
        stderr,
        status,
        took,
    }
}

/// Every call's span and log record, and the call count in the last
/// metrics push.
fn assert_delivered(receiver: &Receiver, calls: usize, ended: &Ended) {
    let spans = receiver
        .spans()
        .iter()
        .filter(|span| span.name == "export_probe.work.work")
        .count();
    let logs = receiver
        .log_bodies()
        .iter()
        .filter(|body| *body == "worked")
        .count();
    let counted = receiver.last_counter(
        alamos::names::CALLS_TOTAL,
        &[("experiment", "export_probe.work"), ("outcome", "ok")],
    );
    println!(
        "delivered after SIGTERM ({:?}, in {:?}): {spans} of {calls} spans, {logs} of {calls} log records, calls_total {counted:?}",
        ended.status, ended.took
    );
    assert_eq!(spans, calls, "spans\n{}\n{}", ended.stdout, ended.stderr);
    assert_eq!(logs, calls, "log records\n{}", ended.stderr);
    assert_eq!(
        counted,
        i64::try_from(calls).ok(),
        "metrics: {:?}",
        receiver.metric_pushes()
    );
}

#[test]
fn sigterm_flushes_everything_then_ends_with_the_signal() {
    let receiver = Receiver::start();
    let child = probe(&receiver)
        .args(["burst", "50", "60000"])
        .env("ALAMOS_FLUSH_ON_SIGNALS", "1")
        .spawn()
        .expect("the probe starts");
    let ended = terminate_after_burst(child);
    assert_delivered(&receiver, 50, &ended);
    assert_eq!(
        ended.status.signal(),
        Some(SIGTERM),
        "killed by SIGTERM (143 in a shell): {:?}",
        ended.status
    );
    assert!(!ended.stdout.contains("shutdown took"), "{}", ended.stdout);
    assert!(ended.took < Duration::from_secs(6), "{:?}", ended.took);
}

#[test]
fn sigint_flushes_too() {
    let receiver = Receiver::start();
    let mut child = probe(&receiver)
        .args(["burst", "10", "60000"])
        .env("ALAMOS_FLUSH_ON_SIGNALS", "1")
        .spawn()
        .expect("the probe starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
    let mut line = String::new();
    while !line.contains("burst done") {
        line.clear();
        assert!(stdout.read_line(&mut line).unwrap_or(0) > 0, "burst");
    }
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = child.wait().expect("ends");
    assert_eq!(status.signal(), Some(2), "{status:?}");
    assert_eq!(
        receiver
            .spans()
            .iter()
            .filter(|span| span.name == "export_probe.work.work")
            .count(),
        10
    );
}

#[test]
fn without_the_setting_sigterm_ends_the_process_as_before() {
    let receiver = Receiver::start();
    let child = probe(&receiver)
        .args(["burst", "20", "60000"])
        .spawn()
        .expect("the probe starts");
    let ended = terminate_after_burst(child);
    assert_eq!(ended.status.signal(), Some(SIGTERM));
    // Nothing flushed: the batch delay had not passed.
    assert!(receiver.spans().is_empty());
}

#[test]
fn the_programs_own_tokio_handler_still_runs_beside_alamoss() {
    let receiver = Receiver::start();
    let child = probe(&receiver)
        .args(["tokio", "30"])
        .env("ALAMOS_FLUSH_ON_SIGNALS", "1")
        .spawn()
        .expect("the probe starts");
    let ended = terminate_after_burst(child);
    assert!(
        ended.stdout.contains("app handler ran"),
        "{}\n{}",
        ended.stdout,
        ended.stderr
    );
    assert_delivered(&receiver, 30, &ended);
    // alamos's flush ends the process with the signal, whatever the
    // program's handler was still doing.
    assert_eq!(ended.status.signal(), Some(SIGTERM), "{:?}", ended.status);
}

#[test]
fn a_program_that_shuts_down_itself_keeps_its_exit_status_and_delivers_everything() {
    let receiver = Receiver::start();
    let child = probe(&receiver)
        .args(["tokio", "30"])
        .spawn()
        .expect("the probe starts");
    let ended = terminate_after_burst(child);
    assert!(
        ended.status.success(),
        "{:?}\n{}",
        ended.status,
        ended.stderr
    );
    assert!(ended.stdout.contains("app shut down"), "{}", ended.stdout);
    assert_delivered(&receiver, 30, &ended);
}
