"""Rides for the money tests (statements, proofs): a driver's run Luzech → Cahors with one or
more passengers picked up on the way, proposed, accepted and confirmed through the booking
state machine (so the participation is fixed as in production)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from lotocar.auth.models import Role, User
from lotocar.bookings import operations as bookings
from lotocar.bookings.models import Booking
from lotocar.core.timeutil import PARIS, utcnow
from lotocar.drivers.models import Driver
from lotocar.extensions import db
from lotocar.offers.models import Offer, OfferKind, OfferStatus
from lotocar.passengers.models import Passenger
from lotocar.requests.models import (
    RequestMode,
    RequestReason,
    RequestStatus,
    TripRequest,
)
from tests.factories import commune

LUZECH, DOUELLE, MERCUES, CAHORS, CAILLAC = "46182", "46088", "46191", "46042", "46044"
_seq = {"n": 0}


@dataclass(frozen=True)
class Pax:
    first: str
    last: str
    origin: str
    destination: str
    pickup: time
    dropoff: time
    phone: str | None = None
    origin_point: tuple[float, float] | None = None  # a precise meeting point (else the town hall)


def driver(first="Jean", last="Delmas", home=LUZECH) -> User:
    _seq["n"] += 1
    user = User(role=Role.DRIVER, first_name=first, last_name=last, phone=f"+3361{_seq['n']:07d}",
                phone_verified_at=utcnow())
    user.driver = Driver(home_insee=home, consent_contact=True, consent_at=utcnow())
    db.session.add(user)
    db.session.commit()
    return user


def passenger(first: str, last: str, home: str, phone: str | None = None) -> Passenger:
    existing = db.session.scalar(db.select(Passenger).where(Passenger.first_name == first,
                                                            Passenger.last_name == last))
    if existing is not None:
        return existing
    _seq["n"] += 1
    p = Passenger(first_name=first, last_name=last, phone=phone or f"+3367{_seq['n']:07d}", home_insee=home,
                  has_no_car=True, sms_consent_at=utcnow())
    db.session.add(p)
    db.session.commit()
    return p


def run(user: User, day: date, departure: time, riders: list[Pax], origin=LUZECH, destination=CAHORS,
        confirm: bool = True) -> list[int]:
    """One run of a one-off trip with these passengers; returns their booking ids."""
    dep = datetime.combine(day, departure, tzinfo=PARIS)
    offer = Offer(driver_id=user.driver.id, kind=OfferKind.ONE_OFF, status=OfferStatus.ACTIVE,
                  departure_at=dep.astimezone(UTC), local_time=departure, first_date=day,
                  last_date=day, seats=4, max_detour_min=15)
    offer.set_place("origin", commune(origin))
    offer.set_place("destination", commune(destination))
    db.session.add(offer)
    db.session.commit()
    ids = []
    for pax in riders:
        person = passenger(pax.first, pax.last, pax.origin, pax.phone)
        pickup = datetime.combine(day, pax.pickup, tzinfo=PARIS)
        request = TripRequest(passenger_id=person.id, mode=RequestMode.LEAVE_AFTER,
                              target_at=pickup.astimezone(UTC), flexibility_min=30,
                              reason=RequestReason.MEDICAL, status=RequestStatus.OPEN)
        lat, lon = pax.origin_point or (None, None)
        request.set_place("origin", commune(pax.origin), None, lat, lon)
        request.set_place("destination", commune(pax.destination))
        db.session.add(request)
        db.session.commit()
        booking = bookings.propose(bookings.Proposal(
            request_id=request.id, offer_id=offer.id, day=day, pickup_at=pickup.astimezone(UTC),
            dropoff_at=datetime.combine(day, pax.dropoff, tzinfo=PARIS).astimezone(UTC),
            detour_min=2), actor_id=None)
        db.session.commit()  # each action commits at its edge, as the console would
        if confirm:
            bookings.transition(booking.id, "accept", None)
            db.session.commit()
            bookings.transition(booking.id, "confirm", None)
            db.session.commit()
        ids.append(booking.id)
    return ids


def mark_done(ids: list[int]) -> None:
    for booking_id in ids:
        bookings.transition(booking_id, "done", None, "Trajet effectué")
        db.session.commit()


def get(booking_id: int) -> Booking:
    return db.session.get(Booking, booking_id)
