//! What an exemplar costs per call (issue 12): the same rows built with and
//! without alamos's `otel` feature, under one subscriber that has the
//! OpenTelemetry layer (an SDK tracer that samples every span and exports
//! none), with alamos's own recorder:
//!
//! ```text
//! cargo bench -p alamos-benches --bench exemplars                    # rows `exemplars/no_otel/*`
//! cargo bench -p alamos-benches --bench exemplars --features otel    # rows `exemplars/otel/*`
//! ```
//!
//! - `metrics_only`: an experiment whose span is disabled (TRACE under an
//!   INFO filter): without `otel` the call records its metrics; with it, it
//!   also compares its end reading with its bucket's exemplar slot (and,
//!   once a second per bucket, finds no sampled span to capture).
//! - `span_metrics`: a sampled OpenTelemetry span per call, and the metrics;
//!   with `otel`, the bucket's exemplar is replaced at most once a second.
//! - `span_metrics_capture_every_call` (`otel` only): the exemplar interval
//!   set to zero, so every call reads its span's OpenTelemetry context and
//!   writes the slot: the price of one capture.
//! - `histogram`: `alamos::histogram!` in a metrics-only function; with
//!   `otel` each observation also reads the clock for its slot's age.

mod common;

use std::hint::black_box;

use opentelemetry::trace::TracerProvider as _;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;

#[alamos::experiment("bench_exemplar_metrics", level = bench)]
#[inline(never)]
fn metrics_only(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

#[alamos::experiment("bench_exemplar_span")]
#[inline(never)]
fn span_metrics(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

#[alamos::experiment("bench_exemplar_capture")]
#[inline(never)]
fn span_metrics_capture(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

#[alamos::experiment("bench_exemplar_histogram", level = bench)]
#[inline(never)]
fn histogram(x: u64) -> u64 {
    let size = u32::try_from(x % 4096).unwrap_or(0);
    alamos::histogram!(bench, "bench_exemplar_size", f64::from(size), unit = bytes);
    black_box(x).wrapping_add(1)
}

fn main() {
    let guard = alamos::Builder::new()
        .subscriber(false)
        .prometheus_endpoint(false)
        .duration_buckets(common::BUCKETS)
        .install()
        .expect("install alamos's recorder");
    // Every span sampled, none exported: the OpenTelemetry layer's own cost
    // is in every span row, with and without alamos's `otel`.
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("bench"))
        .with_context_activation(true);
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry()
            .with(LevelFilter::INFO)
            .with(layer),
    )
    .expect("the bench installs the only subscriber");
    for key in ["bench_exemplar_metrics", "bench_exemplar_histogram"] {
        alamos::set_level(key, alamos::Level::Bench).expect("registered");
    }
    let build = if cfg!(feature = "otel") {
        "otel"
    } else {
        "no_otel"
    };
    let mut c = common::criterion();
    let mut group = c.benchmark_group(format!("exemplars/{build}"));
    common::bench_call(&mut group, "metrics_only", metrics_only);
    common::bench_call(&mut group, "span_metrics", span_metrics);
    common::bench_call(&mut group, "histogram", histogram);
    #[cfg(feature = "otel")]
    {
        alamos::__private::set_exemplar_interval(std::time::Duration::ZERO);
        common::bench_call(
            &mut group,
            "span_metrics_capture_every_call",
            span_metrics_capture,
        );
        alamos::__private::set_exemplar_interval(std::time::Duration::from_secs(1));
    }
    #[cfg(not(feature = "otel"))]
    let _ = span_metrics_capture;
    group.finish();
    c.final_summary();
    // With `otel`, the run leaves exemplars behind: show that it measured them.
    #[cfg(feature = "otel")]
    if let Some(text) = guard.render() {
        eprintln!(
            "exemplars: {} duration series rendered",
            text.matches("alamos_call_duration_seconds_count").count()
        );
    }
    drop(guard);
}
