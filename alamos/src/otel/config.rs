//! What OTLP export is told: where each signal goes, how this process is
//! named, and how the exporters behave. [`OtelConfig::from_vars`] reads the
//! standard `OTEL_*` variables (through a lookup function, so that it is a
//! pure parser the tests feed); setters override them.

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry_sdk::resource::TelemetryResourceDetector;
use opentelemetry_sdk::Resource;

use super::health::Signal;
use crate::identity;
use crate::sampling::otel_env;

/// Where spans go when nothing says otherwise: a collector on this machine.
const DEFAULT_ENDPOINT: &str = "http://localhost:4318";
/// The only OTLP protocol alamos exports, as `OTEL_EXPORTER_OTLP_PROTOCOL`
/// names it.
const HTTP_PROTOBUF: &str = "http/protobuf";
/// The paths OTLP/HTTP receivers take each signal on.
const TRACES_PATH: &str = "/v1/traces";
const METRICS_PATH: &str = "/v1/metrics";
const LOGS_PATH: &str = "/v1/logs";
/// How often metrics are pushed unless `OTEL_METRIC_EXPORT_INTERVAL` or
/// [`OtelConfig::metric_export_interval`] says otherwise (the
/// specification's default).
const DEFAULT_METRIC_INTERVAL: Duration = Duration::from_secs(60);
/// How long one export request may take unless told otherwise (the
/// specification's default).
pub(super) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// How many items may wait for export unless told otherwise (the SDK's
/// default for spans and log records alike).
const DEFAULT_QUEUE: usize = 2048;
/// How long the guard's shutdown may take in all, unless told otherwise.
pub(crate) const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// How spans are exported over OTLP: the receiver's address and this
/// process's resource (its `service.name` and other attributes).
///
/// [`OtelConfig::from_env`] reads the standard OpenTelemetry variables;
/// setters override them. Give it to [`Builder::otel`](crate::Builder::otel),
/// or build a layer for a subscriber of your own:
///
/// ```no_run
/// use tracing_subscriber::layer::SubscriberExt as _;
///
/// let config = alamos::OtelConfig::from_env()
///     .service_name("frame-writer")
///     .resource_attribute("deployment.environment", "staging");
/// let (layer, guard) = config.build_layer().expect("a valid endpoint");
/// tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
///     .expect("no other subscriber");
/// // ... run ...
/// guard.shutdown().expect("every finished span exported");
/// ```
///
/// Without any configuration (no `Builder::otel`, no endpoint variable),
/// `alamos::init()` exports nothing but still gives spans their trace ids,
/// for log lines and propagation (see [`Builder::otel`](crate::Builder::otel));
/// a configuration that is [disabled](OtelConfig::disabled) gives them none.
#[derive(Clone, Debug, PartialEq, Eq)]
// One bool per signal exported, as the setters take them.
#[allow(clippy::struct_excessive_bools)]
pub struct OtelConfig {
    pub(super) traces_endpoint: String,
    pub(super) metrics_endpoint: String,
    pub(super) logs_endpoint: String,
    pub(super) traces: bool,
    pub(super) metrics: bool,
    pub(super) logs: bool,
    pub(super) metric_interval: Duration,
    /// Headers for metrics from the environment: the span and log exporters
    /// read theirs themselves (alamos checks them for the report).
    pub(super) env_metric_headers: Vec<(String, String)>,
    /// Each signal's request timeout from the environment (traces,
    /// metrics, logs), unless [`OtelConfig::timeout`] sets one for all.
    pub(super) env_timeouts: [Option<Duration>; 3],
    /// `OTEL_BSP_MAX_QUEUE_SIZE` and `OTEL_BLRP_MAX_QUEUE_SIZE`.
    pub(super) env_span_queue: Option<usize>,
    pub(super) env_log_queue: Option<usize>,
    /// `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` as given: the
    /// sampling rules (`ALAMOS_TRACE_SAMPLE`) read them, not the exporter.
    pub(super) traces_sampler: Option<(String, Option<String>)>,
    pub(super) shutdown_timeout: Duration,
    pub(super) service_name: Option<String>,
    pub(super) resource_attributes: Vec<(String, String)>,
    pub(super) headers: Vec<(String, String)>,
    pub(super) timeout: Option<Duration>,
    pub(super) max_queue_size: Option<usize>,
    pub(super) scheduled_delay: Option<Duration>,
    pub(super) disabled: bool,
    pub(super) problems: Vec<String>,
}

impl Default for OtelConfig {
    fn default() -> Self {
        OtelConfig::new()
    }
}

impl OtelConfig {
    /// Export to `http://localhost:4318` (`/v1/traces`, `/v1/metrics` every
    /// 60 s, `/v1/logs`) as service `unknown_service:<executable name>`,
    /// reading no environment variable.
    pub fn new() -> Self {
        OtelConfig {
            traces_endpoint: signal_url(DEFAULT_ENDPOINT, TRACES_PATH),
            metrics_endpoint: signal_url(DEFAULT_ENDPOINT, METRICS_PATH),
            logs_endpoint: signal_url(DEFAULT_ENDPOINT, LOGS_PATH),
            traces: true,
            metrics: true,
            logs: true,
            metric_interval: DEFAULT_METRIC_INTERVAL,
            env_metric_headers: Vec::new(),
            env_timeouts: [None; 3],
            env_span_queue: None,
            env_log_queue: None,
            traces_sampler: None,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            service_name: None,
            resource_attributes: Vec::new(),
            headers: Vec::new(),
            timeout: None,
            max_queue_size: None,
            scheduled_delay: None,
            disabled: false,
            problems: Vec::new(),
        }
    }

    /// The configuration the standard OpenTelemetry environment variables
    /// describe:
    ///
    /// | variable | meaning |
    /// |---|---|
    /// | `OTEL_EXPORTER_OTLP_ENDPOINT` | the receiver's base URL; `/v1/traces`, `/v1/metrics` and `/v1/logs` are appended |
    /// | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` | the full URL traces are posted to |
    /// | `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` | the full URL metrics are posted to |
    /// | `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT` | the full URL log records are posted to |
    /// | `OTEL_METRIC_EXPORT_INTERVAL` | milliseconds between metric pushes (default 60000) |
    /// | `OTEL_TRACES_EXPORTER`, `OTEL_METRICS_EXPORTER`, `OTEL_LOGS_EXPORTER` | `none` turns that signal's export off (`otlp`, the default, keeps it); spans keep their trace ids without export |
    /// | `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT` | headers (`k=v,...`, values percent-decoded) and timeout (ms) of every request; the `_TRACES_`, `_METRICS_` and `_LOGS_` forms apply to one signal |
    /// | `OTEL_EXPORTER_OTLP_COMPRESSION` and its `_TRACES_`, `_METRICS_`, `_LOGS_` forms | only `none`: bodies are sent uncompressed; another value is reported and ignored |
    /// | `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BLRP_MAX_QUEUE_SIZE` | how many spans, log records may wait for export (default 2048); more are dropped, counted `queue_full` |
    /// | `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG` | kept as given ([`OtelConfig::traces_sampler`]) for alamos's sampling rules |
    /// | `OTEL_SERVICE_NAME` | `service.name`, ahead of one in the next variable |
    /// | `OTEL_RESOURCE_ATTRIBUTES` | `key=value,...` resource attributes, values percent-decoded |
    /// | `OTEL_EXPORTER_OTLP_PROTOCOL` and its `_TRACES_`, `_METRICS_`, `_LOGS_` forms | only `http/protobuf`, what alamos exports; another value is reported and ignored |
    /// | `OTEL_SDK_DISABLED` | `true` turns export off, and spans get no trace ids |
    ///
    /// The span and log exporters read their headers themselves, the batch
    /// processors the other `OTEL_BSP_*` and `OTEL_BLRP_*` variables;
    /// setters override the environment.
    ///
    /// A malformed value is reported on stderr, and ignored: the default
    /// applies.
    pub fn from_env() -> Self {
        let config = OtelConfig::from_vars(|name| std::env::var(name).ok());
        for problem in config.problems() {
            eprintln!("alamos: {problem}");
        }
        config
    }

    /// As [`OtelConfig::from_env`], reading variables through `var`, and
    /// keeping what was wrong in [`OtelConfig::problems`] instead of printing
    /// it.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let mut config = OtelConfig::new();
        let set = |name: &str| var(name).filter(|value| !value.trim().is_empty());
        if let Some(base) = set("OTEL_EXPORTER_OTLP_ENDPOINT") {
            config = config.endpoint(base.trim());
        }
        for (variable, endpoint) in [
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                &mut config.traces_endpoint,
            ),
            (
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                &mut config.metrics_endpoint,
            ),
            (
                "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
                &mut config.logs_endpoint,
            ),
        ] {
            if let Some(url) = set(variable) {
                url.trim().clone_into(endpoint);
            }
        }
        if let Some(interval) = set("OTEL_METRIC_EXPORT_INTERVAL") {
            match interval.trim().parse::<u64>() {
                Ok(millis) if millis > 0 => config.metric_interval = Duration::from_millis(millis),
                _ => config.problems.push(format!(
                    "ignoring OTEL_METRIC_EXPORT_INTERVAL={interval:?}: expected a positive number of milliseconds"
                )),
            }
        }
        for (variable, on) in [
            ("OTEL_TRACES_EXPORTER", &mut config.traces),
            ("OTEL_METRICS_EXPORTER", &mut config.metrics),
            ("OTEL_LOGS_EXPORTER", &mut config.logs),
        ] {
            if let Some(value) = set(variable) {
                match value.trim().to_ascii_lowercase().as_str() {
                    "none" => *on = false,
                    "otlp" => {}
                    other => config.problems.push(format!(
                        "ignoring {variable}={other:?}: alamos exports `otlp` or `none`"
                    )),
                }
            }
        }
        for variable in [
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
            "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
        ] {
            if let Some(protocol) = set(variable) {
                if !protocol.trim().eq_ignore_ascii_case(HTTP_PROTOBUF) {
                    config.problems.push(format!(
                        "ignoring {variable}={protocol:?}: alamos exports OTLP over {HTTP_PROTOBUF} only, so the endpoint must be an OTLP/HTTP receiver (usually port 4318; a gRPC one, usually 4317, refuses it)"
                    ));
                }
            }
        }
        config.transport_vars(&set);
        if let Some(attributes) = set("OTEL_RESOURCE_ATTRIBUTES") {
            match identity::parse_attributes(&attributes) {
                Ok(attributes) => config.resource_attributes = attributes,
                Err(problem) => config
                    .problems
                    .push(format!("ignoring OTEL_RESOURCE_ATTRIBUTES: {problem}")),
            }
        }
        if let Some(name) = set("OTEL_SERVICE_NAME") {
            config.service_name = Some(name.trim().to_owned());
        }
        if let Some(disabled) = set("OTEL_SDK_DISABLED") {
            match disabled.trim().to_ascii_lowercase().as_str() {
                "true" => config.disabled = true,
                "false" => {}
                other => config.problems.push(format!(
                    "ignoring OTEL_SDK_DISABLED={other:?}: expected `true` or `false`"
                )),
            }
        }
        config
    }

    /// The requests' headers and timeouts, the queues, and the sampler
    /// kept for the sampling rules.
    fn transport_vars(&mut self, set: &impl Fn(&str) -> Option<String>) {
        let general_headers = headers_var(set, "OTEL_EXPORTER_OTLP_HEADERS", &mut self.problems);
        for signal in ["TRACES", "LOGS"] {
            headers_var(
                set,
                &format!("OTEL_EXPORTER_OTLP_{signal}_HEADERS"),
                &mut self.problems,
            );
        }
        if let Some(headers) = headers_var(
            set,
            "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
            &mut self.problems,
        )
        .or(general_headers)
        {
            self.env_metric_headers = headers;
        }
        let general_timeout = millis_var(set, "OTEL_EXPORTER_OTLP_TIMEOUT", &mut self.problems);
        for (i, signal) in ["TRACES", "METRICS", "LOGS"].into_iter().enumerate() {
            self.env_timeouts[i] = millis_var(
                set,
                &format!("OTEL_EXPORTER_OTLP_{signal}_TIMEOUT"),
                &mut self.problems,
            )
            .or(general_timeout);
        }
        for (variable, queue) in [
            ("OTEL_BSP_MAX_QUEUE_SIZE", &mut self.env_span_queue),
            ("OTEL_BLRP_MAX_QUEUE_SIZE", &mut self.env_log_queue),
        ] {
            if let Some(value) = set(variable) {
                match value.trim().parse::<usize>() {
                    Ok(size) if size > 0 => *queue = Some(size),
                    _ => self.problems.push(format!(
                        "ignoring {variable}={value:?}: expected a positive number of items; using {DEFAULT_QUEUE}"
                    )),
                }
            }
        }
        for variable in [
            "OTEL_EXPORTER_OTLP_COMPRESSION",
            "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
            "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION",
            "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION",
        ] {
            if let Some(value) = set(variable) {
                if !value.trim().eq_ignore_ascii_case("none") {
                    self.problems.push(format!(
                        "ignoring {variable}={value:?}: alamos sends uncompressed bodies"
                    ));
                }
            }
        }
        // The names sampling reads them by: it turns them into the root
        // probability; this keeps them as given for `traces_sampler()`.
        if let Some(sampler) = set(otel_env::SAMPLER) {
            self.traces_sampler = Some((
                sampler.trim().to_owned(),
                set(otel_env::SAMPLER_ARG).map(|arg| arg.trim().to_owned()),
            ));
        }
    }

    /// Whether an OTLP endpoint is set in the environment: a binary may
    /// export only then.
    pub fn endpoint_in_env() -> bool {
        [
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ]
        .iter()
        .any(|name| std::env::var(name).is_ok_and(|value| !value.trim().is_empty()))
    }

    /// Sets the receiver's base URL, as `OTEL_EXPORTER_OTLP_ENDPOINT` does:
    /// traces go to `<url>/v1/traces`, metrics to `<url>/v1/metrics` and
    /// log records to `<url>/v1/logs`.
    #[must_use]
    pub fn endpoint(mut self, url: impl AsRef<str>) -> Self {
        let url = url.as_ref();
        self.traces_endpoint = signal_url(url, TRACES_PATH);
        self.metrics_endpoint = signal_url(url, METRICS_PATH);
        self.logs_endpoint = signal_url(url, LOGS_PATH);
        self
    }

    /// Sets the full URL metrics are posted to, as
    /// `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` does.
    #[must_use]
    pub fn metrics_endpoint(mut self, url: impl Into<String>) -> Self {
        self.metrics_endpoint = url.into();
        self
    }

    /// Sets the full URL log records are posted to, as
    /// `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT` does.
    #[must_use]
    pub fn logs_endpoint(mut self, url: impl Into<String>) -> Self {
        self.logs_endpoint = url.into();
        self
    }

    /// How often metrics are pushed (default 60 s, or
    /// `OTEL_METRIC_EXPORT_INTERVAL`); they are pushed once more when the
    /// guard is dropped.
    #[must_use]
    pub fn metric_export_interval(mut self, interval: Duration) -> Self {
        self.metric_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Whether metrics are pushed over OTLP (default: yes; alamos's
    /// recorder must be installed for there to be any).
    #[must_use]
    pub fn metrics(mut self, export: bool) -> Self {
        self.metrics = export;
        self
    }

    /// Whether spans are exported (default: yes, unless
    /// `OTEL_TRACES_EXPORTER=none`). Without export, spans still get their
    /// trace ids, for log lines and propagation.
    #[must_use]
    pub fn traces(mut self, export: bool) -> Self {
        self.traces = export;
        self
    }

    /// How long the guard's shutdown may take in all (default 5 s):
    /// every signal is flushed at once, and what has not reached the
    /// receiver by then is counted lost (`reason="shutdown"`) and said on
    /// stderr. [`Builder::shutdown_timeout`](crate::Builder::shutdown_timeout)
    /// sets it for `init()`'s guard.
    #[must_use]
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Whether log events are exported as OTLP log records (default: yes).
    #[must_use]
    pub fn logs(mut self, export: bool) -> Self {
        self.logs = export;
        self
    }

    /// Sets the full URL traces are posted to, as
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` does.
    #[must_use]
    pub fn traces_endpoint(mut self, url: impl Into<String>) -> Self {
        self.traces_endpoint = url.into();
        self
    }

    /// Sets `service.name`.
    #[must_use]
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// Adds a resource attribute, replacing one with the same key.
    /// `service.name` sets the service name.
    #[must_use]
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let (key, value) = (key.into(), value.into());
        if key == "service.name" {
            self.service_name = Some(value);
        } else {
            self.resource_attributes.retain(|(k, _)| *k != key);
            self.resource_attributes.push((key, value));
        }
        self
    }

    /// Adds an HTTP header to every export request (an API key, say).
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// How long one export request may take (the exporter's default: 10 s).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// How many finished spans may wait for export (the default: 2048, or
    /// `OTEL_BSP_MAX_QUEUE_SIZE`).
    /// Spans finished while the queue is full are dropped: lost in the
    /// [`ExportReport`](super::ExportReport), and counted
    /// `alamos_export_dropped_total{signal="spans",reason="queue_full"}`.
    #[must_use]
    pub fn max_queue_size(mut self, spans: usize) -> Self {
        self.max_queue_size = Some(spans);
        self
    }

    /// How often the queue is exported (the default: every 5 s, or sooner
    /// when 512 spans wait).
    #[must_use]
    pub fn scheduled_delay(mut self, delay: Duration) -> Self {
        self.scheduled_delay = Some(delay);
        self
    }

    /// Turns export off (or back on): the layer then does nothing.
    #[must_use]
    pub fn disabled(mut self, disabled: bool) -> Self {
        self.disabled = disabled;
        self
    }

    /// The URL traces are posted to.
    pub fn traces_url(&self) -> &str {
        &self.traces_endpoint
    }

    /// Whether spans are exported.
    pub fn exports_traces(&self) -> bool {
        self.traces
    }

    /// `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`, as the
    /// environment gave them: alamos's sampling rules (`ALAMOS_TRACE_SAMPLE`)
    /// read them; the exporter does not.
    pub fn traces_sampler(&self) -> Option<(&str, Option<&str>)> {
        self.traces_sampler
            .as_ref()
            .map(|(sampler, arg)| (sampler.as_str(), arg.as_deref()))
    }

    /// The request timeout of `signal`'s exporter.
    pub(super) fn request_timeout(&self, signal: Signal) -> Duration {
        let index = match signal {
            Signal::Traces => 0,
            Signal::Metrics => 1,
            Signal::Logs => 2,
        };
        self.timeout
            .or(self.env_timeouts[index])
            .unwrap_or(DEFAULT_TIMEOUT)
    }

    /// How many spans may wait for export.
    pub(super) fn span_queue(&self) -> usize {
        self.max_queue_size
            .or(self.env_span_queue)
            .unwrap_or(DEFAULT_QUEUE)
    }

    /// How many log records may wait for export.
    pub(super) fn log_queue(&self) -> usize {
        self.env_log_queue.unwrap_or(DEFAULT_QUEUE)
    }

    /// The URL metrics are posted to, if they are exported.
    pub fn metrics_url(&self) -> Option<&str> {
        self.metrics.then_some(self.metrics_endpoint.as_str())
    }

    /// The URL log records are posted to, if they are exported.
    pub fn logs_url(&self) -> Option<&str> {
        self.logs.then_some(self.logs_endpoint.as_str())
    }

    /// How often metrics are pushed.
    pub fn export_interval(&self) -> Duration {
        self.metric_interval
    }

    /// The `service.name` spans are exported under.
    pub fn service(&self) -> String {
        self.resource_pairs()
            .into_iter()
            .next()
            .map(|(_, name)| name)
            .unwrap_or_default()
    }

    /// The resource attributes besides `service.name`, in order.
    pub fn resource_attributes(&self) -> impl Iterator<Item = (&str, &str)> {
        self.resource_attributes
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether export is off.
    pub fn is_disabled(&self) -> bool {
        self.disabled
    }

    /// What was wrong with the environment [`OtelConfig::from_vars`] read.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    /// The resource every signal is exported with.
    pub(super) fn resource(&self) -> Resource {
        let attributes: Vec<KeyValue> = self
            .resource_pairs()
            .into_iter()
            .map(|(key, value)| KeyValue::new(key, value))
            .collect();
        Resource::builder_empty()
            .with_detector(Box::new(TelemetryResourceDetector))
            .with_attributes(attributes)
            .build()
    }

    /// The resource attributes this configuration names, as text:
    /// `service.name`, `service.instance.id`, then the others.
    fn resource_pairs(&self) -> Vec<(String, String)> {
        identity::resource(self.service_name.clone(), &self.resource_attributes)
    }

    /// The resource of every export, as `target_info` shows it too.
    pub(crate) fn identity_resource(&self) -> Vec<(String, String)> {
        resource_strings(&self.resource())
    }
}

/// A resource's attributes as text, `service.name` and
/// `service.instance.id` first.
pub(super) fn resource_strings(resource: &Resource) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = resource
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect();
    let rank = |key: &str| match key {
        identity::SERVICE_NAME => 0,
        identity::SERVICE_INSTANCE_ID => 1,
        _ => 2,
    };
    pairs.sort_by(|a, b| rank(&a.0).cmp(&rank(&b.0)).then_with(|| a.0.cmp(&b.0)));
    pairs
}
/// `<base><path>`, with one `/` between.
pub(super) fn signal_url(base: &str, path: &str) -> String {
    format!("{}{path}", base.trim_end_matches('/'))
}

/// The headers `variable` names (`k=v,...`), or `None` if it is unset or
/// malformed (then said so in `problems`).
fn headers_var(
    set: &impl Fn(&str) -> Option<String>,
    variable: &str,
    problems: &mut Vec<String>,
) -> Option<Vec<(String, String)>> {
    let headers = set(variable)?;
    match identity::parse_attributes(&headers) {
        Ok(headers) => Some(headers),
        Err(problem) => {
            problems.push(format!("ignoring {variable}: {problem}"));
            None
        }
    }
}

/// The milliseconds `variable` gives, or `None` if it is unset or
/// malformed (then said so in `problems`).
fn millis_var(
    set: &impl Fn(&str) -> Option<String>,
    variable: &str,
    problems: &mut Vec<String>,
) -> Option<Duration> {
    let value = set(variable)?;
    if let Ok(millis) = value.trim().parse::<u64>() {
        Some(Duration::from_millis(millis))
    } else {
        problems.push(format!(
            "ignoring {variable}={value:?}: expected a number of milliseconds"
        ));
        None
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn defaults() {
        let config = OtelConfig::from_vars(vars(&[]));
        assert_eq!(config, OtelConfig::new());
        assert_eq!(config.traces_url(), "http://localhost:4318/v1/traces");
        assert!(config.service().starts_with("unknown_service:"));
        assert!(!config.is_disabled());
        assert!(config.problems().is_empty());
    }

    #[test]
    fn endpoints() {
        let base = OtelConfig::from_vars(vars(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://127.0.0.1:14318/",
        )]));
        assert_eq!(base.traces_url(), "http://127.0.0.1:14318/v1/traces");
        let with_path = OtelConfig::from_vars(vars(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://collector:4318/otlp",
        )]));
        assert_eq!(
            with_path.traces_url(),
            "http://collector:4318/otlp/v1/traces"
        );
        let signal = OtelConfig::from_vars(vars(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://ignored:1"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://127.0.0.1:9/custom",
            ),
        ]));
        assert_eq!(signal.traces_url(), "http://127.0.0.1:9/custom");
        let blank = OtelConfig::from_vars(vars(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "  ")]));
        assert_eq!(blank.traces_url(), "http://localhost:4318/v1/traces");
        assert_eq!(
            OtelConfig::new().endpoint("http://h:1").traces_url(),
            "http://h:1/v1/traces"
        );
        assert_eq!(
            OtelConfig::new()
                .traces_endpoint("http://h:1/t")
                .traces_url(),
            "http://h:1/t"
        );
    }

    #[test]
    fn service_name_and_resource_attributes() {
        let config = OtelConfig::from_vars(vars(&[(
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.name=from-attrs, deployment.environment=prod,team=a%20b%2Cc",
        )]));
        assert!(config.problems().is_empty(), "{:?}", config.problems());
        let attributes: Vec<_> = config.resource_attributes().collect();
        assert_eq!(
            attributes,
            [
                ("service.name", "from-attrs"),
                ("deployment.environment", "prod"),
                ("team", "a b,c"),
            ]
        );
        let resource = config.resource();
        let get = |key: &'static str| {
            resource
                .get(&opentelemetry::Key::new(key))
                .map(|v| v.to_string())
        };
        assert_eq!(get("service.name").as_deref(), Some("from-attrs"));
        assert_eq!(get("team").as_deref(), Some("a b,c"));
        assert_eq!(get("telemetry.sdk.language").as_deref(), Some("rust"));

        let named = OtelConfig::from_vars(vars(&[
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs"),
            ("OTEL_SERVICE_NAME", "from-name"),
        ]));
        assert_eq!(named.service(), "from-name");
        let resource = named.resource();
        assert_eq!(
            resource
                .get(&opentelemetry::Key::new("service.name"))
                .map(|v| v.to_string())
                .as_deref(),
            Some("from-name")
        );

        let set = OtelConfig::new()
            .resource_attribute("k", "1")
            .resource_attribute("k", "2")
            .resource_attribute("service.name", "svc");
        assert_eq!(set.service(), "svc");
        assert_eq!(set.resource_attributes().collect::<Vec<_>>(), [("k", "2")]);
    }

    #[test]
    fn malformed_variables_are_reported_and_ignored() {
        let config = OtelConfig::from_vars(vars(&[
            ("OTEL_RESOURCE_ATTRIBUTES", "good=1,bad"),
            ("OTEL_SDK_DISABLED", "yes"),
        ]));
        assert_eq!(config.resource_attributes().count(), 0);
        assert!(!config.is_disabled());
        assert_eq!(config.problems().len(), 2, "{:?}", config.problems());
        assert!(config.problems()[0].contains("OTEL_RESOURCE_ATTRIBUTES"));
        assert!(config.problems()[0].contains("\"bad\""));
        assert!(config.problems()[1].contains("OTEL_SDK_DISABLED"));
    }

    #[test]
    fn signals_and_their_variables() {
        let config = OtelConfig::from_vars(vars(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:14318"),
            ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://logs:1/in"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "250"),
            ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "x-key=a%20b"),
        ]));
        assert!(config.problems().is_empty(), "{:?}", config.problems());
        assert_eq!(
            config.metrics_url(),
            Some("http://127.0.0.1:14318/v1/metrics")
        );
        assert_eq!(config.logs_url(), Some("http://logs:1/in"));
        assert_eq!(config.export_interval(), Duration::from_millis(250));
        assert_eq!(
            config.env_metric_headers,
            [("x-key".to_owned(), "a b".to_owned())]
        );
        let defaults = OtelConfig::from_vars(vars(&[]));
        assert_eq!(defaults.export_interval(), Duration::from_secs(60));
        assert_eq!(
            defaults.metrics_url(),
            Some("http://localhost:4318/v1/metrics")
        );

        let off = OtelConfig::from_vars(vars(&[
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_LOGS_EXPORTER", "NONE"),
        ]));
        assert_eq!(off.metrics_url(), None);
        assert_eq!(off.logs_url(), None);

        let bad = OtelConfig::from_vars(vars(&[
            ("OTEL_METRIC_EXPORT_INTERVAL", "soon"),
            ("OTEL_METRICS_EXPORTER", "prometheus"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "-1"),
        ]));
        assert_eq!(bad.problems().len(), 3, "{:?}", bad.problems());
        assert_eq!(bad.export_interval(), Duration::from_secs(60));
        assert!(bad.metrics_url().is_some());
        let zero = OtelConfig::from_vars(vars(&[("OTEL_METRIC_EXPORT_INTERVAL", "0")]));
        assert_eq!(zero.problems().len(), 1);
    }

    #[test]
    fn a_protocol_other_than_http_protobuf_is_reported_and_ignored() {
        let config = OtelConfig::from_vars(vars(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:14318"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", " HTTP/Protobuf "),
        ]));
        assert_eq!(config.problems().len(), 2, "{:?}", config.problems());
        assert!(
            config.problems()[0].starts_with(
                "ignoring OTEL_EXPORTER_OTLP_PROTOCOL=\"grpc\": alamos exports OTLP over http/protobuf only"
            ),
            "{:?}",
            config.problems()
        );
        assert!(
            config.problems()[1]
                .starts_with("ignoring OTEL_EXPORTER_OTLP_LOGS_PROTOCOL=\"http/json\""),
            "{:?}",
            config.problems()
        );
        // Everything else as without the variables: export goes on.
        assert_eq!(config.traces_url(), "http://127.0.0.1:14318/v1/traces");
        assert_eq!(config.logs_url(), Some("http://127.0.0.1:14318/v1/logs"));
        assert!(!config.is_disabled());
        let fine = OtelConfig::from_vars(vars(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")]));
        assert!(fine.problems().is_empty(), "{:?}", fine.problems());
    }

    #[test]
    fn each_exporter_can_be_turned_off() {
        let config = OtelConfig::from_vars(vars(&[("OTEL_TRACES_EXPORTER", "none")]));
        assert!(config.problems().is_empty(), "{:?}", config.problems());
        assert!(!config.exports_traces());
        assert!(config.metrics_url().is_some() && config.logs_url().is_some());
        let on = OtelConfig::from_vars(vars(&[("OTEL_TRACES_EXPORTER", " OTLP ")]));
        assert!(on.exports_traces());
        let bad = OtelConfig::from_vars(vars(&[("OTEL_TRACES_EXPORTER", "zipkin")]));
        assert!(bad.exports_traces(), "a malformed value leaves the default");
        assert_eq!(
            bad.problems(),
            ["ignoring OTEL_TRACES_EXPORTER=\"zipkin\": alamos exports `otlp` or `none`"]
        );
        assert!(!OtelConfig::new().traces(false).exports_traces());
    }

    #[test]
    fn timeouts_per_signal_and_for_all() {
        let config = OtelConfig::from_vars(vars(&[
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2000"),
            ("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "300"),
        ]));
        assert!(config.problems().is_empty(), "{:?}", config.problems());
        assert_eq!(
            config.request_timeout(Signal::Traces),
            Duration::from_secs(2)
        );
        assert_eq!(
            config.request_timeout(Signal::Metrics),
            Duration::from_secs(2)
        );
        assert_eq!(
            config.request_timeout(Signal::Logs),
            Duration::from_millis(300)
        );
        assert_eq!(
            OtelConfig::from_vars(vars(&[])).request_timeout(Signal::Traces),
            DEFAULT_TIMEOUT
        );
        // The setter wins over the environment.
        assert_eq!(
            config
                .timeout(Duration::from_millis(50))
                .request_timeout(Signal::Logs),
            Duration::from_millis(50)
        );
        let bad = OtelConfig::from_vars(vars(&[
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "1s"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "700"),
        ]));
        assert_eq!(bad.problems().len(), 1, "{:?}", bad.problems());
        assert!(bad.problems()[0].contains("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT=\"1s\""));
        assert_eq!(
            bad.request_timeout(Signal::Traces),
            Duration::from_millis(700)
        );
    }

    #[test]
    fn malformed_headers_of_any_signal_are_reported() {
        let config = OtelConfig::from_vars(vars(&[
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-key=1"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "broken"),
            ("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "a=1,=2"),
        ]));
        assert_eq!(config.problems().len(), 2, "{:?}", config.problems());
        assert!(config.problems()[0].starts_with("ignoring OTEL_EXPORTER_OTLP_TRACES_HEADERS"));
        assert!(config.problems()[1].starts_with("ignoring OTEL_EXPORTER_OTLP_LOGS_HEADERS"));
        // Metrics take the general headers when they have none of their own.
        assert_eq!(
            config.env_metric_headers,
            [("x-key".to_owned(), "1".to_owned())]
        );
    }

    #[test]
    fn queue_sizes() {
        let config = OtelConfig::from_vars(vars(&[
            ("OTEL_BSP_MAX_QUEUE_SIZE", "64"),
            ("OTEL_BLRP_MAX_QUEUE_SIZE", "128"),
        ]));
        assert_eq!((config.span_queue(), config.log_queue()), (64, 128));
        assert_eq!(config.max_queue_size(8).span_queue(), 8);
        let bad = OtelConfig::from_vars(vars(&[
            ("OTEL_BSP_MAX_QUEUE_SIZE", "0"),
            ("OTEL_BLRP_MAX_QUEUE_SIZE", "lots"),
        ]));
        assert_eq!(bad.problems().len(), 2, "{:?}", bad.problems());
        assert_eq!((bad.span_queue(), bad.log_queue()), (2048, 2048));
    }

    #[test]
    fn the_sampler_is_kept_for_the_sampling_rules() {
        let config = OtelConfig::from_vars(vars(&[
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", " 0.25 "),
        ]));
        assert_eq!(
            config.traces_sampler(),
            Some(("parentbased_traceidratio", Some("0.25")))
        );
        assert!(config.problems().is_empty());
        assert_eq!(OtelConfig::from_vars(vars(&[])).traces_sampler(), None);
    }

    #[test]
    fn service_name_interval_and_disabled_each_read() {
        let config = OtelConfig::from_vars(vars(&[
            ("OTEL_SERVICE_NAME", " relay "),
            ("OTEL_METRIC_EXPORT_INTERVAL", "1500"),
            ("OTEL_SDK_DISABLED", "false"),
        ]));
        assert!(config.problems().is_empty(), "{:?}", config.problems());
        assert_eq!(config.service(), "relay");
        assert_eq!(config.export_interval(), Duration::from_millis(1500));
        assert!(!config.is_disabled());
        assert_eq!(config.shutdown_timeout, DEFAULT_SHUTDOWN_TIMEOUT);
        assert_eq!(
            config
                .shutdown_timeout(Duration::from_secs(1))
                .shutdown_timeout,
            Duration::from_secs(1)
        );
    }

    #[test]
    fn compression_is_reported_unless_none() {
        let config = OtelConfig::from_vars(vars(&[
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "none"),
        ]));
        assert_eq!(
            config.problems(),
            ["ignoring OTEL_EXPORTER_OTLP_COMPRESSION=\"gzip\": alamos sends uncompressed bodies"]
        );
    }
}
