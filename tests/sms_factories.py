"""Bookings for the SMS tests: a driver, a passenger, a trip and a proposal, built directly."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from lotocar.core.clock import today_local
from lotocar.auth.models import Role, User
from lotocar.bookings import operations as bookings
from lotocar.communes.models import Commune
from lotocar.core.timeutil import PARIS, utcnow
from lotocar.drivers.models import Driver
from lotocar.extensions import db
from lotocar.notifications.models import SmsMessage, SmsStatus
from lotocar.offers.models import Offer, OfferKind, OfferStatus
from lotocar.passengers.models import Passenger
from lotocar.requests.models import RequestMode, RequestReason, RequestStatus, TripRequest

CAHORS, DOUELLE, NICOURBY = "46042", "46088", "46282"
_counter = {"n": 0}


@dataclass
class World:
    booking_id: int
    offer_id: int
    request_id: int
    driver_user_id: int
    driver_phone: str
    passenger_phone: str

    @property
    def booking(self):
        from lotocar.bookings.models import Booking
        return db.session.get(Booking, self.booking_id)


def next_weekday(weekday: int, weeks_ahead: int = 1) -> date:
    today = today_local()
    return today + timedelta(days=(weekday - today.weekday()) % 7 + 7 * weeks_ahead)


def make_world(pickup_local: datetime | None = None, *, origin: str = DOUELLE, origin_place: str | None = None,
               destination: str = CAHORS, passenger_mobile: bool = True, passenger_consent: bool = True,
               passenger_first: str = "Marie", driver_first: str = "Jean",
               passenger_call_consent: bool = False, prefers_calls: bool = False) -> World:
    """A proposed booking (through bookings.propose, so the SMS planner runs)."""
    _counter["n"] += 1
    n = _counter["n"]
    if pickup_local is None:
        pickup_local = datetime.combine(next_weekday(1), time(10, 5), tzinfo=PARIS)  # a Tuesday
    departure_local = pickup_local - timedelta(minutes=10)
    driver_phone = f"+3361{n:07d}"
    passenger_phone = f"+3367{n:07d}" if passenger_mobile else f"+3356{n:07d}"
    user = User(role=Role.DRIVER, first_name=driver_first, last_name="Delmas", phone=driver_phone,
                phone_verified_at=utcnow())
    user.driver = Driver(home_insee=origin, consent_contact=True, consent_at=utcnow())
    passenger = Passenger(first_name=passenger_first, last_name="Dupuy", phone=passenger_phone,
                          phone_is_mobile=passenger_mobile, home_insee=origin, has_no_car=True,
                          sms_consent_at=utcnow() if passenger_consent else None,
                          call_consent_at=utcnow() if passenger_call_consent else None,
                          prefers_calls=prefers_calls)
    db.session.add_all([user, passenger])
    db.session.flush()
    o, d = db.session.get(Commune, origin), db.session.get(Commune, destination)
    offer = Offer(driver_id=user.driver.id, kind=OfferKind.ONE_OFF, status=OfferStatus.ACTIVE,
                  departure_at=departure_local.astimezone(timezone.utc), local_time=departure_local.time(),
                  first_date=departure_local.date(), last_date=departure_local.date(), seats=3,
                  max_detour_min=15)
    offer.set_place("origin", o)
    offer.set_place("destination", d)
    request = TripRequest(passenger_id=passenger.id, mode=RequestMode.LEAVE_AFTER,
                          target_at=pickup_local.astimezone(timezone.utc), flexibility_min=30,
                          reason=RequestReason.MEDICAL, status=RequestStatus.OPEN)
    request.set_place("origin", o, origin_place)
    request.set_place("destination", d)
    db.session.add_all([offer, request])
    db.session.commit()
    booking = bookings.propose(bookings.Proposal(
        request_id=request.id, offer_id=offer.id, day=departure_local.date(),
        pickup_at=pickup_local.astimezone(timezone.utc),
        dropoff_at=(pickup_local + timedelta(minutes=25)).astimezone(timezone.utc), detour_min=3), actor_id=None)
    db.session.commit()
    return World(booking.id, offer.id, request.id, user.id, driver_phone, passenger_phone)


def confirm(world: World, accept_actor: int | None = None) -> None:
    bookings.transition(world.booking_id, "accept", actor_id=accept_actor)
    db.session.commit()
    bookings.transition(world.booking_id, "confirm", actor_id=None)
    db.session.commit()


def rows(booking_id: int | None = None, **filters) -> list[SmsMessage]:
    db.session.expire_all()
    query = db.select(SmsMessage).order_by(SmsMessage.id)
    if booking_id is not None:
        query = query.where(SmsMessage.booking_id == booking_id)
    for name, value in filters.items():
        query = query.where(getattr(SmsMessage, name) == value)
    return list(db.session.scalars(query))


def by_key(booking_id: int) -> dict[str, SmsMessage]:
    return {r.key.split(":", 1)[1]: r for r in rows(booking_id) if r.key}


def pending(booking_id: int) -> list[SmsMessage]:
    return [r for r in rows(booking_id) if r.status == SmsStatus.PENDING]
