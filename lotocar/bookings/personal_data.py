"""Bookings (RGPD hook, see `lotocar.core.personal_data`): an erased passenger's live booking
is cancelled (the driver is told, a promise is sacred); the rows stay for the statistics."""
from __future__ import annotations

from typing import Any

from lotocar.bookings import operations as bookings
from lotocar.bookings.models import Booking
from lotocar.core import personal_data as pd
from lotocar.extensions import db
from lotocar.offers.models import Offer
from lotocar.requests.models import TripRequest


def of_subject(subject: pd.Subject) -> list[Booking]:
    """Every booking the person took part in (as passenger or as driver)."""
    if subject.kind == "passenger":
        query = (db.select(Booking).join(TripRequest, TripRequest.id == Booking.request_id)
                 .where(TripRequest.passenger_id == subject.person_id))
    else:
        query = (db.select(Booking).join(Offer, Offer.id == Booking.offer_id)
                 .where(Offer.driver_id == subject.person_id))
    return list(db.session.scalars(query.order_by(Booking.created_at, Booking.id)))


def export(subject: pd.Subject) -> dict[str, Any]:
    rows = []
    for b in of_subject(subject):
        if subject.kind == "passenger":
            rows.append({**pd.row(b, ["id", "request_id", "occurrence_date", "status", "pickup_at",
                                      "dropoff_at", "created_at"]),
                         "driver_first_name": b.offer.driver.user.first_name})
        else:
            rows.append({**pd.row(b, ["id", "offer_id", "occurrence_date", "status", "pickup_at",
                                      "created_at"]),
                         "passenger_first_name": b.request.passenger.first_name})
    return {"bookings": rows}


def erase(subject: pd.Subject) -> None:
    if subject.kind != "passenger":
        return  # a driver's bookings follow the cancellation of his trips (offers hook)
    for b in of_subject(subject):
        live = bookings.live_booking(b.request_id)
        if live is not None and live.id == b.id:
            bookings.transition(b.id, "cancel_by_passenger", subject.actor_id, "Données effacées (RGPD)")


pd.register("bookings", 10, export, erase)
