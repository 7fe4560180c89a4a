"""The OpenAPI 3.1 document of the JSON API, served at /api/openapi.json.

Built in Python so that schema pieces are shared; the tests check that the document is a
valid OpenAPI 3.1 description and that every response the tests receive conforms to it.
"""
from __future__ import annotations

from copy import deepcopy
from typing import Any

from lotocar.api.schemas import CANCEL_BY, MAX_ID, REASONS
from lotocar.bookings.models import BookingStatus
from lotocar.offers.models import OfferKind, OfferStatus
from lotocar.requests.models import RequestStatus

JSON = "application/json"


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    schema = dict(schema)
    kind = schema.get("type")
    if kind is not None:
        schema["type"] = [kind, "null"] if isinstance(kind, str) else [*kind, "null"]
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
        return schema
    return {"anyOf": [schema, {"type": "null"}]}


def obj(properties: dict[str, Any], required: list[str] | None = None, closed: bool = True,
        description: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if closed:
        schema["additionalProperties"] = False
    if description:
        schema["description"] = description
    return schema


STRING = {"type": "string"}
INT = {"type": "integer"}
ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
NUMBER = {"type": "number"}
BOOL = {"type": "boolean"}
CONTRIBUTION_EUR = {
    "type": "number", "minimum": 0,
    "description": "Suggested cost participation of the passenger for this ride, in euros with 2 "
                   "decimals (0 for a free ride): the passenger's road km × CONTRIBUTION_EUR_PER_KM, "
                   "rounded, within the per-ride bounds. Fixed on the booking at confirmation."}
CONTRIBUTION_BASIS = {
    "type": "string", "enum": ["suggested", "driver_free", "exempt", "service_off"],
    "description": "Why: suggested amount, the driver chose free rides, the passenger is exempt, or the "
                   "service suggests no participation."}
DATE = {"type": "string", "format": "date", "examples": ["2026-12-01"]}
DATETIME = {"type": "string", "format": "date-time",
            "description": "ISO 8601 with the Europe/Paris offset.",
            "examples": ["2026-12-01T07:45:00+01:00"]}
LOCAL_DATETIME = {
    "type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}",
    "description": "Europe/Paris wall-clock date and time, e.g. 2026-12-01T07:45 (an explicit "
                   "offset is accepted and converted).",
    "examples": ["2026-12-01T07:45"],
}
HHMM = {"type": "string", "pattern": r"^\d{2}:\d{2}(:\d{2})?$", "examples": ["07:45"]}
INSEE = {"type": "string", "minLength": 5, "maxLength": 5, "examples": ["46042"]}

SCHEMAS: dict[str, Any] = {
    "Error": obj({
        "error": obj({
            "code": {**STRING, "description": "Machine-readable reason, e.g. validation_error, "
                                              "unauthorized, not_found, illegal_transition, no_seat."},
            "message": {**STRING, "description": "French message for the person."},
            "fields": {"type": "object", "additionalProperties": STRING,
                       "description": "Field path (dotted, e.g. origin.insee) → French message."},
            "existing_id": {**ID, "description": "The passenger already registered with this phone."},
        }, ["code", "message", "fields"]),
    }, ["error"]),
    "PlaceInput": {
        **obj({
            "insee": {**INSEE, "description": "Commune of the Lot or around it (INSEE code; its town "
                                              "hall is the meeting point), or a former commune's own "
                                              "code (46325 = Vaillac, in Cœur de Causse 46138: the old "
                                              "village is the meeting point)."},
            "lat": {**NUMBER, "minimum": -90, "maximum": 90},
            "lon": {**NUMBER, "minimum": -180, "maximum": 180},
            "place": {**STRING, "maxLength": 200, "description": "Meeting point as said, e.g. 'parking de la mairie'."},
        }, description="A commune, or a precise point (the commune is then the nearest one), or both."),
        "anyOf": [{"required": ["insee"]}, {"required": ["lat", "lon"]}],
    },
    "Place": obj({
        "insee": INSEE, "name": STRING, "lat": NUMBER, "lon": NUMBER,
        "precise": {**BOOL, "description": "true when a precise point was given (or a former "
                                           "commune's village), else the town hall."},
        "place": nullable(STRING),
        "departement": {**STRING, "description": "46 for the Lot, else the département around it."},
        "in_lot": BOOL,
        "former": nullable(ref("FormerCommune")),
    }, ["insee", "name", "lat", "lon", "precise", "place", "departement", "in_lot", "former"]),
    "FormerCommune": obj({"insee": INSEE, "name": STRING},
                         ["insee", "name"], description="A former commune merged into a commune nouvelle."),
    "Commune": obj({
        "insee": INSEE, "name": STRING, "postcode": STRING,
        "label": {**STRING, "description": "'Cahors (46000)', 'Brive-la-Gaillarde (19)' outside the "
                                           "Lot, 'Cœur de Causse — Vaillac' for a former commune."},
        "population": INT, "epci": STRING,
        "departement": STRING, "in_lot": BOOL,
        "former": {**nullable(ref("FormerCommune")),
                   "description": "Set when the match is a former commune of this commune; "
                                  "lat/lon are then its village point."},
        "lat": NUMBER, "lon": NUMBER,
        "match": {"type": "string", "enum": ["exact", "prefix", "phonetic", "word", "sounds_like",
                                             "contains", "fuzzy", "code"]},
        "score": NUMBER,
    }, ["insee", "name", "postcode", "label", "population", "epci", "departement", "in_lot",
        "former", "lat", "lon"]),
    "CommuneList": obj({"communes": {"type": "array", "items": ref("Commune")}}, ["communes"]),
    "DriverInput": obj({
        "first_name": {**STRING, "maxLength": 80}, "last_name": {**STRING, "maxLength": 80},
        "phone": {**STRING, "description": "French mobile number as written, e.g. 06 12 34 56 78."},
        "home_insee": INSEE, "email": {**STRING, "maxLength": 254},
        "consent_contact": {**BOOL, "description": "The driver agreed to be contacted (required true)."},
    }, ["first_name", "last_name", "phone", "home_insee", "consent_contact"]),
    "Driver": obj({
        "id": ID, "user_id": ID, "first_name": STRING, "last_name": STRING,
        "phone": {**STRING, "description": "E.164"}, "phone_display": STRING, "email": nullable(STRING),
        "home_insee": INSEE, "home_name": STRING, "phone_verified": BOOL, "consent_contact": BOOL,
        "created_at": DATETIME,
    }, ["id", "user_id", "first_name", "last_name", "phone", "phone_display", "email", "home_insee",
        "home_name", "phone_verified", "consent_contact", "created_at"]),
    "PassengerInput": obj({
        "first_name": {**STRING, "maxLength": 80}, "last_name": {**STRING, "maxLength": 80},
        "phone": {**STRING, "description": "French number as written; landlines accepted."},
        "home_insee": INSEE,
        "has_no_car": {**BOOL, "description": "Confirmed: the person has no car (required true)."},
        "sms_consent": {**BOOL, "default": False, "description": "Agreed to receive SMS (mobile only)."},
        "needs": {**STRING, "maxLength": 2000}, "notes": {**STRING, "maxLength": 2000},
    }, ["first_name", "last_name", "phone", "home_insee", "has_no_car"]),
    "Passenger": obj({
        "id": ID, "first_name": STRING, "last_name": STRING, "phone": STRING, "phone_display": STRING,
        "phone_is_mobile": BOOL, "home_insee": INSEE, "home_name": STRING, "has_no_car": BOOL,
        "sms_consent": BOOL, "needs": nullable(STRING), "notes": nullable(STRING), "created_at": DATETIME,
    }, ["id", "first_name", "last_name", "phone", "phone_display", "phone_is_mobile", "home_insee",
        "home_name", "has_no_car", "sms_consent", "needs", "notes", "created_at"]),
    "Recurrence": obj({
        "weekdays": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 7},
                     "minItems": 1, "maxItems": 7, "uniqueItems": True,
                     "description": "ISO weekdays, 1 = Monday … 7 = Sunday."},
        "time": {**HHMM, "description": "Local departure time (stays 07:45 across DST changes)."},
        "start_date": DATE, "end_date": DATE,
    }, ["weekdays", "time", "start_date", "end_date"]),
    "OfferInput": {
        **obj({
            "driver_id": ID, "origin": ref("PlaceInput"), "destination": ref("PlaceInput"),
            "departure": {**LOCAL_DATETIME, "description": "One-off trip: local date and time."},
            "recurrence": ref("Recurrence"),
            "seats": {"type": "integer", "minimum": 1, "maximum": 8},
            "max_detour_minutes": {"type": "integer", "minimum": 0, "maximum": 60},
            "remark": {**STRING, "maxLength": 1000},
        }, ["driver_id", "origin", "destination", "seats", "max_detour_minutes"]),
        "oneOf": [{"required": ["departure"]}, {"required": ["recurrence"]}],
    },
    "Offer": obj({
        "id": ID, "driver_id": ID, "kind": {"type": "string", "enum": [k.value for k in OfferKind]},
        "status": {"type": "string", "enum": [s.value for s in OfferStatus]},
        "origin": ref("Place"), "destination": ref("Place"), "departure": nullable(DATETIME),
        "recurrence": nullable(ref("Recurrence")), "seats": INT, "max_detour_minutes": INT,
        "remark": nullable(STRING), "created_at": DATETIME,
    }, ["id", "driver_id", "kind", "status", "origin", "destination", "departure", "recurrence",
        "seats", "max_detour_minutes", "remark", "created_at"]),
    "RequestInput": {
        **obj({
            "passenger_id": ID, "origin": ref("PlaceInput"), "destination": ref("PlaceInput"),
            "arrive_by": {**LOCAL_DATETIME, "description": "Be there by (an appointment)."},
            "depart_after": {**LOCAL_DATETIME, "description": "Leave after."},
            "flexibility_minutes": {"type": "integer", "minimum": 0, "maximum": 240, "default": 30},
            "reason": {"type": "string", "enum": REASONS},
            "notes": {**STRING, "maxLength": 2000},
        }, ["passenger_id", "origin", "destination", "reason"]),
        "oneOf": [{"required": ["arrive_by"]}, {"required": ["depart_after"]}],
    },
    "TripRequest": obj({
        "id": ID, "passenger_id": ID,
        "status": {"type": "string", "enum": [s.value for s in RequestStatus]},
        "origin": ref("Place"), "destination": ref("Place"), "arrive_by": nullable(DATETIME),
        "depart_after": nullable(DATETIME), "flexibility_minutes": INT,
        "reason": {"type": "string", "enum": REASONS}, "seats": INT, "notes": nullable(STRING),
        "flag": nullable(STRING), "return_of_id": nullable(ID), "created_at": DATETIME,
    }, ["id", "passenger_id", "status", "origin", "destination", "arrive_by", "depart_after",
        "flexibility_minutes", "reason", "seats", "notes", "flag", "return_of_id", "created_at"]),
    "Candidate": obj({
        "rank": {**INT, "minimum": 1}, "offer_id": ID, "driver_id": ID, "date": DATE,
        "departure_at": DATETIME, "pickup_at": DATETIME, "dropoff_at": DATETIME,
        "detour_minutes": NUMBER, "detour_km": NUMBER,
        "band": {"type": "string", "description": "green (≤ 5 min), orange (≤ 15 min), red."},
        "seats_left": INT, "already_travelled": BOOL, "driver_first_name": STRING,
        "driver_commune": STRING, "driver_phone": STRING, "driver_phone_display": STRING,
        "trip": STRING, "reasons": {"type": "array", "items": STRING},
        "contribution_eur": CONTRIBUTION_EUR,
        "contribution_basis": CONTRIBUTION_BASIS,
        "contribution_label": {**STRING, "description": "What the operator reads out, in French."},
        "passenger_km": {**NUMBER, "description": "Passenger's road km, pickup → drop-off (the router's figure)."},
        "added_detour_minutes": {**NUMBER, "description":
                                 "Minutes this passenger adds to the driver's tour (= detour_minutes)."},
        "total_detour_minutes": {**NUMBER, "description":
                                 "The whole tour's time minus the driver's bare origin → destination time, "
                                 "with this passenger inserted (≤ max_detour_minutes)."},
        "max_detour_minutes": {**INT, "description": "The detour the driver accepts."},
        "stops": {"type": "array", "description": "The run's stops in order with this passenger inserted "
                  "(booked passengers' and hers; booking_id null for hers).", "items": obj({
                      "kind": {"type": "string", "enum": ["pickup", "dropoff"]},
                      "booking_id": nullable(ID), "passenger_first_name": STRING, "commune": STRING,
                      "at": DATETIME, "lat": NUMBER, "lon": NUMBER,
                  }, ["kind", "booking_id", "passenger_first_name", "commune", "at", "lat", "lon"])},
        "shifts": {"type": "array", "description": "Booked passengers whose pickup or drop-off minute moves if "
                   "this candidate is booked (their pickup moves by at most TOUR_MAX_SHIFT_MIN).",
                   "items": obj({
                       "booking_id": ID, "passenger_first_name": STRING,
                       "pickup_before": DATETIME, "pickup_after": DATETIME,
                       "dropoff_before": DATETIME, "dropoff_after": DATETIME,
                   }, ["booking_id", "pickup_before", "pickup_after", "dropoff_before", "dropoff_after"])},
    }, ["rank", "offer_id", "driver_id", "date", "departure_at", "pickup_at", "dropoff_at",
        "detour_minutes", "detour_km", "band", "seats_left", "contribution_eur", "added_detour_minutes",
        "total_detour_minutes", "stops", "shifts"], closed=False,
        description="An occurrence of an offer that can serve the request, best first. More "
                    "informative fields may be added."),
    "CandidateList": obj({"request_id": ID, "count": INT,
                          "candidates": {"type": "array", "items": ref("Candidate")}},
                         ["request_id", "count", "candidates"]),
    "BookingInput": obj({"request_id": ID, "offer_id": ID, "date": {
        **DATE, "description": "Local date of the offer's run (a candidate's `date`)."}},
        ["request_id", "offer_id", "date"]),
    "Booking": obj({
        "id": ID, "status": {"type": "string", "enum": [s.value for s in BookingStatus]},
        "status_label": STRING, "request_id": ID, "offer_id": ID, "driver_id": ID, "passenger_id": ID,
        "date": DATE, "seats": INT, "pickup_at": nullable(DATETIME), "dropoff_at": nullable(DATETIME),
        "detour_minutes": nullable(NUMBER), "reason": nullable(STRING), "created_at": DATETIME,
        "updated_at": DATETIME, "contribution_eur": CONTRIBUTION_EUR,
        "contribution_fixed": {**BOOL, "description": "True once confirmed: the amount is fixed on the "
                                                      "booking and later rate changes never move it."},
        "contribution_basis": CONTRIBUTION_BASIS,
    }, ["id", "status", "status_label", "request_id", "offer_id", "driver_id", "passenger_id", "date",
        "seats", "pickup_at", "dropoff_at", "detour_minutes", "reason", "created_at", "updated_at",
        "contribution_eur", "contribution_fixed", "contribution_basis"]),
    "TransitionInput": obj({"reason": {**STRING, "maxLength": 300}}),
    "CancelInput": obj({
        "by": {"type": "string", "enum": CANCEL_BY, "default": "operator",
               "description": "Who cancels (the passenger on the phone, the driver, or the operator)."},
        "reason": {**STRING, "maxLength": 300},
    }),
}

ERROR_RESPONSES = {
    "400": "Malformed JSON, or a body that is not a JSON object.",
    "401": "Missing, unknown or revoked token.",
    "403": "The token's account is not an operator or admin.",
    "404": "Unknown id in the path.",
    "405": "Method not allowed.",
    "409": "Conflict with the current state (illegal transition, no seat left, already booked, "
           "done or no-show before the day of the ride: too_early…).",
    "413": "Body too large.",
    "415": "Body not sent as application/json.",
    "422": "Invalid fields (types, unknown commune, bad phone, dates in the past, unknown ids in "
           "the body…): see `fields`.",
    "500": "Unexpected error.",
    "503": "Database busy: retry (Retry-After).",
}


def _responses(success: str, schema: str | None, description: str, errors: list[str]) -> dict:
    out: dict[str, Any] = {success: {"description": description}}
    if schema:
        out[success]["content"] = {JSON: {"schema": ref(schema)}}
    for code in sorted({"401", "403", "405", "500", "503", *errors}):
        out[code] = {"$ref": f"#/components/responses/E{code}"}
    return out


def _body(schema: str, required: bool = True) -> dict:
    return {"required": required, "content": {JSON: {"schema": ref(schema)}}}


def _id_param(name: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": ID}


WRITE_ERRORS = ["400", "413", "415", "422"]


def _paths() -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/api/openapi.json": {"get": {
            "summary": "This document", "operationId": "openapi", "security": [], "tags": ["meta"],
            "responses": {"200": {"description": "OpenAPI 3.1 document",
                                  "content": {JSON: {"schema": {"type": "object"}}}}},
        }},
        "/api/v1/communes": {"get": {
            "summary": "Find communes by name as typed or said, postcode or INSEE code",
            "operationId": "findCommunes", "tags": ["communes"],
            "parameters": [
                {"name": "q", "in": "query", "required": True,
                 "schema": {"type": "string", "maxLength": 100}, "example": "cahor"},
                {"name": "limit", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10}},
            ],
            "responses": _responses("200", "CommuneList", "Best match first", ["422"]),
        }},
        "/api/v1/drivers": {"post": {
            "summary": "Register a driver on their behalf", "operationId": "createDriver",
            "tags": ["drivers"], "requestBody": _body("DriverInput"),
            "responses": _responses("201", "Driver", "Driver registered", WRITE_ERRORS),
        }},
        "/api/v1/passengers": {"post": {
            "summary": "Register a passenger", "operationId": "createPassenger", "tags": ["passengers"],
            "requestBody": _body("PassengerInput"),
            "responses": _responses("201", "Passenger", "Passenger registered",
                                    [*WRITE_ERRORS, "409"]),
        }},
        "/api/v1/offers": {"post": {
            "summary": "Create a driver's trip (one-off or regular)", "operationId": "createOffer",
            "tags": ["offers"], "requestBody": _body("OfferInput"),
            "responses": _responses("201", "Offer", "Trip created", WRITE_ERRORS),
        }},
        "/api/v1/requests": {"post": {
            "summary": "Create a passenger's trip request", "operationId": "createRequest",
            "tags": ["requests"], "requestBody": _body("RequestInput"),
            "responses": _responses("201", "TripRequest", "Request created", WRITE_ERRORS),
        }},
        "/api/v1/requests/{request_id}": {"get": {
            "summary": "A trip request", "operationId": "getRequest", "tags": ["requests"],
            "parameters": [_id_param("request_id")],
            "responses": _responses("200", "TripRequest", "The request", ["404"]),
        }},
        "/api/v1/requests/{request_id}/candidates": {"get": {
            "summary": "Offers that can serve the request, best first",
            "operationId": "requestCandidates", "tags": ["requests"],
            "parameters": [_id_param("request_id")],
            "responses": _responses("200", "CandidateList", "Ranked candidates", ["404"]),
        }},
        "/api/v1/bookings": {"post": {
            "summary": "Propose a candidate to its driver (holds the seat)",
            "description": "Only a current candidate (offer and date from "
                           "/requests/{id}/candidates) can be booked; pickup, drop-off and detour "
                           "are taken from it. The last seat cannot be taken twice.",
            "operationId": "createBooking", "tags": ["bookings"], "requestBody": _body("BookingInput"),
            "responses": _responses("201", "Booking", "Booking proposed (status `proposed`)",
                                    [*WRITE_ERRORS, "409"]),
        }},
        "/api/v1/bookings/{booking_id}": {"get": {
            "summary": "A booking", "operationId": "getBooking", "tags": ["bookings"],
            "parameters": [_id_param("booking_id")],
            "responses": _responses("200", "Booking", "The booking", ["404"]),
        }},
    }
    actions = {
        "accept": "The driver accepted (proposed → accepted_by_driver)",
        "decline": "The driver declined (proposed → declined; the seat is freed)",
        "confirm": "The passenger is told (accepted_by_driver → confirmed)",
        "done": "The trip took place (confirmed → done)",
        "no_show": "The passenger did not come (confirmed → no_show)",
        "cancel": "Cancel a live booking (by the passenger, the driver or the operator)",
    }
    for action, summary in actions.items():
        paths[f"/api/v1/bookings/{{booking_id}}/{action}"] = {"post": {
            "summary": summary, "operationId": f"booking_{action}", "tags": ["bookings"],
            "parameters": [_id_param("booking_id")],
            "requestBody": _body("CancelInput" if action == "cancel" else "TransitionInput",
                                 required=False),
            "responses": _responses("200", "Booking", "The booking after the change",
                                    [*WRITE_ERRORS, "404", "409"]),
        }}
    return paths


def _document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Lot'ôcar API",
            "version": "1.0.0",
            "summary": "Solidarity carpooling in the Lot (46): communes, drivers, passengers, "
                       "trips, requests, candidates and bookings.",
            "description": "Authenticate with `Authorization: Bearer <token>` (tokens are issued "
                           "to operators and admins with `flask operators token EMAIL`). Times are "
                           "Europe/Paris: inputs as local wall-clock ISO 8601, outputs with the "
                           "offset. Errors: `{\"error\": {\"code\", \"message\" (French), "
                           "\"fields\"}}`.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "tags": [{"name": n} for n in ("communes", "drivers", "passengers", "offers", "requests",
                                       "bookings", "meta")],
        "paths": _paths(),
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                               "description": "API token (shown once when issued)."}},
            "responses": {
                f"E{code}": {"description": text, "content": {JSON: {"schema": ref("Error")}}}
                for code, text in ERROR_RESPONSES.items()
            },
        },
    }


_DOCUMENT = _document()


def document() -> dict[str, Any]:
    return deepcopy(_DOCUMENT)
