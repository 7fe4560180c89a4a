"""JSON ⇄ the operations' plain inputs and the models: types checked, French field errors.

Parsing only checks shapes and types (a string where a string is expected, an ISO date…)
and turns the JSON into the dataclasses the operations take; business rules (dates in the
past, phone numbers, seats…) stay in the operations, whose field names are mapped back to
the API's names here. Field paths are dotted: `origin.insee`, `recurrence.weekdays`.
"""
from __future__ import annotations

import math
from datetime import date, datetime, time
from typing import Any

from lotocar.api.errors import ValidationError
from lotocar.bookings.operations import STATUS_LABELS_FR
from lotocar.contributions import operations as contributions
from lotocar.communes import operations as communes
from lotocar.core.guards import MAX_ROW_ID
from lotocar.core.phones import format_phone
from lotocar.core.timeutil import PARIS, to_local
from lotocar.offers.operations import place_input
from lotocar.offers.rules import OfferInput, PlaceInput
from lotocar.requests.operations import RequestInput

REQUIRED = "Ce champ est obligatoire."
MAX_ID = MAX_ROW_ID  # ids are 32-bit integer columns: a larger one cannot exist (nor be queried)


# --- reading JSON ----------------------------------------------------------------------

def storable(text: str) -> bool:
    """No NUL (PostgreSQL refuses it) and no lone surrogate (JSON allows "\\ud800", UTF-8 does not)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Fields:
    """Typed reads from one JSON object; errors gathered in a shared field → message map."""

    def __init__(self, data: dict[str, Any], allowed: set[str], errors: dict[str, str] | None = None,
                 prefix: str = "") -> None:
        self.data = data
        self.errors = {} if errors is None else errors
        self.prefix = prefix
        for key in data:
            if key not in allowed:
                self.errors[self.path(key)] = "Champ inconnu."

    def path(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def fail(self, key: str, message: str) -> None:
        self.errors.setdefault(self.path(key), message)

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def _get(self, key: str, required: bool) -> Any:
        value = self.data.get(key)
        if value is None and required:
            self.fail(key, REQUIRED)
        return value

    def string(self, key: str, required: bool = False, max_len: int | None = None) -> str | None:
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, str):
            self.fail(key, "Texte attendu.")
            return None
        if max_len is not None and len(value) > max_len:
            self.fail(key, f"{max_len} caractères au plus.")
            return None
        if not storable(value):
            self.fail(key, "Caractère interdit : caractère nul (\\u0000) ou demi-caractère Unicode "
                           "(\\ud800-\\udfff isolé).")
            return None
        if required and not value.strip():
            self.fail(key, REQUIRED)
            return None
        return value

    def integer(self, key: str, required: bool = False) -> int | None:
        value = self._get(key, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, "Nombre entier attendu.")
            return None
        return value

    def ident(self, key: str, unknown: str, required: bool = False) -> int | None:
        """The id of a row: an integer; one that cannot exist gets the `unknown` message."""
        value = self.integer(key, required)
        if value is not None and not 1 <= value <= MAX_ID:
            self.fail(key, unknown)
            return None
        return value

    def number(self, key: str, required: bool = False) -> float | None:
        value = self._get(key, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.fail(key, "Nombre attendu.")
            return None
        return float(value)

    def boolean(self, key: str, default: bool | None = None) -> bool | None:
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.fail(key, "true ou false attendu.")
            return default
        return value

    def obj(self, key: str, required: bool = False) -> dict[str, Any] | None:
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, dict):
            self.fail(key, "Objet JSON attendu.")
            return None
        return value

    def choice(self, key: str, choices: list[str], required: bool = False) -> str | None:
        value = self.string(key, required)
        if value is not None and value not in choices:
            self.fail(key, "Valeur inconnue : " + ", ".join(choices) + ".")
            return None
        return value

    def day(self, key: str, required: bool = False) -> date | None:
        value = self.string(key, required)
        if value is None:
            return None
        try:
            if len(value) != 10:
                raise ValueError
            return date.fromisoformat(value)
        except ValueError:
            self.fail(key, "Date attendue au format AAAA-MM-JJ.")
            return None

    def clock(self, key: str, required: bool = False) -> time | None:
        value = self.string(key, required)
        if value is None:
            return None
        try:
            if len(value) not in (5, 8):
                raise ValueError
            parsed = time.fromisoformat(value)
        except ValueError:
            self.fail(key, "Heure attendue au format HH:MM.")
            return None
        return parsed.replace(second=0, microsecond=0)

    def local_datetime(self, key: str, required: bool = False) -> datetime | None:
        """Naive Europe/Paris wall clock ('2026-12-01T07:45'); an explicit offset is converted."""
        value = self.string(key, required)
        if value is None:
            return None
        try:
            if len(value) < 16 or value[10] not in "T ":
                raise ValueError
            parsed = datetime.fromisoformat(value)
        except ValueError:
            self.fail(key, "Date et heure attendues au format ISO 8601, par ex. 2026-12-01T07:45 "
                           "(heure de Paris).")
            return None
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(PARIS).replace(tzinfo=None)
        return parsed.replace(second=0, microsecond=0)

    def raise_if_errors(self) -> None:
        if self.errors:
            raise ValidationError(self.errors)


def read_place(fields: Fields, key: str) -> PlaceInput | None:
    """`{"insee": "46042"}` or `{"lat": …, "lon": …}` (nearest commune, point kept), or both."""
    raw = fields.obj(key, required=True)
    if raw is None:
        return None
    sub = Fields(raw, {"insee", "lat", "lon", "place"}, fields.errors, prefix=f"{fields.path(key)}.")
    insee = sub.string("insee", max_len=5)
    lat, lon = sub.number("lat"), sub.number("lon")
    label = sub.string("place", max_len=200)
    if any(sub.path(k) in fields.errors for k in ("insee", "lat", "lon", "place")):
        return None
    if insee is None and lat is None and lon is None:
        fields.fail(key, 'Indiquez une commune {"insee": "46042"} ou un point {"lat": …, "lon": …}.')
        return None
    if (lat is None) != (lon is None):
        fields.fail(key, "Indiquez la latitude et la longitude, ou aucune des deux.")
        return None
    if lat is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180):
        fields.fail(key, "Coordonnées impossibles (latitude de -90 à 90, longitude de -180 à 180).")
        return None
    if insee is not None:
        place = communes.get_place(insee)
        if place is None:
            sub.fail("insee", "Commune inconnue : code INSEE d'une commune du Lot ou des environs "
                              "(ou d'une ancienne commune du Lot) attendu.")
            return None
        label, lat, lon = place.meeting_point(label, lat, lon)  # a former commune's village
        commune = place.commune
    else:
        commune = communes.nearest(lat, lon)
        if commune is None:
            fields.fail(key, "Aucune commune du Lot ou des environs à moins de 15 km de ce point.")
            return None
    return place_input(commune, label, lat, lon)


def _rename(errors: dict[str, str], names: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, message in errors.items():
        out.setdefault(names.get(key, key), message)
    return out


# --- drivers and passengers -----------------------------------------------------------

DRIVER_FIELDS = {"first_name", "last_name", "phone", "home_insee", "email", "consent_contact"}
PASSENGER_FIELDS = {"first_name", "last_name", "phone", "home_insee", "has_no_car", "sms_consent",
                    "needs", "notes"}


def passenger_errors(errors: dict[str, str]) -> dict[str, str]:
    """passengers.operations field names → API names."""
    return _rename(errors, {"home": "home_insee"})


def read_driver(data: dict[str, Any]):
    from lotocar.drivers.operations import DriverInput

    f = Fields(data, DRIVER_FIELDS)
    value = DriverInput(
        first_name=f.string("first_name", True, 80) or "", last_name=f.string("last_name", True, 80) or "",
        phone=f.string("phone", True, 30) or "", home_insee=f.string("home_insee", True, 5),
        email=f.string("email", max_len=254), consent_contact=bool(f.boolean("consent_contact", False)),
    )
    f.raise_if_errors()
    return value


def read_passenger(data: dict[str, Any]):
    from lotocar.passengers.operations import PassengerInput

    f = Fields(data, PASSENGER_FIELDS)
    value = PassengerInput(
        first_name=f.string("first_name", True, 80) or "", last_name=f.string("last_name", True, 80) or "",
        phone=f.string("phone", True, 30) or "", home_insee=f.string("home_insee", True, 5),
        has_no_car=bool(f.boolean("has_no_car", False)), sms_consent=bool(f.boolean("sms_consent", False)),
        needs=f.string("needs", max_len=2000), notes=f.string("notes", max_len=2000),
    )
    f.raise_if_errors()
    return value


# --- offers ------------------------------------------------------------------------------

OFFER_FIELDS = {"driver_id", "origin", "destination", "departure", "recurrence", "seats",
                "max_detour_minutes", "remark"}
RECURRENCE_FIELDS = {"weekdays", "time", "start_date", "end_date"}


def read_offer(data: dict[str, Any]) -> tuple[int, OfferInput]:
    f = Fields(data, OFFER_FIELDS)
    driver_id = f.ident("driver_id", "Conducteur inconnu.", required=True)
    origin, destination = read_place(f, "origin"), read_place(f, "destination")
    seats, detour = f.integer("seats", required=True), f.integer("max_detour_minutes", required=True)
    remark = f.string("remark", max_len=1000)
    departure = f.local_datetime("departure")
    recurrence = f.obj("recurrence")
    weekdays: frozenset[int] = frozenset()
    at = first = last = None
    if f.has("departure") == f.has("recurrence"):
        f.fail("departure", "Indiquez soit « departure » (trajet ponctuel), soit « recurrence » "
                            "(trajet régulier).")
    elif recurrence is not None:
        sub = Fields(recurrence, RECURRENCE_FIELDS, f.errors, prefix="recurrence.")
        raw_days = sub._get("weekdays", True)
        if raw_days is not None:
            if (not isinstance(raw_days, list) or not raw_days
                    or any(isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= 7 for d in raw_days)
                    or len(set(raw_days)) != len(raw_days)):
                sub.fail("weekdays", "Liste de jours ISO sans doublon attendue (1 = lundi … 7 = dimanche).")
            else:
                weekdays = frozenset(raw_days)
        at = sub.clock("time", True)
        first, last = sub.day("start_date", True), sub.day("end_date", True)
    f.raise_if_errors()
    assert origin is not None and destination is not None and driver_id is not None
    if departure is not None:
        value = OfferInput(kind="one_off", origin=origin, destination=destination, seats=seats,
                           max_detour_min=detour, departure_date=departure.date(),
                           departure_time=departure.time(), remark=remark)
    else:
        value = OfferInput(kind="regular", origin=origin, destination=destination, seats=seats,
                           max_detour_min=detour, departure_time=at, weekdays=weekdays,
                           first_date=first, last_date=last, remark=remark)
    return driver_id, value


def offer_errors(errors: dict[str, str], kind: str) -> dict[str, str]:
    """offers.rules field names → API names."""
    names = {
        "origin_lat": "origin", "origin_place": "origin.place",
        "destination_lat": "destination", "destination_place": "destination.place",
        "max_detour_min": "max_detour_minutes", "kind": "departure",
        "departure_date": "departure", "weekdays": "recurrence.weekdays",
        "first_date": "recurrence.start_date", "last_date": "recurrence.end_date",
        "departure_time": "departure" if kind == "one_off" else "recurrence.time",
    }
    return _rename(errors, names)


# --- requests ----------------------------------------------------------------------------

REQUEST_FIELDS = {"passenger_id", "origin", "destination", "arrive_by", "depart_after",
                  "flexibility_minutes", "reason", "notes"}
REASONS = ["medical", "job", "training", "shopping", "administration", "other"]
DEFAULT_FLEXIBILITY = 30


def read_request(data: dict[str, Any]) -> RequestInput:
    f = Fields(data, REQUEST_FIELDS)
    passenger_id = f.ident("passenger_id", "Passager inconnu.", required=True)
    origin, destination = read_place(f, "origin"), read_place(f, "destination")
    arrive_by, depart_after = f.local_datetime("arrive_by"), f.local_datetime("depart_after")
    if f.has("arrive_by") == f.has("depart_after"):
        f.fail("arrive_by", "Indiquez soit « arrive_by » (arriver avant), soit « depart_after » "
                            "(partir après).")
    flexibility = f.integer("flexibility_minutes")
    reason = f.choice("reason", REASONS, required=True)
    notes = f.string("notes", max_len=2000)
    f.raise_if_errors()
    assert origin is not None and destination is not None
    when = arrive_by or depart_after
    assert when is not None
    return RequestInput(
        passenger_id=passenger_id, origin=origin, destination=destination,
        mode="arrive_by" if arrive_by is not None else "leave_after",
        day=when.date(), at=when.time(),
        flexibility_min=DEFAULT_FLEXIBILITY if flexibility is None else flexibility,
        reason=reason, notes=notes,
    )


def request_errors(errors: dict[str, str], mode: str) -> dict[str, str]:
    when = "arrive_by" if mode == "arrive_by" else "depart_after"
    names = {
        "origin_lat": "origin", "origin_place": "origin.place",
        "destination_lat": "destination", "destination_place": "destination.place",
        "day": when, "at": when, "mode": when, "flexibility_min": "flexibility_minutes",
    }
    return _rename(errors, names)


# --- bookings ----------------------------------------------------------------------------

def read_booking(data: dict[str, Any]) -> tuple[int, int, date]:
    f = Fields(data, {"request_id", "offer_id", "date"})
    request_id = f.ident("request_id", "Demande inconnue.", True)
    offer_id = f.ident("offer_id", "Trajet inconnu.", True)
    day = f.day("date", True)
    f.raise_if_errors()
    assert request_id is not None and offer_id is not None and day is not None
    return request_id, offer_id, day


CANCEL_BY = ["operator", "passenger", "driver"]


def read_transition(data: dict[str, Any], action: str) -> tuple[str, str | None]:
    """(operation action, reason) for POST /bookings/{id}/<action>."""
    allowed = {"reason", "by"} if action == "cancel" else {"reason"}
    f = Fields(data, allowed)
    reason = f.string("reason", max_len=300)
    by = f.choice("by", CANCEL_BY) if action == "cancel" else None
    f.raise_if_errors()
    if action == "cancel":
        return f"cancel_by_{by or 'operator'}", (reason or "").strip() or None
    return action, (reason or "").strip() or None


# --- writing JSON ------------------------------------------------------------------------

def iso(value: datetime | None) -> str | None:
    """ISO 8601 with the Europe/Paris offset, e.g. 2026-12-01T07:45:00+01:00."""
    return to_local(value).isoformat(timespec="seconds") if value is not None else None


def iso_minute(value: datetime | None) -> str | None:
    """Like `iso`, truncated to the minute as in the candidate list (a pickup at 07:52)."""
    return iso(value.replace(second=0, microsecond=0)) if value is not None else None


def _reiso(value: str | None) -> str | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=PARIS)
    return parsed.astimezone(PARIS).isoformat(timespec="seconds")


def commune_json(place, match=None) -> dict[str, Any]:
    """A `communes.Place` (a commune, or a former commune of it) found by the lookup."""
    commune = place.commune
    data = {"insee": commune.insee, "name": commune.name, "postcode": commune.postcode,
            "label": place.label(), "population": commune.population, "epci": commune.epci_name,
            "departement": commune.departement, "in_lot": commune.in_lot,
            "former": ({"insee": place.former.former_insee, "name": place.former.name}
                       if place.former else None),
            "lat": place.lat, "lon": place.lon}
    if match is not None:
        data["match"] = match.how
        data["score"] = round(match.score, 1)
    return data


def place_json(obj, prefix: str) -> dict[str, Any]:
    commune = getattr(obj, prefix)
    lat, lon = obj.point(prefix)
    place = getattr(obj, f"{prefix}_place")
    former = communes.former_at(commune, place, getattr(obj, f"{prefix}_lat"),
                                getattr(obj, f"{prefix}_lon"))
    return {"insee": commune.insee, "name": commune.name, "lat": lat, "lon": lon,
            "precise": getattr(obj, f"{prefix}_lat") is not None,
            "place": place, "departement": commune.departement, "in_lot": commune.in_lot,
            "former": {"insee": former.former_insee, "name": former.name} if former else None}


def driver_json(driver) -> dict[str, Any]:
    user = driver.user
    return {"id": driver.id, "user_id": user.id, "first_name": user.first_name,
            "last_name": user.last_name, "phone": user.phone, "phone_display": format_phone(user.phone),
            "email": user.email, "home_insee": driver.home_insee, "home_name": driver.home.name,
            "phone_verified": user.phone_verified_at is not None,
            "consent_contact": driver.consent_contact, "created_at": iso(driver.created_at)}


def passenger_json(passenger) -> dict[str, Any]:
    return {"id": passenger.id, "first_name": passenger.first_name, "last_name": passenger.last_name,
            "phone": passenger.phone, "phone_display": format_phone(passenger.phone),
            "phone_is_mobile": passenger.phone_is_mobile, "home_insee": passenger.home_insee,
            "home_name": passenger.home.name, "has_no_car": passenger.has_no_car,
            "sms_consent": passenger.sms_consent_at is not None, "needs": passenger.needs,
            "notes": passenger.notes, "created_at": iso(passenger.created_at)}


def offer_json(offer) -> dict[str, Any]:
    regular = offer.is_regular
    return {
        "id": offer.id, "driver_id": offer.driver_id, "kind": offer.kind.value,
        "status": offer.status.value, "origin": place_json(offer, "origin"),
        "destination": place_json(offer, "destination"),
        "departure": None if regular else iso(offer.departure_at),
        "recurrence": {
            "weekdays": sorted(offer.weekday_set), "time": offer.local_time.strftime("%H:%M"),
            "start_date": offer.first_date.isoformat(), "end_date": offer.last_date.isoformat(),
        } if regular else None,
        "seats": offer.seats, "max_detour_minutes": offer.max_detour_min, "remark": offer.remark,
        "created_at": iso(offer.created_at),
    }


def request_json(trip) -> dict[str, Any]:
    arrive = trip.mode.value == "arrive_by"
    return {
        "id": trip.id, "passenger_id": trip.passenger_id, "status": trip.status.value,
        "origin": place_json(trip, "origin"), "destination": place_json(trip, "destination"),
        "arrive_by": iso(trip.target_at) if arrive else None,
        "depart_after": None if arrive else iso(trip.target_at),
        "flexibility_minutes": trip.flexibility_min, "reason": trip.reason.value,
        "seats": trip.seats, "notes": trip.notes, "flag": trip.flag,
        "return_of_id": trip.return_of_id, "created_at": iso(trip.created_at),
    }


def candidates_json(ranked: dict[str, Any]) -> dict[str, Any]:
    items = []
    for item in ranked["candidates"]:
        item = dict(item)
        for key in ("departure_at", "pickup_at", "dropoff_at"):
            item[key] = _reiso(item.get(key))
        item["stops"] = [{**stop, "at": _reiso(stop["at"])} for stop in item.get("stops", [])]
        item["shifts"] = [{k: (_reiso(v) if k != "booking_id" and k != "passenger_first_name" else v)
                           for k, v in shift.items()} for shift in item.get("shifts", [])]
        items.append(item)
    return {"request_id": ranked["request_id"], "count": len(items), "candidates": items}


def booking_json(booking) -> dict[str, Any]:
    return {
        "id": booking.id, "status": booking.status.value,
        "status_label": STATUS_LABELS_FR[booking.status], "request_id": booking.request_id,
        "offer_id": booking.offer_id, "driver_id": booking.offer.driver_id,
        "passenger_id": booking.request.passenger_id, "date": booking.occurrence_date.isoformat(),
        "seats": booking.seats, "pickup_at": iso_minute(booking.pickup_at), "dropoff_at": iso_minute(booking.dropoff_at),
        "detour_minutes": None if booking.detour_min is None else round(booking.detour_min, 1),
        "reason": booking.status_reason, "created_at": iso(booking.created_at),
        "updated_at": iso(booking.updated_at),
        **_contribution_json(booking),
    }


def _contribution_json(booking) -> dict[str, Any]:
    quote = contributions.for_booking(booking)
    return {"contribution_eur": quote.eur, "contribution_fixed": quote.fixed,
            "contribution_basis": quote.basis}
