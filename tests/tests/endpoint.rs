//! The `/metrics` endpoint, label caps and the tree view, with alamos's
//! recorder installed as this test binary's global recorder.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

#[alamos::experiment("endpoint.relay", labels(peer = peer))]
fn relay(peer: u32) -> u32 {
    peer
}

#[alamos::experiment("endpoint.tree.leaf")]
fn leaf() {}

// Known at start-up without being called: dead code, and still listed.
#[expect(dead_code)]
#[alamos::experiment("endpoint.tree.quiet", level = debug)]
fn quiet() {}

fn guard() -> &'static alamos::Guard {
    static GUARD: OnceLock<alamos::Guard> = OnceLock::new();
    GUARD.get_or_init(|| {
        alamos::Builder::new()
            .subscriber(false)
            .max_label_sets(3)
            .prometheus_addr(SocketAddr::from(([127, 0, 0, 1], 0)))
            .install()
            .expect("alamos installs")
    })
}

fn addr() -> SocketAddr {
    guard().prometheus_addr().expect("served")
}

/// Sends raw bytes and reads until the server closes or `timeout` passes.
fn exchange(request: &[u8], timeout: Duration) -> String {
    let mut stream = TcpStream::connect(addr()).expect("connects");
    stream.set_read_timeout(Some(timeout)).expect("timeout");
    stream.write_all(request).expect("sends");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    String::from_utf8_lossy(&response).into_owned()
}

fn status(response: &str) -> &str {
    response.split("\r\n").next().unwrap_or("")
}

#[test]
fn serves_get_metrics_only() {
    let ok = exchange(
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    assert_eq!(status(&ok), "HTTP/1.1 200 OK", "{ok}");
    assert!(
        ok.contains("Content-Type: text/plain; version=0.0.4"),
        "{ok}"
    );
    let not_found = exchange(
        b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    assert_eq!(status(&not_found), "HTTP/1.1 404 Not Found");
    let post = exchange(
        b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    assert_eq!(status(&post), "HTTP/1.1 405 Method Not Allowed");
    assert!(post.contains("Allow: GET"), "{post}");
    let head = exchange(
        b"HEAD /metrics HTTP/1.1\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    assert_eq!(status(&head), "HTTP/1.1 405 Method Not Allowed");
}

#[test]
fn rejects_malformed_requests() {
    for request in [
        &b"garbage\r\n\r\n"[..],
        b"GET /metrics\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nno-colon-header\r\n\r\n",
        b"\xff\xfe\r\n\r\n",
    ] {
        let response = exchange(request, Duration::from_secs(5));
        assert_eq!(
            status(&response),
            "HTTP/1.1 400 Bad Request",
            "{request:?}: {response}"
        );
    }
    let huge = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(10_000));
    let response = exchange(huge.as_bytes(), Duration::from_secs(5));
    assert!(status(&response).starts_with("HTTP/1.1 431"), "{response}");
}

#[test]
fn keeps_connections_alive() {
    let mut stream = TcpStream::connect(addr()).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    for _ in 0..3 {
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("sends");
        let mut head = Vec::new();
        let mut byte = [0_u8];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).expect("reads the head");
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head);
        assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .and_then(|v| v.trim().parse().ok())
            .expect("a length");
        let mut body = vec![0_u8; length];
        stream.read_exact(&mut body).expect("reads the body");
    }
}

#[test]
fn a_stalled_client_does_not_block_others() {
    // Opens a connection and sends half a request, then nothing.
    let mut stalled = TcpStream::connect(addr()).expect("connects");
    stalled.write_all(b"GET /met").expect("sends");
    let start = Instant::now();
    let ok = exchange(b"GET /metrics HTTP/1.0\r\n\r\n", Duration::from_secs(5));
    assert_eq!(status(&ok), "HTTP/1.1 200 OK");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    drop(stalled);
}

#[test]
fn label_sets_are_capped_and_the_excess_is_counted() {
    let guard = guard();
    for peer in 0..10 {
        relay(peer);
        relay(peer);
    }
    let exposition = guard.render().expect("rendered");
    let ok_series: Vec<&str> = exposition
        .lines()
        .filter(|l| {
            l.starts_with("alamos_calls_total{experiment=\"endpoint.relay\"")
                && l.contains("outcome=\"ok\"")
        })
        .collect();
    assert_eq!(
        ok_series.len(),
        4,
        "three label sets and the overflow: {ok_series:#?}"
    );
    assert!(
        ok_series.contains(&"alamos_calls_total{experiment=\"endpoint.relay\",function=\"relay\",peer=\"__overflow__\",outcome=\"ok\"} 14"),
        "{ok_series:#?}"
    );
    assert!(
        exposition.contains(
            "alamos_label_overflow_total{experiment=\"endpoint.relay\",function=\"relay\"} 14"
        ),
        "{exposition}"
    );
}

#[test]
fn the_tree_view_draws_every_experiment_with_counts() {
    let _ = guard();
    leaf();
    leaf();
    let view = alamos::tree().to_string();
    let line = |key: &str| {
        view.lines()
            .find(|l| l.split_whitespace().any(|word| word == key))
            .unwrap_or_else(|| panic!("no {key} in\n{view}"))
            .to_owned()
    };
    assert!(view.starts_with("experiment"), "{view}");
    assert!(line("(root)").contains("prod"));
    assert!(line("endpoint").contains("─ endpoint"), "{view}");
    let leaf = line("endpoint.tree.leaf");
    assert!(leaf.contains("── endpoint.tree.leaf"), "{view}");
    // The counts come first; p50 and p99 may be whole numbers too (`500 ns`).
    let numbers: Vec<u64> = leaf
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .take(5)
        .collect();
    assert_eq!(
        numbers,
        [2, 0, 0, 0, 0],
        "calls, errors, panics, cancelled, in flight: {leaf}"
    );
    // p50 and p99 of the two calls' durations, in a time unit.
    let units = leaf
        .split_whitespace()
        .filter(|w| ["ns", "µs", "ms", "s"].contains(w))
        .count();
    assert_eq!(units, 2, "p50 and p99: {leaf}");
    assert!(view.lines().next().unwrap().contains("p99"), "{view}");
    let quiet = line("endpoint.tree.quiet");
    assert!(quiet.contains("debug") && quiet.contains("prod"), "{quiet}");
}
