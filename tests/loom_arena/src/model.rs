//! Claim, growth and retirement (folding the cells into shared ones on the
//! way out) by a thread, against a reader that sums shared and owned cells
//! under the threads' lock, as `Store::read` does. Every interleaving loom
//! explores (within its preemption bound) must count each update exactly
//! once: never twice while the thread folds, never lost, never backwards;
//! and a reader must see the width published with the cells.
//!
//! The exploration is exhaustive (no preemption bound): about 30 s in a
//! release build. Weakening the `Release` that publishes a thread's cells
//! fails the first model ("cells seen without their width"); freeing a
//! grown-out index outside the lock crashes it (a use after free).

use loom::sync::atomic::{AtomicU64, Ordering};
use loom::sync::Arc;
use loom::thread;

use crate::arena::{Owner, Readers, Threads, INDEX_PAGE};

/// Series 0 is on page 0; series `INDEX_PAGE` on page 1, so claiming it
/// grows the index (and frees the first one).
const SERIES: [usize; 2] = [0, INDEX_PAGE];

fn slot(series: usize) -> usize {
    SERIES
        .iter()
        .position(|known| *known == series)
        .expect("a series of the model")
}

/// Each series' count: its shared cell plus the thread's cells, if any.
fn counts(readers: &Readers<'_>, shared: &[AtomicU64; 2]) -> [u64; 2] {
    let mut counts = [
        shared[0].load(Ordering::Relaxed),
        shared[1].load(Ordering::Relaxed),
    ];
    readers.for_each_owned(usize::MAX, |series, cells| {
        assert_eq!(cells.len(), 1, "cells seen without their width");
        counts[slot(series)] += cells[0].load(Ordering::Relaxed);
    });
    counts
}

#[test]
fn a_reader_counts_claims_growth_and_retirement_exactly_once() {
    loom::model(|| {
        let threads = Arc::new(Threads::new());
        let shared = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
        let reader = {
            let (threads, shared) = (Arc::clone(&threads), Arc::clone(&shared));
            thread::spawn(move || {
                let first = counts(&threads.read(), &shared);
                let second = counts(&threads.read(), &shared);
                for (first, second) in first.iter().zip(&second) {
                    assert!(*second <= 1, "counted twice: {second:?}");
                    assert!(first <= second, "went back: {first:?} then {second:?}");
                }
            })
        };

        let owner = Owner::new(&threads);
        for series in SERIES {
            let cells = owner.claim(series, 1).expect("the arena is free");
            assert_eq!(owner.lookup(series), Some(cells));
            // SAFETY (test): this thread's cells of `series`.
            let cell = unsafe { cells.as_ref() };
            cell.store(cell.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        }
        // The store's fold on thread exit.
        let retiring = owner.retire();
        retiring.for_each_owned(usize::MAX, |series, cells| {
            shared[slot(series)].fetch_add(cells[0].load(Ordering::Relaxed), Ordering::Relaxed);
        });
        drop(retiring);
        drop(owner);

        reader.join().expect("the reader's checks hold");
        assert_eq!(counts(&threads.read(), &shared), [1, 1]);
    });
}

#[test]
fn an_owner_dropped_unretired_leaves_the_readers_view() {
    loom::model(|| {
        let threads = Arc::new(Threads::new());
        let reader = {
            let threads = Arc::clone(&threads);
            thread::spawn(move || {
                threads.read().for_each_owned(usize::MAX, |_, cells| {
                    assert_eq!(cells.len(), 1, "cells seen without their width");
                    let _ = cells[0].load(Ordering::Relaxed);
                });
            })
        };
        let owner = Owner::new(&threads);
        for series in SERIES {
            owner.claim(series, 1).expect("the arena is free");
        }
        drop(owner);
        reader.join().expect("the reader's checks hold");
        let mut left = 0;
        threads.read().for_each_owned(usize::MAX, |_, _| left += 1);
        assert_eq!(left, 0);
    });
}
