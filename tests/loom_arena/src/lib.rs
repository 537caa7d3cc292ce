//! A loom model of alamos's per-thread arena: `alamos/src/metric/arena.rs`,
//! compiled here with `cfg(loom)` so that its atomics and its lock are
//! loom's, and its pages (2 series) and chunks (4 words) tiny.
//!
//! Run it with `cargo test --release` in this directory
//! (`.ci/steps/45-miri-loom.sh` does).

#![cfg_attr(not(test), allow(dead_code))]

#[path = "../../../alamos/src/metric/arena.rs"]
mod arena;

#[cfg(test)]
mod model;
