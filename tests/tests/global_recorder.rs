//! Metrics through the process-wide recorder, installed with
//! `DebuggingRecorder::install()` the way a program would, rather than a
//! thread-local one. Its own test binary: a process has one global recorder.

use std::sync::OnceLock;

use alamos_tests::{record_metrics, Metrics, Recorded};
use metrics_util::debugging::DebuggingRecorder;

#[derive(Debug, PartialEq)]
struct Failure;

/// A call made before any recorder is installed, to check that alamos does
/// not keep using the no-op recorder it saw first.
#[alamos::experiment("global.before_install")]
fn before_install() -> u8 {
    1
}

/// The global recorder, installed once for every test of this binary.
///
/// A snapshot drains the recorder for every series, so the tests share one
/// accumulating view of it and each reads only its own experiment's series.
fn global() -> &'static Recorded {
    static GLOBAL: OnceLock<Recorded> = OnceLock::new();
    GLOBAL.get_or_init(|| {
        assert_eq!(before_install(), 1);
        let recorder = DebuggingRecorder::new();
        let view = Recorded::new(recorder.snapshotter());
        recorder.install().expect("no other global recorder");
        view
    })
}

fn snapshot() -> Metrics {
    global().snapshot()
}

#[test]
fn calls_are_counted_by_the_global_recorder() {
    #[alamos::experiment("global.counts")]
    fn check(x: u32) -> Result<u32, Failure> {
        if x == 0 {
            return Err(Failure);
        }
        Ok(x)
    }

    global();
    let results = [check(0), check(1), check(2)];
    assert_eq!(results, [Err(Failure), Ok(1), Ok(2)]);
    let metrics = snapshot();
    assert_eq!(
        metrics.calls("global.counts", "check", "ok"),
        2,
        "{metrics:#?}"
    );
    assert_eq!(metrics.calls("global.counts", "check", "error"), 1);
    assert_eq!(metrics.durations("global.counts", "check").len(), 3);
    assert_eq!(metrics.in_flight("global.counts", "check"), Some(0.0));
}

#[test]
fn calls_from_every_thread_reach_the_global_recorder() {
    #[alamos::experiment("global.threads")]
    fn work() {}

    global();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..25 {
                    work();
                }
            });
        }
    });
    let metrics = snapshot();
    assert_eq!(
        metrics.calls("global.threads", "work", "ok"),
        100,
        "{metrics:#?}"
    );
    assert_eq!(metrics.durations("global.threads", "work").len(), 100);
    assert_eq!(metrics.in_flight("global.threads", "work"), Some(0.0));
}

#[test]
fn a_call_before_the_recorder_was_installed_does_not_stick_to_the_noop_recorder() {
    global();
    before_install();
    before_install();
    let metrics = snapshot();
    assert_eq!(
        metrics.calls("global.before_install", "before_install", "ok"),
        2,
        "{metrics:#?}"
    );
}

#[test]
fn in_flight_is_visible_to_the_global_recorder_during_the_call() {
    #[alamos::experiment("global.in_flight")]
    fn observe() -> Option<f64> {
        snapshot().in_flight("global.in_flight", "observe")
    }

    global();
    assert_eq!(observe(), Some(1.0));
    assert_eq!(
        snapshot().in_flight("global.in_flight", "observe"),
        Some(0.0)
    );
}

#[test]
fn a_local_recorder_takes_over_for_its_scope_only() {
    #[alamos::experiment("global.local_scope")]
    fn tick() {}

    global();
    tick();
    let ((), local) = record_metrics(|| {
        tick();
        tick();
    });
    tick();
    assert_eq!(
        local.calls("global.local_scope", "tick", "ok"),
        2,
        "{local:#?}"
    );
    let global = snapshot();
    assert_eq!(
        global.calls("global.local_scope", "tick", "ok"),
        2,
        "the global recorder sees the calls outside the local scope: {global:#?}"
    );
}

#[test]
fn task_metrics_are_sampled_into_the_global_recorder() {
    global();
    for fail in [true, false] {
        let outcome = alamos::spawn(
            "global.task",
            move || if fail { Err(Failure) } else { Ok(()) },
        )
        .join()
        .unwrap();
        assert_eq!(outcome.is_err(), fail);
    }
    // A recorder alamos cannot see being read is sampled once a second.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let (restarts, finished) = loop {
        let metrics = snapshot();
        let restarts = metrics.counter(
            alamos::names::TASK_RESTARTS_TOTAL,
            &[("experiment", "global.task")],
        );
        let finished = metrics.gauge(
            alamos::names::TASKS,
            &[("experiment", "global.task"), ("state", "finished")],
        );
        if restarts == 1 || std::time::Instant::now() > deadline {
            break (restarts, finished);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(restarts, 1);
    assert_eq!(finished, Some(1.0));
    assert_eq!(
        snapshot()
            .description(alamos::names::TASK_RESTARTS_TOTAL)
            .map(|(_, help)| help.is_empty()),
        Some(false)
    );
}
