"""Shared test builders: dates relative to the pinned clock, communes, trips, passengers,
requests. Import them from here (never from another test module)."""
from __future__ import annotations

from datetime import date, time, timedelta

from lotocar.communes.models import Commune
from lotocar.core.clock import today_local
from lotocar.core.timeutil import local_to_utc
from lotocar.extensions import db
from lotocar.offers import operations as ops
from lotocar.offers.models import Offer
from lotocar.offers.rules import OfferInput
from lotocar.passengers.models import Passenger
from lotocar.requests.models import RequestMode, RequestReason, TripRequest

# The suite's clock is pinned before collection (tests/conftest.py), so these dates are
# computed from the pinned day, not from the day the suite happens to run.
TODAY = today_local()


def next_weekday(iso: int, after: date = TODAY) -> date:
    d = after + timedelta(days=1)
    while d.isoweekday() != iso:
        d += timedelta(days=1)
    return d


MONDAY = next_weekday(1)
SATURDAY = next_weekday(6)


def commune(insee: str) -> Commune:
    return db.session.get(Commune, insee)


def luzech_cahors(driver, seats=3, detour=10) -> Offer:
    data = OfferInput(kind="regular", origin=ops.place_input(commune("46182"), None, None, None),
                      destination=ops.place_input(commune("46042"), None, None, None),
                      seats=seats, max_detour_min=detour, departure_time=time(7, 45),
                      weekdays=frozenset({1, 2, 3, 4, 5}), first_date=TODAY + timedelta(days=1),
                      last_date=TODAY + timedelta(days=90))
    saved = ops.create_offer(driver.driver, data, driver.id)
    db.session.commit()
    return saved


def passenger(phone="+33698765432") -> Passenger:
    p = Passenger(first_name="Odette", last_name="Marty", phone=phone, home_insee="46088")
    db.session.add(p)
    db.session.commit()
    return p


def trip_request(pax, origin="46088", destination="46042", day=MONDAY, at=time(8, 30),
                 mode=RequestMode.ARRIVE_BY, flex=30) -> TripRequest:
    r = TripRequest(passenger_id=pax.id, mode=mode, target_at=local_to_utc(day, at),
                    flexibility_min=flex, reason=RequestReason.MEDICAL)
    r.set_place("origin", commune(origin))
    r.set_place("destination", commune(destination))
    db.session.add(r)
    db.session.commit()
    return r
