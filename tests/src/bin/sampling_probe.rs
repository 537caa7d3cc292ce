//! A program for `tests/sampling_env.rs`: run with some `ALAMOS_TRACE_SAMPLE`
//! or `OTEL_TRACES_SAMPLER(_ARG)`, it prints each experiment's root trace
//! probability, then how many of 1,000 calls of each were traced. It calls
//! no init function: the environment is read at the first instrumented call.
//!
//! Output, one fact per line:
//!
//! ```text
//! probability api.auth 1
//! traced api.auth 1000
//! ```

use alamos_tests::capture;

#[alamos::experiment("api.auth")]
fn login() {}

#[alamos::experiment("api.search")]
fn search() {}

#[alamos::experiment("storage.kv")]
fn get() {}

fn main() {
    let calls: [(&str, &str, fn()); 3] = [
        ("api.auth", "api.auth.login", login),
        ("api.search", "api.search.search", search),
        ("storage.kv", "storage.kv.get", get),
    ];
    alamos::__private::seed_trace_sampling(11);
    for (key, span, call) in calls {
        let ((), captured) = capture(|| (0..1_000).for_each(|_| call()));
        let probability = alamos::trace_sample(key).expect("a known key");
        println!("probability {key} {probability}");
        println!("traced {key} {}", captured.spans_named(span).len());
    }
    println!("root {}", alamos::trace_sample("").expect("the root"));
}
