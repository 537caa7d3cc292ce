//! `async fn`: free, in impl blocks and in trait impls; the span is entered for
//! every poll; outcomes `ok`, `error`, `panic` and `cancelled`.

// With `--all-features` (`max_level_off`) these functions are stripped and
// clippy reads them as written; their shapes are the cases under test.
#![allow(clippy::unused_async)]
// Lints that fire inside the attribute's expansion (a closure called where it
// is declared for `err`; `&Option<&T>` in the classifier of an async fn
// returning `Option<&T>`), not in this file's code. Reported to the macro's owner.
#![allow(clippy::redundant_closure_call, clippy::ref_option_ref)]

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::task::Poll;

use alamos_tests::{
    block_on, block_on_observed, capture, current_span_name, poll_once, record_metrics, Pending,
};

#[derive(Debug, PartialEq)]
struct Failure;

#[test]
fn free_async_fn_opens_a_span_and_counts_the_call() {
    #[alamos::experiment("async.free")]
    async fn fetch(id: u32) -> u32 {
        Pending::new(2).await;
        id * 10
    }

    let ((value, captured), metrics) = record_metrics(|| capture(|| block_on(fetch(4))));
    assert_eq!(value, 40);
    let span = captured.span("async.free.fetch");
    assert_eq!(span.field("alamos.experiment"), Some("async.free"));
    assert_eq!(span.field("code.function"), Some("fetch"));
    assert_eq!(span.field("code.namespace"), Some(module_path!()));
    assert!(span.closed);
    assert_eq!(
        metrics.calls("async.free", "fetch", "ok"),
        1,
        "{metrics:#?}"
    );
    assert_eq!(metrics.durations("async.free", "fetch").len(), 1);
    assert_eq!(metrics.in_flight("async.free", "fetch"), Some(0.0));
}

#[test]
fn span_is_entered_on_every_poll_and_exited_between_polls() {
    #[alamos::experiment("async.polls")]
    async fn wait(pending: Pending) -> Option<&'static str> {
        pending.await;
        current_span_name()
    }

    let pending = Pending::new(3);
    let seen = pending.seen();
    let mut between = Vec::new();
    let (inside, captured) =
        capture(|| block_on_observed(wait(pending), |_| between.push(current_span_name())));
    assert_eq!(inside, Some("async.polls.wait"));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [Some("async.polls.wait"); 4],
        "every poll of the body runs inside the span"
    );
    assert_eq!(between, [None; 3], "the span is exited between polls");
    let span = captured.span("async.polls.wait");
    assert!(span.entered >= 4, "{span:#?}");
    assert_eq!(span.entered, span.exited, "{span:#?}");
    assert!(span.closed);
}

#[test]
fn async_methods_of_an_instrumented_impl() {
    struct Client {
        base: u32,
    }

    #[alamos::experiment("async.impl_block")]
    impl Client {
        async fn get(&self, offset: u32) -> u32 {
            Pending::new(1).await;
            self.base + offset
        }

        async fn bump(&mut self) -> &mut u32 {
            Pending::new(1).await;
            self.base += 1;
            &mut self.base
        }

        async fn into_base(self: Box<Self>) -> u32 {
            self.base
        }
    }

    let ((got, bumped, owned), captured) = capture(|| {
        block_on(async {
            let mut client = Client { base: 5 };
            let got = client.get(1).await;
            *client.bump().await += 10;
            let bumped = client.base;
            (got, bumped, Box::new(client).into_base().await)
        })
    });
    assert_eq!((got, bumped, owned), (6, 16, 16));
    let get = captured.span("async.impl_block.get");
    assert_eq!(get.field("code.function"), Some("Client::get"));
    assert_eq!(
        captured
            .span("async.impl_block.bump")
            .field("code.function"),
        Some("Client::bump")
    );
    assert_eq!(
        captured
            .span("async.impl_block.into_base")
            .field("code.function"),
        Some("Client::into_base")
    );
}

#[test]
fn async_fn_in_a_trait_impl() {
    trait Store {
        async fn load(&self, key: u32) -> Result<u32, Failure>;
    }

    struct Memory;

    #[alamos::experiment("async.trait_impl")]
    impl Store for Memory {
        async fn load(&self, key: u32) -> Result<u32, Failure> {
            Pending::new(1).await;
            if key == 0 {
                return Err(Failure);
            }
            Ok(key + 1)
        }
    }

    async fn load_both(store: &impl Store) -> (Result<u32, Failure>, Result<u32, Failure>) {
        (store.load(0).await, store.load(1).await)
    }

    let ((results, captured), metrics) =
        record_metrics(|| capture(|| block_on(load_both(&Memory))));
    assert_eq!(results, (Err(Failure), Ok(2)));
    let spans = captured.spans_named("async.trait_impl.load");
    assert_eq!(spans.len(), 2);
    assert!(spans
        .iter()
        .all(|s| s.field("code.function") == Some("Memory::load")));
    assert_eq!(metrics.calls("async.trait_impl", "Memory::load", "ok"), 1);
    assert_eq!(
        metrics.calls("async.trait_impl", "Memory::load", "error"),
        1
    );
}

#[test]
fn dropped_future_is_cancelled_with_in_flight_back_to_zero_and_span_closed() {
    #[alamos::experiment("async.cancel")]
    async fn slow() -> u32 {
        Pending::new(10).await;
        1
    }

    let ((), metrics) = record_metrics(|| {
        let ((), captured) = capture(|| {
            let mut future = Box::pin(slow());
            assert!(poll_once(&mut future).is_pending());
            assert!(poll_once(&mut future).is_pending());
            drop(future);
        });
        let span = captured.span("async.cancel.slow");
        assert!(span.closed, "{span:#?}");
        assert_eq!(span.entered, span.exited, "{span:#?}");
    });
    assert_eq!(
        metrics.calls("async.cancel", "slow", "cancelled"),
        1,
        "{metrics:#?}"
    );
    assert_eq!(metrics.calls("async.cancel", "slow", "ok"), 0);
    assert_eq!(metrics.calls("async.cancel", "slow", "panic"), 0);
    assert_eq!(metrics.in_flight("async.cancel", "slow"), Some(0.0));
    assert_eq!(metrics.durations("async.cancel", "slow").len(), 1);
}

#[test]
fn in_flight_is_one_while_the_future_is_pending() {
    #[alamos::experiment("async.in_flight")]
    async fn slow() -> u32 {
        Pending::new(1).await;
        1
    }

    let ((during, output), metrics) = alamos_tests::record_metrics_live(|recorded| {
        let mut future = Box::pin(slow());
        assert!(poll_once(&mut future).is_pending());
        let during = recorded.snapshot().in_flight("async.in_flight", "slow");
        (during, block_on(future))
    });
    assert_eq!(during, Some(1.0));
    assert_eq!(output, 1);
    assert_eq!(metrics.in_flight("async.in_flight", "slow"), Some(0.0));
    assert_eq!(metrics.calls("async.in_flight", "slow", "ok"), 1);
    assert_eq!(metrics.calls("async.in_flight", "slow", "cancelled"), 0);
}

#[test]
fn completed_future_dropped_afterwards_is_not_cancelled() {
    #[alamos::experiment("async.complete_then_drop")]
    async fn quick() -> u32 {
        3
    }

    let (value, metrics) = record_metrics(|| {
        let mut future = Box::pin(quick());
        let Poll::Ready(value) = poll_once(&mut future) else {
            panic!("a future with no await point completes on its first poll");
        };
        drop(future);
        value
    });
    assert_eq!(value, 3);
    assert_eq!(metrics.calls("async.complete_then_drop", "quick", "ok"), 1);
    assert_eq!(
        metrics.calls("async.complete_then_drop", "quick", "cancelled"),
        0
    );
}

#[test]
fn panic_inside_an_async_fn_is_a_panic_outcome() {
    #[alamos::experiment("async.panic")]
    async fn explode() -> u32 {
        Pending::new(1).await;
        panic!("async boom");
    }

    let ((caught, captured), metrics) =
        record_metrics(|| capture(|| catch_unwind(AssertUnwindSafe(|| block_on(explode())))));
    let payload = caught.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"async boom"));
    assert_eq!(
        metrics.calls("async.panic", "explode", "panic"),
        1,
        "{metrics:#?}"
    );
    assert_eq!(metrics.calls("async.panic", "explode", "cancelled"), 0);
    assert_eq!(metrics.calls("async.panic", "explode", "ok"), 0);
    assert_eq!(metrics.in_flight("async.panic", "explode"), Some(0.0));
    let span = captured.span("async.panic.explode");
    assert!(span.closed);
    assert_eq!(span.entered, span.exited);
}

#[test]
fn question_mark_in_an_async_fn_is_an_error_outcome() {
    async fn parse(s: &str) -> Result<u32, std::num::ParseIntError> {
        Pending::new(1).await;
        s.parse()
    }

    #[alamos::experiment("async.try_err", err)]
    async fn load(a: &str, b: &str) -> Result<u32, std::num::ParseIntError> {
        let a = parse(a).await?;
        let b: u32 = b.parse()?;
        Ok(a + b)
    }

    let ((results, captured), metrics) = record_metrics(|| {
        capture(|| {
            block_on(async {
                [
                    load("x", "1").await,
                    load("1", "y").await,
                    load("1", "2").await,
                ]
            })
        })
    });
    assert!(results[0].is_err() && results[1].is_err());
    assert_eq!(results[2], Ok(3));
    assert_eq!(
        metrics.calls("async.try_err", "load", "error"),
        2,
        "{metrics:#?}"
    );
    assert_eq!(metrics.calls("async.try_err", "load", "ok"), 1);
    let errors = captured
        .events()
        .into_iter()
        .filter(|e| e.span.as_deref() == Some("async.try_err.load") && e.field("error").is_some())
        .count();
    assert_eq!(errors, 2, "{captured:#?}");
}

#[test]
fn nested_async_calls_nest_their_spans() {
    #[alamos::experiment("async.nesting")]
    async fn outer() -> u32 {
        inner().await + inner().await
    }

    #[alamos::experiment("async.nesting")]
    async fn inner() -> u32 {
        Pending::new(1).await;
        1
    }

    let (value, captured) = capture(|| block_on(outer()));
    assert_eq!(value, 2);
    let inners = captured.spans_named("async.nesting.inner");
    assert_eq!(inners.len(), 2);
    for inner in inners {
        assert_eq!(inner.parent.as_deref(), Some("async.nesting.outer"));
    }
}

#[test]
fn disabled_async_fn_runs_its_body_and_records_nothing() {
    #[alamos::experiment("async.disabled", level = bench)]
    async fn quiet(x: u32) -> Result<u32, Failure> {
        Pending::new(2).await;
        if x == 0 {
            return Err(Failure);
        }
        Ok(x)
    }

    let ((results, captured), metrics) =
        record_metrics(|| capture(|| block_on(async { (quiet(0).await, quiet(5).await) })));
    assert_eq!(results, (Err(Failure), Ok(5)));
    assert!(captured.spans().is_empty());
    assert!(metrics.is_empty(), "{metrics:#?}");
}

#[test]
fn instrumented_async_fn_futures_stay_send() {
    #[alamos::experiment("async.send", fields(id), ret, err)]
    async fn handler(id: u32) -> Result<String, std::fmt::Error> {
        Pending::new(1).await;
        Ok(id.to_string())
    }

    fn assert_send<F: Future + Send + 'static>(future: F) -> F {
        future
    }

    let future = assert_send(handler(9));
    assert_eq!(block_on(future), Ok("9".to_owned()));
}

#[test]
fn polling_from_another_thread_still_enters_the_span() {
    #[alamos::experiment("async.threads")]
    async fn hop() -> Option<&'static str> {
        Pending::new(1).await;
        current_span_name()
    }

    let captured = alamos_tests::Captured::default();
    let dispatch = tracing::Dispatch::new(alamos_tests::subscriber(&captured));
    let mut future = Box::pin(hop());
    tracing::dispatcher::with_default(&dispatch, || {
        assert!(poll_once(&mut future).is_pending());
    });
    let seen = std::thread::spawn(move || {
        tracing::dispatcher::with_default(&dispatch, || block_on(future))
    })
    .join()
    .unwrap();
    assert_eq!(seen, Some("async.threads.hop"));
}
