//! Where a callsite's metrics go, decided once per callsite and recorder.
//!
//! When alamos's recorder is the `metrics` recorder a thread sees, callsites
//! write alamos's [store](mod@super::store) directly, without the facade's
//! virtual calls. Otherwise they register handles with whatever recorder the
//! facade gives them: a user's own global one, or a thread-local one
//! (`metrics::with_local_recorder`, common in tests).
//!
//! A callsite caches its handles with the address of the recorder they came
//! from, and registers again when the thread's recorder differs: after the
//! program installs a global recorder, or inside a local one. Handles of a
//! local recorder are never cached, since the recorder may be gone at the
//! next call: calls under one register per call, so each local recorder sees
//! its own calls. Telling a local recorder from the global one needs a thread
//! without a local recorder (`metrics` offers no other way); that probe runs
//! once per global recorder and once per local recorder a thread meets, never
//! per call.

use std::cell::Cell;
use std::collections::{BTreeMap, HashSet};
use std::fmt::Display;
use std::ops::Deref;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use metrics::{Counter, Key, Label, Recorder};

use crate::metric::name::{Description, Kind, LABEL_OVERFLOW, OVERFLOW_LABEL_VALUE};
use crate::metric::store::{self, Layout, Series, SeriesSpec, Store};

/// The default of `Builder::max_label_sets`: how many label sets each
/// callsite with labels keeps before further sets fold into the overflow
/// series.
pub const DEFAULT_MAX_LABEL_SETS: usize = 256;

static MAX_LABEL_SETS: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_LABEL_SETS);

/// Caps the label sets each callsite with labels keeps (an instrumented
/// function's `labels(...)`, an instrument's `name = value` labels); calls
/// with further sets are counted in one overflow series whose extra labels
/// read `__overflow__`, and in `alamos_label_overflow_total`.
///
/// Applies to label sets seen from now on.
pub fn set_max_label_sets(max: usize) {
    MAX_LABEL_SETS.store(max, Ordering::Relaxed);
}

/// The address of alamos's recorder once it is the global one; 0 before.
static STORE_RECORDER: AtomicUsize = AtomicUsize::new(0);

/// Records that alamos's recorder, writing `store`, is the global recorder,
/// found at `address`.
pub(crate) fn publish_store_recorder(address: usize) {
    STORE_RECORDER.store(address, Ordering::Release);
    GLOBAL_RECORDER.store(address, Ordering::Release);
}

/// The store, if alamos's recorder is the global one.
pub(crate) fn installed_store() -> Option<&'static Store> {
    if STORE_RECORDER.load(Ordering::Acquire) == 0 {
        None
    } else {
        store::existing()
    }
}

#[inline]
pub(crate) fn recorder_address(recorder: &dyn Recorder) -> usize {
    ptr::from_ref(recorder).cast::<()>() as usize
}

/// The recorder a thread without a local recorder sees, as last probed.
static GLOBAL_RECORDER: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// The last recorder this thread found to be a local one.
    static KNOWN_LOCAL: Cell<usize> = const { Cell::new(0) };
}

/// Whether `address` is the global recorder (or the no-op stand-in used
/// while there is none) rather than a thread-local one.
fn is_global(address: usize) -> bool {
    if address == GLOBAL_RECORDER.load(Ordering::Acquire) {
        return true;
    }
    if KNOWN_LOCAL.try_with(Cell::get).ok() == Some(address) {
        return false;
    }
    let Some(global) = probe_global_recorder() else {
        // Could not tell: treat it as local, which is always correct (only
        // slower: nothing is cached).
        return false;
    };
    if global == address {
        return true;
    }
    let _ = KNOWN_LOCAL.try_with(|known| known.set(address));
    false
}

thread_local! {
    /// How many times this thread ran [`probe_global_recorder`]. Per
    /// thread, so that a test counting its own calls' probes is not
    /// disturbed by tests running beside it.
    static PROBES: Cell<usize> = const { Cell::new(0) };
}

/// How many probe threads the current thread started so far: for tests
/// that check no call starts one.
pub(crate) fn probes() -> usize {
    PROBES.try_with(Cell::get).unwrap_or(0)
}

/// The address of the global recorder, asked of a fresh thread, which has
/// no local recorder.
pub(crate) fn probe_global_recorder() -> Option<usize> {
    let _ = PROBES.try_with(|probes| probes.set(probes.get() + 1));
    let global = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("alamos-recorder-probe".into())
            .spawn_scoped(scope, || metrics::with_recorder(recorder_address))
            .ok()
            .and_then(|probe| probe.join().ok())
    })?;
    GLOBAL_RECORDER.store(global, Ordering::Release);
    Some(global)
}

/// Names already described to the global recorder at this address.
static DESCRIBED: Mutex<(usize, Option<HashSet<&'static str>>)> = Mutex::new((0, None));

/// Where a callsite registers: alamos's store, or a facade recorder.
pub(crate) enum Target<'a> {
    Store(&'static Store),
    Facade {
        recorder: &'a dyn Recorder,
        address: usize,
        global: bool,
    },
}

impl Target<'_> {
    /// Sends `describe_*` for `description` unless the global recorder
    /// already has it; a local recorder is told every time, since another
    /// local recorder may live at the same address later.
    pub(crate) fn describe(&self, description: &Description) {
        let Target::Facade {
            recorder,
            address,
            global,
        } = self
        else {
            return;
        };
        if *global {
            let mut described = DESCRIBED.lock().unwrap_or_else(PoisonError::into_inner);
            if described.0 != *address {
                *described = (*address, Some(HashSet::new()));
            }
            if !described
                .1
                .get_or_insert_with(HashSet::new)
                .insert(description.name)
            {
                return;
            }
        }
        let unit = description.unit.map(crate::metric::name::Unit::to_metrics);
        let help = description.help.into();
        let name = description.name.into();
        match description.kind {
            Kind::Counter => recorder.describe_counter(name, unit, help),
            Kind::Gauge => recorder.describe_gauge(name, unit, help),
            Kind::Histogram => recorder.describe_histogram(name, unit, help),
        }
    }
}

/// `metrics` metadata for handles registered by alamos.
pub(crate) fn metadata() -> metrics::Metadata<'static> {
    metrics::Metadata::new(module_path!(), metrics::Level::INFO, None)
}

/// A counter registered on a target: the store's, or a facade handle.
#[derive(Debug)]
pub(crate) enum CounterHandle {
    Store(Series, &'static Store),
    Facade(Counter),
}

impl CounterHandle {
    /// Registers `description` (a counter) with `labels` on `target`.
    pub(crate) fn register(
        target: &Target<'_>,
        description: &Description,
        labels: &[(&'static str, String)],
    ) -> CounterHandle {
        match target {
            Target::Store(store) => store
                .series(SeriesSpec {
                    name: description.name,
                    layout: Layout::Counter,
                    labels: owned_labels(labels),
                    bounds: &[],
                    unit: description.unit,
                    help: Some(description.help),
                })
                .map_or(CounterHandle::Facade(Counter::noop()), |series| {
                    CounterHandle::Store(series, store)
                }),
            Target::Facade { recorder, .. } => {
                target.describe(description);
                CounterHandle::Facade(
                    recorder.register_counter(&facade_key(description.name, labels), &metadata()),
                )
            }
        }
    }

    pub(crate) fn increment(&self, delta: u64) {
        match self {
            CounterHandle::Store(series, store) => series.increment(store, delta),
            CounterHandle::Facade(counter) => counter.increment(delta),
        }
    }
}

/// Label pairs as the store keeps them.
pub(crate) fn owned_labels(labels: &[(&'static str, String)]) -> Vec<(String, String)> {
    labels
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.clone()))
        .collect()
}

/// A facade key for `name` with `labels`.
pub(crate) fn facade_key(name: &'static str, labels: &[(&'static str, String)]) -> Key {
    let labels: Vec<Label> = labels
        .iter()
        .map(|(name, value)| Label::new(*name, value.clone()))
        .collect();
    Key::from_parts(name, labels)
}

/// What a callsite registers on a target: its handles for a set of extra
/// label values, and how its overflow counter is labelled.
pub(crate) trait Register {
    type Handles;

    /// The handles of the series with these extra labels (those of the
    /// callsite's own label names, in order; none for an unlabelled one).
    fn register(&self, target: &Target<'_>, extra: &[(&'static str, String)]) -> Self::Handles;

    /// The labels of the callsite's series of `alamos_label_overflow_total`.
    fn overflow_labels(&self) -> Vec<(&'static str, String)>;
}

/// Handles of one callsite: cached for the process, shared by the calls
/// with one label set, or owned by one call under a local recorder.
///
/// A call holds one from start to finish. Dropping the cached kind, the
/// common one, must cost a compare, not a call into drop glue for `Arc` and
/// `Box`: hence the pointer and the owner's kind kept apart. The owner is
/// the pointer itself (from `Arc::into_raw` or `Box::into_raw`), so a
/// `HandleRef` is two words, not three: a tower request moves its call
/// state several times.
pub(crate) struct HandleRef<H: 'static> {
    handles: NonNull<H>,
    owner: Owner,
}

/// What keeps the handles alive: nothing (leaked), an `Arc` or a `Box`
/// whose raw pointer is `handles`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Owner {
    Cached,
    /// From `Arc::into_raw`, one strong count released by `release`.
    Shared,
    /// From `Box::into_raw`, freed by `release`. Not a `Box`: moving a
    /// `Box` asserts it is the only pointer to its value, which `handles`
    /// is not (Miri found the `Box` form undefined behaviour).
    Owned,
}

// SAFETY: a `HandleRef` is a `&H` that may own its referent (through an
// `Arc<H>` or a `Box<H>`), so it may cross threads when `&H` and `H` may.
unsafe impl<H: Send + Sync> Send for HandleRef<H> {}
// SAFETY: as for `Send`; `&HandleRef` only hands out `&H`.
unsafe impl<H: Send + Sync> Sync for HandleRef<H> {}

impl<H> HandleRef<H> {
    pub(crate) fn cached(handles: &'static H) -> Self {
        HandleRef {
            handles: NonNull::from(handles),
            owner: Owner::Cached,
        }
    }

    pub(crate) fn shared(handles: Arc<H>) -> Self {
        // SAFETY: `Arc::into_raw` never returns null.
        let handles = unsafe { NonNull::new_unchecked(Arc::into_raw(handles).cast_mut()) };
        HandleRef {
            handles,
            owner: Owner::Shared,
        }
    }

    pub(crate) fn owned(handles: Box<H>) -> Self {
        HandleRef {
            handles: NonNull::from(Box::leak(handles)),
            owner: Owner::Owned,
        }
    }
}

impl<H> Deref for HandleRef<H> {
    type Target = H;
    #[inline(always)]
    fn deref(&self) -> &H {
        // SAFETY: `handles` points to a leaked (`'static`) value or to the
        // heap allocation `owner` says it holds, which lives as long as
        // `self`.
        unsafe { self.handles.as_ref() }
    }
}

impl<H> Drop for HandleRef<H> {
    #[inline(always)]
    fn drop(&mut self) {
        if self.owner != Owner::Cached {
            release(self.handles, self.owner);
        }
    }
}

#[cold]
#[inline(never)]
fn release<H>(handles: NonNull<H>, owner: Owner) {
    match owner {
        Owner::Cached => {}
        // SAFETY: from `Arc::into_raw` in `HandleRef::shared`; its count
        // is released once, here, as the `HandleRef` holding it is dropped.
        Owner::Shared => drop(unsafe { Arc::from_raw(handles.as_ptr().cast_const()) }),
        // SAFETY: made by `Box::leak` in `HandleRef::owned`, freed once,
        // here; `handles`, the only pointer to it, dies with the
        // `HandleRef` being dropped.
        Owner::Owned => drop(unsafe { Box::from_raw(handles.as_ptr()) }),
    }
}

impl<H> std::fmt::Debug for HandleRef<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.owner {
            Owner::Cached => "cached",
            Owner::Shared => "shared",
            Owner::Owned => "owned",
        };
        f.debug_tuple("HandleRef").field(&kind).finish()
    }
}

struct Cached<H> {
    recorder: usize,
    handles: H,
}

/// A callsite's cached handles and the recorder they came from.
pub(crate) struct HandleCache<H>(AtomicPtr<Cached<H>>);

impl<H> std::fmt::Debug for HandleCache<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.load(Ordering::Relaxed).is_null() {
            "HandleCache(empty)"
        } else {
            "HandleCache(registered)"
        })
    }
}

impl<H: Send + Sync + 'static> HandleCache<H> {
    pub(crate) const fn new() -> Self {
        HandleCache(AtomicPtr::new(ptr::null_mut()))
    }

    /// The handles for the calling thread's recorder.
    #[inline]
    pub(crate) fn get<R: Register<Handles = H>>(&self, callsite: &R) -> HandleRef<H> {
        // Only the address is taken under `with_recorder`, so that its
        // thread-local access inlines here; `refresh` asks again.
        let address = metrics::with_recorder(recorder_address);
        let cached = self.0.load(Ordering::Acquire);
        // SAFETY: a non-null pointer was published by `refresh` from a
        // leaked box, which is never freed.
        match unsafe { cached.as_ref() } {
            Some(cached) if cached.recorder == address => HandleRef::cached(&cached.handles),
            _ => self.refresh(callsite),
        }
    }

    /// The handles for the calling thread's recorder when they are cached
    /// (the common case), else `None`, for [`HandleCache::get`]'s slow path.
    /// A caller that tries this first keeps the cached handles in
    /// registers: one path that may also return an owned [`HandleRef`]
    /// built it on the stack and copied it about.
    #[inline(always)]
    pub(crate) fn cached(&self) -> Option<&'static H> {
        let address = metrics::with_recorder(recorder_address);
        let cached = self.0.load(Ordering::Acquire);
        // SAFETY: as in `get`; leaked, so `'static`.
        match unsafe { cached.as_ref() } {
            Some(cached) if cached.recorder == address => Some(&cached.handles),
            _ => None,
        }
    }

    /// Runs `f` on the handles for the calling thread's recorder: for an
    /// update made on the spot, this builds no [`HandleRef`] to drop.
    #[inline]
    pub(crate) fn with<R: Register<Handles = H>, T>(
        &self,
        callsite: &R,
        f: impl FnOnce(&H) -> T,
    ) -> T {
        let address = metrics::with_recorder(recorder_address);
        let cached = self.0.load(Ordering::Acquire);
        // SAFETY: as in `get`.
        match unsafe { cached.as_ref() } {
            Some(cached) if cached.recorder == address => f(&cached.handles),
            _ => f(&self.refresh(callsite)),
        }
    }

    /// Registers with alamos's store now, if it is installed, rather than at
    /// the first call, so the callsite's series exist from start-up.
    pub(crate) fn preregister<R: Register<Handles = H>>(&self, callsite: &R) {
        let address = STORE_RECORDER.load(Ordering::Acquire);
        let Some(store) = installed_store() else {
            return;
        };
        // SAFETY: as in `get`.
        if unsafe { self.0.load(Ordering::Acquire).as_ref() }.is_some_and(|c| c.recorder == address)
        {
            return;
        }
        let handles = callsite.register(&Target::Store(store), &[]);
        self.publish(address, handles);
    }

    #[cold]
    #[inline(never)]
    fn refresh<R: Register<Handles = H>>(&self, callsite: &R) -> HandleRef<H> {
        metrics::with_recorder(|recorder| {
            let address = recorder_address(recorder);
            let target = target(recorder, address);
            let global = match &target {
                Target::Store(_) => true,
                Target::Facade { global, .. } => *global,
            };
            let handles = callsite.register(&target, &[]);
            if global {
                HandleRef::cached(self.publish(address, handles))
            } else {
                HandleRef::owned(Box::new(handles))
            }
        })
    }

    fn publish(&self, recorder: usize, handles: H) -> &'static H {
        // Leaked on purpose: calls in progress may still hold the previous
        // handles. A callsite caches at most a few times (the no-op
        // recorder, then the global one, which is set once), so the leak is
        // bounded.
        let cached = Box::leak(Box::new(Cached { recorder, handles }));
        self.0.store(cached, Ordering::Release);
        &cached.handles
    }
}

/// The target for the recorder at `address`.
fn target(recorder: &dyn Recorder, address: usize) -> Target<'_> {
    if address == STORE_RECORDER.load(Ordering::Acquire) {
        if let Some(store) = store::existing() {
            return Target::Store(store);
        }
    }
    Target::Facade {
        recorder,
        address,
        global: is_global(address),
    }
}

/// The handles of a callsite with labels, one entry per label set seen, up
/// to the cap, plus the overflow series.
pub(crate) struct LabelSets<H> {
    names: &'static [&'static str],
    state: RwLock<LabelState<H>>,
}

impl<H> std::fmt::Debug for LabelSets<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabelSets")
            .field("names", &self.names)
            .finish_non_exhaustive()
    }
}

struct LabelState<H> {
    recorder: usize,
    sets: BTreeMap<Vec<String>, Arc<H>>,
    overflow: Option<Overflow<H>>,
}

/// The series every label set past the cap folds into, and the counter of
/// the calls that did.
struct Overflow<H> {
    handles: Arc<H>,
    hits: CounterHandle,
}

impl<H> Overflow<H> {
    /// Counts one more overflowing call and hands out the overflow series.
    fn hit(&self) -> HandleRef<H> {
        self.hits.increment(1);
        HandleRef::shared(Arc::clone(&self.handles))
    }
}

impl<H: Send + Sync + 'static> LabelSets<H> {
    pub(crate) const fn new(names: &'static [&'static str]) -> Self {
        LabelSets {
            names,
            state: RwLock::new(LabelState {
                recorder: 0,
                sets: BTreeMap::new(),
                overflow: None,
            }),
        }
    }

    /// The label names, in the order values are given.
    pub(crate) fn names(&self) -> &'static [&'static str] {
        self.names
    }

    /// The handles for these label values on the calling thread's recorder.
    pub(crate) fn get<R: Register<Handles = H>>(
        &self,
        callsite: &R,
        values: &[&dyn Display],
    ) -> HandleRef<H> {
        let values: Vec<String> = values.iter().map(ToString::to_string).collect();
        metrics::with_recorder(|recorder| {
            let address = recorder_address(recorder);
            let target = target(recorder, address);
            if let Target::Facade { global: false, .. } = target {
                return HandleRef::owned(Box::new(
                    callsite.register(&target, &self.labels(&values)),
                ));
            }
            {
                let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
                if state.recorder == address {
                    if let Some(handles) = state.sets.get(&values) {
                        return HandleRef::shared(Arc::clone(handles));
                    }
                    // Past the cap, every new label set overflows: no need
                    // to wait for the write lock.
                    if let Some(overflow) = &state.overflow {
                        if state.sets.len() >= MAX_LABEL_SETS.load(Ordering::Relaxed) {
                            return overflow.hit();
                        }
                    }
                }
            }
            let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
            if state.recorder != address {
                state.recorder = address;
                state.sets.clear();
                state.overflow = None;
            }
            if let Some(handles) = state.sets.get(&values) {
                return HandleRef::shared(Arc::clone(handles));
            }
            if state.sets.len() < MAX_LABEL_SETS.load(Ordering::Relaxed) {
                let handles = Arc::new(callsite.register(&target, &self.labels(&values)));
                state.sets.insert(values, Arc::clone(&handles));
                return HandleRef::shared(handles);
            }
            let overflow = state.overflow.get_or_insert_with(|| {
                let labels: Vec<(&'static str, String)> = self
                    .names
                    .iter()
                    .map(|name| (*name, OVERFLOW_LABEL_VALUE.to_owned()))
                    .collect();
                Overflow {
                    handles: Arc::new(callsite.register(&target, &labels)),
                    hits: CounterHandle::register(
                        &target,
                        &LABEL_OVERFLOW,
                        &callsite.overflow_labels(),
                    ),
                }
            });
            overflow.hit()
        })
    }

    fn labels(&self, values: &[String]) -> Vec<(&'static str, String)> {
        self.names
            .iter()
            .copied()
            .zip(values.iter().cloned())
            .collect()
    }
}

/// A recorder for unit tests that keeps counter totals by series and
/// ignores gauges and histograms; small enough for Miri, unlike
/// `metrics-util`'s, whose histogram storage (crossbeam-epoch) Miri rejects.
#[cfg(test)]
#[derive(Default)]
pub(crate) struct Tally(Mutex<BTreeMap<String, Arc<std::sync::atomic::AtomicU64>>>);

#[cfg(test)]
impl Tally {
    /// The total of the counter written `name{label="value",...}`, labels
    /// in registration order.
    pub(crate) fn counter(&self, series: &str) -> u64 {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(series)
            .map_or(0, |total| total.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
impl Recorder for Tally {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn register_counter(&self, key: &Key, _: &metrics::Metadata<'_>) -> Counter {
        let labels: Vec<String> = key
            .labels()
            .map(|label| format!("{}=\"{}\"", label.key(), label.value()))
            .collect();
        let series = format!("{}{{{}}}", key.name(), labels.join(","));
        let mut totals = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        Counter::from_arc(Arc::clone(totals.entry(series).or_default()))
    }
    fn register_gauge(&self, _: &Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }
    fn register_histogram(&self, _: &Key, _: &metrics::Metadata<'_>) -> metrics::Histogram {
        metrics::Histogram::noop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// A callsite whose handles are its label values, counting its
    /// registrations.
    struct Counting {
        registered: AtomicUsize,
    }

    impl Register for Counting {
        type Handles = Vec<String>;

        fn register(&self, _: &Target<'_>, extra: &[(&'static str, String)]) -> Vec<String> {
            self.registered.fetch_add(1, Ordering::Relaxed);
            extra.iter().map(|(_, value)| value.clone()).collect()
        }

        fn overflow_labels(&self) -> Vec<(&'static str, String)> {
            vec![("metric", "sink_test".to_owned())]
        }
    }

    fn counting() -> Counting {
        Counting {
            registered: AtomicUsize::new(0),
        }
    }

    #[test]
    fn a_handle_ref_reads_its_handles_wherever_it_moves_and_frees_its_owner() {
        static CACHED: [u32; 3] = [1, 2, 3];
        let shared = Arc::new(vec![4_u32, 5]);
        let refs = [
            HandleRef::cached(&CACHED),
            HandleRef::shared(Arc::new([4_u32, 5, 0])),
            HandleRef::owned(Box::new([6_u32, 7, 8])),
        ];
        let sums: Vec<u32> = std::thread::scope(|scope| {
            // Moved into another thread and read there.
            scope
                .spawn(move || refs.iter().map(|r| r.iter().sum()).collect())
                .join()
                .unwrap()
        });
        assert_eq!(sums, [6, 9, 21]);

        let one = HandleRef::shared(Arc::clone(&shared));
        let moved = Box::new(one);
        assert_eq!(moved.len(), 2);
        assert_eq!(Arc::strong_count(&shared), 2);
        drop(moved);
        assert_eq!(Arc::strong_count(&shared), 1);
        assert_eq!(
            format!("{:?}", HandleRef::cached(&CACHED)),
            "HandleRef(\"cached\")"
        );
    }

    #[test]
    fn a_cache_registers_once_per_global_recorder_and_per_call_under_a_local_one() {
        // A static, as every callsite's is: what it caches is leaked on
        // purpose and stays reachable from here.
        static CACHE: HandleCache<Vec<String>> = HandleCache::new();
        let cache = &CACHE;
        let callsite = counting();
        // No global recorder in this test binary: the no-op one is cached.
        for _ in 0..3 {
            let handles = cache.get(&callsite);
            assert!(handles.is_empty());
            cache.with(&callsite, |handles| assert!(handles.is_empty()));
        }
        assert_eq!(callsite.registered.load(Ordering::Relaxed), 1);

        let recorder = Tally::default();
        metrics::with_local_recorder(&recorder, || {
            for _ in 0..3 {
                let handles = cache.get(&callsite);
                assert!(handles.is_empty());
                drop(handles);
            }
        });
        // A local recorder may be gone at the next call: nothing cached.
        assert_eq!(callsite.registered.load(Ordering::Relaxed), 4);
        let _ = cache.get(&callsite);
        assert_eq!(callsite.registered.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn label_sets_share_handles_up_to_the_cap_then_overflow() {
        static NAMES: [&str; 1] = ["shard"];
        let callsite = counting();
        let sets: LabelSets<Vec<String>> = LabelSets::new(&NAMES);
        let max = MAX_LABEL_SETS.load(Ordering::Relaxed);
        let count = if cfg!(miri) { 3 } else { max + 5 };
        let handles: Vec<HandleRef<Vec<String>>> = (0..count)
            .flat_map(|shard| [shard, shard])
            .map(|shard| sets.get(&callsite, &[&shard]))
            .collect();
        for (i, handles) in handles.iter().enumerate() {
            let shard = i / 2;
            let expected = if shard < max {
                shard.to_string()
            } else {
                OVERFLOW_LABEL_VALUE.to_owned()
            };
            assert_eq!(handles.as_slice(), [expected]);
        }
        // One registration per label set, one for the overflow series.
        let overflowed = usize::from(count > max);
        assert_eq!(
            callsite.registered.load(Ordering::Relaxed),
            count.min(max) + overflowed
        );
        drop(handles);
    }
}
