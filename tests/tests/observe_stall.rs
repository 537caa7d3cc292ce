//! Observed values can't stall a read: a closure passed to `alamos::observe`
//! that never returns, or panics, is left out of each read after
//! `Builder::observe_timeout` and counted in
//! `alamos_observe_failures_total{experiment, name, reason}`; it costs at
//! most one thread, ever, and every scrape still answers. Its own test
//! binary: it counts the process's threads.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

/// Long enough that a fast closure is never left out on a busy machine.
const TIMEOUT: Duration = Duration::from_millis(200);
/// What one read may take: the timeout once for a closure that just hung,
/// and ample room for a loaded machine.
const READ_BOUND: Duration = Duration::from_secs(2);

/// The names of the process's threads.
fn threads() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc is mounted")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|comm| comm.trim_end().to_owned())
        .collect()
}

/// `GET /metrics` on `addr`: the status line and the body, or why not
/// within `READ_BOUND`.
fn scrape(addr: SocketAddr) -> Result<(String, String), String> {
    let mut stream =
        TcpStream::connect_timeout(&addr, READ_BOUND).map_err(|err| format!("connect: {err}"))?;
    stream.set_read_timeout(Some(READ_BOUND)).unwrap();
    stream.set_write_timeout(Some(READ_BOUND)).unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .map_err(|err| format!("write: {err}"))?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .map_err(|err| format!("read: {err}"))?;
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no head in {response:?}"))?;
    let status = head.lines().next().unwrap_or_default().to_owned();
    Ok((status, body.to_owned()))
}

/// The value of the sample line `series` (name and labels as written).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == series).then(|| value.parse().ok())?
    })
}

/// A failure count: a counter, so a whole number.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn failures(text: &str, experiment: &str, name: &str, reason: &str) -> Option<u64> {
    value(
        text,
        &format!(
            "alamos_observe_failures_total{{experiment=\"{experiment}\",name=\"{name}\",reason=\"{reason}\"}}"
        ),
    )
    .map(|count| count as u64)
}

#[test]
fn a_hung_or_panicking_closure_never_stalls_a_read() {
    // The expected panics are not news; the panic hook runs within the
    // closure's time, so a slow one (a backtrace) could turn a panic into a
    // timeout.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() != Some("alamos-sample") {
            default_hook(info);
        }
    }));
    let guard = alamos::Builder::new()
        .subscriber(false)
        .prometheus_addr(SocketAddr::from(([127, 0, 0, 1], 0)))
        .observe_timeout(TIMEOUT)
        .install()
        .expect("alamos installs");
    let addr = guard.prometheus_addr().expect("the endpoint is served");

    // Blocks until the test drops `release`: a closure that never returns,
    // as far as the reads below can tell.
    let (release, hold) = mpsc::channel::<()>();
    let hold = Mutex::new(hold);
    let hung = alamos::observe("observe_stall.hung", "stuck_entries", move || {
        let _ = hold.lock().unwrap().recv();
        3.0
    });
    let panics = alamos::observe("observe_stall.panics", "broken_entries", || {
        panic!("an observed value that panics (expected by this test)")
    });
    let fine = alamos::observe("observe_stall.fine", "fine_entries", || 7.0);

    let mut warm = Vec::new();
    let mut slowest = Duration::ZERO;
    for read in 1..=50_u32 {
        let started = Instant::now();
        // Every other read through the endpoint, the others in process.
        let text = if read % 2 == 0 {
            let (status, body) = scrape(addr).unwrap_or_else(|err| panic!("read {read}: {err}"));
            assert_eq!(status, "HTTP/1.1 200 OK", "read {read}");
            body
        } else {
            guard.render().expect("alamos's recorder renders")
        };
        let took = started.elapsed();
        slowest = slowest.max(took);
        assert!(took < READ_BOUND, "read {read} took {took:?}");
        assert_eq!(
            value(&text, "fine_entries{experiment=\"observe_stall.fine\"}"),
            Some(7.0),
            "read {read}: the fast closure is never left out\n{text}"
        );
        assert!(
            !text.contains("stuck_entries{") && !text.contains("broken_entries{"),
            "read {read}\n{text}"
        );
        let read = u64::from(read);
        assert_eq!(
            failures(&text, "observe_stall.hung", "stuck_entries", "timeout"),
            Some(read),
            "every read leaves the hung value out and counts it\n{text}"
        );
        // A first panic may be slow enough (the hook) to count as a timeout.
        let panicked = failures(&text, "observe_stall.panics", "broken_entries", "panic");
        let timed_out = failures(&text, "observe_stall.panics", "broken_entries", "timeout");
        assert_eq!(
            panicked.unwrap_or(0) + timed_out.unwrap_or(0),
            read,
            "{text}"
        );
        assert!(panicked.is_some() || read < 3, "{text}");
        assert_eq!(
            failures(&text, "observe_stall.fine", "fine_entries", "timeout"),
            None
        );
        // The hung closure holds one reader thread, and reads share one of
        // their own: no read adds one.
        let now = threads();
        let readers = now.iter().filter(|name| *name == "alamos-sample").count();
        assert!(readers <= 2, "read {read}: {now:?}");
        if read == 5 {
            warm = now;
        }
    }
    let after = threads();
    eprintln!("50 reads: slowest {slowest:?}; threads after 5 reads {warm:?}, after 50 {after:?}");
    // Give or take the endpoint's thread of the last connection.
    assert!(
        after.len() <= warm.len() + 1,
        "after 5 reads {warm:?}, after 50 {after:?}"
    );
    let text = guard.render().unwrap();
    assert!(
        text.contains("# TYPE alamos_observe_failures_total counter"),
        "{text}"
    );

    // Once the closure returns, its value is read again.
    drop(release);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = guard.render().unwrap();
        if value(&text, "stuck_entries{experiment=\"observe_stall.hung\"}") == Some(3.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the value never came back\n{text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop((hung, panics, fine));
}
