//! Panics and cancellation: every call counted with exactly one outcome,
//! every span closed, every in-flight gauge back to zero, whatever way the
//! call ends.
//!
//! Panics in the body and in a `Drop` that runs during the call; nested
//! instrumented calls unwinding through several levels (and caught half way);
//! instrumented calls made by `Drop` impls while another panic unwinds;
//! futures dropped at each `.await` point, before their first poll, after a
//! panic in `poll`, and with a panicking local; and, in fresh processes
//! (`exit_probe`), that `std::process::exit` loses nothing: alamos keeps no
//! buffer that needs a flush at exit.

// With `--all-features` (`max_level_off`) these functions are stripped and
// clippy reads them as written; their shapes are the cases under test.
#![allow(clippy::unnecessary_wraps, clippy::unused_async)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use alamos_tests::{capture, poll_once, record_metrics, Captured, Metrics, Pending};

/// Calls of `function` by outcome: `[ok, error, panic, cancelled]`.
fn outcomes(metrics: &Metrics, experiment: &str, function: &str) -> [u64; 4] {
    ["ok", "error", "panic", "cancelled"]
        .map(|outcome| metrics.calls(experiment, function, outcome))
}

/// Every span closed, entered as often as exited; the in-flight gauge of each
/// listed function at zero and one duration sample per finished call.
fn all_finished(captured: &Captured, metrics: &Metrics, functions: &[(&str, &str)]) {
    for span in captured.spans() {
        assert!(span.closed, "span left open: {span:#?}");
        assert_eq!(span.entered, span.exited, "{span:#?}");
    }
    for (experiment, function) in functions {
        assert_eq!(
            metrics.in_flight(experiment, function),
            Some(0.0),
            "{experiment} {function}: {metrics:#?}"
        );
        let finished: u64 = outcomes(metrics, experiment, function).iter().sum();
        assert_eq!(
            metrics.durations(experiment, function).len() as u64,
            finished,
            "{experiment} {function}"
        );
    }
}

/// Runs `f` under a capturing subscriber and a debugging recorder.
fn observe<R>(f: impl FnOnce() -> R) -> (R, Captured, Metrics) {
    let ((result, captured), metrics) = record_metrics(|| capture(f));
    (result, captured, metrics)
}

// ---------------------------------------------------------------- bodies --

#[test]
fn a_panic_in_the_body_is_one_panic() {
    #[alamos::experiment("unwind.body")]
    fn explode(n: u32) -> Result<u32, String> {
        assert!(n == 0, "body panic {n}");
        Ok(n)
    }
    let (result, captured, metrics) = observe(|| catch_unwind(|| explode(3)));
    assert!(result.is_err());
    assert_eq!(outcomes(&metrics, "unwind.body", "explode"), [0, 0, 1, 0]);
    assert_eq!(captured.spans_named("unwind.body.explode").len(), 1);
    all_finished(&captured, &metrics, &[("unwind.body", "explode")]);
}

/// Panics when dropped, unless the thread is already panicking.
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        // Only when not already unwinding, which would abort.
        assert!(std::thread::panicking(), "bomb went off in drop");
    }
}

#[test]
fn a_panic_in_a_drop_during_the_call_is_one_panic() {
    /// A local of the body explodes as the body returns `Ok`.
    #[alamos::experiment("unwind.drop")]
    fn local() -> Result<u32, String> {
        let _bomb = Bomb;
        Ok(1)
    }
    /// An argument taken by value explodes after the body: arguments drop
    /// after the function's locals, as in the plain function, so after the
    /// call is recorded (`ok`); the panic still reaches the caller.
    #[alamos::experiment("unwind.drop")]
    #[allow(clippy::needless_pass_by_value)]
    fn argument(bomb: Bomb, n: u32) -> u32 {
        let _keep = &bomb;
        n
    }
    /// A local explodes while the body returns `Err`: a panic, not an error.
    #[alamos::experiment("unwind.drop")]
    fn failing() -> Result<u32, String> {
        let _bomb = Bomb;
        Err("refused".to_owned())
    }
    /// A temporary explodes at the end of a statement in the middle.
    #[alamos::experiment("unwind.drop")]
    fn temporary() -> u32 {
        let n = {
            let bomb = Bomb;
            let _ = &bomb;
            7
        };
        n + 1
    }
    /// A non-instrumented helper's local explodes, two frames down.
    #[alamos::experiment("unwind.drop")]
    fn helper() -> u32 {
        fn inner() -> u32 {
            let _bomb = Bomb;
            9
        }
        inner()
    }

    let ((), captured, metrics) = observe(|| {
        assert!(catch_unwind(local).is_err());
        assert!(catch_unwind(|| argument(Bomb, 2)).is_err());
        assert!(catch_unwind(failing).is_err());
        assert!(catch_unwind(temporary).is_err());
        assert!(catch_unwind(helper).is_err());
    });
    assert_eq!(
        outcomes(&metrics, "unwind.drop", "argument"),
        [1, 0, 0, 0],
        "argument"
    );
    let functions = ["local", "failing", "temporary", "helper"];
    for function in functions {
        assert_eq!(
            outcomes(&metrics, "unwind.drop", function),
            [0, 0, 1, 0],
            "{function}"
        );
        assert_eq!(
            captured
                .spans_named(&format!("unwind.drop.{function}"))
                .len(),
            1
        );
    }
    all_finished(
        &captured,
        &metrics,
        &["local", "argument", "failing", "temporary", "helper"]
            .map(|function| ("unwind.drop", function)),
    );
}

// ---------------------------------------------------------------- nesting --

#[alamos::experiment("unwind.nested")]
fn level1(depth: u32, catch_at: u32) -> u32 {
    level2(depth, catch_at) + 1
}

#[alamos::experiment("unwind.nested")]
fn level2(depth: u32, catch_at: u32) -> u32 {
    if catch_at == 2 {
        return catch_unwind(|| level3(depth, catch_at)).unwrap_or(0) + 1;
    }
    level3(depth, catch_at) + 1
}

#[alamos::experiment("unwind.nested")]
fn level3(depth: u32, catch_at: u32) -> u32 {
    // A plain frame between two instrumented ones.
    fn plain(depth: u32, catch_at: u32) -> u32 {
        level4(depth, catch_at) + 1
    }
    plain(depth, catch_at) + 1
}

#[alamos::experiment("unwind.nested")]
fn level4(depth: u32, catch_at: u32) -> u32 {
    assert!(depth < 4, "level 4 of {depth} (caught at {catch_at})");
    depth
}

const LEVELS: [(&str, &str); 4] = [
    ("unwind.nested", "level1"),
    ("unwind.nested", "level2"),
    ("unwind.nested", "level3"),
    ("unwind.nested", "level4"),
];

#[test]
fn nested_calls_unwinding_through_every_level_count_one_panic_each() {
    let (result, captured, metrics) = observe(|| catch_unwind(|| level1(4, 0)));
    assert!(result.is_err());
    for (experiment, function) in LEVELS {
        assert_eq!(
            outcomes(&metrics, experiment, function),
            [0, 0, 1, 0],
            "{function}"
        );
    }
    assert_eq!(captured.spans().len(), 4);
    // Each level is the child of the one above.
    for (child, parent) in [
        ("level2", "level1"),
        ("level3", "level2"),
        ("level4", "level3"),
    ] {
        let span = captured.span(&format!("unwind.nested.{child}"));
        assert_eq!(
            span.parent.as_deref(),
            Some(format!("unwind.nested.{parent}").as_str())
        );
    }
    all_finished(&captured, &metrics, &LEVELS);
}

#[test]
fn a_panic_caught_half_way_is_a_panic_below_and_ok_above() {
    let (result, captured, metrics) = observe(|| level1(4, 2));
    // level3 and level4 unwound; level2 caught it and returned 0 + 1.
    assert_eq!(result, 2);
    assert_eq!(outcomes(&metrics, "unwind.nested", "level4"), [0, 0, 1, 0]);
    assert_eq!(outcomes(&metrics, "unwind.nested", "level3"), [0, 0, 1, 0]);
    assert_eq!(outcomes(&metrics, "unwind.nested", "level2"), [1, 0, 0, 0]);
    assert_eq!(outcomes(&metrics, "unwind.nested", "level1"), [1, 0, 0, 0]);
    assert_eq!(captured.spans().len(), 4);
    all_finished(&captured, &metrics, &LEVELS);
}

#[test]
fn repeated_unwinding_leaves_nothing_behind() {
    let ((), captured, metrics) = observe(|| {
        for round in 0..50_u32 {
            let depth = if round % 2 == 0 { 4 } else { 1 };
            let _ = catch_unwind(|| level1(depth, u32::from(round % 3 == 0) * 2));
        }
    });
    let total: u64 = LEVELS
        .iter()
        .map(|(e, f)| outcomes(&metrics, e, f).iter().sum::<u64>())
        .sum();
    assert_eq!(total, 200, "4 levels × 50 rounds, one outcome each");
    assert_eq!(captured.spans().len(), 200);
    all_finished(&captured, &metrics, &LEVELS);
}

// ------------------------------------------------- calls from Drop impls --

#[alamos::experiment("unwind.cleanup")]
fn cleanup(n: u32) -> u32 {
    n + 1
}

#[alamos::experiment("unwind.cleanup")]
fn cleanup_fails(n: u32) -> Result<u32, String> {
    Err(format!("cleanup {n} failed"))
}

#[alamos::experiment("unwind.cleanup")]
async fn cleanup_async(n: u32) -> u32 {
    Pending::new(1).await;
    n
}

/// Makes instrumented calls from its `Drop`.
struct CallsOnDrop {
    calls: Arc<AtomicUsize>,
}

impl Drop for CallsOnDrop {
    fn drop(&mut self) {
        assert_eq!(cleanup(1), 2);
        assert!(cleanup_fails(2).is_err());
        assert_eq!(alamos_tests::block_on(cleanup_async(3)), 3);
        self.calls.fetch_add(3, Ordering::SeqCst);
    }
}

#[alamos::experiment("unwind.cleanup")]
fn instrumented_then_panics(calls: Arc<AtomicUsize>) {
    let _guard = CallsOnDrop { calls };
    panic!("the instrumented function panics");
}

#[test]
fn calls_made_by_drop_while_a_panic_unwinds_count_as_they_end() {
    let calls = Arc::new(AtomicUsize::new(0));
    let ((), captured, metrics) = observe(|| {
        // A plain function's panic.
        let plain = catch_unwind(|| {
            let _guard = CallsOnDrop {
                calls: Arc::clone(&calls),
            };
            panic!("a plain panic");
        });
        assert!(plain.is_err());
        // An instrumented function's panic.
        let calls = Arc::clone(&calls);
        assert!(catch_unwind(|| instrumented_then_panics(calls)).is_err());
    });
    assert_eq!(calls.load(Ordering::SeqCst), 6, "both guards ran");
    assert_eq!(
        outcomes(&metrics, "unwind.cleanup", "cleanup"),
        [2, 0, 0, 0]
    );
    assert_eq!(
        outcomes(&metrics, "unwind.cleanup", "cleanup_fails"),
        [0, 2, 0, 0]
    );
    assert_eq!(
        outcomes(&metrics, "unwind.cleanup", "cleanup_async"),
        [2, 0, 0, 0]
    );
    assert_eq!(
        outcomes(&metrics, "unwind.cleanup", "instrumented_then_panics"),
        [0, 0, 1, 0]
    );
    // The guard's calls are children of the span they unwound from.
    let parents: Vec<_> = captured
        .spans_named("unwind.cleanup.cleanup")
        .into_iter()
        .map(|span| span.parent)
        .collect();
    assert!(
        parents.contains(&Some("unwind.cleanup.instrumented_then_panics".to_owned())),
        "{parents:?}"
    );
    all_finished(
        &captured,
        &metrics,
        &[
            ("unwind.cleanup", "cleanup"),
            ("unwind.cleanup", "cleanup_fails"),
            ("unwind.cleanup", "cleanup_async"),
            ("unwind.cleanup", "instrumented_then_panics"),
        ],
    );
}

#[alamos::experiment("unwind.cleanup")]
fn cleanup_panics(n: u32) -> u32 {
    panic!("cleanup {n} panicked too");
}

/// Makes an instrumented call that itself panics, caught inside the `Drop`.
struct PanickingCallOnDrop;

impl Drop for PanickingCallOnDrop {
    fn drop(&mut self) {
        let nested = catch_unwind(|| cleanup_panics(4));
        assert!(nested.is_err());
    }
}

/// A call that starts while another panic unwinds and then panics itself
/// unwound: it is a `panic`, like any other call that unwinds.
#[test]
fn a_call_that_panics_inside_a_drop_while_unwinding_is_a_panic() {
    let (result, captured, metrics) = observe(|| {
        catch_unwind(|| {
            let _guard = PanickingCallOnDrop;
            panic!("the outer panic");
        })
    });
    assert!(result.is_err());
    assert_eq!(
        outcomes(&metrics, "unwind.cleanup", "cleanup_panics"),
        [0, 0, 1, 0],
        "a call that unwound was counted as if it returned"
    );
    all_finished(&captured, &metrics, &[("unwind.cleanup", "cleanup_panics")]);
}

#[alamos::experiment("unwind.cleanup")]
async fn cleanup_panics_async(n: u32) -> u32 {
    Pending::new(1).await;
    panic!("async cleanup {n} panicked too");
}

/// Polls an instrumented future that panics, caught inside the `Drop`.
struct PanickingPollOnDrop;

impl Drop for PanickingPollOnDrop {
    fn drop(&mut self) {
        let nested = catch_unwind(|| alamos_tests::block_on(cleanup_panics_async(5)));
        assert!(nested.is_err());
    }
}

/// As above, for an `async fn` whose `poll` unwinds: a `panic`, not a
/// `cancelled` when its future is then dropped.
#[test]
fn an_async_call_that_panics_inside_a_drop_while_unwinding_is_a_panic() {
    let (result, captured, metrics) = observe(|| {
        catch_unwind(|| {
            let _guard = PanickingPollOnDrop;
            panic!("the outer panic");
        })
    });
    assert!(result.is_err());
    assert_eq!(
        outcomes(&metrics, "unwind.cleanup", "cleanup_panics_async"),
        [0, 0, 1, 0],
        "a poll that unwound was not counted as a panic"
    );
    all_finished(
        &captured,
        &metrics,
        &[("unwind.cleanup", "cleanup_panics_async")],
    );
}

// ------------------------------------------------------------ cancellation --

/// Three `.await` points, each pending once; records how far it got.
#[alamos::experiment("unwind.stages")]
async fn stages(progress: Arc<AtomicUsize>) -> u32 {
    // Runs when the future is dropped, at whatever point: a call from the
    // drop of a cancelled future is an ordinary call.
    let _guard = CallsOnDrop {
        calls: Arc::new(AtomicUsize::new(0)),
    };
    progress.store(1, Ordering::SeqCst);
    Pending::new(1).await;
    progress.store(2, Ordering::SeqCst);
    Pending::new(1).await;
    progress.store(3, Ordering::SeqCst);
    Pending::new(1).await;
    progress.store(4, Ordering::SeqCst);
    7
}

#[test]
fn a_future_dropped_at_each_await_point_is_cancelled_once() {
    for point in 1..=3 {
        let progress = Arc::new(AtomicUsize::new(0));
        let ((), captured, metrics) = observe(|| {
            let mut future = Box::pin(stages(Arc::clone(&progress)));
            for _ in 0..point {
                assert!(poll_once(&mut future).is_pending());
            }
            assert_eq!(progress.load(Ordering::SeqCst), point, "at await {point}");
            drop(future);
        });
        assert_eq!(
            outcomes(&metrics, "unwind.stages", "stages"),
            [0, 0, 0, 1],
            "dropped at await {point}"
        );
        let span = captured.span("unwind.stages.stages");
        assert!(span.entered > point, "entered for each of {point} polls");
        // The guard's calls in the dropped future's drop counted as ok.
        assert_eq!(
            outcomes(&metrics, "unwind.cleanup", "cleanup"),
            [1, 0, 0, 0]
        );
        all_finished(
            &captured,
            &metrics,
            &[("unwind.stages", "stages"), ("unwind.cleanup", "cleanup")],
        );
    }
    // Control: polled to the end, it is ok, not cancelled.
    let progress = Arc::new(AtomicUsize::new(0));
    let (result, captured, metrics) =
        observe(|| alamos_tests::block_on(stages(Arc::clone(&progress))));
    assert_eq!(result, 7);
    assert_eq!(outcomes(&metrics, "unwind.stages", "stages"), [1, 0, 0, 0]);
    all_finished(&captured, &metrics, &[("unwind.stages", "stages")]);
}

#[alamos::experiment("unwind.async_nested")]
async fn outer_async() -> u32 {
    let first = inner_async(1).await;
    first + inner_async(2).await
}

#[alamos::experiment("unwind.async_nested")]
async fn inner_async(n: u32) -> u32 {
    Pending::new(2).await;
    n
}

#[test]
fn dropping_an_outer_future_cancels_the_inner_one_once_each() {
    // Each inner call is pending twice: after 1 or 2 polls the first is
    // pending, after 3 or 4 the second is (the first completed).
    for polls in 1..=4 {
        let ((), captured, metrics) = observe(|| {
            let mut future = Box::pin(outer_async());
            for _ in 0..polls {
                assert!(poll_once(&mut future).is_pending());
            }
        });
        let outer = outcomes(&metrics, "unwind.async_nested", "outer_async");
        let inner = outcomes(&metrics, "unwind.async_nested", "inner_async");
        assert_eq!(outer, [0, 0, 0, 1], "after {polls} polls");
        let first_done = u64::from(polls >= 3);
        assert_eq!(inner, [first_done, 0, 0, 1], "after {polls} polls");
        all_finished(
            &captured,
            &metrics,
            &[
                ("unwind.async_nested", "outer_async"),
                ("unwind.async_nested", "inner_async"),
            ],
        );
    }
}

#[alamos::experiment("unwind.async_panic")]
async fn panics_after_an_await() -> u32 {
    Pending::new(1).await;
    panic!("after the first await");
}

#[test]
fn a_future_that_panicked_in_poll_is_not_also_cancelled_when_dropped() {
    let ((), captured, metrics) = observe(|| {
        let mut future = Box::pin(panics_after_an_await());
        assert!(poll_once(&mut future).is_pending());
        let polled = catch_unwind(AssertUnwindSafe(|| poll_once(&mut future)));
        assert!(polled.is_err());
        drop(future);
    });
    assert_eq!(
        outcomes(&metrics, "unwind.async_panic", "panics_after_an_await"),
        [0, 0, 1, 0]
    );
    all_finished(
        &captured,
        &metrics,
        &[("unwind.async_panic", "panics_after_an_await")],
    );
}

#[alamos::experiment("unwind.async_bomb")]
async fn holds_a_bomb() -> u32 {
    let _bomb = Bomb;
    Pending::new(1).await;
    1
}

#[test]
fn a_future_whose_local_panics_as_it_is_dropped_finishes_once() {
    let ((), captured, metrics) = observe(|| {
        let mut future = Box::pin(holds_a_bomb());
        assert!(poll_once(&mut future).is_pending());
        assert!(catch_unwind(AssertUnwindSafe(move || drop(future))).is_err());
    });
    let counted = outcomes(&metrics, "unwind.async_bomb", "holds_a_bomb");
    assert_eq!(counted.iter().sum::<u64>(), 1, "{counted:?}");
    all_finished(
        &captured,
        &metrics,
        &[("unwind.async_bomb", "holds_a_bomb")],
    );
}

/// An `async fn` does nothing until polled: alamos's work (checking the
/// callsite, opening the span, counting the call) is the first thing the
/// future does when first polled. A future dropped before that records
/// nothing at all: no span, no outcome, no in-flight call.
#[test]
fn a_future_dropped_before_its_first_poll_records_nothing() {
    let ((), captured, metrics) = observe(|| {
        let progress = Arc::new(AtomicUsize::new(0));
        let future = stages(Arc::clone(&progress));
        drop(future);
        assert_eq!(progress.load(Ordering::SeqCst), 0, "the body never ran");
    });
    assert!(captured.spans().is_empty(), "{captured:#?}");
    assert_eq!(outcomes(&metrics, "unwind.stages", "stages"), [0; 4]);
    assert_eq!(metrics.in_flight("unwind.stages", "stages"), None);
    assert!(metrics.is_empty(), "{metrics:#?}");
}

#[test]
fn a_pinned_future_polled_once_to_completion_is_ok_and_later_drop_changes_nothing() {
    #[alamos::experiment("unwind.ready")]
    async fn ready() -> u32 {
        5
    }
    let ((), captured, metrics) = observe(|| {
        let mut future: Pin<Box<_>> = Box::pin(ready());
        assert_eq!(poll_once(&mut future), Poll::Ready(5));
        drop(future);
    });
    assert_eq!(outcomes(&metrics, "unwind.ready", "ready"), [1, 0, 0, 0]);
    all_finished(&captured, &metrics, &[("unwind.ready", "ready")]);
}

// ----------------------------------------------------------- process exit --

const EXIT_COUNTS: [(&str, &str, u64); 8] = [
    ("work", "ok", 1000),
    ("work", "error", 100),
    ("explode", "panic", 1),
    ("stream", "cancelled", 1),
    ("stream", "ok", 1),
    ("worker", "ok", 500),
    ("resident", "ok", 250),
    ("last", "ok", 1),
];

fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.trim().parse().ok()
    })
}

/// Every call of `exit_probe` is in `exposition`, exactly.
fn check_exit_counts(exposition: &str) {
    for (function, outcome, count) in EXIT_COUNTS {
        let series = format!(
            r#"alamos_calls_total{{experiment="exit_probe",function="{function}",outcome="{outcome}"}}"#
        );
        #[allow(clippy::cast_precision_loss)]
        let expected = count as f64;
        assert_eq!(
            sample(exposition, &series),
            Some(expected),
            "{series} in\n{exposition}"
        );
    }
    for function in ["work", "explode", "stream", "worker", "resident", "last"] {
        let series =
            format!(r#"alamos_calls_in_flight{{experiment="exit_probe",function="{function}"}}"#);
        assert_eq!(sample(exposition, &series), Some(0.0), "{series}");
    }
}

fn exit_probe(mode: &str) -> std::process::Child {
    alamos_tests::probe_command(env!("CARGO_BIN_EXE_exit_probe"))
        .arg(mode)
        .env(alamos::env::PROMETHEUS_ADDR, "127.0.0.1:0")
        // Span close lines: the last one shows logs are written as they happen.
        .env(alamos::env::LOG_SPANS, "close")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the probe starts")
}

/// Reads all of a pipe on another thread, so the probe never blocks on it.
fn drain(pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = BufReader::new(pipe).read_to_string(&mut text);
        text
    })
}

/// Waits at most 30 s for `child` to exit.
fn wait(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().expect("waits") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the probe did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_scrape_just_before_process_exit_sees_every_call() {
    let mut child = exit_probe("scrape");
    let stderr = drain(child.stderr.take().expect("piped"));
    let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
    let mut addr = None;
    let mut line = String::new();
    while stdout.read_line(&mut line).expect("reads") > 0 {
        if let Some(value) = line.trim().strip_prefix("addr=") {
            addr = Some(value.parse::<std::net::SocketAddr>().expect("an address"));
        }
        if line.trim() == "ready" {
            break;
        }
        line.clear();
    }
    let addr = addr.expect("the probe serves /metrics");
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .expect("sends");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("reads");
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    check_exit_counts(&response);

    // Now the probe leaves through process::exit; nothing is dropped.
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(b"exit\n")
        .expect("the probe reads its stdin");
    let status = wait(&mut child);
    assert!(status.success(), "{status:?}");
    let stderr = stderr.join().expect("stderr");
    // The logs were written as they happened: the last call's event and span
    // close line are there although nothing was flushed at exit.
    assert!(stderr.contains("the last call before exit"), "{stderr}");
    assert!(stderr.contains("exit_probe.last: close "), "{stderr}");
}

#[test]
fn the_exposition_rendered_right_before_process_exit_holds_every_call() {
    let mut child = exit_probe("render");
    let stdout = drain(child.stdout.take().expect("piped"));
    let stderr = drain(child.stderr.take().expect("piped"));
    let status = wait(&mut child);
    assert!(status.success(), "{status:?}");
    let stdout = stdout.join().expect("stdout");
    assert!(stderr
        .join()
        .expect("stderr")
        .contains("exit_probe.last: close "));
    let exposition = stdout
        .split_once("=== render\n")
        .and_then(|(_, rest)| rest.split_once("=== end"))
        .map_or_else(
            || panic!("no exposition in {stdout}"),
            |(exposition, _)| exposition,
        );
    check_exit_counts(exposition);
}
