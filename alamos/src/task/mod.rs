//! Tasks: long-running work registered under an experiment key (seed
//! §3.0.0: the goroutines a server starts, whose state matters most on
//! start-up, shutdown and failure).
//!
//! # Runs and restarts
//!
//! A task is its key. [`spawn`] runs a closure on a new thread and [`task`]
//! wraps a future for any executor; each is one *run* of the task. A run is
//! `running` until it ends `finished`, `failed` (it returned `Err`),
//! `panicked` or `cancelled` (its future was dropped before completing).
//! Starting the same key again is a restart: the task's start time becomes
//! the new run's and its restart count grows. Runs of one key at the same
//! time (a pool of workers) are counted: the task is `running` while any is.
//!
//! # What is recorded
//!
//! State is kept for every task, whatever the thresholds, so [`tasks()`] and
//! the report of tasks still running when `alamos::Guard` drops always tell
//! the truth. Each run's `tracing` span (named by the key, a child of the span
//! current where the run was started, at level `prod`) and the metrics
//! `alamos_tasks{experiment, state}` and
//! `alamos_task_restarts_total{experiment}` (sampled when metrics are read,
//! like [`observe`](crate::observe)) obey the key's threshold. Nothing of the
//! closure's or future's output is recorded, only whether it was an `Err`.
//!
//! A state change takes one lock; nothing is added to instrumented calls.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use tracing::Span;

#[cfg(feature = "runtime")]
use std::fmt::Write as _;

#[cfg(feature = "runtime")]
use crate::json::{self, Members};
use crate::metric::name::{TASKS, TASKS_HELP, TASK_RESTARTS_HELP, TASK_RESTARTS_TOTAL};
use crate::metric::observe::{Observer, Watch};

mod polls;
mod site;

use self::polls::{PollTotals, Waking};
use self::site::{site, Site};

/// The state of a task: of its runs in progress, or else of its latest run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum TaskState {
    /// A run is in progress.
    Running,
    /// The latest run returned (anything but an `Err`).
    Finished,
    /// The latest run returned an `Err`.
    Failed,
    /// The latest run panicked.
    Panicked,
    /// The latest run's future was dropped before it completed.
    Cancelled,
}

impl TaskState {
    /// Every state, in the order exporters list them.
    pub const ALL: [TaskState; 5] = [
        TaskState::Running,
        TaskState::Finished,
        TaskState::Failed,
        TaskState::Panicked,
        TaskState::Cancelled,
    ];

    /// The lowercase name, as the `state` label has it: `running`,
    /// `finished`, `failed`, `panicked` or `cancelled`.
    pub const fn as_str(self) -> &'static str {
        match self {
            TaskState::Running => "running",
            TaskState::Finished => "finished",
            TaskState::Failed => "failed",
            TaskState::Panicked => "panicked",
            TaskState::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// What a task's closure or future returns: whether the run failed.
///
/// Implemented for `()`, for `Result<T, E>` (an `Err` is a failure) and for
/// [`std::convert::Infallible`]; implement it for an output of your own.
///
/// ```
/// struct Exit(i32);
///
/// impl alamos::TaskOutput for Exit {
///     fn is_failure(&self) -> bool {
///         self.0 != 0
///     }
/// }
///
/// let worker = alamos::spawn("storage.worker", || Exit(0));
/// assert_eq!(worker.join().unwrap().0, 0);
/// ```
pub trait TaskOutput {
    /// Whether the run that returned this failed.
    fn is_failure(&self) -> bool;
}

impl TaskOutput for () {
    fn is_failure(&self) -> bool {
        false
    }
}

impl<T, E> TaskOutput for Result<T, E> {
    fn is_failure(&self) -> bool {
        self.is_err()
    }
}

impl TaskOutput for std::convert::Infallible {
    fn is_failure(&self) -> bool {
        match *self {}
    }
}

/// One task, as [`tasks()`] lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskInfo {
    key: &'static str,
    state: TaskState,
    running: usize,
    restarts: u64,
    started_at: SystemTime,
    changed_at: SystemTime,
    age: Duration,
    polls: PollTotals,
}

impl TaskInfo {
    /// The task's experiment key.
    pub fn key(&self) -> &'static str {
        self.key
    }

    /// `running` while a run is in progress, else how the latest run ended.
    pub fn state(&self) -> TaskState {
        self.state
    }

    /// How many runs are in progress.
    pub fn running(&self) -> usize {
        self.running
    }

    /// How many times the key was started again after its first run.
    pub fn restarts(&self) -> u64 {
        self.restarts
    }

    /// When the latest run started (wall clock).
    pub fn started_at(&self) -> SystemTime {
        self.started_at
    }

    /// When a run of the task last started or ended (wall clock).
    pub fn changed_at(&self) -> SystemTime {
        self.changed_at
    }

    /// How long the oldest run in progress has been running; without one,
    /// the time since the latest run started. Measured on the monotonic clock.
    pub fn age(&self) -> Duration {
        self.age
    }

    /// How many times the futures of this key's runs ([`task`]) were polled,
    /// over every run while its threshold enabled it; 0 for threads
    /// ([`spawn`]).
    pub fn polls(&self) -> u64 {
        self.polls.polls
    }

    /// How long those polls ran, in all.
    pub fn busy(&self) -> Duration {
        Duration::from_nanos(self.polls.busy_nanos)
    }

    /// The mean time from a wake to the poll that followed it, `None` before
    /// the first such poll. A long delay means the executor had other work
    /// (or a blocking call) when the task was ready to run.
    pub fn mean_scheduled_delay(&self) -> Option<Duration> {
        (self.polls.delays > 0)
            .then(|| Duration::from_nanos(self.polls.delay_nanos / self.polls.delays))
    }

    /// The task as a JSON object.
    #[cfg(feature = "runtime")]
    pub(crate) fn json(&self) -> String {
        let mut members = Members::default();
        members.str("key", self.key);
        members.str("state", self.state.as_str());
        members.raw("running", &self.running.to_string());
        members.raw("restarts", &self.restarts.to_string());
        let mut started = String::new();
        let _ = json::timestamp(&mut started, self.started_at);
        members.raw("started_at", &started);
        let mut changed = String::new();
        let _ = json::timestamp(&mut changed, self.changed_at);
        members.raw("changed_at", &changed);
        members.raw("polls", &self.polls.polls.to_string());
        members.float("busy_seconds", self.busy().as_secs_f64());
        match self.mean_scheduled_delay() {
            Some(delay) => members.float("mean_scheduled_delay_seconds", delay.as_secs_f64()),
            None => members.raw("mean_scheduled_delay_seconds", "null"),
        }
        members.float("age_seconds", self.age.as_secs_f64());
        format!("{{{}}}", members.as_str())
    }
}

/// Runs `f` on a new thread as a run of the task `key`, and returns its
/// handle, as [`std::thread::spawn`] does.
///
/// The thread is named after the key. Its span is a child of the span
/// current here, so a trace follows the work onto the thread. When `f`
/// returns, the run is `finished`, or `failed` if it returned an `Err`; if
/// it panics, the run is `panicked` and the panic reaches
/// [`JoinHandle::join`] as it would without alamos.
///
/// ```
/// let compaction = alamos::spawn("storage.compaction", || -> Result<(), String> {
///     // ... compact, until told to stop
///     Ok(())
/// });
/// compaction.join().unwrap().unwrap();
/// let task = alamos::tasks().into_iter().find(|t| t.key() == "storage.compaction").unwrap();
/// assert_eq!(task.state(), alamos::TaskState::Finished);
/// ```
///
/// A malformed key is reported on stderr and `f` still runs, untracked.
///
/// # Panics
///
/// If the operating system cannot create a thread, as
/// [`std::thread::spawn`] does.
pub fn spawn<F, R>(key: &'static str, f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: TaskOutput + Send + 'static,
{
    let run = Run::start(key);
    let span = run.as_ref().map_or_else(Span::none, Run::span);
    std::thread::Builder::new()
        .name(key.to_owned())
        .spawn(move || {
            let _entered = span.enter();
            // Dropped while unwinding if `f` panics: the run is `panicked`.
            let run = run;
            let output = f();
            if let Some(run) = run {
                run.end(output.is_failure());
            }
            output
        })
        // Mirrors `std::thread::spawn`; the run, dropped with the closure,
        // ends `cancelled`.
        .unwrap_or_else(|err| panic!("failed to spawn thread for task {key:?}: {err}"))
}

/// Wraps `future` as a run of the task `key`, for the caller to spawn on any
/// executor (`tokio::spawn(alamos::task("distribution.gossip", gossip()))`)
/// or to await.
///
/// The run starts now; its span is a child of the span current here and is
/// entered for every poll. When the future completes, the run is
/// `finished`, or `failed` if it returned an `Err`; if a poll panics, it is
/// `panicked` (the panic propagates as it would without alamos); if the
/// future is dropped before completing, `cancelled`.
///
/// ```
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     struct Noop;
/// #     impl std::task::Wake for Noop { fn wake(self: std::sync::Arc<Self>) {} }
/// #     let waker = std::task::Waker::from(std::sync::Arc::new(Noop));
/// #     let mut f = std::pin::pin!(f);
/// #     loop {
/// #         let mut cx = std::task::Context::from_waker(&waker);
/// #         if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; }
/// #     }
/// # }
/// let gossip = alamos::task("distribution.gossip", async { Ok::<_, String>(3) });
/// assert_eq!(block_on(gossip), Ok(3));
/// ```
///
/// A malformed key is reported on stderr and the future runs untracked.
pub fn task<F>(key: &'static str, future: F) -> TaskFuture<F>
where
    F: Future,
    F::Output: TaskOutput,
{
    let run = Run::start(key);
    let span = run.as_ref().map_or_else(Span::none, Run::span);
    TaskFuture {
        future,
        span,
        run,
        waking: None,
    }
}

pin_project_lite::pin_project! {
    /// A future run as a task; see [`task`].
    #[must_use = "futures do nothing unless polled; dropped unpolled, the run is cancelled"]
    pub struct TaskFuture<F> {
        #[pin]
        future: F,
        span: Span,
        // Dropped after the future: a run still here ends `cancelled`.
        run: Option<Run>,
        // Made at the first measured poll (see `polls`).
        waking: Option<Waking>,
    }
}

impl<F> Future for TaskFuture<F>
where
    F: Future,
    F::Output: TaskOutput,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let polls = this
            .run
            .as_ref()
            .map(|run| run.site.polls)
            .filter(|polls| polls.is_enabled());
        // An executor that catches a panic drops the future later, when the
        // thread no longer panics: the run must end while it unwinds.
        let unwinding = EndOnUnwind(this.run);
        let poll = match polls {
            None => this.future.poll(cx),
            Some(polls) => {
                let waking = this.waking.get_or_insert_with(|| Waking::new(cx));
                let woken = waking.before_poll(cx);
                let start = crate::clock::now();
                let poll = this.future.poll(&mut Context::from_waker(waking.waker()));
                polls.record(woken, start, crate::clock::now());
                poll
            }
        };
        if let Poll::Ready(output) = &poll {
            if let Some(run) = unwinding.0.take() {
                run.end(output.is_failure());
            }
        }
        poll
    }
}

impl<F> fmt::Debug for TaskFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskFuture")
            .field("key", &self.run.as_ref().map(|run| run.key))
            .finish_non_exhaustive()
    }
}

struct EndOnUnwind<'a>(&'a mut Option<Run>);

impl Drop for EndOnUnwind<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Run's drop sees the panic.
            self.0.take();
        }
    }
}

/// Every task started so far, sorted by key.
///
/// ```
/// let worker = alamos::spawn("storage.flush", || ());
/// worker.join().unwrap();
/// let flush = alamos::tasks().into_iter().find(|t| t.key() == "storage.flush").unwrap();
/// assert_eq!(flush.state(), alamos::TaskState::Finished);
/// assert_eq!(flush.running(), 0);
/// ```
pub fn tasks() -> Vec<TaskInfo> {
    let now = Instant::now();
    registry().values().map(|entry| entry.info(now)).collect()
}

/// The tasks with a run in progress.
#[cfg(feature = "runtime")]
pub(crate) fn running() -> Vec<TaskInfo> {
    tasks()
        .into_iter()
        .filter(|task| task.running > 0)
        .collect()
}

/// Writes the tasks still running to stderr, by key and age: what is stuck
/// when the program shuts down.
#[cfg(feature = "runtime")]
pub(crate) fn report_running_at_shutdown() {
    let running = running();
    if running.is_empty() {
        return;
    }
    let mut text = format!(
        "alamos: {} task{} still running at shutdown:\n",
        running.len(),
        if running.len() == 1 { "" } else { "s" }
    );
    let width = running.iter().map(|task| task.key.len()).max().unwrap_or(0);
    for task in &running {
        let mut since = String::new();
        let _ = json::timestamp(&mut since, task.started_at);
        let runs = if task.running == 1 {
            String::new()
        } else {
            format!(", {} runs", task.running)
        };
        let _ = writeln!(
            text,
            "alamos:   {:<width$}  running for {} (latest run started {}, {} restart{}{runs})",
            task.key,
            age(task.age),
            since.trim_matches('"'),
            task.restarts,
            if task.restarts == 1 { "" } else { "s" },
        );
    }
    eprint!("{text}");
}

/// A duration for people: `850 ms`, `12.3 s`, `4 min 05 s`, `2 h 07 min`.
pub(crate) fn age(duration: Duration) -> String {
    let seconds = duration.as_secs_f64();
    if seconds < 1.0 {
        format!("{} ms", duration.as_millis())
    } else if seconds < 60.0 {
        format!("{seconds:.1} s")
    } else if seconds < 3600.0 {
        let whole = duration.as_secs();
        format!("{} min {:02} s", whole / 60, whole % 60)
    } else {
        let whole = duration.as_secs();
        format!("{} h {:02} min", whole / 3600, whole / 60 % 60)
    }
}

/// The tasks of every key, as the tree view shows them.
pub(crate) fn by_key() -> BTreeMap<&'static str, TaskInfo> {
    tasks().into_iter().map(|task| (task.key, task)).collect()
}

// ------------------------------------------------------------- registry --

struct Entry {
    key: &'static str,
    starts: u64,
    live: Vec<LiveRun>,
    latest_start: (Instant, SystemTime),
    ended: Option<TaskState>,
    changed_at: SystemTime,
    site: &'static Site,
}

struct LiveRun {
    id: u64,
    started: Instant,
}

impl Entry {
    fn state(&self) -> TaskState {
        if self.live.is_empty() {
            self.ended.unwrap_or(TaskState::Finished)
        } else {
            TaskState::Running
        }
    }

    fn info(&self, now: Instant) -> TaskInfo {
        let oldest = self
            .live
            .iter()
            .map(|run| run.started)
            .min()
            .unwrap_or(self.latest_start.0);
        TaskInfo {
            key: self.key,
            state: self.state(),
            running: self.live.len(),
            restarts: self.starts.saturating_sub(1),
            started_at: self.latest_start.1,
            changed_at: self.changed_at,
            age: now.saturating_duration_since(oldest),
            polls: self.site.polls.totals(),
        }
    }

    /// The value of `alamos_tasks{state}`: the runs in progress, or 1 for
    /// the state the latest run ended in.
    fn count(&self, state: TaskState) -> usize {
        match state {
            TaskState::Running => self.live.len(),
            _ => usize::from(self.live.is_empty() && self.ended == Some(state)),
        }
    }
}

static REGISTRY: Mutex<BTreeMap<&'static str, Entry>> = Mutex::new(BTreeMap::new());
static NEXT_RUN: AtomicU64 = AtomicU64::new(1);

fn registry() -> MutexGuard<'static, BTreeMap<&'static str, Entry>> {
    // Nothing panics while holding the lock; a poisoned map is consistent.
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One run in progress; ends `panicked` if dropped while the thread
/// unwinds, else `cancelled`, unless [`Run::end`] ended it.
struct Run {
    key: &'static str,
    id: u64,
    restarts: u64,
    site: &'static Site,
}

impl Run {
    /// Starts a run of `key`; `None` (reported on stderr) if the key is
    /// malformed.
    fn start(key: &'static str) -> Option<Run> {
        let site = site(key)?;
        let now = (Instant::now(), SystemTime::now());
        let id = NEXT_RUN.fetch_add(1, Ordering::Relaxed);
        let mut registry = registry();
        let entry = registry.entry(key).or_insert(Entry {
            key,
            starts: 0,
            live: Vec::new(),
            latest_start: now,
            ended: None,
            changed_at: now.1,
            site,
        });
        entry.starts += 1;
        entry.live.push(LiveRun { id, started: now.0 });
        entry.latest_start = now;
        entry.changed_at = now.1;
        Some(Run {
            key,
            id,
            restarts: entry.starts - 1,
            site,
        })
    }

    fn span(&self) -> Span {
        self.site.span(self.restarts)
    }

    /// Ends the run with its output's verdict.
    fn end(self, failed: bool) {
        let state = if failed {
            TaskState::Failed
        } else {
            TaskState::Finished
        };
        self.record(state);
        std::mem::forget(self);
    }

    fn record(&self, state: TaskState) {
        let mut registry = registry();
        if let Some(entry) = registry.get_mut(self.key) {
            entry.live.retain(|run| run.id != self.id);
            entry.ended = Some(state);
            entry.changed_at = SystemTime::now();
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        self.record(if std::thread::panicking() {
            TaskState::Panicked
        } else {
            TaskState::Cancelled
        });
    }
}

/// `alamos_tasks{experiment=key, state}` for every state and
/// `alamos_task_restarts_total{experiment=key}`, sampled from the registry.
fn metrics(key: &'static str) -> Vec<Watch> {
    let mut watches: Vec<Watch> = TaskState::ALL
        .into_iter()
        .map(|state| {
            Observer::new(key, TASKS)
                .label("state", state.as_str())
                .describe(TASKS_HELP)
                .unlisted()
                .watch(move || {
                    #[allow(clippy::cast_precision_loss)]
                    registry()
                        .get(key)
                        .map_or(0.0, |entry| entry.count(state) as f64)
                })
        })
        .collect();
    watches.push(
        Observer::new(key, TASK_RESTARTS_TOTAL)
            .describe(TASK_RESTARTS_HELP)
            .counter()
            .unlisted()
            .watch(move || {
                #[allow(clippy::cast_precision_loss)]
                registry()
                    .get(key)
                    .map_or(0.0, |entry| entry.starts.saturating_sub(1) as f64)
            }),
    );
    watches
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(key: &str) -> TaskInfo {
        tasks()
            .into_iter()
            .find(|task| task.key == key)
            .unwrap_or_else(|| panic!("no task {key}"))
    }

    #[test]
    fn a_thread_run_finishes_or_fails() {
        spawn("task_test.ok", || ()).join().unwrap();
        assert_eq!(info("task_test.ok").state(), TaskState::Finished);
        let failed = spawn("task_test.err", || Err::<(), _>("no"))
            .join()
            .unwrap();
        assert_eq!(failed, Err("no"));
        let task = info("task_test.err");
        assert_eq!(task.state(), TaskState::Failed);
        assert_eq!((task.running(), task.restarts()), (0, 0));
    }

    #[test]
    fn a_panic_is_recorded_and_still_reaches_join() {
        let handle = spawn("task_test.panics", || -> () { panic!("boom") });
        let payload = handle.join().unwrap_err();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
        assert_eq!(info("task_test.panics").state(), TaskState::Panicked);
    }

    #[test]
    fn starting_a_key_again_is_a_restart() {
        for _ in 0..3 {
            spawn("task_test.restarted", || ()).join().unwrap();
        }
        assert_eq!(info("task_test.restarted").restarts(), 2);
    }

    #[test]
    fn concurrent_runs_are_counted() {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let rx = std::sync::Arc::new(Mutex::new(rx));
        let workers: Vec<_> = (0..3)
            .map(|_| {
                let rx = std::sync::Arc::clone(&rx);
                spawn("task_test.pool", move || {
                    let _ = rx.lock().unwrap().recv();
                })
            })
            .collect();
        let task = info("task_test.pool");
        assert_eq!((task.state(), task.running()), (TaskState::Running, 3));
        let entry_counts = |state| registry().get("task_test.pool").unwrap().count(state);
        assert_eq!(entry_counts(TaskState::Running), 3);
        drop(tx);
        for worker in workers {
            worker.join().unwrap();
        }
        let task = info("task_test.pool");
        assert_eq!((task.state(), task.running()), (TaskState::Finished, 0));
        assert_eq!(entry_counts(TaskState::Running), 0);
        assert_eq!(entry_counts(TaskState::Finished), 1);
        assert_eq!(entry_counts(TaskState::Failed), 0);
    }

    #[test]
    fn a_malformed_key_runs_untracked() {
        assert_eq!(
            spawn("Not A Key", || 7_u8.checked_add(1).ok_or(()))
                .join()
                .unwrap(),
            Ok(8)
        );
        assert!(tasks().iter().all(|task| task.key != "Not A Key"));
    }

    #[test]
    fn ages_read_well() {
        assert_eq!(age(Duration::from_millis(850)), "850 ms");
        assert_eq!(age(Duration::from_millis(12_340)), "12.3 s");
        assert_eq!(age(Duration::from_secs(245)), "4 min 05 s");
        assert_eq!(age(Duration::from_secs(7_620)), "2 h 07 min");
    }

    #[test]
    #[cfg(feature = "runtime")]
    fn json_has_every_field() {
        spawn("task_test.json", || ()).join().unwrap();
        let text = info("task_test.json").json();
        for member in [
            "\"key\":\"task_test.json\"",
            "\"state\":\"finished\"",
            "\"running\":0",
            "\"restarts\":0",
            "\"started_at\":\"",
            "\"changed_at\":\"",
            "\"age_seconds\":",
        ] {
            assert!(text.contains(member), "{member} in {text}");
        }
    }
}
