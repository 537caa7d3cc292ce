#!/usr/bin/env bash
# The admin endpoint against real parts (issue 11, item 4): curl, a Python
# urllib client and a real Prometheus drive the running frame_writer
# example (release, the same build 50-load.sh uses); wrk makes concurrent
# PUTs for 3 s. About 20 s after the build. See tests/admin/e2e.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tests/admin/e2e.sh
