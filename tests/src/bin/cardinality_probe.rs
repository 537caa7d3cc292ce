//! A program for `tests/cardinality.rs` and `tests/load/cardinality.sh`:
//! calls a function with `labels(peer = n)` for N distinct values of `n`
//! (default 1,000,000; first argument), split over T threads (default 1;
//! second argument), under alamos's recorder with the default cap on label
//! sets, and reports resident memory along the way.
//!
//! Output: `rss_kib calls=C kib=K` lines (after about 10,000 calls, about
//! every tenth of the run, and exactly at the end, after every thread joined), `seconds=S`, then the exposition
//! between `=== exposition` and `=== end`.

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

#[alamos::experiment("cardinality", labels(peer = peer))]
fn connect(peer: u64) -> u64 {
    peer.wrapping_mul(3)
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

fn main() {
    let calls: u64 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let guard = alamos::Builder::new()
        .subscriber(false)
        .prometheus_endpoint(false)
        .install()
        .expect("alamos installs");
    let threads: u64 = std::env::args()
        .nth(2)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
        .max(1);
    let stride = usize::try_from(threads).unwrap_or(1);
    let mut out = std::io::stdout().lock();
    let started = Instant::now();
    let tenth = (calls / 10).max(1);
    let done = AtomicU64::new(0);
    // Thread t calls with t, t + threads, t + 2 threads, ...: every value once.
    std::thread::scope(|scope| {
        for thread in 1..threads {
            let done = &done;
            scope.spawn(move || {
                for n in (thread..calls).step_by(stride) {
                    std::hint::black_box(connect(std::hint::black_box(n)));
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        let mut reported = 0;
        for n in (0..calls).step_by(stride) {
            std::hint::black_box(connect(std::hint::black_box(n)));
            let so_far = done.fetch_add(1, Ordering::Relaxed) + 1;
            if reported == 0 && so_far >= 10_000 {
                reported = 10_000;
                let _ = writeln!(out, "rss_kib calls=10000 kib={}", rss_kib());
            } else if so_far / tenth > reported / tenth && so_far < calls {
                reported = so_far;
                let _ = writeln!(
                    out,
                    "rss_kib calls={} kib={}",
                    so_far / tenth * tenth,
                    rss_kib()
                );
            }
        }
    });
    let _ = writeln!(out, "rss_kib calls={calls} kib={}", rss_kib());
    let _ = writeln!(out, "seconds={:.3}", started.elapsed().as_secs_f64());
    let exposition = guard.render().unwrap_or_default();
    let _ = writeln!(out, "rss_kib calls=rendered kib={}", rss_kib());
    let _ = writeln!(out, "=== exposition\n{exposition}=== end");
    let _ = out.flush();
}
