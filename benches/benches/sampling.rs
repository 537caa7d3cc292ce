//! What a call costs when it is counted but not traced (issue 16, item 3),
//! beside metrics-only and a traced call, in one process:
//!
//! ```text
//! cargo bench -p alamos-benches --bench sampling
//! ```
//!
//! The global subscriber wants INFO spans (`common::install_subscriber`),
//! so every row but `alamos_metrics_only` would create a span if traced:
//!
//! - `alamos_metrics_only`: a `bench` call whose TRACE span the subscriber
//!   does not want (the `overhead` bench's row);
//! - `alamos_untraced`: a `prod` call at trace probability 0: metrics, no span;
//! - `alamos_untraced_fields`: the same with `fields(x, y = expensive(x))`,
//!   which an untraced call never evaluates;
//! - `alamos_sampled_1pct`: probability 0.01, the issue's service setting:
//!   a draw per call, one call in a hundred traced;
//! - `alamos_traced`: probability 1, span and metrics;
//! - `tracing_enabled`: a `#[tracing::instrument]` INFO span, the yardstick
//!   of the 0.4× target.

mod common;

use std::hint::black_box;

use criterion::Criterion;

#[alamos::experiment("sampling_bench.metrics_only", level = bench)]
#[inline(never)]
fn alamos_metrics_only(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

#[alamos::experiment("sampling_bench.untraced")]
#[inline(never)]
fn alamos_untraced(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

/// A field value that costs something to compute.
#[inline(never)]
fn expensive(x: u64) -> String {
    format!("{x:016x}")
}

#[alamos::experiment("sampling_bench.untraced_fields", fields(x, y = expensive(x)))]
#[inline(never)]
fn alamos_untraced_fields(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

#[alamos::experiment("sampling_bench.sampled")]
#[inline(never)]
fn alamos_sampled_1pct(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

#[alamos::experiment("sampling_bench.traced")]
#[inline(never)]
fn alamos_traced(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

#[tracing::instrument(level = "info", skip_all)]
#[inline(never)]
fn tracing_enabled(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

fn sampling(c: &mut Criterion) {
    let mut group = c.benchmark_group("sampling");
    let rows: [common::Row; 6] = [
        ("alamos_metrics_only", alamos_metrics_only),
        ("alamos_untraced", alamos_untraced),
        ("alamos_untraced_fields", alamos_untraced_fields),
        ("alamos_sampled_1pct", alamos_sampled_1pct),
        ("alamos_traced", alamos_traced),
        ("tracing_enabled", tracing_enabled),
    ];
    for (name, f) in rows {
        common::bench_call(&mut group, name, f);
    }
    group.finish();
}

fn main() {
    let _render = common::install_recorder();
    common::install_subscriber();
    alamos::set_level("sampling_bench.metrics_only", alamos::Level::Bench)
        .expect("a registered key");
    for (key, probability) in [
        ("sampling_bench.untraced", 0.0),
        ("sampling_bench.untraced_fields", 0.0),
        ("sampling_bench.sampled", 0.01),
        ("sampling_bench.traced", 1.0),
    ] {
        alamos::set_trace_sample(key, probability).expect("a registered key");
    }
    let mut c = common::criterion();
    sampling(&mut c);
    c.final_summary();
}
