"""Validation rules for a driver's trip: a plain function over plain data.

Returns French messages keyed by form field, so the web form and the JSON API (issue #4)
report the same errors.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from lotocar.core.places import LOT_AREA, MAX_POINT_DISTANCE_KM, PlaceInput, check_place
from lotocar.core.timeutil import PARIS

__all__ = ["LOT_AREA", "MAX_POINT_DISTANCE_KM", "OfferInput", "PlaceInput", "validate_offer"]

MAX_RANGE_DAYS = 366


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


def validate_offer(data: OfferInput, now: datetime) -> dict[str, str]:
    """Field → French message; empty when the trip can be saved. `now` is aware."""
    errors: dict[str, str] = {}
    local_now = now.astimezone(PARIS)
    today = local_now.date()

    check_place("origin", data.origin, errors)
    check_place("destination", data.destination, errors)
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
