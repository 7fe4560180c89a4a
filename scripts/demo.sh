#!/usr/bin/env bash
# Installs, builds the embedded SQLite database with the communes and demo data, and
# serves the app on http://127.0.0.1:5000 (Ctrl+C to stop).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export FLASK_APP=app
.venv/bin/flask db upgrade
.venv/bin/flask communes load
.venv/bin/flask demo load
exec .venv/bin/flask run --host 127.0.0.1 --port "${PORT:-5000}"
