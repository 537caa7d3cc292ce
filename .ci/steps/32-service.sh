#!/usr/bin/env bash
# The two-node service example (issue 17, item 6), against real parts, all
# on 127.0.0.1:
#
# 1. clippy of the example's `service` build (axum, tonic, reqwest: the
#    main lint step builds the examples without them);
# 2. the README's command for it (`service` with no argument: both nodes as
#    child processes, five requests, the edge metrics, SIGTERM);
# 3. tests/interop/service.py: a Python client instrumented with the
#    OpenTelemetry SDK (RequestsInstrumentor) calls the front node; the
#    client and both nodes export OTLP to rotel (a real collector, PyPI),
#    which forwards to oteltest's HttpSink; Prometheus 2.42 scrapes both
#    nodes. It asserts one trace across the three processes with the right
#    parent links, route templates as names, a gRPC NOT_FOUND counted
#    `error` on both sides, and no propagate call in the example's source.
#    Bounded waits; about 10 s.
set -euo pipefail
cd "$(dirname "$0")/../.."

target_dir="${CARGO_TARGET_DIR:-target}"
echo "--- clippy, the service example (axum, tonic, reqwest)"
cargo clippy -p alamos-examples --features service --all-targets -- -D warnings

echo "--- build"
cargo build -p alamos-examples --features service --bin service

echo "--- the README's command: both nodes, a few requests, their edge metrics"
timeout 60 "$target_dir/debug/service"

echo "--- Python environment: rotel, oteltest, the OpenTelemetry SDK and its requests instrumentation"
venv="$target_dir/interop-venv"
. .ci/tools/venv.sh
ensure_venv "$venv"
# rotel is alpha: pinned to the version shared/COMPONENTS.md checked. The
# instrumentation's 0.66b2 is the release that goes with the SDK's 1.45.2.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    oteltest==0.49.0 \
    opentelemetry-api==1.45.2 \
    opentelemetry-sdk==1.45.2 \
    opentelemetry-exporter-otlp-proto-http==1.45.2 \
    opentelemetry-instrumentation-requests==0.66b2 \
    requests==2.34.2 \
    rotel==0.0.1a15

echo "--- Python client -> front node -> storage node, through rotel; Prometheus scraping both"
timeout 180 "$venv/bin/python" tests/interop/service.py \
    --bin "$target_dir/debug/service" --source examples/src/bin/service
