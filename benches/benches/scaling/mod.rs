//! The hot callsites and the per-call measurement shared by `scaling_1` and
//! `scaling_10k`. The two targets differ only in how many experiments the
//! binary registers: these three, or these three and 10,000 generated ones.

use std::hint::black_box;

use criterion::Criterion;

/// Off at run time, like `overhead/alamos_disabled`.
#[alamos::experiment("scale.disabled")]
#[inline(never)]
fn hot_disabled(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

/// Metrics only, like `overhead/alamos_metrics_only`.
#[alamos::experiment("scale.metrics", level = bench)]
#[inline(never)]
fn hot_metrics(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

/// Span and metrics, like `overhead/alamos_span_metrics`.
#[alamos::experiment("scale.span")]
#[inline(never)]
fn hot_span(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

/// `(experiment, function)` of the hot callsites that record metrics.
#[allow(dead_code)] // Only `scaling_10k` renders them.
pub(crate) const HOT_RECORDING: [(&str, &str); 2] =
    [("scale.metrics", "hot_metrics"), ("scale.span", "hot_span")];

/// Sets the thresholds the hot callsites are measured under.
pub(crate) fn set_levels() {
    alamos::set_level("scale.disabled", alamos::LevelFilter::Off).expect("registered");
    alamos::set_level("scale.metrics", alamos::Level::Bench).expect("registered");
}

/// Measures each hot callsite as `scaling/<row>/<experiments>`.
pub(crate) fn per_call(c: &mut Criterion, experiments: usize) {
    let mut group = c.benchmark_group("scaling");
    let rows: [crate::common::Row; 3] = [
        ("alamos_disabled", hot_disabled),
        ("alamos_metrics_only", hot_metrics),
        ("alamos_span_metrics", hot_span),
    ];
    for (name, f) in rows {
        group.bench_function(format!("{name}/{experiments}"), |b| {
            let mut i = 0u64;
            b.iter(|| {
                i = i.wrapping_add(1);
                f(black_box(i))
            });
        });
    }
    group.finish();
}
