//! The per-thread arena of the [store](super::store): the cells a thread
//! owns, and the index through which readers find them.
//!
//! Every `unsafe` of the store's per-thread side is here, behind a small
//! safe API: an [`Owner`] for the thread itself ([`Owner::lookup`] on the hot
//! path, [`Owner::claim`] to get cells, [`Owner::retire`] at exit) and
//! [`Threads::read`] for readers.
//!
//! # Protocol
//!
//! A thread's [`Block`] is what readers see of it: a pointer to its index,
//! a table of pages, each mapping [`INDEX_PAGE`] series to their cells in
//! the thread's arena (or null). Readers reach blocks only through the
//! [`Threads`] list, under its lock.
//!
//! - Only the owning thread writes its index, its pages and its cells
//!   (cells with plain loads and stores of atomics: readers may load them at
//!   any time and see a count a little old, never a torn one).
//! - A page or cells pointer is published with `Release` after what it
//!   points to is written (a page's nulls, the cells' width header), and
//!   readers load it with `Acquire`.
//! - The index is replaced (to grow it) only under the lock, and the old
//!   one freed after: a reader, holding the lock, never holds a freed index.
//!   The owner reads its index without the lock, since nobody else
//!   replaces it.
//! - At exit, [`Owner::retire`] takes the lock, lets the store fold the
//!   thread's cells into the shared ones, and unlinks the block before
//!   releasing it: a reader, which reads shared cells under the same lock,
//!   counts every update exactly once. The pages and chunks are freed only
//!   after that, when the owner drops.
//!
//! Under `cfg(loom)` the atomics and locks are loom's and the pages and
//! chunks tiny, so that a model (`tests/loom_arena`) can explore claim,
//! growth and retirement against a concurrent reader.

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::ptr::{self, NonNull};

use self::sync::{Arc, AtomicPtr, AtomicU64, Mutex, MutexGuard, Ordering};

/// std's atomics and locks, or loom's for the model.
mod sync {
    #[cfg(loom)]
    pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
    #[cfg(loom)]
    pub(crate) use loom::sync::{Arc, Mutex, MutexGuard};
    #[cfg(not(loom))]
    pub(crate) use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
    #[cfg(not(loom))]
    pub(crate) use std::sync::{Arc, Mutex, MutexGuard};
}

/// Series per page of a thread's index.
pub(crate) const INDEX_PAGE: usize = if cfg!(loom) { 2 } else { 128 };
/// Words per chunk of a thread's cells.
const CHUNK_WORDS: usize = if cfg!(loom) { 4 } else { 2048 };

/// One page of a thread's index: for each series, its cells in the thread's
/// arena, or null when the thread owns none for it.
struct IndexPage([AtomicPtr<AtomicU64>; INDEX_PAGE]);

/// A thread's index, grown by the thread itself.
struct Index(Box<[AtomicPtr<IndexPage>]>);

/// What readers see of one thread: its index.
pub(crate) struct Block {
    index: AtomicPtr<Index>,
}

/// Every live thread's block.
pub(crate) struct Threads {
    blocks: Mutex<Vec<Arc<Block>>>,
}

impl Default for Threads {
    fn default() -> Self {
        Threads::new()
    }
}

impl Threads {
    pub(crate) fn new() -> Self {
        Threads {
            blocks: Mutex::new(Vec::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Arc<Block>>> {
        // Nothing panics while holding it; a poisoned list is still whole.
        self.blocks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Locks the list for a read of every thread's cells. Threads cannot
    /// grow their index or exit meanwhile; they keep writing their cells.
    pub(crate) fn read(&self) -> Readers<'_> {
        Readers(self.lock())
    }
}

/// The threads' list, locked: what a reader reads cells through.
pub(crate) struct Readers<'a>(MutexGuard<'a, Vec<Arc<Block>>>);

impl Readers<'_> {
    /// Calls `f` with the series and cells of every series a live thread
    /// owns cells for, among the first `known` series.
    pub(crate) fn for_each_owned(&self, known: usize, mut f: impl FnMut(usize, &[AtomicU64])) {
        for block in self.0.iter() {
            for_each_owned(block, known, &mut f);
        }
    }
}

/// Calls `f` with the cells of each series `block`'s thread owns cells for,
/// among the first `known`. Only with the threads' lock held.
fn for_each_owned(block: &Block, known: usize, f: &mut impl FnMut(usize, &[AtomicU64])) {
    // SAFETY: the index is replaced and freed only by its owner, and only
    // with the threads' lock held, as it is here (see `grow` and `retire`);
    // `Acquire` pairs with the `Release` that published it.
    let Some(index) = (unsafe { block.index.load(Ordering::Acquire).as_ref() }) else {
        return;
    };
    for (page_number, page) in index.0.iter().enumerate() {
        // SAFETY: pages belong to the owner's arena, freed only after the
        // block left the list (`Owner`'s drop, after `retire`); published
        // with `Release` once initialized.
        let Some(page) = (unsafe { page.load(Ordering::Acquire).as_ref() }) else {
            continue;
        };
        for (slot, cells) in page.0.iter().enumerate() {
            let series = page_number * INDEX_PAGE + slot;
            let cells = cells.load(Ordering::Acquire);
            if series >= known {
                return;
            }
            if let Some(cells) = NonNull::new(cells) {
                // SAFETY: published by `Owner::claim` with `Release` after
                // the width header before it was written; the chunk lives
                // as long as the page.
                f(series, unsafe { owned_cells(cells) });
            }
        }
    }
}

/// The cells at `cells`, whose arena slot starts with their width.
///
/// # Safety
///
/// `cells` was published in an index page by [`Owner::claim`]: it points
/// one word past a header holding the width, in a chunk that outlives the
/// returned slice, and the header's write happens before this call.
unsafe fn owned_cells<'a>(cells: NonNull<AtomicU64>) -> &'a [AtomicU64] {
    // SAFETY: as the caller promises; the header and the cells are one
    // allocation, reached from a pointer to the whole chunk.
    unsafe {
        let width = (*cells.as_ptr().sub(1)).load(Ordering::Relaxed);
        std::slice::from_raw_parts(cells.as_ptr(), usize::try_from(width).unwrap_or(0))
    }
}

/// The memory a thread's cells and index pages live in. Raw pointers from
/// `Box::into_raw`, so that moving the arena never invalidates what the
/// index points to; freed when the arena drops.
struct Arena {
    chunks: Vec<NonNull<[AtomicU64]>>,
    /// Words of the last chunk in use.
    used: usize,
    pages: Vec<NonNull<IndexPage>>,
}

impl Arena {
    /// Zeroed cells of `width` words, after a header word holding the width.
    fn allocate(&mut self, width: usize) -> NonNull<AtomicU64> {
        let needed = width + 1;
        let fits = self
            .chunks
            .last()
            .is_some_and(|chunk| chunk.len() - self.used >= needed);
        if !fits {
            let size = CHUNK_WORDS.max(needed);
            let chunk: Box<[AtomicU64]> = (0..size).map(|_| AtomicU64::new(0)).collect();
            self.chunks.push(NonNull::from(Box::leak(chunk)));
            self.used = 0;
        }
        // UNWRAP: a chunk was pushed above if there was none.
        let chunk = *self.chunks.last().unwrap_or_else(|| unreachable!());
        // SAFETY: `used + needed <= chunk.len()`, checked above: the header
        // and the cells are in the chunk, which lives until the arena drops.
        let header = unsafe { chunk.cast::<AtomicU64>().add(self.used) };
        // SAFETY: as above; the header is initialized (`AtomicU64::new`).
        unsafe { header.as_ref() }.store(width as u64, Ordering::Relaxed);
        self.used += needed;
        // SAFETY: as above: `used + 1 <= chunk.len()` before the addition.
        unsafe { header.add(1) }
    }

    /// A page of null slots, owned by the arena.
    fn page(&mut self) -> NonNull<IndexPage> {
        let page = Box::new(IndexPage(std::array::from_fn(|_| {
            AtomicPtr::new(ptr::null_mut())
        })));
        let page = NonNull::from(Box::leak(page));
        self.pages.push(page);
        page
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        for chunk in self.chunks.drain(..) {
            // SAFETY: made by `Box::leak` in `allocate`, freed once here; the
            // owner retired its block first, so no reader reaches it.
            drop(unsafe { Box::from_raw(chunk.as_ptr()) });
        }
        for page in self.pages.drain(..) {
            // SAFETY: made by `Box::leak` in `page`, freed once; as above.
            drop(unsafe { Box::from_raw(page.as_ptr()) });
        }
    }
}

/// A thread's side of the arena: its block in `threads`, and the memory
/// its cells live in. Neither `Send` nor `Sync`: only the thread that made
/// it uses it, which is what lets it read its index without the lock.
pub(crate) struct Owner<'t> {
    threads: &'t Threads,
    block: Arc<Block>,
    arena: RefCell<Arena>,
    retired: Cell<bool>,
    _thread: PhantomData<*const ()>,
}

impl<'t> Owner<'t> {
    /// Registers the calling thread with `threads`.
    pub(crate) fn new(threads: &'t Threads) -> Self {
        let block = Arc::new(Block {
            index: AtomicPtr::new(ptr::null_mut()),
        });
        threads.lock().push(Arc::clone(&block));
        Owner {
            threads,
            block,
            arena: RefCell::new(Arena {
                chunks: Vec::new(),
                used: 0,
                pages: Vec::new(),
            }),
            retired: Cell::new(false),
            _thread: PhantomData,
        }
    }

    /// This thread's cells of series `series`, if it claimed some.
    #[inline(always)]
    pub(crate) fn lookup(&self, series: usize) -> Option<NonNull<AtomicU64>> {
        // SAFETY: only this thread replaces or frees its index (`grow`,
        // `retire`), and `self` is not shared with another thread.
        let index = unsafe { self.block.index.load(Ordering::Relaxed).as_ref() }?;
        let page = index.0.get(series / INDEX_PAGE)?;
        // SAFETY: pages are owned by this thread's arena, alive while
        // `self` is.
        let page = unsafe { page.load(Ordering::Relaxed).as_ref() }?;
        NonNull::new(page.0[series % INDEX_PAGE].load(Ordering::Relaxed))
    }

    /// Zeroed cells of `width` words for series `series`, published for
    /// readers (or those it has already); `None` when the arena is busy (a
    /// claim from inside a claim, through an allocator that is
    /// instrumented) or the thread retired.
    #[cold]
    #[inline(never)]
    pub(crate) fn claim(&self, series: usize, width: usize) -> Option<NonNull<AtomicU64>> {
        let mut arena = self.arena.try_borrow_mut().ok()?;
        if self.retired.get() {
            return None;
        }
        let page_number = series / INDEX_PAGE;
        // SAFETY: as in `lookup`.
        let pages = unsafe { self.block.index.load(Ordering::Relaxed).as_ref() }
            .map_or(0, |index| index.0.len());
        if page_number >= pages {
            self.grow(page_number + 1);
        }
        // SAFETY: as in `lookup`; `grow` made the table long enough.
        let index = unsafe { &*self.block.index.load(Ordering::Relaxed) };
        let slot = &index.0[page_number];
        let page = if let Some(page) = NonNull::new(slot.load(Ordering::Relaxed)) {
            page
        } else {
            let page = arena.page();
            // Release: a reader that loads the page sees its nulls.
            slot.store(page.as_ptr(), Ordering::Release);
            page
        };
        // SAFETY: a page of this arena, alive while `self` is.
        let page = unsafe { page.as_ref() };
        let slot = &page.0[series % INDEX_PAGE];
        if let Some(cells) = NonNull::new(slot.load(Ordering::Relaxed)) {
            // Replacing them would hide their counts from readers.
            return Some(cells);
        }
        let cells = arena.allocate(width);
        // Release: a reader that loads the cells sees their width.
        slot.store(cells.as_ptr(), Ordering::Release);
        Some(cells)
    }

    /// Replaces the index with one of at least `pages` pages, under the
    /// lock, so that no reader holds the old one when it is freed.
    fn grow(&self, pages: usize) {
        let blocks = self.threads.lock();
        let old = self.block.index.load(Ordering::Relaxed);
        // SAFETY: as in `lookup`.
        let old_pages = unsafe { old.as_ref() }.map_or(&[][..], |old| &old.0[..]);
        let len = pages
            .max(old_pages.len() * 2)
            .max(if cfg!(loom) { 1 } else { 8 });
        let table: Box<[AtomicPtr<IndexPage>]> = (0..len)
            .map(|page| {
                AtomicPtr::new(
                    old_pages
                        .get(page)
                        .map_or(ptr::null_mut(), |p| p.load(Ordering::Relaxed)),
                )
            })
            .collect();
        let new = Box::into_raw(Box::new(Index(table)));
        self.block.index.store(new, Ordering::Release);
        drop(blocks);
        if !old.is_null() {
            // SAFETY: made by `Box::into_raw` above, in an earlier call; it
            // was replaced under the lock, and readers reach an index only
            // under the lock, so none holds it; this thread holds no
            // reference to it either (`old_pages` ended above).
            drop(unsafe { Box::from_raw(old) });
        }
    }

    /// Takes the thread out of the readers' view: under the threads' lock,
    /// the caller folds the thread's cells ([`Retiring::for_each_owned`])
    /// into shared ones, then dropping the [`Retiring`] unlinks the block.
    /// Later claims get nothing.
    pub(crate) fn retire(&self) -> Retiring<'_, 't> {
        Retiring {
            blocks: self.threads.lock(),
            owner: self,
        }
    }
}

impl Drop for Owner<'_> {
    fn drop(&mut self) {
        // Unfolded cells are lost, but never read after they are freed.
        if !self.retired.get() {
            drop(self.retire());
        }
    }
}

/// A thread leaving the readers' view; see [`Owner::retire`].
pub(crate) struct Retiring<'a, 't> {
    blocks: MutexGuard<'a, Vec<Arc<Block>>>,
    owner: &'a Owner<'t>,
}

impl Retiring<'_, '_> {
    /// Calls `f` with the cells of each series the thread owns cells for,
    /// among the first `known`, while no reader reads.
    pub(crate) fn for_each_owned(&self, known: usize, mut f: impl FnMut(usize, &[AtomicU64])) {
        if !self.owner.retired.get() {
            for_each_owned(&self.owner.block, known, &mut f);
        }
    }
}

impl Drop for Retiring<'_, '_> {
    fn drop(&mut self) {
        let block = &self.owner.block;
        self.blocks.retain(|live| !Arc::ptr_eq(live, block));
        self.owner.retired.set(true);
        let index = block.index.swap(ptr::null_mut(), Ordering::AcqRel);
        if !index.is_null() {
            // SAFETY: made by `Box::into_raw` in `grow`; the block left the
            // list under the lock held here, so no reader can reach it, and
            // the owner sees null from now on.
            drop(unsafe { Box::from_raw(index) });
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Series far apart (the index grows several times), of widths that
    /// fill chunks, overflow them and exceed one.
    const CLAIMS: [(usize, usize); 7] = [
        (0, 1),
        (1, 700),
        (INDEX_PAGE - 1, 1500),
        (INDEX_PAGE, 3),
        (5 * INDEX_PAGE + 7, CHUNK_WORDS + 10),
        (20 * INDEX_PAGE, 2),
        (2, 1),
    ];

    fn owned(readers: &Readers<'_>) -> BTreeMap<usize, Vec<u64>> {
        let mut seen = BTreeMap::new();
        readers.for_each_owned(usize::MAX, |series, cells| {
            let words = cells.iter().map(|c| c.load(Ordering::Relaxed)).collect();
            assert!(
                seen.insert(series, words).is_none(),
                "series {series} twice"
            );
        });
        seen
    }

    #[test]
    fn claimed_cells_are_found_read_and_retired() {
        let threads = Threads::new();
        let owner = Owner::new(&threads);
        let mut claimed = Vec::new();
        for (series, width) in CLAIMS {
            assert_eq!(owner.lookup(series), None);
            let cells = owner.claim(series, width).expect("the arena is free");
            // SAFETY (test): `width` words were just claimed for this thread.
            let cells_slice = unsafe { std::slice::from_raw_parts(cells.as_ptr(), width) };
            for (word, cell) in cells_slice.iter().enumerate() {
                assert_eq!(cell.load(Ordering::Relaxed), 0, "zeroed");
                cell.store((series * 10_000 + word) as u64, Ordering::Relaxed);
            }
            claimed.push((series, cells));
        }
        for (series, cells) in &claimed {
            assert_eq!(owner.lookup(*series), Some(*cells));
            assert_eq!(owner.claim(*series, 1), Some(*cells), "claimed again");
        }
        assert_eq!(owner.lookup(3 * INDEX_PAGE), None);
        assert_eq!(owner.lookup(1000 * INDEX_PAGE), None);

        let seen = owned(&threads.read());
        assert_eq!(
            seen.keys().copied().collect::<Vec<_>>(),
            CLAIMS
                .iter()
                .map(|(series, _)| *series)
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
        );
        for (series, width) in CLAIMS {
            let words = &seen[&series];
            assert_eq!(words.len(), width);
            assert_eq!(words[width - 1], (series * 10_000 + width - 1) as u64);
        }
        // Readers see only the first `known` series.
        let mut below = Vec::new();
        threads
            .read()
            .for_each_owned(INDEX_PAGE, |series, _| below.push(series));
        assert_eq!(below, [0, 1, 2, INDEX_PAGE - 1]);

        let retiring = owner.retire();
        let mut folded = Vec::new();
        retiring.for_each_owned(usize::MAX, |series, cells| {
            folded.push((series, cells.len()));
        });
        drop(retiring);
        assert_eq!(folded.len(), CLAIMS.len());
        assert!(owned(&threads.read()).is_empty());
        assert_eq!(owner.lookup(0), None);
        assert_eq!(owner.claim(3, 1), None);
    }

    #[test]
    fn a_reader_counts_a_growing_thread_exactly_once_including_after_it_exits() {
        let threads = Threads::new();
        let shared: Vec<AtomicU64> = (0..8).map(|_| AtomicU64::new(0)).collect();
        let rounds: u64 = if cfg!(miri) { 3 } else { 200 };
        // Series spread over pages, so claims grow the index while the
        // reader reads.
        let series: Vec<usize> = (0..8).map(|i| i * INDEX_PAGE + i).collect();
        let total = |readers: &Readers<'_>| -> u64 {
            let mut sum: u64 = shared.iter().map(|c| c.load(Ordering::Relaxed)).sum();
            readers.for_each_owned(usize::MAX, |_, cells| {
                sum += cells[0].load(Ordering::Relaxed);
            });
            sum
        };
        std::thread::scope(|scope| {
            let writer = scope.spawn(|| {
                let owner = Owner::new(&threads);
                for round in 0..rounds {
                    for (slot, series) in series.iter().enumerate() {
                        let cells = owner
                            .lookup(*series)
                            .or_else(|| owner.claim(*series, 2))
                            .expect("the arena is free");
                        // SAFETY (test): this thread's cells of the series.
                        let cell = unsafe { cells.as_ref() };
                        cell.store(cell.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
                        if round == 0 && slot == 0 {
                            std::thread::yield_now();
                        }
                    }
                }
                // Fold on exit, as the store does.
                let retiring = owner.retire();
                retiring.for_each_owned(usize::MAX, |index, cells| {
                    let slot = series.iter().position(|s| *s == index).unwrap();
                    shared[slot].fetch_add(cells[0].load(Ordering::Relaxed), Ordering::Relaxed);
                });
                drop(retiring);
            });
            let mut last = 0;
            while !writer.is_finished() {
                let now = total(&threads.read());
                assert!(now >= last && now <= rounds * 8, "{last} then {now}");
                last = now;
                std::thread::yield_now();
            }
        });
        assert_eq!(total(&threads.read()), rounds * 8);
    }
}
