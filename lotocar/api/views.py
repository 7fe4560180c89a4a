"""The JSON API (issue #4): partners and operators' tools, bearer-token authenticated.

Thin views: read the JSON (lotocar.api.schemas), call an operation, serialise. Errors are
JSON (lotocar.api.errors); the OpenAPI 3.1 document is at /api/openapi.json.
"""
from __future__ import annotations

import json
import logging
import random
import time
from typing import Any, Callable, TypeVar

from flask import Blueprint, jsonify, request, url_for

from lotocar.api import schemas
from lotocar.api.auth import actor_id, authenticate_request
from lotocar.api.errors import ApiError, ValidationError, is_busy, register_error_handlers
from lotocar.api.openapi import document
from lotocar.bookings import operations as bookings
from lotocar.bookings.models import Booking
from lotocar.candidates import operations as candidates
from lotocar.communes import operations as communes
from lotocar.drivers import operations as drivers
from lotocar.drivers.models import Driver
from lotocar.core import tx
from lotocar.extensions import csrf, db
from lotocar.offers import operations as offers
from lotocar.offers.models import Offer
from lotocar.passengers import operations as passengers
from lotocar.requests import operations as requests_ops
from lotocar.requests.models import TripRequest

bp = Blueprint("api", __name__, url_prefix="/api")
csrf.exempt(bp)  # bearer tokens only: the session cookie never authenticates an API call
register_error_handlers(bp)

log = logging.getLogger("lotocar.api")
MAX_BODY = 64 * 1024
PUBLIC_ENDPOINTS = {"api.openapi_json"}
T = TypeVar("T")


@bp.before_request
def _authenticate():
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    authenticate_request()


@bp.after_request
def _no_store(response):
    response.headers.setdefault("Cache-Control", "no-store")
    return response


# --- helpers -------------------------------------------------------------------------------

def json_body(optional: bool = False) -> dict[str, Any]:
    """The request's JSON object, or a clean 400 / 413 / 415."""
    if (request.content_length or 0) > MAX_BODY:
        raise ApiError(413)  # refused before reading it
    raw = request.get_data(cache=True)
    if len(raw) > MAX_BODY:
        raise ApiError(413)
    if optional and not raw.strip():
        return {}
    if not request.is_json:
        raise ApiError(415)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # RecursionError: [[[[…]]]] nested deep
        raise ApiError(400, "malformed_json", "Le corps de la requête n'est pas du JSON valide.") from exc
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_body", "Le corps de la requête doit être un objet JSON.")
    return data


def retrying(action: Callable[[], T], attempts: int = 4) -> T:
    """Run a write and commit it once (the API handler is the edge), retrying when the
    database was busy (SQLite's single writer lock): a busy error rolls everything back, so
    running the whole action again is safe.
    """
    for attempt in range(attempts):
        try:
            return tx.atomic(action)
        except Exception as exc:
            if not is_busy(exc) or attempt == attempts - 1:
                raise
            log.info("API: database busy (%s), retry %d", exc.__class__.__name__, attempt + 1)
            time.sleep(0.05 * (attempt + 1) + random.random() * 0.05)
    raise AssertionError("unreachable")


def get_or_404(model, ident: int, message: str):
    # the <int:…> converter takes any digits: an id past the column's range is simply unknown
    item = db.session.get(model, ident) if 1 <= ident <= schemas.MAX_ID else None
    if item is None:
        raise ApiError(404, "not_found", message)
    return item


def created(payload: dict[str, Any], location: str | None = None):
    response = jsonify(payload)
    response.status_code = 201
    if location:
        response.headers["Location"] = location
    return response


# --- the document ---------------------------------------------------------------------------

@bp.get("/openapi.json")
def openapi_json():
    return jsonify(document())


# --- communes -------------------------------------------------------------------------------

@bp.get("/v1/communes")
def list_communes():
    q = request.args.get("q", "")
    errors = {}
    if not q.strip():
        errors["q"] = "Indiquez le nom, le code postal ou le code INSEE cherché."
    elif len(q) > 100:
        errors["q"] = "100 caractères au plus."
    try:
        limit = int(request.args.get("limit", 10))
        if not 1 <= limit <= 50:
            raise ValueError
    except ValueError:
        errors["limit"] = "Nombre entier de 1 à 50 attendu."
    if errors:
        raise ValidationError(errors)
    return jsonify({"communes": [schemas.commune_json(c, m) for c, m in communes.find(q, limit=limit)]})


# --- drivers and passengers ----------------------------------------------------------------

@bp.post("/v1/drivers")
def create_driver():
    data = schemas.read_driver(json_body())
    try:
        driver = retrying(lambda: drivers.register_by_staff(data, actor_id()))
    except drivers.DriverInputError as exc:
        raise ValidationError(exc.errors) from exc
    return created(schemas.driver_json(driver))


@bp.post("/v1/passengers")
def create_passenger():
    data = schemas.read_passenger(json_body())
    try:
        passenger = retrying(lambda: passengers.register(data, actor_id()))
    except passengers.PassengerError as exc:
        fields = schemas.passenger_errors(exc.errors)
        if exc.existing is not None:
            raise ApiError(409, "duplicate", "Ce numéro de téléphone est déjà celui d'un passager.",
                           fields, existing_id=exc.existing.id) from exc
        raise ValidationError(fields) from exc
    return created(schemas.passenger_json(passenger))


# --- offers and requests -------------------------------------------------------------------

@bp.post("/v1/offers")
def create_offer():
    driver_id, data = schemas.read_offer(json_body())
    driver = db.session.get(Driver, driver_id)
    if driver is None:
        raise ValidationError({"driver_id": "Conducteur inconnu."})
    try:
        # the trip and its consequences (flags) are one transaction: retried whole
        offer = retrying(lambda: offers.create_offer(driver, data, actor_id()))
    except offers.OfferValidationError as exc:
        raise ValidationError(schemas.offer_errors(exc.errors, data.kind)) from exc
    return created(schemas.offer_json(offer))


@bp.post("/v1/requests")
def create_request():
    data = schemas.read_request(json_body())
    try:
        trip, _ = retrying(lambda: requests_ops.create_request(data, actor_id()))
    except requests_ops.RequestInputError as exc:
        raise ValidationError(schemas.request_errors(exc.errors, data.mode)) from exc
    return created(schemas.request_json(trip))


@bp.get("/v1/requests/<int:request_id>")
def get_request(request_id: int):
    return jsonify(schemas.request_json(get_or_404(TripRequest, request_id, "Demande inconnue.")))


@bp.get("/v1/requests/<int:request_id>/candidates")
def request_candidates(request_id: int):
    trip = get_or_404(TripRequest, request_id, "Demande inconnue.")
    return jsonify(schemas.candidates_json(candidates.ranked_candidates(trip)))


# --- bookings -------------------------------------------------------------------------------

@bp.post("/v1/bookings")
def create_booking():
    request_id, offer_id, day = schemas.read_booking(json_body())
    trip = db.session.get(TripRequest, request_id)
    if trip is None:
        raise ValidationError({"request_id": "Demande inconnue."})
    if db.session.get(Offer, offer_id) is None:
        raise ValidationError({"offer_id": "Trajet inconnu."})
    booking = retrying(lambda: candidates.propose_candidate(trip, offer_id, day, actor_id()))
    return created(schemas.booking_json(booking),
                   url_for("api.get_booking", booking_id=booking.id))


@bp.get("/v1/bookings/<int:booking_id>")
def get_booking(booking_id: int):
    return jsonify(schemas.booking_json(get_or_404(Booking, booking_id, "Réservation inconnue.")))


@bp.post("/v1/bookings/<int:booking_id>/<any(accept, decline, confirm, cancel, done, no_show):action>")
def booking_action(booking_id: int, action: str):
    operation, reason = schemas.read_transition(json_body(optional=True), action)
    get_or_404(Booking, booking_id, "Réservation inconnue.")
    booking = retrying(lambda: bookings.transition(booking_id, operation, actor_id(), reason))
    return jsonify(schemas.booking_json(booking))
