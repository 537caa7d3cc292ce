//! Two nodes of a cluster, one trace.
//!
//! The same binary runs as node `a` and node `b` on loopback. A request to
//! node A commits frames locally and forwards them to its peer, node B, over
//! a small HTTP/1.1 exchange that carries the W3C trace context; B commits
//! them too (and forwards to its own peer, if it has one). Both nodes export
//! their spans over OTLP, so a collector shows one trace:
//!
//! ```text
//! api.frames.write              (node a; a child of the caller's span, if any)
//! ├── storage.frames.commit     (node a)
//! └── distribution.peer.forward (node a)
//!     └── api.frames.write      (node b)
//!         └── storage.frames.commit
//! ```
//!
//! Run the whole demo (both nodes and a client request) in one command:
//!
//! ```text
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 \
//!     cargo run -p alamos-examples --features otel --bin two_nodes
//! ```
//!
//! or each node on its own (flags, or `TWO_NODES_NAME`, `TWO_NODES_LISTEN`,
//! `TWO_NODES_PEER`, `TWO_NODES_METRICS`):
//!
//! ```text
//! two_nodes node --name b --listen 127.0.0.1:7002 --metrics 127.0.0.1:9466
//! two_nodes node --name a --listen 127.0.0.1:7001 --peer 127.0.0.1:7002 --metrics 127.0.0.1:9465
//! curl -X POST 'http://127.0.0.1:7001/frames?count=3'
//! curl -s 127.0.0.1:9465/metrics | grep alamos_calls_total   # every series has node="a"
//! curl -X POST http://127.0.0.1:7001/shutdown
//! ```
//!
//! Each node's metrics carry the constant label `node` (its name), so one
//! Prometheus scraping both answers per node or, summed, for the cluster:
//! `sum by (experiment) (rate(alamos_calls_total[30s]))`. They are pushed
//! over OTLP too, with the spans' resource.
//!
//! `POST /frames?count=N` answers with JSON naming the trace; `count=0` fails
//! (the spans then have status error); `POST /shutdown` stops the node
//! gracefully: every finished span is exported before it exits.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitCode};
use std::time::{Duration, Instant};

use alamos::context::TraceParent;
use alamos::{OtelConfig, OtelGuard};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// How long one HTTP exchange may take.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        None | Some("demo") => demo(),
        Some("node") => Options::parse(&args[1..]).and_then(|options| run_node(&options)),
        Some(other) => Err(format!("unknown command {other:?}\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("two_nodes: {message}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: two_nodes [demo]
       two_nodes node --name NAME --listen ADDR [--peer ADDR] [--metrics ADDR]";

/// One node's settings.
struct Options {
    name: String,
    listen: SocketAddr,
    peer: Option<String>,
    /// Where `/metrics` is served, if anywhere.
    metrics: Option<SocketAddr>,
}

impl Options {
    /// `--name`, `--listen`, `--peer`, each falling back to `TWO_NODES_<NAME>`.
    fn parse(args: &[String]) -> Result<Options, String> {
        let mut flags: HashMap<&str, String> = HashMap::new();
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            let name = match flag.as_str() {
                "--name" => "name",
                "--listen" => "listen",
                "--peer" => "peer",
                "--metrics" => "metrics",
                other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
            };
            let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
            flags.insert(name, value.clone());
        }
        let get = |name: &str| {
            flags
                .get(name)
                .cloned()
                .or_else(|| std::env::var(format!("TWO_NODES_{}", name.to_uppercase())).ok())
        };
        let listen = get("listen").ok_or_else(|| format!("no --listen address\n{USAGE}"))?;
        Ok(Options {
            name: get("name").unwrap_or_else(|| "a".to_owned()),
            listen: listen
                .parse()
                .map_err(|error| format!("--listen {listen:?}: {error}"))?,
            peer: get("peer").filter(|peer| !peer.is_empty()),
            metrics: get("metrics")
                .filter(|addr| !addr.is_empty())
                .map(|addr| {
                    addr.parse()
                        .map_err(|error| format!("--metrics {addr:?}: {error}"))
                })
                .transpose()?,
        })
    }
}

/// How this process exports over OTLP: the standard `OTEL_*` variables,
/// under `service_name` unless `OTEL_SERVICE_NAME` says otherwise.
fn otel_config(service_name: &str, node: &str) -> OtelConfig {
    let config = OtelConfig::from_env().resource_attribute("alamos.node", node);
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        config.service_name(service_name)
    } else {
        config
    }
}

/// Exports this process's spans and log records over OTLP (and its
/// metrics, if `config` says so and alamos's recorder is installed).
fn export_spans(service_name: &str, config: &OtelConfig) -> Result<OtelGuard, String> {
    let (layer, guard) = config
        .build_layer::<tracing_subscriber::Registry>()
        .map_err(|error| error.to_string())?;
    tracing_subscriber::registry()
        .with(layer)
        .try_init()
        .map_err(|error| error.to_string())?;
    eprintln!("{service_name}: exporting spans to {}", config.traces_url());
    Ok(guard)
}

/// Flushes every finished span and says how it went.
fn finish(guard: OtelGuard, who: &str) -> Result<(), String> {
    match guard.shutdown() {
        Ok(report) => {
            eprintln!("{who}: {report}");
            Ok(())
        }
        Err(error) => Err(format!("{who}: span export: {error}")),
    }
}

// ---------------------------------------------------------------- a node

struct Node {
    name: String,
    peer: Option<String>,
}

#[derive(Debug)]
enum NodeError {
    /// Nothing to write.
    Empty,
    /// The peer answered with an error.
    Peer(u16, String),
    /// The peer could not be reached.
    Io(io::Error),
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeError::Empty => f.write_str("no frames to write"),
            NodeError::Peer(status, body) => write!(f, "peer answered {status}: {body}"),
            NodeError::Io(error) => write!(f, "peer unreachable: {error}"),
        }
    }
}

impl From<io::Error> for NodeError {
    fn from(error: io::Error) -> Self {
        NodeError::Io(error)
    }
}

/// Handles `POST /frames`: commit here, then on the peer.
#[alamos::experiment("api.frames", fields(node = %node.name, count))]
fn write(node: &Node, count: u32) -> Result<String, NodeError> {
    let committed = commit(count)?;
    let peer = match &node.peer {
        Some(peer) => forward(peer, count)?,
        None => "null".to_owned(),
    };
    let (trace_id, span_id) = current_ids();
    Ok(format!(
        r#"{{"node":"{}","trace_id":"{trace_id}","span_id":"{span_id}","committed":{committed},"peer":{peer}}}"#,
        node.name
    ))
}

/// Stands in for real storage work.
#[alamos::experiment("storage.frames", fields(count))]
fn commit(count: u32) -> Result<u32, NodeError> {
    if count == 0 {
        return Err(NodeError::Empty);
    }
    std::thread::sleep(Duration::from_millis(u64::from(count)));
    Ok(count)
}

/// Sends the frames to the peer, with this span as the remote parent.
#[alamos::experiment("distribution.peer", fields(%peer))]
fn forward(peer: &str, count: u32) -> Result<String, NodeError> {
    let mut headers = HashMap::new();
    alamos::propagate(&mut headers);
    let (status, body) = post(peer, &format!("/frames?count={count}"), &headers)?;
    if status != 200 {
        return Err(NodeError::Peer(status, body));
    }
    Ok(body)
}

/// The trace and span ids of the current span, as `propagate` sees them.
fn current_ids() -> (String, String) {
    let mut headers = HashMap::new();
    alamos::propagate(&mut headers);
    headers
        .get("traceparent")
        .and_then(|value| TraceParent::parse(value).ok())
        .map_or_else(Default::default, |parent| {
            (parent.trace_id_hex(), parent.parent_id_hex())
        })
}

fn run_node(options: &Options) -> Result<(), String> {
    let service_name = format!("alamos-node-{}", options.name);
    let config = otel_config(&service_name, &options.name);
    // Metrics are pushed by the builder below: the layer exports spans and
    // log records.
    let guard = export_spans(&service_name, &config.clone().metrics(false))?;
    // alamos's recorder, with this node's name on every series, pushed over
    // OTLP; the subscriber stays the one above.
    let metrics = alamos::Builder::new()
        .subscriber(false)
        .otel(config)
        .constant_label("node", &options.name);
    let metrics = match options.metrics {
        Some(addr) => metrics.prometheus_addr(addr),
        None => metrics.prometheus_endpoint(false),
    }
    .install()
    .map_err(|error| error.to_string())?;
    if let Some(addr) = metrics.prometheus_addr() {
        eprintln!("node {}: metrics on http://{addr}/metrics", options.name);
    }
    let listener = TcpListener::bind(options.listen)
        .map_err(|error| format!("cannot listen on {}: {error}", options.listen))?;
    let node = Node {
        name: options.name.clone(),
        peer: options.peer.clone(),
    };
    eprintln!(
        "node {}: listening on http://{}{}",
        node.name,
        options.listen,
        node.peer
            .as_ref()
            .map_or_else(String::new, |peer| format!(", peer {peer}"))
    );
    serve(&listener, &node);
    eprintln!("node {}: shutting down", node.name);
    let finished = finish(guard, &format!("node {}", node.name));
    drop(metrics);
    finished
}

/// Serves one request at a time until `POST /shutdown`.
fn serve(listener: &TcpListener, node: &Node) {
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else {
            continue;
        };
        let request = match Request::read(&stream) {
            Ok(Some(request)) => request,
            // Connected and closed without a word: a readiness probe.
            Ok(None) => continue,
            Err(error) => {
                eprintln!("node {}: bad request: {error}", node.name);
                continue;
            }
        };
        let (status, body) = match (request.method.as_str(), request.path()) {
            ("POST", "/shutdown") => {
                respond(&mut stream, 200, "{}");
                return;
            }
            ("POST", "/frames") => {
                let count = request
                    .query("count")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1);
                // The remote caller's span is the parent of `write`'s span.
                match alamos::with_parent(&request.headers, || write(node, count)) {
                    Ok(body) => (200, body),
                    Err(error) => (502, format!(r#"{{"error":"{error}"}}"#).replace('\n', " ")),
                }
            }
            _ => (404, r#"{"error":"not found"}"#.to_owned()),
        };
        respond(&mut stream, status, &body);
    }
}

// ---------------------------------------------------------------- the demo

/// The client side of the demo: its span is the root of the trace.
#[alamos::experiment("client.frames")]
fn send(node: &str, count: u32) -> Result<String, NodeError> {
    let mut headers = HashMap::new();
    alamos::propagate(&mut headers);
    let (status, body) = post(node, &format!("/frames?count={count}"), &headers)?;
    if status != 200 {
        return Err(NodeError::Peer(status, body));
    }
    Ok(body)
}

/// Starts nodes `b` and `a` as child processes, sends one request to `a`,
/// and stops both gracefully.
fn demo() -> Result<(), String> {
    let guard = export_spans("alamos-client", &otel_config("alamos-client", "client"))?;
    let (port_a, port_b) = (free_port()?, free_port()?);
    let b = format!("127.0.0.1:{port_b}");
    let a = format!("127.0.0.1:{port_a}");
    let mut children = vec![spawn_node("b", &b, None)?];
    children.push(spawn_node("a", &a, Some(&b))?);
    let outcome = wait_ready(&a)
        .and_then(|()| wait_ready(&b))
        .and_then(|()| send(&a, 3).map_err(|error| error.to_string()));
    for addr in [&a, &b] {
        // A node that is already gone has nothing left to flush.
        let _ = post(addr, "/shutdown", &HashMap::new());
    }
    for child in &mut children {
        stop(child);
    }
    let body = outcome?;
    println!("{body}");
    if let Some(trace) = body.split(r#""trace_id":""#).nth(1) {
        println!(
            "trace {}: client -> node a -> node b; look it up in your collector",
            &trace[..32.min(trace.len())]
        );
    }
    finish(guard, "client")
}

fn spawn_node(name: &str, listen: &str, peer: Option<&str>) -> Result<Child, String> {
    let exe = std::env::current_exe().map_err(|error| error.to_string())?;
    let mut command = Command::new(exe);
    command.args(["node", "--name", name, "--listen", listen]);
    if let Some(peer) = peer {
        command.args(["--peer", peer]);
    }
    command
        .spawn()
        .map_err(|error| format!("cannot start node {name}: {error}"))
}

/// Waits up to 10 s for a node to accept connections.
fn wait_ready(addr: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect(addr).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("no node listening on {addr} after 10 s"))
}

/// Waits up to 10 s for a child to exit, then kills it.
fn stop(child: &mut Child) {
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

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|error| format!("no free loopback port: {error}"))
}

// ---------------------------------------------------------------- HTTP/1.1

/// A request as the node reads it: headers keep the sender's spelling,
/// and `alamos::depropagate` matches their names case-insensitively.
struct Request {
    method: String,
    target: String,
    headers: HashMap<String, String>,
}

impl Request {
    /// The next request, or `None` if the client closed the connection
    /// without sending one.
    fn read(stream: &TcpStream) -> io::Result<Option<Request>> {
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let mut parts = line.split_whitespace();
        let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "no request line",
            ));
        };
        let (method, target) = (method.to_owned(), target.to_owned());
        let headers = read_headers(&mut reader)?;
        let length: usize = headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, value)| value.parse().ok())
            .unwrap_or(0);
        // The body is not used; read it so the client sees a clean exchange.
        io::copy(&mut reader.take(length as u64), &mut io::sink())?;
        Ok(Some(Request {
            method,
            target,
            headers,
        }))
    }

    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    fn query(&self, key: &str) -> Option<&str> {
        self.target
            .split_once('?')?
            .1
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| *k == key)
            .map(|(_, value)| value)
    }
}

fn read_headers(reader: &mut impl BufRead) -> io::Result<HashMap<String, String>> {
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(headers);
        }
        let line = line.trim_end();
        if line.is_empty() {
            return Ok(headers);
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_owned(), value.trim().to_owned());
        }
    }
}

fn respond(stream: &mut TcpStream, status: u16, body: &str) {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Bad Gateway",
    };
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    // A client that went away does not need the answer.
    let _ = stream.write_all(response.as_bytes());
}

/// `POST`s an empty body with `headers`; the status and the response body.
fn post(addr: &str, target: &str, headers: &HashMap<String, String>) -> io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut request = format!(
        "POST {target} HTTP/1.1\r\nhost: {addr}\r\ncontent-length: 0\r\nconnection: close\r\n"
    );
    for (name, value) in headers {
        let _ = write!(request, "{name}: {value}\r\n");
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line)?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no HTTP status"))?;
    read_headers(&mut reader)?;
    let mut body = String::new();
    reader.read_to_string(&mut body)?;
    Ok((status, body))
}
