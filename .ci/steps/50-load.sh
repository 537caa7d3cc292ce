#!/usr/bin/env bash
# Load on /metrics (issue 6, item 5), the quick version: a 3 s wrk run
# against the release frame_writer example after a 2 s warm-up, with stalled
# clients and malformed requests alongside. Fails on any non-2xx response,
# socket error or wrong answer to a malformed request, and on VmRSS growth
# over 2 MiB between the first and last second of the run. The full run,
# whose figures go in the closing note, is `bash tests/load/metrics_wrk.sh`
# (wrk -d10s).
set -euo pipefail
cd "$(dirname "$0")/../.."
WRK_SECONDS=3 RSS_GROWTH_KIB=2048 bash tests/load/metrics_wrk.sh
