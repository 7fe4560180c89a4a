"""JSON errors of the API: `{"error": {"code", "message" (French), "fields": {…}}}`.

Every failure under /api/ answers in this shape, never an HTML page and never a bare 500:
the blueprint's handlers cover what its views raise, and `lotocar.web` hands routing
errors (unknown address, wrong method) under /api/ to `error_response`.
"""
from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, jsonify, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from lotocar.bookings.operations import BookingError
from lotocar.extensions import db

log = logging.getLogger("lotocar.api")

# status → (code, French message) for errors raised by HTTP machinery
HTTP_ERRORS: dict[int, tuple[str, str]] = {
    400: ("bad_request", "La requête n'a pas pu être comprise."),
    401: ("unauthorized", "Authentification requise : en-tête « Authorization: Bearer <jeton> »."),
    403: ("forbidden", "Ce jeton ne donne pas accès à l'API (réservée aux opérateurs)."),
    404: ("not_found", "Cette adresse n'existe pas dans l'API."),
    405: ("method_not_allowed", "Cette méthode n'est pas possible sur cette adresse."),
    409: ("conflict", "Conflit avec l'état actuel des données."),
    413: ("payload_too_large", "Le corps de la requête est trop volumineux."),
    415: ("unsupported_media_type", "Envoyez du JSON (Content-Type: application/json)."),
    422: ("validation_error", "Certains champs ne sont pas valides."),
    429: ("too_many_requests", "Trop de requêtes : patientez puis réessayez."),
    500: ("server_error", "Erreur interne du service. Réessayez ou prévenez l'équipe Lot'ôcar."),
    503: ("busy", "Le service est momentanément occupé : réessayez dans un instant."),
}

# BookingError.code → HTTP status (a missing body reference is a 422 on its field)
BOOKING_STATUS = {
    "not_found": 404,
    "invalid": 422,
    "invalid_state": 409,
    "illegal_transition": 409,
    "conflict": 409,
    "no_seat": 409,
    "not_a_candidate": 409,
}


class ApiError(Exception):
    def __init__(self, status: int, code: str | None = None, message: str | None = None,
                 fields: dict[str, str] | None = None, **extra: Any) -> None:
        default_code, default_message = HTTP_ERRORS.get(status, ("error", "Erreur."))
        super().__init__(message or default_message)
        self.status = status
        self.code = code or default_code
        self.message = message or default_message
        self.fields = fields or {}
        self.extra = extra


class ValidationError(ApiError):
    """Field → French message; 422."""

    def __init__(self, fields: dict[str, str], message: str | None = None, **extra: Any) -> None:
        super().__init__(422, "validation_error", message, fields, **extra)


def error_response(status: int, code: str | None = None, message: str | None = None,
                   fields: dict[str, str] | None = None, headers: dict[str, str] | None = None,
                   **extra: Any):
    default_code, default_message = HTTP_ERRORS.get(status, ("error", "Erreur."))
    body: dict[str, Any] = {"code": code or default_code, "message": message or default_message,
                            "fields": fields or {}}
    body.update(extra)
    response = jsonify({"error": body})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="lotocar-api"'
    if status == 405:
        allowed = getattr(request.routing_exception, "valid_methods", None)
        if allowed:
            response.headers["Allow"] = ", ".join(sorted(allowed))
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def is_busy(exc: BaseException) -> bool:
    """SQLite lock timeouts (and PostgreSQL serialization/deadlock aborts): retryable."""
    if not isinstance(exc, OperationalError):
        return False
    text = str(exc.orig if exc.orig is not None else exc).lower()
    return ("database is locked" in text or "database table is locked" in text
            or "deadlock detected" in text or "could not serialize" in text)


def register_error_handlers(bp: Blueprint) -> None:
    @bp.errorhandler(ApiError)
    def api_error(exc: ApiError):
        db.session.rollback()
        return error_response(exc.status, exc.code, exc.message, exc.fields, **exc.extra)

    @bp.errorhandler(BookingError)
    def booking_error(exc: BookingError):
        db.session.rollback()
        status = BOOKING_STATUS.get(exc.code, 409)
        if exc.code == "not_found" and exc.field:
            status = 422  # an unknown id given in the body
        fields = {exc.field: str(exc)} if exc.field else {}
        return error_response(status, exc.code, str(exc), fields)

    def http_error(exc: HTTPException):
        status = exc.code or 500
        if status >= 500:
            db.session.rollback()
        headers = {"Retry-After": "1"} if status == 503 else None
        return error_response(status, headers=headers)

    # By code as well as by class: the app's own handlers (lotocar.web) are registered by
    # code, and Flask prefers a code handler of the app to a class handler of a blueprint.
    bp.register_error_handler(HTTPException, http_error)
    for status in HTTP_ERRORS:
        bp.register_error_handler(status, http_error)

    @bp.errorhandler(Exception)
    def unexpected(exc: Exception):
        db.session.rollback()
        if is_busy(exc):
            log.warning("API: database busy after retries: %s", exc)
            return error_response(503, headers={"Retry-After": "1"})
        log.exception("API: unexpected error")
        return error_response(500)
