#!/usr/bin/env bash
# Installs the system packages and Python tools the tests need. Idempotent:
# skips what is already present, so a developer can run it too.
set -euo pipefail

need_apt=()
# The Prometheus server (35-admin, 30-interop, 32-service) and promtool (30-interop)
# come in one package.
{ command -v prometheus && command -v promtool; } >/dev/null 2>&1 || need_apt+=(prometheus)
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
# Python 3: 35-admin's client needs only the standard library; 30-interop
# makes a venv, which on Debian needs ensurepip from python3-venv.
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "installing: ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# Miri (.ci/steps/45-miri-loom.sh): a component of the nightly toolchain
# (the image has one), with rust-src, from which `cargo miri setup` builds
# its sysroot on first use.
if ! rustup toolchain list | grep -q '^nightly'; then
    echo "installing: the nightly toolchain with miri"
    rustup toolchain install nightly --profile minimal --component miri,rust-src
elif ! rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^miri'; then
    echo "installing: miri for nightly"
    rustup component add miri rust-src --toolchain nightly
fi
