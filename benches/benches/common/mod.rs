//! What every bench target shares: the process-wide metrics recorder, the
//! `tracing` subscriber, criterion's settings and a two-thread runner.
//!
//! The recorder is installed in exactly one place, [`install_recorder`]:
//! `metrics-exporter-prometheus` by default, alamos's own recorder with
//! `ALAMOS_BENCH_RECORDER=alamos`. Changing the default, or the way alamos's
//! recorder is built, is a change to that function alone.

#![allow(dead_code)] // Each bench target uses its own subset.

use std::hint::black_box;
use std::sync::{Barrier, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;

/// Histogram buckets in seconds, for every recorder the benches build, so
/// durations render as Prometheus histograms rather than summaries: alamos's
/// defaults, so the figures are the ones users get.
pub(crate) const BUCKETS: &[f64] = alamos::buckets::DURATIONS;

/// How often the exporter folds recorded histogram samples into buckets, as
/// its own HTTP listener would. Without upkeep, samples pile up in memory.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(1);

/// A benchmark row: its name and the function it calls.
pub(crate) type Row = (&'static str, fn(u64) -> u64);

/// Measures `f` as the row `name` of `group`, with a new argument each
/// iteration so that no call can be folded into the next.
pub(crate) fn bench_call(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, f: fn(u64) -> u64) {
    group.bench_function(name, |b| {
        let mut i = 0u64;
        b.iter(|| {
            i = i.wrapping_add(1);
            f(black_box(i))
        });
    });
}

/// Renders the Prometheus exposition of the installed recorder.
pub(crate) type Render = Box<dyn Fn() -> String>;

/// Selects the global recorder: unset or `prometheus` for
/// `metrics-exporter-prometheus`, `alamos` for alamos's own recorder.
pub(crate) const RECORDER_ENV: &str = "ALAMOS_BENCH_RECORDER";

/// A Prometheus recorder configured as the global one is.
pub(crate) fn prometheus_recorder() -> PrometheusRecorder {
    PrometheusBuilder::new()
        .set_buckets(BUCKETS)
        // UNWRAP: BUCKETS is a non-empty constant.
        .unwrap()
        .build_recorder()
}

/// Installs the one global metrics recorder of the process and returns how
/// to render it. Call before any metric is touched. Every row of every bench
/// records through it, alamos's and the anchors' alike.
pub(crate) fn install_recorder() -> Render {
    match std::env::var(RECORDER_ENV).as_deref() {
        Ok("alamos") => install_alamos_recorder(),
        Ok("prometheus") | Err(_) => install_prometheus_recorder(),
        Ok(other) => panic!("{RECORDER_ENV}={other}: expected `prometheus` or `alamos`"),
    }
}

/// `metrics-exporter-prometheus`, with an upkeep thread as its own HTTP
/// listener would run.
fn install_prometheus_recorder() -> Render {
    let recorder = prometheus_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).expect("the bench installs the only global recorder");
    let upkeep = handle.clone();
    thread::Builder::new()
        .name("bench-upkeep".into())
        .spawn(move || loop {
            thread::sleep(UPKEEP_INTERVAL);
            upkeep.run_upkeep();
        })
        .expect("spawn the upkeep thread");
    Box::new(move || handle.render())
}

/// alamos's recorder, installed by `alamos::Builder` with nothing else.
fn install_alamos_recorder() -> Render {
    let guard = alamos::Builder::new()
        .subscriber(false)
        .prometheus_endpoint(false)
        .duration_buckets(BUCKETS)
        .install()
        .expect("install alamos's recorder");
    Box::new(move || guard.render().expect("alamos's recorder is the global one"))
}

/// Sets `tracing_subscriber::registry()` as the global default subscriber,
/// interested in spans at INFO and above: a TRACE callsite is disabled by
/// tracing's global max level (a load and a compare), an INFO one creates,
/// enters and closes a span in the registry.
pub(crate) fn install_subscriber() {
    let subscriber = tracing_subscriber::registry().with(LevelFilter::INFO);
    tracing::subscriber::set_global_default(subscriber)
        .expect("the bench installs the only subscriber");
}

/// Modest times so the suite fits a shared 2-core machine; flags such as
/// `--measurement-time` still override these.
pub(crate) fn criterion() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args()
}

/// CPU time and wall time of the threads of one bench row, summed over its
/// samples, to tell whether its threads really ran at the same time.
static THREAD_TIMES: Mutex<(Duration, Duration)> = Mutex::new((Duration::ZERO, Duration::ZERO));

/// The CPU time the calling thread has consumed.
fn thread_cpu_time() -> Duration {
    let mut time = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `time` is a valid, writable timespec; the clock id is a constant
    // every Linux supports.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &raw mut time) };
    assert_eq!(status, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    // UNWRAP: the kernel returns a non-negative time with tv_nsec < 1e9.
    Duration::new(
        u64::try_from(time.tv_sec).unwrap(),
        u32::try_from(time.tv_nsec).unwrap(),
    )
}

/// Runs `iters` calls of `f` on each of `threads` fresh threads released
/// together, and returns the largest CPU time a thread spent: per call, the
/// cost each thread pays while the others hammer the same callsite. CPU time
/// rather than wall time, so that a thread waiting for a core (on a machine
/// shared with other work) is not counted as slowed down by contention; see
/// [`report_parallelism`] for whether the threads did overlap. One thread
/// also runs on a fresh thread, so both cases pay the same set-up.
pub(crate) fn on_threads(threads: usize, iters: u64, f: fn(u64) -> u64) -> Duration {
    let barrier = Barrier::new(threads);
    let times: Vec<(Duration, Duration)> = thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    // Warm this thread's thread-locals before the clock starts.
                    black_box(f(black_box(0)));
                    barrier.wait();
                    let (wall, cpu) = (Instant::now(), thread_cpu_time());
                    for i in 0..iters {
                        black_box(f(black_box(i)));
                    }
                    (thread_cpu_time().saturating_sub(cpu), wall.elapsed())
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("a bench thread panicked"))
            .collect()
    });
    let cpu: Duration = times.iter().map(|(cpu, _)| *cpu).sum();
    let wall = times
        .iter()
        .map(|(_, wall)| *wall)
        .max()
        .unwrap_or_default();
    let mut totals = THREAD_TIMES.lock().unwrap_or_else(PoisonError::into_inner);
    totals.0 += cpu;
    totals.1 += wall * u32::try_from(threads).unwrap_or(u32::MAX);
    times
        .into_iter()
        .map(|(cpu, _)| cpu)
        .max()
        .unwrap_or_default()
}

/// Prints how much the threads of the row just measured overlapped, and
/// resets the tally: 1.00 when every thread ran for the whole time, 0.50 when
/// two threads shared one core. Below about 0.9 the row says little about
/// contention.
pub(crate) fn report_parallelism(row: &str) {
    let mut totals = THREAD_TIMES.lock().unwrap_or_else(PoisonError::into_inner);
    let (cpu, wall) = std::mem::take(&mut *totals);
    if !wall.is_zero() {
        eprintln!(
            "{row}: parallelism {:.2}",
            cpu.as_secs_f64() / wall.as_secs_f64()
        );
    }
}
