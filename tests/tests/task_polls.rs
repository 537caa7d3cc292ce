//! Polls of `alamos::task` futures (issue 17, item 4): how many, how long
//! each ran and how long each waited from its wake, on a real tokio
//! runtime, without `tokio_unstable`; exported as
//! `alamos_task_polls_total`, `alamos_task_poll_duration_seconds` and
//! `alamos_task_scheduled_delay_seconds`, shown by `tasks()` and the tree
//! view, and gated by the key's threshold.

use std::sync::OnceLock;
use std::time::Duration;

use tokio::sync::mpsc;

fn guard() -> &'static alamos::Guard {
    static GUARD: OnceLock<alamos::Guard> = OnceLock::new();
    GUARD.get_or_init(|| {
        alamos::Builder::new()
            .subscriber(false)
            .prometheus_endpoint(false)
            .install()
            .expect("alamos installs")
    })
}

fn sample(series: &str) -> Option<f64> {
    let exposition = guard().render().expect("alamos's recorder is installed");
    exposition.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.parse().ok()
    })
}

fn info(key: &str) -> alamos::TaskInfo {
    alamos::tasks()
        .into_iter()
        .find(|task| task.key() == key)
        .unwrap_or_else(|| panic!("no task {key}"))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a tokio runtime")
}

/// A future that needs `messages + 1` polls: one per message received and
/// the one that finds the channel closed.
async fn receive(mut rx: mpsc::Receiver<u32>) -> Result<u32, String> {
    let mut sum = 0;
    while let Some(n) = rx.recv().await {
        sum += n;
    }
    Ok(sum)
}

#[test]
fn every_poll_and_every_wake_is_counted() {
    guard();
    let runtime = runtime();
    let (tx, rx) = mpsc::channel(1);
    let handle = runtime.spawn(alamos::task("polls_test.receiver", receive(rx)));
    runtime.block_on(async {
        for n in 0..5 {
            // Let the receiver run dry before each send: one poll per send.
            tokio::time::sleep(Duration::from_millis(2)).await;
            tx.send(n).await.expect("the receiver runs");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
        drop(tx);
    });
    assert_eq!(runtime.block_on(handle).expect("joins"), Ok(10));

    // The first poll (nothing to receive yet), one per message, and the one
    // that sees the channel closed.
    let polls = 7.0;
    let key = "experiment=\"polls_test.receiver\"";
    assert_eq!(
        sample(&format!("alamos_task_polls_total{{{key}}}")),
        Some(polls)
    );
    assert_eq!(
        sample(&format!("alamos_task_poll_duration_seconds_count{{{key}}}")),
        Some(polls)
    );
    // Every poll but the first followed a wake.
    assert_eq!(
        sample(&format!(
            "alamos_task_scheduled_delay_seconds_count{{{key}}}"
        )),
        Some(polls - 1.0)
    );
    let task = info("polls_test.receiver");
    assert_eq!(task.polls(), 7);
    assert!(task.mean_scheduled_delay().is_some());
    let tree = alamos::tree().to_string();
    assert!(tree.contains("7 polls, busy"), "{tree}");
}

#[test]
fn a_long_poll_and_a_busy_executor_show_in_the_figures() {
    guard();
    let runtime = runtime();
    let (tx, rx) = mpsc::channel::<()>(1);
    let (blocking, hog_blocks) = std::sync::mpsc::channel::<()>();
    let (woke, waiter_woken) = std::sync::mpsc::channel::<()>();
    // Blocks the runtime's only thread in its second poll: until another
    // thread has woken the waiter, then 20 ms more. The waiter is ready all
    // that time and can't run, whatever the machine's load.
    let hog = async move {
        let mut rx = rx;
        rx.recv().await;
        blocking.send(()).expect("the waking thread listens");
        waiter_woken
            .recv()
            .expect("the waking thread wakes the waiter");
        std::thread::sleep(Duration::from_millis(20));
        Ok::<_, String>(())
    };
    let (wake_waiter, woken) = tokio::sync::oneshot::channel::<()>();
    let waiter = async move { woken.await.map_err(|err| err.to_string()) };
    let waker = std::thread::spawn(move || {
        hog_blocks.recv().expect("the hog blocks");
        wake_waiter.send(()).expect("the waiter waits");
        woke.send(()).expect("the hog waits");
    });
    runtime.block_on(async {
        let hog = tokio::spawn(alamos::task("polls_test.hog", hog));
        let waiter = tokio::spawn(alamos::task("polls_test.waiter", waiter));
        tokio::task::yield_now().await;
        tx.send(()).await.expect("the hog runs");
        hog.await.expect("joins").expect("ok");
        waiter.await.expect("joins").expect("ok");
    });
    waker.join().expect("the waking thread ends");
    let hog = info("polls_test.hog");
    assert!(hog.busy() >= Duration::from_millis(20), "{hog:?}");
    let sum = sample("alamos_task_poll_duration_seconds_sum{experiment=\"polls_test.hog\"}")
        .expect("the hog's poll durations are exported");
    assert!(sum >= 0.020, "{sum}");
    let waiter = info("polls_test.waiter");
    let delay = waiter.mean_scheduled_delay().expect("the waiter was woken");
    assert!(
        delay >= Duration::from_millis(20),
        "the waiter waited for the hog: {delay:?}"
    );
}

#[test]
fn a_disabled_key_counts_no_polls_and_its_future_still_runs() {
    guard();
    let runtime = runtime();
    // The run starts here, which makes the key an experiment.
    let quiet = alamos::task("polls_test.quiet", async {
        tokio::time::sleep(Duration::from_millis(1)).await;
        Ok::<_, String>(5)
    });
    alamos::set_level("polls_test.quiet", alamos::LevelFilter::Off).expect("a known key");
    let output = runtime.block_on(quiet);
    assert_eq!(output, Ok(5));
    assert_eq!(info("polls_test.quiet").polls(), 0);
    assert_eq!(
        sample("alamos_task_polls_total{experiment=\"polls_test.quiet\"}"),
        None
    );
}
