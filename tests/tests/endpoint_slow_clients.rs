//! Slow clients cannot keep `/metrics` from Prometheus for longer than the
//! endpoint's read timeout (10 s).
//!
//! The endpoint serves at most 64 connections and answers 503 beyond that,
//! and cuts a connection that sends nothing for 10 s. A client that sends a
//! request head one byte at a time, each byte within the timeout, is never
//! idle that long: 64 of them must still be cut once the head has taken
//! longer than the timeout, or the endpoint answers 503 to every scrape for
//! as long as they keep dribbling (a slowloris). Loopback only; every loop
//! is bounded.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The endpoint's connection cap and read timeout, as documented.
const MAX_CONNECTIONS: usize = 64;
const READ_TIMEOUT: Duration = Duration::from_secs(10);

fn serve() -> (alamos::Guard, SocketAddr) {
    let guard = alamos::Builder::new()
        .subscriber(false)
        .prometheus_addr(SocketAddr::from(([127, 0, 0, 1], 0)))
        .install()
        .expect("alamos installs");
    let addr = guard.prometheus_addr().expect("served");
    (guard, addr)
}

/// The status line of one `GET /metrics`, or what went wrong.
fn scrape(addr: SocketAddr) -> String {
    let attempt = || -> std::io::Result<String> {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response)?;
        let text = String::from_utf8_lossy(&response);
        Ok(text.split("\r\n").next().unwrap_or_default().to_owned())
    };
    attempt().unwrap_or_else(|err| format!("error: {err}"))
}

#[test]
fn clients_dribbling_a_request_head_are_cut_after_the_read_timeout() {
    let (_guard, addr) = serve();
    assert_eq!(scrape(addr), "HTTP/1.1 200 OK");

    let head = b"GET /metrics HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut slow: Vec<TcpStream> = (0..MAX_CONNECTIONS)
        .map(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connects"))
        .collect();
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let mut statuses = Vec::new();
    std::thread::scope(|scope| {
        // One byte per connection every 500 ms: never idle for the timeout.
        let dribbler = scope.spawn(|| {
            let mut sent = 0;
            while !stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(20) {
                for stream in &mut slow {
                    let _ = stream.write_all(&head[sent % head.len()..=sent % head.len()]);
                }
                sent += 1;
                std::thread::sleep(Duration::from_millis(500));
            }
        });
        // Past the read timeout, a scrape must get through.
        std::thread::sleep(READ_TIMEOUT + Duration::from_secs(1));
        let deadline = started + READ_TIMEOUT + Duration::from_secs(4);
        loop {
            let status = scrape(addr);
            statuses.push((started.elapsed().as_millis(), status.clone()));
            if status == "HTTP/1.1 200 OK" || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        stop.store(true, Ordering::Relaxed);
        dribbler.join().expect("the dribbler");
    });
    drop(slow);

    // Control: once the slow clients are gone, the endpoint answers.
    let mut recovered = String::new();
    for _ in 0..20 {
        recovered = scrape(addr);
        if recovered == "HTTP/1.1 200 OK" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(recovered, "HTTP/1.1 200 OK", "after the slow clients left");
    assert_eq!(
        statuses.last().map(|(_, status)| status.as_str()),
        Some("HTTP/1.1 200 OK"),
        "{MAX_CONNECTIONS} clients sending a head one byte every 500 ms kept every scrape \
         out for more than the {READ_TIMEOUT:?} read timeout (ms since they connected, \
         status): {statuses:?}"
    );
}
