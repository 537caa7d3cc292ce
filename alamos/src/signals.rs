//! SIGTERM and SIGINT with [`Builder::flush_on_signals`](crate::Builder::flush_on_signals):
//! flush, then the signal's default action.
//!
//! # How it works with the program's own handlers
//!
//! The handler is registered through `signal-hook`, whose registry keeps
//! every handler registered through it and runs them all on each signal, in
//! the order they were registered; tokio's `signal` module (and the `ctrlc`
//! crate's `signal-hook` mode) register through the same registry. So a
//! program's own handler still sees the signal: alamos adds itself beside
//! it and replaces nothing. A handler installed with a bare `sigaction`
//! after alamos's replaces the registry's (and so alamos's) instead.
//!
//! On the first SIGTERM or SIGINT, a thread of alamos's runs the flush
//! (every signal's export at once, within
//! [`Builder::shutdown_timeout`](crate::Builder::shutdown_timeout)), then
//! restores the default disposition and raises the signal again, so the
//! process ends as it would have without alamos: killed by that signal, exit
//! status 128 + n in a shell (143 for SIGTERM, 130 for SIGINT). A second
//! signal during the flush ends the process at once.
//!
//! # When the program shuts down by itself
//!
//! With the setting on, a SIGTERM or SIGINT always ends the process with
//! that signal once alamos has flushed: the program's own handler runs
//! meanwhile, and whatever it has not finished by then is cut short. A
//! program that drops the guard during that time (its own shutdown) waits
//! in the drop for alamos's flush to end the process, rather than exit
//! first with a status of its own: the outcome does not depend on which
//! handler is quicker. A program
//! that shuts down gracefully on SIGTERM (drains requests, then returns from
//! `main`) should leave `flush_on_signals` off and drop the
//! [`Guard`](crate::Guard) (or call [`Guard::shutdown`](crate::Guard::shutdown))
//! at the end of its own shutdown: that flushes the same way, and the exit
//! status stays the program's.
//!
//! On platforms other than Unix the setting is accepted and does nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Set when a signal's flush has started: the process is ending.
static ENDING: AtomicBool = AtomicBool::new(false);

/// What runs when a signal arrives, before the process ends.
pub(crate) type Flush = Arc<dyn Fn() + Send + Sync>;

/// Runs `flush` on the first SIGTERM or SIGINT, then ends the process with
/// the signal's default action.
///
/// # Errors
///
/// The handler could not be registered, or its thread could not start.
#[cfg(unix)]
pub(crate) fn flush_on_signals(flush: Flush) -> Result<(), String> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook::iterator::Signals;

    let mut signals = Signals::new([SIGTERM, SIGINT])
        .map_err(|error| format!("cannot handle SIGTERM and SIGINT: {error}"))?;
    std::thread::Builder::new()
        .name("alamos-signals".into())
        .spawn(move || {
            let mut flushing = false;
            for signal in signals.forever() {
                if flushing {
                    // Asked twice: the process ends now.
                    end(signal);
                }
                flushing = true;
                ENDING.store(true, Ordering::Release);
                let on_thread = Arc::clone(&flush);
                let flushed = std::thread::Builder::new()
                    .name("alamos-signal-flush".into())
                    .spawn(move || {
                        on_thread();
                        end(signal);
                    });
                if flushed.is_err() {
                    flush();
                    end(signal);
                }
            }
        })
        .map_err(|error| format!("cannot start the signal thread: {error}"))?;
    Ok(())
}

/// If a signal's flush is under way, waits for it to end the process (at
/// most `limit`, should it not): a guard dropped by the program's own
/// shutdown then does not let the program exit first.
pub(crate) fn await_signal_end(limit: Duration) {
    let until = Instant::now() + limit;
    while ENDING.load(Ordering::Acquire) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Accepted and does nothing: only Unix has SIGTERM to flush on.
#[cfg(not(unix))]
pub(crate) fn flush_on_signals(_flush: Flush) -> Result<(), String> {
    Ok(())
}

/// Ends the process as `signal` would have without alamos.
#[cfg(unix)]
fn end(signal: std::os::raw::c_int) -> ! {
    use std::io::Write as _;

    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // Restores the default disposition and raises the signal again.
    let _ = signal_hook::low_level::emulate_default_handler(signal);
    // Only if that did not end the process: the status a shell would show.
    std::process::exit(128 + signal)
}
