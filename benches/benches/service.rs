//! A benchmark shaped like a service, counted in instructions: a small tokio
//! key-value server whose handlers are instrumented as a user would do it,
//! driven over loopback by a load client, measured as the server's
//! instructions per request under cachegrind.
//!
//! ```text
//! bash benches/scripts/service.sh            # builds, runs every variant, prints the table
//! ```
//!
//! # The server
//!
//! One copy of the same handlers per variant (the [`service!`] macro pastes
//! the attributes in): a connection handler, an `apply` per command with
//! fields `cmd` and `key`, two `tracing::debug!` per request that nothing
//! prints, and one downstream call, a client method (`StoreClient::get` or
//! `set`) that asks a store task over a channel. Connections carry
//! [`REQUESTS_PER_CONNECTION`] requests each, one at a time, so the count is
//! repeatable: the server runs on one thread (a current-thread runtime).
//!
//! | variant | handlers | subscriber / setup |
//! |---|---|---|
//! | `plain` | no attribute | none |
//! | `tracing_none` | `#[tracing::instrument(skip_all, fields(..))]` | none: tracing's default, no-op dispatcher |
//! | `tracing_off` | the same | fmt subscriber, level ERROR (spans off) |
//! | `tracing_on` | the same | fmt subscriber, level INFO (spans on) |
//! | `alamos` | `#[alamos::experiment("kv..", fields(..))]` | `alamos::init()` |
//! | `alamos_off` | the same | `alamos::init()`, `ALAMOS_LEVEL=off` |
//! | `alamos_sampled` | the same | `alamos::init()`, `ALAMOS_TRACE_SAMPLE=0.01` |
//! | `alamos_untraced` | the same | `alamos::init()`, `ALAMOS_TRACE_SAMPLE=0`: the sampled row's untraced path alone, the same count every run |
//!
//! # The measurement
//!
//! `service measure` runs each variant's server under `valgrind
//! --tool=cachegrind --cache-sim=no` twice, for a short and a long load
//! (the client runs natively in this process), and divides the difference
//! of the instruction totals by the difference of the request counts: the
//! start-up, `init()` and shutdown cancel. Instruction totals repeat from
//! run to run on a busy machine, where wall time does not; except
//! `alamos_sampled`'s, by a few tens of instructions a request: its roots
//! (the connections, 100 requests each) draw from a randomly seeded
//! generator, so how many of the 420 connections of the long run are
//! traced varies (about 4).
//!
//! alamos's call timer reads the TSC under valgrind too: valgrind's CPUID
//! hides the invariant-TSC bit, and `alamos/src/clock.rs` then asks
//! `/proc/cpuinfo`, which reports the real CPU's flags. A callgrind profile
//! of the alamos rows shows an inlined `rdtsc` and no call to the clock's
//! slow path after the first reading, so no clock figure is to be
//! subtracted by hand (quanta's fallback, under an earlier clock, cost
//! about 270 instructions a request here).
//!
//! # Threads
//!
//! Every variant's server starts and joins one thread before it serves.
//! glibc's system call wrappers skip their cancellation bookkeeping (about
//! 90 instructions a call under valgrind) while a process has never had a
//! second thread, and take it for good once it has. `alamos::init()` starts
//! one (a probe that finds the global metrics recorder), so without the
//! extra thread the alamos rows paid about 190 instructions a request (the
//! server makes two or three system calls a request) that the plain and
//! `tracing` rows did not, and that a server with any second thread (a
//! multi-threaded runtime, `spawn_blocking`) pays whatever it is
//! instrumented with.
//!
//! `cargo bench --bench service` (no mode) runs every variant natively
//! once, as a smoke test, and prints requests per second.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Requests one connection carries before the client opens the next.
const REQUESTS_PER_CONNECTION: u64 = 100;

/// The keys the client writes and reads, cycled.
const KEYS: u64 = 64;

/// The short and the long load of a measurement. Far apart: start-up is
/// not quite the same from run to run (the clock's calibration spins for a
/// fixed time, not a fixed count of instructions), and the difference
/// divides that by the requests between the two.
const SHORT: u64 = 2_000;
const LONG: u64 = 42_000;

/// Every variant, with the environment its server runs in.
/// The `alamos_sampled` variant's root probability.
const SAMPLED: &str = "0.01";

const VARIANTS: &[(&str, &[(&str, &str)])] = &[
    ("plain", &[]),
    ("tracing_none", &[]),
    ("tracing_off", &[]),
    ("tracing_on", &[]),
    ("alamos", &[]),
    ("alamos_off", &[("ALAMOS_LEVEL", "off")]),
    ("alamos_sampled", &[("ALAMOS_TRACE_SAMPLE", SAMPLED)]),
    ("alamos_untraced", &[("ALAMOS_TRACE_SAMPLE", "0")]),
];

/// A command as the wire spells it: `GET key`, `SET key value`, `SHUTDOWN`.
fn parse(line: &str) -> Option<(&str, &str, &str)> {
    let mut words = line.split_ascii_whitespace();
    let cmd = words.next()?;
    let key = words.next().unwrap_or("");
    let value = words.next().unwrap_or("");
    Some((cmd, key, value))
}

/// One copy of the server's handlers, with the attributes given pasted
/// onto them: `connection`, `apply`, `get` and `set`.
macro_rules! service {
    (
        $name:ident,
        names: [$cmd:ident, $key:ident, $value:ident, $id:ident],
        connection: [$($connection:tt)*],
        apply: [$($apply:tt)*],
        get: [$($get:tt)*],
        set: [$($set:tt)*] $(,)?
    ) => {
        mod $name {
            use std::collections::HashMap;

            use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
            use tokio::net::TcpStream;
            use tokio::sync::{mpsc, oneshot};

            enum Op {
                Get(String, oneshot::Sender<Option<String>>),
                Set(String, String, oneshot::Sender<()>),
            }

            /// The downstream: a store task behind a channel.
            #[derive(Clone)]
            pub(crate) struct StoreClient {
                ops: mpsc::Sender<Op>,
            }

            impl StoreClient {
                $($get)*
                pub(crate) async fn get(&self, $key: &str) -> Option<String> {
                    let (reply, answer) = oneshot::channel();
                    self.ops.send(Op::Get($key.to_owned(), reply)).await.ok()?;
                    answer.await.ok().flatten()
                }

                $($set)*
                pub(crate) async fn set(&self, $key: &str, $value: &str) -> bool {
                    let (reply, answer) = oneshot::channel();
                    if self
                        .ops
                        .send(Op::Set($key.to_owned(), $value.to_owned(), reply))
                        .await
                        .is_err()
                    {
                        return false;
                    }
                    answer.await.is_ok()
                }
            }

            /// Starts the store task on the current runtime.
            pub(crate) fn store() -> StoreClient {
                let (ops, mut queue) = mpsc::channel::<Op>(64);
                tokio::task::spawn_local(async move {
                    let mut map: HashMap<String, String> = HashMap::new();
                    while let Some(op) = queue.recv().await {
                        match op {
                            Op::Get(key, reply) => {
                                let _ = reply.send(map.get(&key).cloned());
                            }
                            Op::Set(key, value, reply) => {
                                map.insert(key, value);
                                let _ = reply.send(());
                            }
                        }
                    }
                });
                StoreClient { ops }
            }

            $($apply)*
            async fn apply(
                $cmd: &str,
                $key: &str,
                $value: &str,
                store: &StoreClient,
            ) -> Result<String, String> {
                tracing::debug!(value_len = $value.len(), "applying");
                let reply = match $cmd {
                    "GET" => store.get($key).await.unwrap_or_default(),
                    "SET" => {
                        if !store.set($key, $value).await {
                            return Err("store gone".to_owned());
                        }
                        "OK".to_owned()
                    }
                    other => return Err(format!("unknown command {other}")),
                };
                tracing::debug!(reply_len = reply.len(), "applied");
                Ok(reply)
            }

            /// Serves one connection; true when the client asked the
            /// server to stop.
            $($connection)*
            pub(crate) async fn connection(
                stream: TcpStream,
                $id: u64,
                store: StoreClient,
            ) -> std::io::Result<bool> {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read);
                let mut line = String::new();
                let mut out = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(false);
                    }
                    let Some((cmd, key, value)) = super::parse(&line) else {
                        continue;
                    };
                    if cmd == "SHUTDOWN" {
                        return Ok(true);
                    }
                    out.clear();
                    match apply(cmd, key, value, &store).await {
                        Ok(reply) => out.push_str(&reply),
                        Err(err) => {
                            out.push_str("ERR ");
                            out.push_str(&err);
                        }
                    }
                    out.push('\n');
                    write.write_all(out.as_bytes()).await?;
                    let _ = $id;
                }
            }

            /// Serves connections one after another until a client says
            /// `SHUTDOWN`. One per copy of the handlers, so that each
            /// variant's server is compiled apart: in one function shared
            /// by the three, a change to alamos moved the plain server's
            /// count too.
            pub(crate) async fn serve(listener: tokio::net::TcpListener) -> std::io::Result<()> {
                let store = store();
                let mut id = 0;
                loop {
                    let (stream, _) = listener.accept().await?;
                    stream.set_nodelay(true)?;
                    id += 1;
                    if connection(stream, id, store.clone()).await? {
                        return Ok(());
                    }
                }
            }
        }
    };
}

service!(
    plain,
    names: [cmd, key, value, id],
    connection: [],
    apply: [],
    get: [],
    set: [],
);

service!(
    traced,
    names: [cmd, key, value, id],
    connection: [#[tracing::instrument(skip_all, fields(id = id))]],
    apply: [#[tracing::instrument(skip_all, fields(cmd = cmd, key = key))]],
    get: [#[tracing::instrument(skip_all, fields(key = key))]],
    set: [#[tracing::instrument(skip_all, fields(key = key))]],
);

service!(
    alamos_kv,
    names: [cmd, key, value, id],
    connection: [#[alamos::experiment("kv.server", fields(id))]],
    apply: [#[alamos::experiment("kv.server", fields(cmd, key))]],
    get: [#[alamos::experiment("kv.store_client", fields(key))]],
    set: [#[alamos::experiment("kv.store_client", fields(key))]],
);

/// Which copy of the handlers a variant serves with.
#[derive(Clone, Copy)]
enum Handlers {
    Plain,
    Traced,
    Alamos,
}

/// The server of `variant`: says its port on stdout, serves until told to
/// stop.
fn server(variant: &str) {
    let handlers = match variant {
        "plain" => Handlers::Plain,
        "tracing_none" | "tracing_off" | "tracing_on" => Handlers::Traced,
        "alamos" | "alamos_off" | "alamos_sampled" | "alamos_untraced" => Handlers::Alamos,
        other => panic!("no variant {other}"),
    };
    let _guard = match variant {
        "tracing_off" | "tracing_on" => {
            let level = if variant == "tracing_on" {
                tracing::Level::INFO
            } else {
                tracing::Level::ERROR
            };
            tracing_subscriber::fmt()
                .with_max_level(level)
                .with_writer(std::io::stderr)
                .init();
            None
        }
        "alamos" | "alamos_off" | "alamos_sampled" | "alamos_untraced" => Some(alamos::init()),
        _ => None,
    };
    // Every variant's process has had a second thread, as `alamos::init()`'s
    // (its recorder probe) and any server with a thread pool: glibc then
    // takes its multi-threaded path in every system call for good (see
    // "Threads" in the module doc), which no variant should pay alone.
    std::thread::spawn(|| {}).join().unwrap();
    // UNWRAP: a bench; loopback with port 0 binds.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    println!("port={}", listener.local_addr().unwrap().port());
    std::io::stdout().flush().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    macro_rules! serve_with {
        ($module:ident) => {
            local.block_on(&runtime, async {
                $module::serve(tokio::net::TcpListener::from_std(listener)?).await
            })
        };
    }
    let served: std::io::Result<()> = match handlers {
        Handlers::Plain => serve_with!(plain),
        Handlers::Traced => serve_with!(traced),
        Handlers::Alamos => serve_with!(alamos_kv),
    };
    served.unwrap();
}

/// Sends `requests` requests (half `SET`, half `GET`) to the server at
/// `addr`, each waiting for its answer, then tells it to stop.
fn client(addr: SocketAddr, requests: u64) {
    let mut sent = 0;
    let mut reply = String::new();
    while sent < requests {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        let batch = REQUESTS_PER_CONNECTION.min(requests - sent);
        for i in sent..sent + batch {
            let key = i % KEYS;
            let line = if i % 2 == 0 {
                format!("SET k{key} value-{i}\n")
            } else {
                format!("GET k{key}\n")
            };
            writer.write_all(line.as_bytes()).unwrap();
            reply.clear();
            reader.read_line(&mut reply).unwrap();
            assert!(!reply.starts_with("ERR"), "{reply}");
        }
        sent += batch;
    }
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(b"SHUTDOWN\n").unwrap();
}

/// A server process for `variant`, optionally under cachegrind writing to
/// `cachegrind_out`; its environment is cleared of alamos's and `tracing`'s
/// variables, then given the variant's.
fn spawn_server(variant: &str, cachegrind_out: Option<&str>) -> std::process::Child {
    let exe = std::env::current_exe().unwrap();
    let mut command = match cachegrind_out {
        Some(out) => {
            let mut command = Command::new("valgrind");
            command
                .arg("--tool=cachegrind")
                .arg("--cache-sim=no")
                .arg(format!("--cachegrind-out-file={out}"))
                .arg(&exe);
            command
        }
        None => Command::new(&exe),
    };
    command.arg("serve").arg(variant);
    for (name, _) in std::env::vars() {
        if name.starts_with("ALAMOS_") || name.starts_with("OTEL_") || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    let env = VARIANTS
        .iter()
        .find(|(name, _)| *name == variant)
        .map_or(&[][..], |(_, env)| *env);
    command.envs(env.iter().copied());
    command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the server starts (is valgrind installed?)")
}

/// Runs one load against a new server; returns its stderr.
fn run(variant: &str, requests: u64, cachegrind_out: Option<&str>) -> String {
    let mut child = spawn_server(variant, cachegrind_out);
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let port: u16 = line
        .trim()
        .strip_prefix("port=")
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("{variant}: no port in {line:?}"));
    client(SocketAddr::from(([127, 0, 0, 1], port)), requests);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{variant}: {status}\n{stderr}");
    stderr
}

/// The instruction total cachegrind wrote to `path`.
fn instructions(path: &str) -> u64 {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix("summary:"))
        .and_then(|total| total.trim().parse().ok())
        .unwrap_or_else(|| panic!("no summary in {path}"))
}

fn counted(variant: &str, requests: u64, dir: &std::path::Path) -> u64 {
    let out = dir.join(format!("{variant}-{requests}.cachegrind"));
    let out = out.to_str().unwrap();
    run(variant, requests, Some(out));
    instructions(out)
}

fn measure(variants: &[String]) {
    let dir = std::env::temp_dir().join(format!("alamos-service-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut rows: Vec<(String, f64)> = Vec::new();
    for (variant, _) in VARIANTS {
        if !variants.is_empty() && !variants.iter().any(|v| v == variant) {
            continue;
        }
        let short = counted(variant, SHORT, &dir);
        let long = counted(variant, LONG, &dir);
        #[allow(clippy::cast_precision_loss)]
        let per_request = (long.saturating_sub(short)) as f64 / (LONG - SHORT) as f64;
        eprintln!("service: {variant}: {short} / {long} instructions");
        rows.push(((*variant).to_owned(), per_request));
    }
    let _ = std::fs::remove_dir_all(&dir);
    let plain = rows
        .iter()
        .find(|(variant, _)| variant == "plain")
        .map(|(_, per_request)| *per_request);
    // The sampled row moves with how many of the long run's connections
    // (the roots) drew traced, a few of hundreds; its expected value is
    // the untraced row plus the probability times a traced request's extra.
    let row = |name: &str| rows.iter().find(|(v, _)| v == name).map(|(_, n)| *n);
    let p: f64 = SAMPLED.parse().unwrap();
    let expected = match (row("alamos"), row("alamos_untraced")) {
        (Some(traced), Some(untraced)) => Some((
            format!("alamos_sampled, expected: untraced + {SAMPLED} × (alamos − untraced)"),
            untraced + p * (traced - untraced),
        )),
        _ => None,
    };
    println!("| variant | instructions / request | over plain |");
    println!("|---|---:|---:|");
    for (variant, per_request) in rows.iter().chain(expected.iter()) {
        let over = match plain {
            Some(plain) if variant != "plain" => {
                format!(
                    "{:+.0} ({:+.1} %)",
                    per_request - plain,
                    (per_request / plain - 1.0) * 100.0
                )
            }
            _ => String::new(),
        };
        println!("| {variant} | {per_request:.0} | {over} |");
    }
}

fn smoke() {
    for (variant, _) in VARIANTS {
        let start = Instant::now();
        run(variant, SHORT, None);
        #[allow(clippy::cast_precision_loss)]
        let rate = SHORT as f64 / start.elapsed().as_secs_f64();
        println!(
            "service/{variant}: {rate:.0} requests/s (wall time, client and server on one machine)"
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => server(&args[1]),
        Some("client") => client(args[1].parse().unwrap(), args[2].parse().unwrap()),
        Some("measure") => measure(&args[1..]),
        // `cargo bench` passes `--bench`.
        _ => smoke(),
    }
}
