"""What a change to a driver's trip means for passengers' requests, decided in the change's
own transaction, with the trip locked (`offers.operations.lock_offer`) and its runs and
bookings locked with it (`FOR UPDATE` on PostgreSQL):

- per run, the oldest bookings that still fit the trip as it is now (status, dates, time,
  points, detour, seats) are kept; their pickup and drop-off follow the trip, and a changed
  promise is announced (`bookings.keep_promise` → SMS, flags, reminders);
- the others are cancelled "by the driver" and their requests go back to the operator's
  queue, flagged "trip_changed" (the cancellation SMS is queued in the same transaction);
- the runs' capacity follows the seats;
- open requests the trip can now serve are flagged "new_candidate".

Nothing here commits: the edge commits the trip change and all of this together, and this
process's matching index follows after the commit (`service.refresh_after_commit`).
"""
from __future__ import annotations

import logging

from flask import Flask

from lotocar.bookings import operations as bookings
from lotocar.candidates.service import refresh_after_commit, service
from lotocar.core import clock
from lotocar.extensions import db
from lotocar.offers.models import Offer, OfferStatus
from lotocar.offers.signals import offer_saved
from lotocar.requests import status as request_status
from lotocar.requests.models import TripRequest

log = logging.getLogger("lotocar.matching")

_REASONS = {
    OfferStatus.CANCELLED: "Le conducteur a annulé son trajet.",
    OfferStatus.PAUSED: "Le conducteur a mis son trajet en pause.",
}
_NO_LONGER_FITS = "Le trajet du conducteur a changé : la réservation ne convient plus."
_MOVED = "Trajet du conducteur modifié."


def on_offer_saved(sender, offer: Offer, action: str = "updated", **_: object) -> None:
    refresh_after_commit(offer)
    if action != "created":
        reconcile_offer(offer)
    else:
        flag_new_candidates(offer)


def reconcile_offer(offer: Offer) -> dict[str, list[int]]:
    """Decide, for every live booking of the trip from today on, whether it stays (oldest
    first, within the seats) or is cancelled; see the module docstring."""
    today, now = clock.today_local(), clock.now_utc()
    bookings.capacity_changed(offer)  # locks the runs (offer_days) before the bookings
    # a pickup already past is a ride under way or over: the change applies to the runs to come
    live = [b for b in bookings.live_on_offer(offer.id, today) if b.pickup_at is None or b.pickup_at > now]
    by_day: dict = {}
    for booking in live:
        by_day.setdefault(booking.occurrence_date, []).append(booking)
    dropped: list[int] = []
    for day, on_day in by_day.items():
        used = 0
        for booking in on_day:  # oldest first
            cand = service().evaluate(booking.request, offer, day, free_seats_of=on_day)
            if cand is not None and used + booking.seats <= offer.seats:
                used += booking.seats
                bookings.keep_promise(booking, cand.pickup_at, cand.dropoff_at, cand.detour_min, _MOVED)
                continue
            reason = _REASONS.get(offer.status, _NO_LONGER_FITS)
            bookings.transition(booking.id, "cancel_by_driver", None, reason, flag="trip_changed")
            dropped.append(booking.id)
    bookings.capacity_changed(offer)
    flagged = flag_new_candidates(offer)
    return {"cancelled_bookings": dropped, "flagged_requests": flagged}


def reconcile_run(offer: Offer, day, cause: str) -> None:
    """A run's passengers changed (one added): every other live booking of it is checked
    again, and its promise follows the run (announced when it moved)."""
    on_day = [b for b in bookings.live_on_offer(offer.id, day) if b.occurrence_date == day]
    for booking in on_day:
        cand = service().evaluate(booking.request, offer, day, free_seats_of=on_day)
        if cand is not None:
            bookings.keep_promise(booking, cand.pickup_at, cand.dropoff_at, cand.detour_min, cause)


def flag_new_candidates(offer: Offer) -> list[int]:
    flagged: list[int] = []
    if offer.status != OfferStatus.ACTIVE:
        return flagged
    serving = service().open_requests_for([offer]).get(offer.id, [])
    if not serving:
        return flagged
    for request in db.session.scalars(db.select(TripRequest).where(TripRequest.id.in_(serving))):
        if request_status.can(request, "booking_proposed") and bookings.live_booking(request.id) is None \
                and request.flag is None:
            request_status.flag(request, "new_candidate", f"{offer.origin.name} → {offer.destination.name}")
            flagged.append(request.id)
    return flagged


def init_app(app: Flask) -> None:
    offer_saved.connect(on_offer_saved, sender=app, weak=False)
