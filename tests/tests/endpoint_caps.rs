//! The endpoint's connection caps (issue 18, item 1): 128 connections with
//! a request in flight and 512 idle ones, the oldest cut first when a new
//! one comes, and `/metrics` answering throughout. A server of its own
//! (`src/bin/admin_probe.rs`) on loopback; about 700 sockets for a second.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use alamos_tests::http_request;

const MAX_IN_FLIGHT: usize = 128;
const MAX_IDLE: usize = 512;

/// Whether the server has closed `stream` (without waiting: call it once
/// the server has had time to act).
fn closed(stream: &mut TcpStream) -> bool {
    stream.set_nonblocking(true).expect("non-blocking");
    match stream.read(&mut [0_u8; 64]) {
        Ok(0) => true,
        Ok(_) => panic!("an answer to a request that never ended"),
        Err(err) => err.kind() != ErrorKind::WouldBlock,
    }
}

fn connect(addr: SocketAddr, send: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connects");
    stream.write_all(send).expect("sends");
    stream
}

#[test]
fn the_oldest_partial_request_and_the_oldest_idle_connection_go_first() {
    let mut child = alamos_tests::probe_command(env!("CARGO_BIN_EXE_admin_probe"))
        .env(alamos::env::PROMETHEUS_ADDR, "127.0.0.1:0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the server starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the address");
    let addr: SocketAddr = line.trim().parse().expect("an address");

    // Two more partial heads than the cap: the first two are cut.
    let partial = b"GET /metrics HTTP/1.1\r\nX-Slow: a";
    let mut heads: Vec<TcpStream> = Vec::new();
    for _ in 0..MAX_IN_FLIGHT + 2 {
        heads.push(connect(addr, partial));
        // Each is read before the next comes, so their order is known.
        std::thread::sleep(Duration::from_millis(1));
    }
    // A whole request still gets in (cutting the next oldest partial one).
    assert_eq!(http_request(addr, "GET", "/metrics", &[], b"").status, 200);
    std::thread::sleep(Duration::from_millis(100));
    let cut: Vec<usize> = (0..heads.len())
        .filter(|&index| closed(&mut heads[index]))
        .collect();
    assert_eq!(cut, [0, 1, 2], "the oldest partial heads, and no other");

    // Idle connections beyond the cap close the oldest idle ones.
    let mut idle: Vec<TcpStream> = Vec::new();
    for _ in 0..MAX_IDLE + 3 {
        idle.push(connect(addr, b""));
    }
    std::thread::sleep(Duration::from_millis(300));
    let cut: Vec<usize> = (0..idle.len())
        .filter(|&index| closed(&mut idle[index]))
        .collect();
    assert_eq!(cut, [0, 1, 2], "the oldest idle connections, and no other");
    assert_eq!(http_request(addr, "GET", "/metrics", &[], b"").status, 200);

    drop((heads, idle));
    let _ = child.stdin.take().expect("stdin").write_all(b"bye\n");
    assert!(child.wait().expect("the server ends").success());
}

#[test]
fn out_of_descriptors_the_oldest_idle_connection_makes_room() {
    // The server may open 64 descriptors: about 50 connections.
    let mut child = Command::new("sh")
        .args(["-c", "ulimit -n 64 && exec \"$0\""])
        .arg(env!("CARGO_BIN_EXE_admin_probe"))
        .env_remove(alamos::env::ADMIN_TOKEN)
        .env(alamos::env::PROMETHEUS_ADDR, "127.0.0.1:0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the server starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the address");
    let addr: SocketAddr = line.trim().parse().expect("an address");

    let mut idle: Vec<TcpStream> = (0..100).map(|_| connect(addr, b"")).collect();
    // Accepting goes on, closing the oldest idle connections to make room.
    let start = std::time::Instant::now();
    assert_eq!(http_request(addr, "GET", "/metrics", &[], b"").status, 200);
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    std::thread::sleep(Duration::from_millis(100));
    let cut: Vec<usize> = (0..idle.len())
        .filter(|&index| closed(&mut idle[index]))
        .collect();
    assert!(cut.len() >= 40 && cut.len() < 100, "{cut:?}");
    assert_eq!(cut, (0..cut.len()).collect::<Vec<_>>(), "the oldest first");

    drop(idle);
    let _ = child.stdin.take().expect("stdin").write_all(b"bye\n");
    assert!(child.wait().expect("the server ends").success());
}
