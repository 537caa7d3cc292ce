//! A binary for `tests/tests/trace_ids_otel.rs`: sets up alamos with
//! `alamos::init()` as the environment says, logs inside and outside an
//! instrumented function's span in every way there is, and prints on stdout
//! the `traceparent` each call propagated.
//!
//! `handle(1)` returns `Ok` (a `ret` event), `handle(0)` returns `Err` (an
//! `err` event), `handle(2)` runs as the child of a remote caller's span.

use std::collections::HashMap;
use std::io::Write as _;

/// The remote caller's trace and span, as another node would send them.
const REMOTE_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const REMOTE_PARENT: &str = "00f067aa0ba902b7";

#[derive(Debug)]
struct Refused;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("refused")
    }
}

#[alamos::experiment("trace_probe.handler", err, ret, fields(n))]
fn handle(n: u32) -> Result<u32, Refused> {
    alamos::info!(n, "alamos event");
    tracing::info!(n, "plain event");
    println!("n={n} traceparent={}", traceparent());
    if n == 0 {
        return Err(Refused);
    }
    Ok(n * 10)
}

/// What `alamos::propagate` writes here, or `none`.
fn traceparent() -> String {
    let mut headers = HashMap::new();
    alamos::propagate(&mut headers);
    headers
        .remove("traceparent")
        .unwrap_or_else(|| "none".to_owned())
}

fn main() {
    let guard = alamos::init();
    let _ = handle(1);
    let _ = handle(0);
    alamos::info!("alamos event outside");
    tracing::info!("plain event outside");
    let remote = HashMap::from([(
        "traceparent".to_owned(),
        format!("00-{REMOTE_TRACE}-{REMOTE_PARENT}-01"),
    )]);
    let _ = alamos::with_parent(&remote, || handle(2));
    println!("outside traceparent={}", traceparent());
    drop(guard);
    let _ = std::io::stdout().flush();
}
