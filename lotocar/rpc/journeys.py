"""A done booking as a v3 journey of the register, its identities, and the checks the register
applies (so a refusal is known, and shown, before anything is sent)."""
from __future__ import annotations

import hashlib
import hmac
import json
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

from flask import current_app
from jsonschema import Draft202012Validator

from lotocar.bookings.models import Booking
from lotocar.contributions import operations as contributions
from lotocar.core.timeutil import to_local

SCHEMA_PATH = Path(__file__).with_name("journey.schema.json")
MIN_DISTANCE_M = 2000
MAX_DELAY = timedelta(hours=24)
CLOSE_MARGIN = timedelta(minutes=30)
MAX_TRIPS_PER_DAY = 4

LABELS_FR = {
    "expired": "envoyé plus de 24 h après le départ : le registre refuse les trajets déclarés si tard",
    "distance_too_short": "trajet de moins de 2 km : le registre ne le compte pas",
    "too_close_trips": "trop proche (moins de 30 min) d'un autre trajet du même conducteur avec le même passager",
    "too_many_trips_by_day": "plus de 4 trajets le même jour pour la même personne",
    "identity_erased": "identité effacée (RGPD) : plus de preuve possible",
    "invalid": "données du trajet non conformes au schéma du registre",
}


class JourneyBuildError(ValueError):
    def __init__(self, label: str, detail: str = "") -> None:
        super().__init__(detail or LABELS_FR.get(label, label))
        self.label = label


@lru_cache(maxsize=1)
def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def schema_errors(payload: dict) -> list[str]:
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(racine)'}: {e.message}"
            for e in validator().iter_errors(payload)]


def _name_key(last_name: str) -> str:
    plain = "".join(c for c in unicodedata.normalize("NFD", last_name or "") if not unicodedata.combining(c))
    return " ".join(plain.upper().split())


def identity_key(phone_e164: str, last_name: str) -> str:
    """SHA-256 hex of '<E.164 phone>-<LAST NAME>' (upper case, accents removed, spaces folded)."""
    return hashlib.sha256(f"{phone_e164.strip()}-{_name_key(last_name)}".encode()).hexdigest()


def operator_user_id(kind: str, person_id: int) -> str:
    """A stable pseudonym (HMAC of the person's id with the app's secret): no id leaks out."""
    secret = str(current_app.config["SECRET_KEY"]).encode("utf-8")
    return "ltc-" + hmac.new(secret, f"rpc:{kind}:{person_id}".encode(), hashlib.sha256).hexdigest()[:32]


def phone_trunc(phone_e164: str) -> str:
    return phone_e164[:-2]


def _identity(kind: str, person_id: int, phone: str | None, last_name: str) -> dict:
    if not phone or not phone.startswith("+") or not phone[1:].isdigit():
        raise JourneyBuildError("identity_erased")
    return {"identity_key": identity_key(phone, last_name),
            "operator_user_id": operator_user_id(kind, person_id), "phone_trunc": phone_trunc(phone)}


def _iso(value: datetime) -> str:
    return to_local(value).isoformat(timespec="seconds")


def trip_id(booking: Booking) -> str:
    return f"lotocar-t{booking.offer_id}-{booking.occurrence_date:%Y%m%d}"


def journey_id(booking: Booking) -> str:
    return f"lotocar-j{booking.id}"


@dataclass(frozen=True)
class Built:
    payload: dict
    start_at: datetime
    end_at: datetime
    distance_m: int
    driver_key: str
    passenger_key: str


def build(booking: Booking) -> Built:
    """The v3 journey of a done booking (raises JourneyBuildError when it cannot be one)."""
    request, offer = booking.request, booking.offer
    passenger, user = request.passenger, offer.driver.user
    quote = contributions.for_booking(booking)
    km = quote.km
    start = booking.pickup_at
    if start is None:
        raise JourneyBuildError("invalid", "heure de prise en charge inconnue")
    speed = float(current_app.config.get("ROUTER_SPEED_KMH", 60.0))
    end = booking.dropoff_at or start + timedelta(minutes=km / speed * 60)
    p_lat, p_lon = request.point("origin")
    d_lat, d_lon = request.point("destination")
    driver_identity = _identity("driver", user.id, user.phone, user.last_name)
    passenger_identity = _identity("passenger", passenger.id, passenger.phone, passenger.last_name)
    distance = max(1, int(round(km * 1000)))
    payload = {
        "operator_journey_id": journey_id(booking),
        "operator_trip_id": trip_id(booking),
        "operator_class": "A",
        "start": {"datetime": _iso(start), "lat": round(p_lat, 6), "lon": round(p_lon, 6)},
        "end": {"datetime": _iso(end), "lat": round(d_lat, 6), "lon": round(d_lon, 6)},
        "distance": distance,
        "driver": {"identity": driver_identity, "revenue": quote.amount_cents},
        "passenger": {"identity": passenger_identity, "contribution": quote.amount_cents,
                      "seats": max(1, min(8, booking.seats))},
        "incentives": [],
    }
    errors = schema_errors(payload)
    if errors:
        raise JourneyBuildError("invalid", "; ".join(errors))
    return Built(payload, start, end, distance, driver_identity["identity_key"],
                 passenger_identity["identity_key"])


@dataclass(frozen=True)
class Facts:
    """What the register's rules look at."""

    trip_id: str
    start_at: datetime
    end_at: datetime
    distance_m: int
    driver_key: str
    passenger_key: str


def refusals(j: Facts, now: datetime, others: list[Facts]) -> list[str]:
    """The register's refusal labels this journey would get if sent `now` (others = the
    other journeys it already holds or will hold). Mirrors the register's published rules."""
    labels = []
    if now - j.start_at > MAX_DELAY:
        labels.append("expired")
    if j.distance_m < MIN_DISTANCE_M:
        labels.append("distance_too_short")
    day = to_local(j.start_at).date()
    same_day_trips = {o.trip_id for o in others
                      if o.trip_id != j.trip_id and to_local(o.start_at).date() == day
                      and ({o.driver_key, o.passenger_key} & {j.driver_key, j.passenger_key})}
    if len(same_day_trips) >= MAX_TRIPS_PER_DAY:
        labels.append("too_many_trips_by_day")
    for o in others:
        if (o.trip_id != j.trip_id and o.driver_key == j.driver_key and o.passenger_key == j.passenger_key
                and j.start_at <= o.start_at <= j.end_at + CLOSE_MARGIN
                and j.start_at - CLOSE_MARGIN <= o.end_at <= j.end_at):
            labels.append("too_close_trips")
            break
    return labels


def describe(labels: list[str] | None) -> str:
    return " ; ".join(LABELS_FR.get(label, label) for label in (labels or []))
