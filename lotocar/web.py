"""Cross-cutting web concerns: home page, front-end assets, filters, errors, headers."""
from __future__ import annotations

from datetime import date
from pathlib import Path

from flask import (Blueprint, Flask, abort, current_app, redirect, render_template,
                   request, send_from_directory, url_for)
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from lotocar.core import format_fr, timeutil
from lotocar.core.phones import format_phone

main = Blueprint("main", __name__)

# Front-end packages installed by npm (package-lock.json): folder under node_modules and
# the files the pages may load from it.
_ASSETS = {
    "leaflet": ("leaflet/dist", ("leaflet.js", "leaflet.css", "images/")),
    "chartjs": ("chart.js/dist", ("chart.umd.min.js",)),
    "axe": ("axe-core", ("axe.min.js",)),
}
_DSFR_ALLOWED = ("dsfr.min.css", "dsfr.module.min.js", "dsfr.nomodule.min.js",
                 "utility/", "fonts/", "icons/", "favicon/", "artwork/")


@main.get("/")
def index():
    if current_user.is_authenticated:
        if current_user.role.value == "driver":
            return redirect(url_for("offers.my_trips"))
        return redirect(url_for("console.index"))
    return render_template("index.html")


@main.get("/assets/dsfr/<path:filename>")
def dsfr_asset(filename: str):
    if not filename.startswith(_DSFR_ALLOWED):
        abort(404)
    dist = Path(current_app.config["DSFR_DIST"])
    response = send_from_directory(dist, filename, max_age=86400)
    return response


@main.get("/assets/<any(leaflet, chartjs, axe):package>/<path:filename>")
def npm_asset(package: str, filename: str):
    folder, allowed = _ASSETS[package]
    if not filename.startswith(allowed):
        abort(404)
    root = Path(current_app.config["NODE_MODULES"])
    return send_from_directory(root / folder, filename, max_age=86400)


@main.get("/healthz")
def healthz():
    from lotocar.extensions import db

    db.session.execute(db.text("SELECT 1"))
    return {"status": "ok"}


def register_web(app: Flask) -> None:
    app.register_blueprint(main)
    app.jinja_env.filters["date_fr"] = timeutil.format_date_fr
    app.jinja_env.filters["time_fr"] = timeutil.format_time_fr
    app.jinja_env.filters["datetime_fr"] = timeutil.format_datetime_fr
    app.jinja_env.filters["phone"] = format_phone
    app.jinja_env.filters["fromiso"] = lambda value: date.fromisoformat(value)
    app.jinja_env.filters["local_time"] = lambda value: timeutil.format_time_fr(timeutil.to_local(value))
    # French numbers and wording (lotocar.core.format_fr): "5,9 km", "2,50 €", a request's window
    app.jinja_env.filters["number_fr"] = format_fr.number_fr
    app.jinja_env.filters["km_fr"] = format_fr.km_fr
    app.jinja_env.filters["eur_fr"] = format_fr.eur_fr
    app.jinja_env.filters["window_fr"] = format_fr.request_window_fr
    app.jinja_env.filters["then_fr"] = format_fr.then_fr
    app.jinja_env.globals["weekday_names"] = timeutil.WEEKDAY_NAMES_FR

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data: https:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self'; font-src 'self' data:; frame-ancestors 'none'; form-action 'self'; "
            "object-src 'none'; base-uri 'none'",
        )
        if app.config["APP_ENV"] == "production":
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response

    def _error(code: int, title: str, message: str):
        if request.path.startswith("/api/"):  # the API's own JSON error shape
            from lotocar.api.errors import error_response

            return error_response(code)
        if request.path.startswith(("/communes/", "/api/")) or request.accept_mimetypes.best == "application/json":
            return {"error": {"code": code, "message": message}}, code
        return render_template("error.html", code=code, title=title, message=message), code

    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        return _error(400, "Formulaire expiré",
                      "Le formulaire a expiré ou n'est pas valide. Rechargez la page et recommencez.")

    @app.errorhandler(400)
    def bad_request(exc):
        return _error(400, "Demande incorrecte", "La demande n'a pas pu être comprise.")

    @app.errorhandler(403)
    def forbidden(exc):
        return _error(403, "Accès refusé", "Vous n'avez pas accès à cette page.")

    @app.errorhandler(404)
    def not_found(exc):
        return _error(404, "Page introuvable", "Cette page n'existe pas ou plus.")

    @app.errorhandler(405)
    def not_allowed(exc):
        return _error(405, "Action impossible", "Cette action n'est pas possible ici.")

    @app.errorhandler(429)
    def too_many(exc):
        return _error(429, "Trop de tentatives",
                      "Trop de tentatives en peu de temps. Patientez quelques minutes puis réessayez.")

    @app.errorhandler(500)
    def server_error(exc):
        from lotocar.extensions import db

        db.session.rollback()
        return _error(500, "Erreur du service",
                      "Une erreur est survenue. Vos données déjà enregistrées sont conservées. "
                      "Réessayez ou appelez l'équipe Lot'ôcar.")
