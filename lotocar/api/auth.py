"""Bearer-token authentication of the JSON API.

Only the `Authorization: Bearer <token>` header authenticates an API call: the session
cookie of the web pages is ignored (so CSRF, which protects cookie-authenticated forms,
does not apply and the blueprint is exempt from it).
"""
from __future__ import annotations

from flask import g, request
from sqlalchemy.exc import OperationalError

from lotocar.api import operations as tokens
from lotocar.api.errors import ApiError
from lotocar.extensions import db


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def authenticate_request() -> None:
    """Set `g.api_user` from the bearer token, or raise 401 / 403."""
    raw = bearer_token()
    if raw is None:
        raise ApiError(401, "unauthorized",
                       "Authentification requise : en-tête « Authorization: Bearer <jeton> ».")
    user, is_staff = tokens.authenticate(raw)
    try:  # the token's "last used" stamp: its own small transaction, best effort
        db.session.commit()
    except OperationalError:
        db.session.rollback()
    if user is None:
        raise ApiError(401, "invalid_token", "Jeton d'API inconnu, révoqué ou compte désactivé.")
    if not is_staff:
        raise ApiError(403, "forbidden", "L'API est réservée aux opérateurs et administrateurs.")
    g.api_user_id = user.id


def actor_id() -> int:
    """The id of the staff member calling (recorded in the audit trail)."""
    return g.api_user_id
