"""Builders for the promise tests: a driver's regular trip, passengers with SMS, bookings made
the way the console makes them (candidate → proposal → accept → confirm), each action
committed by the test as an edge would. And the checks every test of issue #11 repeats."""
from __future__ import annotations

import re
from datetime import date, time, timedelta

from lotocar.bookings import operations as bookings
from lotocar.bookings.models import LIVE, SEAT_HOLDING, Booking, BookingStatus, OfferDay
from lotocar.candidates import operations as candidates
from lotocar.candidates.service import service
from lotocar.core import tx
from lotocar.core.timeutil import format_time_fr, local_to_utc, to_local, utcnow
from lotocar.extensions import db
from lotocar.notifications.models import SmsMessage, SmsStatus
from lotocar.offers import operations as offer_ops
from lotocar.offers.models import Offer, OfferStatus
from lotocar.offers.rules import OfferInput
from lotocar.passengers.models import Passenger
from lotocar.requests.models import RequestMode, RequestReason, TripRequest
from tests.factories import MONDAY, TODAY, commune

LUZECH, CAHORS, DOUELLE, MERCUES = "46182", "46042", "46088", "46191"
_phones = iter(range(10_000, 100_000))

# messages that state a booking's pickup to its passenger
PROMISING_KINDS = ("confirmed", "changed", "reminder_eve", "reminder_soon")


def trip_input(*, at: time = time(7, 45), seats: int = 3, weekdays=frozenset({1, 2, 3, 4, 5}),
               first: date | None = None, last: date | None = None, origin_shift_km: float = 0.0,
               detour: int = 15) -> OfferInput:
    luzech = commune(LUZECH)
    lat = lon = None
    if origin_shift_km:  # a precise start point east of Luzech's town hall, towards Cahors
        lat, lon = luzech.lat, luzech.lon + origin_shift_km / 79.4
    return OfferInput(kind="regular", origin=offer_ops.place_input(luzech, None, lat, lon),
                      destination=offer_ops.place_input(commune(CAHORS), None, None, None),
                      seats=seats, max_detour_min=detour, departure_time=at, weekdays=weekdays,
                      first_date=first or TODAY + timedelta(days=1), last_date=last or TODAY + timedelta(days=60))


def make_trip(driver_user, **kw) -> Offer:
    offer = tx.atomic(lambda: offer_ops.create_offer(driver_user.driver, trip_input(**kw), driver_user.id))
    return offer


def edit_trip(offer: Offer, **kw) -> None:
    tx.atomic(lambda: offer_ops.update_offer(db.session.get(Offer, offer.id), trip_input(**kw), None))


def make_passenger(mobile: bool = True) -> Passenger:
    n = next(_phones)
    p = Passenger(first_name="Odette", last_name="Marty", home_insee=DOUELLE,
                  phone=f"+336{n:08d}" if mobile else f"+335{n:08d}", phone_is_mobile=mobile,
                  sms_consent_at=utcnow() if mobile else None)
    db.session.add(p)
    db.session.commit()
    return p


def make_request(pax: Passenger, day: date = MONDAY, at: time = time(8, 30), flex: int = 90,
                 origin: str = DOUELLE) -> TripRequest:
    r = TripRequest(passenger_id=pax.id, mode=RequestMode.ARRIVE_BY, target_at=local_to_utc(day, at),
                    flexibility_min=flex, reason=RequestReason.MEDICAL)
    r.set_place("origin", commune(origin))
    r.set_place("destination", commune(CAHORS))
    db.session.add(r)
    db.session.commit()
    return r


def book(offer: Offer, request: TripRequest, day: date = MONDAY, confirm: bool = True) -> Booking:
    booking = tx.atomic(lambda: candidates.propose_candidate(request, offer.id, day, None))
    if confirm:
        tx.atomic(lambda: bookings.transition(booking.id, "accept", offer.driver.user_id))
        tx.atomic(lambda: bookings.transition(booking.id, "confirm", None))
    return db.session.get(Booking, booking.id)


def last_promise_sms(booking: Booking) -> SmsMessage | None:
    """The last message (sent or still to send) that stated this booking's pickup to its
    passenger — withdrawn ones excluded."""
    return db.session.scalar(
        db.select(SmsMessage).where(SmsMessage.booking_id == booking.id, SmsMessage.recipient == "passenger",
                                    SmsMessage.kind.in_(PROMISING_KINDS),
                                    SmsMessage.status != SmsStatus.CANCELLED)
        .order_by(SmsMessage.id.desc()).limit(1))


def states(message: SmsMessage, booking: Booking) -> bool:
    """The message states the booking's current pickup time (the minute, as SMS say it)."""
    return format_time_fr(to_local(booking.pickup_at)) in message.body and \
        message.event_at.replace(second=0, microsecond=0) == booking.pickup_at.replace(second=0, microsecond=0)


def assert_promises_true(offer_ids) -> None:
    """After every step: seats exact and within capacity; no live booking on a trip that
    does not run; every live booking is an exact candidate of its run with the pickup it
    holds; every confirmed passenger was told (SMS) or flagged (call) her current pickup."""
    db.session.expire_all()
    for offer_id in offer_ids:
        offer = db.session.get(Offer, offer_id)
        for run in db.session.scalars(db.select(OfferDay).where(OfferDay.offer_id == offer_id)):
            holding = db.session.scalar(
                db.select(db.func.coalesce(db.func.sum(Booking.seats), 0))
                .where(Booking.offer_id == offer_id, Booking.occurrence_date == run.day,
                       Booking.status.in_(SEAT_HOLDING)))
            assert run.held == holding, (offer_id, run.day, run.held, holding)
            assert run.held <= run.capacity
            if run.day >= TODAY:  # future runs follow the trip's seats
                assert run.capacity == offer.seats, (run.day, run.capacity, offer.seats)
        live = db.session.scalars(db.select(Booking).where(
            Booking.offer_id == offer_id, Booking.status.in_(LIVE))).all()
        if offer.status != OfferStatus.ACTIVE:
            assert live == [], [(b.id, b.status) for b in live]
        by_day: dict = {}
        for b in live:
            by_day.setdefault(b.occurrence_date, []).append(b)
        for day, on_day in by_day.items():
            assert sum(b.seats for b in on_day) <= offer.seats
            for b in on_day:
                cand = service().evaluate(b.request, offer, day, free_seats_of=on_day)
                assert cand is not None, f"booking {b.id} is no longer a candidate of its run"
                assert cand.pickup_at.replace(second=0, microsecond=0) == \
                    b.pickup_at.replace(second=0, microsecond=0), (b.id, cand.pickup_at, b.pickup_at)
                if b.status == BookingStatus.CONFIRMED:
                    passenger = b.request.passenger
                    if passenger.phone_is_mobile and passenger.sms_consent_at is not None:
                        msg = last_promise_sms(b)
                        assert msg is not None and states(msg, b), (b.id, msg and msg.body, b.pickup_at)
                    elif b.promise_version:
                        assert b.request.flag == "call_needed" and \
                            format_time_fr(to_local(b.pickup_at)) in b.request.flag_detail


def changed_rows(booking_id: int) -> list[SmsMessage]:
    db.session.expire_all()
    return list(db.session.scalars(db.select(SmsMessage).where(
        SmsMessage.booking_id == booking_id, SmsMessage.kind == "changed").order_by(SmsMessage.id)))


def hhmm(body: str) -> list[str]:
    return re.findall(r"\b\d{2}:\d{2}\b", body)



def trip_form(offer: Offer, *, at: str = "07:45", seats: int | None = None) -> dict:
    """The driver's edit form of a trip built by `make_trip`, as the browser posts it."""
    return {
        "kind": "regular", "origin": "Luzech (46140)", "destination": "Cahors",
        "origin_place": "", "destination_place": "",
        "origin_lat": "" if offer.origin_lat is None else str(offer.origin_lat),
        "origin_lon": "" if offer.origin_lon is None else str(offer.origin_lon),
        "destination_lat": "", "destination_lon": "",
        "departure_time": at, "weekdays": [str(d) for d in sorted(offer.weekday_set)],
        "first_date": offer.first_date.isoformat(), "last_date": offer.last_date.isoformat(),
        "departure_date": "", "seats": str(seats if seats is not None else offer.seats),
        "max_detour_min": str(offer.max_detour_min), "remark": "",
    }
