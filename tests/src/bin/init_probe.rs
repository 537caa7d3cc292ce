//! A binary for tests/tests/runtime.rs: sets up alamos the way its first
//! argument says, makes a few instrumented calls, and reports on stdout.

use std::io::Write as _;

#[derive(Debug)]
struct Refused;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("refused")
    }
}

#[alamos::experiment("probe.writer", err)]
fn write(n: u32) -> Result<u32, Refused> {
    alamos::info!(n, "writing");
    if n == 0 {
        return Err(Refused);
    }
    Ok(n)
}

const ADMIN_TOKEN: &str = "init-probe-admin-token-3c9d";

fn calls() {
    let _ = write(1);
    let _ = write(0);
    alamos::info!("outside any experiment");
    tracing::info!("a plain tracing event");
    tracing::debug!("a plain tracing debug event");
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let mut out = std::io::stdout();
    match mode.as_str() {
        "foreign" => {
            let recorder = metrics_util::debugging::DebuggingRecorder::new();
            let snapshotter = recorder.snapshotter();
            recorder.install().expect("first recorder");
            tracing::subscriber::set_global_default(tracing_subscriber::registry())
                .expect("first subscriber");
            let guard = alamos::init();
            calls();
            let ours = snapshotter
                .snapshot()
                .into_vec()
                .into_iter()
                .filter(|(key, ..)| key.key().name() == alamos::names::CALLS_TOTAL)
                .count();
            let _ = writeln!(
                out,
                "foreign_series={ours} render={}",
                guard.render().is_some()
            );
        }
        "serve" => {
            let guard = alamos::init();
            calls();
            let addr = guard.prometheus_addr().map(|a| a.to_string());
            let _ = writeln!(out, "addr={}", addr.as_deref().unwrap_or("none"));
            let _ = writeln!(out, "render={}", guard.render().is_some());
        }
        "spans" => {
            // `spans <none|close|open|full>`: the builder says which span
            // lines to write, whatever `ALAMOS_LOG_SPANS` says.
            let events = match std::env::args().nth(2).as_deref() {
                Some("none") => alamos::SpanEvents::None,
                Some("close") => alamos::SpanEvents::Close,
                Some("open") => alamos::SpanEvents::Open,
                Some("full") => alamos::SpanEvents::Full,
                other => panic!("no span events {other:?}"),
            };
            let _guard = alamos::Builder::new()
                .span_events(events)
                .install()
                .expect("installed");
            calls();
            let _ = writeln!(out, "done");
        }
        "parts" => {
            // `parts <setter>...`: the builder's setters applied in the
            // order given; then what is served.
            let mut builder = alamos::Builder::new().subscriber(false);
            for setter in std::env::args().skip(2) {
                builder = match setter.as_str() {
                    "addr" => builder.prometheus_addr(([127, 0, 0, 1], 0).into()),
                    "token" => builder.admin_token(ADMIN_TOKEN),
                    "admin_off" => builder.admin(false),
                    "endpoint_off" => builder.prometheus_endpoint(false),
                    "recorder_off" => builder.recorder(false),
                    other => panic!("no setter {other:?}"),
                };
            }
            let guard = builder.install().expect("installed");
            calls();
            let addr = guard.prometheus_addr();
            let _ = writeln!(out, "addr={}", if addr.is_some() { "some" } else { "none" });
            if let Some(addr) = addr {
                let metrics = alamos_tests::http_request(addr, "GET", "/metrics", &[], b"");
                let auth = format!("Bearer {ADMIN_TOKEN}");
                let admin = alamos_tests::http_request(
                    addr,
                    "GET",
                    "/alamos/levels",
                    &[("Authorization", &auth)],
                    b"",
                );
                let _ = writeln!(out, "metrics={} admin={}", metrics.status, admin.status);
            }
            let _ = writeln!(out, "render={}", guard.render().is_some());
        }
        _ => {
            let _guard = alamos::init();
            calls();
            let _ = writeln!(out, "done");
        }
    }
}
