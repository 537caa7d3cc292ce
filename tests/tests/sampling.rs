//! Sampling (issue 16, item 3): every enabled call is counted, only traced
//! calls have a span. Root decisions at probability 0, 1 and a fraction;
//! children following a traced and an untraced parent, sync and async, a
//! decision carried by a future polled on another thread; remote parents
//! sampled (`-01`) and not sampled (`-00`) overriding the probability; an
//! untraced call's logs still emitted with its experiment; `set_trace_sample`
//! errors. Spans are captured with a `tracing` layer, metrics with
//! `metrics-util`'s debugging recorder.
//!
//! The tree is process-wide: each test sets the probabilities of keys of
//! its own.

// With `--all-features` (`max_level_off`) these functions are stripped and
// clippy reads them as written; their shapes are the cases under test.
#![allow(clippy::unused_async)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use alamos_tests::{block_on, capture, poll_once, record_metrics, Pending};

const SAMPLED: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const NOT_SAMPLED: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";

/// How many times a span field's expression was evaluated.
static EVALUATED: AtomicUsize = AtomicUsize::new(0);

fn evaluated(n: u32) -> u32 {
    EVALUATED.fetch_add(1, Ordering::Relaxed);
    n
}

#[alamos::experiment("sampling.never", fields(seen = evaluated(n)))]
fn never(n: u32) -> u32 {
    alamos::prod!(n, "inside an untraced call");
    n + 1
}

#[test]
fn probability_zero_counts_every_call_and_traces_none() {
    alamos::set_trace_sample("sampling.never", 0.0).unwrap();
    let before = EVALUATED.load(Ordering::Relaxed);
    let ((sum, captured), metrics) =
        record_metrics(|| capture(|| (0..500).map(never).sum::<u32>()));
    assert_eq!(sum, (1..=500).sum::<u32>());
    assert!(captured.spans().is_empty(), "{captured:?}");
    assert_eq!(
        EVALUATED.load(Ordering::Relaxed),
        before,
        "an untraced call evaluates no span field"
    );
    assert_eq!(metrics.calls("sampling.never", "never", "ok"), 500);
    assert_eq!(metrics.durations("sampling.never", "never").len(), 500);
    assert_eq!(metrics.in_flight("sampling.never", "never"), Some(0.0));
    // Its logs are still emitted, with its experiment and outside any span.
    let events = captured.events();
    assert_eq!(events.len(), 500);
    assert!(events
        .iter()
        .all(|event| event.span.is_none()
            && event.field("alamos.experiment") == Some("sampling.never")));
    assert_eq!(alamos::trace_sample("sampling.never"), Ok(0.0));
}

#[test]
fn the_in_flight_gauge_counts_an_untraced_call_while_it_runs() {
    #[alamos::experiment("sampling.in_flight")]
    fn running(recorded: &alamos_tests::Recorded) -> Option<f64> {
        recorded
            .snapshot()
            .in_flight("sampling.in_flight", "running")
    }

    alamos::set_trace_sample("sampling.in_flight", 0.0).unwrap();
    let ((inside, captured), metrics) =
        alamos_tests::record_metrics_live(|recorded| capture(|| running(recorded)));
    assert_eq!(inside, Some(1.0));
    assert!(captured.spans().is_empty());
    assert_eq!(
        metrics.in_flight("sampling.in_flight", "running"),
        Some(0.0)
    );
}

#[alamos::experiment("sampling.always", fields(seen = evaluated(n)))]
fn always(n: u32) -> u32 {
    n
}

#[test]
fn probability_one_traces_every_call() {
    alamos::set_trace_sample("sampling.always", 1.0).unwrap();
    let ((_, captured), metrics) = record_metrics(|| capture(|| (0..200).map(always).count()));
    let spans = captured.spans_named("sampling.always.always");
    assert_eq!(spans.len(), 200);
    assert!(spans
        .iter()
        .all(|span| span.field("seen").is_some() && span.closed));
    assert_eq!(metrics.calls("sampling.always", "always", "ok"), 200);
}

#[test]
fn a_fraction_traces_about_that_share_of_roots_and_counts_them_all() {
    #[alamos::experiment("sampling.quarter")]
    fn quarter() {}

    alamos::set_trace_sample("sampling.quarter", 0.25).unwrap();
    alamos::__private::seed_trace_sampling(0x5eed);
    let (((), captured), metrics) =
        record_metrics(|| capture(|| (0..4_000).for_each(|_| quarter())));
    let traced = captured.spans_named("sampling.quarter.quarter").len();
    // Binomial(4000, 0.25): 1000 ± 27 per standard deviation; ±5.5 σ.
    assert!((850..=1_150).contains(&traced), "{traced} traced");
    assert_eq!(metrics.calls("sampling.quarter", "quarter", "ok"), 4_000);

    // The same seed draws the same decisions.
    alamos::__private::seed_trace_sampling(0x5eed);
    let ((), again) = capture(|| (0..4_000).for_each(|_| quarter()));
    assert_eq!(again.spans_named("sampling.quarter.quarter").len(), traced);
}

#[alamos::experiment("sampling.tree.leaf")]
fn leaf() {}

#[alamos::experiment("sampling.tree.traced_root")]
fn traced_root() {
    leaf();
    leaf();
}

#[alamos::experiment("sampling.tree.untraced_root", fields(seen = evaluated(1)))]
fn untraced_root() {
    leaf();
    leaf();
}

#[test]
fn children_follow_their_root_whatever_their_own_probability() {
    alamos::set_trace_sample("sampling.tree", 0.0).unwrap();
    alamos::set_trace_sample("sampling.tree.traced_root", 1.0).unwrap();
    let ((), captured) = capture(traced_root);
    let leaves = captured.spans_named("sampling.tree.leaf.leaf");
    assert_eq!(leaves.len(), 2, "children of a traced call are traced");
    assert!(leaves
        .iter()
        .all(|leaf| leaf.parent.as_deref() == Some("sampling.tree.traced_root.traced_root")));

    alamos::set_trace_sample("sampling.tree.leaf", 1.0).unwrap();
    let (((), captured), metrics) = record_metrics(|| capture(untraced_root));
    assert!(
        captured.spans().is_empty(),
        "children of an untraced call are not traced: {captured:?}"
    );
    assert_eq!(metrics.calls("sampling.tree.leaf", "leaf", "ok"), 2);
    // Out of any call again, the leaf is a root: probability 1 traces it.
    let ((), captured) = capture(leaf);
    assert_eq!(captured.spans_named("sampling.tree.leaf.leaf").len(), 1);
}

#[alamos::experiment("sampling.async.child")]
async fn async_child() -> u32 {
    Pending::new(1).await;
    7
}

#[alamos::experiment("sampling.async.parent")]
async fn async_parent() -> u32 {
    async_child().await + async_child().await
}

#[test]
fn async_children_follow_their_root_across_polls() {
    alamos::set_trace_sample("sampling.async.child", 1.0).unwrap();
    alamos::set_trace_sample("sampling.async.parent", 0.0).unwrap();
    let ((value, captured), metrics) = record_metrics(|| capture(|| block_on(async_parent())));
    assert_eq!(value, 14);
    assert!(captured.spans().is_empty(), "{captured:?}");
    assert_eq!(
        metrics.calls("sampling.async.child", "async_child", "ok"),
        2
    );
    assert_eq!(
        metrics.calls("sampling.async.parent", "async_parent", "ok"),
        1
    );

    alamos::set_trace_sample("sampling.async.child", 0.0).unwrap();
    alamos::set_trace_sample("sampling.async.parent", 1.0).unwrap();
    let (value, captured) = capture(|| block_on(async_parent()));
    assert_eq!(value, 14);
    let children = captured.spans_named("sampling.async.child.async_child");
    assert_eq!(children.len(), 2);
    assert!(children.iter().all(|child| child.closed
        && child.parent.as_deref() == Some("sampling.async.parent.async_parent")));
}

#[alamos::experiment("sampling.carried.inner")]
async fn carried_inner() {}

#[alamos::experiment("sampling.carried.outer")]
async fn carried_outer() {
    Pending::new(1).await;
    carried_inner().await;
}

type Boxed = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Starts `carried_outer` (its first poll makes its decision) inside this
/// call, and hands the unfinished future out.
#[alamos::experiment("sampling.carried.root")]
fn start_carried() -> Boxed {
    let mut future: Boxed = Box::pin(carried_outer());
    assert!(poll_once(&mut future).is_pending());
    future
}

#[test]
fn a_future_keeps_the_decision_it_was_started_under_on_another_thread() {
    alamos::set_trace_sample("sampling.carried", 1.0).unwrap();
    alamos::set_trace_sample("sampling.carried.root", 0.0).unwrap();
    let (future, captured) = capture(start_carried);
    assert!(captured.spans().is_empty());
    // Finished elsewhere, where no decision is in scope: still untraced,
    // and the call it makes there too.
    let captured = std::thread::spawn(move || capture(|| block_on(future)).1)
        .join()
        .unwrap();
    assert!(captured.spans().is_empty(), "{captured:?}");

    // The same under a traced root: both traced, the inner one on the
    // other thread as a child of the outer one. One subscriber on both
    // threads, which the spans belong to.
    alamos::set_trace_sample("sampling.carried.root", 1.0).unwrap();
    alamos::set_trace_sample("sampling.carried.outer", 0.0).unwrap();
    alamos::set_trace_sample("sampling.carried.inner", 0.0).unwrap();
    let captured = alamos_tests::Captured::default();
    let dispatch = tracing::Dispatch::new(alamos_tests::subscriber(&captured));
    let future = tracing::dispatcher::with_default(&dispatch, start_carried);
    std::thread::spawn(move || tracing::dispatcher::with_default(&dispatch, || block_on(future)))
        .join()
        .unwrap();
    assert_eq!(
        captured
            .spans_named("sampling.carried.inner.carried_inner")
            .len(),
        1,
        "{captured:?}"
    );
}

#[alamos::experiment("sampling.remote.handler")]
fn handle() {
    alamos::prod!("handling");
}

#[alamos::experiment("sampling.remote.async_handler")]
async fn handle_async() {
    Pending::new(1).await;
}

fn headers(traceparent: &str) -> HashMap<String, String> {
    HashMap::from([("traceparent".to_owned(), traceparent.to_owned())])
}

#[test]
fn a_sampled_remote_parent_is_obeyed_over_probability_zero() {
    alamos::set_trace_sample("sampling.remote", 0.0).unwrap();
    let ((), captured) = capture(|| alamos::with_parent(&headers(SAMPLED), handle));
    assert_eq!(
        captured.spans_named("sampling.remote.handler.handle").len(),
        1
    );
    let ((), captured) = capture(|| {
        block_on(alamos::depropagate(&headers(SAMPLED)).instrument(handle_async()));
    });
    assert_eq!(
        captured
            .spans_named("sampling.remote.async_handler.handle_async")
            .len(),
        1
    );
    // Without a parent the call is a root again: probability 0.
    let ((), captured) = capture(|| alamos::with_parent(&HashMap::<String, String>::new(), handle));
    assert!(captured.spans().is_empty());
}

#[test]
fn a_remote_parent_not_sampled_is_obeyed_over_probability_one() {
    #[alamos::experiment("sampling.remote_off.handler")]
    fn handle_off() {
        alamos::prod!("handling");
    }

    #[alamos::experiment("sampling.remote_off.async_handler")]
    async fn handle_off_async() {
        Pending::new(1).await;
    }

    alamos::set_trace_sample("sampling.remote_off", 1.0).unwrap();
    let (((), captured), metrics) =
        record_metrics(|| capture(|| alamos::with_parent(&headers(NOT_SAMPLED), handle_off)));
    assert!(captured.spans().is_empty(), "{captured:?}");
    assert_eq!(
        metrics.calls("sampling.remote_off.handler", "handle_off", "ok"),
        1
    );
    assert_eq!(captured.events().len(), 1, "its log is still emitted");
    let ((), captured) = capture(|| {
        block_on(alamos::depropagate(&headers(NOT_SAMPLED)).instrument(handle_off_async()));
    });
    assert!(captured.spans().is_empty(), "{captured:?}");
    // Left, the context no longer decides.
    let ((), captured) = capture(handle_off);
    assert_eq!(captured.spans().len(), 1);
}

#[test]
fn bad_keys_and_probabilities_are_refused() {
    #[alamos::experiment("sampling.errors")]
    fn errors() {}
    errors();

    let unknown = alamos::set_trace_sample("sampling.erors", 0.5).unwrap_err();
    let alamos::SetTraceSampleError::UnknownExperiment(unknown) = unknown else {
        panic!("{unknown:?}")
    };
    assert_eq!(unknown.nearest().first(), Some(&"sampling.errors"));
    assert!(matches!(
        alamos::set_trace_sample("Sampling", 0.5),
        Err(alamos::SetTraceSampleError::InvalidKey(_))
    ));
    for bad in [1.5, -0.1, f64::NAN, f64::INFINITY] {
        let error = alamos::set_trace_sample("sampling.errors", bad).unwrap_err();
        assert!(
            matches!(error, alamos::SetTraceSampleError::InvalidProbability(_)),
            "{bad}: {error:?}"
        );
        assert!(
            error.to_string().contains("probability") || error.to_string().contains("not"),
            "{error}"
        );
    }
    assert_eq!(
        alamos::trace_sample("sampling.errors"),
        Ok(1.0),
        "nothing changed"
    );
    let experiment = alamos::experiments()
        .into_iter()
        .find(|e| e.key() == "sampling.errors")
        .unwrap();
    assert!((experiment.trace_sample() - 1.0).abs() < f64::EPSILON);
    alamos::set_trace_sample("sampling.errors", 0.125).unwrap();
    let view = alamos::tree().to_string();
    let row = view
        .lines()
        .find(|line| line.contains("sampling.errors"))
        .unwrap();
    assert!(row.contains("12.5%"), "{view}");
}
