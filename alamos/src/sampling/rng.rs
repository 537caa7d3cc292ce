//! A per-thread `wyrand` generator for root decisions.
//!
//! A decision needs a uniform `u64`, not secrecy, and must cost a few
//! instructions: `wyrand` (a 64-bit add and one 128-bit multiply) passes
//! the usual statistical batteries, which is more than a comparison against
//! a threshold asks. Each thread seeds its own state on first use from
//! std's per-process random hash keys, so no dependency is added and no
//! two threads share a sequence.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher as _;

thread_local! {
    /// Zero until seeded.
    static STATE: Cell<u64> = const { Cell::new(0) };
}

/// The next number of this thread's sequence.
#[inline]
pub(super) fn next() -> u64 {
    STATE
        .try_with(|state| {
            let mut s = state.get();
            if s == 0 {
                s = fresh_seed();
            }
            s = s.wrapping_add(0xa076_1d64_78bd_642f);
            state.set(s);
            wymix(s, s ^ 0xe703_7ed1_a0b4_28db)
        })
        // During thread teardown: any number will do.
        .unwrap_or_else(|_| mix(fresh_seed()))
}

/// Makes this thread's sequence start from `seed`.
pub(super) fn seed(seed: u64) {
    STATE.with(|state| state.set(seed.max(1)));
}

/// A seed no other thread is likely to have.
#[cold]
fn fresh_seed() -> u64 {
    // `RandomState::new` takes keys drawn from the OS once per thread and
    // bumped for each instance; hashing the thread's id with them mixes both.
    RandomState::new()
        .hash_one(std::thread::current().id())
        .max(1)
}

/// Mixes one word into a well-spread word (splitmix64's finalizer).
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[inline(always)]
fn wymix(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    #[allow(clippy::cast_possible_truncation)]
    let (high, low) = ((product >> 64) as u64, product as u64);
    high ^ low
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_the_same_sequence() {
        seed(42);
        let first: Vec<u64> = (0..4).map(|_| next()).collect();
        seed(42);
        let second: Vec<u64> = (0..4).map(|_| next()).collect();
        assert_eq!(first, second);
        assert!(first.windows(2).all(|pair| pair[0] != pair[1]));
    }

    #[test]
    fn draws_are_spread_evenly() {
        seed(3);
        let mut halves = [0_u32; 2];
        let mut bits = [0_u32; 64];
        for _ in 0..10_000 {
            let draw = next();
            halves[usize::from(draw >= 1 << 63)] += 1;
            for (bit, count) in bits.iter_mut().enumerate() {
                *count += u32::from(draw >> bit & 1 == 1);
            }
        }
        // 10,000 fair coins: 5,000 ± 50 per standard deviation.
        assert!((4_700..=5_300).contains(&halves[0]), "{halves:?}");
        assert!(
            bits.iter().all(|count| (4_700..=5_300).contains(count)),
            "{bits:?}"
        );
    }

    #[test]
    fn threads_get_different_sequences() {
        let draws: Vec<u64> = (0..4)
            .map(|_| std::thread::spawn(next).join().unwrap())
            .collect();
        let mut unique = draws.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), draws.len(), "{draws:?}");
    }
}
