"""A realistic demo set on the 2019 lines, so a newcomer sees a living app.

Drivers on the lines opened in 2019 (Montcuq, Crayssac, Espère, Mercuès, Arcambal,
Gourdon, Luzech/Douelle → Cahors; Assier → Figeac), regular commutes and one-off trips,
a few passengers and their requests, and a demo operator account.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import time, timedelta

from lotocar.auth import operations as auth_ops
from lotocar.auth.models import Role, User
from lotocar.communes.models import Commune
from lotocar.core.timeutil import local_to_utc, today_local, utcnow
from lotocar.drivers.models import Driver
from lotocar.extensions import db
from lotocar.offers import operations as offer_ops
from lotocar.offers.rules import OfferInput
from lotocar.passengers.models import Passenger
from lotocar.requests.models import RequestMode, RequestReason, TripRequest

DEMO_OPERATOR_EMAIL = "operatrice@lotocar.example"
DEMO_OPERATOR_PASSWORD = "demo-lotocar-46"


@dataclass(frozen=True)
class DemoDriver:
    first: str
    last: str
    phone: str
    home: str  # INSEE
    # (origin, destination, "HH:MM", weekdays or None for one-off in N days, seats, detour)
    trips: tuple[tuple[str, str, str, tuple[int, ...] | int, int, int], ...]
    accepts: str | None = None  # passengers' needs he and his car accept (lotocar.core.needs)


CAHORS, FIGEAC = "46042", "46102"
DRIVERS = [
    DemoDriver("Jean", "Delmas", "+33612345601", "46201", (  # Montcuq-en-Quercy-Blanc
        ("46201", CAHORS, "07:30", (1, 2, 3, 4, 5), 3, 10),
        (CAHORS, "46201", "17:45", (1, 2, 3, 4, 5), 3, 10))),
    DemoDriver("Marie", "Lacombe", "+33612345602", "46080", (  # Crayssac
        ("46080", CAHORS, "08:00", (1, 3, 5), 2, 15),)),
    DemoDriver("Pierre", "Bouyssou", "+33612345603", "46095", (  # Espère
        ("46095", CAHORS, "07:50", (1, 2, 3, 4, 5), 3, 5),
        ("46095", CAHORS, "09:30", 3, 2, 15))),
    DemoDriver("Claude", "Vergnes", "+33612345604", "46191", (  # Mercuès
        ("46191", CAHORS, "08:15", (2, 4), 4, 10),)),
    DemoDriver("Françoise", "Calmels", "+33612345605", "46007", (  # Arcambal
        ("46007", CAHORS, "07:40", (1, 2, 3, 4, 5), 2, 10),
        (CAHORS, "46007", "18:00", (1, 2, 3, 4, 5), 2, 10))),
    DemoDriver("Michel", "Lafon", "+33612345606", "46127", (  # Gourdon
        ("46127", CAHORS, "07:15", (1, 2, 3, 4, 5), 3, 15),
        ("46127", CAHORS, "13:30", 5, 3, 20))),
    DemoDriver("Nathalie", "Rességuier", "+33612345607", "46182", (  # Luzech
        ("46182", CAHORS, "07:45", (1, 2, 3, 4, 5), 3, 10),), "boarding_help,front_seat,wheelchair"),
    DemoDriver("Alain", "Couderc", "+33612345608", "46009", (  # Assier
        ("46009", FIGEAC, "07:20", (1, 2, 3, 4, 5), 3, 10),
        (FIGEAC, "46009", "17:30", (1, 2, 3, 4, 5), 3, 10))),
    DemoDriver("Sylvie", "Bach", "+33612345609", "46088", (  # Douelle
        ("46088", CAHORS, "08:10", 2, 2, 10),), "assistance_dog,boarding_help"),
]

PASSENGERS = [
    ("Odette", "Marty", "+33565000001", False, "46088", "Marche avec une canne."),
    ("Kevin", "Roques", "+33698765401", True, "46201", None),
    ("Yvette", "Pélissié", "+33565000002", False, "46191", "Malvoyante, avec son chien guide."),
]
# accessibility needs (flags) and pickup place (text, lat, lon) of the demo passengers
PASSENGER_NEEDS = {
    "+33565000001": ("boarding_help,front_seat", ("4 chemin du Pech, devant le portail", 44.4738, 1.3652)),
    "+33565000002": ("assistance_dog", None),
}


def _commune(insee: str) -> Commune:
    commune = db.session.get(Commune, insee)
    if commune is None:
        raise RuntimeError(f"commune {insee} missing: run `flask communes load` first")
    return commune


def load_demo() -> dict[str, int]:
    """Create the demo set (idempotent: existing demo people are left as they are)."""
    counts = {"drivers": 0, "offers": 0, "passengers": 0, "requests": 0, "operators": 0}
    start = today_local()
    if db.session.scalar(db.select(User).where(User.email == DEMO_OPERATOR_EMAIL)) is None:
        auth_ops.create_staff(DEMO_OPERATOR_EMAIL, "Sophie", "Martin", Role.OPERATOR,
                              DEMO_OPERATOR_PASSWORD)
        counts["operators"] += 1
    for spec in DRIVERS:
        if db.session.scalar(db.select(User).where(User.phone == spec.phone)) is not None:
            continue
        user = User(role=Role.DRIVER, first_name=spec.first, last_name=spec.last,
                    phone=spec.phone, phone_verified_at=utcnow())
        user.driver = Driver(home_insee=_commune(spec.home).insee, consent_contact=True,
                             consent_at=utcnow(), accepts_flags=spec.accepts)
        db.session.add(user)
        db.session.flush()
        counts["drivers"] += 1
        for origin, destination, hhmm, when, seats, detour in spec.trips:
            o, d = _commune(origin), _commune(destination)
            hour, minute = (int(x) for x in hhmm.split(":"))
            common = dict(
                origin=offer_ops.place_input(o, None, None, None),
                destination=offer_ops.place_input(d, None, None, None),
                seats=seats, max_detour_min=detour, departure_time=time(hour, minute),
            )
            if isinstance(when, tuple):
                data = OfferInput(kind="regular", weekdays=frozenset(when),
                                  first_date=start + timedelta(days=1),
                                  last_date=start + timedelta(days=120), **common)
            else:
                data = OfferInput(kind="one_off", departure_date=start + timedelta(days=when), **common)
            offer_ops.create_offer(user.driver, data, actor_id=user.id)
            counts["offers"] += 1
    for first, last, phone, mobile, home, needs in PASSENGERS:
        if db.session.scalar(db.select(Passenger).where(Passenger.phone == phone)) is not None:
            continue
        passenger = Passenger(first_name=first, last_name=last, phone=phone, phone_is_mobile=mobile,
                              home_insee=_commune(home).insee, has_no_car=True, needs=needs,
                              sms_consent_at=utcnow() if mobile else None,
                              call_consent_at=None if mobile else utcnow())  # landlines: automatic calls
        flags, pickup = PASSENGER_NEEDS.get(phone, (None, None))
        passenger.needs_flags = flags
        if pickup is not None:
            passenger.pickup_place, passenger.pickup_lat, passenger.pickup_lon = pickup
        db.session.add(passenger)
        db.session.flush()
        counts["passengers"] += 1
        day = start + timedelta(days=2 + counts["passengers"])
        request = TripRequest(passenger_id=passenger.id, mode=RequestMode.ARRIVE_BY,
                              target_at=local_to_utc(day, time(9, 0)), flexibility_min=30,
                              reason=RequestReason.MEDICAL if not mobile else RequestReason.JOB)
        request.set_place("origin", _commune(home), passenger.pickup_place, passenger.pickup_lat,
                          passenger.pickup_lon)
        request.set_place("destination", _commune(CAHORS), "Centre hospitalier")
        db.session.add(request)
        counts["requests"] += 1
    return counts
