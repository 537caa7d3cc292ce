//! `missing_docs` would fire if the expansion dropped the doc comments.
#![deny(warnings)]
#![deny(missing_docs)]

/// Writes a frame.
#[alamos::experiment("docs.free")]
pub fn write() -> u32 {
    1
}

/// A writer.
pub struct Writer;

#[alamos::experiment("docs.methods")]
impl Writer {
    /// Writes through the writer.
    pub fn write(&self) -> u32 {
        2
    }

    /// Flushes later.
    pub async fn flush(&self) -> u32 {
        3
    }
}

fn main() {
    assert_eq!(write() + Writer.write(), 3);
    let _future = Writer.flush();
}
