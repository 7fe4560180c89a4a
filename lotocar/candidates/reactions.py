"""What a change to a driver's trip means for passengers' requests.

- Bookings on the trip that no longer fit (trip cancelled or paused, time or route changed,
  fewer seats) are cancelled "by the driver" and their requests go back to the operator's
  queue, flagged "trip_changed".
- Open requests the trip can now serve are flagged "new_candidate".
"""
from __future__ import annotations

import logging

from lotocar.core import clock
from lotocar.bookings import operations as bookings
from lotocar.bookings.models import LIVE, Booking
from lotocar.extensions import db
from lotocar.offers.models import Offer, OfferStatus
from lotocar.requests.models import RequestStatus, TripRequest

log = logging.getLogger("lotocar.matching")


def _fits(booking: Booking, same_day: list[Booking]) -> bool:
    """Would the trip, as it is now, still take this passenger (seats counted apart)?
    If so, the booking's pickup and drop-off times follow the trip's new timing."""
    from lotocar.candidates.service import service

    for cand in service().candidates_for(booking.request, ignore_bookings=same_day):
        if cand.offer_id == booking.offer_id and cand.date == booking.occurrence_date:
            if booking.pickup_at != cand.pickup_at or booking.dropoff_at != cand.dropoff_at:
                booking.pickup_at, booking.dropoff_at = cand.pickup_at, cand.dropoff_at
                booking.detour_min = round(cand.detour_min, 1)
            return True
    return False


def reconcile_offer(offer: Offer) -> dict[str, list[int]]:
    today = clock.now_local().date()
    live = list(db.session.scalars(
        db.select(Booking).where(Booking.offer_id == offer.id, Booking.status.in_(LIVE),
                                 Booking.occurrence_date >= today)
        .order_by(Booking.created_at.desc(), Booking.id.desc())
    ))
    dropped: list[int] = []
    reason_by_status = {
        OfferStatus.CANCELLED: "Le conducteur a annulé son trajet.",
        OfferStatus.PAUSED: "Le conducteur a mis son trajet en pause.",
    }
    # per day, keep the oldest bookings that still fit within the seats
    seats_used: dict = {}
    by_day: dict = {}
    for booking in live:
        by_day.setdefault(booking.occurrence_date, []).append(booking)
    for booking in reversed(live):
        fits = offer.status == OfferStatus.ACTIVE and _fits(booking, by_day[booking.occurrence_date])
        used = seats_used.get(booking.occurrence_date, 0)
        if fits and used + booking.seats <= offer.seats:
            seats_used[booking.occurrence_date] = used + booking.seats
            continue
        reason = reason_by_status.get(offer.status, "Le trajet du conducteur a changé : "
                                                    "la réservation ne convient plus.")
        try:
            bookings.transition(booking.id, "cancel_by_driver", None, reason, flag="trip_changed")
            dropped.append(booking.id)
        except bookings.BookingError as exc:  # changed meanwhile: nothing to undo
            log.info("booking %s not cancelled after trip change: %s", booking.id, exc)
    bookings.capacity_changed(offer)
    db.session.commit()

    flagged: list[int] = []
    if offer.status == OfferStatus.ACTIVE:
        from lotocar.candidates.service import service

        serving = service().open_requests_for([offer]).get(offer.id, [])
        for request in db.session.scalars(db.select(TripRequest).where(TripRequest.id.in_(serving))):
            if request.status in (RequestStatus.OPEN, RequestStatus.UNMET) and bookings.live_booking(request.id) is None \
                    and request.flag is None:
                bookings.flag_request(request, "new_candidate",
                                      f"{offer.origin.name} → {offer.destination.name}")
                flagged.append(request.id)
        db.session.commit()
    return {"cancelled_bookings": dropped, "flagged_requests": flagged}
