//! What a request costs through `alamos::tower::ServerLayer` (issue 17,
//! "Performance"), beside the bare service and tower-http's `TraceLayer`
//! with the W3C context extracted by hand, in one process, with a no-op
//! handler:
//!
//! ```text
//! ALAMOS_BENCH_RECORDER=alamos cargo bench -p alamos-benches --bench tower
//! ```
//!
//! Every row builds a `GET /users/7` request carrying a sampled
//! `traceparent`, calls the service, polls the response future (ready at
//! once) and drains the response body, under a global subscriber that
//! wants INFO spans (`common::install_subscriber`):
//!
//! - `bare`: the handler alone; `bare_no_context`: the same, its request
//!   without `traceparent` (what the rows without one compare with);
//! - `alamos_server_traced`: `ServerLayer` at trace probability 1 (the
//!   remote parent is sampled): span, metrics, context;
//! - `alamos_server_untraced`: the same request with a parent not sampled:
//!   metrics only;
//! - `alamos_server_root_untraced`: a request with no trace context, its
//!   key at trace probability 0: metrics only, nothing to parse or enter;
//! - `tower_http_trace_by_hand`: `TraceLayer` with INFO spans, the handler
//!   wrapped in `alamos::depropagate(..).instrument(..)`: the yardstick;
//! - `alamos_client_traced`, `alamos_client_root_untraced`: `ClientLayer`
//!   around the handler, no context in scope, at trace probability 1 and 0
//!   (the request carries no `traceparent`);
//! - `alamos_fn_metrics_only`: an instrumented function's untraced call,
//!   what the untraced request is compared with.
//!
//! Instructions instead of time: `ALAMOS_BENCH_TOWER_LOOP=<row>:<n>` serves
//! `n` requests through the row named `tower/<row>` and nothing else, no
//! criterion; `bash benches/scripts/tower_instructions.sh` runs each row
//! under cachegrind twice and prints the instructions per request.

mod common;

use std::convert::Infallible;
use std::future::{ready, Future, Ready};
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use criterion::Criterion;
use http::{Request, Response};
use http_body::Body;
use tower::{Layer, Service};

const SAMPLED: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const NOT_SAMPLED: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";

fn handler(_request: Request<String>) -> Ready<Result<Response<String>, Infallible>> {
    ready(Ok(Response::new("ok".to_owned())))
}

/// `GET /users/7` with `traceparent` (none if empty).
fn request(traceparent: &'static str) -> Request<String> {
    let mut request = Request::get("/users/7");
    if !traceparent.is_empty() {
        request = request.header("traceparent", traceparent);
    }
    // UNWRAP: a constant, valid request.
    request.body(String::new()).unwrap()
}

/// Calls `service` once and drains the response: every future here is
/// ready at its first poll.
fn serve<S, B>(service: &mut S, request: Request<String>) -> usize
where
    S: Service<Request<String>, Response = Response<B>, Error = Infallible>,
    B: Body,
{
    let mut cx = Context::from_waker(Waker::noop());
    let future = pin!(service.call(request));
    let Poll::Ready(Ok(response)) = future.poll(&mut cx) else {
        unreachable!("the handler is ready at once")
    };
    let mut body = pin!(response.into_body());
    let mut frames = 0;
    while let Poll::Ready(Some(frame)) = body.as_mut().poll_frame(&mut cx) {
        frames += usize::from(frame.is_ok());
    }
    frames
}

/// The loop mode's row and request count, from `ALAMOS_BENCH_TOWER_LOOP`.
fn loop_mode() -> Option<(String, u64)> {
    let value = std::env::var("ALAMOS_BENCH_TOWER_LOOP").ok()?;
    let parsed = value
        .rsplit_once(':')
        .and_then(|(row, n)| Some((format!("tower/{row}"), n.parse().ok()?)));
    assert!(
        parsed.is_some(),
        "ALAMOS_BENCH_TOWER_LOOP={value:?}: expected <row>:<requests>"
    );
    parsed
}

/// Measures the row `name`: with criterion, or `n` plain iterations in the
/// loop mode when it names this row (other rows are skipped there).
fn row(c: &mut Criterion, name: &str, mut iteration: impl FnMut() -> usize) {
    match loop_mode() {
        Some((row, n)) => {
            if row == name {
                for _ in 0..n {
                    black_box(iteration());
                }
            }
        }
        None => {
            c.bench_function(name, |b| b.iter(&mut iteration));
        }
    }
}

fn bench<S, B>(c: &mut Criterion, name: &str, mut service: S, traceparent: &'static str)
where
    S: Service<Request<String>, Response = Response<B>, Error = Infallible>,
    B: Body,
{
    row(c, name, || serve(&mut service, request(traceparent)));
}

#[alamos::experiment("tower_bench.function")]
#[inline(never)]
fn alamos_fn_metrics_only(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

fn main() {
    let _render = common::install_recorder();
    common::install_subscriber();
    let mut c = common::criterion();

    bench(&mut c, "tower/bare", tower::service_fn(handler), SAMPLED);
    // What the rows without a `traceparent` compare with.
    bench(
        &mut c,
        "tower/bare_no_context",
        tower::service_fn(handler),
        "",
    );
    let layer = alamos::tower::ServerLayer::new("tower_bench.http").route(|_| Some("/users/{id}"));
    bench(
        &mut c,
        "tower/alamos_server_traced",
        layer.layer(tower::service_fn(handler)),
        SAMPLED,
    );
    bench(
        &mut c,
        "tower/alamos_server_untraced",
        layer.layer(tower::service_fn(handler)),
        NOT_SAMPLED,
    );
    let root = alamos::tower::ServerLayer::new("tower_bench.root").route(|_| Some("/users/{id}"));
    let mut root = root.layer(tower::service_fn(handler));
    // The key is known once it has served a request.
    serve(&mut root, request(""));
    alamos::set_trace_sample("tower_bench.root", 0.0).expect("a key that served");
    bench(&mut c, "tower/alamos_server_root_untraced", root, "");
    let by_hand = tower::service_fn(|request: Request<String>| {
        alamos::depropagate(request.headers()).instrument(handler(request))
    });
    let trace = tower_http::trace::TraceLayer::new_for_http()
        .make_span_with(tower_http::trace::DefaultMakeSpan::new().level(tracing::Level::INFO));
    bench(
        &mut c,
        "tower/tower_http_trace_by_hand",
        trace.layer(by_hand),
        SAMPLED,
    );

    let client = alamos::tower::ClientLayer::new("tower_bench.client")
        .route(|_| Some("/users/{id}"))
        .layer(tower::service_fn(handler));
    bench(&mut c, "tower/alamos_client_traced", client, "");
    let client_root =
        alamos::tower::ClientLayer::new("tower_bench.client_root").route(|_| Some("/users/{id}"));
    let mut client_root = client_root.layer(tower::service_fn(handler));
    serve(&mut client_root, request(""));
    alamos::set_trace_sample("tower_bench.client_root", 0.0).expect("a key that served");
    bench(&mut c, "tower/alamos_client_root_untraced", client_root, "");

    alamos::set_trace_sample("tower_bench.function", 0.0).expect("a registered key");
    let mut i = 0u64;
    row(&mut c, "tower/alamos_fn_metrics_only", || {
        i = i.wrapping_add(1);
        // Truncation is fine: the value only feeds `black_box`.
        #[allow(clippy::cast_possible_truncation)]
        let out = alamos_fn_metrics_only(black_box(i)) as usize;
        out
    });
    if loop_mode().is_none() {
        c.final_summary();
    }
}
