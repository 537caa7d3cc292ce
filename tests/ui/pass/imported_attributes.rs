//! The attributes work when imported by name.
#![deny(warnings)]

use alamos::{experiment, level, skip};

#[experiment("imported.free")]
#[level(debug)]
fn free() -> u32 {
    1
}

#[level(warn)]
#[experiment("imported.above")]
fn above() -> u32 {
    2
}

struct Writer;

#[experiment("imported.methods")]
impl Writer {
    #[level(error)]
    fn write(&self) -> u32 {
        3
    }

    #[skip]
    fn skipped(&self) -> u32 {
        4
    }
}

fn main() {
    alamos::set_level("imported", alamos::Level::Bench).unwrap();
    assert_eq!(free() + above() + Writer.write() + Writer.skipped(), 10);
    let levels: ::std::collections::BTreeMap<_, _> = alamos::experiments()
        .into_iter()
        .map(|e| (e.key(), e.level()))
        .collect();
    assert_eq!(levels["imported.free"], alamos::Level::Debug);
    assert_eq!(levels["imported.above"], alamos::Level::Warn);
    assert_eq!(levels["imported.methods"], alamos::Level::Error);
}
