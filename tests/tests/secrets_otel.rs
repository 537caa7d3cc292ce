//! The OTLP export holds no secret the user did not record (see
//! `secrets.rs` for the other outputs).
//!
//! `secrets_probe` runs as a binary with `alamos::init()` and
//! `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at a receiver on a loopback port
//! that keeps every request body as it arrived. Protobuf stores strings as
//! raw bytes, so searching the bodies byte for byte covers every span name,
//! attribute, event, status message and resource attribute. The control
//! value, recorded where the user asked, must be found the same way.
#![cfg(feature = "otel")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message;

const SECRET: &str = "CANARY-7f3a9c";
const CONTROL: &str = "CONTROL-51d2e8";

/// Request bodies of `POST /v1/traces`, as received.
type Bodies = Arc<Mutex<Vec<Vec<u8>>>>;

fn start_receiver() -> (String, Bodies) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let endpoint = format!("http://{}", listener.local_addr().expect("bound"));
    let bodies = Bodies::default();
    let shared = Arc::clone(&bodies);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || serve(stream, &shared));
        }
    });
    (endpoint, bodies)
}

fn serve(stream: TcpStream, bodies: &Mutex<Vec<Vec<u8>>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.trim().eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let status = if request_line.starts_with("POST /v1/traces ") {
            bodies.lock().unwrap().push(body);
            "200 OK"
        } else {
            "404 Not Found"
        };
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n"
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[test]
fn otlp_export_of_a_binary_holds_the_secret_nowhere() {
    let (endpoint, bodies) = start_receiver();
    let output = alamos_tests::probe_command(env!("CARGO_BIN_EXE_secrets_probe"))
        .args([SECRET, CONTROL])
        .env("ALAMOS_LEVEL", "bench")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .env("OTEL_SERVICE_NAME", "secrets-probe")
        .output()
        .expect("the probe runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(!stdout.contains(SECRET) && !stderr.contains(SECRET));

    // The guard's drop flushed before the probe exited.
    let bodies = bodies.lock().unwrap().clone();
    assert!(!bodies.is_empty(), "nothing exported:\n{stderr}");
    for body in &bodies {
        assert!(
            !contains(body, SECRET),
            "the secret is in an OTLP body: {}",
            String::from_utf8_lossy(body)
        );
    }

    // What was exported, decoded: every call's span, and the controls.
    let mut names = Vec::new();
    let mut strings = Vec::new();
    for body in &bodies {
        let request = ExportTraceServiceRequest::decode(body.as_slice()).expect("a valid body");
        for resource in request.resource_spans {
            for scope in resource.scope_spans {
                for span in scope.spans {
                    names.push(span.name.clone());
                    let events = span.events.iter().flat_map(|event| &event.attributes);
                    for pair in span.attributes.iter().chain(events) {
                        if let Some(Value::StringValue(text)) =
                            pair.value.as_ref().and_then(|v| v.value.as_ref())
                        {
                            strings.push((span.name.clone(), pair.key.clone(), text.clone()));
                        }
                    }
                }
            }
        }
    }
    for name in [
        "secrets.auth.login",
        "secrets.auth.login_redacted",
        "secrets.vault.unseal",
        "secrets.vault.unseal_twice",
        "secrets.vault.decrypt",
        "secrets.vault.decrypt_checked",
        "secrets.vault.fetch_token",
        "secrets.vault.rotate",
        "secrets.session.renew",
        "secrets.control.refuse",
    ] {
        assert!(names.iter().any(|n| n == name), "no span {name}: {names:?}");
    }
    let has = |span: &str, key: &str, value: &str| {
        strings
            .iter()
            .any(|(s, k, v)| s == span && k == key && v == value)
    };
    assert!(has("secrets.auth.login", "user", CONTROL), "{strings:#?}");
    assert!(has("secrets.auth.login_redacted", "password", "<redacted>"));
    // tracing-opentelemetry exports an `error` field as `exception.message`.
    let refused = format!("vault refused key {CONTROL}");
    assert!(
        has("secrets.control.refuse", "error", &refused)
            || has("secrets.control.refuse", "exception.message", &refused),
        "{strings:#?}"
    );
    assert!(
        bodies.iter().any(|body| contains(body, CONTROL)),
        "the byte search finds the control value"
    );
}
