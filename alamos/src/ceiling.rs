//! Compile-time ceilings: the `max_level_*` and `release_max_level_*` features.
//!
//! The attribute macros read the same features (forwarded to `alamos-macros`)
//! and expand a callsite above the ceiling to exactly the original function.
//! The log macros are `macro_rules`, so they go through the gates below, which
//! this crate defines to keep or drop their input according to its features
//! and to `debug_assertions` of the build, the same profile as the caller's.

use crate::level::{Level, LevelFilter};

/// The most verbose level compiled in; callsites below it are stripped.
///
/// Set by the `max_level_*` features, and by the `release_max_level_*`
/// features when `debug_assertions` are off. The most restrictive wins.
pub const STATIC_MAX_LEVEL: LevelFilter = static_max_level();

const fn static_max_level() -> LevelFilter {
    // The most verbose level whose gate is open.
    let mut i = 0;
    while i < Level::ALL.len() {
        if compiled_in(Level::ALL[i]) {
            return LevelFilter::Level(Level::ALL[i]);
        }
        i += 1;
    }
    LevelFilter::Off
}

const fn compiled_in(level: Level) -> bool {
    match level {
        Level::Bench => !cfg!(any(
            feature = "max_level_off",
            feature = "max_level_error",
            feature = "max_level_warn",
            feature = "max_level_prod",
            feature = "max_level_debug",
            all(
                not(debug_assertions),
                any(
                    feature = "release_max_level_off",
                    feature = "release_max_level_error",
                    feature = "release_max_level_warn",
                    feature = "release_max_level_prod",
                    feature = "release_max_level_debug"
                )
            )
        )),
        Level::Debug => !cfg!(any(
            feature = "max_level_off",
            feature = "max_level_error",
            feature = "max_level_warn",
            feature = "max_level_prod",
            all(
                not(debug_assertions),
                any(
                    feature = "release_max_level_off",
                    feature = "release_max_level_error",
                    feature = "release_max_level_warn",
                    feature = "release_max_level_prod"
                )
            )
        )),
        Level::Prod => !cfg!(any(
            feature = "max_level_off",
            feature = "max_level_error",
            feature = "max_level_warn",
            all(
                not(debug_assertions),
                any(
                    feature = "release_max_level_off",
                    feature = "release_max_level_error",
                    feature = "release_max_level_warn"
                )
            )
        )),
        Level::Warn => !cfg!(any(
            feature = "max_level_off",
            feature = "max_level_error",
            all(
                not(debug_assertions),
                any(
                    feature = "release_max_level_off",
                    feature = "release_max_level_error"
                )
            )
        )),
        Level::Error => !cfg!(any(
            feature = "max_level_off",
            all(
                not(debug_assertions),
                any(feature = "release_max_level_off")
            )
        )),
    }
}

/// Keeps its input when `bench` is compiled in.
#[doc(hidden)]
#[macro_export]
#[cfg(not(any(
    feature = "max_level_off",
    feature = "max_level_error",
    feature = "max_level_warn",
    feature = "max_level_prod",
    feature = "max_level_debug",
    all(
        not(debug_assertions),
        any(
            feature = "release_max_level_off",
            feature = "release_max_level_error",
            feature = "release_max_level_warn",
            feature = "release_max_level_prod",
            feature = "release_max_level_debug"
        )
    )
)))]
macro_rules! __alamos_if_bench {
    ([$($arg:tt)*] $($tokens:tt)*) => { $($tokens)* };
}

/// Drops its input: `bench` is stripped at compile time. The log's
/// arguments (in brackets) stay type-checked (`__alamos_stripped_log!`),
/// and the expansion is `()`, usable in expression position
/// (`|| alamos::info!("x")`).
#[doc(hidden)]
#[macro_export]
#[cfg(any(
    feature = "max_level_off",
    feature = "max_level_error",
    feature = "max_level_warn",
    feature = "max_level_prod",
    feature = "max_level_debug",
    all(
        not(debug_assertions),
        any(
            feature = "release_max_level_off",
            feature = "release_max_level_error",
            feature = "release_max_level_warn",
            feature = "release_max_level_prod",
            feature = "release_max_level_debug"
        )
    )
))]
macro_rules! __alamos_if_bench {
    ([$($arg:tt)*] $($tokens:tt)*) => {
        $crate::__alamos_stripped_log!($($arg)*)
    };
}

/// Keeps its input when `debug` is compiled in.
#[doc(hidden)]
#[macro_export]
#[cfg(not(any(
    feature = "max_level_off",
    feature = "max_level_error",
    feature = "max_level_warn",
    feature = "max_level_prod",
    all(
        not(debug_assertions),
        any(
            feature = "release_max_level_off",
            feature = "release_max_level_error",
            feature = "release_max_level_warn",
            feature = "release_max_level_prod"
        )
    )
)))]
macro_rules! __alamos_if_debug {
    ([$($arg:tt)*] $($tokens:tt)*) => { $($tokens)* };
}

/// Drops its input: `debug` is stripped at compile time. The log's
/// arguments (in brackets) stay type-checked (`__alamos_stripped_log!`),
/// and the expansion is `()`, usable in expression position
/// (`|| alamos::info!("x")`).
#[doc(hidden)]
#[macro_export]
#[cfg(any(
    feature = "max_level_off",
    feature = "max_level_error",
    feature = "max_level_warn",
    feature = "max_level_prod",
    all(
        not(debug_assertions),
        any(
            feature = "release_max_level_off",
            feature = "release_max_level_error",
            feature = "release_max_level_warn",
            feature = "release_max_level_prod"
        )
    )
))]
macro_rules! __alamos_if_debug {
    ([$($arg:tt)*] $($tokens:tt)*) => {
        $crate::__alamos_stripped_log!($($arg)*)
    };
}

/// Keeps its input when `prod` is compiled in.
#[doc(hidden)]
#[macro_export]
#[cfg(not(any(
    feature = "max_level_off",
    feature = "max_level_error",
    feature = "max_level_warn",
    all(
        not(debug_assertions),
        any(
            feature = "release_max_level_off",
            feature = "release_max_level_error",
            feature = "release_max_level_warn"
        )
    )
)))]
macro_rules! __alamos_if_prod {
    ([$($arg:tt)*] $($tokens:tt)*) => { $($tokens)* };
}

/// Drops its input: `prod` is stripped at compile time. The log's
/// arguments (in brackets) stay type-checked (`__alamos_stripped_log!`),
/// and the expansion is `()`, usable in expression position
/// (`|| alamos::info!("x")`).
#[doc(hidden)]
#[macro_export]
#[cfg(any(
    feature = "max_level_off",
    feature = "max_level_error",
    feature = "max_level_warn",
    all(
        not(debug_assertions),
        any(
            feature = "release_max_level_off",
            feature = "release_max_level_error",
            feature = "release_max_level_warn"
        )
    )
))]
macro_rules! __alamos_if_prod {
    ([$($arg:tt)*] $($tokens:tt)*) => {
        $crate::__alamos_stripped_log!($($arg)*)
    };
}

/// Keeps its input when `warn` is compiled in.
#[doc(hidden)]
#[macro_export]
#[cfg(not(any(
    feature = "max_level_off",
    feature = "max_level_error",
    all(
        not(debug_assertions),
        any(feature = "release_max_level_off", feature = "release_max_level_error")
    )
)))]
macro_rules! __alamos_if_warn {
    ([$($arg:tt)*] $($tokens:tt)*) => { $($tokens)* };
}

/// Drops its input: `warn` is stripped at compile time. The log's
/// arguments (in brackets) stay type-checked (`__alamos_stripped_log!`),
/// and the expansion is `()`, usable in expression position
/// (`|| alamos::info!("x")`).
#[doc(hidden)]
#[macro_export]
#[cfg(any(
    feature = "max_level_off",
    feature = "max_level_error",
    all(
        not(debug_assertions),
        any(feature = "release_max_level_off", feature = "release_max_level_error")
    )
))]
macro_rules! __alamos_if_warn {
    ([$($arg:tt)*] $($tokens:tt)*) => {
        $crate::__alamos_stripped_log!($($arg)*)
    };
}

/// Keeps its input when `error` is compiled in.
#[doc(hidden)]
#[macro_export]
#[cfg(not(any(
    feature = "max_level_off",
    all(not(debug_assertions), feature = "release_max_level_off")
)))]
macro_rules! __alamos_if_error {
    ([$($arg:tt)*] $($tokens:tt)*) => { $($tokens)* };
}

/// Drops its input: `error` is stripped at compile time. The log's
/// arguments (in brackets) stay type-checked (`__alamos_stripped_log!`),
/// and the expansion is `()`, usable in expression position
/// (`|| alamos::info!("x")`).
#[doc(hidden)]
#[macro_export]
#[cfg(any(
    feature = "max_level_off",
    all(not(debug_assertions), feature = "release_max_level_off")
))]
macro_rules! __alamos_if_error {
    ([$($arg:tt)*] $($tokens:tt)*) => {
        $crate::__alamos_stripped_log!($($arg)*)
    };
}
