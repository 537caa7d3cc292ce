//! `GET /metrics` answers OpenMetrics to a scraper that asks for it and the
//! text format otherwise; both carry `target_info` and the builder's
//! constant labels on every series. In this build (no `otel`) there are no
//! exemplars. The OpenMetrics grammar is checked by Prometheus's own parser
//! in `tests/interop/pillars.py`; here, promtool lints the text format.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

#[alamos::experiment("om_test.write", labels(node = n % 2))]
fn write(n: u32) -> u32 {
    alamos::histogram!("om_frame_size", f64::from(n * 100), unit = bytes);
    alamos::counter!("om_frames", 1);
    n
}

fn guard() -> &'static alamos::Guard {
    static GUARD: OnceLock<alamos::Guard> = OnceLock::new();
    GUARD.get_or_init(|| {
        alamos::Builder::new()
            .subscriber(false)
            .constant_label("cluster", "c1")
            .constant_label("node", "constant")
            .prometheus_addr(SocketAddr::from(([127, 0, 0, 1], 0)))
            .install()
            .expect("alamos installs")
    })
}

/// `(content type, body)` of `GET /metrics` with these extra header lines.
fn get(addr: SocketAddr, headers: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("a head");
    let content_type = head
        .lines()
        .find_map(|line| line.strip_prefix("Content-Type: "))
        .expect("a content type")
        .to_owned();
    (content_type, body.to_owned())
}

fn samples(body: &str) -> impl Iterator<Item = &str> {
    body.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
}

#[test]
fn negotiation_target_info_and_constant_labels() {
    let guard = guard();
    for n in 0..20 {
        write(n);
    }
    let addr = guard.prometheus_addr().expect("served");

    let (content_type, text) = get(addr, "Accept: */*\r\n");
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert!(!text.contains("# EOF"), "{text}");
    assert!(text.contains("# TYPE target_info gauge"), "{text}");
    let target_info = text
        .lines()
        .find(|line| line.starts_with("target_info{"))
        .expect("target_info");
    assert!(target_info.contains("service_name=\""), "{target_info}");
    assert!(
        target_info.contains("service_instance_id=\""),
        "{target_info}"
    );
    assert!(target_info.contains("cluster=\"c1\""), "{target_info}");
    for line in samples(&text) {
        assert!(line.contains("cluster=\"c1\""), "no constant label: {line}");
    }
    // A series' own label wins over a constant one of the same name.
    assert!(
        text.contains(
            r#"alamos_calls_total{experiment="om_test.write",function="write",node="1",outcome="ok",cluster="c1"} 10"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"om_frames_total{experiment="om_test.write",cluster="c1",node="constant"}"#
        ),
        "{text}"
    );
    lint(&text);

    let prometheus = "Accept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n";
    let (content_type, om) = get(addr, prometheus);
    assert_eq!(
        content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(om.ends_with("\n# EOF\n"), "{om}");
    assert!(!om.contains("\n\n"), "OpenMetrics has no blank lines: {om}");
    assert!(om.starts_with("# TYPE target info\n"), "{om}");
    assert!(om.contains("# TYPE alamos_calls counter\n"), "{om}");
    assert!(
        om.contains("# TYPE om_frame_size_bytes histogram\n# UNIT om_frame_size_bytes bytes\n"),
        "{om}"
    );
    assert!(
        om.contains("# UNIT alamos_call_duration_seconds seconds\n"),
        "{om}"
    );
    // No `otel`, no exemplars.
    assert!(!om.contains(" # {"), "{om}");
    for line in samples(&om) {
        assert!(line.contains("cluster=\"c1\""), "no constant label: {line}");
    }
    // The same series in both formats.
    let series = |body: &str| -> Vec<String> {
        let mut all: Vec<String> = samples(body)
            .map(|line| line.rsplit_once(' ').unwrap().0.to_owned())
            .collect();
        all.sort();
        all
    };
    assert_eq!(series(&text), series(&om));
}

#[test]
fn a_bad_constant_label_is_an_error() {
    for name in ["le", "no-dash", "__reserved", "outcome"] {
        let error = alamos::Builder::new()
            .subscriber(false)
            .recorder(false)
            .constant_label(name, "x")
            .install()
            .expect_err("a bad label name");
        assert!(error.to_string().contains(name), "{error}");
    }
}

fn lint(exposition: &str) {
    let Ok(mut promtool) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        panic!("`promtool` is not installed: run .ci/install.sh");
    };
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let output = promtool.wait_with_output().unwrap();
    let complaints = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && complaints.trim().is_empty(),
        "promtool: {complaints}\n{exposition}"
    );
}
