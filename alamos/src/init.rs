//! Setting up a binary: `alamos::init()` and [`Builder`].
//!
//! Libraries never call this; a binary calls it once at start-up and keeps the
//! returned [`Guard`] alive until exit.

use std::fmt;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use tracing::Metadata;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{filter, Layer, Registry};

use crate::prometheus::{parse_listen_addr, AlamosRecorder, Server, DEFAULT_DURATION_BUCKETS};
use crate::tree;

/// Selects JSON log lines instead of human-readable ones: `json` or `text`.
pub const LOG_FORMAT_ENV: &str = "ALAMOS_LOG_FORMAT";
/// Serves the Prometheus exposition on this address, such as `127.0.0.1:9464`
/// (a bare port binds loopback).
pub const PROMETHEUS_ADDR_ENV: &str = "ALAMOS_PROMETHEUS_ADDR";

const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// How log lines are written to stderr.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogFormat {
    /// One human-readable line per event and per closed span.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs alamos's defaults for a binary; see [`Builder`] for what and how
/// to change it.
///
/// Problems (a subscriber or recorder already installed, a malformed
/// environment variable, an address in use) are reported on stderr, and the
/// rest is set up regardless: instrumentation never stops a program.
#[must_use = "metrics are served and flushed only while the guard lives"]
pub fn init() -> Guard {
    match Builder::new().install() {
        Ok(guard) => guard,
        Err(err) => {
            eprintln!("alamos: {err}; continuing without the metrics endpoint");
            Builder::new()
                .without_prometheus_endpoint()
                .install()
                .unwrap_or_else(|_| Guard::empty())
        }
    }
}

/// Where `/metrics` is served.
#[derive(Clone, Copy, Debug)]
enum Endpoint {
    /// Where `ALAMOS_PROMETHEUS_ADDR` says, if it is set.
    FromEnv,
    Off,
    At(SocketAddr),
}

/// Configures what [`init`] installs: a `tracing` subscriber writing to
/// stderr, alamos's Prometheus recorder, and optionally an HTTP endpoint.
///
/// Settings not made here come from the environment: `ALAMOS_LOG_FORMAT`
/// and `ALAMOS_PROMETHEUS_ADDR`. Thresholds always come from `ALAMOS_LEVEL`
/// and [`crate::set_level`].
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until installed"]
pub struct Builder {
    log_format: Option<LogFormat>,
    endpoint: Endpoint,
    buckets: Vec<f64>,
    subscriber: bool,
    recorder: bool,
    span_events: bool,
    max_label_sets: Option<usize>,
    #[cfg(feature = "otel")]
    otel: Option<crate::OtelConfig>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// The defaults: text logs, a recorder, no endpoint unless the
    /// environment asks for one.
    pub fn new() -> Self {
        Builder {
            log_format: None,
            endpoint: Endpoint::FromEnv,
            buckets: DEFAULT_DURATION_BUCKETS.to_vec(),
            subscriber: true,
            recorder: true,
            span_events: true,
            max_label_sets: None,
            #[cfg(feature = "otel")]
            otel: None,
        }
    }

    /// Exports spans over OTLP as `config` says. Without this, spans are
    /// exported when `OTEL_EXPORTER_OTLP_ENDPOINT` (or its traces variant) is
    /// set, configured by the standard `OTEL_*` variables.
    #[cfg(feature = "otel")]
    pub fn otel(mut self, config: crate::OtelConfig) -> Self {
        self.otel = Some(config);
        self
    }

    /// Writes logs in this format, whatever `ALAMOS_LOG_FORMAT` says.
    pub fn log_format(mut self, format: LogFormat) -> Self {
        self.log_format = Some(format);
        self
    }

    /// Serves `GET /metrics` on `addr` (port 0 picks a free port; see
    /// [`Guard::prometheus_addr`]), whatever `ALAMOS_PROMETHEUS_ADDR` says.
    pub fn prometheus_addr(mut self, addr: SocketAddr) -> Self {
        self.endpoint = Endpoint::At(addr);
        self
    }

    /// Serves no endpoint, whatever `ALAMOS_PROMETHEUS_ADDR` says; the
    /// exposition is still available from [`Guard::render`].
    pub fn without_prometheus_endpoint(mut self) -> Self {
        self.endpoint = Endpoint::Off;
        self
    }

    /// Upper bounds, in seconds, of the `alamos_call_duration_seconds`
    /// buckets (and of the buckets of every other histogram recorded through
    /// the installed recorder). Must be finite and strictly ascending.
    pub fn duration_buckets(mut self, bounds: &[f64]) -> Self {
        self.buckets = bounds.to_vec();
        self
    }

    /// Caps the label sets kept per function with `labels(...)` (default
    /// [`crate::DEFAULT_MAX_LABEL_SETS`]); see [`crate::set_max_label_sets`].
    pub fn max_label_sets(mut self, max: usize) -> Self {
        self.max_label_sets = Some(max);
        self
    }

    /// Whether to install the stderr `tracing` subscriber (default: yes).
    pub fn subscriber(mut self, install: bool) -> Self {
        self.subscriber = install;
        self
    }

    /// Whether to install alamos's Prometheus recorder (default: yes).
    pub fn recorder(mut self, install: bool) -> Self {
        self.recorder = install;
        self
    }

    /// Whether closing a span writes a log line with its timings (default: yes).
    pub fn span_events(mut self, enabled: bool) -> Self {
        self.span_events = enabled;
        self
    }

    /// Installs what was configured.
    ///
    /// A `tracing` subscriber or `metrics` recorder installed earlier is kept
    /// (and said so on stderr): alamos's spans and metrics then go to it.
    ///
    /// # Errors
    ///
    /// Fails, installing nothing, if the buckets are invalid or the endpoint's
    /// address cannot be bound.
    pub fn install(self) -> Result<Guard, InitError> {
        validate_buckets(&self.buckets)?;
        let addr = match self.endpoint {
            Endpoint::FromEnv => env_prometheus_addr(),
            Endpoint::Off => None,
            Endpoint::At(addr) => Some(addr),
        };
        let recorder = if self.recorder {
            Some(
                AlamosRecorder::new(&self.buckets)
                    .map_err(|err| InitError::Buckets(err.to_string()))?,
            )
        } else {
            None
        };
        let server = match (addr, &recorder) {
            (Some(addr), Some(recorder)) => Some(
                Server::start(addr, std::sync::Arc::clone(recorder.exporter()))
                    .map_err(|source| InitError::Bind { addr, source })?,
            ),
            (Some(addr), None) => {
                eprintln!(
                    "alamos: not serving metrics on {addr}: the builder was told not to install a recorder"
                );
                None
            }
            (None, _) => None,
        };

        if let Some(max) = self.max_label_sets {
            crate::set_max_label_sets(max);
        }
        #[cfg(feature = "otel")]
        let (otel_layer, otel) = self.otel_layer();
        #[cfg(not(feature = "otel"))]
        let otel_layer = None::<tracing_subscriber::layer::Identity>;
        if self.subscriber {
            let format = self.log_format.unwrap_or_else(env_log_format);
            install_subscriber(format, self.span_events, otel_layer);
        }

        let mut upkeep = None;
        let mut exporter = None;
        if let Some(recorder) = recorder {
            let handle = recorder.upkeep_handle();
            let candidate = std::sync::Arc::clone(recorder.exporter());
            match metrics::set_global_recorder(recorder) {
                Ok(()) => {
                    if let Some(address) = crate::handles::global_recorder_address() {
                        crate::prometheus::publish(std::sync::Arc::clone(&candidate), address);
                    }
                    metrics::describe_counter!(
                        crate::LABEL_OVERFLOW_TOTAL,
                        metrics::Unit::Count,
                        "Calls whose labels(...) values were folded into the __overflow__ series: their function already had the maximum number of label sets."
                    );
                    exporter = Some(candidate);
                    upkeep = Upkeep::start(handle);
                    tree::preregister_enabled();
                }
                Err(_) => eprintln!(
                    "alamos: a metrics recorder is already installed; keeping it (alamos's metrics go to it, and alamos serves no exposition)"
                ),
            }
        }
        let server = if exporter.is_some() { server } else { None };
        Ok(Guard {
            server,
            upkeep,
            exporter,
            #[cfg(feature = "otel")]
            otel,
        })
    }

    /// The OTLP layer, if export was asked for by the builder or the
    /// environment, and the guard that flushes it.
    #[cfg(feature = "otel")]
    fn otel_layer(&self) -> (Option<crate::OtelLayer<Registry>>, Option<crate::OtelGuard>) {
        let config = match &self.otel {
            Some(config) => config.clone(),
            None if crate::OtelConfig::endpoint_in_env() => crate::OtelConfig::from_env(),
            None => return (None, None),
        };
        for problem in config.problems() {
            eprintln!("alamos: OpenTelemetry configuration: {problem}");
        }
        if config.is_disabled() || !self.subscriber {
            return (None, None);
        }
        match config.build_layer::<Registry>() {
            Ok((layer, guard)) => (Some(layer), Some(guard)),
            Err(err) => {
                eprintln!("alamos: not exporting spans over OTLP: {err}");
                (None, None)
            }
        }
    }
}

fn validate_buckets(bounds: &[f64]) -> Result<(), InitError> {
    if bounds.is_empty() {
        return Err(InitError::Buckets("no bucket bounds given".into()));
    }
    if let Some(bad) = bounds.iter().find(|b| !b.is_finite()) {
        return Err(InitError::Buckets(format!("bound {bad} is not finite")));
    }
    for pair in bounds.windows(2) {
        if let [low, high] = pair {
            if low >= high {
                return Err(InitError::Buckets(format!(
                    "bounds must ascend strictly, but {low} is followed by {high}"
                )));
            }
        }
    }
    Ok(())
}

fn env_log_format() -> LogFormat {
    match std::env::var(LOG_FORMAT_ENV) {
        Err(std::env::VarError::NotPresent) => LogFormat::Text,
        Ok(value) if value.trim().eq_ignore_ascii_case("json") => LogFormat::Json,
        Ok(value) if value.trim().eq_ignore_ascii_case("text") || value.trim().is_empty() => {
            LogFormat::Text
        }
        Ok(value) => {
            eprintln!(
                "alamos: {LOG_FORMAT_ENV}={value:?} is neither `text` nor `json`; writing text"
            );
            LogFormat::Text
        }
        Err(std::env::VarError::NotUnicode(_)) => {
            eprintln!("alamos: {LOG_FORMAT_ENV} is not valid UTF-8; writing text");
            LogFormat::Text
        }
    }
}

fn env_prometheus_addr() -> Option<SocketAddr> {
    match std::env::var(PROMETHEUS_ADDR_ENV) {
        Err(std::env::VarError::NotPresent) => None,
        Ok(value) if value.trim().is_empty() => None,
        Ok(value) => match parse_listen_addr(&value) {
            Ok(addr) => Some(addr),
            Err(reason) => {
                eprintln!("alamos: {PROMETHEUS_ADDR_ENV}: {reason}; not serving metrics over HTTP");
                None
            }
        },
        Err(std::env::VarError::NotUnicode(_)) => {
            eprintln!(
                "alamos: {PROMETHEUS_ADDR_ENV} is not valid UTF-8; not serving metrics over HTTP"
            );
            None
        }
    }
}

/// alamos's own callsites are already gated by their experiments'
/// thresholds; everything else is held to the root threshold.
fn passes_alamos_levels(metadata: &Metadata<'_>) -> bool {
    if metadata.fields().field("alamos.experiment").is_some() {
        return true;
    }
    tree::root_threshold().enables(crate::Level::from(*metadata.level()))
}

/// The stderr logs, and the OTLP export when configured, filtered alike.
fn install_subscriber<L>(format: LogFormat, span_events: bool, export: Option<L>)
where
    L: Layer<Registry> + Send + Sync + 'static,
{
    let spans = if span_events {
        FmtSpan::CLOSE
    } else {
        FmtSpan::NONE
    };
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_span_events(spans);
    let layer = match format {
        LogFormat::Text => fmt.boxed(),
        LogFormat::Json => fmt
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .boxed(),
    };
    let subscriber = tracing_subscriber::registry()
        .with(export.map(|export| export.with_filter(filter::filter_fn(passes_alamos_levels))))
        .with(layer.with_filter(filter::filter_fn(passes_alamos_levels)));
    if tracing::subscriber::set_global_default(subscriber).is_err() {
        eprintln!(
            "alamos: a tracing subscriber is already installed; keeping it (alamos's spans and logs go to it)"
        );
    }
}

/// Runs the inner recorder's histogram upkeep until dropped.
struct Upkeep {
    stop: mpsc::Sender<()>,
    thread: Option<JoinHandle<()>>,
}

impl Upkeep {
    fn start(handle: metrics_exporter_prometheus::PrometheusHandle) -> Option<Upkeep> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("alamos-upkeep".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(UPKEEP_INTERVAL)
                {
                    handle.run_upkeep();
                }
                handle.run_upkeep();
            })
            .ok()?;
        Some(Upkeep {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Upkeep {
    fn drop(&mut self) {
        let _ = self.stop.send(());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Keeps what [`init`] set up running; flushes and stops it when dropped.
#[must_use = "metrics are served and flushed only while the guard lives"]
pub struct Guard {
    server: Option<Server>,
    upkeep: Option<Upkeep>,
    exporter: Option<std::sync::Arc<crate::prometheus::Exporter>>,
    #[cfg(feature = "otel")]
    otel: Option<crate::OtelGuard>,
}

impl Guard {
    fn empty() -> Guard {
        Guard {
            server: None,
            upkeep: None,
            exporter: None,
            #[cfg(feature = "otel")]
            otel: None,
        }
    }

    /// The address `/metrics` is served on, if it is.
    pub fn prometheus_addr(&self) -> Option<SocketAddr> {
        self.server.as_ref().map(Server::local_addr)
    }

    /// The Prometheus exposition, if alamos's recorder was installed.
    pub fn render(&self) -> Option<String> {
        self.exporter.as_ref().map(|exporter| exporter.render())
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.server.take();
        self.upkeep.take();
        // Exports every finished span; reports on stderr what could not be.
        #[cfg(feature = "otel")]
        self.otel.take();
        let _ = std::io::stderr().flush();
        let _ = std::io::stdout().flush();
    }
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("prometheus_addr", &self.prometheus_addr())
            .field("recorder", &self.exporter.is_some())
            .finish_non_exhaustive()
    }
}

/// Why [`Builder::install`] failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum InitError {
    /// The histogram bucket bounds are unusable.
    Buckets(String),
    /// The metrics endpoint could not listen on its address.
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why binding failed.
        source: std::io::Error,
    },
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InitError::Buckets(reason) => write!(f, "invalid duration buckets: {reason}"),
            InitError::Bind { addr, source } => {
                write!(f, "cannot serve metrics on {addr}: {source}")
            }
        }
    }
}

impl std::error::Error for InitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            InitError::Bind { source, .. } => Some(source),
            InitError::Buckets(_) => None,
        }
    }
}
