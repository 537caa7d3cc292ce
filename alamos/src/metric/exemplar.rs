//! Exemplars: for each bucket of a histogram, the trace of a recent sampled
//! call (or observation) that landed in it, so a slow bucket leads to a slow
//! trace.
//!
//! [`Exemplar`] is what exporters read; it exists in every build, and a
//! build without `otel` simply never has one. Capturing them is compiled
//! only with `otel`.
//!
//! # Capture (feature `otel`)
//!
//! Every call and histogram series has one shared [`Slot`] per bucket, next
//! to its shared cells. A call that lands in a bucket looks at the slot's
//! last attempt, a raw clock reading, and compares it with the reading it
//! already took to time itself: one relaxed load and a compare. Only when
//! the slot is older than [`DEFAULT_INTERVAL`] does the call claim it (a
//! compare-and-swap on that reading, so one call wins) and only then ask
//! `tracing-opentelemetry` for its span's context, which costs a lookup in
//! the subscriber and a lock. An unsampled or invalid context leaves the
//! previous exemplar in place; the next attempt is an interval later, so a
//! process whose spans are never sampled pays the lookup once per bucket
//! and interval, not per call.
//!
//! Exemplars come from traced calls only: an untraced call (see
//! `sampling`), which has no span, neither claims a slot nor replaces its
//! exemplar, so at a low trace probability the traced calls still fill
//! every bucket. The check reads the thread's trace decision, and only
//! when the slot is due.
//!
//! Only alamos's store keeps exemplars: calls recorded through another
//! `metrics` recorder, and histograms recorded through the `metrics` facade
//! (`metrics::histogram!`), have none.
//!
//! # Torn reads
//!
//! A slot's words are written by one writer at a time under a version word
//! (a seqlock): odd while the writer is between its stores, bumped to the
//! next even value after. A reader retries while the version is odd or
//! changed under it, and gives up (no exemplar) after a few tries, so a
//! trace id is never paired with another call's span id or value.

/// One bucket's exemplar: the trace and span of a sampled call, its value
/// (seconds for call durations) and when it was taken.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Exemplar {
    pub(crate) trace_id: [u8; 16],
    pub(crate) span_id: [u8; 8],
    pub(crate) value: f64,
    /// Wall-clock time, in nanoseconds since the Unix epoch.
    pub(crate) unix_nanos: u64,
}

impl Exemplar {
    /// The trace id as 32 lowercase hex digits.
    pub(crate) fn trace_id_hex(&self) -> String {
        hex(&self.trace_id)
    }

    /// The span id as 16 lowercase hex digits.
    pub(crate) fn span_id_hex(&self) -> String {
        hex(&self.span_id)
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(32), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

#[cfg(feature = "otel")]
pub(crate) use capture::{offer, sampled_ids, slots, Slot, DEFAULT_INTERVAL};

#[cfg(feature = "otel")]
mod capture {
    use std::sync::atomic::{fence, AtomicU64, Ordering};
    use std::time::{Duration, SystemTime};

    use super::Exemplar;

    /// How old a bucket's exemplar gets before a call landing there may
    /// replace it.
    pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

    /// How many times a reader retries a slot that is being written.
    const READ_TRIES: usize = 4;

    /// One bucket's exemplar, shared by every thread.
    #[derive(Debug, Default)]
    pub(crate) struct Slot {
        /// The raw clock reading of the last attempt to capture: the rate
        /// limit, and the claim (one writer wins its compare-and-swap).
        tried: AtomicU64,
        /// Even when the words below are consistent; 0 before the first
        /// exemplar.
        version: AtomicU64,
        trace_high: AtomicU64,
        trace_low: AtomicU64,
        span: AtomicU64,
        value: AtomicU64,
        unix_nanos: AtomicU64,
    }

    /// Leaked slots for `buckets` buckets: they live as long as their
    /// series, which is the process.
    pub(crate) fn slots(buckets: usize) -> &'static [Slot] {
        Box::leak((0..buckets).map(|_| Slot::default()).collect())
    }

    /// Offers an observation of `value` that landed in `slot`'s bucket at
    /// the raw clock reading `now`; `ids` gives the trace and span ids of
    /// the sampled span it belongs to, if any. Cheap unless the slot is
    /// older than `interval` (raw clock units).
    #[inline(always)]
    pub(crate) fn offer(
        slot: &Slot,
        now: u64,
        interval: u64,
        value: f64,
        ids: impl FnOnce() -> Option<([u8; 16], [u8; 8])>,
    ) {
        let tried = slot.tried.load(Ordering::Relaxed);
        // A reading from another core may be slightly behind: saturating,
        // it counts as recent.
        if now.saturating_sub(tried) < interval || crate::sampling::in_untraced() {
            return;
        }
        capture(slot, tried, now, value, ids);
    }

    #[cold]
    #[inline(never)]
    fn capture(
        slot: &Slot,
        tried: u64,
        now: u64,
        value: f64,
        ids: impl FnOnce() -> Option<([u8; 16], [u8; 8])>,
    ) {
        if slot
            .tried
            .compare_exchange(tried, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        let Some((trace_id, span_id)) = ids() else {
            return;
        };
        let unix_nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |since| {
                u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
            });
        write(
            slot,
            &Exemplar {
                trace_id,
                span_id,
                value,
                unix_nanos,
            },
        );
    }

    /// Stores `exemplar` under the slot's version; gives up if another
    /// writer is between its stores (a capture an interval later than one
    /// that was preempted).
    fn write(slot: &Slot, exemplar: &Exemplar) {
        let version = slot.version.load(Ordering::Relaxed);
        if version & 1 == 1
            || slot
                .version
                .compare_exchange(version, version + 1, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        // Orders the odd version before the data stores, for readers.
        fence(Ordering::Release);
        let (high, low) = split(exemplar.trace_id);
        slot.trace_high.store(high, Ordering::Relaxed);
        slot.trace_low.store(low, Ordering::Relaxed);
        slot.span
            .store(u64::from_be_bytes(exemplar.span_id), Ordering::Relaxed);
        slot.value
            .store(exemplar.value.to_bits(), Ordering::Relaxed);
        slot.unix_nanos
            .store(exemplar.unix_nanos, Ordering::Relaxed);
        slot.version.store(version + 2, Ordering::Release);
    }

    fn split(trace_id: [u8; 16]) -> (u64, u64) {
        let id = u128::from_be_bytes(trace_id);
        #[allow(clippy::cast_possible_truncation)]
        ((id >> 64) as u64, id as u64)
    }

    impl Slot {
        /// The slot's exemplar, if it has a consistent one.
        pub(crate) fn read(&self) -> Option<Exemplar> {
            for _ in 0..READ_TRIES {
                let before = self.version.load(Ordering::Acquire);
                if before == 0 {
                    return None;
                }
                if before & 1 == 1 {
                    std::hint::spin_loop();
                    continue;
                }
                let high = self.trace_high.load(Ordering::Relaxed);
                let low = self.trace_low.load(Ordering::Relaxed);
                let span = self.span.load(Ordering::Relaxed);
                let value = self.value.load(Ordering::Relaxed);
                let unix_nanos = self.unix_nanos.load(Ordering::Relaxed);
                // Orders the data loads before the second version load.
                fence(Ordering::Acquire);
                if self.version.load(Ordering::Relaxed) == before {
                    let trace = (u128::from(high) << 64) | u128::from(low);
                    return Some(Exemplar {
                        trace_id: trace.to_be_bytes(),
                        span_id: span.to_be_bytes(),
                        value: f64::from_bits(value),
                        unix_nanos,
                    });
                }
            }
            None
        }
    }

    /// The trace and span ids of `span`, if OpenTelemetry samples it.
    pub(crate) fn sampled_ids(span: &tracing::Span) -> Option<([u8; 16], [u8; 8])> {
        use opentelemetry::trace::TraceContextExt as _;
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;

        // Disabled: untraced (an untraced root's span names its metadata).
        if span.is_disabled() {
            return None;
        }
        let context = span.context();
        let otel_span = context.span();
        let span_context = otel_span.span_context();
        (span_context.is_valid() && span_context.is_sampled()).then(|| {
            (
                span_context.trace_id().to_bytes(),
                span_context.span_id().to_bytes(),
            )
        })
    }

    #[cfg(test)]
    mod tests {
        use std::sync::atomic::AtomicBool;
        use std::sync::Arc;

        use super::*;

        #[allow(clippy::unnecessary_wraps)]
        fn ids(n: u8) -> Option<([u8; 16], [u8; 8])> {
            Some(([n; 16], [n; 8]))
        }

        #[test]
        fn a_slot_keeps_one_exemplar_per_interval() {
            let slot = Slot::default();
            assert_eq!(slot.read(), None);
            offer(&slot, 1_000, 100, 0.5, || ids(1));
            let first = slot.read().expect("captured");
            assert_eq!(first.trace_id, [1; 16]);
            assert_eq!(first.span_id, [1; 8]);
            assert!((first.value - 0.5).abs() < f64::EPSILON);
            assert!(first.unix_nanos > 0);
            // Within the interval: not even asked for ids.
            offer(&slot, 1_050, 100, 0.7, || {
                panic!("asked within the interval")
            });
            assert_eq!(slot.read().map(|e| e.trace_id), Some([1; 16]));
            // An unsampled call past the interval leaves the exemplar, and
            // the next attempt waits another interval.
            offer(&slot, 1_200, 100, 0.7, || None);
            assert_eq!(slot.read().map(|e| e.trace_id), Some([1; 16]));
            offer(&slot, 1_250, 100, 0.7, || {
                panic!("asked within the interval")
            });
            offer(&slot, 1_300, 100, 0.9, || ids(2));
            let second = slot.read().expect("replaced");
            assert_eq!((second.trace_id, second.span_id), ([2; 16], [2; 8]));
            // A reading behind the last attempt (another core) is recent.
            offer(&slot, 10, 100, 1.0, || panic!("a reading from the past"));
        }

        #[test]
        fn untraced_calls_neither_claim_nor_replace() {
            let slot = Slot::default();
            {
                let _untraced = crate::sampling::Trace::untraced(5).scope();
                offer(&slot, 1_000, 100, 0.5, || {
                    panic!("an untraced call asked for ids")
                });
            }
            assert_eq!(slot.read(), None);
            // Not claimed: the next traced call captures at once.
            offer(&slot, 1_010, 100, 0.5, || ids(3));
            assert_eq!(slot.read().map(|e| e.trace_id), Some([3; 16]));
        }

        /// Writers and readers race; every exemplar read is one that was
        /// written whole: trace, span and value all carry the same number.
        #[test]
        fn torn_reads_never_pair_another_calls_ids() {
            let slot: &'static Slot = Box::leak(Box::default());
            let stop = Arc::new(AtomicBool::new(false));
            let writers: Vec<_> = (0..2_u64)
                .map(|writer| {
                    let stop = Arc::clone(&stop);
                    std::thread::spawn(move || {
                        let mut n = writer;
                        while !stop.load(Ordering::Relaxed) {
                            n += 2;
                            #[allow(clippy::cast_possible_truncation)]
                            let byte = (n % 251) as u8;
                            // Interval 0: every offer captures.
                            #[allow(clippy::cast_precision_loss)]
                            offer(slot, u64::MAX - 1, 0, f64::from(byte), || {
                                Some(([byte; 16], [byte; 8]))
                            });
                            slot.tried.store(0, Ordering::Relaxed);
                        }
                    })
                })
                .collect();
            let mut consistent = 0;
            let deadline = std::time::Instant::now() + Duration::from_millis(300);
            while std::time::Instant::now() < deadline {
                if let Some(exemplar) = slot.read() {
                    let byte = exemplar.trace_id[0];
                    assert!(exemplar.trace_id.iter().all(|b| *b == byte), "{exemplar:?}");
                    assert_eq!(exemplar.span_id, [byte; 8], "{exemplar:?}");
                    assert!((exemplar.value - f64::from(byte)).abs() < f64::EPSILON);
                    consistent += 1;
                }
            }
            stop.store(true, Ordering::Relaxed);
            for writer in writers {
                writer.join().unwrap();
            }
            assert!(consistent > 0);
        }
    }
}
