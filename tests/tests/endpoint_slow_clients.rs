//! The endpoint stays up under slow, idle and flooding clients (issue 18,
//! item 1): hundreds of clients that send part of a request head and then a
//! byte every 3 s (reconnecting whenever they are cut), a hundred that
//! connect and send nothing, and a flood of `GET /metrics` on keep-alive
//! connections, while a prober's `GET /metrics` and an operator's `GET
//! /alamos/levels` keep answering within 100 ms, and the server's threads
//! and file descriptors stay bounded.
//!
//! The server runs in a process of its own (`src/bin/admin_probe.rs`), so
//! that its threads and descriptors can be counted in `/proc`. Loopback
//! only; the attack runs for 12 s, longer than any of the server's
//! deadlines, and the whole test takes about 15 s. `SLOW_CLIENTS` (default
//! 300), `IDLE_CLIENTS` (100) and `FLOOD_THREADS` (2) rerun it with other
//! numbers; with `--nocapture` it prints its figures.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const TOKEN: &str = "slow-clients-admin-token-42";
/// How long the prober probes, under attack.
const ATTACK: Duration = Duration::from_secs(12);
const PROBE_EVERY: Duration = Duration::from_millis(100);
/// How soon each probe must be answered.
const WITHIN: Duration = Duration::from_millis(100);
/// A slow client's byte cadence.
const DRIBBLE: Duration = Duration::from_secs(3);
/// The start of a slow client's request: a head that never ends.
const PARTIAL_HEAD: &[u8] = b"GET /metrics HTTP/1.1\r\nHost: slow\r\nX-Slow: ";

/// A number from the environment, for reruns with other figures.
fn count(name: &str, otherwise: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(otherwise)
}

/// The server, in a process of its own.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start() -> Server {
        let mut child = alamos_tests::probe_command(env!("CARGO_BIN_EXE_admin_probe"))
            .env(alamos::env::PROMETHEUS_ADDR, "127.0.0.1:0")
            .env(alamos::env::ADMIN_TOKEN, TOKEN)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the server says where it serves");
        let addr = line.trim().parse().expect("an address");
        Server { child, addr }
    }

    /// Its threads and open file descriptors.
    fn load(&self) -> (usize, usize) {
        let pid = self.child.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let threads = status
            .lines()
            .find_map(|line| line.strip_prefix("Threads:"))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count);
        (threads, fds)
    }

    fn stop(mut self) -> String {
        let _ = self.child.stdin.take().expect("stdin").write_all(b"bye\n");
        let output = self.child.wait_with_output().expect("the server ends");
        String::from_utf8_lossy(&output.stderr).into_owned()
    }
}

/// Reads one response on a kept-alive connection: its status.
fn read_response(stream: &mut TcpStream) -> std::io::Result<u16> {
    let mut head = Vec::new();
    let mut byte = [0_u8];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte)?;
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let status = head
        .get(9..12)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("Content-Length: "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0_u8; length];
    stream.read_exact(&mut body)?;
    Ok(status)
}

/// One request on a fresh connection: its status (0 if none came) and how
/// long it took, connecting included.
fn probe(addr: SocketAddr, request: &[u8]) -> (u16, Duration) {
    let start = Instant::now();
    let attempt = || -> std::io::Result<u16> {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        stream.write_all(request)?;
        read_response(&mut stream)
    };
    let status = attempt().unwrap_or(0);
    (status, start.elapsed())
}

/// A slow client: connected, part of a head sent, the next byte due.
struct Slow {
    stream: Option<TcpStream>,
    due: Instant,
}

fn connect_slow(addr: SocketAddr) -> Option<TcpStream> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    stream.write_all(PARTIAL_HEAD).ok()?;
    Some(stream)
}

fn connect_idle(addr: SocketAddr) -> Option<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    stream.set_nonblocking(true).ok()?;
    Some(stream)
}

/// Keeps `slow` slow clients dribbling and the idle ones connected until
/// `stop`; counts the times the server cut one.
fn attack(addr: SocketAddr, slow: usize, idle: usize, stop: &AtomicBool, cuts: &AtomicUsize) {
    let start = Instant::now();
    let mut slows: Vec<Slow> = (0..slow)
        .map(|index| Slow {
            stream: connect_slow(addr),
            // Spread over the cadence, so bytes arrive all the time.
            due: start
                + DRIBBLE * u32::try_from(index).unwrap_or(0) / u32::try_from(slow).unwrap_or(1),
        })
        .collect();
    let mut idles: Vec<Option<TcpStream>> = (0..idle).map(|_| connect_idle(addr)).collect();
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        for client in &mut slows {
            if now < client.due {
                continue;
            }
            client.due = now + DRIBBLE;
            let sent = client
                .stream
                .as_mut()
                .is_some_and(|stream| stream.write_all(b"a").is_ok());
            if !sent {
                cuts.fetch_add(1, Ordering::Relaxed);
                client.stream = connect_slow(addr);
            }
        }
        for idle in &mut idles {
            let open = idle.as_mut().is_some_and(|stream| {
                matches!(stream.read(&mut [0_u8; 64]), Err(err) if err.kind() == ErrorKind::WouldBlock)
            });
            if !open {
                *idle = connect_idle(addr);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Scrapes as fast as it can on keep-alive connections until `stop`;
/// counts the answers.
fn flood(addr: SocketAddr, stop: &AtomicBool, answers: &AtomicUsize) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
            continue;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        while !stop.load(Ordering::Relaxed) {
            let asked = stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: flood\r\n\r\n");
            if asked.is_err() || read_response(&mut stream).is_err() {
                break;
            }
            answers.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// How many probes were answered 200 within [`WITHIN`], and the slowest.
fn summary(probes: &[(u16, Duration)]) -> (usize, Duration) {
    let quick = probes
        .iter()
        .filter(|(status, took)| *status == 200 && *took <= WITHIN)
        .count();
    let slowest = probes
        .iter()
        .map(|(_, took)| *took)
        .max()
        .unwrap_or_default();
    (quick, slowest)
}

#[test]
fn slow_idle_and_flooding_clients_never_keep_metrics_or_admin_waiting() {
    let slow = count("SLOW_CLIENTS", 300);
    let idle = count("IDLE_CLIENTS", 100);
    let flooders = count("FLOOD_THREADS", 2);
    let server = Server::start();
    let addr = server.addr;
    let metrics = b"GET /metrics HTTP/1.1\r\nHost: prober\r\nConnection: close\r\n\r\n".to_vec();
    let levels = format!(
        "GET /alamos/levels HTTP/1.1\r\nHost: operator\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    assert_eq!(probe(addr, &metrics).0, 200, "before the attack");
    assert_eq!(probe(addr, &levels).0, 200, "before the attack");

    let stop = AtomicBool::new(false);
    let (cuts, flooded) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let mut scrapes = Vec::new();
    let mut admin = Vec::new();
    let mut most = (0, 0);
    std::thread::scope(|scope| {
        scope.spawn(|| attack(addr, slow, idle, &stop, &cuts));
        for _ in 0..flooders {
            scope.spawn(|| flood(addr, &stop, &flooded));
        }
        // Let every slow client connect and start its head.
        std::thread::sleep(Duration::from_secs(1));
        let start = Instant::now();
        while start.elapsed() < ATTACK {
            let tick = Instant::now();
            scrapes.push(probe(addr, &metrics));
            admin.push(probe(addr, &levels));
            let (threads, fds) = server.load();
            most = (most.0.max(threads), most.1.max(fds));
            std::thread::sleep(PROBE_EVERY.saturating_sub(tick.elapsed()));
        }
        stop.store(true, Ordering::Relaxed);
    });
    let stderr = server.stop();

    let (quick_scrapes, slowest_scrape) = summary(&scrapes);
    let (quick_admin, slowest_admin) = summary(&admin);
    let (cuts, flooded) = (cuts.into_inner(), flooded.into_inner());
    let (threads, fds) = most;
    let figures = format!(
        "{slow} slow clients, {idle} idle, {flooders} flooding ({flooded} answers): \
         GET /metrics {quick_scrapes} of {} answered 200 within {WITHIN:?} (slowest {slowest_scrape:?}); \
         GET /alamos/levels {quick_admin} of {} (slowest {slowest_admin:?}); \
         slow clients cut {cuts} times; the server had at most {threads} threads and {fds} descriptors",
        scrapes.len(),
        admin.len(),
    );
    println!("{figures}");

    // Every probe answered, and (on a machine that is not starved of CPU)
    // within 100 ms: allow a few late ones for the scheduler, none lost.
    let allowed_late = scrapes.len() / 20;
    assert!(
        scrapes
            .iter()
            .chain(&admin)
            .all(|(status, _)| *status == 200),
        "a probe went unanswered: {figures}\n{scrapes:?}\n{admin:?}\n{stderr}"
    );
    assert!(
        scrapes.len() - quick_scrapes <= allowed_late && admin.len() - quick_admin <= allowed_late,
        "{figures}"
    );
    assert!(
        slowest_scrape < Duration::from_secs(1) && slowest_admin < Duration::from_secs(1),
        "{figures}"
    );
    // The flood was served too, and the deadlines cut the slow clients.
    assert!(flooders == 0 || flooded > 100, "{figures}");
    assert!(
        cuts >= slow,
        "each slow client is cut at least once: {figures}"
    );
    // A thread per connection would be hundreds; the idle and in-flight
    // caps bound the descriptors (512 + 128, and the process's own).
    assert!(threads <= 16, "{figures}");
    assert!(fds <= 512 + 128 + 32, "{figures}");
}

/// Sends `head` a byte every `every` (all of it at once if `every` is
/// `None`, nothing if it is empty) until the server closes the connection:
/// how long that took, or `None` if it was still open after `patience`.
fn closed_after(
    addr: SocketAddr,
    head: &[u8],
    every: Option<Duration>,
    patience: Duration,
) -> Option<Duration> {
    let mut stream = TcpStream::connect(addr).expect("connects");
    let start = Instant::now();
    let tick = every.unwrap_or(Duration::from_millis(100));
    stream.set_read_timeout(Some(tick)).expect("timeout");
    match every {
        None => stream.write_all(head).expect("sends"),
        Some(_) => stream.write_all(&head[..1]).expect("sends"),
    }
    let mut sent = 1;
    while start.elapsed() < patience {
        match stream.read(&mut [0_u8; 256]) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => panic!("an answer to a head that never ended"),
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return Some(start.elapsed()),
        }
        if every.is_some()
            && stream
                .write_all(&head[sent % head.len()..=sent % head.len()])
                .is_err()
        {
            return Some(start.elapsed());
        }
        sent += 1;
    }
    None
}

#[test]
fn each_connection_has_deadlines_of_its_own() {
    let server = Server::start();
    let addr = server.addr;
    let partial =
        b"GET /metrics HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    std::thread::scope(|scope| {
        // Part of a head, then nothing: cut after the 2 s stall timeout.
        let stalled = scope.spawn(|| closed_after(addr, partial, None, Duration::from_secs(8)));
        // A byte every 500 ms never stalls, but the head must be whole
        // 5 s after its first byte.
        let dribbled = scope.spawn(|| {
            closed_after(
                addr,
                partial,
                Some(Duration::from_millis(500)),
                Duration::from_secs(8),
            )
        });
        // Nothing at all: idle, kept for 10 s.
        let idle = scope.spawn(|| closed_after(addr, b"", None, Duration::from_secs(7)));
        let stalled = stalled.join().expect("stalled").expect("cut");
        assert!(
            (Duration::from_millis(1900)..Duration::from_millis(3500)).contains(&stalled),
            "{stalled:?}"
        );
        let dribbled = dribbled.join().expect("dribbled").expect("cut");
        assert!(
            (Duration::from_millis(4900)..Duration::from_millis(6500)).contains(&dribbled),
            "{dribbled:?}"
        );
        assert_eq!(
            idle.join().expect("idle"),
            None,
            "an idle connection is kept"
        );
    });
    server.stop();
}
