//! What `alamos::task` adds to each poll of a future (issue 17, item 4):
//! the poll count, the poll's duration and, after a wake, the scheduled
//! delay, recorded into alamos's store.
//!
//! ```text
//! cargo bench -p alamos-benches --bench task_poll
//! ```
//!
//! Each iteration polls one future that stays pending for as many polls as
//! criterion asks, waking itself every time (as a future that yields does), so every
//! poll after the first also records a scheduled delay:
//!
//! - `bare`: the future alone;
//! - `task`: the same future inside `alamos::task`, its key enabled;
//! - `task_off`: inside `alamos::task` with the key's threshold `off`.

mod common;

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use std::time::{Duration, Instant};

/// Pending until polled `n` times; wakes itself on every pending poll.
struct Yields {
    left: u64,
}

impl Future for Yields {
    type Output = Result<u64, ()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.left == 0 {
            return Poll::Ready(Ok(black_box(1)));
        }
        self.left -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

struct Noop;

impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

/// Polls one future made by `make` `iters` times, timing the polls only.
fn polls<F: Future>(iters: u64, make: impl FnOnce(u64) -> F) -> Duration {
    let waker = Waker::from(Arc::new(Noop));
    let mut cx = Context::from_waker(&waker);
    let mut future = Box::pin(make(iters));
    let start = Instant::now();
    for _ in 0..iters {
        let _ = black_box(future.as_mut().poll(&mut cx));
    }
    start.elapsed()
}

fn main() {
    let guard = alamos::Builder::new()
        .subscriber(false)
        .prometheus_endpoint(false)
        .install()
        .expect("install alamos");
    let mut c = common::criterion();
    let mut group = c.benchmark_group("task_poll");
    group.bench_function("bare", |b| {
        b.iter_custom(|iters| polls(iters, |left| Yields { left }));
    });
    group.bench_function("task", |b| {
        b.iter_custom(|iters| {
            polls(iters, |left| {
                alamos::task("bench_task_poll", Yields { left })
            })
        });
    });
    // The run has started, so the key is known and can be switched off.
    drop(alamos::task("bench_task_poll_off", Yields { left: 0 }));
    alamos::set_level("bench_task_poll_off", alamos::LevelFilter::Off).expect("a known key");
    group.bench_function("task_off", |b| {
        b.iter_custom(|iters| {
            polls(iters, |left| {
                alamos::task("bench_task_poll_off", Yields { left })
            })
        });
    });
    group.finish();
    c.final_summary();
    drop(guard);
}
