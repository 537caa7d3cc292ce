//! The call timer: the CPU's time-stamp counter where it is usable.
//!
//! `Instant::now()` goes through the vDSO and costs about 19 ns a read on the
//! virtual machines alamos is benchmarked on; quanta reads the invariant TSC
//! (about 8 ns) and scales ticks to nanoseconds with a calibration done once.
//! Where the TSC is not reliable, quanta falls back to the OS monotonic clock.

//!
//! Without the `runtime` feature (and so without quanta) it is `Instant`.

#[cfg(feature = "runtime")]
mod imp {
    use std::sync::OnceLock;

    use quanta::Clock;

    fn clock() -> &'static Clock {
        static CLOCK: OnceLock<Clock> = OnceLock::new();
        CLOCK.get_or_init(Clock::new)
    }

    /// A raw reading, only meaningful to [`nanos_since`].
    #[inline(always)]
    pub(crate) fn now() -> u64 {
        clock().raw()
    }

    /// Nanoseconds from the reading `start` to now.
    #[inline(always)]
    pub(crate) fn nanos_since(start: u64) -> u64 {
        let clock = clock();
        clock.delta_as_nanos(start, clock.raw())
    }
}

#[cfg(not(feature = "runtime"))]
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
}

pub(crate) use imp::{nanos_since, now};

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
}
