#!/usr/bin/env bash
# Each of alamos's features builds on its own, lint-clean, with and without
# the default `runtime`: the workspace build unifies features, so a
# `#[cfg]` that only holds with another feature on (a `log` bridge that
# needs `runtime`, a header reader only the tower layers use) passes every
# other step. About a minute for the features alone (only alamos is
# checked again), then a few for the workspace with every feature on.
set -euo pipefail
cd "$(dirname "$0")/../.."

features=(log reports http tower reqwest otel runtime)
for feature in "${features[@]}"; do
    echo "--- --no-default-features --features $feature"
    cargo clippy --quiet -p alamos --lib --no-default-features --features "$feature" -- -D warnings
    echo "--- --features $feature"
    cargo clippy --quiet -p alamos --lib --features "$feature" -- -D warnings
done

# Every feature at once, across the workspace: `max_level_off` strips every
# instrumented function, which clippy then reads as written (the tests'
# functions are shaped on purpose and say so in an `allow`).
echo "--- the workspace, --all-features"
cargo clippy --quiet --workspace --all-targets --all-features -- -D warnings
