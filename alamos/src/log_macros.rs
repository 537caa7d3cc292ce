//! The log macros: `tracing` events tagged with the enclosing experiment and
//! gated by its threshold.

/// Logs at [`Level::Bench`](crate::Level::Bench), with `tracing`'s `event!`
/// syntax after the level.
///
/// Inside an instrumented function the event carries the function's
/// experiment in the field `alamos.experiment` (also when the function's own
/// span is disabled) and is emitted only when that experiment's threshold
/// allows `bench`; elsewhere it belongs to the root experiment.
///
/// ```
/// alamos::bench!(frames = 12, "flushed the write buffer");
/// ```
#[macro_export]
macro_rules! bench {
    ($($arg:tt)+) => {
        $crate::__alamos_if_bench! { $crate::__alamos_log!(Bench, TRACE, $($arg)+) }
    };
}

/// Logs at [`Level::Debug`](crate::Level::Debug); see [`bench!`] for how the
/// experiment and threshold apply.
///
/// ```
/// alamos::debug!(node = 3, "opened a relay");
/// ```
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => {
        $crate::__alamos_if_debug! { $crate::__alamos_log!(Debug, DEBUG, $($arg)+) }
    };
}

/// Logs at [`Level::Prod`](crate::Level::Prod); see [`bench!`] for how the
/// experiment and threshold apply.
///
/// ```
/// alamos::prod!(channel = "temperature", "created channel");
/// ```
#[macro_export]
macro_rules! prod {
    ($($arg:tt)+) => {
        $crate::__alamos_if_prod! { $crate::__alamos_log!(Prod, INFO, $($arg)+) }
    };
}

/// Another spelling of [`prod!`], as `tracing` names the level.
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

/// Logs at [`Level::Warn`](crate::Level::Warn); see [`bench!`] for how the
/// experiment and threshold apply.
///
/// ```
/// alamos::warn!(attempt = 2, "retrying the write");
/// ```
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => {
        $crate::__alamos_if_warn! { $crate::__alamos_log!(Warn, WARN, $($arg)+) }
    };
}

/// Logs at [`Level::Error`](crate::Level::Error); see [`bench!`] for how the
/// experiment and threshold apply.
///
/// ```
/// let err = std::io::Error::other("disk full");
/// alamos::error!(error = %err, "write failed");
/// ```
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => {
        $crate::__alamos_if_error! { $crate::__alamos_log!(Error, ERROR, $($arg)+) }
    };
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
