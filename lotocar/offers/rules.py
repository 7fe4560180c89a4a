"""Validation rules for a driver's trip: a plain function over plain data.

Returns French messages keyed by form field, so the web form and the JSON API (issue #4)
report the same errors.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from lotocar.core.timeutil import PARIS

MAX_RANGE_DAYS = 366
MAX_POINT_DISTANCE_KM = 20.0  # a precise point must stay near its commune
LOT_AREA = (43.5, 45.4, 0.5, 2.7)  # lat min/max, lon min/max, with the towns around (Toulouse)


@dataclass(frozen=True)
class PlaceInput:
    insee: str | None
    commune_lat: float | None = None
    commune_lon: float | None = None
    place: str | None = None
    lat: float | None = None
    lon: float | None = None


@dataclass(frozen=True)
class OfferInput:
    kind: str  # "one_off" | "regular"
    origin: PlaceInput
    destination: PlaceInput
    seats: int | None
    max_detour_min: int | None
    departure_date: date | None = None  # one-off
    departure_time: time | None = None  # one-off and regular (local wall clock)
    weekdays: frozenset[int] = field(default_factory=frozenset)  # ISO 1..7
    first_date: date | None = None
    last_date: date | None = None
    remark: str | None = None


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(a))


def _check_place(prefix: str, place: PlaceInput, errors: dict[str, str]) -> None:
    if not place.insee:
        errors.setdefault(prefix, "Indiquez une commune.")
        return
    if (place.lat is None) != (place.lon is None):
        errors[f"{prefix}_lat"] = "Indiquez la latitude et la longitude, ou aucune des deux."
        return
    if place.lat is not None and place.lon is not None:
        lat_min, lat_max, lon_min, lon_max = LOT_AREA
        if not (lat_min <= place.lat <= lat_max and lon_min <= place.lon <= lon_max):
            errors[f"{prefix}_lat"] = "Ce point est en dehors du Lot et de ses environs."
        elif place.commune_lat is not None and place.commune_lon is not None and _km(
            place.lat, place.lon, place.commune_lat, place.commune_lon
        ) > MAX_POINT_DISTANCE_KM:
            errors[f"{prefix}_lat"] = "Ce point est trop loin de la commune choisie (20 km au plus)."
    if place.place is not None and len(place.place) > 200:
        errors[f"{prefix}_place"] = "200 caractères au plus."


def validate_offer(data: OfferInput, now: datetime) -> dict[str, str]:
    """Field → French message; empty when the trip can be saved. `now` is aware."""
    errors: dict[str, str] = {}
    local_now = now.astimezone(PARIS)
    today = local_now.date()

    _check_place("origin", data.origin, errors)
    _check_place("destination", data.destination, errors)
    if data.origin.insee and data.origin.insee == data.destination.insee:
        same_point = (data.origin.lat, data.origin.lon) == (data.destination.lat, data.destination.lon)
        if same_point or data.origin.lat is None or data.destination.lat is None:
            errors["destination"] = "L'arrivée doit être différente du départ."

    if data.seats is None:
        errors["seats"] = "Indiquez le nombre de places."
    elif not 1 <= data.seats <= 8:
        errors["seats"] = "Entre 1 et 8 places."
    if data.max_detour_min is None:
        errors["max_detour_min"] = "Indiquez le détour accepté (0 si aucun)."
    elif not 0 <= data.max_detour_min <= 60:
        errors["max_detour_min"] = "Le détour accepté va de 0 à 60 minutes."
    if data.departure_time is None:
        errors["departure_time"] = "Indiquez l'heure de départ."
    if data.remark is not None and len(data.remark) > 1000:
        errors["remark"] = "1000 caractères au plus."

    if data.kind == "one_off":
        if data.departure_date is None:
            errors["departure_date"] = "Indiquez la date du trajet."
        elif data.departure_date < today:
            errors["departure_date"] = "Cette date est déjà passée."
        elif data.departure_date > today + timedelta(days=MAX_RANGE_DAYS):
            errors["departure_date"] = "Un trajet se propose au plus un an à l'avance."
        elif data.departure_time is not None and data.departure_date == today and \
                datetime.combine(today, data.departure_time, tzinfo=PARIS) <= local_now:
            errors["departure_time"] = "Cette heure est déjà passée."
    elif data.kind == "regular":
        if not data.weekdays:
            errors["weekdays"] = "Cochez au moins un jour de la semaine."
        elif not data.weekdays <= set(range(1, 8)):
            errors["weekdays"] = "Jour de la semaine inconnu."
        if data.first_date is None:
            errors["first_date"] = "Indiquez la date du premier trajet."
        elif data.first_date < today:
            errors["first_date"] = "Cette date est déjà passée."
        if data.last_date is None:
            errors["last_date"] = "Indiquez la date du dernier trajet."
        elif data.first_date is not None and "first_date" not in errors:
            if data.last_date <= data.first_date:
                errors["last_date"] = "La date de fin doit être après la date de début."
            elif (data.last_date - data.first_date).days > MAX_RANGE_DAYS:
                errors["last_date"] = "Un trajet régulier dure au plus un an : vous pourrez le prolonger."
            elif data.weekdays and "weekdays" not in errors and not any(
                (data.first_date + timedelta(days=i)).isoweekday() in data.weekdays
                for i in range(min(7, (data.last_date - data.first_date).days + 1))
            ):
                errors["weekdays"] = "Aucun de ces jours ne tombe entre les deux dates."
    else:
        errors["kind"] = "Choisissez un trajet ponctuel ou régulier."
    return errors
