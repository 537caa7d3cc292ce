//! Flat scaling and Prometheus rendering with 10,000 experiments registered.
//!
//! ```text
//! cargo bench -p alamos-benches --bench scaling_1 --bench scaling_10k
//! ```
//!
//! The binary holds the hot callsites of `scaling_1` plus 10,000 generated
//! instrumented functions (`build.rs`), each with its own experiment key
//! under `scale.gNNN`. Before measuring, every generated function is called
//! once with its callsite enabled, so the tree, `tracing`'s callsite registry
//! and the recorder all hold 10,000 live experiments: six series each
//! (`alamos_calls_total` for four outcomes, the duration histogram and the
//! in-flight gauge), 60,000 series in all.
//!
//! `render/alamos` renders those series as alamos exposes them: today through
//! the recorder `common::install_recorder` installs. `render/direct` renders
//! the same names, labels and values written straight through the `metrics`
//! macros into a second `metrics-exporter-prometheus` recorder.

mod common;
mod scaling;

use std::hint::black_box;
use std::time::Duration;

use criterion::Criterion;
use metrics::{counter, gauge, histogram};

mod generated {
    #![allow(clippy::unreadable_literal)]
    include!(concat!(env!("OUT_DIR"), "/experiments.rs"));
}

/// What every generated callsite recorded: one ok call of about 100 ns.
const ONE_CALL_SECONDS: f64 = 1e-7;

/// Writes the series of alamos callsites `names` directly into the current
/// recorder, as each callsite's handles hold them after one ok call.
fn write_directly(names: &'static [(&'static str, &'static str)]) {
    for &(experiment, function) in names {
        for outcome in alamos::Outcome::ALL {
            let calls = u64::from(outcome == alamos::Outcome::Ok);
            counter!(alamos::names::CALLS_TOTAL, "experiment" => experiment, "function" => function, "outcome" => outcome.as_str())
                .increment(calls);
        }
        histogram!(alamos::names::CALL_DURATION_SECONDS, "experiment" => experiment, "function" => function)
            .record(ONE_CALL_SECONDS);
        gauge!(alamos::names::CALLS_IN_FLIGHT, "experiment" => experiment, "function" => function)
            .set(0.0);
    }
}

fn render(c: &mut Criterion, alamos_render: &common::Render) {
    let direct = common::prometheus_recorder();
    let direct_handle = direct.handle();
    metrics::with_local_recorder(&direct, || {
        write_directly(&generated::NAMES);
        write_directly(&scaling::HOT_RECORDING);
    });
    let (alamos_text, direct_text) = (alamos_render(), direct_handle.render());
    eprintln!(
        "render: alamos {} lines, {} bytes; direct {} lines, {} bytes",
        alamos_text.lines().count(),
        alamos_text.len(),
        direct_text.lines().count(),
        direct_text.len(),
    );
    let mut group = c.benchmark_group("render");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    group.bench_function("alamos/10000", |b| {
        b.iter(|| black_box(alamos_render()));
    });
    group.bench_function("direct/10000", |b| {
        b.iter(|| black_box(direct_handle.render()));
    });
    group.finish();
}

fn main() {
    let alamos_render = common::install_recorder();
    common::install_subscriber();
    scaling::set_levels();
    for (i, f) in (0u64..).zip(&generated::FUNCTIONS) {
        black_box(f(black_box(i)));
    }
    assert_eq!(generated::FUNCTIONS.len(), generated::COUNT);
    let mut c = common::criterion();
    scaling::per_call(&mut c, generated::COUNT);
    render(&mut c, &alamos_render);
    c.final_summary();
}
