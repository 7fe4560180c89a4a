#!/usr/bin/env bash
# Creates .venv and installs the pinned Python packages and the front-end assets.
# Usage: scripts/setup.sh [dev]   ("dev" adds the test and benchmark tools)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
if [ "${1:-}" = "dev" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
else
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
fi
# DSFR from the npm registry, exactly as locked (its install script is not needed: we only
# serve the built files in dist/).
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
