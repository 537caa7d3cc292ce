//! Setting up a binary: `alamos::init()` and [`Builder`].
//!
//! Libraries never call this; a binary calls it once at start-up and keeps the
//! returned [`Guard`] alive until exit.

use std::collections::HashMap;
use std::fmt;
use std::io::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{Layer, Registry};

use crate::admin::{self, Admin};
use crate::filter::AlamosFilter;
use crate::http::{parse_listen_addr, Server};
use crate::identity::{self, Identity};
use crate::metric::recorder::AlamosRecorder;
use crate::metric::{buckets, name, sink, store};
use crate::stderr::{EventsOnly, Json, JsonFields, KeepSpanFields, SpanEvents, Text, TextFields};
use crate::{env, tree};

/// How log lines are written to stderr.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogFormat {
    /// One human-readable line per event (and per span event if asked).
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
                .prometheus_endpoint(false)
                .install()
                .unwrap_or_else(|_| Guard::empty())
        }
    }
}

/// Configures what [`init`] installs: a `tracing` subscriber writing to
/// stderr, alamos's Prometheus recorder, and optionally an HTTP endpoint.
///
/// Settings not made here come from the environment: `ALAMOS_LOG_FORMAT`,
/// `ALAMOS_LOG_SPANS`, `ALAMOS_PROMETHEUS_ADDR`, `ALAMOS_ADMIN_TOKEN` and
/// `ALAMOS_ADMIN_REMOTE`.
/// Thresholds always come from `ALAMOS_LEVEL` and [`crate::set_level`].
/// Events and spans that are not alamos's follow the root threshold, or,
/// when `RUST_LOG` is set, its `target=level` directives (targets they do
/// not cover still follow the root); each callsite is decided once, so an
/// event nobody prints costs what it costs without a subscriber.
///
/// Every setter takes the name of what it sets: a value
/// ([`Builder::prometheus_addr`], [`Builder::admin_token`],
/// [`Builder::log_format`], ...), or whether a part is installed at all
/// ([`Builder::subscriber`], [`Builder::recorder`],
/// [`Builder::prometheus_endpoint`], [`Builder::admin`], each `true` by
/// default). Turning a part off wins over the values given for it,
/// whatever the order of the calls.
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until installed"]
// One bool per part that may be left out, as the setters take them.
#[allow(clippy::struct_excessive_bools)]
pub struct Builder {
    log_format: Option<LogFormat>,
    /// `None`: where `ALAMOS_PROMETHEUS_ADDR` says, if it is set.
    prometheus_addr: Option<SocketAddr>,
    prometheus_endpoint: bool,
    buckets: Vec<f64>,
    histogram_buckets: HashMap<String, Vec<f64>>,
    thread_series: Option<usize>,
    subscriber: bool,
    #[cfg(all(feature = "log", feature = "runtime"))]
    log_bridge: bool,
    recorder: bool,
    span_events: Option<SpanEvents>,
    max_label_sets: Option<usize>,
    observe_timeout: Option<std::time::Duration>,
    constant_labels: Vec<(String, String)>,
    /// `None`: the token `ALAMOS_ADMIN_TOKEN` gives, if any.
    admin_token: Option<crate::Redacted<String>>,
    admin: bool,
    /// `None`: 5 s.
    shutdown_timeout: Option<Duration>,
    /// `None`: what `ALAMOS_FLUSH_ON_SIGNALS` says.
    flush_on_signals: Option<bool>,
    /// `None`: what `ALAMOS_ADMIN_REMOTE` says (default no).
    admin_remote: Option<bool>,
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
            prometheus_addr: None,
            prometheus_endpoint: true,
            buckets: buckets::DURATIONS.to_vec(),
            histogram_buckets: HashMap::new(),
            thread_series: None,
            subscriber: true,
            #[cfg(all(feature = "log", feature = "runtime"))]
            log_bridge: true,
            recorder: true,
            span_events: None,
            max_label_sets: None,
            observe_timeout: None,
            constant_labels: Vec::new(),
            admin_token: None,
            admin: true,
            shutdown_timeout: None,
            flush_on_signals: None,
            admin_remote: None,
            #[cfg(feature = "otel")]
            otel: None,
        }
    }

    /// How long dropping the [`Guard`] (or [`Guard::shutdown`]) may take
    /// to deliver what is still queued (default 5 s in all). Spans, log
    /// records and metrics (feature `otel`) are flushed at once, whatever
    /// the receiver does; what has not reached it by then is counted in
    /// `alamos_export_dropped_total{reason="shutdown"}` and said on stderr
    /// in one line, with everything else not delivered over the run.
    /// Overrides the [`OtelConfig`](crate::OtelConfig)'s own
    /// `shutdown_timeout`.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = Some(timeout);
        self
    }

    /// On SIGTERM and SIGINT, flush as dropping the [`Guard`] does, then
    /// end the process with the signal's default action (exit status
    /// 128 + n: 143 for SIGTERM), whatever `ALAMOS_FLUSH_ON_SIGNALS` says
    /// (default: off, or `ALAMOS_FLUSH_ON_SIGNALS=1`).
    ///
    /// The program's own signal handlers (`tokio::signal`, `ctrlc`) keep
    /// working: they share `signal-hook`'s registry, and each sees the
    /// signal. But the flush ends the process, with the signal, whatever
    /// those handlers are doing (a guard they drop meanwhile waits for it):
    /// a program that shuts down gracefully on SIGTERM should leave this
    /// off and drop the guard at the end of its own shutdown, which flushes
    /// the same way and keeps its exit status. Unix only: elsewhere the
    /// setting is accepted and does nothing.
    pub fn flush_on_signals(mut self, flush: bool) -> Self {
        self.flush_on_signals = Some(flush);
        self
    }

    /// Adds the label `name="value"` to every series alamos exports, in
    /// the Prometheus exposition, OpenMetrics and OTLP alike (and to
    /// `target_info`), so that the series of a cluster's nodes can be told
    /// apart and summed: `.constant_label("node", "a")`. A series that has
    /// a label of that name keeps its own. Setting a name again replaces
    /// its value.
    ///
    /// The name must be a Prometheus label name, not reserved (`__…`) and
    /// none of `experiment`, `function`, `outcome`, `le`, `quantile`;
    /// [`Builder::install`] fails otherwise.
    pub fn constant_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let (name, value) = (name.into(), value.into());
        self.constant_labels.retain(|(known, _)| *known != name);
        self.constant_labels.push((name, value));
        self
    }

    /// Serves the admin routes (`/alamos/tree`, `/alamos/reports`,
    /// `/alamos/tasks`, `/alamos/levels`) beside `/metrics`, each requiring
    /// `Authorization: Bearer <token>`, whatever `ALAMOS_ADMIN_TOKEN` says.
    ///
    /// The token must be 1 to 4096 visible ASCII characters (a long random
    /// one: anyone holding it can change every threshold); an unusable one
    /// leaves the routes off and stderr says why. The routes are served
    /// only where `/metrics` is ([`Builder::prometheus_addr`] or
    /// `ALAMOS_PROMETHEUS_ADDR`), and not after [`Builder::admin`]`(false)`.
    /// On an address that is not loopback they are served only after
    /// [`Builder::admin_remote`]`(true)` or with `ALAMOS_ADMIN_REMOTE=1`.
    ///
    /// ```no_run
    /// let _guard = alamos::Builder::new()
    ///     .prometheus_addr(([127, 0, 0, 1], 9464).into())
    ///     .admin_token(std::env::var("MY_ADMIN_TOKEN").unwrap_or_default())
    ///     .install()?;
    /// # Ok::<(), alamos::InitError>(())
    /// ```
    pub fn admin_token(mut self, token: impl Into<String>) -> Self {
        self.admin_token = Some(crate::Redacted::new(token.into()));
        self
    }

    /// Whether to serve the admin routes when a token is given, by
    /// [`Builder::admin_token`] or `ALAMOS_ADMIN_TOKEN` (default: yes).
    /// `false` serves none, whatever the token.
    pub fn admin(mut self, serve: bool) -> Self {
        self.admin = serve;
        self
    }

    /// Whether to serve the admin routes on an address that is not
    /// loopback (`0.0.0.0`, `[::]`, a real interface), whatever
    /// `ALAMOS_ADMIN_REMOTE` says (default: no).
    ///
    /// Without it, such an address serves `/metrics` alone and stderr says
    /// why. With it, stderr warns that the bearer token travels in
    /// cleartext: put TLS in front of the endpoint (a proxy that terminates
    /// it, or a mesh), or anyone on the path can take the token and change
    /// every threshold. Loopback addresses serve the routes either way.
    pub fn admin_remote(mut self, remote: bool) -> Self {
        self.admin_remote = Some(remote);
        self
    }

    /// Exports spans, metrics and log records over OTLP as `config` says.
    /// Without this, they are exported when `OTEL_EXPORTER_OTLP_ENDPOINT`
    /// (or a signal's own endpoint variable) is set, configured by the
    /// standard `OTEL_*` variables ([`crate::OtelConfig::from_env`]).
    ///
    /// Each signal is exported on its own: one that cannot be (an endpoint
    /// that is not a URL, say) is left out and said so on stderr, and the
    /// others are exported.
    ///
    /// With the `otel` feature and alamos's subscriber, spans get W3C trace
    /// and span ids whether or not anything is exported: log lines inside
    /// a span carry them, [`propagate`](fn@crate::propagate) writes the current span's
    /// `traceparent` and [`crate::depropagate`] makes the caller's span the
    /// parent, so the logs of two nodes join on the trace id before any
    /// collector exists. Only `OTEL_SDK_DISABLED=true` (or
    /// [`crate::OtelConfig::disabled`]) turns this off, and with it the
    /// OpenTelemetry layer's cost per span.
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
        self.prometheus_addr = Some(addr);
        self
    }

    /// Whether to serve `GET /metrics` (and the admin routes) when an
    /// address is given, by [`Builder::prometheus_addr`] or
    /// `ALAMOS_PROMETHEUS_ADDR` (default: yes). `false` serves nothing,
    /// whatever the address; the exposition is still available from
    /// [`Guard::render`].
    pub fn prometheus_endpoint(mut self, serve: bool) -> Self {
        self.prometheus_endpoint = serve;
        self
    }

    /// Upper bounds, in seconds, of the `alamos_call_duration_seconds`
    /// buckets (default [`crate::buckets::DURATIONS`]). Must be finite and
    /// strictly ascending.
    pub fn duration_buckets(mut self, bounds: &[f64]) -> Self {
        self.buckets = bounds.to_vec();
        self
    }

    /// Upper bounds of the buckets of the histogram `name` recorded through
    /// the `metrics` facade (`metrics::histogram!`). Without this, such a
    /// histogram is bucketed by its unit: [`crate::buckets::DURATIONS`] for
    /// seconds, [`crate::buckets::BYTES`] for bytes (described with
    /// `metrics::describe_histogram!`, or a name ending in `_seconds` or
    /// `_bytes`), else [`crate::buckets::COUNTS`]. alamos's own
    /// `histogram!` takes its buckets at the callsite.
    pub fn histogram_buckets(mut self, name: impl Into<String>, bounds: &[f64]) -> Self {
        self.histogram_buckets.insert(name.into(), bounds.to_vec());
        self
    }

    /// Caps the series each thread keeps cells of its own for (default
    /// 256): a thread's updates to further series take atomic operations on
    /// shared cells instead, so a thread costs a bounded amount of memory
    /// however many series it touches.
    pub fn max_thread_series(mut self, max: usize) -> Self {
        self.thread_series = Some(max);
        self
    }

    /// Caps the label sets each callsite with labels keeps (an instrumented
    /// function's `labels(...)`, an instrument's `name = value` labels;
    /// default [`crate::names::DEFAULT_MAX_LABEL_SETS`]). Calls with further
    /// sets are counted in one overflow series whose extra labels read
    /// `__overflow__`, and in `alamos_label_overflow_total`.
    pub fn max_label_sets(mut self, max: usize) -> Self {
        self.max_label_sets = Some(max);
        self
    }

    /// How long a read of the metrics waits for each closure given to
    /// [`crate::observe`] (default 100 ms): one that blocks longer, or
    /// panics, is left out of that read and counted in
    /// `alamos_observe_failures_total{experiment, name, reason}`; one that
    /// never returns holds one thread and is skipped until it does.
    pub fn observe_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.observe_timeout = Some(timeout);
        self
    }

    /// Whether to install the stderr `tracing` subscriber (default: yes).
    ///
    /// Without it, alamos has no subscriber to add OpenTelemetry's layer
    /// to: spans and log records are exported (and spans get trace ids)
    /// only through a layer the program installs itself, such as
    /// `OtelConfig::build_layer`'s (feature `otel`). Metrics are still
    /// pushed over OTLP when export is configured (by
    /// `Builder::otel` or the environment); give that layer's
    /// configuration `.metrics(false)` then, or metrics are pushed twice.
    pub fn subscriber(mut self, install: bool) -> Self {
        self.subscriber = install;
        self
    }

    /// Whether the `log` crate's records join alamos's output (default: yes,
    /// with alamos's subscriber; feature `log`, part of `runtime`).
    ///
    /// Each record is held to the threshold of the experiment it is logged
    /// in (the nearest instrumented function or task), else the root's. A
    /// program that has already set a `log` logger keeps it: `log` takes the
    /// first one set, and alamos says on stderr that it kept it. Without
    /// alamos's subscriber (`.subscriber(false)`) nothing is installed.
    #[cfg(all(feature = "log", feature = "runtime"))]
    pub fn log_bridge(mut self, install: bool) -> Self {
        self.log_bridge = install;
        self
    }

    /// Whether to install alamos's Prometheus recorder (default: yes).
    pub fn recorder(mut self, install: bool) -> Self {
        self.recorder = install;
        self
    }

    /// Which span lifecycle events are written as lines of their own,
    /// whatever `ALAMOS_LOG_SPANS` says (default: none, only events).
    pub fn span_events(mut self, events: SpanEvents) -> Self {
        self.span_events = Some(events);
        self
    }

    /// Installs what was configured.
    ///
    /// A `tracing` subscriber or `metrics` recorder installed earlier is kept
    /// (and said so on stderr): alamos's spans and metrics then go to it.
    ///
    /// # Errors
    ///
    /// Fails, installing nothing, if the buckets or a constant label's name
    /// are invalid, or the endpoint's address cannot be bound.
    pub fn install(self) -> Result<Guard, InitError> {
        for (name, _) in &self.constant_labels {
            identity::check_label_name(name).map_err(InitError::Label)?;
        }
        buckets::check(&self.buckets).map_err(InitError::Buckets)?;
        for (name, bounds) in &self.histogram_buckets {
            buckets::check(bounds)
                .map_err(|reason| InitError::Buckets(format!("{name}: {reason}")))?;
        }
        let addr = match self.prometheus_addr {
            _ if !self.prometheus_endpoint => None,
            Some(addr) => Some(addr),
            None => env_prometheus_addr(),
        };
        let admin = match &self.admin_token {
            _ if !self.admin => None,
            Some(token) => admin::checked(token.expose(), "Builder::admin_token"),
            None => admin::env_token(),
        };
        if admin.is_some() && addr.is_none() {
            if self.prometheus_endpoint {
                eprintln!(
                    "alamos: the admin endpoint is enabled but nothing is served: set {} or Builder::prometheus_addr",
                    env::PROMETHEUS_ADDR
                );
            } else {
                eprintln!(
                    "alamos: the admin endpoint is enabled but nothing is served: the builder was told to serve no endpoint"
                );
            }
        }
        let server = match addr {
            Some(addr) if self.recorder => {
                let mut routes: Vec<std::sync::Arc<dyn crate::http::Route>> =
                    vec![std::sync::Arc::new(crate::prometheus::Metrics)];
                if let Some(token) = admin.filter(|_| admin::served_on(addr, self.admin_remote)) {
                    routes.push(std::sync::Arc::new(Admin::new(token)));
                    crate::filter::keep_operator_lines();
                }
                Some(
                    Server::start(addr, routes)
                        .map_err(|source| InitError::Bind { addr, source })?,
                )
            }
            Some(addr) => {
                eprintln!(
                    "alamos: not serving metrics on {addr}: the builder was told not to install a recorder"
                );
                None
            }
            None => None,
        };

        if let Some(max) = self.max_label_sets {
            crate::metric::sink::set_max_label_sets(max);
        }
        if let Some(timeout) = self.observe_timeout {
            crate::metric::observe::set_timeout(timeout);
        }
        // Export when the builder or an endpoint in the environment asks
        // for it; either way the configuration names this node.
        #[cfg(feature = "otel")]
        let (otel_config, export) = self.otel_config();
        // Who this node is, for target_info and every export: the OTLP
        // resource when there is one.
        #[cfg(feature = "otel")]
        let (resource, problems) = (
            otel_config.identity_resource(),
            otel_config.problems().to_vec(),
        );
        #[cfg(not(feature = "otel"))]
        let (resource, problems) = identity::resource_from(|name| std::env::var(name).ok());
        for problem in problems {
            eprintln!("alamos: OpenTelemetry configuration: {problem}");
        }
        identity::install(Identity {
            resource,
            constant_labels: self.constant_labels.clone(),
        });
        #[cfg(feature = "otel")]
        let (otel_layer, otel) = self.otel_layer(&otel_config, export);
        #[cfg(not(feature = "otel"))]
        let otel_layer = None::<tracing_subscriber::layer::Identity>;
        if self.subscriber {
            let format = self.log_format.unwrap_or_else(env_log_format);
            let spans = self.span_events.unwrap_or_else(SpanEvents::from_env);
            install_subscriber(format, spans, otel_layer);
            #[cfg(all(feature = "log", feature = "runtime"))]
            if self.log_bridge {
                crate::log_bridge::install();
            }
        }

        let recorder = self.recorder
            && install_recorder(&self.buckets, self.histogram_buckets, self.thread_series);
        let server = if recorder { server } else { None };
        let guard = Guard {
            server,
            recorder,
            signal_wait: self.shutdown_timeout.unwrap_or(Duration::from_secs(5))
                + Duration::from_secs(5),
            #[cfg(feature = "otel")]
            otel,
        };
        install_signal_flush(self.flush_on_signals, &guard);
        Ok(guard)
    }

    /// The OTLP configuration (the builder's, or the environment's) and
    /// whether to export: when the builder or an endpoint in the
    /// environment asks for it; either way the configuration names this
    /// node.
    #[cfg(feature = "otel")]
    fn otel_config(&self) -> (crate::OtelConfig, bool) {
        let (config, export) = match &self.otel {
            Some(config) => (config.clone(), true),
            None => (
                crate::OtelConfig::from_vars(|name| std::env::var(name).ok()),
                crate::OtelConfig::endpoint_in_env(),
            ),
        };
        match self.shutdown_timeout {
            Some(timeout) => (config.shutdown_timeout(timeout), export),
            None => (config, export),
        }
    }

    /// The OpenTelemetry layer and the guard that flushes what it
    /// exports.
    ///
    /// With export asked for, each signal is exported if it can be (one
    /// that cannot is said so on stderr); without, the layer only gives
    /// spans their W3C ids. Without alamos's subscriber there is nothing to
    /// add a layer to, and only metrics are pushed. `OTEL_SDK_DISABLED`
    /// (or [`crate::OtelConfig::disabled`]) turns all of it off.
    #[cfg(feature = "otel")]
    fn otel_layer(
        &self,
        config: &crate::OtelConfig,
        export: bool,
    ) -> (Option<crate::OtelLayer<Registry>>, Option<crate::OtelGuard>) {
        use crate::otel::Signal;

        if config.is_disabled() {
            return (None, None);
        }
        if !self.subscriber {
            if !export {
                return (None, None);
            }
            return match config.metrics_guard() {
                Ok(guard) => (None, guard),
                Err(err) => {
                    eprintln!("alamos: not pushing metrics over OTLP: {err}");
                    (None, None)
                }
            };
        }
        if !export {
            let (layer, guard) = config.context_layer();
            return (Some(layer), Some(guard));
        }
        let (layer, guard, failed) = config.build_layer_per_signal();
        for (signal, err) in &failed {
            let exported: Vec<String> = [
                (Signal::Traces, true),
                (Signal::Metrics, config.metrics_url().is_some()),
                (Signal::Logs, config.logs_url().is_some()),
            ]
            .into_iter()
            .filter(|(other, asked)| *asked && failed.iter().all(|(bad, _)| bad != other))
            .map(|(other, _)| other.to_string())
            .collect();
            let rest = if exported.is_empty() {
                String::new()
            } else {
                format!("; still exporting {}", exported.join(" and "))
            };
            let ids = if *signal == Signal::Traces {
                " (spans keep their trace ids for logs and propagation)"
            } else {
                ""
            };
            eprintln!("alamos: not exporting {signal} over OTLP: {err}{ids}{rest}");
        }
        (Some(layer), Some(guard))
    }
}

/// With `flush_on_signals` (or `ALAMOS_FLUSH_ON_SIGNALS=1`), SIGTERM and
/// SIGINT flush what `guard` would, then end the process.
fn install_signal_flush(flush_on_signals: Option<bool>, guard: &Guard) {
    let flush = flush_on_signals.unwrap_or_else(|| env::flag(env::FLUSH_ON_SIGNALS, false));
    if flush {
        if let Err(err) = crate::signals::flush_on_signals(guard.signal_flush()) {
            eprintln!("alamos: not flushing on SIGTERM and SIGINT: {err}");
        }
    }
}

/// Installs alamos's recorder as the global one; false if another recorder
/// was there first, which then keeps alamos's metrics.
fn install_recorder(
    call_bounds: &[f64],
    histogram_buckets: HashMap<String, Vec<f64>>,
    thread_series: Option<usize>,
) -> bool {
    let store = store::store(call_bounds);
    if let Some(max) = thread_series {
        store.set_thread_series(max);
    }
    if metrics::set_global_recorder(AlamosRecorder::new(store, histogram_buckets)).is_err() {
        eprintln!(
            "alamos: a metrics recorder is already installed; keeping it (alamos's metrics go to it, and alamos serves no exposition)"
        );
        return false;
    }
    let Some(address) = sink::probe_global_recorder() else {
        eprintln!(
            "alamos: cannot start a thread to find the recorder; metrics go through the facade"
        );
        return true;
    };
    sink::publish_store_recorder(address);
    let overflow = name::LABEL_OVERFLOW;
    store.describe(overflow.name, Some(overflow.help), overflow.unit);
    tree::notify_enabled();
    true
}

fn env_log_format() -> LogFormat {
    match env::var(env::LOG_FORMAT, "writing text") {
        None => LogFormat::Text,
        Some(value) if value.trim().eq_ignore_ascii_case("json") => LogFormat::Json,
        Some(value) if value.trim().eq_ignore_ascii_case("text") || value.trim().is_empty() => {
            LogFormat::Text
        }
        Some(value) => {
            eprintln!(
                "alamos: {}={value:?} is neither `text` nor `json`; writing text",
                env::LOG_FORMAT
            );
            LogFormat::Text
        }
    }
}

fn env_prometheus_addr() -> Option<SocketAddr> {
    let value = env::var(env::PROMETHEUS_ADDR, "not serving metrics over HTTP")?;
    if value.trim().is_empty() {
        return None;
    }
    match parse_listen_addr(&value) {
        Ok(addr) => Some(addr),
        Err(reason) => {
            eprintln!(
                "alamos: {}: {reason}; not serving metrics over HTTP",
                env::PROMETHEUS_ADDR
            );
            None
        }
    }
}

/// The stderr logs, and the OTLP export when configured, behind one global
/// filter ([`AlamosFilter`]): alamos's callsites are gated by their
/// experiments' thresholds before they reach it, others by `RUST_LOG` or
/// the root threshold, each decided once per callsite.
fn install_subscriber<L>(format: LogFormat, span_events: SpanEvents, export: Option<L>)
where
    L: Layer<Registry> + Send + Sync + 'static,
{
    let filter = FilterAndFields {
        filter: AlamosFilter::from_env(),
        fields: KeepSpanFields,
    };
    // The filter holds for every layer wherever it stands (a layer's
    // `never` is the stack's); the fields must be kept before the fmt
    // layer writes a span's "new" line, so both sit below it. The OTLP
    // layer's type is fixed to sit on the registry itself. The stack's
    // max-level hint is the filter's alone ([`Hinted`]).
    let hint = filter.filter.clone();
    let installed = match export {
        Some(export) => set_global(
            tracing_subscriber::registry()
                .with(export)
                .with(filter)
                .with(fmt_layer(format, span_events)),
            hint,
        ),
        None => set_global(
            tracing_subscriber::registry()
                .with(filter)
                .with(fmt_layer(format, span_events)),
            hint,
        ),
    };
    if !installed {
        eprintln!(
            "alamos: a tracing subscriber is already installed; keeping it (alamos's spans and logs go to it)"
        );
        return;
    }
    crate::filter::install();
}

/// The stderr layer, text or JSON, with span lines as asked; without span
/// lines, the events alone reach it ([`EventsOnly`]).
fn fmt_layer<S>(format: LogFormat, span_events: SpanEvents) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_span_events(span_events.fmt_span());
    let events_only = span_events == SpanEvents::None;
    match format {
        LogFormat::Text => boxed(fmt.event_format(Text).fmt_fields(TextFields), events_only),
        LogFormat::Json => boxed(fmt.event_format(Json).fmt_fields(JsonFields), events_only),
    }
}

/// `layer` boxed, behind [`EventsOnly`] when no span has lines of its own.
fn boxed<S, L>(layer: L, events_only: bool) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber,
    L: Layer<S> + Send + Sync + 'static,
{
    if events_only {
        EventsOnly(layer).boxed()
    } else {
        layer.boxed()
    }
}

/// Sets `subscriber`, hinted by `filter`, as the global default; false if
/// one already was.
fn set_global<S>(subscriber: S, filter: AlamosFilter) -> bool
where
    S: tracing::Subscriber + Send + Sync + 'static,
{
    tracing::subscriber::set_global_default(Hinted { subscriber, filter }).is_ok()
}

/// A subscriber whose max-level hint is its global filter's.
///
/// The filter's `never` holds for the whole stack wherever it stands, but
/// `tracing-subscriber` combines level hints by position and reads an
/// `off` hint beside an empty `Option` layer (which the OTLP layer has
/// inside) as "no hint", which is every level: with every threshold off,
/// each foreign event would pay the dispatch the hint exists to spare.
/// Every other call goes straight to the stack.
struct Hinted<S> {
    subscriber: S,
    filter: AlamosFilter,
}

impl<S: tracing::Subscriber> tracing::Subscriber for Hinted<S> {
    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        self.subscriber.on_register_dispatch(subscriber);
    }
    fn register_callsite(
        &self,
        metadata: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        self.subscriber.register_callsite(metadata)
    }
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        self.subscriber.enabled(metadata)
    }
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Layer::<Registry>::max_level_hint(&self.filter)
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        self.subscriber.new_span(span)
    }
    fn record(&self, span: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        self.subscriber.record(span, values);
    }
    fn record_follows_from(&self, span: &tracing::span::Id, follows: &tracing::span::Id) {
        self.subscriber.record_follows_from(span, follows);
    }
    fn event_enabled(&self, event: &tracing::Event<'_>) -> bool {
        self.subscriber.event_enabled(event)
    }
    fn event(&self, event: &tracing::Event<'_>) {
        self.subscriber.event(event);
    }
    fn enter(&self, span: &tracing::span::Id) {
        self.subscriber.enter(span);
    }
    fn exit(&self, span: &tracing::span::Id) {
        self.subscriber.exit(span);
    }
    fn clone_span(&self, id: &tracing::span::Id) -> tracing::span::Id {
        self.subscriber.clone_span(id)
    }
    fn try_close(&self, id: tracing::span::Id) -> bool {
        self.subscriber.try_close(id)
    }
    fn current_span(&self) -> tracing_core::span::Current {
        self.subscriber.current_span()
    }
    unsafe fn downcast_raw(&self, id: std::any::TypeId) -> Option<*const ()> {
        if id == std::any::TypeId::of::<Self>() {
            return Some(std::ptr::from_ref(self).cast());
        }
        // SAFETY: forwarded as asked; the stack answers for its own types.
        unsafe { self.subscriber.downcast_raw(id) }
    }
}

/// The global filter and the keeper of span fields as one layer: each
/// layer of a `tracing-subscriber` stack costs every span's enter, exit and
/// close a few calls, even when it does nothing there.
struct FilterAndFields {
    filter: AlamosFilter,
    fields: KeepSpanFields,
}

impl<S> Layer<S> for FilterAndFields
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn register_callsite(
        &self,
        metadata: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        Layer::<S>::register_callsite(&self.filter, metadata)
    }

    fn enabled(
        &self,
        metadata: &tracing::Metadata<'_>,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        self.filter.enabled(metadata, ctx)
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Layer::<S>::max_level_hint(&self.filter)
    }

    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        self.fields.on_new_span(attrs, id, ctx);
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        self.fields.on_record(id, values, ctx);
    }
}

// A program keeps its guard in a `static` or hands it to another thread:
// it must stay `Send + Sync` under every feature set.
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Guard>();
};

/// Keeps what [`init`] set up running; flushes and stops it when dropped.
#[must_use = "metrics are served and flushed only while the guard lives"]
pub struct Guard {
    server: Option<Server>,
    recorder: bool,
    /// How long a drop during a signal's flush waits for it to end the
    /// process: the shutdown time and a margin.
    signal_wait: Duration,
    #[cfg(feature = "otel")]
    otel: Option<crate::OtelGuard>,
}

impl Guard {
    fn empty() -> Guard {
        Guard {
            server: None,
            recorder: false,
            signal_wait: Duration::ZERO,
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
        if self.recorder {
            crate::prometheus::render_current()
        } else {
            None
        }
    }

    /// Flushes and stops everything now, as dropping the guard does:
    /// spans, log records and metrics are flushed at once, within
    /// [`Builder::shutdown_timeout`], and what was not delivered is said on
    /// stderr.
    pub fn shutdown(self) {
        drop(self);
    }

    /// What a SIGTERM or SIGINT runs with `flush_on_signals`: the running
    /// tasks reported and the export stopped, as the drop does.
    // Without `otel` there is only the task report, which needs no guard.
    #[cfg_attr(not(feature = "otel"), allow(clippy::unused_self))]
    fn signal_flush(&self) -> crate::signals::Flush {
        #[cfg(feature = "otel")]
        let stop = self.otel.as_ref().map(crate::OtelGuard::stopper);
        std::sync::Arc::new(move || {
            crate::task::report_running_at_shutdown();
            #[cfg(feature = "otel")]
            if let Some(stop) = &stop {
                stop();
            }
        })
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // What is stuck on shutdown: tasks still running, by key and age.
        crate::task::report_running_at_shutdown();
        self.server.take();
        // Flushes every signal at once, within the shutdown time; reports on
        // stderr what could not be delivered.
        #[cfg(feature = "otel")]
        self.otel.take();
        let _ = std::io::stderr().flush();
        let _ = std::io::stdout().flush();
        // A SIGTERM's flush (`flush_on_signals`) ends the process with the
        // signal, even when the program's own handler drops the guard first.
        crate::signals::await_signal_end(self.signal_wait);
    }
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("prometheus_addr", &self.prometheus_addr())
            .field("recorder", &self.recorder)
            .finish_non_exhaustive()
    }
}

/// Why [`Builder::install`] failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum InitError {
    /// The histogram bucket bounds are unusable.
    Buckets(String),
    /// A constant label's name is not usable.
    Label(String),
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
            InitError::Label(reason) => f.write_str(reason),
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
            InitError::Buckets(_) | InitError::Label(_) => None,
        }
    }
}
