//! Instructions per call of the sampling rows, counted by valgrind rather
//! than timed (deterministic enough on a busy machine; under valgrind the
//! call timer reads the TSC, as natively: see `alamos/src/clock.rs`):
//!
//! ```text
//! cargo build --release -p alamos-benches --example sampling_instructions
//! B=target/release/examples/sampling_instructions
//! for row in bare metrics_only untraced untraced_fields sampled traced tracing_span; do
//!   a=$(valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null $B $row 100000 2>&1 | grep 'I *refs' | tr -d , | awk '{print $NF}')
//!   b=$(valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null $B $row 300000 2>&1 | grep 'I *refs' | tr -d , | awk '{print $NF}')
//!   echo "$row $(( (b - a) / 200000 ))"
//! done
//! ```
//!
//! The rows are those of `benches/sampling.rs`, under alamos's recorder and
//! a registry interested in INFO spans.

use std::hint::black_box;

use tracing_subscriber::layer::SubscriberExt as _;

#[inline(never)]
fn bare(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

#[alamos::experiment("instructions.metrics_only", level = bench)]
#[inline(never)]
fn metrics_only(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

#[alamos::experiment("instructions.untraced")]
#[inline(never)]
fn untraced(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

#[alamos::experiment("instructions.untraced_fields", fields(x, y = format!("{x:x}")))]
#[inline(never)]
fn untraced_fields(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

#[alamos::experiment("instructions.sampled")]
#[inline(never)]
fn sampled(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

#[alamos::experiment("instructions.traced")]
#[inline(never)]
fn traced(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

#[tracing::instrument(level = "info", skip_all)]
#[inline(never)]
fn tracing_span(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let row = args.next().unwrap_or_else(|| "untraced".to_owned());
    let calls: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let f: fn(u64) -> u64 = match row.as_str() {
        "bare" => bare,
        "metrics_only" => metrics_only,
        "untraced" => untraced,
        "untraced_fields" => untraced_fields,
        "sampled" => sampled,
        "traced" => traced,
        "tracing_span" => tracing_span,
        other => {
            eprintln!("unknown row {other:?}");
            std::process::exit(2);
        }
    };
    let _guard = alamos::Builder::new()
        .subscriber(false)
        .prometheus_endpoint(false)
        .install()
        .expect("alamos installs");
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(tracing_subscriber::filter::LevelFilter::INFO),
    )
    .expect("the only subscriber");
    alamos::set_level("instructions.metrics_only", alamos::Level::Bench).expect("a known key");
    for (key, probability) in [
        ("instructions.untraced", 0.0),
        ("instructions.untraced_fields", 0.0),
        ("instructions.sampled", 0.01),
    ] {
        alamos::set_trace_sample(key, probability).expect("a known key");
    }
    // Every path warm before the counted calls.
    for i in 0..1_000 {
        black_box(f(black_box(i)));
    }
    for i in 0..calls {
        black_box(f(black_box(i)));
    }
}
