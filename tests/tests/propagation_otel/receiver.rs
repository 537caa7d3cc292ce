//! A small OTLP/HTTP receiver on a loopback port: it decodes every
//! `POST /v1/traces` body as an `ExportTraceServiceRequest` and keeps the
//! spans, so tests can look at exactly what alamos exported (log records
//! are counted; metrics requests are kept by the names of the metrics they
//! carry, with the value of each counter point).
//!
//! [`Receiver::with`] makes it misbehave as a receiver in trouble does: answer
//! every request with an error status, or only after a delay.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::AnyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point;
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
    #[allow(dead_code)] // failures_otel reads the message and the times.
    pub(crate) status_message: String,
    /// Since the Unix epoch.
    #[allow(dead_code)]
    pub(crate) start_unix_nano: u64,
    #[allow(dead_code)]
    pub(crate) end_unix_nano: u64,
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
    /// The counter points of the latest push: name, labels, value.
    last_counters: Vec<(String, BTreeMap<String, String>, i64)>,
    log_requests: usize,
    /// The bodies of the log records received.
    log_bodies: Vec<String>,
}

/// How the receiver answers.
#[derive(Clone, Copy, Debug)]
#[allow(dead_code)] // propagation_otel uses a healthy one only.
pub(crate) enum Behaviour {
    /// Takes every request.
    Healthy,
    /// Answers every request with this status, taking nothing.
    Status(u16),
    /// Reads each request, then waits this long before answering (and
    /// takes nothing: the client gave up).
    Slow(Duration),
}

pub(crate) struct Receiver {
    port: u16,
    state: Arc<Mutex<State>>,
}

impl Receiver {
    pub(crate) fn start() -> Receiver {
        Receiver::with(Behaviour::Healthy)
    }

    pub(crate) fn with(behaviour: Behaviour) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        std::thread::Builder::new()
            .name("otlp-receiver".to_owned())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    let shared = shared.clone();
                    std::thread::spawn(move || serve(stream, &shared, behaviour));
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

    /// The bodies of the log records that arrived.
    #[allow(dead_code)] // propagation_otel looks at spans only.
    pub(crate) fn log_bodies(&self) -> Vec<String> {
        self.state.lock().unwrap().log_bodies.clone()
    }

    /// The value of the counter point `name` with these labels in the
    /// latest metrics push.
    #[allow(dead_code)] // propagation_otel looks at spans only.
    pub(crate) fn last_counter(&self, name: &str, labels: &[(&str, &str)]) -> Option<i64> {
        self.state
            .lock()
            .unwrap()
            .last_counters
            .iter()
            .find(|(known, attributes, _)| {
                known == name
                    && labels
                        .iter()
                        .all(|(k, v)| attributes.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, _, value)| *value)
    }
}

/// Serves HTTP/1.1 requests on one connection until the client closes it.
fn serve(stream: TcpStream, state: &Mutex<State>, behaviour: Behaviour) {
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
        let refusal = match behaviour {
            Behaviour::Healthy => None,
            Behaviour::Status(status) => Some(format!("{status} Refused")),
            Behaviour::Slow(delay) => {
                std::thread::sleep(delay);
                Some("200 OK".to_owned())
            }
        };
        if let Some(status) = refusal {
            let response = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
            if writer.write_all(response.as_bytes()).is_err() {
                return;
            }
            continue;
        }
        let accepted = if request_line.starts_with("POST /v1/traces ") {
            record(&body, state).is_ok()
        } else if request_line.starts_with("POST /v1/metrics ") {
            record_metrics(&body, state).is_ok()
        } else if request_line.starts_with("POST /v1/logs ") {
            record_logs(&body, state).is_ok()
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
                    status_code: span.status.as_ref().map_or(0, |status| status.code),
                    status_message: span.status.map(|status| status.message).unwrap_or_default(),
                    start_unix_nano: span.start_time_unix_nano,
                    end_unix_nano: span.end_time_unix_nano,
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
    let metrics: Vec<_> = request
        .resource_metrics
        .into_iter()
        .flat_map(|resource| resource.scope_metrics)
        .flat_map(|scope| scope.metrics)
        .collect();
    let mut counters = Vec::new();
    for metric in &metrics {
        if let Some(Data::Sum(sum)) = &metric.data {
            for point in &sum.data_points {
                if let Some(number_data_point::Value::AsInt(value)) = point.value {
                    counters.push((metric.name.clone(), attributes(&point.attributes), value));
                }
            }
        }
    }
    let names = metrics.into_iter().map(|metric| metric.name).collect();
    let mut state = state.lock().unwrap();
    state.metric_pushes.push(names);
    state.last_counters = counters;
    Ok(())
}

fn record_logs(body: &[u8], state: &Mutex<State>) -> Result<(), prost::DecodeError> {
    let request = match ExportLogsServiceRequest::decode(body) {
        Ok(request) => request,
        Err(error) => {
            state.lock().unwrap().malformed += 1;
            return Err(error);
        }
    };
    let bodies: Vec<String> = request
        .resource_logs
        .into_iter()
        .flat_map(|resource| resource.scope_logs)
        .flat_map(|scope| scope.log_records)
        .map(|record| record.body.as_ref().map(text).unwrap_or_default())
        .collect();
    let mut state = state.lock().unwrap();
    state.log_requests += 1;
    state.log_bodies.extend(bodies);
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
