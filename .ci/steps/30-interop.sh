#!/usr/bin/env bash
# Distribution (issue 5): W3C trace context and OTLP export, against real
# third-party parts.
#
# 1. clippy and the unit tests of the `otel` build (the main run builds
#    alamos without it);
# 2. tests/propagation_otel: spans exported to an in-process OTLP/HTTP
#    receiver, parent links, flags, graceful-shutdown flush counts;
# 3. tests/interop/interop.py: two `two_nodes` processes, the official Python
#    OpenTelemetry SDK as client and as downstream server, and oteltest's
#    HttpSink as the receiver, all on 127.0.0.1. Versions as checked in
#    shared/COMPONENTS.md.
# 4. tests/interop/pillars.py (issue 12): frame_writer and two_nodes built
#    with otel, oteltest receiving spans, metrics and log records, Prometheus
#    2.42 with exemplar storage, promtool; bounded waits, about 30 s.
set -euo pipefail
cd "$(dirname "$0")/../.."

target_dir="${CARGO_TARGET_DIR:-target}"
echo "--- clippy, otel build (the lint step checks the rest of the workspace)"
cargo clippy -p alamos --all-targets --features otel,http -- -D warnings
cargo clippy -p alamos-tests --features otel --test tower --test propagation --test propagation_otel --test builder_otel --test exemplars_otel --test trace_ids_otel --test metrics_push_otel --test export_otel --test shutdown_otel --test failures_otel --test sampling_otel --test secrets_otel --bin trace_probe --bin export_probe -- -D warnings
cargo clippy -p alamos-examples --features otel --bins -- -D warnings

echo "--- unit tests, otel build (propagation and export config)"
cargo test -p alamos --features otel,http --lib

echo "--- OTLP export and propagation through OpenTelemetry; Builder::otel; trace ids in log lines"
cargo test -p alamos-tests --features otel --test propagation_otel --test builder_otel --test secrets_otel --test exemplars_otel --test trace_ids_otel --test metrics_push_otel --test sampling_otel --test failures_otel

echo "--- the tower layers with OpenTelemetry's ids (issue 17): a tonic server's span the child of its client's"
cargo test -p alamos-tests --features otel --test tower

echo "--- export health (receiver down, slow, 503), OTEL_* variables, bounded shutdown, flush on SIGTERM/SIGINT"
cargo test -p alamos-tests --features otel --test export_otel --test shutdown_otel

echo "--- Python environment: oteltest, the OpenTelemetry SDK and OTLP/HTTP exporter"
venv="$target_dir/interop-venv"
. .ci/tools/venv.sh
ensure_venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check \
    oteltest==0.49.0 \
    opentelemetry-api==1.45.2 \
    opentelemetry-sdk==1.45.2 \
    opentelemetry-exporter-otlp-proto-http==1.45.2

echo "--- two_nodes against oteltest's HttpSink and the Python SDK"
cargo build -p alamos-examples --features otel --bin two_nodes --bin frame_writer
timeout 300 "$venv/bin/python" tests/interop/interop.py --bin "$target_dir/debug/two_nodes"

echo "--- the three pillars linked: exemplars, OTLP metrics and logs, trace ids in logs, node identity"
timeout 300 "$venv/bin/python" tests/interop/pillars.py \
    --frame-writer "$target_dir/debug/frame_writer" --two-nodes "$target_dir/debug/two_nodes"
