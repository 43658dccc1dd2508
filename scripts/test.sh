#!/usr/bin/env bash
# Set up (once, with the test tools) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
VENV="${LATENT_EXPLORER_VENV:-$(pwd)/.venv}"
export LATENT_EXPLORER_REQUIRE_SCALE=1  # setup --test installs the [scale] extra: its tests must run, not skip
exec "$VENV/bin/python" -m pytest "$@"
