"""What a change to a driver's trip means for passengers' requests, decided in the change's
own transaction, with the trip locked (`offers.operations.lock_offer`) and its runs and
bookings locked with it (`FOR UPDATE` on PostgreSQL):

- per run, the tour is rebuilt oldest booking first: each booking is inserted into the tour
  of the ones already kept (status, dates, time, points, the whole tour's detour, windows,
  seats; `matching.tours`, without the pickup shift bound since the trip itself moved);
  their pickup and drop-off follow the tour, and a changed promise is announced
  (`bookings.keep_promise` → SMS, flags, reminders);
- the others are cancelled "by the driver" and their requests go back to the operator's
  queue, flagged "trip_changed" (the cancellation SMS is queued in the same transaction);
- the runs' capacity follows the seats;
- open requests the trip can now serve are flagged "new_candidate".

A run's passengers change too (issue #12): when one is added, the candidate's tour gives
every other passenger's new pickup and drop-off (`apply_tour`); when one leaves (declined,
cancelled), `on_booking_changed` recomputes the tour of those left (best order within their
windows and `TOUR_MAX_SHIFT_MIN` of their promise; the old times stay if none fits), and
every moved promise is told through `keep_promise`.

Nothing here commits: the edge commits the trip change and all of this together, and this
process's matching index follows after the commit (`service.refresh_after_commit`).
"""
from __future__ import annotations

import logging
from contextvars import ContextVar

from flask import Flask

from matching import Booked
from matching.tours import describe, plan_tour

from lotocar.bookings import operations as bookings
from lotocar.bookings.models import LIVE, Booking, BookingStatus
from lotocar.bookings.signals import booking_changed
from lotocar.candidates.service import booked_of, refresh_after_commit, service, to_match_request
from lotocar.core import clock
from lotocar.offers.operations import to_match_offer
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
_DAY_SKIPPED = "Le conducteur ne fait pas ce trajet ce jour-là."
_MOVED = "Trajet du conducteur modifié."
_ONE_LESS = "Un passager en moins sur ce trajet."
_LEAVES = frozenset({BookingStatus.DECLINED, BookingStatus.CANCELLED_BY_PASSENGER,
                     BookingStatus.CANCELLED_BY_DRIVER, BookingStatus.CANCELLED_BY_OPERATOR})
_reconciling: ContextVar[bool] = ContextVar("tour_reconciling", default=False)


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
    token = _reconciling.set(True)  # the tours are rebuilt here, not once per cancellation
    try:
        for day, on_day in by_day.items():
            kept: list[Booked] = []
            keep: dict[int, tuple] = {}
            used = 0
            for booking in on_day:  # oldest first
                cand = None
                if used + booking.seats <= offer.seats:
                    cand = service().evaluate(booking.request, offer, day, free_seats_of=on_day,
                                              booked=kept, max_shift_min=None)
                if cand is None:
                    reason = _REASONS.get(offer.status, _DAY_SKIPPED if day in offer.skip_dates
                                          else _NO_LONGER_FITS)
                    bookings.transition(booking.id, "cancel_by_driver", None, reason, flag="trip_changed")
                    dropped.append(booking.id)
                    continue
                used += booking.seats
                moved = {bid: (p, d) for bid, p, d in cand.new_times}
                kept = [Booked(k.booking_id, k.request, *moved[k.booking_id], k.name) for k in kept]
                for bid, (p, d) in moved.items():
                    keep[bid] = (p, d, keep[bid][2])
                keep[booking.id] = (cand.pickup_at, cand.dropoff_at, cand.detour_min)
                kept.append(Booked(booking.id, to_match_request(booking.request), cand.pickup_at, cand.dropoff_at,
                                   booking.request.passenger.first_name))
            for booking in on_day:
                if booking.id in keep:
                    p, d, detour = keep[booking.id]
                    bookings.keep_promise(booking, p, d, detour, _MOVED)
    finally:
        _reconciling.reset(token)
    bookings.capacity_changed(offer)
    flagged = flag_new_candidates(offer)
    return {"cancelled_bookings": dropped, "flagged_requests": flagged}


def apply_tour(cand, cause: str) -> None:
    """A passenger was added to a run: the other passengers' pickup and drop-off follow the
    candidate's tour (announced when the minute moved), in this transaction."""
    for booking_id, pickup_at, dropoff_at in cand.new_times:
        booking = db.session.get(Booking, booking_id)
        if booking is not None and booking.status in LIVE:
            bookings.keep_promise(booking, pickup_at, dropoff_at, None, cause)


def recompute_run(offer: Offer, day, cause: str = _ONE_LESS) -> bool:
    """A passenger left the run: the tour of those left is computed again (best order within
    their windows and TOUR_MAX_SHIFT_MIN of their promise); the promises follow. When no
    order fits (a window that only held with the passenger who left), the times stay as
    promised. Returns whether a tour was applied."""
    left = [b for b in bookings.live_on_offer(offer.id, day) if b.occurrence_date == day]
    booked = [x for x in (booked_of(b) for b in left) if x is not None]
    if not booked or offer.status != OfferStatus.ACTIVE:
        return False
    match_offer = to_match_offer(offer)
    runs = match_offer.runs(day, day)
    if not runs:
        return False
    router = service().router
    t0, t0_s = runs[0]
    if t0 <= clock.now_local():
        return False  # the driver is on the road: the times told stand
    budget = match_offer.max_detour_min + bookings.run_detour_allowance(left, match_offer.max_detour_min)
    found = plan_tour(router, match_offer.origin, match_offer.destination, t0_s, booked, None,
                      router.leg(match_offer.origin, match_offer.destination), budget,
                      service().max_shift_min)
    if found is None:
        return False
    _stops, _shifts, times = describe(found[0], booked, None, t0_s, match_offer.tz)
    by_id = {b.id: b for b in left}
    for booking_id, (pickup_at, dropoff_at) in times.items():
        bookings.keep_promise(by_id[booking_id], pickup_at, dropoff_at, None, cause)
    return True


def on_booking_changed(sender, booking: Booking, old=None, new=None, **_: object) -> None:
    """A passenger leaves a run (declined, cancelled): its tour is recomputed."""
    if _reconciling.get() or old not in LIVE or new not in _LEAVES:
        return  # "done" and "no-show" happen on the road: the others' times stand
    offer = db.session.get(Offer, booking.offer_id)
    if offer is not None and booking.occurrence_date >= clock.today_local():
        recompute_run(offer, booking.occurrence_date)


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
    booking_changed.connect(on_booking_changed, sender=app, weak=False)
