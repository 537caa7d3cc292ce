//! The compile-time ceiling, from the features the `alamos` crate forwards.

use proc_macro2::TokenStream;
use quote::quote;

use crate::args::LevelName;

/// Where an instrumented callsite exists after the ceilings apply.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Presence {
    Always,
    /// Only with `debug_assertions`: a `release_max_level_*` feature strips it.
    DebugOnly,
    Never,
}

const OFF: u8 = 5;

/// The lowest level rank compiled in: 0 is bench, 5 is off.
fn ceiling(release: bool) -> u8 {
    let features = [
        (
            cfg!(feature = "max_level_off"),
            cfg!(feature = "release_max_level_off"),
            OFF,
        ),
        (
            cfg!(feature = "max_level_error"),
            cfg!(feature = "release_max_level_error"),
            4,
        ),
        (
            cfg!(feature = "max_level_warn"),
            cfg!(feature = "release_max_level_warn"),
            3,
        ),
        (
            cfg!(feature = "max_level_prod"),
            cfg!(feature = "release_max_level_prod"),
            2,
        ),
        (
            cfg!(feature = "max_level_debug"),
            cfg!(feature = "release_max_level_debug"),
            1,
        ),
        (
            cfg!(feature = "max_level_bench"),
            cfg!(feature = "release_max_level_bench"),
            0,
        ),
    ];
    features
        .into_iter()
        .filter(|&(always, in_release, _)| always || (release && in_release))
        .map(|(_, _, rank)| rank)
        .max()
        .unwrap_or(0)
}

fn presence_of_rank(rank: u8) -> Presence {
    match (rank >= ceiling(false), rank >= ceiling(true)) {
        (true, true) => Presence::Always,
        (true, false) => Presence::DebugOnly,
        _ => Presence::Never,
    }
}

pub(crate) fn presence(level: LevelName) -> Presence {
    presence_of_rank(level as u8)
}

/// Whether any log macro can survive, so a function's scope must name its key.
pub(crate) fn logs_presence() -> Presence {
    presence_of_rank(LevelName::Error as u8)
}

/// What stripped code still names, kept named by a closure that is never
/// called (and so compiles to nothing): each value borrowed, as the kept
/// code borrows it, so its variables and the helpers it calls stay used and
/// stripping adds no warnings. Empty when there is nothing to name.
pub(crate) fn kept_named(values: impl IntoIterator<Item = TokenStream>) -> TokenStream {
    let values: Vec<TokenStream> = values.into_iter().collect();
    if values.is_empty() {
        return TokenStream::new();
    }
    quote! {
        let _ = || {
            let _ = (#(&(#values),)*);
        };
    }
}
