//! A binary for `tests/tests/foreign_filter.rs`: installs `alamos::init()`,
//! emits foreign and alamos events, changes thresholds at run time, and says
//! on stdout what `tracing` would let through (`LevelFilter::current()`).
//! Every event's message names itself, so the test reads stderr for them.

use alamos::{Level, LevelFilter};

#[alamos::experiment("probe.late")]
fn late(step: &str) {
    alamos::bench!("{step}: late bench log");
}

fn current(out: &mut impl std::io::Write, step: &str) {
    let _ = writeln!(
        out,
        "{step} current={}",
        tracing::level_filters::LevelFilter::current()
    );
}

fn events(step: &str) {
    tracing::info!("{step}: foreign info");
    tracing::debug!("{step}: foreign debug");
    tracing::warn!("{step}: foreign warn");
    tracing::debug!(target: "hyper::proto", "{step}: hyper debug");
    tracing::trace!(target: "hyper::proto", "{step}: hyper trace");
    alamos::info!("{step}: alamos info");
    late(step);
}

/// The admin token of the `admin` mode.
const TOKEN: &str = "filter-probe-admin-token-5e1a";

fn main() {
    let guard = alamos::init();
    let mut out = std::io::stdout();
    current(&mut out, "start");
    events("start");
    if std::env::args().nth(1).as_deref() == Some("admin") {
        // The admin endpoint's `PUT` changes thresholds like `set_level`.
        let addr = guard
            .prometheus_addr()
            .expect("ALAMOS_PROMETHEUS_ADDR is set");
        let auth = format!("Bearer {TOKEN}");
        let response = alamos_tests::http_request(
            addr,
            "PUT",
            "/alamos/levels",
            &[("Authorization", &auth)],
            b"debug",
        );
        assert_eq!(response.status, 200, "{}", response.text());
        current(&mut out, "admin-debug");
        events("admin-debug");
        // Every threshold off: the change line still prints, and the
        // ceiling stays at `warn` for it.
        let response = alamos_tests::http_request(
            addr,
            "PUT",
            "/alamos/levels",
            &[("Authorization", &auth)],
            b"off",
        );
        assert_eq!(response.status, 200, "{}", response.text());
        current(&mut out, "admin-off");
        events("admin-off");
        return;
    }
    alamos::set_level("", Level::Debug).expect("the root is known");
    current(&mut out, "root-debug");
    events("root-debug");
    alamos::set_level("", LevelFilter::Off).expect("the root is known");
    current(&mut out, "root-off");
    events("root-off");
    alamos::set_level("probe.late", Level::Bench).expect("probe.late is known");
    current(&mut out, "late-bench");
    events("late-bench");
    alamos::set_directives("warn").expect("well-formed");
    current(&mut out, "directives-warn");
    events("directives-warn");
}
