//! The log macros: `tracing` events tagged with the enclosing experiment and
//! gated by its threshold.

/// Logs at [`Level::Bench`](crate::Level::Bench) (`tracing`'s `TRACE`), the
/// most verbose level. [`trace!`](crate::trace!) is the same macro under `tracing`'s name.
///
/// The log macros, [`bench!`](crate::bench!) (also [`trace!`](crate::trace!)), [`debug!`](crate::debug!), [`prod!`](crate::prod!)
/// (also [`info!`](crate::info!)), [`warn!`](crate::warn!) and [`error!`](crate::error!), take what `tracing::event!`
/// takes after its level; they are documented here once.
///
/// # Arguments
///
/// Fields, then an optional message, as in `tracing`:
///
/// | syntax | records |
/// |---|---|
/// | `"text {}", x` | the message: a format string and its arguments, after the fields |
/// | `name = value` | a field whose value is a `tracing::Value` (integers, floats, `bool`, `&str`) |
/// | `name = %value`, `name = ?value` | the value with `Display`, with `Debug` |
/// | `value`, `%value`, `?value` | a variable as a field of the same name |
/// | `a.b = value` | a dotted field name, as OpenTelemetry spells attributes |
///
/// ```
/// let frames = 12;
/// let node = std::net::Ipv4Addr::LOCALHOST;
/// let path = std::path::Path::new("/data/ch13");
/// alamos::bench!("flushed");                                 // a message alone
/// alamos::bench!(frames, "flushed {} frames", frames);       // a variable, formatted message
/// alamos::bench!(%node, path = ?path, "opened a channel");   // Display and Debug
/// alamos::bench!(net.peer.port = 9090, retries = 2);         // dotted names, no message
/// ```
///
/// `target:`, `parent:` and a level are not accepted: the target is the
/// module path, the parent is the current span, and the level is the
/// macro's.
///
/// # Experiment and threshold
///
/// Inside an instrumented function (or a closure or block within one) the
/// event carries that function's experiment in the field
/// `alamos.experiment`, also when the function's own span is disabled, and
/// is emitted only when that experiment's threshold allows the macro's level
/// (`ALAMOS_LEVEL`, [`set_level`](crate::set_level)). Inside nested
/// instrumented functions, the innermost wins. Elsewhere the event belongs
/// to the root experiment, whose threshold is the bare level of
/// `ALAMOS_LEVEL` (default `prod`).
///
/// ```
/// #[alamos::experiment("storage.cesium")]
/// fn compact(files: usize) {
///     // `alamos.experiment = "storage.cesium"`, emitted when
///     // `ALAMOS_LEVEL` enables `bench` for storage.cesium.
///     alamos::bench!(files, "compacting");
/// }
/// # compact(3);
/// ```
///
/// # Expansion
///
/// Each invocation expands to a `static` callsite (level and experiment,
/// registered at link time so [`experiments()`](crate::experiments) knows it
/// before any call), a check of its cached enabled state (a relaxed atomic
/// load and a branch; the arguments are not evaluated when it is off) and a
/// `tracing::event!` at the matching `tracing::Level`, which any subscriber
/// receives.
///
/// # Stripping
///
/// Under a compile-time ceiling below the macro's level (the
/// `max_level_*` and `release_max_level_*` features) the invocation expands
/// to nothing that runs and keeps no name: its arguments stay type-checked,
/// in a `tracing::event!` behind `if false` (as `tracing`'s own ceilings
/// leave theirs), so a variable used only in a stripped log is not reported
/// as unused.
#[macro_export]
macro_rules! bench {
    ($($arg:tt)+) => {
        $crate::__alamos_if_bench! { [$($arg)+] $crate::__alamos_log!(Bench, TRACE, $($arg)+) }
    };
}

/// Another spelling of [`bench!`](crate::bench!), as `tracing` names the level
/// (`tracing::Level::TRACE`).
///
/// ```
/// alamos::trace!(bytes = 4096, "read a page");
/// ```
#[macro_export]
macro_rules! trace {
    ($($arg:tt)+) => {
        $crate::bench!($($arg)+)
    };
}

/// Logs at [`Level::Debug`](crate::Level::Debug) (`tracing`'s `DEBUG`); see
/// [`bench!`](crate::bench!) for the arguments, the experiment and the threshold.
///
/// ```
/// let peer = std::net::Ipv4Addr::LOCALHOST;
/// alamos::debug!(node = 3, %peer, "opened a relay");
/// alamos::debug!(queue = ?[1, 2], "relay queue after {} frames", 2);
/// ```
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => {
        $crate::__alamos_if_debug! { [$($arg)+] $crate::__alamos_log!(Debug, DEBUG, $($arg)+) }
    };
}

/// Logs at [`Level::Prod`](crate::Level::Prod) (`tracing`'s `INFO`), the
/// default threshold; see [`bench!`](crate::bench!) for the arguments, the experiment and
/// the threshold. [`info!`](crate::info!) is the same macro.
///
/// ```
/// let key = 42;
/// alamos::prod!(channel = "temperature", key, "created channel");
/// alamos::prod!(nodes = 3, "cluster of {} nodes is up", 3);
/// ```
#[macro_export]
macro_rules! prod {
    ($($arg:tt)+) => {
        $crate::__alamos_if_prod! { [$($arg)+] $crate::__alamos_log!(Prod, INFO, $($arg)+) }
    };
}

/// Another spelling of [`prod!`](crate::prod!), as `tracing` names the level
/// (`tracing::Level::INFO`).
///
/// ```
/// alamos::info!("server started");
/// ```
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => {
        $crate::prod!($($arg)+)
    };
}

/// Logs at [`Level::Warn`](crate::Level::Warn) (`tracing`'s `WARN`); see
/// [`bench!`](crate::bench!) for the arguments, the experiment and the threshold.
///
/// ```
/// let elapsed = std::time::Duration::from_millis(750);
/// alamos::warn!(attempt = 2, ?elapsed, "retrying the write");
/// ```
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => {
        $crate::__alamos_if_warn! { [$($arg)+] $crate::__alamos_log!(Warn, WARN, $($arg)+) }
    };
}

/// Logs at [`Level::Error`](crate::Level::Error) (`tracing`'s `ERROR`); see
/// [`bench!`](crate::bench!) for the arguments, the experiment and the threshold.
///
/// ```
/// let err = std::io::Error::other("disk full");
/// alamos::error!(error = %err, "write failed");
/// alamos::error!(channel.key = 13, error = ?err.kind());
/// ```
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => {
        $crate::__alamos_if_error! { [$($arg)+] $crate::__alamos_log!(Error, ERROR, $($arg)+) }
    };
}

/// A log stripped at compile time: nothing runs and no alamos name is kept,
/// but the arguments stay type-checked and their variables used, in an
/// event that `if false` never reaches (and that an optimised build drops).
#[doc(hidden)]
#[macro_export]
macro_rules! __alamos_stripped_log {
    ($($arg:tt)+) => {{
        if false {
            $crate::__private::tracing::event!($crate::__private::tracing::Level::TRACE, $($arg)+);
        }
    }};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __alamos_log {
    ($level:ident, $tracing_level:ident, $($arg:tt)+) => {{
        static __ALAMOS_CALLSITE: $crate::__private::LogCallsite =
            $crate::__private::LogCallsite::new($crate::Level::$level, || {
                (&&&&&&&&$crate::__private::Scope).__alamos_experiment()
            });
        #[$crate::__private::linkme::distributed_slice($crate::__private::GATES)]
        #[linkme(crate = $crate::__private::linkme)]
        static __ALAMOS_CALLSITE_REF: &dyn $crate::__private::Gate = &__ALAMOS_CALLSITE;
        if __ALAMOS_CALLSITE.is_enabled() {
            $crate::__private::tracing::event!(
                target: ::core::module_path!(),
                $crate::__private::tracing::Level::$tracing_level,
                alamos.experiment = __ALAMOS_CALLSITE.experiment(),
                $($arg)+
            );
        }
    }};
}
