//! What a user's own global recorder is told: each metric is described once
//! (HELP and unit), however many calls, threads and instruments use it, and
//! observed values are sampled into it by a thread that lives only while a
//! value is observed. Its own test binary: a process has one global recorder.
#![allow(clippy::cast_precision_loss)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use alamos_tests::Recorded;
use metrics::{
    Counter, Gauge, GaugeFn, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use metrics_util::debugging::DebuggingRecorder;

/// Per described name: how many times, the unit and the HELP text.
type Descriptions = Arc<Mutex<BTreeMap<String, (usize, Option<Unit>, String)>>>;

/// A recorder that counts the `describe_*` calls it gets, by name, keeps the
/// latest value set on each gauge (the debugging recorder's snapshots drain
/// them), and passes everything else on to a debugging recorder.
struct Counting {
    inner: DebuggingRecorder,
    described: Descriptions,
    gauges: Arc<Mutex<BTreeMap<Key, Arc<LastValue>>>>,
}

/// A gauge's latest value, as bits of an `f64`.
#[derive(Default)]
struct LastValue(AtomicU64);

impl GaugeFn for LastValue {
    fn increment(&self, value: f64) {
        self.set(self.get() + value);
    }
    fn decrement(&self, value: f64) {
        self.set(self.get() - value);
    }
    fn set(&self, value: f64) {
        self.0.store(value.to_bits(), Ordering::Relaxed);
    }
}

impl LastValue {
    fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

impl Counting {
    fn note(&self, name: &KeyName, unit: Option<Unit>, help: &SharedString) {
        let mut described = self.described.lock().unwrap();
        let entry =
            described
                .entry(name.as_str().to_owned())
                .or_insert((0, unit, help.to_string()));
        entry.0 += 1;
    }
}

impl Recorder for Counting {
    fn describe_counter(&self, name: KeyName, unit: Option<Unit>, help: SharedString) {
        self.note(&name, unit, &help);
        self.inner.describe_counter(name, unit, help);
    }
    fn describe_gauge(&self, name: KeyName, unit: Option<Unit>, help: SharedString) {
        self.note(&name, unit, &help);
        self.inner.describe_gauge(name, unit, help);
    }
    fn describe_histogram(&self, name: KeyName, unit: Option<Unit>, help: SharedString) {
        self.note(&name, unit, &help);
        self.inner.describe_histogram(name, unit, help);
    }
    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        self.inner.register_counter(key, metadata)
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        let mut gauges = self.gauges.lock().unwrap();
        Gauge::from_arc(Arc::clone(gauges.entry(key.clone()).or_default()))
    }
    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        self.inner.register_histogram(key, metadata)
    }
}

struct Global {
    described: Descriptions,
    gauges: Arc<Mutex<BTreeMap<Key, Arc<LastValue>>>>,
    recorded: Recorded,
}

fn global() -> &'static Global {
    static GLOBAL: OnceLock<Global> = OnceLock::new();
    GLOBAL.get_or_init(|| {
        let inner = DebuggingRecorder::new();
        let recorded = Recorded::new(inner.snapshotter());
        let described = Arc::default();
        let gauges = Arc::default();
        metrics::set_global_recorder(Counting {
            inner,
            described: Arc::clone(&described),
            gauges: Arc::clone(&gauges),
        })
        .expect("no other global recorder");
        Global {
            described,
            gauges,
            recorded,
        }
    })
}

/// The latest value of the gauge `name` labelled `labels`, if registered.
fn gauge(name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let gauges = global().gauges.lock().unwrap();
    gauges
        .iter()
        .find(|(key, _)| {
            key.name() == name
                && key.labels().count() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| key.labels().any(|l| l.key() == *k && l.value() == *v))
        })
        .map(|(_, value)| value.get())
}

fn described(name: &str) -> Option<(usize, Option<Unit>, String)> {
    global().described.lock().unwrap().get(name).cloned()
}

#[alamos::experiment("facade.writer")]
fn write(frame: &[u8]) -> Result<usize, String> {
    alamos::counter!("frames_written", 1);
    alamos::histogram!("frame_size", frame.len() as f64, unit = bytes);
    alamos::gauge!(
        "last_frame",
        frame.len() as f64,
        describe = "Size of the last frame."
    );
    if frame.is_empty() {
        return Err("empty frame".into());
    }
    Ok(frame.len())
}

#[test]
fn each_metric_is_described_once_with_its_help_and_unit() {
    global();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for size in 0..50 {
                    let _ = write(&vec![0; size]);
                }
            });
        }
    });
    let metrics = global().recorded.snapshot();
    assert_eq!(metrics.calls("facade.writer", "write", "ok"), 196);
    assert_eq!(metrics.calls("facade.writer", "write", "error"), 4);

    for (name, unit, help) in [
        (alamos::names::CALLS_TOTAL, None, "Finished calls"),
        (
            alamos::names::CALL_DURATION_SECONDS,
            Some(Unit::Seconds),
            "Duration",
        ),
        (alamos::names::CALLS_IN_FLIGHT, None, "in progress"),
        ("frames_written_total", None, ""),
        ("frame_size_bytes", Some(Unit::Bytes), ""),
        ("last_frame", None, "Size of the last frame."),
    ] {
        let (times, got_unit, got_help) =
            described(name).unwrap_or_else(|| panic!("{name} was never described"));
        assert_eq!(times, 1, "{name} described {times} times");
        assert_eq!(got_unit, unit, "{name}");
        assert!(got_help.contains(help), "{name}: {got_help:?}");
        assert!(!got_help.is_empty(), "{name} has no HELP text");
    }
}

/// The threads of this process named `name`, from `/proc`.
fn threads_named(name: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc is mounted")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == name)
        .count()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn observed_values_are_sampled_by_a_thread_that_ends_with_the_last_watch() {
    global();
    let depth = Arc::new(AtomicU64::new(7));
    let sampled = Arc::clone(&depth);
    let watch = alamos::Observer::new("facade.queue", "queue_depth")
        .describe("Frames queued.")
        .watch(move || sampled.load(Ordering::Relaxed) as f64);
    wait_until("the sampler runs", || threads_named("alamos-observe") == 1);
    let depth_gauge = || gauge("queue_depth", &[("experiment", "facade.queue")]);
    wait_until("the value is sampled", || depth_gauge() == Some(7.0));
    depth.store(9, Ordering::Relaxed);
    wait_until("the new value is sampled", || depth_gauge() == Some(9.0));
    let (times, _, help) = described("queue_depth").expect("described");
    assert_eq!((times, help.as_str()), (1, "Frames queued."));

    drop(watch);
    wait_until("the sampler ends", || threads_named("alamos-observe") == 0);

    // A new watch starts it again.
    let again = alamos::observe("facade.queue", "queue_restarted", || 1.0);
    wait_until("the sampler runs again", || {
        threads_named("alamos-observe") == 1
    });
    drop(again);
    wait_until("the sampler ends again", || {
        threads_named("alamos-observe") == 0
    });
}
