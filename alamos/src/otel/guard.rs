//! The end of export: [`OtelGuard`] flushes and stops every signal, and
//! [`ExportReport`] says what became of the spans.

use std::fmt;
use std::sync::Arc;

use opentelemetry_sdk::error::OTelSdkError;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;

use super::health::Counts;
use super::metrics;

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
    pub(super) provider: Option<SdkTracerProvider>,
    pub(super) logs: Option<SdkLoggerProvider>,
    pub(super) metrics: Option<metrics::Pusher>,
    pub(super) counts: Arc<Counts>,
    pub(super) endpoint: String,
}

impl OtelGuard {
    pub(super) fn disabled() -> Self {
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
