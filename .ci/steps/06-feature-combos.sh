#!/usr/bin/env bash
# Each of alamos's features builds on its own, lint-clean, with and without
# the default `runtime`: the workspace build unifies features, so a
# `#[cfg]` that only holds with another feature on (a `log` bridge that
# needs `runtime`, a header reader only the tower layers use) passes every
# other step. About a minute: only alamos itself is checked again.
set -euo pipefail
cd "$(dirname "$0")/../.."

features=(log reports http tower reqwest otel runtime)
for feature in "${features[@]}"; do
    echo "--- --no-default-features --features $feature"
    cargo clippy --quiet -p alamos --lib --no-default-features --features "$feature" -- -D warnings
    echo "--- --features $feature"
    cargo clippy --quiet -p alamos --lib --features "$feature" -- -D warnings
done
