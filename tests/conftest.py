"""Test fixtures: a real database (SQLite file by default, PostGIS with --db=postgres).

The schema is built by the Alembic migrations (`flask db upgrade`), exactly as in
production, and the shipped communes are loaded once per session. Each test then starts
from empty tables (communes kept).
"""
from __future__ import annotations

import os
import re
import uuid
from datetime import datetime
from datetime import time as dt_time
from pathlib import Path

import pytest
import time_machine
from flask.testing import FlaskClient

from lotocar.core import clock

ROOT = Path(__file__).resolve().parent.parent

# shared fixtures of feature test modules (never imported from a test module)
pytest_plugins = ["tests.api_support", "tests.browser_support"]
PG_SERVER_DEFAULT = "postgresql+psycopg2://postgres@127.0.0.1:5432"
# Why the pgRouting tests cannot run on this PostgreSQL server (None: they can).
PGROUTING_MISSING: str | None = None


# The suite's clock. Every test starts at this instant (a Tuesday morning, inside the SMS
# and call hours) whatever the hour the suite runs at; tests about quiet hours, reminders,
# DST nights and expiry travel explicitly with the `travel` fixture. The clock ticks from
# there at the real pace, so leases, timeouts and threads behave as in production.
DEFAULT_NOW = datetime(2026, 12, 1, 10, 0, tzinfo=clock.PARIS)
_session_travel: time_machine.travel | None = None


def pytest_configure(config):
    # pinned before collection, so module-level dates (tests/factories.py) use it too
    global _session_travel
    _session_travel = time_machine.travel(DEFAULT_NOW, tick=True)
    _session_travel.start()


def pytest_unconfigure(config):
    if _session_travel is not None:
        _session_travel.stop()


@pytest.fixture(autouse=True)
def pinned_clock():
    """Each test starts at DEFAULT_NOW (the clock ticks from there)."""
    with time_machine.travel(DEFAULT_NOW, tick=True) as traveller:
        yield traveller


@pytest.fixture
def travel(pinned_clock):
    """Move the clock: `travel(datetime(..., tzinfo=PARIS))` (or a local `time` today), ticking."""

    def move(when, tick: bool = True):
        if isinstance(when, dt_time):
            when = datetime.combine(clock.today_local(), when, tzinfo=clock.PARIS)
        if when.tzinfo is None:
            when = when.replace(tzinfo=clock.PARIS)
        pinned_clock.move_to(when, tick=tick)
        return when

    return move


def clock_env() -> dict[str, str]:
    """Environment for a real process started by a test: it runs on the pinned clock."""
    return {clock.ENV_START: clock.now_utc().isoformat(), "APP_ENV": "testing"}


# Debian's faketime (scripts/test_at_night.sh) works by LD_PRELOAD; a child process gets its
# time from LOTOCAR_CLOCK_START instead (libfaketime can keep a child alive after it ends).
_FAKETIME_VARS = ("LD_PRELOAD", "FAKETIME", "FAKETIME_NO_CACHE", "DYLD_INSERT_LIBRARIES",
                  "DYLD_FORCE_FLAT_NAMESPACE", "FAKETIME_DONT_FAKE_MONOTONIC")


def process_env(**extra: str) -> dict[str, str]:
    """The environment of a real process started by a test: ours, on the pinned clock."""
    env = {k: v for k, v in os.environ.items() if k not in _FAKETIME_VARS}
    env.update(clock_env())
    env.update(extra)
    return env


def pytest_addoption(parser):
    parser.addoption("--db", default=os.environ.get("TEST_DB", "sqlite"),
                     choices=["sqlite", "postgres"], help="database back end for the tests")


def pytest_report_header(config):
    return f"lotocar test database: {config.getoption('--db')}"


@pytest.fixture(scope="session")
def db_kind(request) -> str:
    return request.config.getoption("--db")


@pytest.fixture(scope="session")
def database_url(db_kind, tmp_path_factory):
    if db_kind == "sqlite":
        yield "sqlite:///" + str(tmp_path_factory.mktemp("db") / "lotocar-test.db")
        return
    import sqlalchemy as sa

    server = os.environ.get("TEST_PG_SERVER", PG_SERVER_DEFAULT).rstrip("/")
    name = f"lotocar_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        pytest.exit(f"PostgreSQL unreachable at {server}: {exc}", returncode=3)
    url = f"{server}/{name}"
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
    except sa.exc.DBAPIError as exc:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}"'))
        pytest.exit(f"PostGIS is not installed on {server}: {exc}", returncode=3)
    global PGROUTING_MISSING
    try:  # real roads (tests/test_roads.py); under CI=true its absence is a failure
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pgrouting"))
    except sa.exc.DBAPIError as exc:
        PGROUTING_MISSING = f"pgRouting is not installed on {server}: {str(exc).splitlines()[0]}"
        if os.environ.get("CI") == "true":
            engine.dispose()
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE "{name}"'))
            pytest.exit(PGROUTING_MISSING + " (required under CI=true)", returncode=3)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name})
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


TEST_CONFIG = {
    "APP_ENV": "testing",
    "TESTING": True,
    "SECRET_KEY": "test-secret",
    "RATELIMIT_ENABLED": True,
    "RATELIMIT_STORAGE_URI": "memory://",
}


@pytest.fixture(scope="session")
def _migrated_app(database_url, tmp_path_factory):
    from flask_migrate import upgrade

    from lotocar import create_app
    from lotocar.communes import operations as communes
    from lotocar.extensions import db

    instance = tmp_path_factory.mktemp("instance")
    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": database_url})
    app.instance_path = str(instance)
    with app.app_context():
        upgrade()
        communes.load_reference_data(app.config)
        db.session.commit()
    return app


KEEP_TABLES = {"communes", "former_communes", "alembic_version", "spatial_ref_sys", "change_counters"}


class FreshContextClient(FlaskClient):
    """Each request runs in its own app context, as in production (own `g`, own DB session),
    even though the test itself holds an app context to inspect the database."""

    def open(self, *args, **kwargs):
        from lotocar.extensions import db

        with self.application.app_context():
            response = super().open(*args, **kwargs)
        db.session.expire_all()  # the test's session sees what the request wrote
        return response


@pytest.fixture
def app(_migrated_app):
    from lotocar.extensions import db, limiter

    app = _migrated_app
    app.test_client_class = FreshContextClient
    with app.app_context():
        limiter.reset()
        app.extensions["sms_gateway"].sent.clear()
        yield app
        db.session.rollback()
        db.session.remove()
        tables = [t for t in reversed(db.metadata.sorted_tables) if t.name not in KEEP_TABLES]
        with db.engine.begin() as conn:
            if db.engine.dialect.name == "postgresql":
                conn.execute(db.text("TRUNCATE " + ", ".join(t.name for t in tables) + " RESTART IDENTITY CASCADE"))
            else:
                for table in tables:
                    conn.execute(table.delete())
            # the per-process matching index must notice that the offers vanished
            conn.execute(db.text("UPDATE change_counters SET value = value + 1"))


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def sms(app):
    """The development SMS gateway's record of what would have been sent."""
    return app.extensions["sms_gateway"]


_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(client, page: str = "/connexion") -> str:
    html = client.get(page).get_data(as_text=True)
    match = _CSRF.search(html)
    assert match, f"no CSRF token on {page}"
    return match.group(1)


def last_code(sms, phone: str) -> str:
    msg = sms.last_to(phone)
    assert msg is not None, f"no SMS to {phone}"
    match = re.search(r"\b(\d{6})\b", msg.body)
    assert match, msg.body
    return match.group(1)


@pytest.fixture
def make_driver(app):
    """A verified driver, ready to log in."""
    from lotocar.auth.models import Role, User
    from lotocar.core.timeutil import utcnow
    from lotocar.drivers.models import Driver
    from lotocar.extensions import db

    counter = {"n": 0}

    def make(first="Jean", last="Delmas", home="46182", phone=None):
        counter["n"] += 1
        phone = phone or f"+3361234{counter['n']:04d}"
        user = User(role=Role.DRIVER, first_name=first, last_name=last, phone=phone,
                    phone_verified_at=utcnow())
        user.driver = Driver(home_insee=home, consent_contact=True, consent_at=utcnow())
        db.session.add(user)
        db.session.commit()
        return user

    return make


def login_as(client, user) -> None:
    """Log a user in through the session (the login flows themselves are tested apart)."""
    from lotocar.auth.models import User
    from lotocar.extensions import db

    with client.application.app_context():
        account = db.session.get(User, user.id)
        session_id = account.get_id()  # "<id>:<session token>" (gives the account one if needed)
        db.session.commit()
    with client.session_transaction() as sess:
        sess["_user_id"] = session_id
        sess["_fresh"] = True
