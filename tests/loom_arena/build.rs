//! Builds this crate, and only this crate, with `cfg(loom)`: the arena's
//! atomics and locks are then loom's. Setting it through RUSTFLAGS instead
//! would switch every dependency that knows `cfg(loom)` too.
fn main() {
    println!("cargo::rustc-cfg=loom");
}
