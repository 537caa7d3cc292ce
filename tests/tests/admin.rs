//! The admin endpoint (issue 11, item 3) over real HTTP: bearer token on
//! every route (401, the same for every kind of wrong), `/metrics` still
//! open, the JSON answers (parsed by `serde_json`), `PUT /alamos/levels` all
//! or nothing (400 with each error and the nearest keys, nothing changed),
//! the change logged at `warn` with old and new directives, concurrent
//! `PUT`s leaving one consistent set of thresholds, bad input never taking
//! the endpoint down, a `PUT` without `Content-Length` (411) and `Expect:
//! 100-continue` on a raw connection, and `ALAMOS_ADMIN_TOKEN` read from the
//! environment of a fresh process (`src/bin/admin_probe.rs`).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Stdio;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use alamos::LevelFilter;
use alamos_tests::{http, http_request, Captured, HttpResponse};
use serde_json::Value;

const TOKEN: &str = "admin-test-token-5f0e2a9c71";

#[alamos::experiment("admin_test.relay", level = debug)]
fn relay() {}

#[alamos::experiment("admin_test.writer")]
fn write() {}

#[alamos::experiment("admin_test.writer.flush", level = bench)]
fn flush() {}

fn setup() -> &'static (Captured, alamos::Guard) {
    static SETUP: OnceLock<(Captured, alamos::Guard)> = OnceLock::new();
    SETUP.get_or_init(|| {
        let captured = Captured::default();
        // The warn line of a change is written on the server's thread.
        tracing::subscriber::set_global_default(alamos_tests::subscriber(&captured))
            .expect("the first global subscriber");
        let guard = alamos::Builder::new()
            .subscriber(false)
            .prometheus_addr(SocketAddr::from(([127, 0, 0, 1], 0)))
            .admin_token(TOKEN)
            .install()
            .expect("alamos installs");
        relay();
        write();
        flush();
        (captured, guard)
    })
}

/// Tests that change thresholds take turns: they replace every directive.
fn exclusive() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn addr() -> SocketAddr {
    setup().1.prometheus_addr().expect("served")
}

fn authorized(method: &str, path: &str, body: &[u8]) -> HttpResponse {
    let auth = format!("Bearer {TOKEN}");
    http_request(addr(), method, path, &[("Authorization", &auth)], body)
}

fn json(response: &HttpResponse) -> Value {
    assert_eq!(
        response.header("Content-Type"),
        Some("application/json"),
        "{}",
        response.head
    );
    serde_json::from_slice(&response.body)
        .unwrap_or_else(|err| panic!("not JSON ({err}): {}", response.text()))
}

fn levels() -> Value {
    json(&authorized("GET", "/alamos/levels", b""))
}

#[test]
fn every_admin_route_needs_the_token_and_gives_no_hint() {
    let addr = addr();
    let mut answers = Vec::new();
    for path in [
        "/alamos/tree",
        "/alamos/reports",
        "/alamos/tasks",
        "/alamos/levels",
        "/alamos/no-such-route",
    ] {
        for headers in [
            vec![],
            vec![("Authorization", "Bearer wrong-token")],
            vec![("Authorization", "Bearer admin-test-token-5f0e2a9c7")],
            vec![("Authorization", "Bearer admin-test-token-5f0e2a9c711")],
            vec![("Authorization", &*format!("Basic {TOKEN}"))],
            vec![("Authorization", TOKEN)],
            vec![("Authorization", "Bearer")],
            vec![
                ("Authorization", &*format!("Bearer {TOKEN}")),
                ("Authorization", "Bearer wrong-token"),
            ],
        ] {
            for method in ["GET", "PUT"] {
                let response = http_request(addr, method, path, &headers, b"prod");
                assert_eq!(response.status, 401, "{method} {path} {headers:?}");
                assert_eq!(
                    response.header("WWW-Authenticate"),
                    Some("Bearer realm=\"alamos\"")
                );
                answers.push(response.text());
            }
        }
    }
    // One answer for every kind of wrong, and nothing of the token in it.
    assert!(
        answers.iter().all(|answer| answer == "401 Unauthorized\n"),
        "{answers:?}"
    );
    // `/metrics` stays open.
    let metrics = http_request(addr, "GET", "/metrics", &[], b"");
    assert_eq!(metrics.status, 200);
    assert!(metrics.text().contains("alamos_calls_total"));
    // The scheme is case-insensitive, as RFC 9110 says.
    let lower = http_request(
        addr,
        "GET",
        "/alamos/tasks",
        &[("authorization", &format!("bearer {TOKEN}"))],
        b"",
    );
    assert_eq!(lower.status, 200);
    assert_eq!(lower.header("Cache-Control"), Some("no-store"));
}

#[test]
fn the_get_routes_answer_json() {
    let _turn = exclusive();
    assert_eq!(authorized("PUT", "/alamos/levels", b"prod").status, 200);
    let tree = json(&authorized("GET", "/alamos/tree", b""));
    let experiments = tree["experiments"].as_array().expect("a list");
    assert_eq!(experiments[0]["key"], "");
    let relay = experiments
        .iter()
        .find(|e| e["key"] == "admin_test.relay")
        .expect("listed");
    assert_eq!(relay["level"], "debug");
    assert_eq!(relay["threshold"], "prod");
    assert_eq!(relay["enabled"], false);
    let writer = experiments
        .iter()
        .find(|e| e["key"] == "admin_test.writer")
        .expect("listed");
    assert!(
        writer["calls"]["ok"].as_u64().is_some_and(|n| n >= 1),
        "{writer}"
    );
    assert!(writer["instruments"].is_array() && writer["task"].is_null());

    alamos::spawn("admin_test.loop", || ()).join().unwrap();
    let tasks = json(&authorized("GET", "/alamos/tasks", b""));
    let task = tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == "admin_test.loop")
        .cloned()
        .expect("listed");
    assert_eq!(task["state"], "finished");
    assert_eq!(task["restarts"], 0);
    let tree = json(&authorized("GET", "/alamos/tree", b""));
    let row = tree["experiments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == "admin_test.loop")
        .cloned()
        .unwrap();
    assert_eq!(row["task"]["state"], "finished");

    alamos::report("admin_test.writer", &[1, 2]).unwrap();
    let reports = json(&authorized("GET", "/alamos/reports", b""));
    assert_eq!(
        reports["admin_test.writer"]["value"],
        serde_json::json!([1, 2])
    );

    let levels = levels();
    assert!(levels["directives"].is_string());
    assert_eq!(levels["thresholds"]["admin_test.relay"], "prod");

    for (method, path) in [
        ("POST", "/alamos/levels"),
        ("DELETE", "/alamos/tree"),
        ("PUT", "/alamos/tasks"),
    ] {
        assert_eq!(authorized(method, path, b"").status, 405, "{method} {path}");
    }
    assert_eq!(authorized("GET", "/alamos/nothing", b"").status, 404);
}

#[test]
fn a_put_applies_the_whole_body_and_is_logged_at_warn() {
    let _turn = exclusive();
    let (captured, _) = setup();
    let before = levels()["directives"].as_str().unwrap().to_owned();
    let response = authorized("PUT", "/alamos/levels", b"warn, admin_test=bench\n");
    assert_eq!(response.status, 200, "{}", response.text());
    let change = json(&response);
    assert_eq!(change["old"], before.as_str());
    assert_eq!(change["new"], "warn,admin_test=bench");
    assert_eq!(
        alamos::threshold("admin_test.relay"),
        Ok(alamos::Level::Bench.into())
    );
    assert_eq!(
        alamos::threshold("admin_test"),
        Ok(alamos::Level::Bench.into())
    );
    assert_eq!(alamos::threshold(""), Ok(alamos::Level::Warn.into()));
    assert_eq!(levels()["directives"], "warn,admin_test=bench");
    // Everything replaced: a directive set before the PUT is gone.
    alamos::set_level("admin_test.writer", LevelFilter::Off).unwrap();
    let response = authorized("PUT", "/alamos/levels", b"prod");
    assert_eq!(
        json(&response)["old"],
        "warn,admin_test=bench,admin_test.writer=off"
    );
    assert_eq!(
        alamos::threshold("admin_test.writer"),
        Ok(alamos::Level::Prod.into())
    );

    let logged: Vec<_> = captured
        .events()
        .into_iter()
        .filter(|event| event.target == "alamos::admin")
        .collect();
    let change = logged
        .iter()
        .find(|event| event.field("new") == Some("warn,admin_test=bench"))
        .unwrap_or_else(|| panic!("no warn line: {logged:#?}"));
    assert_eq!(change.level, tracing::Level::WARN);
    assert_eq!(change.field("old"), Some(before.as_str()));
}

#[test]
fn a_bad_put_changes_nothing_and_says_why() {
    let _turn = exclusive();
    let _ = authorized("PUT", "/alamos/levels", b"prod,admin_test.relay=debug");
    let before = levels();
    for (body, expected) in [
        (
            &b"bench,admin_test.rlay=bench"[..],
            vec![(2, "admin_test.rlay=bench", Some("admin_test.relay"))],
        ),
        (
            b"admin_test=loud,prod,Admin=debug,admin_test.writer=bench",
            vec![(1, "admin_test=loud", None), (3, "Admin=debug", None)],
        ),
        (b"admin_test.relay", vec![(1, "admin_test.relay", None)]),
    ] {
        let response = authorized("PUT", "/alamos/levels", body);
        assert_eq!(response.status, 400, "{}", response.text());
        let answer = json(&response);
        let errors = answer["errors"].as_array().expect("errors");
        assert_eq!(errors.len(), expected.len(), "{answer}");
        for (error, (position, directive, nearest)) in errors.iter().zip(&expected) {
            assert_eq!(error["position"], *position, "{answer}");
            assert_eq!(error["directive"], *directive, "{answer}");
            assert!(!error["reason"].as_str().unwrap().is_empty());
            if let Some(nearest) = nearest {
                assert_eq!(error["nearest"][0], *nearest, "{answer}");
            }
        }
        assert_eq!(answer["directives"], before["directives"]);
        assert_eq!(levels(), before, "a refused PUT changed something");
    }
    for body in [&b""[..], b" , ", b"prod\xff\xfe", b"\0"] {
        let response = authorized("PUT", "/alamos/levels", body);
        assert_eq!(response.status, 400, "{body:?}: {}", response.text());
        assert!(json(&response)["errors"][0]["reason"].is_string());
        assert_eq!(levels(), before);
    }
    assert_eq!(
        alamos::threshold("admin_test.relay"),
        Ok(alamos::Level::Debug.into())
    );
    let _ = authorized("PUT", "/alamos/levels", b"prod");
}

#[test]
fn bad_requests_never_take_the_endpoint_down() {
    let addr = addr();
    let huge = vec![b'a'; 64 * 1024 + 1];
    assert_eq!(authorized("PUT", "/alamos/levels", &huge).status, 413);
    let bad_header = http(
        addr,
        b"GET /alamos/tree HTTP/1.1\r\nAuthorization: Bearer \xff\xfe\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(bad_header.status, 400);
    let chunked = http(
        addr,
        format!("PUT /alamos/levels HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n4\r\nprod\r\n0\r\n\r\n").as_bytes(),
    );
    assert_eq!(chunked.status, 411);
    let long_token = format!("Bearer {}", "x".repeat(7000));
    let long = http_request(
        addr,
        "GET",
        "/alamos/tree",
        &[("Authorization", &long_token)],
        b"",
    );
    assert_eq!(long.status, 401);
    assert_eq!(authorized("GET", "/alamos/tasks", b"").status, 200);
}

#[test]
fn a_put_without_content_length_gets_411_and_the_connection_closes() {
    let _turn = exclusive();
    assert_eq!(authorized("PUT", "/alamos/levels", b"prod").status, 200);
    let before = levels();
    // A keep-alive request whose body no length frames: to HTTP/1.1 it has
    // none, and the bytes after its head would be read as the next request.
    let start = Instant::now();
    let response = http(
        addr(),
        format!(
            "PUT /alamos/levels HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {TOKEN}\r\n\r\nprod,admin_test=bench"
        )
        .as_bytes(),
    );
    assert_eq!(response.status, 411, "{}", response.head);
    assert_eq!(
        response.text(),
        "411 Length Required: a PUT must give its body's length in a Content-Length header\n"
    );
    assert_eq!(response.header("Connection"), Some("close"));
    // The server closed at once, not after the idle timeout (10 s) spent
    // waiting for the rest of a "request" made of the unread body.
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(levels(), before, "the unframed body was applied");
    // The rule is the server's: the same answer without a token and on any
    // path, so it hints at no route.
    for request in [
        &b"PUT /alamos/levels HTTP/1.1\r\nConnection: close\r\n\r\n"[..],
        b"PUT /alamos/no-such-route HTTP/1.1\r\nConnection: close\r\n\r\n",
        b"POST /metrics HTTP/1.0\r\n\r\n",
    ] {
        let response = http(addr(), request);
        assert_eq!(response.status, 411, "{request:?}: {}", response.head);
    }
    // A GET needs no length, and an explicit empty body is the route's to judge.
    assert_eq!(authorized("GET", "/alamos/levels", b"").status, 200);
    let empty = authorized("PUT", "/alamos/levels", b"");
    assert_eq!(empty.status, 400);
    assert!(
        empty.text().contains("the body is empty"),
        "{}",
        empty.text()
    );
}

/// Reads one response head, up to its blank line.
fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0_u8];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            other => panic!(
                "no complete head ({other:?}) after {:?}",
                String::from_utf8_lossy(&head)
            ),
        }
    }
    String::from_utf8(head).expect("a UTF-8 head")
}

/// Reads one response: its head and the body its `Content-Length` gives.
fn read_response(stream: &mut TcpStream) -> (String, String) {
    let head = read_head(stream);
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("Content-Length: "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no length in {head}"));
    let mut body = vec![0_u8; length];
    stream.read_exact(&mut body).expect("the body");
    (head, String::from_utf8(body).expect("a UTF-8 body"))
}

#[test]
fn expect_100_continue_is_answered_before_the_body_is_sent() {
    let _turn = exclusive();
    let auth = format!("Authorization: Bearer {TOKEN}");
    let body = b"prod,admin_test=bench";
    let mut stream = TcpStream::connect(addr()).expect("connects");
    // curl waits 1 s for the interim answer before it sends the body anyway;
    // this client waits 3 s and sends nothing until it comes.
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let head = format!(
        "PUT /alamos/levels HTTP/1.1\r\nHost: test\r\n{auth}\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("sends the head");
    assert_eq!(read_head(&mut stream), "HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(body).expect("sends the body");
    let (head, answer) = read_response(&mut stream);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("Connection: keep-alive"), "{head}");
    assert!(
        answer.contains(r#""new":"prod,admin_test=bench""#),
        "{answer}"
    );
    assert_eq!(levels()["directives"], "prod,admin_test=bench");
    // The same connection goes on; with no body to read, no interim answer.
    stream
        .write_all(
            format!("GET /alamos/levels HTTP/1.1\r\n{auth}\r\nExpect: 100-continue\r\n\r\n")
                .as_bytes(),
        )
        .expect("sends");
    let (head, _) = read_response(&mut stream);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    drop(stream);
    assert_eq!(authorized("PUT", "/alamos/levels", b"prod").status, 200);
}

#[test]
fn a_refused_request_is_answered_without_100_continue_and_closed() {
    let _turn = exclusive();
    assert_eq!(authorized("PUT", "/alamos/levels", b"prod").status, 200);
    let before = levels();
    let auth = format!("Authorization: Bearer {TOKEN}");
    for (headers, status) in [
        // A body over 64 KiB, a body with no length, a chunked one.
        (
            "Expect: 100-continue\r\nContent-Length: 65537".to_owned(),
            413,
        ),
        ("Expect: 100-continue".to_owned(), 411),
        (
            "Expect: 100-continue\r\nTransfer-Encoding: chunked".to_owned(),
            411,
        ),
        // An expectation alamos cannot meet.
        ("Expect: 200-ok\r\nContent-Length: 4".to_owned(), 417),
        (
            "Expect: 100-continue, x-fast\r\nContent-Length: 4".to_owned(),
            417,
        ),
    ] {
        // Keep-alive, and no body sent: the answer must come without it.
        let mut stream = TcpStream::connect(addr()).expect("connects");
        stream
            .set_read_timeout(Some(Duration::from_secs(3)))
            .expect("timeout");
        let request =
            format!("PUT /alamos/levels HTTP/1.1\r\nHost: test\r\n{auth}\r\n{headers}\r\n\r\n");
        stream.write_all(request.as_bytes()).expect("sends");
        let (head, reason) = read_response(&mut stream);
        assert!(
            head.starts_with(&format!("HTTP/1.1 {status} ")),
            "{headers}: {head}"
        );
        assert!(head.contains("Connection: close"), "{headers}: {head}");
        assert!(
            reason.starts_with(&format!("{status} ")) && reason.ends_with('\n'),
            "{reason}"
        );
        // Then the server closes: nothing more, and no wait.
        let mut rest = Vec::new();
        stream
            .read_to_end(&mut rest)
            .expect("closed, not timed out");
        assert!(
            rest.is_empty(),
            "{headers}: {:?}",
            String::from_utf8_lossy(&rest)
        );
    }
    let unmet = http(
        addr(),
        b"GET /metrics HTTP/1.1\r\nExpect: 200-ok\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(unmet.status, 417);
    assert_eq!(
        unmet.text(),
        "417 Expectation Failed: the only expectation alamos meets is 100-continue\n"
    );
    // HTTP/1.0 has no interim answers: its 100-continue is ignored.
    let old = http(
        addr(),
        format!("PUT /alamos/levels HTTP/1.0\r\n{auth}\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nprod").as_bytes(),
    );
    assert_eq!(old.status, 200, "{}", old.head);
    assert!(!old.text().contains("100 Continue"), "{}", old.text());
    assert_eq!(levels(), before);
}

/// The threshold `spec` gives `key`: the longest covering directive.
fn reference_threshold(spec: &str, key: &str) -> String {
    let mut best: (i64, String) = (-1, "prod".to_owned());
    for item in spec.split(',') {
        let (directive, level) = match item.split_once('=') {
            Some((directive, level)) => (directive, level),
            None => ("", item),
        };
        let covers =
            directive.is_empty() || key == directive || key.starts_with(&format!("{directive}."));
        let length = i64::try_from(directive.len()).unwrap();
        if covers && length > best.0 {
            best = (length, level.to_owned());
        }
    }
    best.1
}

#[test]
fn concurrent_puts_leave_one_consistent_set_of_thresholds() {
    let _turn = exclusive();
    let bodies = [
        "prod,admin_test=bench",
        "warn,admin_test.relay=debug,admin_test.writer=off",
        "debug,admin_test.writer.flush=bench",
        "error",
    ];
    std::thread::scope(|scope| {
        for thread in 0..6 {
            scope.spawn(move || {
                for round in 0..40 {
                    let body = bodies[(thread + round) % bodies.len()];
                    let response = authorized("PUT", "/alamos/levels", body.as_bytes());
                    assert_eq!(response.status, 200, "{}", response.text());
                }
            });
        }
        scope.spawn(|| {
            for _ in 0..40 {
                check_consistent(&levels(), &bodies);
            }
        });
    });
    check_consistent(&levels(), &bodies);
    let _ = authorized("PUT", "/alamos/levels", b"prod");
}

fn check_consistent(levels: &Value, bodies: &[&str]) {
    let spec = levels["directives"].as_str().unwrap();
    assert!(
        bodies.contains(&spec) || spec == "prod",
        "{spec:?} is none of the bodies"
    );
    let thresholds: BTreeMap<String, String> =
        serde_json::from_value(levels["thresholds"].clone()).unwrap();
    for (key, threshold) in &thresholds {
        assert_eq!(
            *threshold,
            reference_threshold(spec, key),
            "{key} under {spec}: {levels}"
        );
    }
}

/// A fresh process with `ALAMOS_ADMIN_TOKEN` (or without), answering on a
/// free port until its stdin closes: its stderr and the status of `GET
/// /alamos/tree` with `token` (0 if it serves nothing).
fn probe(env_token: Option<&std::ffi::OsStr>, token: &str) -> (String, u16) {
    let mut command = alamos_tests::probe_command(env!("CARGO_BIN_EXE_admin_probe"));
    command
        .env("ALAMOS_PROMETHEUS_ADDR", "127.0.0.1:0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(value) = env_token {
        command.env("ALAMOS_ADMIN_TOKEN", value);
    }
    let mut child = command.spawn().expect("the probe starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let status = line.trim().parse::<SocketAddr>().map_or(0, |addr| {
        let auth = format!("Bearer {token}");
        http_request(
            addr,
            "GET",
            "/alamos/tree",
            &[("Authorization", &auth)],
            b"",
        )
        .status
    });
    let _ = child.stdin.take().unwrap().write_all(b"bye\n");
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    (String::from_utf8_lossy(&output.stderr).into_owned(), status)
}

#[test]
fn the_builder_never_shows_the_token() {
    let builder = alamos::Builder::new().admin_token(TOKEN);
    let debug = format!("{builder:?}");
    assert!(!debug.contains(TOKEN), "{debug}");
    assert!(debug.contains("<redacted>"), "{debug}");
}

#[test]
fn the_token_comes_from_the_environment_and_bad_ones_are_refused() {
    use std::os::unix::ffi::OsStrExt;
    let good = "env-token-d41d8cd98f00b204";
    let (stderr, status) = probe(Some(std::ffi::OsStr::new(good)), good);
    assert_eq!(status, 200, "{stderr}");
    assert!(!stderr.contains(good), "the token is echoed: {stderr}");
    let (_, status) = probe(Some(std::ffi::OsStr::new(good)), "guess");
    assert_eq!(status, 401);
    // Without the variable there are no admin routes at all.
    let (_, status) = probe(None, good);
    assert_eq!(status, 404);
    for (value, message) in [
        (
            &b""[..],
            "ALAMOS_ADMIN_TOKEN: the token is empty; the admin endpoint stays off",
        ),
        (b"two words", "not visible ASCII at byte 3"),
        (
            b"\xff\xfe-not-utf8",
            "ALAMOS_ADMIN_TOKEN is not valid UTF-8; the admin endpoint stays off",
        ),
    ] {
        let (stderr, status) = probe(Some(std::ffi::OsStr::from_bytes(value)), "");
        assert_eq!(status, 404, "{value:?}: {stderr}");
        assert!(stderr.contains(message), "{value:?}: {stderr}");
    }
    let (stderr, status) = probe(Some(std::ffi::OsStr::new("short")), "short");
    assert_eq!(status, 200);
    assert!(stderr.contains("shorter than 16 characters"), "{stderr}");
}
