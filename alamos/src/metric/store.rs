//! alamos's metric storage, built for the hot path.
//!
//! Every instrumented call touches its series' counters and histogram.
//! Shared atomics would cost a locked read-modify-write each (5 to 8 ns) and
//! bounce between cores as soon as two threads call the same function. Here
//! each thread owns the cells it writes, so an update is a plain load and
//! store; a read adds every thread's cells to the series' shared cells. A
//! thread that exits folds its cells into the shared ones first.
//!
//! # Memory
//!
//! A thread owns cells only for the series it writes more than once,
//! allocated at its second write to each, and for at most
//! [`Store::set_thread_series`] of them (default [`DEFAULT_THREAD_SERIES`]).
//! A first write, and every write past that budget, goes to the shared cells
//! with atomic read-modify-writes: slower, but the memory a thread costs is
//! bounded (about 70 KiB at the default with the default buckets, and one
//! bit per series it wrote once) however many series it touches. Waiting for
//! the second write keeps the budget for the series a thread keeps calling:
//! code that runs once (start-up, configuration, a scan of every function)
//! would otherwise spend it on series it never writes again. Gauges are only
//! ever shared: a gauge is set, not summed.
//!
//! # Layouts
//!
//! A call series (the three metrics of an instrumented function) has the
//! words: calls started, calls finished by outcome, the sum of durations in
//! nanoseconds, and the duration buckets (not cumulative, the last for
//! `+Inf`). Calls in flight are started minus finished, so a call may start
//! on one thread and finish on another (an `async fn` moving between
//! workers). A counter is one word; a histogram is the sum (an `f64`) and its
//! buckets; a gauge is its value (an `f64`).
//!
//! With `otel`, call and histogram series also have one exemplar slot per
//! bucket beside their shared cells ([`super::exemplar`]).

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::HashMap;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use crate::metric::arena::{Owner, Threads};
use crate::metric::exemplar::Exemplar;
#[cfg(feature = "otel")]
use crate::metric::exemplar::{self, Slot};
use crate::metric::name::{Kind, Unit};
use crate::metric::outcome::Outcome;

const STARTED: usize = 0;
const FINISHED: usize = 1;
const SUM_NANOS: usize = FINISHED + Outcome::ALL.len();
const CALL_BUCKETS: usize = SUM_NANOS + 1;
const HISTOGRAM_SUM: usize = 0;
const HISTOGRAM_BUCKETS: usize = 1;

/// The default of [`Store::set_thread_series`]. Smaller under Miri, so
/// that the tests that go past it stay quick there.
pub(crate) const DEFAULT_THREAD_SERIES: usize = if cfg!(miri) { 16 } else { 256 };

/// Label pairs of one series, in the order they were given.
pub(crate) type Labels = Arc<[(String, String)]>;

/// How the words of a series are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// The three metrics of an instrumented function.
    Calls,
    Counter,
    Gauge,
    /// Buckets for this many bounds, plus `+Inf`.
    Histogram(usize),
}

impl Layout {
    /// How many buckets (with `+Inf`) a series of this layout has.
    #[cfg_attr(not(feature = "otel"), allow(dead_code))]
    fn buckets(self, call_bounds: usize) -> usize {
        match self {
            Layout::Calls => call_bounds + 1,
            Layout::Histogram(bounds) => bounds + 1,
            Layout::Counter | Layout::Gauge => 0,
        }
    }

    fn width(self, call_bounds: usize) -> usize {
        match self {
            Layout::Calls => CALL_BUCKETS + call_bounds + 1,
            Layout::Counter | Layout::Gauge => 1,
            Layout::Histogram(bounds) => HISTOGRAM_BUCKETS + bounds + 1,
        }
    }

    /// Whether word `word` holds the bits of an `f64` rather than a count.
    fn is_float(self, word: usize) -> bool {
        match self {
            Layout::Gauge => true,
            Layout::Histogram(_) => word == HISTOGRAM_SUM,
            Layout::Calls | Layout::Counter => false,
        }
    }
}

/// A metric name as registered, with what its series share.
#[derive(Clone, Debug)]
pub(crate) struct Family {
    pub(crate) name: Arc<str>,
    pub(crate) layout: Layout,
    pub(crate) help: Option<Arc<str>>,
    pub(crate) unit: Option<Unit>,
    /// Bucket bounds of a histogram (seconds for calls); empty otherwise.
    pub(crate) bounds: Arc<[f64]>,
}

impl Family {
    pub(crate) fn kind(&self) -> Kind {
        match self.layout {
            Layout::Counter => Kind::Counter,
            Layout::Gauge => Kind::Gauge,
            Layout::Histogram(_) | Layout::Calls => Kind::Histogram,
        }
    }
}

/// Registers a series: the metric it belongs to and its labels.
#[derive(Debug)]
pub(crate) struct SeriesSpec<'a> {
    pub(crate) name: &'a str,
    pub(crate) layout: Layout,
    pub(crate) labels: Vec<(String, String)>,
    /// Bounds for a histogram family created by this registration.
    pub(crate) bounds: &'a [f64],
    pub(crate) unit: Option<Unit>,
    pub(crate) help: Option<&'a str>,
}

/// A registered series: how the hot path finds its cells.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Series {
    index: u32,
    width: u32,
    shared: NonNull<AtomicU64>,
    /// Bounds of a histogram series, for bucketing an observation.
    bounds: &'static [f64],
    /// One exemplar slot per bucket of a call or histogram series.
    #[cfg(feature = "otel")]
    exemplars: &'static [Slot],
}

// SAFETY: `shared` points to the series' shared cells, atomics that live as
// long as the process (they are never freed) and are only used atomically.
unsafe impl Send for Series {}
// SAFETY: as for `Send`.
unsafe impl Sync for Series {}

#[derive(Debug)]
struct SeriesEntry {
    family: usize,
    labels: Labels,
    layout: Layout,
    shared: &'static [AtomicU64],
    #[cfg(feature = "otel")]
    exemplars: &'static [Slot],
}

#[derive(Default)]
struct Registry {
    families: Vec<Family>,
    by_name: HashMap<Arc<str>, usize>,
    series: Vec<SeriesEntry>,
    by_labels: HashMap<(usize, Labels), usize>,
    /// HELP and unit given before the metric was registered.
    descriptions: HashMap<String, (Option<Arc<str>>, Option<Unit>)>,
}

/// Every series and every thread's cells.
pub(crate) struct Store {
    /// Duration bounds of call series, in seconds and in nanoseconds.
    call_bounds: Arc<[f64]>,
    call_bounds_nanos: Box<[u64]>,
    /// For each bit length of a duration in nanoseconds, the first bucket
    /// that can hold it: the search then steps over at most a few bounds.
    first_bucket: [u8; 65],
    registry: Mutex<Registry>,
    /// Every thread's cells, in the arena.
    threads: Threads,
    thread_series: AtomicUsize,
    /// How old an exemplar gets before it may be replaced, in raw clock
    /// units.
    #[cfg(feature = "otel")]
    exemplar_interval: AtomicU64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

static STORE: OnceLock<Store> = OnceLock::new();

/// The process's store, created with `call_bounds` (seconds) for the
/// durations of calls if it does not exist yet; the first caller's stick.
pub(crate) fn store(call_bounds: &[f64]) -> &'static Store {
    STORE.get_or_init(|| Store::new(call_bounds))
}

/// The process's store, if anything created it.
pub(crate) fn existing() -> Option<&'static Store> {
    STORE.get()
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Leaked on purpose: series live as long as the process, and the hot path
/// keeps raw pointers to their shared cells.
fn shared_cells(width: usize) -> &'static [AtomicU64] {
    Box::leak((0..width).map(|_| AtomicU64::new(0)).collect())
}

impl Store {
    fn new(call_bounds: &[f64]) -> Store {
        // Durations are whole nanoseconds: `le` on seconds is `<=` on nanos
        // rounded down, so a bound of 1 us holds a call of exactly 1000 ns.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let call_bounds_nanos: Box<[u64]> = call_bounds.iter().map(|b| (b * 1e9) as u64).collect();
        let first_bucket = std::array::from_fn(|bits| {
            let smallest = if bits == 0 { 0 } else { 1_u64 << (bits - 1) };
            let first = call_bounds_nanos.partition_point(|&bound| bound < smallest);
            u8::try_from(first).unwrap_or(u8::MAX)
        });
        Store {
            call_bounds: call_bounds.into(),
            call_bounds_nanos,
            first_bucket,
            registry: Mutex::new(Registry::default()),
            threads: Threads::new(),
            thread_series: AtomicUsize::new(DEFAULT_THREAD_SERIES),
            #[cfg(feature = "otel")]
            exemplar_interval: AtomicU64::new(interval_raw(exemplar::DEFAULT_INTERVAL)),
        }
    }

    /// How old a bucket's exemplar gets before a call may replace it.
    #[cfg(feature = "otel")]
    pub(crate) fn set_exemplar_interval(&self, interval: std::time::Duration) {
        self.exemplar_interval
            .store(interval_raw(interval), Ordering::Relaxed);
    }

    /// The exemplar interval in raw clock units.
    #[cfg(feature = "otel")]
    #[inline(always)]
    pub(crate) fn exemplar_interval(&self) -> u64 {
        self.exemplar_interval.load(Ordering::Relaxed)
    }

    /// Caps the series each thread keeps cells of its own for; writes to
    /// further series go to the shared cells. Applies to series a thread
    /// first writes from now on.
    pub(crate) fn set_thread_series(&self, max: usize) {
        self.thread_series.store(max, Ordering::Relaxed);
    }

    /// The bounds, in seconds, of call durations.
    pub(crate) fn call_bounds(&self) -> &Arc<[f64]> {
        &self.call_bounds
    }

    /// Records HELP text and a unit for `name`, for its family now or when
    /// it is registered.
    pub(crate) fn describe(&self, name: &str, help: Option<&str>, unit: Option<Unit>) {
        let mut registry = lock(&self.registry);
        let help: Option<Arc<str>> = help.filter(|help| !help.is_empty()).map(Arc::from);
        if let Some(&family) = registry.by_name.get(name) {
            let family = &mut registry.families[family];
            if help.is_some() {
                family.help = help;
            }
            family.unit = unit.or(family.unit);
            return;
        }
        let entry = registry.descriptions.entry(name.to_owned()).or_default();
        if help.is_some() {
            entry.0 = help;
        }
        entry.1 = unit.or(entry.1);
    }

    /// The unit described for a metric not registered yet.
    pub(crate) fn described_unit(&self, name: &str) -> Option<Unit> {
        let registry = lock(&self.registry);
        match registry.by_name.get(name) {
            Some(&family) => registry.families[family].unit,
            None => registry.descriptions.get(name).and_then(|(_, unit)| *unit),
        }
    }

    /// The series with these labels, registered on first use; `None` when
    /// the name is already registered as another kind of metric.
    pub(crate) fn series(&self, spec: SeriesSpec<'_>) -> Option<Series> {
        let mut registry = lock(&self.registry);
        let registry = &mut *registry;
        let known = registry.by_name.get(spec.name).copied();
        let family = if let Some(family) = known {
            family
        } else {
            {
                let name: Arc<str> = Arc::from(spec.name);
                let described = registry.descriptions.remove(spec.name);
                let (help, described_unit) = described.unwrap_or_default();
                let bounds: Arc<[f64]> = match spec.layout {
                    Layout::Calls => Arc::clone(&self.call_bounds),
                    Layout::Histogram(_) => spec.bounds.into(),
                    Layout::Counter | Layout::Gauge => Arc::new([]),
                };
                registry.families.push(Family {
                    name: Arc::clone(&name),
                    layout: match spec.layout {
                        Layout::Histogram(_) => Layout::Histogram(bounds.len()),
                        layout => layout,
                    },
                    help: spec.help.map(Arc::from).or(help),
                    unit: spec.unit.or(described_unit),
                    bounds,
                });
                let family = registry.families.len() - 1;
                registry.by_name.insert(name, family);
                family
            }
        };
        let layout = registry.families[family].layout;
        let same_kind = match (layout, spec.layout) {
            (Layout::Histogram(_), Layout::Histogram(_)) => true,
            (layout, requested) => layout == requested,
        };
        if !same_kind {
            return None;
        }
        let labels: Labels = spec.labels.into();
        let known = registry
            .by_labels
            .get(&(family, Arc::clone(&labels)))
            .copied();
        let index = if let Some(index) = known {
            index
        } else {
            {
                let width = layout.width(self.call_bounds.len());
                registry.series.push(SeriesEntry {
                    family,
                    labels: Arc::clone(&labels),
                    layout,
                    shared: shared_cells(width),
                    #[cfg(feature = "otel")]
                    exemplars: exemplar::slots(layout.buckets(self.call_bounds.len())),
                });
                let index = registry.series.len() - 1;
                registry.by_labels.insert((family, labels), index);
                index
            }
        };
        let entry = &registry.series[index];
        let bounds: &'static [f64] = match layout {
            // Bounds of a family never change; leaked once per series handle
            // would be wasteful, so keep one leaked copy per family.
            Layout::Histogram(_) => leaked_bounds(&registry.families[family].bounds),
            _ => &[],
        };
        Some(Series {
            index: u32::try_from(index).unwrap_or(u32::MAX),
            width: u32::try_from(entry.shared.len()).unwrap_or(u32::MAX),
            // From the whole slice, not its first word: the hot path reaches
            // every word of the series through this pointer (Miri found the
            // first-word pointer out of bounds of its borrow).
            shared: NonNull::from(entry.shared).cast::<AtomicU64>(),
            bounds,
            #[cfg(feature = "otel")]
            exemplars: entry.exemplars,
        })
    }

    /// The bucket a call duration falls in: the first whose bound is not
    /// below it.
    #[inline]
    fn call_bucket(&self, nanos: u64) -> usize {
        let bits = (u64::BITS - nanos.leading_zeros()) as usize;
        let mut bucket = usize::from(self.first_bucket[bits]);
        while bucket < self.call_bounds_nanos.len() && self.call_bounds_nanos[bucket] < nanos {
            bucket += 1;
        }
        bucket
    }

    /// Every family and the sums of every series, over all threads.
    pub(crate) fn read(&self) -> Reading {
        let (families, entries) = {
            let registry = lock(&self.registry);
            let entries: Vec<Entry> = registry
                .series
                .iter()
                .map(|entry| {
                    (
                        entry.family,
                        Arc::clone(&entry.labels),
                        entry.layout,
                        entry.shared,
                        read_exemplars(entry),
                    )
                })
                .collect();
            (registry.families.clone(), entries)
        };
        let mut words: Vec<Vec<u64>> = Vec::with_capacity(entries.len());
        // The shared cells too are read under the threads' lock, which an
        // exiting thread folds its cells under: nothing is counted twice.
        let threads = self.threads.read();
        for (_, _, _, shared, _) in &entries {
            words.push(shared.iter().map(|w| w.load(Ordering::Relaxed)).collect());
        }
        threads.for_each_owned(entries.len(), |index, cells| {
            let layout = entries[index].2;
            for (word, (total, cell)) in words[index].iter_mut().zip(cells).enumerate() {
                *total = add_word(layout, word, *total, cell.load(Ordering::Relaxed));
            }
        });
        drop(threads);
        let series = entries
            .into_iter()
            .zip(words)
            .map(
                |((family, labels, layout, _, exemplars), words)| SeriesReading {
                    family,
                    labels,
                    layout,
                    words,
                    exemplars,
                },
            )
            .collect();
        Reading { families, series }
    }

    fn thread_series(&self) -> usize {
        self.thread_series.load(Ordering::Relaxed)
    }
}

/// What [`Store::read`] copies of a series under the registry lock.
type Entry = (
    usize,
    Labels,
    Layout,
    &'static [AtomicU64],
    Vec<Option<Exemplar>>,
);

/// The exemplar of each bucket of a series (none without `otel`).
#[cfg_attr(
    not(feature = "otel"),
    allow(clippy::unnecessary_wraps, unused_variables)
)]
fn read_exemplars(entry: &SeriesEntry) -> Vec<Option<Exemplar>> {
    #[cfg(feature = "otel")]
    {
        entry.exemplars.iter().map(Slot::read).collect()
    }
    #[cfg(not(feature = "otel"))]
    Vec::new()
}

#[cfg(feature = "otel")]
fn interval_raw(interval: std::time::Duration) -> u64 {
    crate::clock::raw_for_nanos(u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX))
}

/// The leaked copy of a family's bounds, shared by all its series.
fn leaked_bounds(bounds: &Arc<[f64]>) -> &'static [f64] {
    static LEAKED: Mutex<Vec<&'static [f64]>> = Mutex::new(Vec::new());
    let mut leaked = lock(&LEAKED);
    if let Some(found) = leaked.iter().find(|known| ***known == **bounds) {
        return found;
    }
    let copy: &'static [f64] = Box::leak(bounds.to_vec().into_boxed_slice());
    leaked.push(copy);
    copy
}

fn add_word(layout: Layout, word: usize, total: u64, delta: u64) -> u64 {
    if layout.is_float(word) {
        (f64::from_bits(total) + f64::from_bits(delta)).to_bits()
    } else {
        total.wrapping_add(delta)
    }
}

/// What [`Store::read`] found.
#[derive(Debug)]
pub(crate) struct Reading {
    pub(crate) families: Vec<Family>,
    pub(crate) series: Vec<SeriesReading>,
}

/// One series summed over all threads.
#[derive(Debug)]
pub(crate) struct SeriesReading {
    pub(crate) family: usize,
    pub(crate) labels: Labels,
    layout: Layout,
    words: Vec<u64>,
    /// Per bucket (not cumulative), for call and histogram series.
    pub(crate) exemplars: Vec<Option<Exemplar>>,
}

impl SeriesReading {
    /// Finished calls with `outcome`, for a call series.
    pub(crate) fn calls(&self, outcome: Outcome) -> u64 {
        debug_assert_eq!(self.layout, Layout::Calls);
        self.words[FINISHED + outcome as usize]
    }

    /// Calls in progress, for a call series.
    pub(crate) fn in_flight(&self) -> u64 {
        // A call counted finished on one thread may be read before its start
        // on another; never show a negative gauge for that instant.
        let finished: u64 = Outcome::ALL.iter().map(|o| self.calls(*o)).sum();
        self.words[STARTED].saturating_sub(finished)
    }

    /// The sum of a histogram, in seconds for a call series.
    #[allow(clippy::cast_precision_loss)]
    pub(crate) fn sum(&self) -> f64 {
        match self.layout {
            Layout::Calls => self.words[SUM_NANOS] as f64 / 1e9,
            Layout::Histogram(_) => f64::from_bits(self.words[HISTOGRAM_SUM]),
            Layout::Counter | Layout::Gauge => 0.0,
        }
    }

    /// Cumulative bucket counts of a histogram (or a call series' durations):
    /// one per bound and a last one for `+Inf`.
    pub(crate) fn cumulative_buckets(&self) -> Vec<u64> {
        let first = match self.layout {
            Layout::Calls => CALL_BUCKETS,
            Layout::Histogram(_) => HISTOGRAM_BUCKETS,
            Layout::Counter | Layout::Gauge => return Vec::new(),
        };
        let mut running = 0_u64;
        self.words[first..]
            .iter()
            .map(|count| {
                running = running.wrapping_add(*count);
                running
            })
            .collect()
    }

    /// The count of a counter.
    pub(crate) fn count(&self) -> u64 {
        self.words[0]
    }

    /// The value of a gauge.
    pub(crate) fn value(&self) -> f64 {
        f64::from_bits(self.words[0])
    }
}

// ------------------------------------------------------------ per thread --

/// The calling thread's side of the store: its part of the arena, and its
/// budget of series with cells of their own.
struct Local {
    owner: OnceCell<Owner<'static>>,
    budget: RefCell<Budget>,
}

/// Which series a thread wrote, and how many it owns cells for.
struct Budget {
    owned: usize,
    /// One bit per series this thread wrote without owning cells for it.
    written: Vec<u64>,
}

impl Budget {
    /// Whether this thread wrote the series `index` before; notes that it
    /// has now.
    fn written_before(&mut self, index: usize) -> bool {
        let (word, bit) = (index / 64, 1_u64 << (index % 64));
        if word >= self.written.len() {
            self.written.resize(word + 1, 0);
        }
        let before = self.written[word] & bit != 0;
        self.written[word] |= bit;
        before
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        // From now on this thread's cells are retired: a call that started
        // here and finishes later in this thread's teardown must not be
        // taken for one that may still write them.
        let _ = THREAD.try_with(|thread| thread.set(0));
        let (Some(owner), Some(store)) = (self.owner.get(), STORE.get()) else {
            return;
        };
        // Folded and unlinked under the threads' lock, which readers read
        // the shared cells under too: each update is counted once.
        let retiring = owner.retire();
        let registry = lock(&store.registry);
        retiring.for_each_owned(registry.series.len(), |index, cells| {
            let entry = &registry.series[index];
            for (word, cell) in cells.iter().enumerate() {
                add_shared(
                    entry.layout,
                    word,
                    &entry.shared[word],
                    cell.load(Ordering::Relaxed),
                );
            }
        });
        drop(registry);
        drop(retiring);
    }
}

fn add_shared(layout: Layout, word: usize, cell: &AtomicU64, delta: u64) {
    if layout.is_float(word) {
        add_float(cell, f64::from_bits(delta));
    } else if delta != 0 {
        cell.fetch_add(delta, Ordering::Relaxed);
    }
}

fn add_float(cell: &AtomicU64, delta: f64) {
    if delta == 0.0 {
        return;
    }
    let _ = cell.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
        Some((f64::from_bits(bits) + delta).to_bits())
    });
}

thread_local! {
    static LOCAL: Local = const {
        Local {
            owner: OnceCell::new(),
            budget: RefCell::new(Budget {
                owned: 0,
                written: Vec::new(),
            }),
        }
    };
}

impl Local {
    /// This thread's cells of `series`, if it owns some; allocated at the
    /// second write while the thread is under its budget.
    #[inline(always)]
    fn cells(&self, store: &'static Store, series: Series) -> Cells {
        let owner = self.owner.get_or_init(|| register_thread(store));
        match owner.lookup(series.index as usize) {
            Some(cells) => Cells::Own(cells),
            None => Local::claim(&self.budget, owner, store, series),
        }
    }

    /// Gives this thread cells of its own for `series` if it wrote it before
    /// and its budget allows, else the shared cells.
    #[cold]
    #[inline(never)]
    fn claim(
        budget: &RefCell<Budget>,
        owner: &Owner<'static>,
        store: &'static Store,
        series: Series,
    ) -> Cells {
        let Ok(mut budget) = budget.try_borrow_mut() else {
            return Cells::Shared(series.shared);
        };
        let index = series.index as usize;
        if !budget.written_before(index) || budget.owned >= store.thread_series() {
            return Cells::Shared(series.shared);
        }
        match owner.claim(index, series.width as usize) {
            Some(cells) => {
                budget.owned += 1;
                Cells::Own(cells)
            }
            None => Cells::Shared(series.shared),
        }
    }
}

#[cold]
fn register_thread(store: &'static Store) -> Owner<'static> {
    let number = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
    let _ = THREAD.try_with(|thread| thread.set(number));
    Owner::new(&store.threads)
}

thread_local! {
    /// This thread's number while it has cells of its own: set when it
    /// registers, back to 0 when its cells retire (`Local`'s drop). No
    /// destructor, so it is read with a plain load.
    static THREAD: Cell<u64> = const { Cell::new(0) };
}

/// The next thread's number: unique for the process's life, so a matching
/// number means the same live thread, never one that reused an exited
/// thread's memory.
static NEXT_THREAD: AtomicU64 = AtomicU64::new(1);

/// The calling thread's number, 0 if it has no cells of its own.
#[inline(always)]
fn thread_number() -> u64 {
    THREAD.try_with(Cell::get).unwrap_or(0)
}

/// Where an update lands: the thread's own cells, written with a plain load
/// and store since only this thread writes them, or the series' shared
/// cells, written atomically.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Cells {
    Own(NonNull<AtomicU64>),
    Shared(NonNull<AtomicU64>),
}

// SAFETY: `Cells::Own` is only written through by `LocalCells`'s
// `call_finished`, whose contract is to run on the thread that owns the
// cells, and `call_finished_anywhere`, which checks that it does (the
// thread's number); an async call carries one to other threads without
// using it there. `Cells::Shared`
// points to atomics that live forever.
unsafe impl Send for Cells {}
// SAFETY: as for `Send`; `&Cells` gives no access to the cells.
unsafe impl Sync for Cells {}

impl Cells {
    #[inline(always)]
    fn word(self, word: usize) -> (&'static AtomicU64, bool) {
        match self {
            // SAFETY: `word` is within the series' width (the layouts'
            // constants), and the cells outlive the thread's use of them.
            Cells::Own(cells) => (unsafe { &*cells.as_ptr().add(word) }, true),
            // SAFETY: as above; shared cells are never freed.
            Cells::Shared(cells) => (unsafe { &*cells.as_ptr().add(word) }, false),
        }
    }

    #[inline(always)]
    fn add(self, word: usize, delta: u64) {
        match self.word(word) {
            (cell, true) => cell.store(
                cell.load(Ordering::Relaxed).wrapping_add(delta),
                Ordering::Relaxed,
            ),
            (cell, false) => {
                cell.fetch_add(delta, Ordering::Relaxed);
            }
        }
    }

    #[inline(always)]
    fn add_float(self, word: usize, delta: f64) {
        match self.word(word) {
            (cell, true) => cell.store(
                (f64::from_bits(cell.load(Ordering::Relaxed)) + delta).to_bits(),
                Ordering::Relaxed,
            ),
            (cell, false) => add_float(cell, delta),
        }
    }
}

/// This thread's cells of `series`, or its shared cells while the thread is
/// exiting.
#[inline(always)]
fn cells(store: &'static Store, series: Series) -> Cells {
    LOCAL
        .try_with(|local| local.cells(store, series))
        .unwrap_or(Cells::Shared(series.shared))
}

/// The calling thread's cells of one series, found when a call started so
/// that finishing it on the same thread does not look them up again; with
/// the thread's number, for a call that may finish on another thread.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LocalCells {
    cells: Cells,
    /// The starting thread's number (see `THREAD`) when `cells` are its
    /// own, or [`NO_THREAD`] for a call that finishes where it started.
    thread: u64,
}

/// No thread's number (they count up from 1, and 0 is a thread without
/// cells): `call_finished_anywhere` never takes cells with it for its own.
const NO_THREAD: u64 = u64::MAX;

impl Series {
    /// A call of this call series started; `here`: it finishes on this
    /// thread (a synchronous call), so the thread's number is not needed.
    #[inline]
    pub(crate) fn call_started(self, store: &'static Store, here: bool) -> LocalCells {
        let cells = cells(store, self);
        cells.add(STARTED, 1);
        LocalCells {
            cells,
            thread: if here { NO_THREAD } else { thread_number() },
        }
    }

    /// A call of this call series finished after `nanos`, on any thread;
    /// the bucket it landed in.
    #[inline]
    pub(crate) fn call_finished(
        self,
        store: &'static Store,
        outcome: Outcome,
        nanos: u64,
    ) -> usize {
        finish_call(store, cells(store, self), outcome, nanos)
    }

    /// The exemplar slot of bucket `bucket`.
    #[cfg(feature = "otel")]
    #[inline(always)]
    pub(crate) fn exemplar(self, bucket: usize) -> Option<&'static Slot> {
        self.exemplars.get(bucket)
    }

    /// Counts `count` calls finished with `outcome`, for `metrics` counters
    /// registered by hand on alamos's metric names.
    pub(crate) fn count_calls(self, store: &'static Store, outcome: Outcome, count: u64) {
        cells(store, self).add(FINISHED + outcome as usize, count);
    }

    /// Records a duration without counting a call, for histograms registered
    /// by hand on alamos's metric names.
    pub(crate) fn record_duration(self, store: &'static Store, seconds: f64) {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let nanos = (seconds.max(0.0) * 1e9) as u64;
        let bucket = store.call_bucket(nanos);
        let cells = cells(store, self);
        cells.add(CALL_BUCKETS + bucket, 1);
        cells.add(SUM_NANOS, nanos);
    }

    /// Adds to a counter.
    #[inline]
    pub(crate) fn increment(self, store: &'static Store, delta: u64) {
        cells(store, self).add(0, delta);
    }

    /// Raises a counter to `value` if it is below: what the facade's
    /// `Counter::absolute` means, for counters mirrored from elsewhere.
    pub(crate) fn absolute(self, store: &'static Store, value: u64) {
        let current = store
            .read()
            .series
            .get(self.index as usize)
            .map_or(0, SeriesReading::count);
        if value > current {
            Cells::Shared(self.shared).add(0, value - current);
        }
    }

    /// Records one observation in a histogram; the bucket it landed in.
    #[inline]
    pub(crate) fn record(self, store: &'static Store, value: f64) -> Option<usize> {
        if value.is_nan() {
            return None;
        }
        let bucket = self.bounds.partition_point(|bound| *bound < value);
        let cells = cells(store, self);
        cells.add(HISTOGRAM_BUCKETS + bucket, 1);
        cells.add_float(HISTOGRAM_SUM, value);
        Some(bucket)
    }

    /// Sets a gauge.
    #[inline]
    pub(crate) fn set(self, value: f64) {
        Cells::Shared(self.shared)
            .word(0)
            .0
            .store(value.to_bits(), Ordering::Relaxed);
    }

    /// Moves a gauge by `delta`.
    #[inline]
    pub(crate) fn add(self, delta: f64) {
        Cells::Shared(self.shared).add_float(0, delta);
    }
}

impl LocalCells {
    /// [`Series::call_finished`] through the cells [`Series::call_started`]
    /// returned.
    ///
    /// # Safety
    ///
    /// `self` came from `call_started` of a series of `store`, on the calling
    /// thread: the thread has not exited, so its cells are alive.
    #[inline]
    pub(crate) unsafe fn call_finished(
        self,
        store: &'static Store,
        outcome: Outcome,
        nanos: u64,
    ) -> usize {
        finish_call(store, self.cells, outcome, nanos)
    }

    /// [`Series::call_finished`] for the series `series` whose
    /// `call_started` returned `self`, on any thread: through these cells
    /// when they are shared or this thread's own (it is the thread that
    /// started the call, and its cells are not retired), else looked up.
    #[inline(always)]
    pub(crate) fn call_finished_anywhere(
        self,
        series: Series,
        store: &'static Store,
        outcome: Outcome,
        nanos: u64,
    ) -> usize {
        let cells = match self.cells {
            Cells::Shared(_) => self.cells,
            Cells::Own(_) if self.thread == thread_number() => self.cells,
            Cells::Own(_) => cells(store, series),
        };
        finish_call(store, cells, outcome, nanos)
    }
}

#[inline(always)]
fn finish_call(store: &'static Store, cells: Cells, outcome: Outcome, nanos: u64) -> usize {
    let bucket = store.call_bucket(nanos);
    cells.add(FINISHED + outcome as usize, 1);
    cells.add(CALL_BUCKETS + bucket, 1);
    cells.add(SUM_NANOS, nanos);
    bucket
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::buckets::DURATIONS;

    fn calls(store: &'static Store, test: &str) -> Series {
        store
            .series(SeriesSpec {
                name: "alamos_calls_total",
                layout: Layout::Calls,
                labels: vec![("test".into(), test.into())],
                bounds: &[],
                unit: None,
                help: None,
            })
            .unwrap()
    }

    fn reading(store: &Store, series: Series) -> SeriesReading {
        store
            .read()
            .series
            .into_iter()
            .nth(series.index as usize)
            .unwrap()
    }

    #[test]
    fn threads_add_up_including_exited_ones() {
        let store = store(DURATIONS);
        let id = calls(store, "threads_add_up");
        // Fewer under Miri, which interprets every step.
        let (threads, calls) = if cfg!(miri) { (3, 20) } else { (8, 1000) };
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    for _ in 0..calls {
                        id.call_started(store, true);
                        id.call_finished(store, Outcome::Error, 2_000);
                    }
                });
            }
        });
        id.call_started(store, true);
        let totals = reading(store, id);
        let total = threads * calls;
        assert_eq!(totals.calls(Outcome::Error), total);
        assert_eq!(totals.calls(Outcome::Ok), 0);
        assert_eq!(totals.in_flight(), 1);
        assert_eq!(totals.cumulative_buckets().last(), Some(&total));
        #[allow(clippy::cast_precision_loss)]
        let sum = total as f64 * 2e-6;
        assert!((totals.sum() - sum).abs() < 1e-9);
        id.call_finished(store, Outcome::Ok, 0);
        assert_eq!(reading(store, id).in_flight(), 0);
    }

    #[test]
    fn a_call_finishes_through_its_starting_threads_cells_only_there() {
        let store = store(DURATIONS);
        let id = calls(store, "finishes_anywhere");
        std::thread::scope(|scope| {
            // A thread of its own, so the cells it owns are this test's.
            scope.spawn(|| {
                // Cells of its own from the second write on.
                for _ in 0..2 {
                    id.call_started(store, false).call_finished_anywhere(
                        id,
                        store,
                        Outcome::Ok,
                        10,
                    );
                }
                let started = id.call_started(store, false);
                assert!(matches!(started.cells, Cells::Own(_)));
                assert_eq!(started.thread, thread_number());
                // Finished on another thread: through that thread's cells
                // (or the shared ones), never this one's.
                std::thread::scope(|inner| {
                    inner.spawn(|| {
                        assert_ne!(started.thread, thread_number());
                        started.call_finished_anywhere(id, store, Outcome::Error, 10);
                    });
                });
                // Finished here: through the cells found at the start.
                let here = id.call_started(store, false);
                here.call_finished_anywhere(id, store, Outcome::Ok, 10);
                // A synchronous start never passes for any thread's.
                assert_eq!(id.call_started(store, true).thread, NO_THREAD);
                id.call_finished(store, Outcome::Ok, 10);
            });
        });
        // Both threads exited: their cells are folded into the shared ones.
        let totals = reading(store, id);
        assert_eq!(totals.calls(Outcome::Ok), 4);
        assert_eq!(totals.calls(Outcome::Error), 1);
        assert_eq!(totals.in_flight(), 0);
    }

    #[test]
    fn buckets_are_le() {
        let store = store(DURATIONS);
        let id = calls(store, "buckets_are_le");
        id.call_finished(store, Outcome::Ok, 1_000);
        id.call_finished(store, Outcome::Ok, 1_001);
        let buckets = reading(store, id).cumulative_buckets();
        // 1000 ns is in `le="0.000001"`, 1001 ns in the next bucket.
        assert_eq!(&buckets[..3], &[1, 2, 2]);
    }

    #[test]
    fn bucket_lookup_matches_a_binary_search() {
        let store = store(DURATIONS);
        let mut value = 0_u64;
        while value < 200_000_000_000 {
            for nanos in [value, value + 1, value.saturating_sub(1)] {
                let expected = store
                    .call_bounds_nanos
                    .partition_point(|&bound| bound < nanos);
                assert_eq!(store.call_bucket(nanos), expected, "{nanos} ns");
            }
            value = value * 3 / 2 + 1;
        }
        for bound in store.call_bounds_nanos.iter().copied() {
            let expected = store.call_bounds_nanos.partition_point(|&b| b < bound);
            assert_eq!(store.call_bucket(bound), expected);
            assert_eq!(store.call_bucket(bound + 1), expected + 1);
        }
        assert_eq!(store.call_bucket(u64::MAX), store.call_bounds_nanos.len());
    }

    #[test]
    fn the_same_labels_are_the_same_series() {
        let store = store(DURATIONS);
        let a = calls(store, "same");
        let b = calls(store, "same");
        let c = calls(store, "other");
        assert_eq!(a.index, b.index);
        assert_ne!(a.index, c.index);
    }

    fn spec<'a>(name: &'a str, layout: Layout, bounds: &'a [f64]) -> SeriesSpec<'a> {
        SeriesSpec {
            name,
            layout,
            labels: vec![("k".into(), "v".into())],
            bounds,
            unit: None,
            help: None,
        }
    }

    #[test]
    fn a_name_keeps_its_first_kind() {
        let store = store(DURATIONS);
        assert!(store
            .series(spec("store_kind_test", Layout::Counter, &[]))
            .is_some());
        assert!(store
            .series(spec("store_kind_test", Layout::Gauge, &[]))
            .is_none());
    }

    #[test]
    fn histograms_bucket_by_their_family_bounds_and_sum_floats() {
        let store = store(DURATIONS);
        let h = store
            .series(spec(
                "store_histogram_test",
                Layout::Histogram(3),
                &[1.0, 10.0, 100.0],
            ))
            .unwrap();
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for value in [0.5, 1.0, 5.0, 50.0, 500.0] {
                        h.record(store, value);
                    }
                });
            }
        });
        h.record(store, f64::NAN);
        let totals = reading(store, h);
        assert_eq!(totals.cumulative_buckets(), vec![8, 12, 16, 20]);
        assert!((totals.sum() - 4.0 * 556.5).abs() < 1e-9);
    }

    #[test]
    fn past_its_budget_a_thread_writes_the_shared_cells() {
        let store = store(DURATIONS);
        let series: Vec<Series> = (0..DEFAULT_THREAD_SERIES + 50)
            .map(|i| {
                store
                    .series(spec(&format!("store_budget_{i}"), Layout::Counter, &[]))
                    .unwrap()
            })
            .collect();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                for _ in 0..3 {
                    for s in &series {
                        s.increment(store, 1);
                    }
                }
                let owned = LOCAL.with(|local| local.budget.borrow().owned);
                assert!(owned <= DEFAULT_THREAD_SERIES, "{owned}");
            });
        });
        let reading = store.read();
        for s in &series {
            assert_eq!(reading.series[s.index as usize].count(), 3);
        }
    }

    #[test]
    fn a_series_written_once_takes_none_of_the_budget() {
        let store = store(DURATIONS);
        let once: Vec<Series> = (0..DEFAULT_THREAD_SERIES * 2)
            .map(|i| {
                store
                    .series(spec(&format!("store_once_{i}"), Layout::Counter, &[]))
                    .unwrap()
            })
            .collect();
        let hot = store
            .series(spec("store_once_hot", Layout::Counter, &[]))
            .unwrap();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                for s in &once {
                    s.increment(store, 1);
                }
                let owned = || LOCAL.with(|local| local.budget.borrow().owned);
                hot.increment(store, 1);
                assert_eq!(owned(), 0, "claimed at its first write");
                hot.increment(store, 1);
                assert_eq!(owned(), 1, "not claimed at its second write");
            });
        });
        let reading = store.read();
        assert_eq!(reading.series[hot.index as usize].count(), 2);
        for s in &once {
            assert_eq!(reading.series[s.index as usize].count(), 1);
        }
    }

    #[test]
    fn gauges_are_set_and_moved() {
        let store = store(DURATIONS);
        let g = store
            .series(spec("store_gauge_test", Layout::Gauge, &[]))
            .unwrap();
        g.set(5.0);
        g.add(-1.5);
        assert!((reading(store, g).value() - 3.5).abs() < 1e-12);
    }
}
