#!/usr/bin/env bash
# The benches must keep compiling, so they cannot rot: builds every bench
# target of alamos-benches (including the 10,000 generated experiments of
# scaling_10k) and the stripped bench crate, which lives outside the workspace
# (benches/stripped, alamos with max_level_off), without running them.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo bench -p alamos-benches --no-run
cargo bench --manifest-path benches/stripped/Cargo.toml --no-run
