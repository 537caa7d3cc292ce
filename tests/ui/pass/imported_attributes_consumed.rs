//! Attributes imported by name that only the expansion reads (`#[skip]`
//! and `#[level]` inside an instrumented impl, `#[level]` below
//! `#[experiment]`): the compiler never resolves them, and their imports are
//! not reported unused.
#![deny(warnings)]

use alamos::{experiment, level, skip};

#[experiment("imported.consumed")]
#[level(debug)]
fn below() -> u32 {
    1
}

struct Writer;

#[experiment("imported.consumed")]
impl Writer {
    #[level(error)]
    fn write(&self) -> u32 {
        2
    }

    #[skip]
    fn skipped(&self) -> u32 {
        3
    }
}

fn main() {
    // In a function body, the module's import is named from a block.
    struct Local;

    #[experiment("imported.consumed")]
    impl Local {
        #[skip]
        fn local(&self) -> u32 {
            4
        }
    }

    assert_eq!(below() + Writer.write() + Writer.skipped() + Local.local(), 10);
}
