//! What giving spans trace ids costs a call when nothing is exported: with
//! `otel` and no OTLP endpoint, `alamos::init()` installs OpenTelemetry's
//! layer with a tracer provider that exports nowhere, so that log lines
//! carry trace ids and `propagate` writes the span's `traceparent`;
//! `OTEL_SDK_DISABLED=true` leaves the layer out. The subscriber and
//! recorder are exactly what `alamos::Builder` installs (text lines to
//! stderr, which the runs below send to /dev/null):
//!
//! ```text
//! cargo bench -p alamos-benches --bench trace_context --features otel 2>/dev/null                           # trace_context/ids/*
//! OTEL_SDK_DISABLED=true cargo bench -p alamos-benches --bench trace_context --features otel 2>/dev/null    # trace_context/no_layer/*
//! cargo bench -p alamos-benches --bench trace_context 2>/dev/null                                           # trace_context/no_otel/*
//! ```
//!
//! - `span`: an instrumented call, its span (and, with the layer, the
//!   OpenTelemetry span with its ids) and its metrics; no event.
//! - `span_event`: the same with one `alamos::info!` line inside the span,
//!   written to stderr (with ids: ending in `trace=<trace id>/<span id>`).

mod common;

use std::hint::black_box;

#[alamos::experiment("bench_context_span")]
#[inline(never)]
fn span(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

#[alamos::experiment("bench_context_event")]
#[inline(never)]
fn span_event(x: u64) -> u64 {
    alamos::info!(x, "an event");
    black_box(x).wrapping_add(1)
}

fn main() {
    for variable in [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
    ] {
        assert!(
            std::env::var_os(variable).is_none(),
            "{variable} is set: this bench measures the layer without export"
        );
    }
    let guard = alamos::Builder::new()
        .prometheus_endpoint(false)
        .log_format(alamos::LogFormat::Text)
        .span_events(alamos::SpanEvents::None)
        .duration_buckets(common::BUCKETS)
        .install()
        .expect("install alamos");
    let disabled = std::env::var("OTEL_SDK_DISABLED").is_ok_and(|value| value == "true");
    let build = match (cfg!(feature = "otel"), disabled) {
        (false, _) => "no_otel",
        (true, true) => "no_layer",
        (true, false) => "ids",
    };
    let mut c = common::criterion();
    let mut group = c.benchmark_group(format!("trace_context/{build}"));
    common::bench_call(&mut group, "span", span);
    common::bench_call(&mut group, "span_event", span_event);
    group.finish();
    c.final_summary();
    drop(guard);
}
