"""The booking lifecycle: the only module that changes a booking's status.

    proposed → accepted_by_driver → confirmed → done
    proposed → declined
    proposed | accepted_by_driver | confirmed → cancelled_by_passenger | _by_driver | _by_operator
    confirmed → no_show

A seat is held from `proposed` (see `OfferDay`): holding is a conditional UPDATE backed by a
CHECK constraint, and status changes are compare-and-set (`WHERE status = <expected>`), so
concurrent actors (two operators, an operator and a driver's SMS link) can never both win.
Each change is audited (who, when, why) in the same transaction. Nothing here commits: the
edge (view, API handler, CLI command, worker tick) commits the action once.

Every change to a booking of a trip first locks the trip (`offers.operations.lock_offer`,
`FOR UPDATE` on PostgreSQL): proposals, answers and trip edits on one trip are decided one
after the other, each on the state the previous one committed.

Rules enforced here for every caller (console, API, SMS links and replies):
- a ride is declared done (or the passenger absent) only from the day of the ride;
- a booking's promise (pickup and drop-off place and time, `Promise`) changes only through
  `keep_promise`, which versions it and tells the subscribers (SMS, flags, reminders).
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
from lotocar.bookings.signals import booking_changed, promise_changed
from lotocar.contributions import operations as contributions
from lotocar.core import tx
from lotocar.core.timeutil import utcnow
from lotocar.extensions import db
from lotocar.offers.models import Offer, OfferStatus
from lotocar.offers.operations import lock_offer, occurrences
from lotocar.requests import status as request_status
from lotocar.requests.models import TripRequest
from lotocar.requests.status import CALL_LIST_FLAGS, FLAGS_FR, RequestStateError

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

__all__ = ["CALL_LIST_FLAGS", "FLAGS_FR"]  # re-exported for the views (owned by lotocar.requests.status)

# actions that record what happened on the day: never before it
ON_THE_DAY = frozenset({"done", "no_show"})


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
    detour_allowance_min: float | None = None  # a near miss: the larger total detour asked of the driver


@dataclass(frozen=True)
class Promise:
    """What the passenger was (or will be) told: where and when she is picked up and dropped
    off. Compared at the minute, as the SMS states it."""

    pickup_place: tuple
    pickup_at: datetime | None
    dropoff_place: tuple
    dropoff_at: datetime | None

    def key(self) -> tuple:
        def minute(at: datetime | None):
            return None if at is None else at.replace(second=0, microsecond=0)
        return (self.pickup_place, minute(self.pickup_at), self.dropoff_place, minute(self.dropoff_at))


def _place(request: TripRequest, prefix: str) -> tuple:
    return (getattr(request, f"{prefix}_insee"), getattr(request, f"{prefix}_place"),
            getattr(request, f"{prefix}_lat"), getattr(request, f"{prefix}_lon"))


def promise_of(booking: Booking) -> Promise:
    request = booking.request
    return Promise(_place(request, "origin"), booking.pickup_at, _place(request, "destination"),
                   booking.dropoff_at)


def keep_promise(booking: Booking, pickup_at: datetime | None, dropoff_at: datetime | None,
                 detour_min: float | None, cause: str, actor_id: int | None = None,
                 before: Promise | None = None) -> bool:
    """Set the booking's pickup and drop-off (a trip moved, its route changed, a passenger
    was added to the run, her request was edited); when the promise changed, bump its
    version, audit it and tell the subscribers in this transaction. Returns whether the
    promise changed. `before`: the promise as it was told, when the request's places were
    changed already (an edited request)."""
    before = before or promise_of(booking)
    booking.pickup_at, booking.dropoff_at = pickup_at, dropoff_at
    if detour_min is not None:
        booking.detour_min = round(detour_min, 1)
    after = promise_of(booking)
    if before.key() == after.key():
        return False
    booking.promise_version = (booking.promise_version or 0) + 1
    booking.updated_at = utcnow()
    db.session.flush()
    audit.record(actor_id, "booking", booking.id, "promise_changed",
                 {"pickup_at": [before.pickup_at, after.pickup_at],
                  "dropoff_at": [before.dropoff_at, after.dropoff_at],
                  "version": booking.promise_version}, reason=cause)
    promise_changed.send(current_app._get_current_object(), booking=booking, old=before, new=after,
                         cause=cause)
    return True


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


def change_seats(booking: Booking, seats: int) -> None:
    """A live booking's request now needs `seats` places: the run's hold follows (refused
    when the car has no room)."""
    if seats == booking.seats:
        return
    offer = db.session.get(Offer, booking.offer_id)
    _release_seat(booking.offer_id, booking.occurrence_date, booking.seats)
    _hold_seat(offer, booking.occurrence_date, seats)
    booking.seats = seats


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
    request_status.flag(request, flag, detail)


def _move_request(request: TripRequest, event: str) -> None:
    try:
        request_status.move(request, event)
    except RequestStateError as exc:
        raise BookingError(str(exc), "invalid_state", "request_id") from exc


def propose(data: Proposal, actor_id: int | None) -> Booking:
    """Ask a driver to take the passenger on one run of a trip; holds the seat. The trip is
    locked and checked active first, so a trip cancelled or changed meanwhile is refused."""
    request = db.session.get(TripRequest, data.request_id)
    if request is None:
        raise BookingError("Demande inconnue.", "not_found", "request_id")
    offer = lock_offer(data.offer_id)
    if offer is None:
        raise BookingError("Trajet inconnu.", "not_found", "offer_id")
    db.session.refresh(request)
    if not request_status.can(request, "booking_proposed"):
        raise BookingError("Cette demande n'attend pas de conducteur.", "invalid_state", "request_id")
    if offer.status != OfferStatus.ACTIVE:
        raise BookingError("Ce trajet n'est pas actif.", "invalid_state", "offer_id")
    runs = occurrences(offer, data.day, data.day)
    if not runs:
        raise BookingError("Ce trajet ne circule pas ce jour-là.", "invalid", "date")
    if runs[0] < clock.now_local() - timedelta(minutes=5):
        raise BookingError("Ce départ est déjà passé.", "invalid", "date")
    if live_booking(request.id) is not None:
        raise BookingError("Cette demande a déjà une réservation en cours.", "conflict", "request_id")
    booking = Booking(request_id=request.id, offer_id=offer.id, occurrence_date=data.day,
                      seats=request.seats, status=S.PROPOSED, pickup_at=data.pickup_at,
                      dropoff_at=data.dropoff_at, detour_min=data.detour_min,
                      detour_allowance_min=data.detour_allowance_min,
                      created_by_id=actor_id, promise_version=0)
    _hold_seat(offer, data.day, request.seats)
    db.session.add(booking)
    _move_request(request, "booking_proposed")
    try:
        db.session.flush()
    except IntegrityError as exc:  # the partial unique index, under concurrency (edge rolls back)
        raise BookingError("Cette demande a déjà une réservation en cours.", "conflict", "request_id") from exc
    audit.record(actor_id, "booking", booking.id, "proposed",
                 {"status": [None, S.PROPOSED.value], "offer_id": offer.id, "date": data.day})
    _emit(booking, None, S.PROPOSED, actor_id, None)
    return booking


def check_on_the_day(booking: Booking, action: str, today: date | None = None) -> None:
    if action in ON_THE_DAY and booking.occurrence_date > (today or clock.today_local()):
        raise BookingError(
            "Trop tôt : un trajet se déclare effectué (ou le passager absent) à partir du jour du trajet, "
            f"le {booking.occurrence_date:%d/%m/%Y}.", "too_early")


def allowed_actions(booking: Booking, today: date | None = None) -> list[str]:
    """The actions the console offers for this booking now (same rules as `transition`)."""
    today = today or clock.today_local()
    return [a for a, (src, _t) in TRANSITIONS.items() if booking.status in src
            and (a not in ON_THE_DAY or booking.occurrence_date <= today)]


def transition(booking_id: int, action: str, actor_id: int | None, reason: str | None = None,
               flag: str | None = None) -> Booking:
    """Apply `action` if the booking's current status allows it (compare-and-set), with the
    trip locked; the request follows (lotocar.requests.status). The caller commits."""
    if action not in TRANSITIONS:
        raise BookingError("Action inconnue.", "invalid")
    allowed, target = TRANSITIONS[action]
    booking = db.session.get(Booking, booking_id)
    if booking is None:
        raise BookingError("Réservation inconnue.", "not_found")
    lock_offer(booking.offer_id)
    db.session.refresh(booking)
    current = booking.status
    if current not in allowed:
        raise BookingError(
            f"Impossible : la réservation est « {STATUS_LABELS_FR[current]} ».", "illegal_transition")
    check_on_the_day(booking, action)
    changed = db.session.execute(
        db.update(Booking).where(Booking.id == booking.id, Booking.status == current)
        .values(status=target, status_reason=(reason or None), updated_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        raise BookingError("La réservation vient d'être modifiée par quelqu'un d'autre. Rechargez la page.",
                           "conflict")
    db.session.refresh(booking)
    if target in RELEASES_SEAT:
        _release_seat(booking.offer_id, booking.occurrence_date, booking.seats)
    request = booking.request
    db.session.refresh(request)
    if target == S.CONFIRMED:
        _move_request(request, "booking_confirmed")
        # issue #18: the participation is fixed on the booking now; later rate changes never move it
        contributions.fix_at_confirmation(booking, actor_id)
    elif target == S.DONE:
        _move_request(request, "ride_done")
    elif target == S.CANCELLED_BY_PASSENGER:
        _move_request(request, "cancelled")
    elif target in (S.DECLINED, S.CANCELLED_BY_DRIVER, S.CANCELLED_BY_OPERATOR):
        _move_request(request, "booking_released")
        default_flag = {S.DECLINED: "driver_declined", S.CANCELLED_BY_DRIVER: "trip_changed",
                        S.CANCELLED_BY_OPERATOR: None}[target]
        chosen = flag or default_flag
        if chosen:
            flag_request(request, chosen, reason)
    audit.record(actor_id, "booking", booking.id, action, {"status": [current.value, target.value]},
                 reason=reason)
    _emit(booking, current, target, actor_id, reason)
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
    if not request_status.can(request, "unmet"):
        raise BookingError("Seule une demande en attente peut être classée sans solution.", "invalid_state")
    if live_booking(request.id) is not None:
        raise BookingError("Cette demande a une réservation en cours.", "invalid_state")
    reason = (reason or "").strip()
    if not reason:
        raise BookingError("Indiquez pourquoi aucune solution n'a été trouvée.", "invalid", "reason")
    _move_request(request, "unmet")
    request.unmet_reason = reason[:200]
    audit.record(actor_id, "request", request.id, "unmet", {"status": ["open", "unmet"]}, reason=reason)
    return request


def cancel_request(request: TripRequest, actor_id: int | None, reason: str | None) -> None:
    """The passenger no longer needs the ride: its live booking is cancelled (which tells the
    driver), or the waiting request is closed."""
    live = live_booking(request.id)
    if live is not None:
        transition(live.id, "cancel_by_passenger", actor_id, reason)
        return
    _move_request(request, "cancelled")
    audit.record(actor_id, "request", request.id, "cancelled", reason=reason)


def capacity_changed(offer: Offer) -> None:
    """Align future runs' capacity with the trip's seats, once the bookings that no longer fit
    were cancelled (in the same transaction, the trip locked)."""
    today = clock.today_local()
    days = db.session.scalars(tx.lock(
        db.select(OfferDay).where(OfferDay.offer_id == offer.id, OfferDay.day >= today))
        .execution_options(populate_existing=True)).all()
    for day in days:
        day.capacity = max(offer.seats, day.held)


def run_detour_allowance(bookings: list[Booking], max_detour_min: float) -> float:
    """Minutes of detour a run may take beyond the driver's usual `max_detour_min`: the
    largest detour he was asked to accept for one of its live `bookings` (a near miss)."""
    asked = [b.detour_allowance_min for b in bookings if b.detour_allowance_min is not None and b.status in LIVE]
    return max(0.0, max(asked, default=0.0) - max_detour_min)


def live_on_offer(offer_id: int, since: date) -> list[Booking]:
    """Live bookings of a trip from `since` on, oldest first — by id, the database's own
    insertion order (clocks of several processes or hosts may differ by seconds) — locked
    with the trip."""
    return list(db.session.scalars(tx.lock(
        db.select(Booking).where(Booking.offer_id == offer_id, Booking.status.in_(LIVE),
                                 Booking.occurrence_date >= since)
        .order_by(Booking.id)).execution_options(populate_existing=True)))


def for_driver(driver_id: int, today: date | None = None) -> list[Booking]:
    """A driver's bookings from today on: to answer, accepted and confirmed."""
    today = today or clock.now_local().date()
    return list(db.session.scalars(
        db.select(Booking).join(Offer, Offer.id == Booking.offer_id)
        .where(Offer.driver_id == driver_id, Booking.status.in_(LIVE), Booking.occurrence_date >= today)
        .order_by(Booking.occurrence_date, Booking.pickup_at, Booking.id)
    ))


@dataclass(frozen=True)
class RunStop:
    """One stop of a run's tour as the driver reads it: when, pick up or drop off, whom, where."""

    at: datetime
    kind: str  # "pickup" or "dropoff"
    booking_id: int
    first_name: str
    commune: str
    place: str | None


def run_stops(offer_id: int, day: date) -> list[RunStop]:
    """The stops of one run (its live bookings' pickups and drop-offs), in driving order:
    by time, a pickup before a drop-off at the same minute (issue #12)."""
    on_run = db.session.scalars(db.select(Booking).where(
        Booking.offer_id == offer_id, Booking.occurrence_date == day, Booking.status.in_(LIVE))).all()
    stops: list[tuple] = []
    for b in on_run:
        request = b.request
        first = request.passenger.first_name
        if b.pickup_at is not None:
            stops.append((b.pickup_at, 0, b.id, RunStop(b.pickup_at, "pickup", b.id, first, request.origin.name,
                                                        request.origin_place)))
        if b.dropoff_at is not None:
            stops.append((b.dropoff_at, 1, b.id, RunStop(b.dropoff_at, "dropoff", b.id, first,
                                                         request.destination.name, request.destination_place)))
    stops.sort(key=lambda item: item[:3])
    return [item[3] for item in stops]


def driver_runs(rides: list[Booking]) -> list[dict]:
    """The driver's runs with passengers, each with its stops in order (for his page)."""
    seen: dict[tuple[int, date], dict] = {}
    for b in rides:
        key = (b.offer_id, b.occurrence_date)
        if key not in seen:
            seen[key] = {"offer": b.offer, "day": b.occurrence_date, "stops": run_stops(*key)}
    return list(seen.values())


def driver_may_see_contact(booking: Booking) -> bool:
    """A passenger's phone is shown to the driver only once the driver has accepted."""
    return booking.status in (S.ACCEPTED_BY_DRIVER, S.CONFIRMED, S.DONE)
