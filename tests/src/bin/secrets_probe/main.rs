//! A program for `tests/secrets.rs` and `tests/secrets_otel.rs`: a binary set
//! up with `alamos::init()` that makes the calls of [`calls::run`].
//!
//! `secrets_probe SECRET CONTROL` (both from the command line, so neither is
//! in the binary). Logs go to stderr as `init()` sets them up
//! (`ALAMOS_LOG_FORMAT`); on stdout, in sections:
//!
//! ```text
//! === render      the exposition from Guard::render()
//! === http        the raw response of GET /metrics on the guard's endpoint
//! === tree        alamos::tree() and alamos::experiments()
//! === done
//! ```
//!
//! The default panic hook prints a panic's message to stderr; that is the
//! standard library's output, not alamos's, so this probe replaces it with
//! one that prints no payload. With `OTEL_EXPORTER_OTLP_ENDPOINT` set (and
//! the `otel` feature), `init()` also exports the spans, flushed when the
//! guard drops at the end of `main`.

// `CALLS` is for the tests that share this module.
#[allow(dead_code)]
mod calls;

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(secret), Some(control)) = (args.next(), args.next()) else {
        eprintln!("usage: secrets_probe SECRET CONTROL");
        std::process::exit(2);
    };
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map_or_else(String::new, ToString::to_string);
        eprintln!("secrets_probe: a panic at {at} (payload withheld)");
    }));
    let guard = alamos::init();

    calls::run(&secret, &control);

    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "=== render");
    let _ = writeln!(out, "{}", guard.render().unwrap_or_default());
    let _ = writeln!(out, "=== http");
    match guard.prometheus_addr() {
        Some(addr) => {
            let _ = writeln!(out, "{}", scrape(addr));
        }
        None => {
            let _ = writeln!(out, "no endpoint");
        }
    }
    let _ = writeln!(out, "=== tree");
    let _ = writeln!(out, "{}", alamos::tree());
    for experiment in alamos::experiments() {
        let _ = writeln!(out, "{experiment:?}");
    }
    let _ = writeln!(out, "=== done");
    let _ = out.flush();
    drop(out);
    // Flushes the OTLP export, if any.
    drop(guard);
}

/// One `GET /metrics`, the raw response.
fn scrape(addr: SocketAddr) -> String {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else {
        return "connect failed".to_owned();
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    String::from_utf8_lossy(&response).into_owned()
}
