//! The exposition against the real thing: `promtool check metrics` lints it,
//! and a Prometheus 2.x server scrapes this test process and answers queries.
//!
//! Needs `prometheus` and `promtool` on PATH (`.ci/install.sh` installs them).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Full;

impl std::fmt::Display for Full {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("full")
    }
}

#[alamos::experiment("prom_test.writer", err)]
fn write(n: u32) -> Result<u32, Full> {
    if n % 5 == 4 {
        return Err(Full);
    }
    std::thread::sleep(Duration::from_micros(200));
    Ok(n)
}

#[alamos::experiment("prom_test.relay", labels(node = node % 3))]
fn relay(node: u32) -> u32 {
    node + 1
}

#[alamos::experiment("prom_test.reader")]
fn read(corrupt: bool) -> u32 {
    assert!(!corrupt, "corrupt \"frame\"\nwith a newline");
    7
}

// Known at start-up without being called: dead code, and still listed.
#[expect(dead_code)]
#[alamos::experiment("prom_test.idle")]
fn never_called() {}

fn guard() -> &'static alamos::Guard {
    static GUARD: OnceLock<alamos::Guard> = OnceLock::new();
    GUARD.get_or_init(|| {
        alamos::Builder::new()
            .subscriber(false)
            .prometheus_addr(SocketAddr::from(([127, 0, 0, 1], 0)))
            .install()
            .expect("alamos installs")
    })
}

/// Frames of 1,000 to 3,000 bytes: the median is in the `le="4096"` bucket.
#[alamos::experiment("prom_test.frames")]
fn frame(n: u32) {
    alamos::histogram!("frame_size", f64::from(1_000 + n % 2_001), unit = bytes);
    alamos::counter!("frames_written", 1, node = n % 2);
    alamos::gauge!("frames_pending", f64::from(n % 7));
}

/// Switched off by the scrape test while Prometheus watches.
#[alamos::experiment("prom_test.switch")]
fn switched() {
    alamos::counter!("switched_events", 1);
}

fn exercise(round: u32) {
    for n in 0..10 {
        let _ = write(round * 10 + n);
        relay(n);
        frame(round * 97 + n * 13);
        switched();
    }
    let _ = std::panic::catch_unwind(|| read(round == 0));
}

fn require(tool: &str) {
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    assert!(found, "`{tool}` is not installed: run .ci/install.sh");
}

#[test]
fn promtool_accepts_the_exposition() {
    require("promtool");
    let guard = guard();
    exercise(0);
    let exposition = guard.render().expect("alamos's recorder is installed");

    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    promtool
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(exposition.as_bytes())
        .expect("promtool reads the exposition");
    let output = promtool.wait_with_output().expect("promtool finishes");
    let complaints = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && complaints.trim().is_empty(),
        "promtool rejected the exposition ({:?}): {complaints}\n{exposition}",
        output.status
    );

    for family in [
        "# TYPE alamos_calls_total counter",
        "# TYPE alamos_call_duration_seconds histogram",
        "# TYPE alamos_calls_in_flight gauge",
        "# HELP alamos_call_duration_seconds ",
        "# TYPE frame_size_bytes histogram",
        "# HELP frame_size_bytes ",
        "# TYPE frames_written_total counter",
        "# TYPE frames_pending gauge",
    ] {
        assert!(
            exposition.contains(family),
            "missing {family:?} in\n{exposition}"
        );
    }
    // Another test in this binary may be calling the same functions, so
    // counts are lower bounds.
    let at_least = |series: &str, minimum: f64| {
        let value = sample(&exposition, series);
        assert!(
            value.is_some_and(|v| v >= minimum),
            "{series} is {value:?}, expected at least {minimum}, in\n{exposition}"
        );
    };
    at_least(
        r#"alamos_calls_total{experiment="prom_test.writer",function="write",outcome="error"}"#,
        2.0,
    );
    at_least(
        r#"alamos_calls_total{experiment="prom_test.reader",function="read",outcome="panic"}"#,
        1.0,
    );
    at_least(
        r#"alamos_calls_total{experiment="prom_test.relay",function="relay",node="2",outcome="ok"}"#,
        3.0,
    );
    at_least(
        r#"alamos_call_duration_seconds_bucket{experiment="prom_test.writer",function="write",le="+Inf"}"#,
        10.0,
    );
    at_least(
        r#"alamos_call_duration_seconds_count{experiment="prom_test.writer",function="write"}"#,
        10.0,
    );
    // Enabled but never called: its series exist, at zero, from start-up.
    assert_eq!(
        sample(
            &exposition,
            r#"alamos_calls_total{experiment="prom_test.idle",function="never_called",outcome="ok"}"#
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &exposition,
            r#"alamos_calls_in_flight{experiment="prom_test.idle",function="never_called"}"#
        ),
        Some(0.0)
    );
}

/// The value of one series in an exposition.
fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.parse().ok()
    })
}

/// A Prometheus server on a free loopback port, stopped when dropped.
struct Prometheus {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Prometheus {
    fn start(target: SocketAddr) -> Prometheus {
        require("prometheus");
        let dir = std::env::temp_dir().join(format!(
            "alamos-prometheus-{}-{}",
            std::process::id(),
            Instant::now().elapsed().as_nanos()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: alamos\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .expect("config written");
        let addr = free_port();
        let log = std::fs::File::create(dir.join("prometheus.log")).expect("log file");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--web.enable-lifecycle")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus starts");
        let prometheus = Prometheus { child, addr, dir };
        prometheus.wait_until("ready", Duration::from_secs(20), || {
            http("GET", prometheus.addr, "/-/ready").is_some_and(|(status, _)| status == 200)
        });
        prometheus
    }

    fn query(&self, promql: &str) -> serde_json::Value {
        let path = format!("/api/v1/query?query={}", percent_encode(promql));
        let (status, body) = http("GET", self.addr, &path).expect("query answered");
        assert_eq!(status, 200, "query {promql:?} failed: {body}");
        let json: serde_json::Value = serde_json::from_str(&body).expect("JSON answer");
        json["data"]["result"].clone()
    }

    fn wait_until(&self, what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
        let start = Instant::now();
        while !done() {
            assert!(
                start.elapsed() < timeout,
                "prometheus not {what} after {timeout:?}; its log:\n{}",
                std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = http("POST", self.addr, "/-/quit");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("bound")
}

/// A one-shot HTTP/1.0 exchange (no chunked bodies), `None` if the server is
/// not answering yet.
fn http(method: &str, addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    Some((status, body.to_owned()))
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn first_value(result: &serde_json::Value) -> Option<f64> {
    result.get(0)?["value"][1].as_str()?.parse().ok()
}

#[test]
fn prometheus_scrapes_and_answers_queries() {
    let target = guard().prometheus_addr().expect("the endpoint is served");
    let stop = Arc::new(AtomicBool::new(false));
    let load = std::thread::spawn({
        let stop = Arc::clone(&stop);
        move || {
            let mut round = 1;
            while !stop.load(Ordering::Relaxed) {
                exercise(round);
                round += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    });
    let started = Instant::now();
    let prometheus = Prometheus::start(target);

    let ok_calls = r#"alamos_calls_total{experiment="prom_test.writer",outcome="ok"}"#;
    prometheus.wait_until("scraping", Duration::from_secs(40), || {
        first_value(&prometheus.query(ok_calls)).is_some_and(|v| v > 0.0)
    });
    let result = prometheus.query(ok_calls);
    let metric = &result[0]["metric"];
    assert_eq!(metric["__name__"], "alamos_calls_total");
    assert_eq!(metric["experiment"], "prom_test.writer");
    assert_eq!(metric["function"], "write");
    assert_eq!(metric["outcome"], "ok");
    assert_eq!(metric["job"], "alamos");
    assert_eq!(metric["instance"], target.to_string());

    let errors =
        prometheus.query(r#"alamos_calls_total{experiment="prom_test.writer",outcome="error"}"#);
    assert!(first_value(&errors).is_some_and(|v| v > 0.0), "{errors}");

    // write() sleeps 200 us on success: the median is a few hundred microseconds.
    let median = prometheus.query(
        r#"histogram_quantile(0.5, sum by (le) (alamos_call_duration_seconds_bucket{experiment="prom_test.writer"}))"#,
    );
    let median = first_value(&median).expect("a median");
    assert!((0.000_1..0.1).contains(&median), "median {median}");

    let targets = http("GET", prometheus.addr, "/api/v1/targets").expect("targets");
    let targets: serde_json::Value = serde_json::from_str(&targets.1).expect("JSON");
    let active = &targets["data"]["activeTargets"][0];
    assert_eq!(active["health"], "up", "{active}");
    assert_eq!(active["lastError"], "", "{active}");

    // Frames are 1,000 to 3,000 bytes: their median lies in (1024, 4096].
    let frame_median = prometheus.query(
        r#"histogram_quantile(0.5, sum by (le) (frame_size_bytes_bucket{experiment="prom_test.frames"}))"#,
    );
    let frame_median = first_value(&frame_median).expect("a frame-size median");
    assert!(
        (1024.0..=4096.0).contains(&frame_median),
        "median frame size {frame_median}"
    );
    let per_node =
        prometheus.query(r#"sum by (node) (frames_written_total{experiment="prom_test.frames"})"#);
    assert_eq!(per_node.as_array().map(Vec::len), Some(2), "{per_node}");

    // A switched-off instrument's series stays and stops growing.
    let switched = r#"switched_events_total{experiment="prom_test.switch"}"#;
    prometheus.wait_until("seeing the switch grow", Duration::from_secs(20), || {
        first_value(&prometheus.query(&format!("increase({switched}[3s])")))
            .is_some_and(|v| v > 0.0)
    });
    alamos::set_level("prom_test.switch", alamos::LevelFilter::Off).expect("a known key");
    let frozen = guard().render().and_then(|text| sample(&text, switched));
    // Four scrapes later, every sample in the window equals the frozen value.
    std::thread::sleep(Duration::from_secs(4));
    let window = prometheus.query(&format!("changes({switched}[3s])"));
    assert_eq!(first_value(&window), Some(0.0), "{window}");
    let last = first_value(&prometheus.query(switched));
    assert_eq!(
        last, frozen,
        "the value Prometheus holds is the one at switch-off"
    );
    alamos::set_level("prom_test.switch", alamos::Level::Prod).expect("a known key");

    eprintln!(
        "prometheus: {ok_calls} = {:?}, median write {median:.6} s, median frame {frame_median:.0} B, \
         {switched} frozen at {frozen:?}, {:.1} s from start to answer",
        first_value(&prometheus.query(ok_calls)),
        started.elapsed().as_secs_f64()
    );
    drop(prometheus);
    stop.store(true, Ordering::Relaxed);
    load.join().expect("load thread");
}
