//! How a call ended: the `outcome` label of `alamos_calls_total`.

use std::fmt;

/// How a call ended: the `outcome` label of `alamos_calls_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// It returned, and not an `Err`.
    Ok,
    /// It returned an `Err`, directly or through `?`.
    Error,
    /// It unwound.
    Panic,
    /// Its future was dropped before completing.
    Cancelled,
    /// It left through an exit whose value the expansion could not see: a
    /// `return` or `?` inside a macro of a `#[track_caller]` function that
    /// may return a `Result` (where the body cannot run in a closure). It
    /// may have returned `Ok` or `Err`; alamos does not guess.
    Unknown,
}

impl Outcome {
    /// Every outcome, in label order.
    pub const ALL: [Outcome; 5] = [
        Outcome::Ok,
        Outcome::Error,
        Outcome::Panic,
        Outcome::Cancelled,
        Outcome::Unknown,
    ];

    /// The label value: `ok`, `error`, `panic`, `cancelled` or `unknown`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Panic => "panic",
            Outcome::Cancelled => "cancelled",
            Outcome::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}
