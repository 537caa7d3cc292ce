//! The call timer: the CPU's time-stamp counter where it is usable.
//!
//! `Instant::now()` goes through the vDSO and costs about 19 ns a read on the
//! virtual machines alamos is benchmarked on; quanta reads the invariant TSC
//! (about 8 ns) and scales ticks to nanoseconds with a calibration done once.
//! Where the TSC is not reliable, quanta falls back to the OS monotonic clock.
//!
//! Without the `runtime` feature (and so without quanta) it is `Instant`.

// Miri cannot run quanta's calibration (`cpuid`, `rdtsc`): under it the
// call timer is `Instant`, as without `runtime`.
#[cfg(all(feature = "runtime", not(miri)))]
mod imp {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;

    use quanta::Clock;

    fn clock() -> &'static Clock {
        static CLOCK: OnceLock<Clock> = OnceLock::new();
        CLOCK.get_or_init(|| {
            let clock = Clock::new();
            #[cfg(target_arch = "x86_64")]
            detect_tsc(&clock);
            clock
        })
    }

    /// Nanoseconds per 2^32 raw TSC ticks, once quanta's clock is known to
    /// read the TSC itself; 0 before that, or when it does not.
    ///
    /// With it, a reading is one inlined `rdtsc` and a duration one
    /// multiplication, instead of two calls into quanta (its clock is an enum
    /// behind a `OnceLock`, and its functions are not inlined across crates).
    #[cfg(target_arch = "x86_64")]
    static TSC_NANOS_PER_2_32: AtomicU64 = AtomicU64::new(0);

    /// A raw reading, only meaningful to [`nanos_since`].
    #[inline(always)]
    pub(crate) fn now() -> u64 {
        #[cfg(target_arch = "x86_64")]
        if TSC_NANOS_PER_2_32.load(Ordering::Relaxed) != 0 {
            // SAFETY: set only after quanta found an invariant TSC, so
            // `rdtsc` exists and is what quanta reads.
            return unsafe { core::arch::x86_64::_rdtsc() };
        }
        slow_now()
    }

    /// Nanoseconds from the reading `start` to now.
    #[inline(always)]
    #[cfg_attr(feature = "otel", allow(dead_code))]
    pub(crate) fn nanos_since(start: u64) -> u64 {
        #[cfg(target_arch = "x86_64")]
        {
            let scale = TSC_NANOS_PER_2_32.load(Ordering::Relaxed);
            if scale != 0 {
                // SAFETY: as in `now`.
                let end = unsafe { core::arch::x86_64::_rdtsc() };
                return scaled(end.saturating_sub(start), scale);
            }
        }
        slow_nanos_since(start)
    }

    /// Nanoseconds between two readings, for a caller that keeps the end
    /// reading too (an exemplar's age is measured in readings).
    #[inline(always)]
    #[cfg_attr(not(feature = "otel"), allow(dead_code))]
    pub(crate) fn nanos_between(start: u64, end: u64) -> u64 {
        #[cfg(target_arch = "x86_64")]
        {
            let scale = TSC_NANOS_PER_2_32.load(Ordering::Relaxed);
            if scale != 0 {
                // Readings on different cores may be slightly out of order.
                return scaled(end.saturating_sub(start), scale);
            }
        }
        slow_nanos_between(start, end)
    }

    /// How many raw units `nanos` nanoseconds take: the readings of
    /// [`now`] are TSC ticks or quanta's raw counts.
    #[cfg_attr(not(feature = "otel"), allow(dead_code))]
    pub(crate) fn raw_for_nanos(nanos: u64) -> u64 {
        let clock = clock();
        #[cfg(target_arch = "x86_64")]
        let scale = match TSC_NANOS_PER_2_32.load(Ordering::Relaxed) {
            0 => clock.delta_as_nanos(0, 1 << 32),
            scale => scale,
        };
        #[cfg(not(target_arch = "x86_64"))]
        let scale = clock.delta_as_nanos(0, 1 << 32);
        let raw = (u128::from(nanos) << 32) / u128::from(scale.max(1));
        u64::try_from(raw).unwrap_or(u64::MAX)
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn scaled(ticks: u64, scale: u64) -> u64 {
        let nanos = (u128::from(ticks) * u128::from(scale)) >> 32;
        u64::try_from(nanos).unwrap_or(u64::MAX)
    }

    #[cold]
    #[inline(never)]
    fn slow_now() -> u64 {
        clock().raw()
    }

    #[cold]
    #[inline(never)]
    #[cfg_attr(feature = "otel", allow(dead_code))]
    fn slow_nanos_since(start: u64) -> u64 {
        let clock = clock();
        clock.delta_as_nanos(start, clock.raw())
    }

    #[cold]
    #[inline(never)]
    #[cfg_attr(not(feature = "otel"), allow(dead_code))]
    fn slow_nanos_between(start: u64, end: u64) -> u64 {
        clock().delta_as_nanos(start, end)
    }

    /// Whether quanta's raw readings are the TSC: then a reading taken
    /// between two `rdtsc`s lies between them (its monotonic fallback counts
    /// nanoseconds, which fall far below the TSC's count).
    #[cfg(target_arch = "x86_64")]
    fn detect_tsc(clock: &Clock) {
        let reads_tsc = (0..3).all(|_| {
            // SAFETY: x86_64 always has `rdtsc`.
            let before = unsafe { core::arch::x86_64::_rdtsc() };
            let raw = clock.raw();
            // SAFETY: as above.
            let after = unsafe { core::arch::x86_64::_rdtsc() };
            before <= raw && raw <= after
        });
        if reads_tsc {
            let scale = clock.delta_as_nanos(0, 1 << 32);
            TSC_NANOS_PER_2_32.store(scale, Ordering::Relaxed);
        }
    }
}

#[cfg(any(not(feature = "runtime"), miri))]
mod imp {
    use std::sync::OnceLock;
    use std::time::Instant;

    fn epoch() -> Instant {
        static EPOCH: OnceLock<Instant> = OnceLock::new();
        *EPOCH.get_or_init(Instant::now)
    }

    /// Nanoseconds since the first reading, saturating after 584 years.
    #[inline(always)]
    pub(crate) fn now() -> u64 {
        u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Nanoseconds from the reading `start` to now.
    #[inline(always)]
    pub(crate) fn nanos_since(start: u64) -> u64 {
        now().saturating_sub(start)
    }

    /// Nanoseconds between two readings.
    #[inline(always)]
    #[allow(dead_code)]
    pub(crate) fn nanos_between(start: u64, end: u64) -> u64 {
        end.saturating_sub(start)
    }

    /// Readings are nanoseconds.
    #[allow(dead_code)]
    pub(crate) fn raw_for_nanos(nanos: u64) -> u64 {
        nanos
    }
}

#[allow(unused_imports)]
pub(crate) use imp::{nanos_between, nanos_since, now, raw_for_nanos};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_a_sleep() {
        let start = now();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let nanos = nanos_since(start);
        assert!((15_000_000..2_000_000_000).contains(&nanos), "{nanos} ns");
    }

    #[test]
    fn raw_units_convert_back_to_nanoseconds() {
        let start = now();
        let raw = raw_for_nanos(1_000_000_000);
        let nanos = nanos_between(start, start + raw);
        assert!(nanos.abs_diff(1_000_000_000) < 1_000_000, "{nanos} ns");
    }

    #[test]
    fn agrees_with_the_monotonic_clock() {
        let (start, std_start) = (now(), std::time::Instant::now());
        std::thread::sleep(std::time::Duration::from_millis(50));
        let (nanos, std_nanos) = (nanos_since(start), std_start.elapsed().as_nanos());
        let difference = u128::from(nanos).abs_diff(std_nanos);
        // Each pair of readings is taken back to back; allow for a
        // preemption between them, and for 0.5% of calibration error.
        assert!(
            difference < 1_000_000 + std_nanos / 200,
            "{nanos} ns against {std_nanos} ns"
        );
    }
}
