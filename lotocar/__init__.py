"""Lot'ôcar: solidarity carpooling for the Lot (46)."""
from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path
from typing import Any, Mapping

from flask import Flask

from lotocar.config import PROJECT_ROOT, load_config


# One blueprint per feature: "<module>" exposing `bp`. Add a line per new feature. A module
# that adds views to another module's blueprint (the console's pages split by concern) is
# listed too: every module is imported before any blueprint is registered.
BLUEPRINTS = [
    "lotocar.auth.views",
    "lotocar.communes.views",
    "lotocar.offers.views",
    "lotocar.candidates.views",
    "lotocar.api.views",
    "lotocar.console.views",
    "lotocar.console.request_views",  # request editing, near misses (issue #14): on console.views.bp
    "lotocar.console.driver_trips",  # an operator acting on a driver's trips: on console.views.bp
    "lotocar.console.people_views",  # passenger and driver records: on console.views.bp
    "lotocar.stats.views",
    "lotocar.notifications.views",
    "lotocar.contributions.views",
    "lotocar.statements.views",
    "lotocar.rpc.views",
    "lotocar.notifications.voice_views",
]

# Personal data (RGPD): one hook per feature, "<feature>.personal_data" registering itself
# with lotocar.core.personal_data. A feature that stores people's data adds its line.
PERSONAL_DATA = [
    "lotocar.bookings.personal_data",
    "lotocar.offers.personal_data",
    "lotocar.requests.personal_data",
    "lotocar.contributions.personal_data",
    "lotocar.notifications.personal_data",
    "lotocar.api.personal_data",
    "lotocar.drivers.personal_data",
    "lotocar.passengers.personal_data",
    "lotocar.auth.personal_data",
    "lotocar.audit.personal_data",
]


def _trust_proxies(app: Flask) -> None:
    """Behind PROXY_HOPS reverse proxies (read per request, 0 = none), take the client
    address, scheme and host from exactly that many X-Forwarded-* hops: rate limits then key
    on the real client, not on the proxy's 127.0.0.1. Never trust more hops than exist: a
    client could then choose its own address."""
    from werkzeug.middleware.proxy_fix import ProxyFix

    inner = app.wsgi_app
    fixes: dict[int, ProxyFix] = {}

    def wsgi(environ, start_response):
        hops = int(app.config.get("PROXY_HOPS") or 0)
        if hops <= 0:
            return inner(environ, start_response)
        fix = fixes.get(hops)
        if fix is None:
            fix = fixes.setdefault(hops, ProxyFix(inner, x_for=hops, x_proto=hops, x_host=hops))
        return fix(environ, start_response)

    app.wsgi_app = wsgi  # type: ignore[method-assign]


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.from_mapping(load_config(app.instance_path))
    if test_config:
        app.config.from_mapping(test_config)
    from lotocar.core import clock

    # a test's pinned instant, handed to a real process (gunicorn, the SMS worker)
    clock.install_from_env(str(app.config.get("APP_ENV", "")))
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "WARNING"))
    logging.getLogger("lotocar").setLevel(os.environ.get("LOTOCAR_LOG_LEVEL", "INFO"))

    from lotocar import models  # noqa: F401  (registers every table)
    from lotocar.extensions import csrf, db, limiter, login_manager, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"))
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Connectez-vous pour accéder à cette page."
    login_manager.login_message_category = "info"

    from lotocar.auth.operations import load_session_user

    # "<id>:<per-user session token>": logout, "log out everywhere" and a role change end
    # every session and "remember me" cookie issued before
    login_manager.user_loader(load_session_user)
    _trust_proxies(app)

    from lotocar import notifications

    notifications.init_app(app)  # SMS gateway + booking/trip subscriptions (no scheduler here)

    from lotocar.roads import service as roads_service

    roads_service.init_app(app)  # the road router (pgRouting graph + matrix), synced lazily

    from lotocar.candidates import reactions, service as matching_service

    matching_service.init_app(app)
    reactions.init_app(app)  # trip changes reconciled inside their transaction

    from lotocar import rpc
    from lotocar.contributions import views as contribution_views
    from lotocar.rpc import views as rpc_views

    rpc.init_app(app)  # proofs: a journey row when a ride is marked done; the worker's sender
    contribution_views.init_app(app)
    rpc_views.init_app(app)

    from lotocar.web import register_web

    register_web(app)

    from lotocar.core.guards import register_input_guards

    register_input_guards(app)  # before the blueprints: it bounds their <int:…> ids

    blueprints = [importlib.import_module(module).bp for module in BLUEPRINTS]  # all routes first
    for blueprint in dict.fromkeys(blueprints):  # a blueprint shared by several modules: once
        app.register_blueprint(blueprint)
    for module in PERSONAL_DATA:
        importlib.import_module(module)  # each registers its export / erase hook

    from lotocar.cli import register_cli

    register_cli(app)
    return app
