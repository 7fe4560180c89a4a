"""The booking lifecycle: the only module that changes a booking's status.

    proposed → accepted_by_driver → confirmed → done
    proposed → declined
    proposed | accepted_by_driver | confirmed → cancelled_by_passenger | _by_driver | _by_operator
    confirmed → no_show

A seat is held from `proposed` (see `OfferDay`): holding is a conditional UPDATE backed by a
CHECK constraint, and status changes are compare-and-set (`WHERE status = <expected>`), so
concurrent actors (two operators, an operator and a driver's SMS link) can never both win.
Each change is audited (who, when, why) in the same transaction.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from lotocar.core import clock
from lotocar.audit import operations as audit
from lotocar.bookings.models import LIVE, Booking, BookingStatus, OfferDay
from lotocar.bookings.signals import booking_changed
from lotocar.core.timeutil import PARIS, utcnow
from lotocar.extensions import db
from lotocar.offers.models import Offer, OfferStatus
from lotocar.requests.models import RequestStatus, TripRequest

S = BookingStatus

# action → (allowed current statuses, new status)
TRANSITIONS: dict[str, tuple[frozenset[BookingStatus], BookingStatus]] = {
    "accept": (frozenset({S.PROPOSED}), S.ACCEPTED_BY_DRIVER),
    "decline": (frozenset({S.PROPOSED}), S.DECLINED),
    "confirm": (frozenset({S.ACCEPTED_BY_DRIVER}), S.CONFIRMED),
    "done": (frozenset({S.CONFIRMED}), S.DONE),
    "no_show": (frozenset({S.CONFIRMED}), S.NO_SHOW),
    "cancel_by_passenger": (frozenset(LIVE), S.CANCELLED_BY_PASSENGER),
    "cancel_by_driver": (frozenset(LIVE), S.CANCELLED_BY_DRIVER),
    "cancel_by_operator": (frozenset(LIVE), S.CANCELLED_BY_OPERATOR),
}

RELEASES_SEAT = frozenset({S.DECLINED, S.CANCELLED_BY_PASSENGER, S.CANCELLED_BY_DRIVER,
                           S.CANCELLED_BY_OPERATOR, S.NO_SHOW})

STATUS_LABELS_FR = {
    S.PROPOSED: "Proposée au conducteur",
    S.ACCEPTED_BY_DRIVER: "Acceptée par le conducteur",
    S.CONFIRMED: "Confirmée",
    S.DONE: "Effectuée",
    S.DECLINED: "Refusée par le conducteur",
    S.CANCELLED_BY_PASSENGER: "Annulée par le passager",
    S.CANCELLED_BY_DRIVER: "Annulée par le conducteur",
    S.CANCELLED_BY_OPERATOR: "Annulée par l'opérateur",
    S.NO_SHOW: "Passager absent",
}

# Flags that put a request back in front of the operator.
FLAGS_FR = {
    "driver_declined": "Le conducteur a refusé",
    "trip_changed": "Trajet du conducteur modifié ou annulé",
    "new_candidate": "Nouveau conducteur possible",
    "booking_cancelled": "Réservation annulée",
    "sms_failed": "SMS non remis : appeler",
    "sms_reply": "Réponse SMS à lire : rappeler",
    "call_failed": "Appel automatique sans succès : appeler",
    "call_needed": "Ni SMS ni appel automatique : appeler",
    "call_cancelled": "Annulé par le passager au téléphone (appel automatique)",
}
# Flags meaning "automation could not do it: a person must phone" (the console's call list).
CALL_LIST_FLAGS = frozenset({"call_failed", "call_needed", "call_cancelled", "sms_failed", "sms_reply"})


class BookingError(ValueError):
    """A refused action, with a French message and a machine code for the API."""

    def __init__(self, message: str, code: str = "invalid", field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


@dataclass(frozen=True)
class Proposal:
    request_id: int
    offer_id: int
    day: date
    pickup_at: datetime | None = None
    dropoff_at: datetime | None = None
    detour_min: float | None = None


def _upsert_offer_day(offer: Offer, day: date) -> None:
    dialect = db.engine.dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(OfferDay).values(offer_id=offer.id, day=day, capacity=offer.seats, held=0)
    db.session.execute(stmt.on_conflict_do_nothing(index_elements=["offer_id", "day"]))


def _hold_seat(offer: Offer, day: date, seats: int) -> None:
    _upsert_offer_day(offer, day)
    taken = db.session.execute(
        db.update(OfferDay)
        .where(OfferDay.offer_id == offer.id, OfferDay.day == day,
               OfferDay.held + seats <= OfferDay.capacity)
        .values(held=OfferDay.held + seats)
        .execution_options(synchronize_session=False)
    ).rowcount
    if taken != 1:
        raise BookingError("Plus de place libre dans cette voiture ce jour-là.", "no_seat")


def _release_seat(offer_id: int, day: date, seats: int) -> None:
    db.session.execute(
        db.update(OfferDay)
        .where(OfferDay.offer_id == offer_id, OfferDay.day == day)
        .values(held=db.case((OfferDay.held >= seats, OfferDay.held - seats), else_=0))
        .execution_options(synchronize_session=False)
    )


def _emit(booking: Booking, old: BookingStatus | None, new: BookingStatus, actor_id: int | None,
          reason: str | None) -> None:
    booking_changed.send(current_app._get_current_object(), booking=booking, old=old, new=new,
                         actor_id=actor_id, reason=reason)


def flag_request(request: TripRequest, flag: str | None, detail: str | None = None) -> None:
    request.flag = flag
    request.flag_detail = detail
    request.flagged_at = utcnow() if flag else None


def propose(data: Proposal, actor_id: int | None) -> Booking:
    """Ask a driver to take the passenger on one run of a trip; holds the seat."""
    request = db.session.get(TripRequest, data.request_id)
    if request is None:
        raise BookingError("Demande inconnue.", "not_found", "request_id")
    offer = db.session.get(Offer, data.offer_id)
    if offer is None:
        raise BookingError("Trajet inconnu.", "not_found", "offer_id")
    if request.status not in (RequestStatus.OPEN, RequestStatus.UNMET):
        raise BookingError("Cette demande n'attend pas de conducteur.", "invalid_state", "request_id")
    if offer.status != OfferStatus.ACTIVE:
        raise BookingError("Ce trajet n'est pas actif.", "invalid_state", "offer_id")
    from lotocar.offers.operations import occurrences

    runs = occurrences(offer, data.day, data.day)
    if not runs:
        raise BookingError("Ce trajet ne circule pas ce jour-là.", "invalid", "date")
    if runs[0] < clock.now_local() - timedelta(minutes=5):
        raise BookingError("Ce départ est déjà passé.", "invalid", "date")
    booking = Booking(request_id=request.id, offer_id=offer.id, occurrence_date=data.day,
                      seats=request.seats, status=S.PROPOSED, pickup_at=data.pickup_at,
                      dropoff_at=data.dropoff_at, detour_min=data.detour_min,
                      created_by_id=actor_id)
    try:
        _hold_seat(offer, data.day, request.seats)
        db.session.add(booking)
        request.status = RequestStatus.OPEN
        request.unmet_reason = None
        flag_request(request, None)
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise BookingError("Cette demande a déjà une réservation en cours.", "conflict", "request_id") from exc
    except BookingError:
        db.session.rollback()
        raise
    audit.record(actor_id, "booking", booking.id, "proposed",
                 {"status": [None, S.PROPOSED.value], "offer_id": offer.id, "date": data.day})
    _emit(booking, None, S.PROPOSED, actor_id, None)
    try:
        db.session.commit()
    except IntegrityError as exc:  # the partial unique index, under concurrency
        db.session.rollback()
        raise BookingError("Cette demande a déjà une réservation en cours.", "conflict", "request_id") from exc
    return booking


def transition(booking_id: int, action: str, actor_id: int | None, reason: str | None = None,
               flag: str | None = None) -> Booking:
    """Apply `action` if the booking's current status allows it (compare-and-set)."""
    if action not in TRANSITIONS:
        raise BookingError("Action inconnue.", "invalid")
    allowed, target = TRANSITIONS[action]
    booking = db.session.get(Booking, booking_id)
    if booking is None:
        raise BookingError("Réservation inconnue.", "not_found")
    current = booking.status
    if current not in allowed:
        raise BookingError(
            f"Impossible : la réservation est « {STATUS_LABELS_FR[current]} ».", "illegal_transition")
    changed = db.session.execute(
        db.update(Booking).where(Booking.id == booking.id, Booking.status == current)
        .values(status=target, status_reason=(reason or None), updated_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        db.session.rollback()
        raise BookingError("La réservation vient d'être modifiée par quelqu'un d'autre. Rechargez la page.",
                           "conflict")
    db.session.refresh(booking)
    if target in RELEASES_SEAT:
        _release_seat(booking.offer_id, booking.occurrence_date, booking.seats)
    request = booking.request
    if target == S.CONFIRMED:
        request.status = RequestStatus.BOOKED
        request.handled_at = utcnow()
    elif target == S.DONE:
        request.status = RequestStatus.DONE
    elif target == S.CANCELLED_BY_PASSENGER:
        request.status = RequestStatus.CANCELLED
        flag_request(request, None)
    elif target in (S.DECLINED, S.CANCELLED_BY_DRIVER, S.CANCELLED_BY_OPERATOR):
        request.status = RequestStatus.OPEN
        default_flag = {S.DECLINED: "driver_declined", S.CANCELLED_BY_DRIVER: "trip_changed",
                        S.CANCELLED_BY_OPERATOR: None}[target]
        chosen = flag or default_flag
        if chosen:
            flag_request(request, chosen, reason)
    audit.record(actor_id, "booking", booking.id, action, {"status": [current.value, target.value]},
                 reason=reason)
    _emit(booking, current, target, actor_id, reason)
    db.session.commit()
    return booking


def declined_driver_ids(request_id: int) -> set[int]:
    """Drivers who already said no to this request (marked in the candidate list)."""
    return set(db.session.scalars(
        db.select(Offer.driver_id).join(Booking, Booking.offer_id == Offer.id)
        .where(Booking.request_id == request_id, Booking.status == S.DECLINED)
    ))


def live_booking(request_id: int) -> Booking | None:
    return db.session.scalar(
        db.select(Booking).where(Booking.request_id == request_id, Booking.status.in_(LIVE)))


def mark_unmet(request: TripRequest, reason: str, actor_id: int | None) -> TripRequest:
    if request.status not in (RequestStatus.OPEN, RequestStatus.UNMET):
        raise BookingError("Seule une demande en attente peut être classée sans solution.", "invalid_state")
    if live_booking(request.id) is not None:
        raise BookingError("Cette demande a une réservation en cours.", "invalid_state")
    reason = (reason or "").strip()
    if not reason:
        raise BookingError("Indiquez pourquoi aucune solution n'a été trouvée.", "invalid", "reason")
    request.status = RequestStatus.UNMET
    request.unmet_reason = reason[:200]
    request.handled_at = utcnow()
    flag_request(request, None)
    audit.record(actor_id, "request", request.id, "unmet", {"status": ["open", "unmet"]}, reason=reason)
    db.session.commit()
    return request


def capacity_changed(offer: Offer) -> None:
    """Align future runs' capacity with the trip's seats (bookings already re-checked)."""
    today = clock.now_local().date()
    for day in db.session.scalars(
        db.select(OfferDay).where(OfferDay.offer_id == offer.id, OfferDay.day >= today)
    ):
        day.capacity = max(offer.seats, day.held)


def for_driver(driver_id: int, today: date | None = None) -> list[Booking]:
    """A driver's bookings from today on: to answer, accepted and confirmed."""
    today = today or clock.now_local().date()
    return list(db.session.scalars(
        db.select(Booking).join(Offer, Offer.id == Booking.offer_id)
        .where(Offer.driver_id == driver_id, Booking.status.in_(LIVE), Booking.occurrence_date >= today)
        .order_by(Booking.occurrence_date, Booking.pickup_at, Booking.id)
    ))


def driver_may_see_contact(booking: Booking) -> bool:
    """A passenger's phone is shown to the driver only once the driver has accepted."""
    return booking.status in (S.ACCEPTED_BY_DRIVER, S.CONFIRMED, S.DONE)
