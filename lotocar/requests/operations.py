"""Passengers' trip requests, entered by operators (or partners through the API)."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta

from lotocar.audit import operations as audit
from lotocar.communes.models import Commune
from lotocar.core.timeutil import PARIS, local_to_utc, missing_local_time, to_local, utcnow
from lotocar.extensions import db
from lotocar.core.places import PlaceInput, check_place
from lotocar.passengers.models import Passenger
from lotocar.requests.models import RequestMode, RequestReason, RequestStatus, TripRequest

REASONS_FR = {
    RequestReason.MEDICAL: "Rendez-vous médical",
    RequestReason.JOB: "Emploi, entretien",
    RequestReason.TRAINING: "Formation",
    RequestReason.SHOPPING: "Courses",
    RequestReason.ADMINISTRATION: "Démarches administratives",
    RequestReason.OTHER: "Autre",
}
STATUS_FR = {
    RequestStatus.OPEN: "À traiter",
    RequestStatus.BOOKED: "Confirmée",
    RequestStatus.UNMET: "Sans solution",
    RequestStatus.DONE: "Effectuée",
    RequestStatus.CANCELLED: "Annulée",
}
UNMET_REASONS_FR = [
    "Aucun conducteur sur ce trajet",
    "Aucun conducteur à cet horaire",
    "Conducteurs contactés indisponibles",
    "Demande trop tardive",
    "Hors du territoire desservi",
    "Autre",
]
MAX_DAYS_AHEAD = 180
MAX_SEATS = 8


class RequestInputError(ValueError):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class RequestInput:
    passenger_id: int | None
    origin: PlaceInput
    destination: PlaceInput
    mode: str  # "arrive_by" | "leave_after"
    day: date | None
    at: time | None
    flexibility_min: int | None
    reason: str | None
    notes: str | None = None
    return_wanted: bool = False
    return_mode: str = "leave_after"
    return_at: time | None = None
    return_day: date | None = None  # None: the same day as the outbound
    seats: int = 1


def validate(data: RequestInput, now: datetime, check_passenger: bool = True) -> dict[str, str]:
    errors: dict[str, str] = {}
    if check_passenger and (data.passenger_id is None or db.session.get(Passenger, data.passenger_id) is None):
        errors["passenger_id"] = "Passager inconnu."
    check_place("origin", data.origin, errors)
    check_place("destination", data.destination, errors)
    if data.origin.insee and data.origin.insee == data.destination.insee and (
            data.origin.lat is None or (data.origin.lat, data.origin.lon) == (data.destination.lat, data.destination.lon)):
        errors["destination"] = "L'arrivée doit être différente du départ."
    if data.mode not in ("arrive_by", "leave_after"):
        errors["mode"] = "Choisissez « arriver avant » ou « partir après »."
    local_now = now.astimezone(PARIS)
    if data.day is None:
        errors["day"] = "Indiquez la date du trajet."
    elif data.day < local_now.date():
        errors["day"] = "Cette date est déjà passée."
    elif data.day > local_now.date() + timedelta(days=MAX_DAYS_AHEAD):
        errors["day"] = "Une demande se prend au plus six mois à l'avance."
    if data.at is None:
        errors["at"] = "Indiquez l'heure."
    elif data.day is not None and "day" not in errors and missing_local_time(data.day, data.at):
        errors["at"] = missing_local_time(data.day, data.at)
    elif data.day is not None and "day" not in errors and local_to_utc(data.day, data.at) <= now:
        errors["at"] = "Cette heure est déjà passée."
    if data.flexibility_min is None:
        errors["flexibility_min"] = "Indiquez la souplesse (0 si aucune)."
    elif not 0 <= data.flexibility_min <= 240:
        errors["flexibility_min"] = "La souplesse va de 0 à 240 minutes."
    if data.reason not in {r.value for r in RequestReason}:
        errors["reason"] = "Choisissez un motif."
    if data.notes and len(data.notes) > 2000:
        errors["notes"] = "2000 caractères au plus."
    if data.seats is None or not 1 <= data.seats <= MAX_SEATS:
        errors["seats"] = f"De 1 à {MAX_SEATS} places."
    if data.return_wanted:
        back_day = data.return_day or data.day
        if data.return_day is not None and data.day is not None and data.return_day < data.day:
            errors["return_day"] = "Le retour ne peut pas être avant l'aller."
        elif data.return_day is not None and data.return_day > local_now.date() + timedelta(days=MAX_DAYS_AHEAD):
            errors["return_day"] = "Une demande se prend au plus six mois à l'avance."
        elif data.return_at is None:
            errors["return_at"] = "Indiquez l'heure du retour."
        elif data.return_mode not in ("arrive_by", "leave_after"):
            errors["return_mode"] = "Choisissez le type d'horaire du retour."
        elif back_day == data.day and data.at is not None and data.return_at <= data.at:
            errors["return_at"] = "Le retour doit être après l'aller."
        elif back_day is not None and missing_local_time(back_day, data.return_at):
            errors["return_at"] = missing_local_time(back_day, data.return_at)
    return errors


def _make(data: RequestInput, mode: str, day: date, at: time, origin: PlaceInput, destination: PlaceInput,
          operator_id: int | None) -> TripRequest:
    request = TripRequest(
        passenger_id=data.passenger_id, mode=RequestMode(mode), target_at=local_to_utc(day, at),
        flexibility_min=data.flexibility_min, seats=data.seats, reason=RequestReason(data.reason),
        status=RequestStatus.OPEN, notes=(data.notes or "").strip() or None, created_by_id=operator_id,
    )
    request.set_place("origin", db.session.get(Commune, origin.insee), origin.place, origin.lat, origin.lon)
    request.set_place("destination", db.session.get(Commune, destination.insee), destination.place,
                      destination.lat, destination.lon)
    db.session.add(request)
    db.session.flush()
    return request


def create_request(data: RequestInput, operator_id: int | None,
                   now: datetime | None = None) -> tuple[TripRequest, TripRequest | None]:
    """The request and, when a return is wanted, the linked return request."""
    errors = validate(data, now or utcnow())
    if errors:
        raise RequestInputError(errors)
    data = with_home_pickup(data)
    outbound = _make(data, data.mode, data.day, data.at, data.origin, data.destination, operator_id)
    audit.record(operator_id, "request", outbound.id, "created", {"passenger_id": data.passenger_id})
    back = None
    if data.return_wanted:
        back = _make(data, data.return_mode, data.return_day or data.day, data.return_at, data.destination,
                     data.origin, operator_id)
        back.return_of_id = outbound.id
        audit.record(operator_id, "request", back.id, "created", {"return_of": outbound.id})
    return outbound, back


def home_place(passenger: Passenger | None, place: PlaceInput) -> PlaceInput:
    """A place at the passenger's home commune, given without a precise point: her own
    pickup place (address and point on her record) instead of the town hall."""
    if (passenger is None or place.insee != passenger.home_insee or place.place or place.lat is not None
            or not (passenger.pickup_place or passenger.has_pickup_point)):
        return place
    return replace(place, place=passenger.pickup_place, lat=passenger.pickup_lat, lon=passenger.pickup_lon)


def with_home_pickup(data: RequestInput) -> RequestInput:
    """`data` with its home end(s) at the passenger's pickup place (see `home_place`)."""
    passenger = db.session.get(Passenger, data.passenger_id) if data.passenger_id else None
    if passenger is None:
        return data
    return replace(data, origin=home_place(passenger, data.origin),
                   destination=home_place(passenger, data.destination))


def local_target(request: TripRequest) -> datetime:
    return to_local(request.target_at)


EDITABLE = frozenset({RequestStatus.OPEN, RequestStatus.UNMET, RequestStatus.BOOKED})
_EDITED_FIELDS = ("origin_insee", "origin_place", "origin_lat", "origin_lon", "destination_insee",
                  "destination_place", "destination_lat", "destination_lon", "mode", "target_at",
                  "flexibility_min", "seats", "reason", "notes")


def input_of(request: TripRequest) -> RequestInput:
    """The request as the input that would create it again (to prefill an edit, or to change
    one field of it: `dataclasses.replace(input_of(r), flexibility_min=45)`)."""
    local = to_local(request.target_at)

    def place(prefix: str) -> PlaceInput:
        commune = getattr(request, prefix)
        return PlaceInput(insee=commune.insee, commune_lat=commune.lat, commune_lon=commune.lon,
                          place=getattr(request, f"{prefix}_place"), lat=getattr(request, f"{prefix}_lat"),
                          lon=getattr(request, f"{prefix}_lon"))

    return RequestInput(
        passenger_id=request.passenger_id, origin=place("origin"), destination=place("destination"),
        mode=request.mode.value, day=local.date(), at=local.time().replace(second=0, microsecond=0, tzinfo=None),
        flexibility_min=request.flexibility_min, reason=request.reason.value, notes=request.notes,
        seats=request.seats)


def snapshot(request: TripRequest) -> dict:
    return {name: getattr(request, name) for name in _EDITED_FIELDS}


def update_request(request: TripRequest, data: RequestInput, actor_id: int | None,
                   now: datetime | None = None) -> dict[str, list]:
    """Change the request's places, time, mode, flexibility, seats, motive and notes (its
    passenger and its return link stay). Flushes, audits before/after and returns the changed
    fields as {name: [before, after]} (empty: nothing changed, nothing recorded). What the
    change means for a live booking is decided by `candidates.operations.edit_request`."""
    if request.status not in EDITABLE:
        raise RequestInputError({"status": "Cette demande est close : elle ne peut plus être modifiée."})
    errors = validate(data, now or utcnow(), check_passenger=False)
    if errors:
        raise RequestInputError(errors)
    before = snapshot(request)
    for prefix, place in (("origin", data.origin), ("destination", data.destination)):
        commune = db.session.get(Commune, place.insee)
        request.set_place(prefix, commune, place.place, place.lat, place.lon)
        setattr(request, prefix, commune)
    request.mode = RequestMode(data.mode)
    request.target_at = local_to_utc(data.day, data.at)
    request.flexibility_min = data.flexibility_min
    request.seats = data.seats
    request.reason = RequestReason(data.reason)
    request.notes = (data.notes or "").strip() or None
    after = snapshot(request)
    changes = {k: [before[k], after[k]] for k in _EDITED_FIELDS if before[k] != after[k]}
    if changes:
        db.session.flush()
        audit.record(actor_id, "request", request.id, "edited", changes)
    return changes
