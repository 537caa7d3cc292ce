#!/usr/bin/env bash
# Measures a function annotated with #[alamos::experiment] under the
# `max_level_off` feature beside the same function bare, and prints both
# medians and their ratio.
#
# The bench crate (benches/stripped) has its own [workspace] and is excluded
# from the root one: inside the workspace, cargo would unify alamos's features
# and strip (or keep) every callsite of every member at once.
#
#   bash benches/scripts/stripped.sh [criterion args, e.g. --measurement-time 5]
#
# Honours CARGO_TARGET_DIR (default: the workspace's target/, so the criterion
# build is shared with the workspace benches) and CRITERION_HOME (default:
# $CARGO_TARGET_DIR/criterion, where report.py looks).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
export CRITERION_HOME="${CRITERION_HOME:-$CARGO_TARGET_DIR/criterion}"
manifest="$root/benches/stripped/Cargo.toml"

# The experiment key must not survive in the binary: that is what stripped means.
binary="$(cargo bench --manifest-path "$manifest" --bench stripped --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json, sys
for line in sys.stdin:
    message = json.loads(line)
    if message.get("reason") == "compiler-artifact" and message["target"]["name"] == "stripped" and message.get("executable"):
        print(message["executable"])')"
if [ -z "$binary" ]; then
    cargo bench --manifest-path "$manifest" --bench stripped --no-run # show the error
    exit 1
fi
if grep -q "stripped_probe" "$binary"; then
    echo "stripped.sh: the experiment key is in $binary: max_level_off did not strip the callsite" >&2
    exit 1
fi
echo "stripped.sh: no trace of the experiment key in $(basename "$binary")"
# Same machine code: the linker may even fold the two functions into one.
disassemble() {
    awk -v name="<stripped::$1>:" '$2 == name { on = 1; next } /^$/ { on = 0 } on { $1 = ""; print }' "$listing"
}
if command -v objdump >/dev/null 2>&1; then
    listing="$(mktemp)"
    trap 'rm -f "$listing"' EXIT
    objdump -d --no-show-raw-insn -C "$binary" >"$listing"
    bare_code="$(disassemble bare)"
    annotated_code="$(disassemble annotated)"
    if [ -z "$annotated_code" ]; then
        echo "stripped.sh: 'annotated' has no symbol of its own: folded into 'bare' (identical code)"
    elif [ "$bare_code" = "$annotated_code" ]; then
        echo "stripped.sh: 'annotated' and 'bare' compile to identical machine code"
    else
        echo "stripped.sh: 'annotated' differs from 'bare':" >&2
        diff <(echo "$bare_code") <(echo "$annotated_code") >&2 || true
        exit 1
    fi
fi

cargo bench --manifest-path "$manifest" --bench stripped -- "$@"
python3 "$root/benches/scripts/report.py" --stripped
