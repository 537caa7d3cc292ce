//! Histogram bucket presets.
//!
//! Every alamos histogram is bucketed (never a summary), so quantiles can be
//! aggregated across series and nodes. `histogram!` takes `buckets = [..]` or
//! one of these presets; without `buckets`, its unit picks one (`seconds`:
//! [`DURATIONS`], `bytes`: [`BYTES`], none: [`COUNTS`]).

/// Durations in seconds, from a microsecond to a minute, about three per
/// decade: the buckets of `alamos_call_duration_seconds` unless
/// `Builder::duration_buckets` says otherwise.
pub const DURATIONS: &[f64] = &[
    0.000_001,
    0.000_002_5,
    0.000_005,
    0.000_01,
    0.000_025,
    0.000_05,
    0.000_1,
    0.000_25,
    0.000_5,
    0.001,
    0.002_5,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    25.0,
    60.0,
];

/// Sizes in bytes, powers of four from 64 B to 1 GiB.
pub const BYTES: &[f64] = &[
    64.0,
    256.0,
    1_024.0,
    4_096.0,
    16_384.0,
    65_536.0,
    262_144.0,
    1_048_576.0,
    4_194_304.0,
    16_777_216.0,
    67_108_864.0,
    268_435_456.0,
    1_073_741_824.0,
];

/// Counts (items per batch, retries, queue lengths): 1, 2, 5 per decade up
/// to a million.
pub const COUNTS: &[f64] = &[
    1.0,
    2.0,
    5.0,
    10.0,
    20.0,
    50.0,
    100.0,
    200.0,
    500.0,
    1_000.0,
    2_000.0,
    5_000.0,
    10_000.0,
    20_000.0,
    50_000.0,
    100_000.0,
    200_000.0,
    500_000.0,
    1_000_000.0,
];

/// Why a list of bucket bounds is unusable.
#[cfg(any(feature = "runtime", test))]
pub(crate) fn check(bounds: &[f64]) -> Result<(), String> {
    if bounds.is_empty() {
        return Err("no bucket bounds given".into());
    }
    if let Some(bad) = bounds.iter().find(|b| !b.is_finite()) {
        return Err(format!("bound {bad} is not finite"));
    }
    for pair in bounds.windows(2) {
        if let [low, high] = pair {
            if low >= high {
                return Err(format!(
                    "bounds must ascend strictly, but {low} is followed by {high}"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid() {
        for preset in [DURATIONS, BYTES, COUNTS] {
            assert_eq!(check(preset), Ok(()));
        }
        assert!(check(&[]).is_err());
        assert!(check(&[1.0, 1.0]).is_err());
        assert!(check(&[1.0, f64::NAN]).is_err());
    }
}
