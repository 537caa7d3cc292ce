//! Calls instrumented functions under a counting subscriber and a debugging
//! recorder, then prints what was emitted: `spans=N events=N series=N
//! experiments=N`. The test compares builds with and without the ceiling.
//!
//! It denies warnings: a stripped function must not leave what its
//! attribute names (a helper or an argument used only in `fields` or
//! `labels`) unused, or a crate that denies warnings stops building when it
//! strips instrumentation; nor may a stripped instrument leave its value's
//! helper unused, or a stripped log macro a variable only it logs.
#![deny(warnings)]

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use metrics_util::debugging::DebuggingRecorder;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

static SPANS: AtomicUsize = AtomicUsize::new(0);
static EVENTS: AtomicUsize = AtomicUsize::new(0);

struct Counting;

impl Subscriber for Counting {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(SPANS.fetch_add(1, Ordering::Relaxed) as u64 + 1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {
        EVENTS.fetch_add(1, Ordering::Relaxed);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[derive(Debug)]
struct Error;

#[alamos::experiment("zz_stripped_canary.key_q7x", level = error, err(Debug))]
fn write(len: usize) -> Result<usize, Error> {
    alamos::error!(len, "writing");
    // Instrument names carry the canary too: none may survive stripping.
    alamos::counter!(error, "zz_stripped_canary_events_q7x", 1);
    alamos::histogram!(error, "zz_stripped_canary_sizes_q7x", 2.0, unit = bytes);
    if len == 0 {
        return Err(Error);
    }
    Ok(len)
}

struct Relay;

#[alamos::experiment("zz_stripped_canary.relay_q7x")]
impl Relay {
    #[alamos::level(error)]
    fn route(&self, node: u32) -> u32 {
        node + 1
    }

    async fn forward(&self, node: u32) -> u32 {
        alamos::warn!(node, "forwarding");
        node * 2
    }
}

/// Every log macro in statement and expression position: a stripped macro
/// must compile wherever the kept one does (issue 13, D11).
#[alamos::experiment("zz_stripped_canary.positions_q7x", level = warn)]
fn positions(x: u32) -> u32 {
    alamos::bench!("statement");
    alamos::debug!("statement");
    alamos::prod!("statement");
    alamos::info!("statement");
    alamos::warn!("statement");
    alamos::error!("statement");
    let closures: [fn(); 6] = [
        || alamos::bench!("closure"),
        || alamos::debug!("closure"),
        || alamos::prod!("closure"),
        || alamos::info!("closure"),
        || alamos::warn!("closure"),
        || alamos::error!("closure"),
    ];
    for closure in closures {
        closure();
    }
    match x {
        0 => alamos::bench!("arm"),
        1 => alamos::debug!("arm"),
        2 => alamos::prod!("arm"),
        3 => alamos::info!("arm"),
        4 => alamos::warn!("arm"),
        _ => alamos::error!("arm"),
    }
    let () = if x == 0 {
        alamos::warn!("value")
    } else {
        alamos::error!("value")
    };
    x
}

/// Named only in the attribute's `fields` and `labels`, and in an
/// instrument's value, below.
fn shard_of(key: &str) -> usize {
    key.len() % 4
}

fn summary(key: &str) -> String {
    format!("{key}!")
}

fn size_of_key(key: &str) -> f64 {
    key.len() as f64
}

#[alamos::experiment(
    "zz_stripped_canary.fields_q7x",
    level = error,
    fields(key, summary = summary(key)),
    labels(shard = shard_of(key))
)]
fn lookup(key: &str, owned: String) -> usize {
    let logged_only = owned.len() * 2;
    alamos::error!(key, logged_only, "looking up");
    alamos::histogram!(error, "zz_stripped_canary_key_sizes_q7x", size_of_key(key));
    key.len() + owned.len()
}

fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

fn main() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().expect("no other recorder in this program");
    tracing::subscriber::set_global_default(Counting).expect("no other subscriber");
    alamos::set_directives("bench").ok();

    let written = write(3).and_then(|_| write(0));
    assert!(written.is_err(), "the body still runs unchanged");
    assert_eq!(Relay.route(1), 2);
    assert_eq!(block_on(Relay.forward(2)), 4);
    assert_eq!(positions(5), 5);
    assert_eq!(lookup("abc", "de".to_owned()), 5);
    // An observed value registers nothing above the ceiling either.
    let _watch = alamos::observe(
        "zz_stripped_canary.observed_q7x",
        "zz_stripped_canary_cache_q7x",
        || 1.0,
    );

    println!(
        "spans={} events={} series={} experiments={}",
        SPANS.load(Ordering::Relaxed),
        EVENTS.load(Ordering::Relaxed),
        snapshotter.snapshot().into_vec().len(),
        alamos::experiments().len(),
    );
}
