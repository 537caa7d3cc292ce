//! Building the export: each signal's OTLP/HTTP exporter, the tracer and
//! logger providers with their batch processors, the `tracing` layers, and
//! the metrics pusher, handed to an [`OtelGuard`].

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::InstrumentationScope;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::logs::{BatchLogProcessor, SdkLoggerProvider};
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use tracing::Subscriber;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use super::config::{resource_strings, OtelConfig};
use super::failures;
use super::guard::{OtelError, OtelGuard, Parts};
use super::health::{
    ClassifyingClient, CountingExporter, CountingLogs, CountingSpans, Health, Signal,
};
use super::metrics;
use crate::failure;

/// A `tracing` layer that exports spans, as [`OtelConfig::build_layer`]
/// makes it.
pub type OtelLayer<S> = Box<dyn Layer<S> + Send + Sync + 'static>;
impl OtelConfig {
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
        let spans = spans.transpose()?;
        let logs = logs.transpose()?;
        let metrics = metrics.transpose()?;
        match self.assemble(spans, logs, metrics) {
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
        let spans = kept(Signal::Traces, spans, &mut failed);
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
        let health = config.health.clone();
        let mut parts = Parts::new(self.shutdown_timeout);
        parts.set_metrics(metrics::Pusher::start(config)?, health);
        parts.endpoint.clone_from(&self.metrics_endpoint);
        Ok(Some(OtelGuard::from(parts)))
    }

    /// Each signal's exporter, or why it cannot be built; `None` for a
    /// signal not exported. Nothing is started yet.
    fn exporters(&self) -> Exporters {
        Exporters {
            spans: self.traces.then(|| self.span_exporter()),
            logs: self.logs.then(|| self.log_exporter()),
            metrics: self.push_config(),
        }
    }

    fn span_exporter(&self) -> Result<Built<opentelemetry_otlp::SpanExporter>, OtelError> {
        let health = Health::new(Signal::Traces, &self.traces_endpoint);
        let build = |error: String| {
            OtelError::Build(format!("spans to {:?}: {error}", self.traces_endpoint))
        };
        let client = client(self.request_timeout(Signal::Traces)).map_err(build)?;
        let builder = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(ClassifyingClient::new(client, health.clone()));
        let exporter = self
            .http_settings(builder, &self.traces_endpoint, Signal::Traces)
            .build()
            .map_err(|error| build(error.to_string()))?;
        Ok(Built { exporter, health })
    }

    fn log_exporter(&self) -> Result<Built<opentelemetry_otlp::LogExporter>, OtelError> {
        let health = Health::new(Signal::Logs, &self.logs_endpoint);
        let build = |error: String| {
            OtelError::Build(format!("log records to {:?}: {error}", self.logs_endpoint))
        };
        let client = client(self.request_timeout(Signal::Logs)).map_err(build)?;
        let builder = opentelemetry_otlp::LogExporter::builder()
            .with_http()
            .with_http_client(ClassifyingClient::new(client, health.clone()));
        let exporter = self
            .http_settings(builder, &self.logs_endpoint, Signal::Logs)
            .build()
            .map_err(|error| build(error.to_string()))?;
        Ok(Built { exporter, health })
    }

    /// What every signal's OTLP/HTTP exporter shares: the protocol, its
    /// endpoint, the timeout and the headers.
    fn http_settings<B>(&self, builder: B, endpoint: &str, signal: Signal) -> B
    where
        B: WithExportConfig + WithHttpConfig,
    {
        let mut builder = builder
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(endpoint)
            .with_timeout(self.request_timeout(signal));
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
                timeout: self.request_timeout(Signal::Metrics),
                headers: self
                    .env_metric_headers
                    .iter()
                    .chain(&self.headers)
                    .cloned()
                    .collect(),
                resource: resource_strings(&self.resource()),
                health: Health::new(Signal::Metrics, &self.metrics_endpoint),
            }
        }))
    }

    /// The layer and guard of the exporters given: a tracer provider that
    /// exports to `spans`, or only gives ids without it; the log bridge; the
    /// metrics pusher, or why its thread did not start.
    fn assemble<S>(
        &self,
        spans: Option<Built<opentelemetry_otlp::SpanExporter>>,
        logs: Option<Built<opentelemetry_otlp::LogExporter>>,
        metrics: Option<metrics::PushConfig>,
    ) -> (OtelLayer<S>, OtelGuard, Option<OtelError>)
    where
        S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    {
        let resource = self.resource();
        let mut parts = Parts::new(self.shutdown_timeout);
        let exporting = spans.is_some();
        let scope = InstrumentationScope::builder("alamos")
            .with_version(env!("CARGO_PKG_VERSION"))
            .build();
        // alamos decides which calls are traced (`sampling`, which reads
        // OTEL_TRACES_SAMPLER too); the SDK's default would read it again and
        // drop spans alamos chose to trace.
        let mut provider = SdkTracerProvider::builder()
            .with_resource(resource.clone())
            .with_sampler(opentelemetry_sdk::trace::Sampler::ParentBased(Box::new(
                opentelemetry_sdk::trace::Sampler::AlwaysOn,
            )));
        if let Some(spans) = spans {
            let (processor, failures, health) = self.span_processor(spans, &resource, &scope);
            provider = provider.with_span_processor(processor);
            parts.failures = Some(failures);
            parts.spans = Some(health);
        }
        let provider = provider.build();
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
        let logs = logs.map(|Built { exporter, health }| {
            let bound = self.log_queue();
            let processor = BatchLogProcessor::builder(CountingExporter {
                inner: exporter,
                health: health.clone(),
            })
            .with_batch_config(
                opentelemetry_sdk::logs::BatchConfigBuilder::default()
                    .with_max_queue_size(bound)
                    .build(),
            )
            .build();
            parts.logs_health = Some(health.clone());
            SdkLoggerProvider::builder()
                .with_resource(resource.clone())
                .with_log_processor(CountingLogs {
                    inner: processor,
                    health,
                    bound: bound as u64,
                })
                .build()
        });
        // The exporters' own HTTP stack must not feed log records back in.
        let log_layer = logs.as_ref().map(|logs| {
            opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge::new(logs)
                .with_filter(tracing_subscriber::filter::filter_fn(|metadata| {
                    !is_exporter_internal(metadata.target())
                }))
        });
        let failure = match metrics {
            Some(config) => {
                let health = config.health.clone();
                match metrics::Pusher::start(config) {
                    Ok(pusher) => {
                        parts.set_metrics(pusher, health);
                        None
                    }
                    Err(error) => Some(error),
                }
            }
            None => None,
        };
        parts.provider = Some(provider);
        parts.logs = logs;
        if exporting {
            parts.endpoint.clone_from(&self.traces_endpoint);
        }
        let guard = OtelGuard::from(parts);
        (Box::new(trace_layer.and_then(log_layer)), guard, failure)
    }
}

impl OtelConfig {
    /// The batch span processor over `spans`, counted; shared with the
    /// spans of untraced roots that fail (`failures`), installed until the
    /// returned [`failure::Installed`] is removed.
    fn span_processor(
        &self,
        Built { exporter, health }: Built<opentelemetry_otlp::SpanExporter>,
        resource: &opentelemetry_sdk::Resource,
        scope: &InstrumentationScope,
    ) -> (
        failures::SharedSpans<CountingSpans<BatchSpanProcessor>>,
        failure::Installed,
        Arc<Health>,
    ) {
        // alamos bounds the queue itself, to count what it drops: the
        // SDK's queue, as large, never overflows.
        let bound = self.span_queue();
        let mut batch = BatchConfigBuilder::default().with_max_queue_size(bound);
        if let Some(delay) = self.scheduled_delay {
            batch = batch.with_scheduled_delay(delay);
        }
        let processor = BatchSpanProcessor::builder(CountingExporter {
            inner: exporter,
            health: health.clone(),
        })
        .with_batch_config(batch.build())
        .build();
        let (processor, failures) = failures::shared(
            CountingSpans {
                inner: processor,
                health: health.clone(),
                bound: bound as u64,
            },
            resource,
            scope.clone(),
        );
        (processor, failures, health)
    }
}

/// An exporter and where what it does is counted.
struct Built<E> {
    exporter: E,
    health: Arc<Health>,
}

/// reqwest's blocking client with `timeout`, built on a thread of its own:
/// it starts a runtime, which must not happen inside the caller's.
fn client(timeout: Duration) -> Result<reqwest::blocking::Client, String> {
    std::thread::Builder::new()
        .name("alamos-otlp-client".into())
        .spawn(move || {
            reqwest::blocking::Client::builder()
                .timeout(timeout)
                .build()
        })
        .map_err(|error| format!("cannot start a thread for the HTTP client: {error}"))?
        .join()
        .map_err(|_| "building the HTTP client panicked".to_owned())?
        .map_err(|error| format!("cannot build the HTTP client: {error}"))
}

/// Each signal's exporter, as [`OtelConfig::exporters`] builds them.
struct Exporters {
    spans: Option<Result<Built<opentelemetry_otlp::SpanExporter>, OtelError>>,
    logs: Option<Result<Built<opentelemetry_otlp::LogExporter>, OtelError>>,
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use super::*;
    use crate::identity;
    use crate::otel::guard::ExportReport;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
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
        assert_eq!(guard.running(), [true, true, false]);
        assert_eq!(guard.endpoint(), "http://127.0.0.1:9/v1/traces");
        drop(guard);

        let (_, guard, failed): (Layer, _, _) =
            nowhere(&[("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://[::1")])
                .build_layer_per_signal();
        assert_eq!(failed_signals(&failed), [Signal::Logs]);
        assert!(failed[0]
            .1
            .to_string()
            .contains("log records to \"http://[::1\""));
        assert_eq!(guard.running(), [true, false, true]);
        drop(guard);

        // Without a span exporter, spans still get ids: the provider is
        // there, exporting nowhere.
        let (_, guard, failed): (Layer, _, _) = nowhere(&[
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://["),
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "ftp://h/v1/metrics"),
        ])
        .build_layer_per_signal();
        assert_eq!(failed_signals(&failed), [Signal::Traces, Signal::Metrics]);
        assert_eq!(guard.running(), [true, true, false]);
        assert_eq!(guard.endpoint(), "");
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
}
