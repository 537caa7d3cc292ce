//! A function annotated with `#[alamos::experiment]` under the
//! `max_level_off` feature, beside the same function bare. Run by
//! `benches/scripts/stripped.sh`, which also checks that the experiment key
//! is absent from the binary.

use std::hint::black_box;
use std::time::Duration;

use criterion::Criterion;

#[inline(never)]
fn bare(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

#[alamos::experiment("stripped_probe.must_not_appear")]
#[inline(never)]
fn annotated(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

#[inline(never)]
fn counter(x: u64) -> u64 {
    alamos::counter!(experiment = "stripped_probe.instrument", "stripped_probe_events", 1);
    black_box(x).wrapping_add(1)
}

#[inline(never)]
fn histogram(x: u64) -> u64 {
    #[allow(clippy::cast_precision_loss)]
    let value = x as f64;
    alamos::histogram!(experiment = "stripped_probe.instrument", "stripped_probe_values", value);
    black_box(x).wrapping_add(1)
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let mut group = c.benchmark_group("stripped");
    let rows: [(&str, fn(u64) -> u64); 4] = [
        ("bare", bare),
        ("alamos_max_level_off", annotated),
        ("counter_max_level_off", counter),
        ("histogram_max_level_off", histogram),
    ];
    for (name, f) in rows {
        group.bench_function(name, |b| {
            let mut i = 0u64;
            b.iter(|| {
                i = i.wrapping_add(1);
                f(black_box(i))
            });
        });
    }
    group.finish();
    c.final_summary();
}
