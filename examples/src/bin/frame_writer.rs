//! A small Synnax-shaped cluster, instrumented with alamos.
//!
//! Three layers, as in Synnax: `storage` (cesium, writing frames to channel
//! files), `distribution` (frame writers routing frames between nodes) and
//! `api` (handling client requests), plus background tasks. Several threads
//! write at once; some writes fail, one request panics and is caught, and some
//! streaming requests time out and are cancelled.
//!
//! Background tasks run as alamos tasks: cesium's compaction loop (a
//! thread), the gossip loop (a future on a small executor), the heartbeats,
//! and a peer sync that fails every second and is restarted by its
//! supervisor. Each layer attaches its configuration as a report; the API's
//! secrets are `Redacted` or `#[serde(skip)]`.
//!
//! ```text
//! cargo run -p alamos-examples --bin frame_writer                   # 5 s, metrics on 127.0.0.1:9464
//! ALAMOS_LEVEL=prod,distribution=debug cargo run -p alamos-examples --bin frame_writer -- --seconds 30
//! curl -s 127.0.0.1:9464/metrics | grep alamos_calls_total
//!
//! ALAMOS_ADMIN_TOKEN=change-me-to-something-long cargo run -p alamos-examples --bin frame_writer -- --seconds 300
//! curl -s -H 'Authorization: Bearer change-me-to-something-long' 127.0.0.1:9464/alamos/tree
//! curl -s -X PUT -H 'Authorization: Bearer change-me-to-something-long' \
//!     --data 'prod,distribution=bench' 127.0.0.1:9464/alamos/levels
//! ```
//!
//! Built with `--features otel` and `OTEL_EXPORTER_OTLP_ENDPOINT` set, it
//! exports its spans, metrics and log records over OTLP, its log lines carry
//! trace ids, and its duration buckets exemplars (`curl -H 'Accept:
//! application/openmetrics-text' 127.0.0.1:9464/metrics`). `--linger N`
//! keeps the endpoint (and the OTLP metric pushes) up for N seconds after
//! the load stops, with every value still, for tests that compare them.

// Sizes and depths become `f64` instrument values, as users write them.
#![allow(clippy::cast_precision_loss)]

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

const DEFAULT_ADDR: &str = "127.0.0.1:9464";
const NODES: u32 = 3;

/// A frame: samples for a few channels over one time range.
#[derive(Clone, Debug)]
struct Frame {
    channels: Vec<u32>,
    samples: usize,
}

impl Frame {
    /// Its size on the wire and on disk: 8 bytes a sample.
    fn bytes(&self) -> usize {
        self.samples * self.channels.len() * 8
    }
}

// ---------------------------------------------------------- configuration --

/// Cesium's configuration, reported under `storage`.
#[derive(Debug, serde::Serialize)]
struct StorageConfig {
    engine: &'static str,
    nodes: u32,
    data_dir: String,
    fsync: bool,
    compaction_interval_ms: u64,
}

/// The distribution layer's configuration, reported under `distribution`.
#[derive(Debug, serde::Serialize)]
struct DistributionConfig {
    nodes: u32,
    peers: Vec<String>,
    gossip_interval_ms: u64,
    peer_sync_fails_after_ms: u64,
}

/// The API's configuration, reported under `api`: its secrets never leave
/// the process.
#[derive(Debug, serde::Serialize)]
struct ApiConfig {
    listen: &'static str,
    max_batch_frames: usize,
    /// Serialized as `"<redacted>"`.
    auth_secret: alamos::Redacted<String>,
    /// Not serialized at all.
    #[serde(skip)]
    #[allow(dead_code)]
    session_key: String,
}

/// Each layer's configuration, attached to its experiment.
fn report_configuration() {
    // A stand-in for a secret from the environment or a vault; tests set a
    // canary here and check it appears in no output.
    let secret =
        std::env::var("FRAME_WRITER_API_SECRET").unwrap_or_else(|_| "not-a-real-secret".to_owned());
    let reports = [
        alamos::report(
            "storage",
            &StorageConfig {
                engine: "cesium",
                nodes: NODES,
                data_dir: "/var/lib/synnax/cesium".to_owned(),
                fsync: true,
                compaction_interval_ms: COMPACTION_INTERVAL_MS,
            },
        ),
        alamos::report(
            "distribution",
            &DistributionConfig {
                nodes: NODES,
                peers: (0..NODES).map(|node| format!("node-{node}:9090")).collect(),
                gossip_interval_ms: GOSSIP_INTERVAL_MS,
                peer_sync_fails_after_ms: PEER_SYNC_LIFETIME_MS,
            },
        ),
        alamos::report(
            "api",
            &ApiConfig {
                listen: "127.0.0.1:9090",
                max_batch_frames: 4,
                auth_secret: alamos::Redacted::new(secret.clone()),
                session_key: secret,
            },
        ),
    ];
    for result in reports {
        if let Err(err) = result {
            eprintln!("frame_writer: {err}");
        }
    }
}

const COMPACTION_INTERVAL_MS: u64 = 250;
const GOSSIP_INTERVAL_MS: u64 = 200;
const PEER_SYNC_LIFETIME_MS: u64 = 1000;
const COMPACTION_INTERVAL: Duration = Duration::from_millis(COMPACTION_INTERVAL_MS);
const GOSSIP_INTERVAL: Duration = Duration::from_millis(GOSSIP_INTERVAL_MS);
const PEER_SYNC_LIFETIME: Duration = Duration::from_millis(PEER_SYNC_LIFETIME_MS);

#[derive(Debug)]
enum StorageError {
    DiskFull { channel: u32 },
}

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageError::DiskFull { channel } => write!(f, "disk full writing channel {channel}"),
        }
    }
}

impl std::error::Error for StorageError {}

// ---------------------------------------------------------------- storage --

/// Cesium, the storage engine: one file per channel.
struct Cesium {
    node: u32,
    files: Mutex<HashMap<u32, usize>>,
    writes: AtomicU64,
}

#[alamos::experiment("storage.cesium", err)]
impl Cesium {
    fn new(node: u32) -> Self {
        Cesium {
            node,
            files: Mutex::new(HashMap::new()),
            writes: AtomicU64::new(0),
        }
    }

    /// Appends a frame's samples to its channels' files. Every 23rd write
    /// finds the disk full.
    #[alamos::experiment(fields(samples = frame.samples), labels(node = self.node))]
    fn write(&self, frame: &Frame) -> Result<usize, StorageError> {
        let count = self.writes.fetch_add(1, Ordering::Relaxed);
        if count % 23 == 22 {
            return Err(StorageError::DiskFull {
                channel: frame.channels[0],
            });
        }
        let mut files = self
            .files
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for channel in &frame.channels {
            *files.entry(*channel).or_default() += frame.samples;
        }
        spin(Duration::from_micros(20 + (count % 7) * 10));
        alamos::bench!(channels = frame.channels.len(), "appended frame");
        // Storage throughput per node: on at the default threshold.
        alamos::counter!(
            "cesium_written",
            frame.bytes() as u64,
            unit = bytes,
            node = self.node
        );
        Ok(frame.samples * frame.channels.len())
    }

    /// Reads back a channel; a negative range is a corrupt request and panics.
    fn read(&self, channel: u32, range: i64) -> usize {
        assert!(range >= 0, "corrupt range {range} for channel {channel}");
        let files = self
            .files
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        files.get(&channel).copied().unwrap_or(0)
    }

    /// Merges small channel files; called by the compaction loop.
    #[alamos::level(debug)]
    fn compact(&self) -> usize {
        let files = self
            .files
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        alamos::debug!(node = self.node, files = files.len(), "compacted");
        files.len()
    }

    #[alamos::skip]
    fn size(&self) -> usize {
        self.files.lock().map_or(0, |files| files.values().sum())
    }

    #[alamos::skip]
    fn channels(&self) -> usize {
        self.files.lock().map_or(0, |files| files.len())
    }
}

// ----------------------------------------------------------- distribution --

/// A frame writer's lifecycle: open, write frames, commit.
struct FrameWriter {
    node: u32,
    cluster: Arc<Cluster>,
    written: usize,
}

#[alamos::experiment("distribution.frame_writer")]
impl FrameWriter {
    #[alamos::level(debug)]
    fn open(node: u32, cluster: Arc<Cluster>) -> Self {
        alamos::debug!(node, "opened frame writer");
        FrameWriter {
            node,
            cluster,
            written: 0,
        }
    }

    /// Routes a frame to the node that owns its first channel.
    #[alamos::experiment(fields(node = self.node, channels = frame.channels.len()))]
    #[allow(clippy::needless_pass_by_value)] // a frame is handed over, as in Synnax
    fn write(&mut self, frame: Frame) -> Result<usize, StorageError> {
        // Mean frame sizes along the writer's pathway (RFC 0011 §3.0.1).
        alamos::histogram!(
            "frame_size",
            frame.bytes() as f64,
            unit = bytes,
            describe = "Size of the frames written through a frame writer."
        );
        let owner = frame.channels[0] % NODES;
        let written = if owner == self.node {
            self.cluster.storage[owner as usize].write(&frame)?
        } else {
            self.cluster.relay(self.node, owner, &frame)?
        };
        self.written += written;
        Ok(written)
    }

    #[alamos::level(debug)]
    fn commit(self) -> usize {
        alamos::debug!(node = self.node, written = self.written, "committed");
        self.written
    }
}

/// The nodes of the cluster and the links between them.
struct Cluster {
    storage: Vec<Cesium>,
    relayed: AtomicU64,
    /// Frames handed to the relay and not yet stored on their owner.
    relay_queue: AtomicUsize,
}

#[alamos::experiment("distribution.relay", level = debug)]
impl Cluster {
    /// Forwards a frame to another node's storage (a network hop, simulated).
    fn relay(&self, from: u32, to: u32, frame: &Frame) -> Result<usize, StorageError> {
        alamos::bench!(from, to, "relaying frame");
        let depth = self.relay_queue.fetch_add(1, Ordering::Relaxed) + 1;
        // The network load on the distribution layer: off until
        // `ALAMOS_LEVEL=prod,distribution=debug`.
        alamos::gauge!(debug, "relay_queue_depth", depth as f64);
        alamos::counter!(
            debug,
            "relay_bytes",
            frame.bytes() as u64,
            unit = bytes,
            from = from,
            to = to
        );
        spin(Duration::from_micros(50));
        self.relayed.fetch_add(1, Ordering::Relaxed);
        let written = self.storage[to as usize].write(frame);
        self.relay_queue.fetch_sub(1, Ordering::Relaxed);
        written
    }

    #[alamos::experiment("distribution.heartbeat", level = bench)]
    fn heartbeat(&self, node: u32) -> bool {
        self.storage[node as usize].size() < usize::MAX
    }
}

// -------------------------------------------------------------------- api --

struct Api {
    cluster: Arc<Cluster>,
}

#[alamos::experiment("api.frames")]
impl Api {
    /// A client writes a batch of frames through one frame writer.
    fn write_frames(&self, node: u32, frames: Vec<Frame>) -> Result<usize, StorageError> {
        let mut writer = FrameWriter::open(node, Arc::clone(&self.cluster));
        for frame in frames {
            writer.write(frame)?;
        }
        Ok(writer.commit())
    }

    /// A client reads a channel; the panic of a corrupt request is caught here.
    fn read(&self, node: u32, channel: u32, range: i64) -> Option<usize> {
        let storage = &self.cluster.storage[node as usize];
        let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            storage.read(channel, range)
        }));
        if read.is_err() {
            alamos::error!(channel, "read failed: the storage layer panicked");
        }
        read.ok()
    }

    /// A streaming request: waits for `polls` ticks of new data.
    async fn stream(&self, channel: u32, polls: u32) -> usize {
        for _ in 0..polls {
            Tick::default().await;
        }
        self.cluster.storage[(channel % NODES) as usize].read(channel, 0)
    }
}

// ------------------------------------------------------------------ driver --

fn main() {
    let seconds = run_seconds();
    if std::env::var_os(alamos::env::PROMETHEUS_ADDR).is_none() {
        std::env::set_var(alamos::env::PROMETHEUS_ADDR, DEFAULT_ADDR);
    }
    let guard = alamos::init();
    if let Some(addr) = guard.prometheus_addr() {
        eprintln!("frame_writer: metrics on http://{addr}/metrics for {seconds} s");
        if std::env::var_os(alamos::env::ADMIN_TOKEN).is_some() {
            eprintln!(
                "frame_writer: admin endpoint on http://{addr}/alamos/tree (bearer token from {})",
                alamos::env::ADMIN_TOKEN
            );
        }
        publish_addr(addr);
    }
    report_configuration();

    let cluster = Arc::new(Cluster {
        storage: (0..NODES).map(Cesium::new).collect(),
        relayed: AtomicU64::new(0),
        relay_queue: AtomicUsize::new(0),
    });
    // The growth of cesium's cache over time (RFC 0011 §3.0.0): sampled when
    // metrics are read, not on every write.
    let _cache = alamos::Observer::new("storage.cesium", "cesium_cache_channels")
        .describe("Channel files cesium holds open, over all nodes.")
        .watch({
            let cluster = Arc::clone(&cluster);
            move || cluster.storage.iter().map(Cesium::channels).sum::<usize>() as f64
        });
    let api = Arc::new(Api {
        cluster: Arc::clone(&cluster),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);

    let mut threads = Vec::new();
    for node in 0..NODES {
        let (api, stop) = (Arc::clone(&api), Arc::clone(&stop));
        threads.push(thread::spawn(move || client(node, &api, &stop)));
    }
    threads.push(alamos::spawn("distribution.heartbeat_loop", {
        let (cluster, stop) = (Arc::clone(&cluster), Arc::clone(&stop));
        move || background(&cluster, &stop)
    }));
    threads.push(alamos::spawn("storage.cesium.compaction", {
        let (cluster, stop) = (Arc::clone(&cluster), Arc::clone(&stop));
        move || compaction(&cluster, &stop)
    }));
    // The gossip loop is a future: wrapped as a task here, run by whatever
    // executor the program uses (a tiny one below; `tokio::spawn` alike).
    let gossip = alamos::task("distribution.gossip", gossip(Arc::clone(&stop)));
    threads.push(thread::spawn(move || block_on(gossip)));
    threads.push(thread::spawn({
        let stop = Arc::clone(&stop);
        move || supervise_peer_sync(&stop)
    }));

    // A test that drives this program ends it early by creating this file.
    let stop_file = std::env::var_os("FRAME_WRITER_STOP_FILE").map(std::path::PathBuf::from);
    while Instant::now() < deadline && !stop_file.as_ref().is_some_and(|path| path.exists()) {
        thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        let _ = thread.join();
    }
    eprintln!(
        "frame_writer: stored {} samples, relayed {} frames\n\n{}",
        cluster.storage.iter().map(Cesium::size).sum::<usize>(),
        cluster.relayed.load(Ordering::Relaxed),
        alamos::tree()
    );
    let linger = flag_seconds("--linger", "FRAME_WRITER_LINGER").unwrap_or(0.0);
    if linger > 0.0 {
        eprintln!("frame_writer: load stopped; lingering {linger} s");
        thread::sleep(Duration::from_secs_f64(linger));
    }
    drop(guard);
}

/// One client per node: batches of writes, reads (one corrupt), streams.
fn client(node: u32, api: &Api, stop: &AtomicBool) {
    let (tx, rx) = mpsc::channel();
    let mut round = 0_u32;
    while !stop.load(Ordering::Relaxed) {
        round += 1;
        let frames = (0..4)
            .map(|i| Frame {
                channels: vec![node * 10 + i, node * 10 + i + 1],
                samples: 64,
            })
            .collect();
        if let Err(err) = api.write_frames(node, frames) {
            alamos::warn!(node, error = %err, "write batch failed");
        }
        let range = if round.is_multiple_of(10) && node == 0 {
            -1
        } else {
            10
        };
        let _ = api.read(node, node * 10, range);
        // Every third stream gets one tick too few: its future is dropped
        // before completion, which counts as `cancelled`.
        let polls = 3 + round % 3;
        let served = block_on_with_budget(api.stream(node * 10, polls), 4);
        let _ = tx.send(served);
        thread::sleep(Duration::from_millis(150));
    }
    drop(tx);
    let _: usize = rx.iter().flatten().count();
}

fn background(cluster: &Cluster, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        for node in 0..NODES {
            cluster.heartbeat(node);
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Cesium's compaction loop: a long-running task on its own thread.
fn compaction(cluster: &Cluster, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        for storage in &cluster.storage {
            storage.compact();
        }
        thread::sleep(COMPACTION_INTERVAL);
    }
}

/// Gossip with the other nodes, as a future: one round per interval.
async fn gossip(stop: Arc<AtomicBool>) {
    let mut round = 0_u64;
    while !stop.load(Ordering::Relaxed) {
        round += 1;
        alamos::bench!(round, "gossip round");
        Sleep::new(GOSSIP_INTERVAL).await;
    }
}

#[derive(Debug)]
struct PeerUnreachable(u32);

/// Keeps the peer sync running: it loses its peer after a while, fails,
/// and is started again (a restart of the task `distribution.peer_sync`).
fn supervise_peer_sync(stop: &Arc<AtomicBool>) {
    let mut attempt = 0_u32;
    while !stop.load(Ordering::Relaxed) {
        attempt += 1;
        let sync = alamos::spawn("distribution.peer_sync", {
            let stop = Arc::clone(stop);
            move || -> Result<(), PeerUnreachable> {
                let started = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    if started.elapsed() >= PEER_SYNC_LIFETIME {
                        return Err(PeerUnreachable(attempt % NODES));
                    }
                    thread::sleep(Duration::from_millis(20));
                }
                Ok(())
            }
        });
        match sync.join() {
            Ok(Err(PeerUnreachable(node))) => {
                alamos::warn!(node, attempt, "peer sync lost its peer; restarting");
            }
            Ok(Ok(())) => {}
            Err(_) => alamos::error!(attempt, "peer sync panicked; restarting"),
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// `--seconds N`, or `FRAME_WRITER_SECONDS`, or 5.
fn run_seconds() -> f64 {
    flag_seconds("--seconds", "FRAME_WRITER_SECONDS").unwrap_or(5.0)
}

/// A positive number of seconds from `--flag N`, `--flag=N` or `variable`.
fn flag_seconds(flag: &str, variable: &str) -> Option<f64> {
    let mut args = std::env::args().skip(1);
    let from_args = loop {
        match args.next() {
            Some(arg) if arg == flag => break args.next(),
            Some(arg) if arg.starts_with(&format!("{flag}=")) => {
                break Some(arg[flag.len() + 1..].to_owned())
            }
            Some(_) => {}
            None => break None,
        }
    };
    let value = from_args.or_else(|| std::env::var(variable).ok())?;
    match value.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds > 0.0 => Some(seconds),
        _ => {
            eprintln!(
                "frame_writer: {flag} takes a positive number of seconds; ignoring {value:?}"
            );
            None
        }
    }
}

/// Lets a test that starts this program find the endpoint on a chosen port.
fn publish_addr(addr: SocketAddr) {
    if let Some(path) = std::env::var_os("FRAME_WRITER_ADDR_FILE") {
        let _ = std::fs::write(path, addr.to_string());
    }
}

fn spin(duration: Duration) {
    let start = Instant::now();
    while start.elapsed() < duration {
        std::hint::spin_loop();
    }
}

/// A future that is pending once, then ready: one tick of a stream.
#[derive(Default)]
struct Tick(bool);

impl Future for Tick {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// A timer future: ready once `duration` has passed, woken by a helper
/// thread (enough for an example; real programs have an executor's timers).
struct Sleep {
    deadline: Instant,
    armed: bool,
}

impl Sleep {
    fn new(duration: Duration) -> Self {
        Sleep {
            deadline: Instant::now() + duration,
            armed: false,
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let now = Instant::now();
        if now >= self.deadline {
            return Poll::Ready(());
        }
        if !self.armed {
            self.armed = true;
            let (waker, wait) = (cx.waker().clone(), self.deadline - now);
            thread::spawn(move || {
                thread::sleep(wait);
                waker.wake();
            });
        }
        Poll::Pending
    }
}

/// Runs a future to completion on this thread, parking between polls.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        thread::park();
    }
}

/// Polls `future` at most `budget` times; drops it (cancelling it) if it is
/// still pending then.
fn block_on_with_budget<F: Future>(future: F, budget: u32) -> Option<F::Output> {
    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
    let waker = Waker::from(Arc::new(Noop));
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(&waker);
    for _ in 0..budget {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return Some(output);
        }
    }
    None
}
