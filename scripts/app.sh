#!/usr/bin/env bash
# Set up (once) and start the app on its embedded default data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
VENV="${LATENT_EXPLORER_VENV:-$(pwd)/.venv}"
exec "$VENV/bin/streamlit" run app.py --server.port "${PORT:-8501}" "$@"
