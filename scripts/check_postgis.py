"""Exit 0 when TEST_PG_SERVER answers and can create the PostGIS extension, 1 otherwise."""
import os
import sys
import uuid

import sqlalchemy as sa

server = os.environ.get("TEST_PG_SERVER", "postgresql+psycopg2://postgres@127.0.0.1:5432").rstrip("/")
name = f"lotocar_probe_{uuid.uuid4().hex[:8]}"
try:
    admin = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        engine = sa.create_engine(f"{server}/{name}")
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE EXTENSION postgis"))
            version = conn.execute(sa.text("SELECT postgis_full_version()")).scalar()
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
except Exception as exc:  # noqa: BLE001 - any failure means "no PostGIS here"
    print(f"PostGIS check failed on {server}: {exc}", file=sys.stderr)
    sys.exit(1)
print(f"PostGIS available: {version[:60]}")
