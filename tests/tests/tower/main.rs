//! The service edges (issue 17, items 1 and 2) against real servers and
//! clients on loopback, in one test binary (axum, hyper and reqwest are
//! compiled into it once):
//!
//! - `server`: `alamos::tower::ServerLayer` in front of axum and hyper;
//! - `client`: `alamos::tower::ClientLayer` around hyper-util's client;
//! - `middleware`: `alamos::reqwest::Middleware` in a `reqwest_middleware`
//!   client;
//! - `tonic_grpc`: both layers around a real tonic server and channel.
//!
//! Metrics are read from alamos's own recorder (one per process, so each
//! test uses keys of its own); spans are captured per test, on the one
//! thread of a current-thread runtime that runs servers and clients alike.

mod client;
mod middleware;
#[cfg(feature = "otel")]
#[path = "../propagation_otel/receiver.rs"]
#[allow(dead_code)]
mod receiver;
mod server;
mod tonic_grpc;

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use alamos_tests::{subscriber, Captured};

pub(crate) fn guard() -> &'static alamos::Guard {
    static GUARD: OnceLock<alamos::Guard> = OnceLock::new();
    GUARD.get_or_init(|| {
        alamos::Builder::new()
            .subscriber(false)
            .prometheus_endpoint(false)
            .install()
            .expect("alamos installs")
    })
}

/// The value of one series in the Prometheus exposition (counts and
/// gauges of whole numbers here).
pub(crate) fn sample(series: &str) -> Option<u64> {
    let exposition = guard().render().expect("alamos's recorder is installed");
    exposition.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.parse().ok()
    })
}

pub(crate) fn calls(key: &str, function: &str, outcome: &str) -> u64 {
    sample(&format!(
        "alamos_calls_total{{experiment=\"{key}\",function=\"{function}\",outcome=\"{outcome}\"}}"
    ))
    .unwrap_or(0)
}

pub(crate) fn in_flight(key: &str, function: &str) -> u64 {
    sample(&format!(
        "alamos_calls_in_flight{{experiment=\"{key}\",function=\"{function}\"}}"
    ))
    .unwrap_or(0)
}

/// Runs `f` on a current-thread runtime (servers, clients and handlers all
/// on this thread) under a capturing subscriber.
pub(crate) fn run<F: Future>(f: F) -> (F::Output, Captured) {
    guard();
    let captured = Captured::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let output = tracing::subscriber::with_default(subscriber(&captured), || runtime.block_on(f));
    (output, captured)
}

/// Waits (bounded) until `condition` holds.
pub(crate) async fn until(what: &str, condition: impl Fn() -> bool) {
    for _ in 0..500 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}
