//! A binary whose dependencies log through the `log` crate: the records
//! join alamos's output, held to the threshold of the experiment they are
//! logged in. `own-logger` sets a logger of its own before `init()`.

use std::sync::atomic::{AtomicUsize, Ordering};

/// A logger of the program's own, which counts what reaches it.
struct Own;

static OWN_RECORDS: AtomicUsize = AtomicUsize::new(0);

impl log::Log for Own {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        OWN_RECORDS.fetch_add(1, Ordering::Relaxed);
        eprintln!("own logger: {}", record.args());
    }
    fn flush(&self) {}
}

/// What a dependency does inside the store's work.
fn dependency_work() {
    log::trace!(target: "dep::codec", "a trace record inside storage");
    log::debug!(target: "dep::codec", "a debug record inside storage");
    log::info!(target: "dep::codec", "an info record inside storage");
}

#[alamos::experiment("bridge.storage")]
fn store(n: u32) -> u32 {
    dependency_work();
    n + 1
}

#[alamos::experiment("bridge.api")]
fn serve(n: u32) -> u32 {
    log::debug!(target: "dep::http", "a debug record inside api");
    store(n)
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    if mode == "own-logger" {
        log::set_logger(&Own).expect("the first logger");
        log::set_max_level(log::LevelFilter::Trace);
    }
    let guard = alamos::init();
    log::debug!(target: "dep::pool", "a debug record outside any experiment");
    log::warn!(target: "dep::pool", "a warn record outside any experiment");
    let answer = serve(1);
    drop(guard);
    println!(
        "answer={answer} own={}",
        OWN_RECORDS.load(Ordering::Relaxed)
    );
}
