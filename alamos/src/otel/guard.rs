//! The end of export: [`OtelGuard`] flushes and stops every signal, at
//! once and within its shutdown time, and [`ExportReport`] says what became
//! of the spans.
//!
//! # Shutdown
//!
//! Spans, log records and metrics are flushed on three threads at once;
//! the guard waits for them until the shutdown time
//! ([`OtelConfig::shutdown_timeout`](super::OtelConfig::shutdown_timeout),
//! 5 s by default) has passed, whatever the receiver does, then counts
//! what is still queued or in flight as dropped (`reason="shutdown"`) and
//! writes one line on stderr with what was not delivered over the run, per
//! signal and reason (nothing when everything was). A thread still waiting
//! on the receiver then is left behind: the process is ending.
//!
//! The state lives behind an `Arc`, so that a signal handler
//! ([`Builder::flush_on_signals`](crate::Builder::flush_on_signals)) can
//! run the same shutdown while the guard is still held; whichever comes
//! first does it, the other waits for it to end.

use std::fmt;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use opentelemetry_sdk::error::OTelSdkError;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;

use super::config::DEFAULT_SHUTDOWN_TIMEOUT;
use super::health::{Health, Undelivered};
use super::metrics;
use crate::failure;

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

/// What a pipeline is made of, as [`OtelConfig`](super::OtelConfig)
/// builds it.
pub(super) struct Parts {
    pub(super) provider: Option<SdkTracerProvider>,
    pub(super) logs: Option<SdkLoggerProvider>,
    pub(super) metrics: Option<metrics::Pusher>,
    pub(super) spans: Option<Arc<Health>>,
    pub(super) logs_health: Option<Arc<Health>>,
    pub(super) metrics_health: Option<Arc<Health>>,
    pub(super) endpoint: String,
    pub(super) shutdown_timeout: Duration,
    /// The sink of untraced roots' failures, while spans are exported.
    pub(super) failures: Option<failure::Installed>,
}

impl Parts {
    pub(super) fn new(shutdown_timeout: Duration) -> Self {
        Parts {
            provider: None,
            logs: None,
            metrics: None,
            spans: None,
            logs_health: None,
            metrics_health: None,
            endpoint: String::new(),
            shutdown_timeout,
            failures: None,
        }
    }

    pub(super) fn set_metrics(&mut self, pusher: metrics::Pusher, health: Arc<Health>) {
        self.metrics = Some(pusher);
        self.metrics_health = Some(health);
    }
}

/// What a shutdown ran, and the state a flush needs.
struct Running {
    provider: Option<SdkTracerProvider>,
    logs: Option<SdkLoggerProvider>,
    metrics: Option<metrics::Pusher>,
    failures: Option<failure::Installed>,
}

struct Shared {
    /// `None` once stopped; held for the whole shutdown.
    running: Mutex<Option<Running>>,
    spans: Option<Arc<Health>>,
    logs: Option<Arc<Health>>,
    metrics: Option<Arc<Health>>,
    shutdown_timeout: Duration,
}

/// How a shutdown went.
struct Stopped {
    report: ExportReport,
    sdk_error: Option<OTelSdkError>,
}

/// Flushes and stops export; returned by [`OtelConfig::build_layer`](super::OtelConfig::build_layer).
///
/// Dropping it is a graceful shutdown: spans, log records and metrics are
/// flushed at once, within the shutdown time (5 s unless
/// [`OtelConfig::shutdown_timeout`](super::OtelConfig::shutdown_timeout)
/// says otherwise), and what was not delivered is said on stderr.
/// [`OtelGuard::shutdown`] does the same and returns the outcome too.
#[must_use = "dropping the guard stops span export"]
pub struct OtelGuard {
    /// A handle on the tracer provider, for [`OtelGuard::provider`].
    provider: Option<SdkTracerProvider>,
    endpoint: String,
    shared: Arc<Shared>,
}

impl From<Parts> for OtelGuard {
    fn from(parts: Parts) -> Self {
        OtelGuard {
            provider: parts.provider.clone(),
            endpoint: parts.endpoint,
            shared: Arc::new(Shared {
                running: Mutex::new(Some(Running {
                    provider: parts.provider,
                    logs: parts.logs,
                    metrics: parts.metrics,
                    failures: parts.failures,
                })),
                spans: parts.spans,
                logs: parts.logs_health,
                metrics: parts.metrics_health,
                shutdown_timeout: parts.shutdown_timeout,
            }),
        }
    }
}

impl OtelGuard {
    pub(super) fn disabled() -> Self {
        OtelGuard::from(Parts::new(DEFAULT_SHUTDOWN_TIMEOUT))
    }

    /// Exports every span and log record finished so far, and waits for
    /// the receiver.
    ///
    /// # Errors
    ///
    /// The export failed or timed out.
    pub fn flush(&self) -> Result<ExportReport, OtelError> {
        if let Some(running) = self
            .shared
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            if let Some(provider) = &running.provider {
                provider.force_flush().map_err(OtelError::Sdk)?;
            }
            if let Some(logs) = &running.logs {
                logs.force_flush().map_err(OtelError::Sdk)?;
            }
        }
        Ok(self.report())
    }

    /// How many spans finished and were exported so far.
    pub fn report(&self) -> ExportReport {
        self.shared.report()
    }

    /// The tracer provider, to install as OpenTelemetry's global one for
    /// code that uses the OpenTelemetry API directly; `None` when export is
    /// disabled, or only metrics are pushed.
    pub fn provider(&self) -> Option<&SdkTracerProvider> {
        self.provider.as_ref()
    }

    /// Flushes every signal at once and stops export, within the shutdown
    /// time; spans that finish later are dropped. What was not delivered is
    /// said on stderr.
    ///
    /// # Errors
    ///
    /// [`OtelError::Lost`] when some finished span was not exported, and
    /// [`OtelError::Sdk`] when the shutdown itself failed.
    pub fn shutdown(self) -> Result<ExportReport, OtelError> {
        let Some(stopped) = self.shared.stop() else {
            return Ok(self.report());
        };
        if !stopped.report.is_complete() {
            return Err(OtelError::Lost(stopped.report));
        }
        match stopped.sdk_error {
            Some(error) => Err(OtelError::Sdk(error)),
            None => Ok(stopped.report),
        }
    }

    /// The same shutdown as dropping the guard, for another thread to run
    /// (a signal handler); a no-op once the guard has stopped.
    pub(crate) fn stopper(&self) -> impl Fn() + Send + Sync + 'static {
        let shared = Arc::clone(&self.shared);
        move || {
            let _ = shared.stop();
        }
    }
}

#[cfg(test)]
impl OtelGuard {
    /// Whether spans, log records and metrics are exported (a provider
    /// with or without exporter, a logger provider, a pusher).
    pub(super) fn running(&self) -> [bool; 3] {
        let running = self
            .shared
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        running.as_ref().map_or([false; 3], |running| {
            [
                running.provider.is_some(),
                running.logs.is_some(),
                running.metrics.is_some(),
            ]
        })
    }

    pub(super) fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

impl Shared {
    fn report(&self) -> ExportReport {
        self.spans
            .as_ref()
            .map_or_else(ExportReport::default, |spans| ExportReport {
                finished: spans.offered(),
                exported: spans.exported(),
                failed: spans.failed(),
            })
    }

    /// Flushes and stops every signal at once, within the shutdown time;
    /// `None` if stopped already (after waiting for a shutdown under way to
    /// end).
    fn stop(&self) -> Option<Stopped> {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        let Running {
            provider,
            logs,
            metrics,
            failures,
        } = running.take()?;
        // No failure reaches a processor that is shutting down.
        if let Some(failures) = failures {
            failures.remove();
        }
        let started = Instant::now();
        let budget = self.shutdown_timeout;
        let deadline = started + budget;
        let (done, finished) = mpsc::channel::<Option<OTelSdkError>>();
        let mut waiting = 0;
        if let Some(provider) = provider {
            waiting += 1;
            let done = done.clone();
            spawn_or_run("alamos-stop-spans", move || {
                let _ = done.send(provider.shutdown_with_timeout(budget).err());
            });
        }
        if let Some(logs) = logs {
            waiting += 1;
            let done = done.clone();
            spawn_or_run("alamos-stop-logs", move || {
                let _ = done.send(logs.shutdown_with_timeout(budget).err());
            });
        }
        if let Some(pusher) = metrics {
            waiting += 1;
            let done = done.clone();
            spawn_or_run("alamos-stop-metrics", move || {
                pusher.finish(deadline);
                let _ = done.send(None);
            });
        }
        drop(done);
        let mut sdk_error = None;
        while waiting > 0 {
            match finished.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(error) => {
                    waiting -= 1;
                    sdk_error = sdk_error.or(error);
                }
                Err(_) => break,
            }
        }
        let undelivered: Vec<Undelivered> = [&self.spans, &self.logs, &self.metrics]
            .into_iter()
            .flatten()
            .map(|health| health.close())
            .collect();
        let lost: Vec<String> = undelivered
            .iter()
            .filter(|undelivered| undelivered.total() > 0)
            .map(ToString::to_string)
            .collect();
        if !lost.is_empty() {
            let limit = if waiting > 0 {
                format!(
                    " (the limit: {} still waiting on the receiver)",
                    Plural(waiting, "signal")
                )
            } else {
                String::new()
            };
            eprintln!(
                "alamos: OTLP export stopped in {:.2} s{limit}; not delivered in this run: {}",
                started.elapsed().as_secs_f64(),
                lost.join(", ")
            );
        }
        Some(Stopped {
            report: self.report(),
            sdk_error: if waiting > 0 { None } else { sdk_error },
        })
    }
}

/// Runs `work` on a thread of its own, or here if none can start.
fn spawn_or_run(name: &str, work: impl FnOnce() + Send + 'static) {
    let work = Arc::new(Mutex::new(Some(work)));
    let on_thread = Arc::clone(&work);
    let spawned = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let work = on_thread
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(work) = work {
                work();
            }
        });
    if spawned.is_err() {
        let work = work.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(work) = work {
            work();
        }
    }
}

/// `1 signal`, `2 signals`.
struct Plural(usize, &'static str);

impl fmt::Display for Plural {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = if self.0 == 1 { "" } else { "s" };
        write!(f, "{} {}{s}", self.0, self.1)
    }
}

impl Drop for OtelGuard {
    fn drop(&mut self) {
        if let Some(Stopped {
            sdk_error: Some(error),
            ..
        }) = self.shared.stop()
        {
            eprintln!("alamos: stopping OTLP export to {}: {error}", self.endpoint);
        }
    }
}

impl fmt::Debug for OtelGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let running = self
            .shared
            .running
            .try_lock()
            .map_or(true, |running| running.is_some());
        f.debug_struct("OtelGuard")
            .field("endpoint", &self.endpoint)
            .field("running", &running)
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

#[cfg(test)]
mod tests {
    use super::*;

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
