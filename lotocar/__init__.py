"""Lot'ôcar: solidarity carpooling for the Lot (46)."""
from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path
from typing import Any, Mapping

from flask import Flask

from lotocar.config import PROJECT_ROOT, load_config


# One blueprint per feature: "<module>" exposing `bp`. Add a line per new feature.
BLUEPRINTS = [
    "lotocar.auth.views",
    "lotocar.communes.views",
    "lotocar.offers.views",
    "lotocar.candidates.views",
    "lotocar.api.views",
    "lotocar.console.views",
    "lotocar.stats.views",
    "lotocar.notifications.views",
    "lotocar.notifications.voice_views",
]


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

    @login_manager.user_loader
    def load_user(user_id: str):
        from lotocar.auth.models import User

        try:
            return db.session.get(User, int(user_id))
        except (TypeError, ValueError):
            return None

    from lotocar import notifications

    notifications.init_app(app)  # SMS gateway + booking/trip subscriptions (no scheduler here)

    from lotocar.candidates import service as matching_service

    matching_service.init_app(app)

    from lotocar.web import register_web

    register_web(app)

    from lotocar.core.guards import register_input_guards

    register_input_guards(app)  # before the blueprints: it bounds their <int:…> ids

    for module in BLUEPRINTS:
        app.register_blueprint(importlib.import_module(module).bp)

    from lotocar.cli import register_cli

    register_cli(app)
    return app
