#!/usr/bin/env bash
# Unsafe, verified (issue 18 item 8).
#
# Miri runs the unit tests of the modules whose `unsafe` the hot path rests
# on: the store and its per-thread arena (alamos/src/metric/store.rs,
# arena.rs), the handle caches (sink.rs) and the call guard and future,
# which keep pointers into the caller's frame (call.rs). Those tests stay
# off the tree's link-time registry and the clock's `cpuid`, which Miri cannot
# run, and shrink their loops under `cfg(miri)`.
#
# loom then explores every interleaving of a thread claiming cells, growing
# its index and retiring (folding its cells on exit) against a concurrent
# reader: tests/loom_arena, which compiles arena.rs with loom's atomics. It
# is a crate and a workspace of its own so that `cfg(loom)` reaches that
# crate only, not every dependency that knows it.
#
# Needs the nightly toolchain's miri (.ci/install.sh). Measured from nothing
# cached on the shared 2-core machine: 338 s (Miri's sysroot 84 s, its build
# 91 s and tests 33 s; the model's build 69 s and run 15 s).
set -euo pipefail
cd "$(dirname "$0")/../.."

echo "--- Miri: store, arena, sink and call unit tests"
cargo +nightly miri setup
cargo +nightly miri test -p alamos --lib -- metric::store metric::sink metric::arena call::tests

echo "--- loom: the arena model (exhaustive)"
cargo test --release --locked --manifest-path tests/loom_arena/Cargo.toml \
    --target-dir "${CARGO_TARGET_DIR:-target}/loom"
