//! A program for `tests/unwinding.rs`: shows that alamos needs no flush at
//! process exit. It sets up with `alamos::init()` (serving `/metrics` where
//! `ALAMOS_PROMETHEUS_ADDR` says), makes a known set of calls, prints
//! `addr=...` and `ready` on stdout, waits for a line on stdin, then leaves
//! through `std::process::exit(0)`: no destructor runs, the guard is never
//! dropped.
//!
//! With the argument `render` it prints `Guard::render()` between `=== render`
//! and `=== end` right before exiting, instead of waiting for a scrape.
//!
//! The calls, by `function` label of experiment `exit_probe`:
//! `work` ok 1000 and error 100, `explode` panic 1, `stream` cancelled 1 and
//! ok 1, `worker` ok 500 (on a thread that exited), `resident` ok 250 (on a
//! thread still alive at exit), `last` ok 1.

use std::future::Future as _;
use std::io::{BufRead as _, Write as _};
use std::sync::mpsc;
use std::task::{Context, Waker};

#[alamos::experiment("exit_probe")]
fn work(n: u32) -> Result<u32, String> {
    if n % 11 == 10 {
        return Err("eleventh".to_owned());
    }
    Ok(n)
}

#[alamos::experiment("exit_probe")]
fn explode() {
    panic!("on purpose");
}

#[alamos::experiment("exit_probe")]
async fn stream(ticks: usize) -> usize {
    alamos_tests::Pending::new(ticks).await;
    ticks
}

#[alamos::experiment("exit_probe")]
fn worker(n: u32) -> u32 {
    n
}

#[alamos::experiment("exit_probe")]
fn resident(n: u32) -> u32 {
    n
}

#[alamos::experiment("exit_probe")]
fn last() {
    alamos::prod!("the last call before exit");
}

fn main() {
    let render = std::env::args().nth(1).as_deref() == Some("render");
    std::panic::set_hook(Box::new(|_| {}));
    let guard = alamos::init();

    for n in 0..1100 {
        let _ = work(n);
    }
    assert!(std::panic::catch_unwind(explode).is_err());
    // One future dropped while pending, one run to completion.
    let waker = Waker::noop();
    let mut cx = Context::from_waker(waker);
    let mut cancelled = Box::pin(stream(3));
    assert!(cancelled.as_mut().poll(&mut cx).is_pending());
    drop(cancelled);
    assert_eq!(alamos_tests::block_on(stream(2)), 2);

    std::thread::spawn(|| {
        for n in 0..500 {
            worker(n);
        }
    })
    .join()
    .expect("the worker thread");
    let (done, resident_done) = mpsc::channel();
    std::thread::spawn(move || {
        for n in 0..250 {
            resident(n);
        }
        let _ = done.send(());
        // Alive until the process exits.
        loop {
            std::thread::park();
        }
    });
    resident_done.recv().expect("the resident thread");
    last();

    let mut out = std::io::stdout();
    if render {
        let _ = writeln!(out, "=== render");
        let _ = writeln!(out, "{}", guard.render().unwrap_or_default());
        let _ = writeln!(out, "=== end");
        let _ = out.flush();
        std::process::exit(0);
    }
    let addr = guard
        .prometheus_addr()
        .map_or_else(|| "none".to_owned(), |addr| addr.to_string());
    let _ = writeln!(out, "addr={addr}");
    let _ = writeln!(out, "ready");
    let _ = out.flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    std::process::exit(0);
}
