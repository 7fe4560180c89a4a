"""Input guards for every page: what no form can sensibly hold is refused before any view.

- `<int:…>` in URLs are row ids, stored in 32-bit integer columns: a larger number matches
  no route (404) instead of reaching the database (SQLite's OverflowError, PostgreSQL's
  "integer out of range" — both a 500).
- A NUL character is never typed, and PostgreSQL can neither store nor compare it: one in a
  page's address, query string or form is answered 400 with a French message (the JSON API
  refuses it per field, see lotocar.api.schemas).
- A body past MAX_CONTENT_LENGTH (1 MiB unless configured: no form comes near it, and
  Werkzeug reads a urlencoded body whole, with no other limit) gets a French 413 page.
"""
from __future__ import annotations

from flask import Flask, render_template, request
from werkzeug.routing import IntegerConverter

from lotocar.core.errors import error_response

MAX_ROW_ID = 2**31 - 1
DEFAULT_MAX_CONTENT_LENGTH = 1024 * 1024


class RowIdConverter(IntegerConverter):
    def __init__(self, map, fixed_digits=0, min=None, max=MAX_ROW_ID, signed=False):  # noqa: A002
        super().__init__(map, fixed_digits, min, max, signed)


def _has_nul(values) -> bool:
    return any("\x00" in key or any("\x00" in v for v in vals) for key, vals in values.lists())


def _refuse(code: int, title: str, message: str):
    if request.path.startswith("/api/"):
        return error_response(code)
    if request.path.startswith("/communes/") or request.accept_mimetypes.best == "application/json":
        return {"error": {"code": code, "message": message}}, code
    return render_template("error.html", code=code, title=title, message=message), code


def register_input_guards(app: Flask) -> None:
    """Call before the blueprints are registered (the converter applies to routes added after)."""
    app.url_map.converters["int"] = RowIdConverter
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        app.config["MAX_CONTENT_LENGTH"] = DEFAULT_MAX_CONTENT_LENGTH

    @app.before_request
    def refuse_nul_characters():
        if request.path.startswith("/api/"):
            return None
        if "\x00" in request.path or _has_nul(request.args) or _has_nul(request.form):
            return _refuse(400, "Caractère interdit",
                           "Le texte envoyé contient un caractère interdit (caractère nul). "
                           "Retapez-le puis recommencez.")
        return None

    @app.errorhandler(413)
    def too_large(exc):
        return _refuse(413, "Envoi trop volumineux",
                       "Le texte envoyé est beaucoup trop long. Raccourcissez-le puis recommencez.")
