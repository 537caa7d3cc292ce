//! The smallest alamos program: one experiment, one instrument, `init()`.
//!
//! ```text
//! cargo run -p alamos-examples --bin basic
//! ALAMOS_LEVEL=warn cargo run -p alamos-examples --bin basic   # storage.writer off
//! ```
//!
//! Writes twenty frames, one in ten failing. Each failure is a log line on
//! stderr (`err`); the call metrics and the frame-size histogram are printed
//! as Prometheus would scrape them, then the experiment tree.

// Frame sizes become `f64` instrument values, as users write them.
#![allow(clippy::cast_precision_loss)]

#[derive(Debug)]
struct DiskFull;

#[alamos::experiment("storage.writer", err(Debug))]
fn write(frame: &[u8]) -> Result<usize, DiskFull> {
    alamos::histogram!("frame_size", frame.len() as f64, unit = bytes);
    if frame.len() % 1000 == 900 {
        return Err(DiskFull);
    }
    Ok(frame.len())
}

fn main() {
    let guard = alamos::init();
    for n in 0..20 {
        let _ = write(&vec![0; 100 * n]);
    }
    // With ALAMOS_PROMETHEUS_ADDR=127.0.0.1:9464 the same text is served at /metrics.
    let exposition = guard.render().unwrap_or_default();
    let shown = [
        "alamos_calls_total{",
        "alamos_call_duration_seconds_count{",
        "alamos_calls_in_flight{",
        "frame_size_bytes_count{",
    ];
    for line in exposition
        .lines()
        .filter(|line| shown.iter().any(|prefix| line.starts_with(prefix)))
    {
        println!("{line}");
    }
    println!("{}", alamos::tree());
}
