#!/usr/bin/env bash
# The wholesale check: every free fn and impl block of a real crates.io
# package annotated with #[alamos::experiment], then the package's own tests,
# beside the same tests of the package as published.
#
#   bash tools/annotate/wholesale.sh <crate> <version> [cargo test args...]
#
# e.g. `bash tools/annotate/wholesale.sh opentelemetry_sdk 0.33.1 --all-features --lib`.
# Pick packages that deny warnings in their tests (#![deny(warnings)] or
# cfg_attr(test, ..)), so an expansion that warns fails too. Exits non-zero
# when the annotated package fails to build or its test counts differ from
# the plain one's. Work happens in ${WHOLESALE_DIR:-/tmp/alamos-wholesale}.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 <crate> <version> [cargo test args...]" >&2; exit 2; }
crate=$1 version=$2
shift 2
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=${WHOLESALE_DIR:-/tmp/alamos-wholesale}/$crate-$version
rm -rf "$work" && mkdir -p "$work/fetch/src"

# The package's published sources, through cargo (registry access only).
cat > "$work/fetch/Cargo.toml" <<TOML
[package]
name = "fetch"
version = "0.0.0"
edition = "2021"
[dependencies]
$crate = "=$version"
[workspace]
TOML
touch "$work/fetch/src/lib.rs"
source=$(cd "$work/fetch" && cargo metadata --format-version 1 --quiet |
    python3 -c "import json,sys; m=json.load(sys.stdin); print(next(p['manifest_path'] for p in m['packages'] if p['name']=='$crate' and p['version']=='$version'))")
source=$(dirname "$source")
cp -a "$source" "$work/plain"
cp -a "$source" "$work/annotated"

printf '\n[dependencies.alamos]\npath = "%s/alamos"\n' "$repo" >> "$work/annotated/Cargo.toml"
cargo build --release --quiet --manifest-path "$repo/tools/annotate/Cargo.toml" \
    --target-dir "$work/tool-target"
find "$work/annotated/src" -name '*.rs' -print0 |
    xargs -0 "$work/tool-target/release/alamos-annotate"

export CARGO_TARGET_DIR="$work/target"
status=0
for variant in plain annotated; do
    echo "--- cargo test $* ($variant)"
    (cd "$work/$variant" && cargo test "$@") > "$work/$variant.log" 2>&1 || status=$?
    grep -E '^test result' "$work/$variant.log" || true
    echo "warnings: $(grep -c '^warning' "$work/$variant.log" || true)"
done
[ $status -eq 0 ] || { echo "a test run failed (rc=$status): see $work/*.log" >&2; exit 1; }
count() { grep -E '^test result' "$1" | sed -E 's/.* ([0-9]+) passed; ([0-9]+) failed; ([0-9]+) ignored.*/\1 \2 \3/'; }
if [ "$(count "$work/plain.log")" != "$(count "$work/annotated.log")" ]; then
    echo "the annotated package's test counts differ from the plain one's" >&2
    exit 1
fi
echo "wholesale: $crate $version annotated, its tests pass as published"
