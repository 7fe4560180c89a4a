#!/usr/bin/env bash
# Installs everything, then runs the whole test suite on the embedded SQLite default and
# on PostgreSQL/PostGIS (TEST_PG_SERVER, default postgresql+psycopg2://postgres@127.0.0.1:5432).
# Without PostGIS the second run is skipped with a warning, except under CI=true where it
# is a failure. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
export TEST_PG_SERVER="${TEST_PG_SERVER:-postgresql+psycopg2://postgres@127.0.0.1:5432}"

echo "=== Test suite on SQLite (embedded default) ==="
.venv/bin/python -m pytest --db=sqlite "$@"

echo "=== Test suite on PostgreSQL/PostGIS ==="
if .venv/bin/python scripts/check_postgis.py; then
  .venv/bin/python -m pytest --db=postgres "$@"
elif [ "${CI:-}" = "true" ]; then
  echo "PostGIS is required under CI=true" >&2
  exit 1
else
  echo "WARNING: PostgreSQL/PostGIS not available: PostGIS run skipped (see README)." >&2
fi
