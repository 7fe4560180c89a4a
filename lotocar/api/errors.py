"""JSON errors of the API: `{"error": {"code", "message" (French), "fields": {…}}}`.

Every failure under /api/ answers in this shape, never an HTML page and never a bare 500:
the blueprint's handlers cover what its views raise, and `lotocar.web` hands routing
errors (unknown address, wrong method) under /api/ to `error_response`.
"""
from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from lotocar.bookings.operations import BookingError
from lotocar.core.errors import HTTP_ERRORS, error_response
from lotocar.extensions import db

__all__ = ["HTTP_ERRORS", "error_response"]

log = logging.getLogger("lotocar.api")

# BookingError.code → HTTP status (a missing body reference is a 422 on its field)
BOOKING_STATUS = {
    "not_found": 404,
    "invalid": 422,
    "invalid_state": 409,
    "illegal_transition": 409,
    "conflict": 409,
    "no_seat": 409,
    "not_a_candidate": 409,
    "too_early": 409,
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
