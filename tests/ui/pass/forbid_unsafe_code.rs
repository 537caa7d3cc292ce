//! Many crates forbid unsafe code; instrumenting them must still compile.
#![deny(warnings)]
#![forbid(unsafe_code)]

#[alamos::experiment("safe.free")]
fn write() -> u32 {
    alamos::info!("writing");
    1
}

struct Writer;

#[alamos::experiment("safe.methods")]
impl Writer {
    async fn flush(&self) -> u32 {
        2
    }
}

fn main() {
    assert_eq!(write(), 1);
    let _future = Writer.flush();
}
