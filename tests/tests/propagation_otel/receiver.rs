//! A small OTLP/HTTP receiver on a loopback port: it decodes every
//! `POST /v1/traces` body as an `ExportTraceServiceRequest` and keeps the
//! spans, so tests can look at exactly what alamos exported (metrics and
//! log records are accepted and counted; metrics requests are kept by the
//! names of the metrics they carry).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::AnyValue;
use prost::Message;

/// A span as it arrived.
#[derive(Clone, Debug)]
pub(crate) struct ReceivedSpan {
    pub(crate) name: String,
    pub(crate) trace_id: String,
    pub(crate) span_id: String,
    /// `None` for a root span.
    pub(crate) parent_span_id: Option<String>,
    pub(crate) attributes: BTreeMap<String, String>,
    /// 0 unset, 1 ok, 2 error.
    pub(crate) status_code: i32,
    pub(crate) service_name: String,
}

impl ReceivedSpan {
    pub(crate) fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

#[derive(Default)]
struct State {
    spans: Vec<ReceivedSpan>,
    malformed: usize,
    /// The metric names of each `POST /v1/metrics`, in order.
    metric_pushes: Vec<Vec<String>>,
    log_requests: usize,
}

pub(crate) struct Receiver {
    port: u16,
    state: Arc<Mutex<State>>,
}

impl Receiver {
    pub(crate) fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        std::thread::Builder::new()
            .name("otlp-receiver".to_owned())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    let shared = shared.clone();
                    std::thread::spawn(move || serve(stream, &shared));
                }
            })
            .unwrap();
        Receiver { port, state }
    }

    /// The base URL, as `OTEL_EXPORTER_OTLP_ENDPOINT` takes it.
    pub(crate) fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub(crate) fn spans(&self) -> Vec<ReceivedSpan> {
        self.state.lock().unwrap().spans.clone()
    }

    pub(crate) fn malformed(&self) -> usize {
        self.state.lock().unwrap().malformed
    }

    /// The names of the metrics in each metrics request received.
    #[allow(dead_code)] // propagation_otel looks at spans only.
    pub(crate) fn metric_pushes(&self) -> Vec<Vec<String>> {
        self.state.lock().unwrap().metric_pushes.clone()
    }

    /// How many log record requests arrived.
    #[allow(dead_code)] // propagation_otel looks at spans only.
    pub(crate) fn log_requests(&self) -> usize {
        self.state.lock().unwrap().log_requests
    }
}

/// Serves HTTP/1.1 requests on one connection until the client closes it.
fn serve(stream: TcpStream, state: &Mutex<State>) {
    stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut content_length = 0;
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
                    content_length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; content_length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let accepted = if request_line.starts_with("POST /v1/traces ") {
            record(&body, state).is_ok()
        } else if request_line.starts_with("POST /v1/metrics ") {
            record_metrics(&body, state).is_ok()
        } else if request_line.starts_with("POST /v1/logs ") {
            state.lock().unwrap().log_requests += 1;
            true
        } else {
            false
        };
        let status = if accepted {
            "200 OK"
        } else {
            "400 Bad Request"
        };
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n"
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

fn record(body: &[u8], state: &Mutex<State>) -> Result<(), prost::DecodeError> {
    let request = match ExportTraceServiceRequest::decode(body) {
        Ok(request) => request,
        Err(error) => {
            state.lock().unwrap().malformed += 1;
            return Err(error);
        }
    };
    let mut spans = Vec::new();
    for resource_spans in request.resource_spans {
        let resource = resource_spans
            .resource
            .map(|resource| attributes(&resource.attributes))
            .unwrap_or_default();
        let service_name = resource.get("service.name").cloned().unwrap_or_default();
        for scope_spans in resource_spans.scope_spans {
            for span in scope_spans.spans {
                spans.push(ReceivedSpan {
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: (!span.parent_span_id.is_empty())
                        .then(|| hex(&span.parent_span_id)),
                    attributes: attributes(&span.attributes),
                    status_code: span.status.map_or(0, |status| status.code),
                    service_name: service_name.clone(),
                });
            }
        }
    }
    state.lock().unwrap().spans.extend(spans);
    Ok(())
}

fn record_metrics(body: &[u8], state: &Mutex<State>) -> Result<(), prost::DecodeError> {
    let request = match ExportMetricsServiceRequest::decode(body) {
        Ok(request) => request,
        Err(error) => {
            state.lock().unwrap().malformed += 1;
            return Err(error);
        }
    };
    let names = request
        .resource_metrics
        .into_iter()
        .flat_map(|resource| resource.scope_metrics)
        .flat_map(|scope| scope.metrics)
        .map(|metric| metric.name)
        .collect();
    state.lock().unwrap().metric_pushes.push(names);
    Ok(())
}

fn attributes(
    pairs: &[opentelemetry_proto::tonic::common::v1::KeyValue],
) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|pair| {
            (
                pair.key.clone(),
                pair.value.as_ref().map(text).unwrap_or_default(),
            )
        })
        .collect()
}

fn text(value: &AnyValue) -> String {
    match &value.value {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}
