//! `GET`/`PUT /alamos/sampling` over real HTTP: the token, the probabilities
//! as JSON, a live change that the next calls obey (spans captured by a
//! global `tracing` layer, calls counted in `/metrics` either way), and a
//! bad body refused all or nothing with each error and the nearest keys.

use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard, OnceLock};

use alamos_tests::{http_request, Captured, HttpResponse};
use serde_json::Value;

const TOKEN: &str = "sampling-admin-token-8c1d4e";

#[alamos::experiment("sampling_admin.handler")]
fn handle() {}

#[alamos::experiment("sampling_admin.kept")]
fn kept() {}

fn setup() -> &'static (Captured, alamos::Guard) {
    static SETUP: OnceLock<(Captured, alamos::Guard)> = OnceLock::new();
    SETUP.get_or_init(|| {
        let captured = Captured::default();
        tracing::subscriber::set_global_default(alamos_tests::subscriber(&captured))
            .expect("the first global subscriber");
        let guard = alamos::Builder::new()
            .subscriber(false)
            .prometheus_addr(SocketAddr::from(([127, 0, 0, 1], 0)))
            .admin_token(TOKEN)
            .install()
            .expect("alamos installs");
        (captured, guard)
    })
}

/// The tests replace every probability: they take turns.
fn exclusive() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn addr() -> SocketAddr {
    setup().1.prometheus_addr().expect("served")
}

fn authorized(method: &str, body: &[u8]) -> HttpResponse {
    let auth = format!("Bearer {TOKEN}");
    http_request(
        addr(),
        method,
        "/alamos/sampling",
        &[("Authorization", &auth)],
        body,
    )
}

fn json(response: &HttpResponse) -> Value {
    serde_json::from_slice(&response.body)
        .unwrap_or_else(|err| panic!("not JSON ({err}): {}", response.text()))
}

/// How many spans named `name` the global layer has seen.
fn spans(name: &str) -> usize {
    setup().0.spans_named(name).len()
}

/// `alamos_calls_total` of an ok call of `function` in `experiment`.
fn calls(experiment: &str, function: &str) -> u64 {
    let text = http_request(addr(), "GET", "/metrics", &[], b"").text();
    text.lines()
        .find(|line| {
            line.starts_with("alamos_calls_total{")
                && line.contains(&format!("experiment=\"{experiment}\""))
                && line.contains(&format!("function=\"{function}\""))
                && line.contains("outcome=\"ok\"")
        })
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_put_changes_which_calls_are_traced_and_every_call_is_counted() {
    let _turn = exclusive();
    setup();
    let reset = authorized("PUT", b"1");
    assert_eq!(reset.status, 200, "{}", reset.text());

    let got = json(&authorized("GET", b""));
    assert_eq!(got["directives"], "1");
    assert_eq!(got["probabilities"]["sampling_admin.handler"], 1.0);
    assert_eq!(got["probabilities"][""], 1.0);

    let (spans_before, calls_before) = (
        spans("sampling_admin.handler.handle"),
        calls("sampling_admin.handler", "handle"),
    );
    for _ in 0..20 {
        handle();
    }
    assert_eq!(spans("sampling_admin.handler.handle"), spans_before + 20);

    let put = authorized("PUT", b"0, sampling_admin.kept=1");
    assert_eq!(put.status, 200, "{}", put.text());
    let change = json(&put);
    assert_eq!(change["old"], "1");
    assert_eq!(change["new"], "0,sampling_admin.kept=1");
    assert_eq!(put.header("Cache-Control"), Some("no-store"));
    let got = json(&authorized("GET", b""));
    assert_eq!(got["probabilities"]["sampling_admin.handler"], 0.0);
    assert_eq!(got["probabilities"]["sampling_admin.kept"], 1.0);

    let kept_before = spans("sampling_admin.kept.kept");
    for _ in 0..20 {
        handle();
        kept();
    }
    assert_eq!(
        spans("sampling_admin.handler.handle"),
        spans_before + 20,
        "no new span once its probability is 0"
    );
    assert_eq!(spans("sampling_admin.kept.kept"), kept_before + 20);
    assert_eq!(
        calls("sampling_admin.handler", "handle"),
        calls_before + 40,
        "untraced calls are counted"
    );
    assert_eq!(alamos::trace_sample("sampling_admin.handler"), Ok(0.0));

    // The tree shows it too.
    let tree = json(&http_request(
        addr(),
        "GET",
        "/alamos/tree",
        &[("Authorization", &format!("Bearer {TOKEN}"))],
        b"",
    ));
    let row = tree["experiments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["key"] == "sampling_admin.kept")
        .unwrap()
        .clone();
    assert_eq!(row["trace_sample"], 1.0);

    assert_eq!(authorized("PUT", b"1").status, 200);
    handle();
    assert_eq!(spans("sampling_admin.handler.handle"), spans_before + 21);
}

#[test]
fn a_bad_body_changes_nothing_and_says_why() {
    let _turn = exclusive();
    setup();
    assert_eq!(authorized("PUT", b"0.5,sampling_admin.kept=0").status, 200);

    let refused = authorized("PUT", b"0.1,sampling_admin.handlr=0.2,sampling_admin=2");
    assert_eq!(refused.status, 400, "{}", refused.text());
    let body = json(&refused);
    assert_eq!(
        body["directives"], "0.5,sampling_admin.kept=0",
        "nothing changed"
    );
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{body}");
    assert_eq!(errors[0]["position"], 2);
    assert_eq!(errors[0]["directive"], "sampling_admin.handlr=0.2");
    assert_eq!(errors[0]["nearest"][0], "sampling_admin.handler");
    assert_eq!(errors[1]["position"], 3);
    assert_eq!(errors[1]["reason"], "probability 2 is not between 0 and 1");
    assert_eq!(
        json(&authorized("GET", b""))["directives"],
        "0.5,sampling_admin.kept=0"
    );

    for body in [&b""[..], b" , ", b"\xff"] {
        let refused = authorized("PUT", body);
        assert_eq!(refused.status, 400, "{body:?}: {}", refused.text());
        assert!(json(&refused)["errors"][0]["reason"].is_string());
    }
    assert_eq!(authorized("DELETE", b"").status, 405);
    assert_eq!(authorized("DELETE", b"").header("Allow"), Some("GET, PUT"));

    for headers in [vec![], vec![("Authorization", "Bearer wrong")]] {
        for method in ["GET", "PUT"] {
            let response = http_request(addr(), method, "/alamos/sampling", &headers, b"1");
            assert_eq!(response.status, 401);
        }
    }
    assert_eq!(
        json(&authorized("GET", b""))["directives"],
        "0.5,sampling_admin.kept=0"
    );
    assert_eq!(authorized("PUT", b"1").status, 200);
}
