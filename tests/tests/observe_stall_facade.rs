//! Observed values can't stall the sampler that copies them into another
//! `metrics` recorder either: a closure that never returns and one that
//! panics are left out, counted in `alamos_observe_failures_total` in that
//! recorder, and hold no more than one thread. Its own test binary: a
//! process has one global recorder.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, Key, KeyName, Metadata, Recorder, SharedString,
    Unit,
};

/// A counter's total, or a gauge's latest value as the bits of an `f64`.
#[derive(Default)]
struct Cell(AtomicU64);

impl CounterFn for Cell {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::Relaxed);
    }
    fn absolute(&self, value: u64) {
        self.0.fetch_max(value, Ordering::Relaxed);
    }
}

impl GaugeFn for Cell {
    fn increment(&self, value: f64) {
        self.set(f64::from_bits(self.0.load(Ordering::Relaxed)) + value);
    }
    fn decrement(&self, value: f64) {
        self.set(f64::from_bits(self.0.load(Ordering::Relaxed)) - value);
    }
    fn set(&self, value: f64) {
        self.0.store(value.to_bits(), Ordering::Relaxed);
    }
}

type Cells = Arc<Mutex<BTreeMap<String, Arc<Cell>>>>;

/// Keeps each counter's total and each gauge's latest value, by the series
/// written as in the exposition (`name{label="value",...}`).
struct Latest(Cells);

fn series(key: &Key) -> String {
    let labels: Vec<String> = key
        .labels()
        .map(|label| format!("{}=\"{}\"", label.key(), label.value()))
        .collect();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

impl Latest {
    fn cell(&self, key: &Key) -> Arc<Cell> {
        Arc::clone(self.0.lock().unwrap().entry(series(key)).or_default())
    }
}

impl Recorder for Latest {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.cell(key))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.cell(key))
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

fn threads_named(name: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc is mounted")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == name)
        .count()
}

#[test]
fn a_hung_or_panicking_closure_never_stalls_the_facade_sampler() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() != Some("alamos-sample") {
            default_hook(info);
        }
    }));
    let cells: Cells = Arc::default();
    metrics::set_global_recorder(Latest(Arc::clone(&cells))).expect("no other global recorder");
    let value = |series: &str| {
        cells
            .lock()
            .unwrap()
            .get(series)
            .map(|cell| cell.0.load(Ordering::Relaxed))
    };

    let (release, hold) = mpsc::channel::<()>();
    let hold = Mutex::new(hold);
    let hung = alamos::observe("observe_facade.hung", "stuck_entries", move || {
        let _ = hold.lock().unwrap().recv();
        3.0
    });
    let panics = alamos::observe("observe_facade.panics", "broken_entries", || {
        panic!("an observed value that panics (expected by this test)")
    });
    let fine = alamos::observe("observe_facade.fine", "fine_entries", || 7.0);

    // The sampler reads once a second; four reads are enough to tell.
    let hung_series = "alamos_observe_failures_total{experiment=\"observe_facade.hung\",name=\"stuck_entries\",reason=\"timeout\"}";
    let panic_series = "alamos_observe_failures_total{experiment=\"observe_facade.panics\",name=\"broken_entries\",reason=\"panic\"}";
    let deadline = Instant::now() + Duration::from_secs(20);
    while value(hung_series).unwrap_or(0) < 4 || value(panic_series).unwrap_or(0) < 3 {
        assert!(
            Instant::now() < deadline,
            "the failures were not counted: {:?}",
            cells.lock().unwrap().keys().collect::<Vec<_>>()
        );
        // One thread held by the hung closure, one for the reads.
        assert!(threads_named("alamos-sample") <= 2);
        std::thread::sleep(Duration::from_millis(50));
    }
    let fine_value = value("fine_entries{experiment=\"observe_facade.fine\"}").map(f64::from_bits);
    assert_eq!(fine_value, Some(7.0));
    assert_eq!(
        value("stuck_entries{experiment=\"observe_facade.hung\"}"),
        None
    );
    assert_eq!(threads_named("alamos-sample"), 2);

    drop(release);
    let deadline = Instant::now() + Duration::from_secs(20);
    while value("stuck_entries{experiment=\"observe_facade.hung\"}").map(f64::from_bits)
        != Some(3.0)
    {
        assert!(Instant::now() < deadline, "the value never came back");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop((hung, panics, fine));
}
