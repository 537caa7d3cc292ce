//! What recording costs in memory per thread and series, under alamos's
//! recorder: T threads (first argument, default 64) each call one
//! instrumented function with S label sets (second argument, default 2,000),
//! so every thread writes every one of S call series twice (a second write
//! is what gives a thread cells of its own), then wait, alive,
//! while resident memory is read.
//!
//! ```text
//! cargo run --release -p alamos-tests --bin memory_probe -- 512 10000
//! ```
//!
//! Output, one `key=value` per line: `threads`, `series`, `rss_before_kib`
//! (after the series exist, before any thread wrote them), `rss_after_kib`
//! (every thread has written every series and is still alive), and
//! `bytes_per_thread_series`, the growth divided by threads × series.

use std::sync::Barrier;

#[alamos::experiment("memory", labels(series = series))]
fn call(series: u32) -> u32 {
    series.wrapping_add(1)
}

/// `VmRSS` of this process, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix("VmRSS:")?
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .ok()
            })
        })
        .unwrap_or(0)
}

fn argument(index: usize, default: u32) -> u32 {
    std::env::args()
        .nth(index)
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
        .max(1)
}

fn main() {
    let threads = argument(1, 64);
    let series = argument(2, 2_000);
    let guard = alamos::Builder::new()
        .subscriber(false)
        .prometheus_endpoint(false)
        .max_label_sets(usize::try_from(series).unwrap_or(usize::MAX))
        .install()
        .expect("alamos installs");
    // Every series exists, written once from this thread, before measuring.
    for n in 0..series {
        call(n);
    }
    // Threads exist, with their stacks, before the first reading.
    let ready = Barrier::new(usize::try_from(threads).unwrap_or(1) + 1);
    let measured = Barrier::new(usize::try_from(threads).unwrap_or(1) + 1);
    let done = Barrier::new(usize::try_from(threads).unwrap_or(1) + 1);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                ready.wait();
                measured.wait();
                // Twice: a thread owns cells only for a series it writes
                // again, so this is the most a thread can cost.
                for n in 0..series {
                    call(n);
                    call(n);
                }
                done.wait();
                // Alive until the parent read memory: their cells count.
                done.wait();
            });
        }
        ready.wait();
        let before = rss_kib();
        measured.wait();
        done.wait();
        let after = rss_kib();
        done.wait();
        let growth = after.saturating_sub(before) * 1024;
        println!("threads={threads}");
        println!("series={series}");
        println!("rss_before_kib={before}");
        println!("rss_after_kib={after}");
        println!(
            "bytes_per_thread_series={}",
            growth / (u64::from(threads) * u64::from(series))
        );
    });
    let exposition = guard.render().unwrap_or_default();
    let calls: u64 = exposition
        .lines()
        .filter(|line| line.starts_with("alamos_calls_total{experiment=\"memory\""))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    println!("calls={calls}");
}
