//! Methods written with the `async-trait` crate, on a multi-threaded tokio
//! runtime (issue 13, A1): async-trait turns an `async fn` into a
//! synchronous fn returning `Box::pin(async move { .. })`, and alamos
//! instruments that future, as it does an `async fn`, whichever attribute
//! runs first. Also a plain fn returning `impl Future`.
//!
//! Polls happen on worker threads, so this binary installs a global
//! recorder and a global subscriber; each test reads only its own keys.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use alamos_tests::{Captured, Metrics, Recorded};
use async_trait::async_trait;
use metrics_util::debugging::DebuggingRecorder;

struct Observed {
    metrics: Recorded,
    captured: Captured,
}

fn observed() -> &'static Observed {
    static OBSERVED: OnceLock<Observed> = OnceLock::new();
    OBSERVED.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let metrics = Recorded::new(recorder.snapshotter());
        recorder.install().expect("no other global recorder");
        let captured = Captured::default();
        tracing::subscriber::set_global_default(alamos_tests::subscriber(&captured))
            .expect("no other global subscriber");
        Observed { metrics, captured }
    })
}

fn metrics() -> Metrics {
    observed().metrics.snapshot()
}

fn outcomes(experiment: &str, function: &str) -> [u64; 4] {
    let metrics = metrics();
    ["ok", "error", "panic", "cancelled"]
        .map(|outcome| metrics.calls(experiment, function, outcome))
}

#[async_trait]
trait Store: Sync {
    async fn get(&self, k: u32) -> Result<u32, String>;

    async fn boom(&self) -> u32;

    async fn stall(&self) -> u32;

    /// An instrumented default method.
    #[alamos::experiment("at.default")]
    async fn doubled(&self, k: u32) -> Result<u32, String> {
        tokio::task::yield_now().await;
        alamos::info!(k, "doubling");
        let v = self.get(k).await?;
        Ok(v * 2)
    }

    /// An instrumented default method that panics while polled.
    #[alamos::experiment("at.default")]
    async fn default_boom(&self) -> u32 {
        tokio::task::yield_now().await;
        panic!("boom in a default method");
    }

    /// An instrumented default method whose future is dropped pending.
    #[alamos::experiment("at.default")]
    async fn default_stall(&self) -> u32 {
        tokio::time::sleep(Duration::from_secs(60)).await;
        1
    }
}

/// The method's attribute: async-trait runs first and hands alamos a
/// synchronous method that returns a boxed future.
struct MethodAttr;

#[async_trait]
impl Store for MethodAttr {
    #[alamos::experiment("at.method", err)]
    async fn get(&self, k: u32) -> Result<u32, String> {
        tokio::task::yield_now().await;
        alamos::info!(k, "getting");
        if k == 0 {
            return Err("no key 0".into());
        }
        Ok(k)
    }

    #[alamos::experiment("at.method")]
    async fn boom(&self) -> u32 {
        tokio::task::yield_now().await;
        panic!("boom while polling");
    }

    #[alamos::experiment("at.method")]
    async fn stall(&self) -> u32 {
        tokio::time::sleep(Duration::from_secs(60)).await;
        1
    }
}

/// Uses the default method.
struct Defaults;

#[async_trait]
impl Store for Defaults {
    #[alamos::experiment("at.defaults_get")]
    async fn get(&self, k: u32) -> Result<u32, String> {
        if k == 0 {
            return Err("no key 0".into());
        }
        Ok(k)
    }

    async fn boom(&self) -> u32 {
        0
    }

    async fn stall(&self) -> u32 {
        0
    }
}

/// `#[async_trait]` above an instrumented impl block: async-trait runs
/// first, on every method.
struct AboveImpl;

#[async_trait]
#[alamos::experiment("at.above")]
impl Store for AboveImpl {
    async fn get(&self, k: u32) -> Result<u32, String> {
        tokio::task::yield_now().await;
        alamos::info!(k, "getting");
        if k == 0 {
            return Err("no key 0".into());
        }
        Ok(k)
    }

    async fn boom(&self) -> u32 {
        tokio::task::yield_now().await;
        panic!("boom while polling");
    }

    async fn stall(&self) -> u32 {
        tokio::time::sleep(Duration::from_secs(60)).await;
        1
    }
}

/// An instrumented impl block above `#[async_trait]`: alamos runs first
/// and instruments `async fn`s, which async-trait then boxes.
struct BelowImpl;

#[alamos::experiment("at.below")]
#[async_trait]
impl Store for BelowImpl {
    async fn get(&self, k: u32) -> Result<u32, String> {
        tokio::task::yield_now().await;
        alamos::info!(k, "getting");
        if k == 0 {
            return Err("no key 0".into());
        }
        Ok(k)
    }

    async fn boom(&self) -> u32 {
        tokio::task::yield_now().await;
        panic!("boom while polling");
    }

    async fn stall(&self) -> u32 {
        tokio::time::sleep(Duration::from_secs(60)).await;
        1
    }
}

/// Runs every shape through `store` and checks what was recorded under
/// `experiment`, with `prefix` the `function` label's `Type::` part.
async fn check_store<S: Store + Send + 'static>(store: S, experiment: &str, prefix: &str) {
    let store = std::sync::Arc::new(store);
    assert_eq!(store.get(3).await, Ok(3));
    assert_eq!(store.get(0).await, Err("no key 0".to_owned()));
    let boom = tokio::spawn({
        let store = std::sync::Arc::clone(&store);
        async move { store.boom().await }
    });
    assert!(boom.await.unwrap_err().is_panic());
    let stalled = tokio::time::timeout(Duration::from_millis(20), store.stall()).await;
    assert!(stalled.is_err(), "the stalled call timed out");

    let get = format!("{prefix}get");
    assert_eq!(
        outcomes(experiment, &get),
        [1, 1, 0, 0],
        "{experiment} {get}"
    );
    assert_eq!(
        outcomes(experiment, &format!("{prefix}boom")),
        [0, 0, 1, 0],
        "a panic while polling"
    );
    assert_eq!(
        outcomes(experiment, &format!("{prefix}stall")),
        [0, 0, 0, 1],
        "dropped after a pending poll"
    );
    let span_name = format!("{experiment}.get");
    let captured = &observed().captured;
    let spans = captured.spans_named(&span_name);
    assert_eq!(spans.len(), 2, "{span_name}: {captured:#?}");
    for span in &spans {
        assert!(
            span.entered >= 2,
            "entered on every poll, not once when the future was built: {span:#?}"
        );
        assert_eq!(span.entered, span.exited);
        assert!(span.closed);
    }
    let events = captured.events_in(&span_name);
    let getting = events
        .iter()
        .filter(|event| event.field("message") == Some("getting"))
        .count();
    assert_eq!(getting, 2, "the body's events are in the span: {events:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instrumented_method_of_an_async_trait_impl_instruments_its_future() {
    observed();
    // A method attribute alone labels `function` with the method name.
    check_store(MethodAttr, "at.method", "").await;
    let events = observed().captured.events_in("at.method.get");
    let errors: Vec<_> = events
        .iter()
        .filter(|event| event.level == tracing::Level::ERROR)
        .collect();
    assert_eq!(errors.len(), 1, "{events:#?}");
    assert_eq!(errors[0].field("error"), Some("no key 0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_trait_above_an_instrumented_impl() {
    observed();
    check_store(AboveImpl, "at.above", "AboveImpl::").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instrumented_impl_above_async_trait() {
    observed();
    check_store(BelowImpl, "at.below", "BelowImpl::").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instrumented_default_method_of_an_async_trait() {
    observed();
    assert_eq!(Defaults.doubled(4).await, Ok(8));
    assert_eq!(Defaults.doubled(0).await, Err("no key 0".to_owned()));
    assert_eq!(outcomes("at.default", "doubled"), [1, 1, 0, 0]);
    let captured = &observed().captured;
    let spans = captured.spans_named("at.default.doubled");
    assert_eq!(spans.len(), 2);
    assert!(spans.iter().all(|span| span.entered >= 2));
    let doubling = captured
        .events_in("at.default.doubled")
        .iter()
        .filter(|event| event.field("message") == Some("doubling"))
        .count();
    assert_eq!(doubling, 2);
    // The method it awaits is a child of the default method's span.
    let children: Vec<_> = captured
        .spans_named("at.defaults_get.get")
        .into_iter()
        .filter(|span| span.parent.as_deref() == Some("at.default.doubled"))
        .collect();
    assert_eq!(children.len(), 2, "{captured:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instrumented_default_method_that_panics_or_is_dropped() {
    observed();
    let boom = tokio::spawn(async { Defaults.default_boom().await });
    assert!(boom.await.unwrap_err().is_panic());
    assert_eq!(
        outcomes("at.default", "default_boom"),
        [0, 0, 1, 0],
        "a panic while polling a default method"
    );
    let stalled = tokio::time::timeout(Duration::from_millis(20), Defaults.default_stall()).await;
    assert!(stalled.is_err(), "the stalled call timed out");
    assert_eq!(
        outcomes("at.default", "default_stall"),
        [0, 0, 0, 1],
        "a default method's future dropped after a pending poll"
    );
    let captured = &observed().captured;
    // `default_boom` is polled twice (a yield, then the panic); the
    // stalled call once before it is dropped.
    for (name, polls) in [
        ("at.default.default_boom", 2),
        ("at.default.default_stall", 1),
    ] {
        let spans = captured.spans_named(name);
        assert_eq!(spans.len(), 1, "{name}: {captured:#?}");
        assert!(
            spans[0].entered >= polls && spans[0].entered == spans[0].exited,
            "entered on every poll: {:#?}",
            spans[0]
        );
        assert!(spans[0].closed);
    }
}

#[alamos::experiment("at.plain")]
#[allow(clippy::manual_async_fn)]
fn plain_future(x: u8) -> impl Future<Output = Result<u8, String>> + Send {
    async move {
        tokio::task::yield_now().await;
        alamos::info!(x, "computing");
        if x == 0 {
            return Err("zero".to_owned());
        }
        Ok(x + 1)
    }
}

#[alamos::experiment("at.plain")]
#[allow(clippy::manual_async_fn)]
fn plain_output(x: u8) -> impl Future<Output = u8> {
    async move { x * 2 }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_fn_returning_an_async_block_instruments_the_future() {
    observed();
    let pending = plain_future(5);
    // Built but not polled yet: nothing recorded, as for an `async fn`.
    assert_eq!(outcomes("at.plain", "plain_future"), [0, 0, 0, 0]);
    assert_eq!(pending.await, Ok(6));
    assert_eq!(plain_future(0).await, Err("zero".to_owned()));
    assert_eq!(tokio::spawn(plain_output(4)).await.unwrap(), 8);
    assert_eq!(outcomes("at.plain", "plain_future"), [1, 1, 0, 0]);
    assert_eq!(outcomes("at.plain", "plain_output"), [1, 0, 0, 0]);
    let events = observed().captured.events_in("at.plain.plain_future");
    assert_eq!(
        events
            .iter()
            .filter(|event| event.field("message") == Some("computing"))
            .count(),
        2
    );
}
