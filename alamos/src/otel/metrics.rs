//! OTLP metrics: the series of the Prometheus exposition, pushed over
//! OTLP/HTTP (protobuf) every export interval and once more at shutdown.
//!
//! # Why not the SDK's metrics pipeline
//!
//! alamos's metrics live in its own store; an exporter reads a
//! [snapshot](fn@crate::metric::snapshot) of it. The OpenTelemetry SDK (0.33)
//! could only be fed through its instrument API: observable counters and
//! gauges would do, but there is no observable histogram, so the duration
//! buckets would have to be re-recorded as observations and would no longer
//! be the store's. Its `ResourceMetrics` cannot be built outside the SDK
//! either, and its exemplars come only from its own reservoirs (it sends
//! none today). So this module builds `ExportMetricsServiceRequest`s from
//! the snapshot with `opentelemetry-proto`'s messages and posts them with
//! the blocking `reqwest` client the span exporter already brings: every
//! series, its labels (with the constant labels) and bucket bounds are the
//! scrape's, and histogram points carry the store's exemplars.
//!
//! # Mapping
//!
//! | snapshot | OTLP |
//! |---|---|
//! | counter | `Sum`, monotonic, cumulative, integer points |
//! | gauge | `Gauge`, double points |
//! | histogram | `Histogram`, cumulative, explicit bounds, per-bucket counts, exemplars |
//!
//! Names are the exposition's (`alamos_calls_total`), units UCUM (`s`,
//! `By`), descriptions the HELP text; every point starts when the pusher
//! started. The resource is the one spans and log records carry.
//!
//! # Failures
//!
//! A push that fails (the receiver is down, answers an error, or takes
//! longer than the timeout) drops its points, counted in the health metrics
//! with the reason ([`health`](super::health)); pushes go on at the
//! interval. Shutdown pushes once more, within what is left of the
//! shutdown's time.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, metric, number_data_point, AggregationTemporality, Exemplar, Gauge, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message as _;

use super::health::{classify, error_text, Health, Reason};
use super::OtelError;
use crate::identity::{self, Identity};
use crate::metric::name::{Kind, Unit};
use crate::metric::snapshot::{FamilySnapshot, Snapshot, Value};

/// What the pusher needs to know.
#[derive(Clone, Debug)]
pub(crate) struct PushConfig {
    pub(crate) endpoint: String,
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) resource: Vec<(String, String)>,
    /// Where the points pushed and dropped are counted.
    pub(crate) health: Arc<Health>,
}

/// The thread that pushes metrics; dropping it pushes once more and stops.
#[derive(Debug)]
pub(crate) struct Pusher {
    stop: Option<Sender<()>>,
    // In a mutex so that the guard holding the pusher stays `Sync`.
    done: Mutex<Receiver<()>>,
    thread: Option<JoinHandle<()>>,
    timeout: Duration,
}

impl Pusher {
    /// Starts pushing every `config.interval`.
    ///
    /// # Errors
    ///
    /// The endpoint is not an `http(s)` URL, or the client cannot be built.
    pub(crate) fn start(config: PushConfig) -> Result<Pusher, OtelError> {
        check_endpoint(&config.endpoint)?;
        let (stop, stopped) = mpsc::channel();
        let (finished, done) = mpsc::channel();
        let timeout = config.timeout;
        let thread = std::thread::Builder::new()
            .name("alamos-otlp-metrics".into())
            .spawn(move || {
                // reqwest's blocking client starts a runtime of its own: built
                // here, so the thread that drops the guard never needs one.
                match reqwest::blocking::Client::builder()
                    .timeout(config.timeout)
                    .build()
                {
                    Ok(client) => run(&client, &config, &stopped),
                    Err(error) => eprintln!(
                        "alamos: not pushing metrics to {}: {error}",
                        config.endpoint
                    ),
                }
                let _ = finished.send(());
            })
            .map_err(|error| {
                OtelError::Build(format!("cannot start the metrics thread: {error}"))
            })?;
        Ok(Pusher {
            stop: Some(stop),
            done: Mutex::new(done),
            thread: Some(thread),
            timeout,
        })
    }
}

impl Pusher {
    /// Pushes once more and stops, waiting until `deadline` at the latest;
    /// past it the thread is left to finish on its own rather than hold up
    /// exit. Whether the thread finished.
    pub(crate) fn finish(mut self, deadline: Instant) -> bool {
        self.stop_by(deadline)
    }

    fn stop_by(&mut self, deadline: Instant) -> bool {
        let Some(stop) = self.stop.take() else {
            return true;
        };
        drop(stop);
        let done = self.done.get_mut().unwrap_or_else(PoisonError::into_inner);
        match done.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                if let Some(thread) = self.thread.take() {
                    let _ = thread.join();
                }
                true
            }
            Err(RecvTimeoutError::Timeout) => false,
        }
    }
}

impl Drop for Pusher {
    fn drop(&mut self) {
        // The last push takes at most the timeout (and a margin).
        let deadline = Instant::now() + self.timeout + Duration::from_secs(1);
        if !self.stop_by(deadline) {
            eprintln!("alamos: the last metrics push did not finish in time; not waiting for it");
        }
    }
}

/// Whether metrics can be posted to `endpoint`: an `http(s)` URL.
///
/// # Errors
///
/// The endpoint is not a URL, or not an `http(s)` one.
pub(crate) fn check_endpoint(endpoint: &str) -> Result<(), OtelError> {
    let url = reqwest::Url::parse(endpoint)
        .map_err(|error| OtelError::Build(format!("metrics to {endpoint:?}: {error}")))?;
    if matches!(url.scheme(), "http" | "https") {
        Ok(())
    } else {
        Err(OtelError::Build(format!(
            "metrics to {endpoint:?}: not an http(s) URL"
        )))
    }
}

/// Pushes at every interval until told to stop, then once more.
fn run(client: &reqwest::blocking::Client, config: &PushConfig, stopped: &Receiver<()>) {
    let start_unix_nanos = unix_nanos(SystemTime::now());
    let mut next = Instant::now() + config.interval;
    loop {
        let wait = next.saturating_duration_since(Instant::now());
        let stopping = !matches!(stopped.recv_timeout(wait), Err(RecvTimeoutError::Timeout));
        next += config.interval;
        let now = Instant::now();
        if next < now {
            // A push took longer than the interval: skip the missed ones.
            next = now + config.interval;
        }
        push(client, config, start_unix_nanos);
        if stopping {
            return;
        }
    }
}

/// One push of the current snapshot, counted in the health metrics;
/// nothing when alamos's recorder is not installed.
fn push(client: &reqwest::blocking::Client, config: &PushConfig, start_unix_nanos: u64) {
    let Some(snapshot) = crate::metric::snapshot() else {
        return;
    };
    let identity = identity::current().unwrap_or_default();
    let request = request(
        &snapshot,
        &identity,
        &config.resource,
        start_unix_nanos,
        unix_nanos(SystemTime::now()),
    );
    let points = points(&request);
    config.health.push_started(points);
    let result = send(client, config, request.encode_to_vec());
    config.health.push_ended(result);
}

/// The data points of a request.
fn points(request: &ExportMetricsServiceRequest) -> u64 {
    request
        .resource_metrics
        .iter()
        .flat_map(|resource| &resource.scope_metrics)
        .flat_map(|scope| &scope.metrics)
        .map(|metric| match &metric.data {
            Some(metric::Data::Sum(sum)) => sum.data_points.len(),
            Some(metric::Data::Gauge(gauge)) => gauge.data_points.len(),
            Some(metric::Data::Histogram(histogram)) => histogram.data_points.len(),
            _ => 0,
        })
        .sum::<usize>() as u64
}

/// Posts one encoded request; a failure says how it failed.
fn send(
    client: &reqwest::blocking::Client,
    config: &PushConfig,
    body: Vec<u8>,
) -> Result<(), (Reason, String)> {
    let mut post = client
        .post(&config.endpoint)
        .header("content-type", "application/x-protobuf")
        .body(body);
    for (name, value) in &config.headers {
        post = post.header(name.as_str(), value.as_str());
    }
    let response = post
        .send()
        .map_err(|error| (classify(&error), error_text(&error)))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err((Reason::Rejected, format!("the receiver answered {status}")))
    }
}

fn unix_nanos(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
        })
}

/// The OTLP request for `snapshot`: one resource, one scope (`alamos`), a
/// metric per family.
pub(crate) fn request(
    snapshot: &Snapshot,
    identity: &Identity,
    resource: &[(String, String)],
    start_unix_nanos: u64,
    now_unix_nanos: u64,
) -> ExportMetricsServiceRequest {
    let times = Times {
        start: start_unix_nanos,
        now: now_unix_nanos,
    };
    let metrics = snapshot
        .families
        .iter()
        .filter(|family| !family.series.is_empty())
        .map(|family| metric(family, identity, times))
        .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: key_values(resource.iter()),
                ..Resource::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "alamos".to_owned(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    ..InstrumentationScope::default()
                }),
                metrics,
                ..ScopeMetrics::default()
            }],
            ..ResourceMetrics::default()
        }],
    }
}

#[derive(Clone, Copy)]
struct Times {
    start: u64,
    now: u64,
}

fn metric(family: &FamilySnapshot, identity: &Identity, times: Times) -> Metric {
    let cumulative = AggregationTemporality::Cumulative as i32;
    let data = match family.kind {
        Kind::Counter => metric::Data::Sum(Sum {
            data_points: number_points(family, identity, times),
            aggregation_temporality: cumulative,
            is_monotonic: true,
        }),
        Kind::Gauge => metric::Data::Gauge(Gauge {
            data_points: number_points(family, identity, times),
        }),
        Kind::Histogram => metric::Data::Histogram(Histogram {
            data_points: family
                .series
                .iter()
                .filter_map(|series| {
                    let Value::Histogram {
                        buckets,
                        sum,
                        exemplars,
                    } = &series.value
                    else {
                        return None;
                    };
                    let mut previous = 0;
                    let bucket_counts = buckets
                        .iter()
                        .map(|cumulative| {
                            let count = cumulative.saturating_sub(previous);
                            previous = *cumulative;
                            count
                        })
                        .collect();
                    Some(HistogramDataPoint {
                        attributes: attributes(identity, &series.labels),
                        start_time_unix_nano: times.start,
                        time_unix_nano: times.now,
                        count: series.value.count(),
                        sum: Some(*sum),
                        bucket_counts,
                        explicit_bounds: family.bounds.to_vec(),
                        exemplars: exemplars
                            .iter()
                            .flatten()
                            .map(|exemplar| Exemplar {
                                time_unix_nano: exemplar.unix_nanos,
                                span_id: exemplar.span_id.to_vec(),
                                trace_id: exemplar.trace_id.to_vec(),
                                value: Some(exemplar::Value::AsDouble(exemplar.value)),
                                ..Exemplar::default()
                            })
                            .collect(),
                        ..HistogramDataPoint::default()
                    })
                })
                .collect(),
            aggregation_temporality: cumulative,
        }),
    };
    Metric {
        name: family.name.to_string(),
        description: family.help.as_deref().unwrap_or_default().to_owned(),
        unit: match family.unit {
            Some(Unit::Seconds) => "s",
            Some(Unit::Bytes) => "By",
            None => "",
        }
        .to_owned(),
        data: Some(data),
        ..Metric::default()
    }
}

fn number_points(
    family: &FamilySnapshot,
    identity: &Identity,
    times: Times,
) -> Vec<NumberDataPoint> {
    family
        .series
        .iter()
        .map(|series| {
            let value = match &series.value {
                Value::Counter(count) => {
                    number_data_point::Value::AsInt(i64::try_from(*count).unwrap_or(i64::MAX))
                }
                Value::Gauge(value) => number_data_point::Value::AsDouble(*value),
                Value::Histogram { sum, .. } => number_data_point::Value::AsDouble(*sum),
            };
            NumberDataPoint {
                attributes: attributes(identity, &series.labels),
                start_time_unix_nano: times.start,
                time_unix_nano: times.now,
                value: Some(value),
                ..NumberDataPoint::default()
            }
        })
        .collect()
}

fn attributes(identity: &Identity, labels: &crate::metric::store::Labels) -> Vec<KeyValue> {
    key_values(identity.labels_of(labels).iter())
}

fn key_values<'a>(pairs: impl Iterator<Item = &'a (String, String)>) -> Vec<KeyValue> {
    pairs
        .map(|(key, value)| KeyValue {
            key: key.clone(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(value.clone())),
            }),
            ..KeyValue::default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    use std::net::TcpListener;
    use std::sync::Arc;

    use prost::Message as _;

    use super::*;
    use crate::metric::exemplar::Exemplar as StoreExemplar;
    use crate::metric::snapshot::SeriesSnapshot;
    use crate::otel::health::Signal;

    fn snapshot() -> Snapshot {
        let labels: crate::metric::store::Labels =
            vec![("experiment".to_owned(), "x".to_owned())].into();
        Snapshot {
            families: vec![
                FamilySnapshot {
                    name: "alamos_calls_total".into(),
                    kind: Kind::Counter,
                    help: Some("Calls.".into()),
                    unit: None,
                    bounds: Arc::new([]),
                    series: vec![SeriesSnapshot {
                        labels: Arc::clone(&labels),
                        value: Value::Counter(7),
                    }],
                },
                FamilySnapshot {
                    name: "alamos_call_duration_seconds".into(),
                    kind: Kind::Histogram,
                    help: None,
                    unit: Some(Unit::Seconds),
                    bounds: Arc::new([0.1, 1.0]),
                    series: vec![SeriesSnapshot {
                        labels,
                        value: Value::Histogram {
                            buckets: vec![2, 5, 6],
                            sum: 2.5,
                            exemplars: vec![
                                None,
                                Some(StoreExemplar {
                                    trace_id: [7; 16],
                                    span_id: [8; 8],
                                    value: 0.5,
                                    unix_nanos: 42,
                                }),
                                None,
                            ],
                        },
                    }],
                },
            ],
        }
    }

    fn identity() -> Identity {
        Identity {
            resource: Vec::new(),
            constant_labels: vec![("node".to_owned(), "a".to_owned())],
        }
    }

    fn text(value: Option<&AnyValue>) -> &str {
        match value.and_then(|v| v.value.as_ref()) {
            Some(any_value::Value::StringValue(text)) => text,
            _ => "",
        }
    }

    #[test]
    fn series_map_to_otlp_points_with_constant_labels_and_exemplars() {
        let resource = [("service.name".to_owned(), "svc".to_owned())];
        let request = request(&snapshot(), &identity(), &resource, 1, 2);
        let resource_metrics = &request.resource_metrics[0];
        let attributes = &resource_metrics.resource.as_ref().unwrap().attributes;
        assert_eq!(attributes[0].key, "service.name");
        assert_eq!(text(attributes[0].value.as_ref()), "svc");
        let metrics = &resource_metrics.scope_metrics[0].metrics;
        assert_eq!(metrics.len(), 2);

        let Some(metric::Data::Sum(sum)) = &metrics[0].data else {
            panic!("{:?}", metrics[0]);
        };
        assert!(sum.is_monotonic);
        let point = &sum.data_points[0];
        assert_eq!(point.value, Some(number_data_point::Value::AsInt(7)));
        let labels: Vec<(&str, &str)> = point
            .attributes
            .iter()
            .map(|kv| (kv.key.as_str(), text(kv.value.as_ref())))
            .collect();
        assert_eq!(labels, [("experiment", "x"), ("node", "a")]);
        assert_eq!((point.start_time_unix_nano, point.time_unix_nano), (1, 2));

        assert_eq!(metrics[1].unit, "s");
        let Some(metric::Data::Histogram(histogram)) = &metrics[1].data else {
            panic!("{:?}", metrics[1]);
        };
        let point = &histogram.data_points[0];
        assert_eq!(point.bucket_counts, [2, 3, 1]);
        assert_eq!(point.explicit_bounds, [0.1, 1.0]);
        assert_eq!(point.count, 6);
        assert_eq!(point.sum, Some(2.5));
        assert_eq!(point.exemplars.len(), 1);
        assert_eq!(point.exemplars[0].trace_id, [7; 16]);
        assert_eq!(point.exemplars[0].span_id, [8; 8]);
        assert_eq!(point.exemplars[0].time_unix_nano, 42);
    }

    #[test]
    fn bad_endpoints_are_errors() {
        let config = |endpoint: &str| PushConfig {
            endpoint: endpoint.to_owned(),
            interval: Duration::from_secs(60),
            timeout: Duration::from_millis(200),
            headers: Vec::new(),
            resource: Vec::new(),
            health: Health::new(Signal::Metrics, endpoint),
        };
        assert!(Pusher::start(config("not a url")).is_err());
        assert!(Pusher::start(config("ftp://h/v1/metrics")).is_err());
    }

    /// A receiver that is down delays shutdown by at most the timeout, and
    /// the pusher keeps the headers it was given.
    #[test]
    fn pushes_carry_headers_and_a_dead_receiver_does_not_hold_up_shutdown() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (heads, received) = mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut head = String::new();
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                    head.push_str(&line);
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let _ = (&stream).write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
                let _ = heads.send((head, body));
            }
        });
        let config = PushConfig {
            endpoint: format!("http://{addr}/v1/metrics"),
            interval: Duration::from_secs(3600),
            timeout: Duration::from_secs(5),
            headers: vec![("x-api-key".to_owned(), "secret".to_owned())],
            resource: Vec::new(),
            health: Health::new(Signal::Metrics, "receiver"),
        };
        let body = request(&snapshot(), &identity(), &[], 1, 2).encode_to_vec();
        let client = reqwest::blocking::Client::new();
        send(&client, &config, body).unwrap();
        let (head, body) = received.recv_timeout(Duration::from_secs(5)).unwrap();
        let head = head.to_ascii_lowercase();
        assert!(head.starts_with("post /v1/metrics "), "{head}");
        assert!(head.contains("x-api-key: secret"), "{head}");
        assert!(
            head.contains("content-type: application/x-protobuf"),
            "{head}"
        );
        let decoded = ExportMetricsServiceRequest::decode(&body[..]).unwrap();
        assert_eq!(
            decoded.resource_metrics[0].scope_metrics[0].metrics.len(),
            2
        );
        // Without alamos's recorder there is no snapshot: the last push at
        // drop sends nothing.
        drop(Pusher::start(config).unwrap());
        assert!(received.recv_timeout(Duration::from_millis(200)).is_err());

        // Nobody listens on a freed port: every push fails fast, and the
        // drop returns within the timeout.
        let dead = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let started = Instant::now();
        drop(
            Pusher::start(PushConfig {
                endpoint: format!("http://{dead}/v1/metrics"),
                interval: Duration::from_millis(20),
                timeout: Duration::from_millis(300),
                headers: Vec::new(),
                resource: Vec::new(),
                health: Health::new(Signal::Metrics, "nowhere"),
            })
            .unwrap(),
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
}
