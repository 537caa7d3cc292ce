//! A program for `tests/tests/export_otel.rs` and `shutdown_otel.rs`:
//! `alamos::init()` configured by the environment (`OTEL_*`,
//! `ALAMOS_FLUSH_ON_SIGNALS`), then one of:
//!
//! - `burst <n> <wait ms>`: n calls (a span and a log record each), `burst
//!   done <n>` on stdout, a wait (a SIGTERM lands there), then the guard
//!   dropped and `shutdown took <ms> ms`;
//! - `run <seconds>`: a call every 2 ms for that long, then the `alamos_export`
//!   lines of `/metrics` on stdout, the guard dropped and `shutdown took
//!   <ms> ms`;
//! - `tokio <n>`: n calls, then a tokio SIGTERM handler awaited; it prints
//!   `app handler ran`, shuts the guard down and exits 0 (`app shut down`).

use std::io::Write as _;
use std::time::{Duration, Instant};

#[alamos::experiment("export_probe.work")]
fn work(i: u64) -> u64 {
    alamos::info!(i, "worked");
    i * 2
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn shut_down(guard: alamos::Guard) {
    let started = Instant::now();
    drop(guard);
    say(&format!(
        "shutdown took {} ms",
        started.elapsed().as_millis()
    ));
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, default: u64| {
        args.get(i)
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(default)
    };
    let guard = alamos::init();
    match args.first().map(String::as_str) {
        Some("burst") => {
            let calls = number(1, 100);
            for i in 0..calls {
                work(i);
            }
            say(&format!("burst done {calls}"));
            std::thread::sleep(Duration::from_millis(number(2, 0)));
            shut_down(guard);
        }
        Some("run") => {
            let until = Instant::now() + Duration::from_secs(number(1, 5));
            let mut calls = 0;
            while Instant::now() < until {
                work(calls);
                calls += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
            say(&format!("made {calls} calls"));
            for line in guard.render().unwrap_or_default().lines() {
                if line.starts_with("alamos_export") {
                    say(line);
                }
            }
            shut_down(guard);
        }
        Some("tokio") => {
            let calls = number(1, 100);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                let mut terminate =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                        .expect("a SIGTERM handler");
                for i in 0..calls {
                    work(i);
                }
                say(&format!("burst done {calls}"));
                terminate.recv().await;
                say("app handler ran");
                guard.shutdown();
                say("app shut down");
            });
        }
        _ => {
            eprintln!("usage: export_probe burst N WAIT_MS | run SECONDS | tokio N");
            std::process::exit(2);
        }
    }
}
