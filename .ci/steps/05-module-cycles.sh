#!/usr/bin/env bash
# Layers import downward only (ARCHITECTURE.md): no module of either library
# crate may reach itself through `crate::` / `super::` imports. The check is
# .ci/tools/module-cycles.py (a copy of ../shared/tools/module-cycles.py, so
# that a clean clone has it); it prints each cycle and exits 1 on any.
set -euo pipefail
cd "$(dirname "$0")/../.."
status=0
for src in alamos/src alamos-macros/src; do
    out=$(python3 .ci/tools/module-cycles.py "$src") || status=1
    printf '%s: %s\n' "$src" "$out"
    if grep -q '^cycle' <<<"$out"; then
        status=1
    fi
done
exit "$status"
