//! The call timer: the CPU's time-stamp counter where it is invariant, the
//! OS monotonic clock elsewhere.
//!
//! An enabled call reads the clock twice. `Instant::now()` goes through the
//! vDSO and costs about 19 ns a read on the virtual machines alamos is
//! benchmarked on; one `rdtsc` costs about 8 ns. So on `x86_64` a reading is
//! the raw TSC, and a duration is ticks times a scale measured once against
//! `Instant`, when the counter ticks at a constant rate through every power
//! state (the "invariant TSC" CPUID bit). Elsewhere, and where the TSC is
//! not invariant, a reading is nanoseconds since the first reading. Under
//! Miri, which runs neither `cpuid` nor `rdtsc`, it is always the latter.
//!
//! # Detection
//!
//! On first use, [`state`] asks CPUID (leaf `0x8000_0007`, EDX bit 8) and,
//! on Linux where CPUID says no, the kernel (`constant_tsc` and `nonstop_tsc`
//! in `/proc/cpuinfo`, which it derives from the real CPU's CPUID). The
//! second answer matters under emulators that rewrite CPUID but pass `rdtsc`
//! through, as valgrind does (3.19 on an AMD host presents an Intel CPU
//! that keeps the bit; another version or host may not). Only `rdtsc` is
//! needed, so `rdtscp`, which quanta also required, is not asked for.
//!
//! # Calibration
//!
//! The scale is nanoseconds per 2^32 ticks: a duration is one multiplication
//! and a shift. It comes from one TSC/`Instant` pair taken at first use and
//! another [`CALIBRATION`] later; each pair is the one, of a few, with the
//! shortest gap between the two TSC reads around its `Instant`, so a
//! preemption mid-pair does not skew it. The pairs' jitter is a few tens of
//! nanoseconds, about 10^-4 of the window. A scale outside
//! any real TSC's frequency (below 100 MHz or above 20 GHz) means the
//! counter is not what it claims, and the monotonic clock is used instead.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long calibration spins, once, at the first reading: about what
/// quanta's took (at least 500 rounds of 1 µs), for an error of about
/// 10^-4.
const CALIBRATION: Duration = Duration::from_micros(500);

/// Nanoseconds per 2^32 ticks once the TSC is known invariant and
/// calibrated; 0 before that, and for good where it is not.
static TSC_NANOS_PER_2_32: AtomicU64 = AtomicU64::new(0);

/// The fallback's epoch; initializing it detects and calibrates the TSC.
fn state() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(|| {
        #[cfg(all(target_arch = "x86_64", not(miri)))]
        if tsc::invariant() {
            if let Some(scale) = tsc::calibrate() {
                TSC_NANOS_PER_2_32.store(scale, Ordering::Relaxed);
            }
        }
        Instant::now()
    })
}

/// The scale, or 0 when readings are nanoseconds.
#[inline(always)]
fn scale() -> u64 {
    if cfg!(all(target_arch = "x86_64", not(miri))) {
        TSC_NANOS_PER_2_32.load(Ordering::Relaxed)
    } else {
        0
    }
}

/// A raw reading, only meaningful to [`nanos_since`] and [`nanos_between`]:
/// TSC ticks, or nanoseconds since the epoch.
#[inline(always)]
pub(crate) fn now() -> u64 {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    if scale() != 0 {
        return tsc::read();
    }
    slow_now()
}

/// Nanoseconds from the reading `start` to now.
#[inline(always)]
#[cfg_attr(feature = "otel", allow(dead_code))]
pub(crate) fn nanos_since(start: u64) -> u64 {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    {
        let scale = scale();
        if scale != 0 {
            return scaled(tsc::read().saturating_sub(start), scale);
        }
    }
    slow_now().saturating_sub(start)
}

/// Nanoseconds between two readings, for a caller that keeps the end
/// reading too (an exemplar's age is measured in readings).
#[inline(always)]
#[cfg_attr(not(feature = "otel"), allow(dead_code))]
pub(crate) fn nanos_between(start: u64, end: u64) -> u64 {
    // Readings on different cores may be slightly out of order.
    let raw = end.saturating_sub(start);
    match scale() {
        0 => raw,
        scale => scaled(raw, scale),
    }
}

/// How many raw units `nanos` nanoseconds take.
#[cfg_attr(not(feature = "otel"), allow(dead_code))]
pub(crate) fn raw_for_nanos(nanos: u64) -> u64 {
    state();
    match scale() {
        0 => nanos,
        scale => u64::try_from((u128::from(nanos) << 32) / u128::from(scale)).unwrap_or(u64::MAX),
    }
}

#[inline(always)]
fn scaled(ticks: u64, scale: u64) -> u64 {
    let nanos = (u128::from(ticks) * u128::from(scale)) >> 32;
    u64::try_from(nanos).unwrap_or(u64::MAX)
}

/// The first reading (which detects and calibrates), and every reading
/// where the TSC is not used: nanoseconds since the epoch, saturating after
/// 584 years.
#[cold]
#[inline(never)]
fn slow_now() -> u64 {
    let epoch = state();
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    if scale() != 0 {
        return tsc::read();
    }
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(all(target_arch = "x86_64", not(miri)))]
mod tsc {
    use std::time::Instant;

    use super::CALIBRATION;

    #[inline(always)]
    pub(super) fn read() -> u64 {
        // SAFETY: every x86_64 CPU has `rdtsc` (it is `unsafe` only as an
        // intrinsic); callers use it once the TSC is found invariant.
        unsafe { core::arch::x86_64::_rdtsc() }
    }

    /// Whether the TSC ticks at one rate in every power state, as CPUID
    /// or the kernel says.
    pub(super) fn invariant() -> bool {
        cpuid_says() || kernel_says()
    }

    pub(super) fn cpuid_says() -> bool {
        use core::arch::x86_64::__cpuid;
        // `__cpuid` is `unsafe` before Rust 1.87 (alamos builds on 1.80).
        #[allow(unused_unsafe)]
        // SAFETY: every x86_64 CPU has CPUID; leaf 0x8000_0000 reports the
        // highest extended leaf, so 0x8000_0007 is asked only if it exists.
        unsafe {
            __cpuid(0x8000_0000).eax >= 0x8000_0007 && __cpuid(0x8000_0007).edx & (1 << 8) != 0
        }
    }

    #[cfg(target_os = "linux")]
    pub(super) fn kernel_says() -> bool {
        let Ok(cpuinfo) = std::fs::read_to_string("/proc/cpuinfo") else {
            return false;
        };
        cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("flags"))
            .is_some_and(|flags| {
                let flags = flags.split_whitespace();
                let has = |flag: &str| flags.clone().any(|f| f == flag);
                has("constant_tsc") && has("nonstop_tsc")
            })
    }

    #[cfg(not(target_os = "linux"))]
    pub(super) fn kernel_says() -> bool {
        false
    }

    /// Nanoseconds per 2^32 ticks, if the counter moves at a plausible
    /// rate against `Instant`.
    pub(super) fn calibrate() -> Option<u64> {
        let (start_ticks, start) = pair();
        while start.elapsed() < CALIBRATION {
            std::hint::spin_loop();
        }
        let (end_ticks, end) = pair();
        let ticks = u128::from(end_ticks.checked_sub(start_ticks)?);
        let nanos = end.checked_duration_since(start)?.as_nanos();
        // 100 MHz to 20 GHz: a tenth of a tick to 20 ticks a nanosecond.
        if ticks < nanos / 10 || ticks > nanos * 20 {
            return None;
        }
        u64::try_from((nanos << 32) / ticks).ok()
    }

    /// An `Instant` and the TSC at the same moment: of a few tries, the one
    /// whose TSC reads around it are closest, taken at their midpoint.
    fn pair() -> (u64, Instant) {
        let mut best = (u64::MAX, 0, Instant::now());
        for _ in 0..5 {
            let before = read();
            let instant = Instant::now();
            let after = read();
            let gap = after.wrapping_sub(before);
            if gap < best.0 {
                best = (gap, before.wrapping_add(gap / 2), instant);
            }
        }
        (best.1, best.2)
    }
}

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

    #[cfg(all(target_arch = "x86_64", not(miri)))]
    #[test]
    fn an_invariant_tsc_is_used() {
        now();
        assert_eq!(
            tsc::invariant(),
            scale() != 0,
            "an invariant TSC that failed calibration, or a scale without one"
        );
    }

    /// Linux sets both flags from the invariant-TSC bit, so where CPUID
    /// has it, the fallback that reads `/proc/cpuinfo` finds them too.
    #[cfg(all(target_arch = "x86_64", target_os = "linux", not(miri)))]
    #[test]
    fn the_kernel_reports_what_cpuid_reports() {
        if tsc::cpuid_says() {
            assert!(tsc::kernel_says());
        }
    }
}
