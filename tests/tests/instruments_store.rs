//! Instruments, observed values and plain `metrics` calls under alamos's own
//! recorder: what the exposition says, what `experiments()` reads back, and
//! how memory per thread stays bounded. Its own binary: a process has one
//! global recorder.

// `len() as f64` is how values are written, as DESIGN.md shows.
#![allow(clippy::cast_precision_loss)]

use std::sync::{Arc, Mutex, OnceLock};

use alamos::{InstrumentValue, Level, LevelFilter};

fn guard() -> &'static alamos::Guard {
    static GUARD: OnceLock<alamos::Guard> = OnceLock::new();
    GUARD.get_or_init(|| {
        alamos::Builder::new()
            .subscriber(false)
            .prometheus_endpoint(false)
            .histogram_buckets("configured_latency", &[0.5, 1.0])
            .install()
            .expect("alamos's recorder installs")
    })
}

fn render() -> String {
    guard()
        .render()
        .expect("alamos's recorder is the global one")
}

/// The sample lines of `name` (exactly, or with a suffix such as `_bucket`).
fn samples(exposition: &str, name: &str) -> Vec<String> {
    exposition
        .lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .map(str::to_owned)
        .collect()
}

fn value(exposition: &str, series: &str) -> Option<f64> {
    exposition
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn a_bytes_histogram_has_byte_buckets_help_and_type() {
    #[alamos::experiment("store.frames")]
    fn frame(size: usize) {
        alamos::histogram!(
            "frame_size",
            size as f64,
            unit = bytes,
            describe = "Size of a frame."
        );
    }

    guard();
    for size in [10, 100, 100, 5_000, 2_000_000] {
        frame(size);
    }
    let text = render();
    assert!(
        text.contains("# HELP frame_size_bytes Size of a frame.\n"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE frame_size_bytes histogram\n"),
        "{text}"
    );
    let bucket = |le: &str| {
        value(
            &text,
            &format!("frame_size_bytes_bucket{{experiment=\"store.frames\",le=\"{le}\"}}"),
        )
    };
    assert_eq!(bucket("64"), Some(1.0), "{text}");
    assert_eq!(bucket("256"), Some(3.0));
    assert_eq!(bucket("16384"), Some(4.0));
    assert_eq!(bucket("1073741824"), Some(5.0));
    assert_eq!(bucket("+Inf"), Some(5.0));
    assert_eq!(
        value(&text, "frame_size_bytes_sum{experiment=\"store.frames\"}"),
        Some(2_005_210.0)
    );
    assert_eq!(
        value(&text, "frame_size_bytes_count{experiment=\"store.frames\"}"),
        Some(5.0)
    );
}

#[test]
fn explicit_buckets_and_the_default_count_buckets() {
    #[alamos::experiment("store.batches")]
    fn batch(items: u32, seconds: f64) {
        alamos::histogram!("batch_items", f64::from(items));
        alamos::histogram!("batch_flush", seconds, unit = seconds);
        alamos::histogram!("batch_custom", f64::from(items), buckets = [1, 10, 100.5]);
    }

    guard();
    batch(3, 0.002);
    let text = render();
    let les = |name: &str| -> Vec<String> {
        samples(&text, &format!("{name}_bucket"))
            .iter()
            .filter_map(|line| {
                let start = line.find("le=\"")? + 4;
                Some(line[start..start + line[start..].find('"')?].to_owned())
            })
            .collect()
    };
    assert_eq!(les("batch_items")[..4], ["1", "2", "5", "10"], "{text}");
    assert_eq!(les("batch_flush_seconds")[0], "0.000001", "{text}");
    assert_eq!(les("batch_custom"), ["1", "10", "100.5", "+Inf"], "{text}");
}

#[test]
fn plain_metrics_histograms_are_bucketed_by_their_unit_not_by_durations() {
    guard();
    metrics::histogram!("plain_payload_bytes").record(3000.0);
    metrics::describe_histogram!("plain_described", metrics::Unit::Bytes, "Described.");
    metrics::histogram!("plain_described").record(100.0);
    metrics::histogram!("plain_items").record(7.0);
    metrics::histogram!("plain_wait_seconds").record(0.01);
    metrics::histogram!("configured_latency").record(0.7);
    let text = render();
    assert_eq!(
        value(&text, "plain_payload_bytes_bucket{le=\"4096\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "plain_payload_bytes_bucket{le=\"1024\"}"),
        Some(0.0)
    );
    assert_eq!(
        value(&text, "plain_described_bucket{le=\"256\"}"),
        Some(1.0)
    );
    assert!(
        text.contains("# HELP plain_described Described.\n"),
        "{text}"
    );
    assert_eq!(value(&text, "plain_items_bucket{le=\"10\"}"), Some(1.0));
    assert_eq!(value(&text, "plain_items_bucket{le=\"5\"}"), Some(0.0));
    assert_eq!(
        value(&text, "plain_wait_seconds_bucket{le=\"0.01\"}"),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "configured_latency_bucket{le=\"1\"}"),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "configured_latency_bucket{le=\"0.5\"}"),
        Some(0.0)
    );
    assert_eq!(
        samples(&text, "configured_latency_bucket").len(),
        3,
        "{text}"
    );
}

#[test]
fn counters_and_gauges_in_the_exposition_and_in_experiments() {
    #[alamos::experiment("store.writer")]
    fn write(bytes: u64, depth: f64) {
        alamos::counter!("written", bytes, unit = bytes);
        alamos::gauge!("queue_depth", depth);
    }

    guard();
    write(100, 3.0);
    write(50, 5.0);
    let text = render();
    assert!(
        text.contains("# TYPE written_bytes_total counter\n"),
        "{text}"
    );
    assert_eq!(
        value(&text, "written_bytes_total{experiment=\"store.writer\"}"),
        Some(150.0)
    );
    assert_eq!(
        value(&text, "queue_depth{experiment=\"store.writer\"}"),
        Some(5.0)
    );
    let experiment = alamos::experiments()
        .into_iter()
        .find(|e| e.key() == "store.writer")
        .unwrap();
    let values: Vec<(&str, Option<InstrumentValue>)> = experiment
        .instruments()
        .iter()
        .map(|i| (i.name(), i.value()))
        .collect();
    assert_eq!(
        values,
        [
            ("queue_depth", Some(InstrumentValue::Gauge(5.0))),
            ("written_bytes_total", Some(InstrumentValue::Counter(150))),
        ]
    );
    let view = alamos::tree().to_string();
    assert!(
        view.lines().any(|l| l.contains("written_bytes_total")
            && l.contains("counter")
            && l.contains("150")),
        "{view}"
    );
}

#[test]
fn a_disabled_instrument_stops_growing() {
    #[alamos::experiment("store.switched")]
    fn tick() {
        alamos::counter!("switched_ticks", 1);
    }

    guard();
    tick();
    tick();
    let series = "switched_ticks_total{experiment=\"store.switched\"}";
    assert_eq!(value(&render(), series), Some(2.0));
    alamos::set_level("store.switched", LevelFilter::Off).unwrap();
    tick();
    assert_eq!(value(&render(), series), Some(2.0));
    alamos::set_level("store.switched", Level::Prod).unwrap();
    tick();
    assert_eq!(value(&render(), series), Some(3.0));
}

#[test]
fn an_enabled_instrument_exists_at_zero_from_start_up() {
    #[alamos::experiment("store.early")]
    #[allow(dead_code)]
    fn never_called() {
        alamos::counter!("early_events", 1);
    }

    guard();
    assert_eq!(
        value(&render(), "early_events_total{experiment=\"store.early\"}"),
        Some(0.0),
        "{}",
        render()
    );
}

#[test]
fn label_sets_past_the_cap_fold_into_the_overflow_series() {
    #[alamos::experiment("store.peers")]
    fn from_peer(peer: u32) {
        alamos::counter!("peer_frames", 1, peer = peer);
    }

    guard();
    alamos::__private::set_max_label_sets(2);
    for peer in 0..5 {
        from_peer(peer);
    }
    alamos::__private::set_max_label_sets(alamos::names::DEFAULT_MAX_LABEL_SETS);
    let text = render();
    let lines = samples(&text, "peer_frames_total");
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(
        value(
            &text,
            "peer_frames_total{experiment=\"store.peers\",peer=\"__overflow__\"}"
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            "alamos_label_overflow_total{experiment=\"store.peers\",metric=\"peer_frames_total\"}"
        ),
        Some(3.0),
        "{text}"
    );
}

#[test]
fn an_observed_value_is_sampled_when_read_and_stops_with_its_watch() {
    guard();
    let cache = Arc::new(Mutex::new(vec![1, 2, 3]));
    let entries = Arc::clone(&cache);
    let watch = alamos::observe("store.cesium", "range_cache_entries", move || {
        entries.lock().map_or(0.0, |cache| cache.len() as f64)
    });
    assert!(watch.is_active());
    let series = "range_cache_entries{experiment=\"store.cesium\"}";
    assert_eq!(value(&render(), series), Some(3.0));
    cache.lock().unwrap().extend([4, 5]);
    assert_eq!(value(&render(), series), Some(5.0));
    let experiment = alamos::experiments()
        .into_iter()
        .find(|e| e.key() == "store.cesium")
        .expect("an observed key is an experiment");
    assert_eq!(
        experiment.instruments()[0].value(),
        Some(InstrumentValue::Gauge(5.0))
    );
    alamos::set_level("store.cesium", LevelFilter::Off).unwrap();
    assert_eq!(value(&render(), series), None);
    alamos::set_level("store.cesium", Level::Prod).unwrap();
    drop(watch);
    assert_eq!(value(&render(), series), None, "{}", render());
}

#[test]
fn an_observer_with_labels_a_unit_and_help() {
    guard();
    let _watch = alamos::Observer::new("store.relay", "relay_pending")
        .label("node", 3)
        .describe("Bytes waiting.")
        .unit(alamos::InstrumentUnit::Bytes)
        .watch(|| 42.0);
    let text = render();
    assert!(
        text.contains("# HELP relay_pending_bytes Bytes waiting.\n"),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            "relay_pending_bytes{experiment=\"store.relay\",node=\"3\"}"
        ),
        Some(42.0)
    );
    let bad = alamos::observe("Not A Key", "x", || 1.0);
    assert!(!bad.is_active());
    let bad = alamos::Observer::new("store.relay", "bad name").watch(|| 1.0);
    assert!(!bad.is_active());
}

#[test]
fn a_panicking_observer_is_skipped_not_propagated() {
    guard();
    let _watch = alamos::observe("store.flaky", "flaky_value", || panic!("sampling failed"));
    let text = render();
    assert!(!text.contains("flaky_value{"), "{text}");
}

#[test]
fn memory_per_thread_is_bounded() {
    #[alamos::experiment("store.memory")]
    fn touch(series: u32) {
        alamos::counter!("memory_touch", 1, series = series);
    }

    guard();
    // 400 label sets are 400 series, more than a thread's own budget (256):
    // the rest are written to shared cells, and every update still counts.
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for series in 0..400 {
                    touch(series);
                }
            });
        }
    });
    let text = render();
    let total: u64 = samples(&text, "memory_touch_total")
        .iter()
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(total, 1600, "{text}");
}
