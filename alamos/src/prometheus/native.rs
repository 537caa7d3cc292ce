//! Storage for alamos's own series, built for the hot path.
//!
//! Every instrumented call touches its series' counters and histogram.
//! Shared atomics would cost a locked read-modify-write each (5 to 8 ns) and
//! bounce between cores as soon as two threads call the same function. Here
//! each thread owns the cells it writes, so an update is a plain load and
//! store; rendering adds every thread's cells up. A thread that exits folds
//! its cells into shared totals first.
//!
//! A series' cells: calls started, calls finished by outcome, the sum of
//! durations in nanoseconds, and the duration buckets (not cumulative, the
//! last one for `+Inf`). Calls in flight are started minus finished, so a
//! call may start on one thread and finish on another (an `async fn` moving
//! between workers).

use std::cell::OnceCell;
use std::collections::HashMap;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use crate::call::Outcome;

const STARTED: usize = 0;
const FINISHED: usize = 1;
const SUM_NANOS: usize = FINISHED + Outcome::ALL.len();
const BUCKETS: usize = SUM_NANOS + 1;

/// Series per page of a thread's cells, and pages per thread.
const PAGE: usize = 256;
const PAGES: usize = 4096;

/// A registered series: an index into every thread's cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct SeriesId(usize);

/// Every series and every thread's cells.
pub(crate) struct Store {
    width: usize,
    bounds_nanos: Box<[u64]>,
    /// For each bit length of a duration in nanoseconds, the first bucket
    /// that can hold it: the search then steps over at most a few bounds.
    first_bucket: [u8; 65],
    bounds_seconds: Box<[f64]>,
    series: Mutex<Series>,
    threads: Mutex<Threads>,
}

#[derive(Default)]
struct Series {
    labels: Vec<Arc<[(String, String)]>>,
    index: HashMap<Arc<[(String, String)]>, SeriesId>,
}

struct Threads {
    live: Vec<Arc<Block>>,
    /// Cells of threads that exited, and of writes that found no thread cells.
    retired: Vec<u64>,
}

static STORE: OnceLock<Store> = OnceLock::new();

/// The process's store; the first caller's bucket bounds (seconds) stick.
pub(crate) fn store(bounds: &[f64]) -> &'static Store {
    STORE.get_or_init(|| {
        // Durations are whole nanoseconds: `le` on seconds is `<=` on nanos
        // rounded down, so a bound of 1 us holds a call of exactly 1000 ns.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let bounds_nanos: Box<[u64]> = bounds.iter().map(|b| (b * 1e9) as u64).collect();
        let first_bucket = std::array::from_fn(|bits| {
            let smallest = if bits == 0 { 0 } else { 1_u64 << (bits - 1) };
            let first = bounds_nanos.partition_point(|&bound| bound < smallest);
            u8::try_from(first).unwrap_or(u8::MAX)
        });
        Store::new(bounds, bounds_nanos, first_bucket)
    })
}

impl Store {
    fn new(bounds: &[f64], bounds_nanos: Box<[u64]>, first_bucket: [u8; 65]) -> Store {
        Store {
            width: BUCKETS + bounds.len() + 1,
            bounds_nanos,
            first_bucket,
            bounds_seconds: bounds.into(),
            series: Mutex::new(Series::default()),
            threads: Mutex::new(Threads {
                live: Vec::new(),
                retired: Vec::new(),
            }),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Store {
    /// The id of the series with these labels (outcome excluded), registered
    /// on first use.
    pub(crate) fn series(&self, labels: Vec<(String, String)>) -> SeriesId {
        let mut series = lock(&self.series);
        if let Some(id) = series.index.get(labels.as_slice()) {
            return *id;
        }
        let id = SeriesId(series.labels.len());
        let labels: Arc<[(String, String)]> = labels.into();
        series.labels.push(Arc::clone(&labels));
        series.index.insert(labels, id);
        id
    }

    pub(crate) fn bounds(&self) -> &[f64] {
        &self.bounds_seconds
    }

    /// The sums over all threads, per series in id order.
    pub(crate) fn snapshot(&self) -> Vec<Totals> {
        let labels = lock(&self.series).labels.clone();
        let mut words = vec![0_u64; labels.len() * self.width];
        {
            let threads = lock(&self.threads);
            for (total, retired) in words.iter_mut().zip(&threads.retired) {
                *total = total.wrapping_add(*retired);
            }
            for block in &threads.live {
                block.add_into(&mut words);
            }
        }
        labels
            .into_iter()
            .zip(words.chunks(self.width))
            .map(|(labels, cells)| Totals {
                labels,
                started: cells[STARTED],
                finished: std::array::from_fn(|i| cells[FINISHED + i]),
                sum_nanos: cells[SUM_NANOS],
                buckets: cells[BUCKETS..].to_vec(),
            })
            .collect()
    }

    /// The bucket a duration falls in: the first whose bound is not below it.
    #[inline]
    fn bucket(&self, nanos: u64) -> usize {
        let bits = (u64::BITS - nanos.leading_zeros()) as usize;
        let mut bucket = usize::from(self.first_bucket[bits]);
        while bucket < self.bounds_nanos.len() && self.bounds_nanos[bucket] < nanos {
            bucket += 1;
        }
        bucket
    }

    fn retire(&self, id: SeriesId, update: impl FnOnce(&mut [u64])) {
        let mut threads = lock(&self.threads);
        let end = (id.0 + 1) * self.width;
        if threads.retired.len() < end {
            threads.retired.resize(end, 0);
        }
        update(&mut threads.retired[id.0 * self.width..end]);
    }
}

/// One series summed over all threads.
#[derive(Clone, Debug)]
pub(crate) struct Totals {
    pub(crate) labels: Arc<[(String, String)]>,
    started: u64,
    finished: [u64; Outcome::ALL.len()],
    sum_nanos: u64,
    buckets: Vec<u64>,
}

impl Totals {
    pub(crate) fn calls(&self, outcome: Outcome) -> u64 {
        self.finished[outcome as usize]
    }

    pub(crate) fn in_flight(&self) -> u64 {
        // A call counted finished on one thread may be read before its start
        // on another; never show a negative gauge for that instant.
        self.started.saturating_sub(self.finished.iter().sum())
    }

    #[allow(clippy::cast_precision_loss)]
    pub(crate) fn duration_sum_seconds(&self) -> f64 {
        self.sum_nanos as f64 / 1e9
    }

    /// Cumulative bucket counts, one per bound and a last one for `+Inf`.
    pub(crate) fn cumulative_buckets(&self) -> Vec<u64> {
        let mut running = 0_u64;
        self.buckets
            .iter()
            .map(|count| {
                running = running.wrapping_add(*count);
                running
            })
            .collect()
    }
}

/// One thread's cells: pages of `PAGE` series, allocated when first written.
struct Block {
    width: usize,
    pages: Box<[AtomicPtr<AtomicU64>]>,
}

impl Block {
    fn new(width: usize) -> Block {
        Block {
            width,
            pages: (0..PAGES)
                .map(|_| AtomicPtr::new(ptr::null_mut()))
                .collect(),
        }
    }

    fn page_len(&self) -> usize {
        PAGE * self.width
    }

    /// The cells of `id`; `None` beyond the block's capacity.
    #[inline]
    fn cells(&self, id: SeriesId) -> Option<&[AtomicU64]> {
        let page = self.pages.get(id.0 / PAGE)?;
        let mut start = page.load(Ordering::Acquire);
        if start.is_null() {
            start = self.allocate(page);
        }
        let offset = (id.0 % PAGE) * self.width;
        // SAFETY: `start` points to a live page of `page_len()` cells (freed
        // only when the block drops), and `offset + width <= page_len()`.
        Some(unsafe { std::slice::from_raw_parts(start.add(offset), self.width) })
    }

    #[cold]
    #[inline(never)]
    fn allocate(&self, page: &AtomicPtr<AtomicU64>) -> *mut AtomicU64 {
        let cells: Box<[AtomicU64]> = (0..self.page_len()).map(|_| AtomicU64::new(0)).collect();
        let start = Box::into_raw(cells).cast::<AtomicU64>();
        // Only the owning thread allocates; readers see null or the page.
        page.store(start, Ordering::Release);
        start
    }

    fn add_into(&self, words: &mut [u64]) {
        for (index, page) in self.pages.iter().enumerate() {
            let start = page.load(Ordering::Acquire);
            if start.is_null() {
                continue;
            }
            // SAFETY: as in `cells`; the page stays alive while `self` does.
            let cells = unsafe { std::slice::from_raw_parts(start, self.page_len()) };
            let first = index * self.page_len();
            for (total, cell) in words.iter_mut().skip(first).zip(cells) {
                *total = total.wrapping_add(cell.load(Ordering::Relaxed));
            }
        }
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        for page in &*self.pages {
            let start = page.swap(ptr::null_mut(), Ordering::Acquire);
            if !start.is_null() {
                // SAFETY: allocated in `allocate` as a boxed slice of
                // `page_len()` cells, and freed once.
                drop(unsafe {
                    Box::from_raw(ptr::slice_from_raw_parts_mut(start, self.page_len()))
                });
            }
        }
    }
}

/// The calling thread's block, registered with the store on first use and
/// folded into the store's totals when the thread exits.
struct Local(OnceCell<Arc<Block>>);

impl Drop for Local {
    fn drop(&mut self) {
        let (Some(block), Some(store)) = (self.0.get(), STORE.get()) else {
            return;
        };
        let mut threads = lock(&store.threads);
        let mut words = vec![0_u64; threads.retired.len().max(block_len(store, block))];
        block.add_into(&mut words);
        if threads.retired.len() < words.len() {
            threads.retired.resize(words.len(), 0);
        }
        for (retired, word) in threads.retired.iter_mut().zip(words) {
            *retired = retired.wrapping_add(word);
        }
        threads.live.retain(|live| !Arc::ptr_eq(live, block));
    }
}

/// Words up to the end of the last page the block has allocated.
fn block_len(store: &Store, block: &Block) -> usize {
    let pages = block
        .pages
        .iter()
        .rposition(|page| !page.load(Ordering::Acquire).is_null())
        .map_or(0, |last| last + 1);
    pages * PAGE * store.width
}

thread_local! {
    static LOCAL: Local = const { Local(OnceCell::new()) };
}

#[inline(always)]
fn finished(cells: &mut Cells<'_>, outcome: Outcome, bucket: usize, nanos: u64) {
    cells.add(FINISHED + outcome as usize, 1);
    cells.add(BUCKETS + bucket, 1);
    cells.add(SUM_NANOS, nanos);
}

/// Where an update lands: the thread's own cells, written with a plain load
/// and store since only this thread writes them, or the shared totals, under
/// the store's lock, while the thread is exiting.
enum Cells<'a> {
    Own(&'a [AtomicU64]),
    Shared(&'a mut [u64]),
}

impl Cells<'_> {
    #[inline(always)]
    fn add(&mut self, word: usize, delta: u64) {
        match self {
            Cells::Own(cells) => {
                let cell = &cells[word];
                cell.store(
                    cell.load(Ordering::Relaxed).wrapping_add(delta),
                    Ordering::Relaxed,
                );
            }
            Cells::Shared(cells) => cells[word] = cells[word].wrapping_add(delta),
        }
    }
}

/// Runs `update` on this thread's cells of `id`, or on the shared totals
/// while the thread is exiting or beyond the per-thread capacity; returns
/// the thread's cells when they were used.
#[inline(always)]
fn write(
    store: &'static Store,
    id: SeriesId,
    update: impl Fn(&mut Cells<'_>),
) -> Option<LocalCells> {
    let own = LOCAL
        .try_with(|local| {
            let block = local.0.get_or_init(|| register_thread(store));
            block.cells(id).map(|cells| {
                update(&mut Cells::Own(cells));
                LocalCells(NonNull::from(&cells[0]))
            })
        })
        .ok()
        .flatten();
    if own.is_none() {
        store.retire(id, |cells| update(&mut Cells::Shared(cells)));
    }
    own
}

#[cold]
fn register_thread(store: &Store) -> Arc<Block> {
    let block = Arc::new(Block::new(store.width));
    lock(&store.threads).live.push(Arc::clone(&block));
    block
}

/// The calling thread's cells of one series, found when a call started so
/// that finishing it on the same thread does not look them up again.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LocalCells(NonNull<AtomicU64>);

// SAFETY: a `LocalCells` is only dereferenced by `LocalCells::finish`,
// whose contract is to be called on the thread the cells belong to. An async
// call carries one to other threads without ever using it there.
unsafe impl Send for LocalCells {}
// SAFETY: as for `Send`; `&LocalCells` gives no access to the cells.
unsafe impl Sync for LocalCells {}

impl LocalCells {
    /// [`SeriesId::finish`] through the cells [`SeriesId::start`] returned.
    ///
    /// # Safety
    ///
    /// `self` came from `start` with this `store`, on the calling thread:
    /// the thread has not exited, so its cells are alive.
    #[inline]
    pub(crate) unsafe fn finish(self, store: &'static Store, outcome: Outcome, nanos: u64) {
        let bucket = store.bucket(nanos);
        // SAFETY: `start` made `self` from the first of its series'
        // `store.width` cells in the thread's block, which lives as long as
        // the thread.
        let cells = unsafe { std::slice::from_raw_parts(self.0.as_ptr(), store.width) };
        finished(&mut Cells::Own(cells), outcome, bucket, nanos);
    }
}

impl SeriesId {
    /// A call of this series started.
    #[inline]
    pub(crate) fn start(self, store: &'static Store) -> Option<LocalCells> {
        write(store, self, |cells| cells.add(STARTED, 1))
    }

    /// A call of this series finished after `nanos`.
    #[inline]
    pub(crate) fn finish(self, store: &'static Store, outcome: Outcome, nanos: u64) {
        let bucket = store.bucket(nanos);
        write(store, self, |cells| finished(cells, outcome, bucket, nanos));
    }

    /// Counts `count` calls finished with `outcome`, for `metrics` counters
    /// registered by hand on alamos's metric names.
    pub(crate) fn count(self, store: &'static Store, outcome: Outcome, count: u64) {
        write(store, self, |cells| {
            cells.add(FINISHED + outcome as usize, count);
        });
    }

    /// Records a duration without counting a call, for histograms registered
    /// by hand on alamos's metric names.
    pub(crate) fn observe(self, store: &'static Store, seconds: f64) {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let nanos = (seconds.max(0.0) * 1e9) as u64;
        let bucket = store.bucket(nanos);
        write(store, self, |cells| {
            cells.add(BUCKETS + bucket, 1);
            cells.add(SUM_NANOS, nanos);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_add_up_including_exited_ones() {
        let store = store(crate::prometheus::DEFAULT_DURATION_BUCKETS);
        let id = store.series(vec![("test".into(), "threads_add_up".into())]);
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    for _ in 0..1000 {
                        id.start(store);
                        id.finish(store, Outcome::Error, 2_000);
                    }
                });
            }
        });
        id.start(store);
        let totals = &store.snapshot()[id.0];
        assert_eq!(totals.calls(Outcome::Error), 8000);
        assert_eq!(totals.calls(Outcome::Ok), 0);
        assert_eq!(totals.in_flight(), 1);
        assert_eq!(totals.cumulative_buckets().last(), Some(&8000));
        assert!((totals.duration_sum_seconds() - 0.016).abs() < 1e-9);
        id.finish(store, Outcome::Ok, 0);
        assert_eq!(store.snapshot()[id.0].in_flight(), 0);
    }

    #[test]
    fn buckets_are_le() {
        let store = store(crate::prometheus::DEFAULT_DURATION_BUCKETS);
        let id = store.series(vec![("test".into(), "buckets_are_le".into())]);
        id.finish(store, Outcome::Ok, 1_000);
        id.finish(store, Outcome::Ok, 1_001);
        let buckets = store.snapshot()[id.0].cumulative_buckets();
        // 1000 ns is in `le="0.000001"`, 1001 ns in the next bucket.
        assert_eq!(&buckets[..3], &[1, 2, 2]);
    }

    #[test]
    fn bucket_lookup_matches_a_binary_search() {
        let store = store(crate::prometheus::DEFAULT_DURATION_BUCKETS);
        let mut value = 0_u64;
        while value < 200_000_000_000 {
            for nanos in [value, value + 1, value.saturating_sub(1)] {
                let expected = store.bounds_nanos.partition_point(|&bound| bound < nanos);
                assert_eq!(store.bucket(nanos), expected, "{nanos} ns");
            }
            value = value * 3 / 2 + 1;
        }
        for bound in store.bounds_nanos.iter().copied() {
            let expected = store.bounds_nanos.partition_point(|&b| b < bound);
            assert_eq!(store.bucket(bound), expected);
            assert_eq!(store.bucket(bound + 1), expected + 1);
        }
        assert_eq!(store.bucket(u64::MAX), store.bounds_nanos.len());
    }

    #[test]
    fn the_same_labels_are_the_same_series() {
        let store = store(crate::prometheus::DEFAULT_DURATION_BUCKETS);
        let a = store.series(vec![("k".into(), "same".into())]);
        let b = store.series(vec![("k".into(), "same".into())]);
        let c = store.series(vec![("k".into(), "other".into())]);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
