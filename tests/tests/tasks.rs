//! Tasks (issue 11, item 1): `alamos::spawn` on threads and `alamos::task`
//! on tokio, their states, restarts, spans parented to the spawner, the
//! metrics `alamos_tasks` and `alamos_task_restarts_total`, `tasks()`, the
//! tree view, and the report of tasks still running at shutdown. Each
//! ending (finished, failed, panicked, cancelled) is checked in its own
//! `alamos_tasks` series.
//!
//! This binary installs a capturing subscriber as the global one (a task's
//! thread sees only the global subscriber, as in a real program) and
//! alamos's recorder.

use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use alamos::TaskState;
use alamos_tests::Captured;

fn setup() -> &'static (Captured, alamos::Guard) {
    static SETUP: OnceLock<(Captured, alamos::Guard)> = OnceLock::new();
    SETUP.get_or_init(|| {
        let captured = Captured::default();
        tracing::subscriber::set_global_default(alamos_tests::subscriber(&captured))
            .expect("the first global subscriber");
        let guard = alamos::Builder::new()
            .subscriber(false)
            .prometheus_endpoint(false)
            .install()
            .expect("alamos installs");
        (captured, guard)
    })
}

fn info(key: &str) -> alamos::TaskInfo {
    alamos::tasks()
        .into_iter()
        .find(|task| task.key() == key)
        .unwrap_or_else(|| panic!("no task {key} in {:#?}", alamos::tasks()))
}

fn exposition() -> String {
    setup().1.render().expect("alamos's recorder is installed")
}

/// The value of one series in the exposition.
fn sample(series: &str) -> Option<f64> {
    exposition().lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.parse().ok()
    })
}

/// Checks `alamos_tasks` for `key`: 1 in the series of `state`, the state
/// its latest run ended in, and 0 in every other state's.
fn assert_only_state(key: &str, state: &str) {
    let exposition = exposition();
    for other in ["running", "finished", "failed", "panicked", "cancelled"] {
        let series = format!("alamos_tasks{{experiment=\"{key}\",state=\"{other}\"}}");
        let value = exposition.lines().find_map(|line| {
            let value = line.strip_prefix(&series)?.strip_prefix(' ')?;
            value.parse::<f64>().ok()
        });
        let expected = if other == state { 1.0 } else { 0.0 };
        assert_eq!(value, Some(expected), "{series} in\n{exposition}");
    }
}

#[alamos::experiment("tasks_test.work")]
fn work(n: u32) -> u32 {
    n * 2
}

#[derive(Debug, PartialEq)]
struct Unreachable;

#[test]
fn thread_tasks_finish_fail_and_panic() {
    setup();
    let before = SystemTime::now();
    // The thread is named after the key.
    let named = alamos::spawn("tasks_test.thread.named", || {
        Ok::<_, ()>(std::thread::current().name().map(str::to_owned))
    })
    .join()
    .unwrap();
    assert_eq!(named, Ok(Some("tasks_test.thread.named".to_owned())));

    let ok = info("tasks_test.thread.named");
    assert_eq!(ok.state(), TaskState::Finished);
    assert_eq!((ok.running(), ok.restarts()), (0, 0));
    assert!(ok.started_at() >= before && ok.changed_at() >= ok.started_at());

    let failed = alamos::spawn("tasks_test.thread.failed", || Err::<u8, _>(Unreachable));
    assert_eq!(failed.join().unwrap(), Err(Unreachable));
    assert_eq!(info("tasks_test.thread.failed").state(), TaskState::Failed);
    assert_only_state("tasks_test.thread.failed", "failed");

    let panicked = alamos::spawn("tasks_test.thread.panicked", || -> () {
        panic!("compaction lost its file");
    });
    // The panic reaches `join` as it would without alamos.
    let payload = panicked.join().unwrap_err();
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"compaction lost its file")
    );
    assert_eq!(
        info("tasks_test.thread.panicked").state(),
        TaskState::Panicked
    );
    assert_only_state("tasks_test.thread.panicked", "panicked");
    assert_only_state("tasks_test.thread.named", "finished");
}

// An output of the user's own says whether the run failed.
impl alamos::TaskOutput for Wrapper {
    fn is_failure(&self) -> bool {
        self.0.is_none()
    }
}
struct Wrapper(Option<u8>);

#[test]
fn users_define_what_failure_is() {
    setup();
    alamos::spawn("tasks_test.custom", || Wrapper(None))
        .join()
        .unwrap();
    assert_eq!(info("tasks_test.custom").state(), TaskState::Failed);
    alamos::spawn("tasks_test.custom", || Wrapper(Some(1)))
        .join()
        .unwrap();
    let task = info("tasks_test.custom");
    assert_eq!((task.state(), task.restarts()), (TaskState::Finished, 1));
}

#[test]
fn starting_a_key_again_counts_a_restart() {
    setup();
    for round in 0..4_u32 {
        let result = alamos::spawn("tasks_test.restarted", move || {
            if round < 3 {
                Err(Unreachable)
            } else {
                Ok(())
            }
        })
        .join()
        .unwrap();
        assert_eq!(result.is_err(), round < 3);
        let task = info("tasks_test.restarted");
        assert_eq!(task.restarts(), u64::from(round));
    }
    assert_eq!(info("tasks_test.restarted").state(), TaskState::Finished);
    assert_eq!(
        sample(r#"alamos_task_restarts_total{experiment="tasks_test.restarted"}"#),
        Some(3.0)
    );
}

#[test]
fn running_tasks_are_counted_per_state_in_the_metrics() {
    setup();
    let (release, wait) = mpsc::channel::<()>();
    let worker = alamos::spawn("tasks_test.metrics", move || {
        let _ = wait.recv();
    });
    let series = |state: &str| {
        sample(&format!(
            "alamos_tasks{{experiment=\"tasks_test.metrics\",state=\"{state}\"}}"
        ))
    };
    assert_eq!(series("running"), Some(1.0));
    for state in ["finished", "failed", "panicked", "cancelled"] {
        assert_eq!(series(state), Some(0.0), "{state}");
    }
    let task = info("tasks_test.metrics");
    assert_eq!((task.state(), task.running()), (TaskState::Running, 1));
    let view = alamos::tree().to_string();
    assert!(
        view.lines()
            .any(|line| line.contains("      task  running for")),
        "{view}"
    );
    drop(release);
    worker.join().unwrap();
    assert_eq!(series("running"), Some(0.0));
    assert_eq!(series("finished"), Some(1.0));
    assert_eq!(
        sample(r#"alamos_task_restarts_total{experiment="tasks_test.metrics"}"#),
        Some(0.0)
    );
    let exposition = exposition();
    assert!(
        exposition.contains("# TYPE alamos_tasks gauge"),
        "{exposition}"
    );
    assert!(
        exposition.contains("# TYPE alamos_task_restarts_total counter"),
        "{exposition}"
    );
    let view = alamos::tree().to_string();
    let row = view
        .lines()
        .skip_while(|line| !line.contains("tasks_test.metrics"))
        .nth(1)
        .unwrap_or_default();
    assert!(row.contains("task  finished, started"), "{view}");
}

#[test]
fn a_disabled_key_keeps_its_state_but_exports_nothing() {
    setup();
    alamos::spawn("tasks_test.gated", || ()).join().unwrap();
    alamos::set_level("tasks_test.gated", alamos::LevelFilter::Off).unwrap();
    alamos::spawn("tasks_test.gated", || ()).join().unwrap();
    assert_eq!(info("tasks_test.gated").restarts(), 1);
    let exposition = exposition();
    assert!(
        !exposition.contains("experiment=\"tasks_test.gated\""),
        "{exposition}"
    );
    let (captured, _) = setup();
    let spans = captured.spans_named("tasks_test.gated");
    assert_eq!(spans.len(), 1, "only the run before `off`: {spans:#?}");
}

#[test]
fn a_thread_task_span_is_a_child_of_the_spawner() {
    let (captured, _) = setup();
    let parent = tracing::info_span!("tasks_test_spawner");
    let handle = parent.in_scope(|| alamos::spawn("tasks_test.traced", || Ok::<_, ()>(work(2))));
    assert_eq!(handle.join().unwrap(), Ok(4));
    let span = captured.span("tasks_test.traced");
    assert_eq!(span.parent.as_deref(), Some("tasks_test_spawner"));
    assert_eq!(span.field("alamos.experiment"), Some("tasks_test.traced"));
    assert_eq!(span.field("alamos.task.restarts"), Some("0"));
    assert_eq!(span.level, tracing::Level::INFO);
    assert!(span.entered >= 1 && span.closed, "{span:#?}");
    // The work done on the task's thread is traced under the task.
    let call = captured
        .spans_named("tasks_test.work.work")
        .into_iter()
        .find(|call| call.parent.as_deref() == Some("tasks_test.traced"));
    assert!(call.is_some(), "{captured:#?}");
}

fn explode() {
    panic!("gossip peer sent garbage");
}

#[test]
fn futures_on_tokio_finish_fail_panic_and_cancel() {
    let (captured, _) = setup();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let parent = tracing::info_span!("tasks_test_tokio_spawner");
        let ok = parent.in_scope(|| {
            tokio::spawn(alamos::task("tasks_test.tokio.ok", async {
                tokio::time::sleep(Duration::from_millis(5)).await;
                Ok::<_, Unreachable>(work(3))
            }))
        });
        assert_eq!(ok.await.unwrap(), Ok(6));

        let failed = tokio::spawn(alamos::task("tasks_test.tokio.failed", async {
            tokio::task::yield_now().await;
            Err::<(), _>(Unreachable)
        }));
        assert_eq!(failed.await.unwrap(), Err(Unreachable));

        let panicked = tokio::spawn(alamos::task("tasks_test.tokio.panicked", async {
            tokio::task::yield_now().await;
            explode();
        }));
        let error = panicked.await.unwrap_err();
        assert!(error.is_panic(), "{error:?}");

        let stuck = tokio::spawn(alamos::task("tasks_test.tokio.aborted", async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(info("tasks_test.tokio.aborted").state(), TaskState::Running);
        stuck.abort();
        assert!(stuck.await.unwrap_err().is_cancelled());
    });
    assert_eq!(info("tasks_test.tokio.ok").state(), TaskState::Finished);
    assert_eq!(info("tasks_test.tokio.failed").state(), TaskState::Failed);
    assert_eq!(
        info("tasks_test.tokio.panicked").state(),
        TaskState::Panicked
    );
    assert_eq!(
        info("tasks_test.tokio.aborted").state(),
        TaskState::Cancelled
    );

    // A future dropped before its first poll is cancelled too.
    drop(alamos::task("tasks_test.tokio.unpolled", async {}));
    assert_eq!(
        info("tasks_test.tokio.unpolled").state(),
        TaskState::Cancelled
    );
    // Each ending shows in its own series of `alamos_tasks`, and only there.
    for (key, state) in [
        ("tasks_test.tokio.ok", "finished"),
        ("tasks_test.tokio.failed", "failed"),
        ("tasks_test.tokio.panicked", "panicked"),
        ("tasks_test.tokio.aborted", "cancelled"),
        ("tasks_test.tokio.unpolled", "cancelled"),
    ] {
        assert_only_state(key, state);
    }

    let span = captured.span("tasks_test.tokio.ok");
    assert_eq!(span.parent.as_deref(), Some("tasks_test_tokio_spawner"));
    assert!(span.entered >= 2, "entered for every poll: {span:#?}");
    let call = captured
        .spans_named("tasks_test.work.work")
        .into_iter()
        .find(|call| call.parent.as_deref() == Some("tasks_test.tokio.ok"));
    assert!(call.is_some(), "{captured:#?}");
}

#[test]
fn tasks_still_running_are_reported_at_shutdown() {
    let output = alamos_tests::probe_command(env!("CARGO_BIN_EXE_shutdown_probe"))
        .output()
        .expect("the probe runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let report: Vec<&str> = stderr
        .lines()
        .skip_while(|line| !line.contains("still running at shutdown"))
        .collect();
    assert!(
        report
            .first()
            .is_some_and(|line| line.contains("alamos: 2 tasks still running at shutdown:")),
        "{stderr}"
    );
    let stuck = report
        .iter()
        .find(|line| line.contains("storage.cesium.flush"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(stuck.contains("running for"), "{stuck}");
    assert!(stuck.contains("0 restarts"), "{stuck}");
    let pool = report
        .iter()
        .find(|line| line.contains("distribution.stream"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        pool.contains("2 runs") && pool.contains("1 restart,"),
        "{pool}"
    );
    assert!(
        !stderr.contains("api.done"),
        "a finished task is not stuck: {stderr}"
    );
}
