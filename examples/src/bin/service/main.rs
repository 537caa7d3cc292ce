//! A two-node service: an HTTP front node (axum) over a gRPC storage node
//! (tonic), traced and counted end to end by alamos's service edges alone.
//!
//! ```text
//! client ──HTTP──▶ front node ──gRPC──▶ storage node
//!                  api.http             storage.grpc
//!                  ├─ distribution.limits ──HTTP──▶ storage.http
//!                  └─ distribution.storage (gRPC client)
//! ```
//!
//! Each node is wired with [`alamos::tower::ServerLayer`] (the front node's
//! router, the storage node's tonic server and its small HTTP router),
//! [`alamos::tower::ClientLayer`] (the front node's tonic channel) and
//! [`alamos::reqwest::Middleware`] (the front node's HTTP client). No line
//! here reads or writes a trace header: a request's span on the storage
//! node is a child of the front node's client span, itself under the front
//! node's request span, itself a child of whatever span the caller sent.
//!
//! Run the demo (both nodes as child processes, a few requests, the edge
//! metrics of each node) in one command:
//!
//! ```text
//! cargo run -p alamos-examples --features service --bin service
//! ```
//!
//! or each node on its own:
//!
//! ```text
//! ALAMOS_PROMETHEUS_ADDR=127.0.0.1:9471 service storage --grpc 127.0.0.1:7101 --http 127.0.0.1:7102
//! ALAMOS_PROMETHEUS_ADDR=127.0.0.1:9470 service front --listen 127.0.0.1:7100 \
//!     --storage-grpc http://127.0.0.1:7101 --storage-http http://127.0.0.1:7102
//! curl -X POST -d '20.5,21,21.25' http://127.0.0.1:7100/channels/temperature/frames
//! curl http://127.0.0.1:7100/channels/temperature/frames
//! curl http://127.0.0.1:7100/channels/humidity/frames      # 404: NOT_FOUND from storage
//! ```
//!
//! The environment configures the rest, as for any alamos binary:
//! `ALAMOS_LEVEL` (thresholds), `ALAMOS_TRACE_SAMPLE` (which requests are
//! traced; a caller's sampled flag is obeyed), `ALAMOS_PROMETHEUS_ADDR`
//! (`/metrics`), and `OTEL_EXPORTER_OTLP_ENDPOINT` with the other `OTEL_*`
//! variables (span, log and metric export; `OTEL_SERVICE_NAME` defaults to
//! `alamos-front` and `alamos-storage`). SIGTERM and SIGINT flush what is
//! still to be exported before the node exits.

mod front;
mod proto;
mod storage;

use std::collections::HashMap;
use std::future::Future;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitCode};
use std::time::{Duration, Instant};

const USAGE: &str = "usage: service [demo]
       service storage --grpc ADDR --http ADDR
       service front --listen ADDR --storage-grpc URL --storage-http URL";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        None | Some("demo") => demo(),
        Some("storage") => flags(&args[1..], &["grpc", "http"]).and_then(|flags| {
            let grpc = address(&flags, "grpc")?;
            let http = address(&flags, "http")?;
            node("alamos-storage", storage::run(grpc, http))
        }),
        Some("front") => {
            flags(&args[1..], &["listen", "storage-grpc", "storage-http"]).and_then(|flags| {
                let listen = address(&flags, "listen")?;
                node(
                    "alamos-front",
                    front::run(listen, &flags["storage-grpc"], &flags["storage-http"]),
                )
            })
        }
        Some(other) => Err(format!("unknown command {other:?}\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("service: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `--name value` pairs, every one of `names` required.
fn flags(args: &[String], names: &[&str]) -> Result<HashMap<String, String>, String> {
    let mut flags = HashMap::new();
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let name = flag
            .strip_prefix("--")
            .filter(|name| names.contains(name))
            .ok_or_else(|| format!("unknown argument {flag:?}\n{USAGE}"))?;
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        flags.insert(name.to_owned(), value.clone());
    }
    match names.iter().find(|name| !flags.contains_key(**name)) {
        Some(missing) => Err(format!("no --{missing}\n{USAGE}")),
        None => Ok(flags),
    }
}

fn address(flags: &HashMap<String, String>, name: &str) -> Result<SocketAddr, String> {
    flags[name]
        .parse()
        .map_err(|error| format!("--{name} {:?}: {error}", flags[name]))
}

/// axum's route template of a request, for [`alamos::tower::ServerLayer::route`].
fn matched_path(request: &http::request::Parts) -> Option<&str> {
    request
        .extensions
        .get::<axum::extract::MatchedPath>()
        .map(axum::extract::MatchedPath::as_str)
}

/// alamos for a node: logs on stderr, `/metrics` where
/// `ALAMOS_PROMETHEUS_ADDR` says, OTLP export when an `OTEL_*` endpoint is
/// set (named `service` unless `OTEL_SERVICE_NAME` says otherwise), and a
/// flush on SIGTERM and SIGINT.
fn init(service: &str, metrics: bool) -> Result<alamos::Guard, String> {
    let mut builder = alamos::Builder::new()
        .flush_on_signals(true)
        .prometheus_endpoint(metrics);
    if alamos::OtelConfig::endpoint_in_env() {
        // `from_vars`, not `from_env`: the builder reports what is malformed.
        let config = alamos::OtelConfig::from_vars(|name| std::env::var(name).ok());
        builder = builder.otel(if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
            config.service_name(service)
        } else {
            config
        });
    }
    builder.install().map_err(|error| error.to_string())
}

/// Runs one node on a small tokio runtime until it fails or is stopped.
fn node(service: &str, serve: impl Future<Output = Result<(), String>>) -> Result<(), String> {
    let guard = init(service, true)?;
    if let Some(addr) = guard.prometheus_addr() {
        eprintln!("{service}: metrics on http://{addr}/metrics");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|error| format!("tokio runtime: {error}"))?;
    let served = runtime.block_on(serve);
    drop(guard);
    served
}

// ---------------------------------------------------------------- the demo

/// A request the demo sends, and what it shows.
const REQUESTS: [(&str, &str, &str); 5] = [
    ("POST", "temperature", "20.5,21,21.25"),
    ("GET", "temperature", ""),
    // Never written: NOT_FOUND from the storage node, an `error` at both
    // ends of the gRPC call, a 404 to the client.
    ("GET", "humidity", ""),
    // Outside the limits the storage node's HTTP side gives.
    ("POST", "pressure", "120,900"),
    ("POST", "temperature", "warm"),
];

/// Starts the storage and front nodes, sends [`REQUESTS`], prints the
/// answers and each node's edge metrics, and stops both with SIGTERM.
fn demo() -> Result<(), String> {
    let guard = init("alamos-demo", false)?;
    let [grpc, http, storage_metrics, listen, front_metrics] = [(); 5].map(|()| free_port());
    let exe = std::env::current_exe().map_err(|error| error.to_string())?;
    let mut storage = Command::new(&exe);
    storage
        .args(["storage", "--grpc", &grpc, "--http", &http])
        .env("ALAMOS_PROMETHEUS_ADDR", &storage_metrics);
    let mut front = Command::new(&exe);
    front
        .args(["front", "--listen", &listen])
        .args(["--storage-grpc", &format!("http://{grpc}")])
        .args(["--storage-http", &format!("http://{http}")])
        .env("ALAMOS_PROMETHEUS_ADDR", &front_metrics);
    let mut children = Vec::new();
    let outcome = (|| {
        children.push(storage.spawn().map_err(|e| format!("storage node: {e}"))?);
        children.push(front.spawn().map_err(|e| format!("front node: {e}"))?);
        for addr in [&grpc, &http, &listen, &storage_metrics, &front_metrics] {
            wait_ready(addr)?;
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| format!("tokio runtime: {error}"))?;
        runtime.block_on(exchange(
            &listen,
            &[("front", &front_metrics), ("storage", &storage_metrics)],
        ))
    })();
    for child in &mut children {
        stop(child);
    }
    drop(guard);
    outcome
}

/// Sends the requests through an alamos-instrumented client (its spans are
/// the roots of the traces) and prints the answers, then the metrics.
async fn exchange(front: &str, metrics: &[(&str, &str)]) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|error| error.to_string())?;
    let api = reqwest_middleware::ClientBuilder::new(client.clone())
        .with(
            alamos::reqwest::Middleware::new("client.api")
                .route(|_| Some("/channels/{name}/frames")),
        )
        .build();
    for (method, channel, body) in REQUESTS {
        let url = format!("http://{front}/channels/{channel}/frames");
        let request = if method == "POST" {
            api.post(&url).body(body)
        } else {
            api.get(&url)
        };
        let response = request
            .send()
            .await
            .map_err(|error| format!("{url}: {error}"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let target = format!("{method} /channels/{channel}/frames {body}");
        println!("{target:<50} -> {status}: {}", text.trim());
    }
    for (node, addr) in metrics {
        let text = client
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|error| format!("{node} metrics: {error}"))?
            .text()
            .await
            .map_err(|error| format!("{node} metrics: {error}"))?;
        println!("\n{node} node, http://{addr}/metrics, requests at its edges:");
        for line in text.lines().filter(|line| {
            line.starts_with("alamos_calls_total{")
                && !line.ends_with(" 0")
                && ["api.http", "distribution.", "storage.grpc", "storage.http"]
                    .iter()
                    .any(|edge| line.contains(&format!("experiment=\"{edge}")))
        }) {
            println!("  {line}");
        }
    }
    Ok(())
}

fn free_port() -> String {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map_or_else(|_| "127.0.0.1:0".to_owned(), |addr| addr.to_string())
}

/// Waits up to 10 s for something to accept connections on `addr`.
fn wait_ready(addr: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect(addr).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("nothing listening on {addr} after 10 s"))
}

/// Sends SIGTERM (the node flushes and exits), waits up to 10 s, then kills.
fn stop(child: &mut Child) {
    // std has no SIGTERM; `kill` is POSIX.
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("node {} did not stop; killing it", child.id());
    let _ = child.kill();
    let _ = child.wait();
}
