"""`flask db upgrade` builds the schema on both databases, and the models match it."""
from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from geoalchemy2 import alembic_helpers

from lotocar.extensions import db
from tests.conftest import PG_SERVER_DEFAULT, TEST_CONFIG


def test_session_database_is_at_head(app):
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from lotocar.config import PROJECT_ROOT

    config = Config()
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1, f"migrations must form one line, heads: {heads}"
    version = db.session.scalar(sa.text("SELECT version_num FROM alembic_version"))
    assert version == heads[0]


def _include(obj, name, type_, reflected, compare_to):
    if type_ == "table" and name in {"spatial_ref_sys", "geography_columns", "geometry_columns",
                                     "raster_columns", "raster_overviews"}:
        return False
    return alembic_helpers.include_object(obj, name, type_, reflected, compare_to)


def test_models_and_migrations_agree(app):
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_object": _include,
                                                     "compare_type": False})
        diff = compare_metadata(ctx, db.metadata)
    assert diff == []


@pytest.fixture
def fresh_url(db_kind, tmp_path):
    if db_kind == "sqlite":
        yield "sqlite:///" + str(tmp_path / "fresh.db")
        return
    server = os.environ.get("TEST_PG_SERVER", PG_SERVER_DEFAULT).rstrip("/")
    name = f"lotocar_mig_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine = sa.create_engine(f"{server}/{name}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE EXTENSION postgis"))
    engine.dispose()
    yield f"{server}/{name}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_upgrade_downgrade_upgrade_on_fresh_database(fresh_url, db_kind, tmp_path):
    from flask_migrate import downgrade, upgrade

    from lotocar import create_app

    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": fresh_url})
    app.instance_path = str(tmp_path)
    with app.app_context():
        upgrade()
        tables = set(sa.inspect(db.engine).get_table_names())
        assert {"communes", "users", "drivers", "passengers", "offers", "trip_requests",
                "bookings", "audit_entries", "phone_codes"} <= tables
        if db_kind == "postgres":
            with db.engine.connect() as conn:
                kinds = dict(conn.execute(sa.text(
                    "SELECT f_table_name || '.' || f_geography_column, type FROM geography_columns "
                    "WHERE f_table_schema = 'public'")).all())
                assert kinds == {f"{t}.{c}": "Point" for t, c in [
                    ("communes", "geom"), ("offers", "origin_geom"), ("offers", "destination_geom"),
                    ("trip_requests", "origin_geom"), ("trip_requests", "destination_geom"),
                    ("road_vertices", "geom")]}
                gist = set(conn.execute(sa.text(
                    "SELECT indexname FROM pg_indexes WHERE indexdef LIKE '%USING gist%'")).scalars())
                assert {"ix_communes_geom", "ix_offers_origin_geom", "ix_offers_destination_geom",
                        "ix_trip_requests_origin_geom", "ix_trip_requests_destination_geom",
                        "ix_road_vertices_geom"} <= gist
        downgrade(revision="base")
        left = set(sa.inspect(db.engine).get_table_names()) - {"alembic_version", "spatial_ref_sys"}
        assert left == set()
        upgrade()
        assert "offers" in sa.inspect(db.engine).get_table_names()
        db.session.remove()
        db.engine.dispose()


def test_flask_db_upgrade_command(fresh_url, tmp_path, monkeypatch):
    """The documented command itself, through the CLI."""
    from lotocar import create_app

    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": fresh_url})
    app.instance_path = str(tmp_path)
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    result = app.test_cli_runner().invoke(args=["communes", "load"])
    assert "312 added" in result.output
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
