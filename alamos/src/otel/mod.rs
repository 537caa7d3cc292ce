//! OTLP export of the three pillars (feature `otel`): spans, metrics and
//! log records.
//!
//! [`OtelConfig`] says where each signal goes and how this process is
//! named; [`OtelConfig::build_layer`] turns it into a `tracing` layer for a
//! `Registry`-based subscriber and an [`OtelGuard`] that flushes every
//! finished span, the last metrics and every log record on
//! [`shutdown`](OtelGuard::shutdown) or drop.
//!
//! Export is OTLP over HTTP with protobuf bodies, from background threads
//! with reqwest's blocking client, which runs its own small runtime on a
//! thread of its own: the program needs no async runtime.
//!
//! - **Spans**: every instrumented call's span carries `alamos.experiment`,
//!   `code.function` and `code.namespace` as attributes, and a call that
//!   returned `Err` or panicked has span status *error*.
//! - **Log records**: every event that passes alamos's thresholds (alamos's
//!   log macros, `err`/`ret` events, plain `tracing` events), through
//!   `opentelemetry-appender-tracing` and the SDK's batch log processor;
//!   an event inside a span carries that span's trace and span ids.
//! - **Metrics**: the series of the Prometheus exposition, read from the
//!   same snapshot and pushed every `OTEL_METRIC_EXPORT_INTERVAL`
//!   ([`metrics`] says why not through the SDK's metrics pipeline).
//!
//! # Trace ids without a receiver
//!
//! `alamos::init()` (and [`Builder`](crate::Builder)) installs the
//! OpenTelemetry layer whenever the `otel` feature is on, exporting or not:
//! with no endpoint configured its tracer provider has no exporter, and
//! spans still get W3C ids, so log lines carry them and
//! [`propagate`](fn@crate::propagate)/[`depropagate`](crate::depropagate)
//! join one trace across processes. `OTEL_SDK_DISABLED=true` leaves the
//! layer out. A signal whose exporter cannot be built is left out alone,
//! said so on stderr; the others are exported.
//!
//! All three carry one resource: `service.name`, `service.instance.id`
//! (generated once per process unless named) and the attributes of
//! `OTEL_RESOURCE_ATTRIBUTES`, parsed by alamos rather than the SDK's
//! detector (see `identity` for why), plus the SDK's
//! `telemetry.sdk.*`.

pub(crate) mod metrics;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::resource::TelemetryResourceDetector;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter,
    SpanProcessor,
};
use opentelemetry_sdk::Resource;
use tracing::Subscriber;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::identity;

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

/// A `tracing` layer that exports spans, as [`OtelConfig::build_layer`]
/// makes it.
pub type OtelLayer<S> = Box<dyn Layer<S> + Send + Sync + 'static>;

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
pub struct OtelConfig {
    traces_endpoint: String,
    metrics_endpoint: String,
    logs_endpoint: String,
    metrics: bool,
    logs: bool,
    metric_interval: Duration,
    /// Headers and timeout for metrics from the environment: the span and
    /// log exporters read theirs themselves.
    env_metric_headers: Vec<(String, String)>,
    env_metric_timeout: Option<Duration>,
    service_name: Option<String>,
    resource_attributes: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    timeout: Option<Duration>,
    max_queue_size: Option<usize>,
    scheduled_delay: Option<Duration>,
    disabled: bool,
    problems: Vec<String>,
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
            metrics: true,
            logs: true,
            metric_interval: DEFAULT_METRIC_INTERVAL,
            env_metric_headers: Vec::new(),
            env_metric_timeout: None,
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
    /// | `OTEL_METRICS_EXPORTER`, `OTEL_LOGS_EXPORTER` | `none` turns that signal's export off (`otlp`, the default, keeps it) |
    /// | `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT` | headers (`k=v,...`) and timeout (ms) of every request; the `_TRACES_`, `_METRICS_` and `_LOGS_` forms apply to one signal |
    /// | `OTEL_SERVICE_NAME` | `service.name`, ahead of one in the next variable |
    /// | `OTEL_RESOURCE_ATTRIBUTES` | `key=value,...` resource attributes, values percent-decoded |
    /// | `OTEL_EXPORTER_OTLP_PROTOCOL` and its `_TRACES_`, `_METRICS_`, `_LOGS_` forms | only `http/protobuf`, what alamos exports; another value is reported and ignored |
    /// | `OTEL_SDK_DISABLED` | `true` turns export off, and spans get no trace ids |
    ///
    /// The span and log exporters read their headers and timeouts
    /// themselves, the batch processors `OTEL_BSP_*` and `OTEL_BLRP_*`,
    /// unless a setter overrides them.
    ///
    /// A malformed value is reported on stderr, and ignored.
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
        if let Some(headers) =
            set("OTEL_EXPORTER_OTLP_METRICS_HEADERS").or_else(|| set("OTEL_EXPORTER_OTLP_HEADERS"))
        {
            match identity::parse_attributes(&headers) {
                Ok(headers) => config.env_metric_headers = headers,
                Err(problem) => config
                    .problems
                    .push(format!("ignoring the OTLP metrics headers: {problem}")),
            }
        }
        if let Some(timeout) =
            set("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT").or_else(|| set("OTEL_EXPORTER_OTLP_TIMEOUT"))
        {
            match timeout.trim().parse::<u64>() {
                Ok(millis) => config.env_metric_timeout = Some(Duration::from_millis(millis)),
                Err(_) => config.problems.push(format!(
                    "ignoring the OTLP metrics timeout {timeout:?}: expected milliseconds"
                )),
            }
        }
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

    /// How many finished spans may wait for export (the default: 2048).
    /// Spans finished while the queue is full are dropped, and counted as
    /// lost in the [`ExportReport`].
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

    /// A layer that exports the spans and log events of a `Registry`-based
    /// subscriber, and the guard that flushes them; the guard also pushes
    /// metrics, if alamos's recorder is installed.
    ///
    /// Keep the guard until the program ends: dropping it (or calling
    /// [`OtelGuard::shutdown`]) exports every span and log record that has
    /// finished, and the metrics once more. The layer activates each entered
    /// span's OpenTelemetry context, which is what
    /// [`propagate`](fn@crate::propagate), [`depropagate`](crate::depropagate)
    /// and the trace context of log records rely on. A disabled
    /// configuration gives a layer that does nothing.
    ///
    /// Nothing starts unless every signal asked for can be exported.
    /// [`Builder::otel`](crate::Builder::otel) is lenient instead: a signal
    /// that cannot be exported is left out, said so on stderr, and the
    /// others are exported.
    ///
    /// # Errors
    ///
    /// An endpoint that is not a URL, or an HTTP client that cannot be
    /// built, for any signal asked for; the error names the signal.
    pub fn build_layer<S>(&self) -> Result<(OtelLayer<S>, OtelGuard), OtelError>
    where
        S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    {
        if self.disabled {
            return Ok((identity_layer(), OtelGuard::disabled()));
        }
        let Exporters {
            spans,
            logs,
            metrics,
        } = self.exporters();
        let spans = spans?;
        let logs = logs.transpose()?;
        let metrics = metrics.transpose()?;
        match self.assemble(Some(spans), logs, metrics) {
            (layer, guard, None) => Ok((layer, guard)),
            (_, _, Some(error)) => Err(error),
        }
    }

    /// As [`OtelConfig::build_layer`], but each signal on its own: one
    /// whose exporter cannot be built is left out and returned with the
    /// reason, and the others are exported. Without a span exporter, spans
    /// still get their ids (see [`OtelConfig::context_layer`]).
    pub(crate) fn build_layer_per_signal<S>(
        &self,
    ) -> (OtelLayer<S>, OtelGuard, Vec<(Signal, OtelError)>)
    where
        S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    {
        if self.disabled {
            return (identity_layer(), OtelGuard::disabled(), Vec::new());
        }
        let Exporters {
            spans,
            logs,
            metrics,
        } = self.exporters();
        let mut failed = Vec::new();
        let spans = kept(Signal::Traces, Some(spans), &mut failed);
        let logs = kept(Signal::Logs, logs, &mut failed);
        let metrics = kept(Signal::Metrics, metrics, &mut failed);
        let (layer, guard, failure) = self.assemble(spans, logs, metrics);
        failed.extend(failure.map(|error| (Signal::Metrics, error)));
        (layer, guard, failed)
    }

    /// A layer that gives every span its W3C trace and span ids and
    /// activates its OpenTelemetry context, exporting nothing: trace ids in
    /// log lines, [`propagate`](fn@crate::propagate) and
    /// [`depropagate`](crate::depropagate) work as with export, and the
    /// sampled flag travels on, so a downstream service that exports keeps
    /// its spans. Spans carry no attributes of their own and events are
    /// not recorded on them, since nothing reads them.
    pub(crate) fn context_layer<S>(&self) -> (OtelLayer<S>, OtelGuard)
    where
        S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    {
        if self.disabled {
            return (identity_layer(), OtelGuard::disabled());
        }
        let (layer, guard, _) = self.assemble(None, None, None);
        (layer, guard)
    }

    /// A guard that pushes metrics and nothing else, for a program whose
    /// subscriber alamos does not install; `None` if metrics are not
    /// exported.
    ///
    /// # Errors
    ///
    /// The metrics endpoint is not an `http(s)` URL, or the pushing thread
    /// cannot start.
    pub(crate) fn metrics_guard(&self) -> Result<Option<OtelGuard>, OtelError> {
        if self.disabled {
            return Ok(None);
        }
        let Some(config) = self.push_config().transpose()? else {
            return Ok(None);
        };
        let mut guard = OtelGuard::disabled();
        guard.metrics = Some(metrics::Pusher::start(config)?);
        guard.endpoint.clone_from(&self.metrics_endpoint);
        Ok(Some(guard))
    }

    /// Each signal's exporter, or why it cannot be built; `None` for a
    /// signal not exported. Nothing is started yet.
    fn exporters(&self) -> Exporters {
        Exporters {
            spans: self.span_exporter(),
            logs: self.logs.then(|| self.log_exporter()),
            metrics: self.push_config(),
        }
    }

    fn span_exporter(&self) -> Result<opentelemetry_otlp::SpanExporter, OtelError> {
        let builder = opentelemetry_otlp::SpanExporter::builder().with_http();
        self.http_settings(builder, &self.traces_endpoint)
            .build()
            .map_err(|error| {
                OtelError::Build(format!("spans to {:?}: {error}", self.traces_endpoint))
            })
    }

    fn log_exporter(&self) -> Result<opentelemetry_otlp::LogExporter, OtelError> {
        let builder = opentelemetry_otlp::LogExporter::builder().with_http();
        self.http_settings(builder, &self.logs_endpoint)
            .build()
            .map_err(|error| {
                OtelError::Build(format!("log records to {:?}: {error}", self.logs_endpoint))
            })
    }

    /// What every signal's OTLP/HTTP exporter shares: the protocol, its
    /// endpoint, the timeout and the headers.
    fn http_settings<B>(&self, builder: B, endpoint: &str) -> B
    where
        B: WithExportConfig + WithHttpConfig,
    {
        let mut builder = builder
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(endpoint);
        if let Some(timeout) = self.timeout {
            builder = builder.with_timeout(timeout);
        }
        if !self.headers.is_empty() {
            builder = builder.with_headers(self.headers.iter().cloned().collect());
        }
        builder
    }

    /// What the metrics pusher needs, if metrics are exported.
    fn push_config(&self) -> Option<Result<metrics::PushConfig, OtelError>> {
        if !self.metrics {
            return None;
        }
        Some(metrics::check_endpoint(&self.metrics_endpoint).map(|()| {
            metrics::PushConfig {
                endpoint: self.metrics_endpoint.clone(),
                interval: self.metric_interval,
                timeout: self
                    .timeout
                    .or(self.env_metric_timeout)
                    .unwrap_or(metrics::DEFAULT_TIMEOUT),
                headers: self
                    .env_metric_headers
                    .iter()
                    .chain(&self.headers)
                    .cloned()
                    .collect(),
                resource: resource_strings(&self.resource()),
            }
        }))
    }

    /// The layer and guard of the exporters given: a tracer provider that
    /// exports to `spans`, or only gives ids without it; the log bridge; the
    /// metrics pusher, or why its thread did not start.
    fn assemble<S>(
        &self,
        spans: Option<opentelemetry_otlp::SpanExporter>,
        logs: Option<opentelemetry_otlp::LogExporter>,
        metrics: Option<metrics::PushConfig>,
    ) -> (OtelLayer<S>, OtelGuard, Option<OtelError>)
    where
        S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    {
        let resource = self.resource();
        let counts = Arc::new(Counts::default());
        let exporting = spans.is_some();
        // alamos decides which calls are traced (`sampling`, which reads
        // OTEL_TRACES_SAMPLER too); the SDK's default would read it again and
        // drop spans alamos chose to trace.
        let mut provider = SdkTracerProvider::builder()
            .with_resource(resource.clone())
            .with_sampler(opentelemetry_sdk::trace::Sampler::ParentBased(Box::new(
                opentelemetry_sdk::trace::Sampler::AlwaysOn,
            )));
        if let Some(exporter) = spans {
            let mut batch = BatchConfigBuilder::default();
            if let Some(size) = self.max_queue_size {
                batch = batch.with_max_queue_size(size);
            }
            if let Some(delay) = self.scheduled_delay {
                batch = batch.with_scheduled_delay(delay);
            }
            let processor = BatchSpanProcessor::builder(CountingExporter {
                inner: exporter,
                counts: counts.clone(),
            })
            .with_batch_config(batch.build())
            .build();
            provider = provider.with_span_processor(CountingProcessor {
                inner: processor,
                counts: counts.clone(),
            });
        }
        let provider = provider.build();
        let scope = InstrumentationScope::builder("alamos")
            .with_version(env!("CARGO_PKG_VERSION"))
            .build();
        let trace_layer = tracing_opentelemetry::layer()
            .with_tracer(provider.tracer_with_scope(scope))
            .with_context_activation(true);
        let trace_layer: OtelLayer<S> = if exporting {
            Box::new(trace_layer)
        } else {
            // Ids only: what a span would carry to a receiver is not built.
            Box::new(
                trace_layer
                    .with_location(false)
                    .with_threads(false)
                    .with_tracked_inactivity(false)
                    .with_filter(tracing_subscriber::filter::filter_fn(|metadata| {
                        metadata.is_span()
                    })),
            )
        };
        let logs = logs.map(|exporter| {
            SdkLoggerProvider::builder()
                .with_resource(resource.clone())
                .with_batch_exporter(exporter)
                .build()
        });
        // The exporters' own HTTP stack must not feed log records back in.
        let log_layer = logs.as_ref().map(|logs| {
            opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge::new(logs)
                .with_filter(tracing_subscriber::filter::filter_fn(|metadata| {
                    !is_exporter_internal(metadata.target())
                }))
        });
        let (metrics, failure) = match metrics.map(metrics::Pusher::start) {
            Some(Ok(pusher)) => (Some(pusher), None),
            Some(Err(error)) => (None, Some(error)),
            None => (None, None),
        };
        let guard = OtelGuard {
            provider: Some(provider),
            logs,
            metrics,
            counts,
            endpoint: if exporting {
                self.traces_endpoint.clone()
            } else {
                String::new()
            },
        };
        (Box::new(trace_layer.and_then(log_layer)), guard, failure)
    }

    /// The resource every signal is exported with.
    fn resource(&self) -> Resource {
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
fn resource_strings(resource: &Resource) -> Vec<(String, String)> {
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

/// One of the signals OTLP carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Signal {
    Traces,
    Metrics,
    Logs,
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Signal::Traces => "spans",
            Signal::Metrics => "metrics",
            Signal::Logs => "log records",
        })
    }
}

/// Each signal's exporter, as [`OtelConfig::exporters`] builds them.
struct Exporters {
    spans: Result<opentelemetry_otlp::SpanExporter, OtelError>,
    logs: Option<Result<opentelemetry_otlp::LogExporter, OtelError>>,
    metrics: Option<Result<metrics::PushConfig, OtelError>>,
}

/// What was built, or nothing, with why added to `failed`.
fn kept<T>(
    signal: Signal,
    built: Option<Result<T, OtelError>>,
    failed: &mut Vec<(Signal, OtelError)>,
) -> Option<T> {
    match built? {
        Ok(built) => Some(built),
        Err(error) => {
            failed.push((signal, error));
            None
        }
    }
}

/// The layer of a disabled configuration: it does nothing.
fn identity_layer<S>() -> OtelLayer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    Box::new(tracing_subscriber::layer::Identity::new())
}

/// Targets of the crates that carry exports: their events are not turned
/// into log records, which would be exported by the same crates.
fn is_exporter_internal(target: &str) -> bool {
    ["opentelemetry", "reqwest", "hyper", "h2", "tower", "tonic"]
        .iter()
        .any(|prefix| {
            target.strip_prefix(prefix).is_some_and(|rest| {
                rest.is_empty() || rest.starts_with("::") || rest.starts_with('_')
            })
        })
}

/// `<base><path>`, with one `/` between.
fn signal_url(base: &str, path: &str) -> String {
    format!("{}{path}", base.trim_end_matches('/'))
}

/// What happened to the spans that finished.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExportReport {
    /// Sampled spans that finished and were handed to the exporter's queue.
    pub finished: u64,
    /// Spans the receiver accepted.
    pub exported: u64,
    /// Spans in export requests that failed (the receiver was unreachable
    /// or refused them).
    pub failed: u64,
}

impl ExportReport {
    /// Spans that finished but were not exported: dropped from a full queue,
    /// in a failed request, or still waiting.
    pub fn lost(&self) -> u64 {
        self.finished.saturating_sub(self.exported)
    }

    /// Whether every finished span was exported.
    pub fn is_complete(&self) -> bool {
        self.exported >= self.finished
    }
}

impl fmt::Display for ExportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of {} finished spans exported ({} in failed requests)",
            self.exported, self.finished, self.failed
        )
    }
}

/// Flushes and stops span export; returned by [`OtelConfig::build_layer`].
///
/// Dropping it is a graceful shutdown: every finished span is exported
/// (waiting at most a few seconds for the receiver), and spans lost on the
/// way are reported on stderr. [`OtelGuard::shutdown`] does the same and
/// returns the outcome instead.
#[must_use = "dropping the guard stops span export"]
pub struct OtelGuard {
    provider: Option<SdkTracerProvider>,
    logs: Option<SdkLoggerProvider>,
    metrics: Option<metrics::Pusher>,
    counts: Arc<Counts>,
    endpoint: String,
}

impl OtelGuard {
    fn disabled() -> Self {
        OtelGuard {
            provider: None,
            logs: None,
            metrics: None,
            counts: Arc::new(Counts::default()),
            endpoint: String::new(),
        }
    }

    /// Exports every span finished so far, and waits for the receiver.
    ///
    /// # Errors
    ///
    /// The export failed or timed out.
    pub fn flush(&self) -> Result<ExportReport, OtelError> {
        if let Some(provider) = &self.provider {
            provider.force_flush().map_err(OtelError::Sdk)?;
        }
        if let Some(logs) = &self.logs {
            logs.force_flush().map_err(OtelError::Sdk)?;
        }
        Ok(self.report())
    }

    /// How many spans finished and were exported so far.
    pub fn report(&self) -> ExportReport {
        self.counts.report()
    }

    /// The tracer provider, to install as OpenTelemetry's global one for
    /// code that uses the OpenTelemetry API directly; `None` when export is
    /// disabled, or only metrics are pushed.
    pub fn provider(&self) -> Option<&SdkTracerProvider> {
        self.provider.as_ref()
    }

    /// Exports every finished span and stops export; spans that finish
    /// later are dropped.
    ///
    /// # Errors
    ///
    /// [`OtelError::Lost`] when some finished span was not exported, and
    /// [`OtelError::Sdk`] when the shutdown itself failed.
    pub fn shutdown(mut self) -> Result<ExportReport, OtelError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<ExportReport, OtelError> {
        // The last metrics first: they are pushed from the pusher's thread,
        // whose wait is bounded by the export timeout.
        drop(self.metrics.take());
        if let Some(logs) = self.logs.take() {
            if let Err(error) = logs.shutdown() {
                eprintln!("alamos: log record export: {error}");
            }
        }
        let Some(provider) = self.provider.take() else {
            return Ok(self.report());
        };
        let result = provider.shutdown();
        let report = self.report();
        result.map_err(OtelError::Sdk)?;
        if report.is_complete() {
            Ok(report)
        } else {
            Err(OtelError::Lost(report))
        }
    }
}

impl Drop for OtelGuard {
    fn drop(&mut self) {
        if let Err(error) = self.stop() {
            eprintln!("alamos: span export to {}: {error}", self.endpoint);
        }
    }
}

impl fmt::Debug for OtelGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelGuard")
            .field("endpoint", &self.endpoint)
            .field("running", &self.provider.is_some())
            .field("report", &self.report())
            .finish_non_exhaustive()
    }
}

/// Why span export could not start or did not finish cleanly.
#[derive(Debug)]
#[non_exhaustive]
pub enum OtelError {
    /// The exporter could not be built: a bad endpoint, say.
    Build(String),
    /// The OpenTelemetry SDK failed to flush or shut down.
    Sdk(OTelSdkError),
    /// Shutdown finished, but some finished spans were not exported.
    Lost(ExportReport),
}

impl fmt::Display for OtelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OtelError::Build(error) => write!(f, "cannot build the OTLP exporter: {error}"),
            OtelError::Sdk(error) => write!(f, "OpenTelemetry: {error}"),
            OtelError::Lost(report) => write!(f, "spans lost: {report}"),
        }
    }
}

impl std::error::Error for OtelError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OtelError::Sdk(error) => Some(error),
            OtelError::Build(_) | OtelError::Lost(_) => None,
        }
    }
}

#[derive(Debug, Default)]
struct Counts {
    finished: AtomicU64,
    exported: AtomicU64,
    failed: AtomicU64,
}

impl Counts {
    fn report(&self) -> ExportReport {
        ExportReport {
            finished: self.finished.load(Ordering::Acquire),
            exported: self.exported.load(Ordering::Acquire),
            failed: self.failed.load(Ordering::Acquire),
        }
    }
}

/// Counts the spans handed to the batch processor.
#[derive(Debug)]
struct CountingProcessor<P> {
    inner: P,
    counts: Arc<Counts>,
}

impl<P: SpanProcessor> SpanProcessor for CountingProcessor<P> {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &opentelemetry::Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        // The batch processor exports sampled spans only.
        if span.span_context.is_sampled() {
            self.counts.finished.fetch_add(1, Ordering::AcqRel);
        }
        self.inner.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Counts the spans the receiver accepted or refused.
#[derive(Debug)]
struct CountingExporter<E> {
    inner: E,
    counts: Arc<Counts>,
}

impl<E: SpanExporter> SpanExporter for CountingExporter<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len() as u64;
        let result = self.inner.export(batch).await;
        let counter = if result.is_ok() {
            &self.counts.exported
        } else {
            &self.counts.failed
        };
        counter.fetch_add(spans, Ordering::AcqRel);
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

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
    fn the_resource_has_an_instance_id_and_the_sdk_attributes() {
        let config = OtelConfig::new().service_name("svc");
        let pairs = config.identity_resource();
        assert_eq!(pairs[0], ("service.name".to_owned(), "svc".to_owned()));
        assert_eq!(
            pairs[1],
            (
                "service.instance.id".to_owned(),
                identity::instance_id().to_owned()
            )
        );
        assert!(pairs
            .iter()
            .any(|(key, value)| key == "telemetry.sdk.language" && value == "rust"));
        assert!(is_exporter_internal("hyper::client"));
        assert!(is_exporter_internal("opentelemetry_sdk"));
        assert!(!is_exporter_internal("hyperloop"));
        assert!(!is_exporter_internal("frame_writer"));
    }

    #[test]
    fn disabled() {
        let config = OtelConfig::from_vars(vars(&[("OTEL_SDK_DISABLED", "TRUE")]));
        assert!(config.is_disabled());
        let (_layer, guard) = config
            .build_layer::<tracing_subscriber::Registry>()
            .unwrap();
        assert!(guard.provider().is_none());
        assert_eq!(guard.shutdown().unwrap(), ExportReport::default());
        assert!(!OtelConfig::new()
            .disabled(true)
            .disabled(false)
            .is_disabled());
    }

    #[test]
    fn bad_endpoints_are_errors() {
        let Err(err) = OtelConfig::new()
            .traces_endpoint("not a url")
            .build_layer::<tracing_subscriber::Registry>()
        else {
            panic!("an endpoint that is not a URL was accepted");
        };
        assert!(matches!(err, OtelError::Build(_)), "{err:?}");
        assert!(err.to_string().contains("not a url"), "{err}");
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

    /// The configuration of these variables and a receiver that refuses
    /// at once (the discard port of loopback), pushing metrics rarely.
    fn nowhere(more: &[(&str, &str)]) -> OtelConfig {
        let mut pairs = vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "3600000"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "1000"),
        ];
        pairs.extend_from_slice(more);
        OtelConfig::from_vars(vars(&pairs)).timeout(Duration::from_secs(1))
    }

    fn failed_signals(failed: &[(Signal, OtelError)]) -> Vec<Signal> {
        failed.iter().map(|(signal, _)| *signal).collect()
    }

    #[test]
    fn each_signal_is_built_on_its_own() {
        type Layer = OtelLayer<tracing_subscriber::Registry>;

        let (_, guard, failed): (Layer, _, _) =
            nowhere(&[("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "not a url")])
                .build_layer_per_signal();
        assert_eq!(failed_signals(&failed), [Signal::Metrics]);
        assert!(failed[0].1.to_string().contains("metrics to \"not a url\""));
        assert!(guard.provider.is_some() && guard.logs.is_some());
        assert!(guard.metrics.is_none());
        assert_eq!(guard.endpoint, "http://127.0.0.1:9/v1/traces");
        drop(guard);

        let (_, guard, failed): (Layer, _, _) =
            nowhere(&[("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://[::1")])
                .build_layer_per_signal();
        assert_eq!(failed_signals(&failed), [Signal::Logs]);
        assert!(failed[0]
            .1
            .to_string()
            .contains("log records to \"http://[::1\""));
        assert!(guard.provider.is_some() && guard.metrics.is_some());
        assert!(guard.logs.is_none());
        drop(guard);

        // Without a span exporter, spans still get ids: the provider is
        // there, exporting nowhere.
        let (_, guard, failed): (Layer, _, _) = nowhere(&[
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://["),
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "ftp://h/v1/metrics"),
        ])
        .build_layer_per_signal();
        assert_eq!(failed_signals(&failed), [Signal::Traces, Signal::Metrics]);
        assert!(guard.provider.is_some() && guard.logs.is_some());
        assert!(guard.metrics.is_none());
        assert_eq!(guard.endpoint, "");
        assert_eq!(guard.shutdown().unwrap(), ExportReport::default());

        // build_layer starts nothing unless every signal can be exported.
        let Err(err) = nowhere(&[])
            .logs_endpoint("not a url")
            .build_layer::<tracing_subscriber::Registry>()
        else {
            panic!("a logs endpoint that is not a URL was accepted");
        };
        assert!(
            err.to_string().contains("log records to \"not a url\""),
            "{err}"
        );
    }

    #[test]
    fn reports() {
        let report = ExportReport {
            finished: 5,
            exported: 3,
            failed: 2,
        };
        assert_eq!(report.lost(), 2);
        assert!(!report.is_complete());
        assert_eq!(
            report.to_string(),
            "3 of 5 finished spans exported (2 in failed requests)"
        );
        assert_eq!(
            OtelError::Lost(report).to_string(),
            "spans lost: 3 of 5 finished spans exported (2 in failed requests)"
        );
    }
}
