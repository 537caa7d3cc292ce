//! `counter!`, `gauge!`, `histogram!` and `observe` through the `metrics`
//! facade: a thread-local debugging recorder, as a user's unit tests would
//! have. `instruments_store.rs` covers alamos's own recorder.

// `len() as f64` is how values are written, as DESIGN.md shows.
#![allow(clippy::cast_precision_loss)]

use std::sync::atomic::{AtomicUsize, Ordering};

use alamos::{InstrumentKind, Level, LevelFilter};
use alamos_tests::record_metrics;

#[test]
fn a_counter_in_an_instrumented_function_carries_its_experiment() {
    #[alamos::experiment("instruments.writer")]
    fn write(frame: &[u8]) -> usize {
        alamos::counter!("frame_writer_bytes", frame.len() as u64, unit = bytes);
        frame.len()
    }

    let ((), metrics) = record_metrics(|| {
        write(&[0; 100]);
        write(&[0; 28]);
    });
    assert_eq!(
        metrics.counter(
            "frame_writer_bytes_total",
            &[("experiment", "instruments.writer")]
        ),
        128,
        "{metrics:#?}"
    );
    let (unit, help) = metrics
        .description("frame_writer_bytes_total")
        .expect("the counter is described");
    assert_eq!(unit, Some(metrics::Unit::Bytes));
    assert!(help.contains("alamos::counter!"), "{help}");
}

#[test]
fn an_explicit_experiment_and_the_root_outside_any() {
    fn outside() {
        alamos::counter!(experiment = "instruments.storage", "gc_runs", 1);
        alamos::counter!("loose_events", 2);
    }

    let ((), metrics) = record_metrics(outside);
    assert_eq!(
        metrics.counter("gc_runs_total", &[("experiment", "instruments.storage")]),
        1,
        "{metrics:#?}"
    );
    assert_eq!(
        metrics.counter("loose_events_total", &[("experiment", "")]),
        2,
        "{metrics:#?}"
    );
}

#[test]
fn a_disabled_instrument_does_not_evaluate_its_value() {
    static EVALUATED: AtomicUsize = AtomicUsize::new(0);
    fn value() -> u64 {
        EVALUATED.fetch_add(1, Ordering::Relaxed);
        7
    }
    #[alamos::experiment("instruments.gated")]
    fn work() {
        alamos::counter!(debug, "gated_events", value());
    }

    // `debug` is below the default threshold `prod`.
    let ((), metrics) = record_metrics(work);
    assert_eq!(EVALUATED.load(Ordering::Relaxed), 0);
    assert_eq!(
        metrics.counter("gated_events_total", &[("experiment", "instruments.gated")]),
        0
    );

    alamos::set_level("instruments.gated", Level::Debug).unwrap();
    let ((), metrics) = record_metrics(work);
    assert_eq!(EVALUATED.load(Ordering::Relaxed), 1);
    assert_eq!(
        metrics.counter("gated_events_total", &[("experiment", "instruments.gated")]),
        7
    );

    alamos::set_level("instruments.gated", LevelFilter::Off).unwrap();
    let ((), _) = record_metrics(work);
    assert_eq!(EVALUATED.load(Ordering::Relaxed), 1);
}

#[test]
fn gauges_are_set_and_moved() {
    #[alamos::experiment("instruments.relay")]
    fn relay(depth: usize) {
        alamos::gauge!("relay_queue_depth", depth as f64);
        alamos::gauge!("relay_inflight", += 3.0);
        alamos::gauge!("relay_inflight", -= 1.0);
    }

    let ((), metrics) = record_metrics(|| relay(12));
    let labels = [("experiment", "instruments.relay")];
    assert_eq!(
        metrics.gauge("relay_queue_depth", &labels),
        Some(12.0),
        "{metrics:#?}"
    );
    // Two callsites, one series: the debugging recorder sums their moves.
    assert_eq!(metrics.gauge("relay_inflight", &labels), Some(2.0));
}

#[test]
fn histograms_record_values_with_their_unit() {
    #[alamos::experiment("instruments.frames")]
    fn frame(size: usize) {
        alamos::histogram!(
            "frame_size",
            size as f64,
            unit = bytes,
            describe = "Size of a written frame."
        );
    }

    let ((), metrics) = record_metrics(|| {
        frame(100);
        frame(5000);
    });
    assert_eq!(
        metrics.histogram("frame_size_bytes", &[("experiment", "instruments.frames")]),
        Some(vec![100.0, 5000.0]),
        "{metrics:#?}"
    );
    assert_eq!(
        metrics.description("frame_size_bytes"),
        Some((Some(metrics::Unit::Bytes), "Size of a written frame."))
    );
}

#[test]
fn labels_are_bounded_like_function_labels() {
    #[alamos::experiment("instruments.labels")]
    fn by_node(node: u32) {
        alamos::counter!("node_frames", 1, node = node, kind = "data");
    }

    alamos::__private::set_max_label_sets(3);
    let ((), metrics) = record_metrics(|| {
        for node in 0..10 {
            by_node(node);
        }
    });
    alamos::__private::set_max_label_sets(alamos::names::DEFAULT_MAX_LABEL_SETS);
    // A local recorder caches nothing, so each call registers its own set:
    // the cap applies to the global recorder (see `instruments_store.rs`).
    assert_eq!(
        metrics.counter(
            "node_frames_total",
            &[
                ("experiment", "instruments.labels"),
                ("node", "4"),
                ("kind", "data")
            ]
        ),
        1,
        "{metrics:#?}"
    );
}

#[test]
fn instruments_work_in_expression_position() {
    #[alamos::experiment("instruments.expressions")]
    fn positions(x: u8) -> u8 {
        let count = || alamos::counter!("closure_events", 1);
        count();
        match x {
            0 => alamos::gauge!("match_gauge", 1.0),
            1 => alamos::debug!("one"),
            _ => alamos::histogram!("match_values", f64::from(x)),
        }
        x
    }

    let (results, metrics) = record_metrics(|| (positions(0), positions(4)));
    assert_eq!(results, (0, 4));
    let labels = [("experiment", "instruments.expressions")];
    assert_eq!(metrics.counter("closure_events_total", &labels), 2);
    assert_eq!(metrics.gauge("match_gauge", &labels), Some(1.0));
    assert_eq!(metrics.histogram("match_values", &labels), Some(vec![4.0]));
}

#[test]
fn instruments_are_listed_with_their_experiment_from_start_up() {
    #[alamos::experiment("instruments.listed")]
    #[allow(dead_code)]
    fn never_called() {
        alamos::counter!(debug, "listed_events", 1, unit = bytes);
        alamos::histogram!("listed_sizes", 1.0);
    }

    let experiments = alamos::experiments();
    let listed = experiments
        .iter()
        .find(|e| e.key() == "instruments.listed")
        .expect("the experiment is known before any call");
    let names: Vec<(&str, InstrumentKind, Level)> = listed
        .instruments()
        .iter()
        .map(|i| (i.name(), i.kind(), i.level()))
        .collect();
    assert_eq!(
        names,
        [
            (
                "listed_events_bytes_total",
                InstrumentKind::Counter,
                Level::Debug
            ),
            ("listed_sizes", InstrumentKind::Histogram, Level::Prod),
        ]
    );
    assert!(!listed.instruments()[0].is_enabled());
    assert!(listed.instruments()[1].is_enabled());
}

#[test]
fn no_thread_is_started_per_call_under_a_local_recorder() {
    #[alamos::experiment("instruments.local")]
    fn tick() {
        alamos::counter!("ticks", 1);
    }

    let ((), _) = record_metrics(tick);
    let before = alamos::__private::recorder_probes();
    // Meanwhile another thread probes, as tests running beside this one
    // may: two local recorders in turn, each met anew, three probes. The
    // count is the current thread's, so they do not reach this test's.
    let elsewhere = std::thread::spawn(|| {
        let start = alamos::__private::recorder_probes();
        record_metrics(|| {
            tick();
            record_metrics(tick);
            tick();
        });
        alamos::__private::recorder_probes() - start
    });
    let ((), metrics) = record_metrics(|| {
        for _ in 0..500 {
            tick();
        }
    });
    assert_eq!(elsewhere.join().unwrap(), 3, "the other thread's probes");
    assert_eq!(
        metrics.counter("ticks_total", &[("experiment", "instruments.local")]),
        500
    );
    assert_eq!(
        metrics.calls("instruments.local", "tick", "ok"),
        500,
        "{metrics:#?}"
    );
    let probes = alamos::__private::recorder_probes() - before;
    assert!(probes <= 1, "{probes} probe threads for 500 calls");
}

#[test]
fn call_metrics_are_described_to_a_facade_recorder() {
    #[alamos::experiment("instruments.described")]
    fn described() {}

    let ((), metrics) = record_metrics(described);
    let (unit, help) = metrics
        .description(alamos::names::CALL_DURATION_SECONDS)
        .expect("described");
    assert_eq!(unit, Some(metrics::Unit::Seconds));
    assert!(help.contains("Duration"), "{help}");
    assert!(metrics.description(alamos::names::CALLS_TOTAL).is_some());
    assert!(metrics
        .description(alamos::names::CALLS_IN_FLIGHT)
        .is_some());
}
