//! Per-call overhead of alamos beside the crates users would pick instead,
//! all on the same trivial body, in one process:
//!
//! ```text
//! cargo bench -p alamos-benches --bench overhead
//! ```
//!
//! Every measured function is `#[inline(never)]` and computes
//! `black_box(x).wrapping_add(1)`, so each row pays the same call and differs
//! only by its instrumentation. One global metrics recorder
//! (`common::install_recorder`) and one global subscriber
//! (`tracing_subscriber::registry()` interested in INFO and above) serve every
//! row. Rows are named `group/function`; `benches/scripts/report.py` turns a
//! run into the table of BENCHMARKS.md.

mod common;

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Once};
use std::time::{Duration, Instant};

use criterion::Criterion;
use fastrace::collector::{Config, Reporter, SpanContext, SpanRecord};
use fastrace::Span;
use metrics::Counter;

#[inline(never)]
fn bare(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

static CALLS: AtomicU64 = AtomicU64::new(0);

#[inline(never)]
fn atomic_increment(x: u64) -> u64 {
    CALLS.fetch_add(1, Ordering::Relaxed);
    black_box(x).wrapping_add(1)
}

/// Turned off at run time by `alamos::set_level("bench_key", Off)`.
#[alamos::experiment("bench_key")]
#[inline(never)]
fn alamos_disabled(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

/// Enabled by alamos at `bench`; its span is at TRACE, which the subscriber
/// does not want: metrics only.
#[alamos::experiment("bench_metrics", level = bench)]
#[inline(never)]
fn alamos_metrics_only(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

/// Enabled at `prod`: an INFO span in the registry, and the metrics.
#[alamos::experiment("bench_span")]
#[inline(never)]
fn alamos_span_metrics(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

// `skip_all`: alamos records no argument unless asked, so neither does tracing.
#[tracing::instrument(level = "trace", skip_all)]
#[inline(never)]
fn tracing_disabled(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

#[tracing::instrument(level = "info", skip_all)]
#[inline(never)]
fn tracing_enabled(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

#[fastrace::trace]
#[inline(never)]
fn fastrace_traced(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

#[inline(never)]
fn metrics_counter(x: u64) -> u64 {
    metrics::counter!("bench_counter_total").increment(1);
    black_box(x).wrapping_add(1)
}

static CACHED_COUNTER: LazyLock<Counter> =
    LazyLock::new(|| metrics::counter!("bench_cached_counter_total"));

#[inline(never)]
fn metrics_counter_cached(x: u64) -> u64 {
    CACHED_COUNTER.increment(1);
    black_box(x).wrapping_add(1)
}

#[inline(never)]
fn metrics_histogram_timed(x: u64) -> u64 {
    let start = Instant::now();
    let result = black_box(x).wrapping_add(1);
    metrics::histogram!("bench_duration_seconds").record(start.elapsed().as_secs_f64());
    result
}

#[inline(never)]
fn metrics_histogram(x: u64) -> u64 {
    #[allow(clippy::cast_precision_loss)]
    metrics::histogram!("bench_plain_values").record(x as f64);
    black_box(x).wrapping_add(1)
}

/// Instruments of an experiment enabled at `prod`.
#[inline(never)]
fn alamos_counter(x: u64) -> u64 {
    alamos::counter!(experiment = "bench_instruments", "bench_events", 1);
    black_box(x).wrapping_add(1)
}

/// Instruments of an experiment turned off at run time.
#[inline(never)]
fn alamos_counter_disabled(x: u64) -> u64 {
    alamos::counter!(experiment = "bench_instruments_off", "bench_off_events", 1);
    black_box(x).wrapping_add(1)
}

#[inline(never)]
fn alamos_histogram(x: u64) -> u64 {
    #[allow(clippy::cast_precision_loss)]
    let value = x as f64;
    alamos::histogram!(experiment = "bench_instruments", "bench_values", value);
    black_box(x).wrapping_add(1)
}

#[inline(never)]
fn alamos_histogram_disabled(x: u64) -> u64 {
    #[allow(clippy::cast_precision_loss)]
    let value = x as f64;
    alamos::histogram!(
        experiment = "bench_instruments_off",
        "bench_off_values",
        value
    );
    black_box(x).wrapping_add(1)
}

#[autometrics::autometrics]
#[inline(never)]
fn autometrics_fn(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

/// Reference rows: what one clock read costs, inside the same trivial body.
#[inline(never)]
fn clock_std_instant(x: u64) -> u64 {
    black_box(Instant::now());
    black_box(x).wrapping_add(1)
}

#[inline(never)]
fn clock_quanta_instant(x: u64) -> u64 {
    black_box(quanta::Instant::now());
    black_box(x).wrapping_add(1)
}

/// The bare time-stamp counter read quanta builds on, without scaling.
#[cfg(target_arch = "x86_64")]
#[inline(never)]
fn clock_rdtsc(x: u64) -> u64 {
    // SAFETY: every x86_64 CPU has RDTSC.
    black_box(unsafe { std::arch::x86_64::_rdtsc() });
    black_box(x).wrapping_add(1)
}

/// Takes what fastrace's collector thread hands over and drops it.
struct NullReporter;

impl Reporter for NullReporter {
    fn report(&mut self, spans: Vec<SpanRecord>) {
        drop(black_box(spans));
    }
}

/// Set once, after the rows that run without a reporter.
static REPORTER: Once = Once::new();

/// Calls per fastrace root span: the root is created, set as local parent and
/// submitted once per this many calls, inside the measured time.
const FASTRACE_CALLS_PER_ROOT: u64 = 1024;

fn fastrace_under_root(iters: u64) -> Duration {
    let start = Instant::now();
    let mut left = iters;
    while left > 0 {
        let calls = left.min(FASTRACE_CALLS_PER_ROOT);
        let root = Span::root("bench", SpanContext::random());
        let guard = root.set_local_parent();
        for i in 0..calls {
            black_box(fastrace_traced(black_box(i)));
        }
        drop(guard);
        drop(root);
        left -= calls;
    }
    start.elapsed()
}

fn overhead(c: &mut Criterion) {
    let mut group = c.benchmark_group("overhead");
    common::bench_call(&mut group, "bare", bare);
    common::bench_call(&mut group, "atomic_u64", atomic_increment);
    common::bench_call(&mut group, "alamos_disabled", alamos_disabled);
    common::bench_call(&mut group, "alamos_metrics_only", alamos_metrics_only);
    common::bench_call(&mut group, "alamos_span_metrics", alamos_span_metrics);
    common::bench_call(&mut group, "tracing_disabled", tracing_disabled);
    common::bench_call(&mut group, "tracing_enabled", tracing_enabled);
    // No local parent: the `#[trace]` guard is a no-op (fastrace's off path).
    common::bench_call(&mut group, "fastrace_no_parent", fastrace_traced);
    // Under a root span, recorded locally; without a reporter the finished
    // span sets are discarded at submission.
    group.bench_function("fastrace_no_reporter", |b| {
        b.iter_custom(fastrace_under_root);
    });
    REPORTER.call_once(|| fastrace::set_reporter(NullReporter, Config::default()));
    group.bench_function("fastrace_reporter", |b| {
        b.iter_custom(fastrace_under_root);
    });
    common::bench_call(&mut group, "metrics_counter", metrics_counter);
    common::bench_call(&mut group, "metrics_counter_cached", metrics_counter_cached);
    common::bench_call(
        &mut group,
        "metrics_histogram_instant",
        metrics_histogram_timed,
    );
    common::bench_call(&mut group, "metrics_histogram", metrics_histogram);
    common::bench_call(&mut group, "autometrics", autometrics_fn);
    common::bench_call(&mut group, "alamos_counter", alamos_counter);
    common::bench_call(
        &mut group,
        "alamos_counter_disabled",
        alamos_counter_disabled,
    );
    common::bench_call(&mut group, "alamos_histogram", alamos_histogram);
    common::bench_call(
        &mut group,
        "alamos_histogram_disabled",
        alamos_histogram_disabled,
    );
    common::bench_call(&mut group, "clock_std_instant", clock_std_instant);
    common::bench_call(&mut group, "clock_quanta_instant", clock_quanta_instant);
    #[cfg(target_arch = "x86_64")]
    common::bench_call(&mut group, "clock_rdtsc", clock_rdtsc);
    group.finish();
}

fn threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("threads");
    let rows: [common::Row; 4] = [
        ("atomic_u64", atomic_increment),
        ("alamos_metrics_only", alamos_metrics_only),
        ("alamos_span_metrics", alamos_span_metrics),
        // What the span alone costs under contention, for comparison.
        ("tracing_enabled", tracing_enabled),
    ];
    for (name, f) in rows {
        for threads in [1, 2] {
            let row = format!("{name}/{threads}");
            group.bench_function(&row, |b| {
                b.iter_custom(|iters| common::on_threads(threads, iters, f));
            });
            common::report_parallelism(&format!("threads/{row}"));
        }
    }
    group.finish();
}

fn main() {
    let _render = common::install_recorder();
    common::install_subscriber();
    alamos::set_level("bench_key", alamos::LevelFilter::Off).expect("bench_key is registered");
    alamos::set_level("bench_metrics", alamos::Level::Bench).expect("bench_metrics is registered");
    alamos::set_level("bench_instruments_off", alamos::LevelFilter::Off)
        .expect("bench_instruments_off is registered");
    let mut c = common::criterion();
    overhead(&mut c);
    threads(&mut c);
    c.final_summary();
}
