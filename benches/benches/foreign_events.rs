//! What an event nobody prints costs under each subscriber: a
//! `tracing::debug!` from a crate that is not alamos's, as every dependency
//! of a service has, when the subscriber shows only INFO and above.
//!
//! ```text
//! cargo bench -p alamos-benches --bench foreign_events
//! ```
//!
//! A process has one global subscriber, so the bench runs itself once per
//! subscriber, in child processes, one after another (the rows of one run):
//!
//! | row | subscriber |
//! |---|---|
//! | `foreign/none` | none installed (`tracing`'s default) |
//! | `foreign/fmt` | `tracing_subscriber::fmt()` at INFO |
//! | `foreign/alamos` | `alamos::init()` |
//! | `foreign/alamos_off` | `alamos::init()` with `ALAMOS_LEVEL=off` |
//!
//! Each row also has an `info` twin under `alamos_off` and `none`, where an
//! INFO event is not printed either, and `foreign/bare` is the same loop
//! with no event, for reference.
//!
//! Wall time on a shared machine moves with its load; the instruction
//! count does not. With `ALAMOS_BENCH_FOREIGN_LOOP=<n>` a child runs `n`
//! events without criterion, for cachegrind (`benches/scripts/service.sh`
//! counts two such runs and prints instructions per event).

mod common;

use std::hint::black_box;
use std::process::Command;

/// Which subscriber the child process installs.
const SUBSCRIBER_ENV: &str = "ALAMOS_BENCH_FOREIGN_SUBSCRIBER";

/// Events a child emits without criterion, for counting instructions.
const LOOP_ENV: &str = "ALAMOS_BENCH_FOREIGN_LOOP";

const SUBSCRIBERS: &[(&str, &[(&str, &str)])] = &[
    ("none", &[]),
    ("fmt", &[]),
    ("alamos", &[]),
    ("alamos_off", &[("ALAMOS_LEVEL", "off")]),
];

#[inline(never)]
fn bare(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

#[inline(never)]
fn foreign_debug(x: u64) -> u64 {
    tracing::debug!(x, "never printed");
    black_box(x).wrapping_add(1)
}

#[inline(never)]
fn foreign_info(x: u64) -> u64 {
    tracing::info!(x, "printed only when INFO is on");
    black_box(x).wrapping_add(1)
}

fn child(subscriber: &str) {
    let _guard = match subscriber {
        "none" => None,
        "fmt" => {
            tracing_subscriber::fmt()
                .with_max_level(tracing::Level::INFO)
                .with_writer(std::io::stderr)
                .init();
            None
        }
        "alamos" | "alamos_off" => Some(alamos::init()),
        other => panic!("no subscriber {other}"),
    };
    if let Some(events) = std::env::var(LOOP_ENV)
        .ok()
        .and_then(|n| n.parse::<u64>().ok())
    {
        let mut x = 0;
        for _ in 0..events {
            x = foreign_debug(black_box(x));
        }
        black_box(x);
        return;
    }
    let mut criterion = common::criterion();
    let mut group = criterion.benchmark_group("foreign");
    if subscriber == "none" {
        common::bench_call(&mut group, "bare", bare);
    }
    common::bench_call(&mut group, &format!("{subscriber}/debug"), foreign_debug);
    if matches!(subscriber, "none" | "alamos_off") {
        common::bench_call(&mut group, &format!("{subscriber}/info"), foreign_info);
    }
    group.finish();
    criterion.final_summary();
}

fn main() {
    if let Ok(subscriber) = std::env::var(SUBSCRIBER_ENV) {
        child(&subscriber);
        return;
    }
    let exe = std::env::current_exe().expect("the bench knows its path");
    for (subscriber, env) in SUBSCRIBERS {
        let mut command = Command::new(&exe);
        command.args(std::env::args_os().skip(1));
        for (name, _) in std::env::vars() {
            if name.starts_with("ALAMOS_") || name == "RUST_LOG" {
                command.env_remove(name);
            }
        }
        command
            .env(SUBSCRIBER_ENV, subscriber)
            .envs(env.iter().copied());
        let status = command.status().expect("the bench runs itself");
        assert!(status.success(), "{subscriber}: {status}");
    }
}
