"""Known data sets for the statistics tests (built directly with the models).

`dashboard_data()` — Jan–Mar 2025, ten requests in the period, three rides:

    R1  P1 Luzech → Cahors      06/01 08:30 medical   done    (D1, detour 4 min)
    R2  P1 Cahors → Luzech      06/01 17:00 medical   done    (D2, detour 0)
    R3  P2 Douelle → Cahors     14/01 09:00 job       done    (D1, detour 2 min)
    R4  P2 Douelle → Cahors     11/02 09:00 job       unmet   "Aucun conducteur à cet horaire"
    R5  P3 Assier → Figeac      04/02 08:00 medical   unmet   "Aucun conducteur sur ce trajet"
    R6  P3 Lacapelle → Figeac   18/02 08:30 shopping  unmet   "Autre : …"
    R7  P4 Assier → Figeac      04/03 08:15 admin.    open, date passed → unmet (no answer)
    R8  P4 Luzech → Cahors      10/03 08:30 medical   cancelled
    R9  P5 Gourdon → Souillac   20/03 10:00 training  booked → in progress
    R11 P2 Cahors → Luzech      31/03 23:30 other     unmet   "Demande trop tardive"
    out of the period: R0 P1 10/12/2024 done (P1 is a returning passenger), R10 01/04 00:10.

`lines_data()` — two obvious corridors and some noise (see the test).
"""
from __future__ import annotations

from datetime import date, time

from lotocar.bookings.models import Booking, BookingStatus
from lotocar.communes.models import Commune
from lotocar.core.timeutil import local_to_utc, to_local
from lotocar.extensions import db
from lotocar.offers.models import Offer, OfferKind, OfferStatus
from lotocar.passengers.models import Passenger
from lotocar.requests.models import RequestMode, RequestReason, RequestStatus, TripRequest

LUZECH, CAHORS, DOUELLE, PARNAC = "46182", "46042", "46088", "46214"
ASSIER, FIGEAC, LACAPELLE, REYREVIGNES = "46009", "46102", "46143", "46237"
MONTCUQ = "46201"
GOURDON, SOUILLAC = "46127", "46309"
GRAND_CAHORS, GRAND_FIGEAC = "200023737", "200067361"

S = RequestStatus
R = RequestReason


def commune(insee: str) -> Commune:
    return db.session.get(Commune, insee)


def passenger(n: int, first: str = "Odette", last: str = "Marty") -> Passenger:
    p = Passenger(first_name=first, last_name=last, phone=f"+336980000{n:02d}", home_insee=LUZECH)
    db.session.add(p)
    db.session.flush()
    return p


def trip_request(pax: Passenger, origin: str, destination: str, day: date, at: time,
                 status: RequestStatus = S.UNMET, reason: RequestReason = R.MEDICAL,
                 unmet_reason: str | None = None, notes: str | None = None) -> TripRequest:
    r = TripRequest(passenger_id=pax.id, mode=RequestMode.ARRIVE_BY, target_at=local_to_utc(day, at),
                    flexibility_min=30, reason=reason, status=status, unmet_reason=unmet_reason, notes=notes)
    r.set_place("origin", commune(origin))
    r.set_place("destination", commune(destination))
    db.session.add(r)
    db.session.flush()
    return r


def offer(driver_user, origin: str, destination: str, first: date, last: date,
          kind: OfferKind = OfferKind.REGULAR, status: OfferStatus = OfferStatus.ACTIVE,
          at: time = time(7, 45), weekdays: str | None = "1,2,3,4,5", detour: int = 10) -> Offer:
    o = Offer(driver_id=driver_user.driver.id, kind=kind, status=status, local_time=at,
              weekdays=weekdays if kind == OfferKind.REGULAR else None, first_date=first, last_date=last,
              departure_at=local_to_utc(first, at) if kind == OfferKind.ONE_OFF else None,
              seats=3, max_detour_min=detour)
    o.set_place("origin", commune(origin))
    o.set_place("destination", commune(destination))
    db.session.add(o)
    db.session.flush()
    return o


def ride(req: TripRequest, off: Offer, detour_min: float) -> Booking:
    day = to_local(req.target_at).date()
    b = Booking(request_id=req.id, offer_id=off.id, occurrence_date=day, seats=1, status=BookingStatus.DONE,
                pickup_at=req.target_at, dropoff_at=req.target_at, detour_min=detour_min)
    db.session.add(b)
    db.session.flush()
    return b


def dashboard_data(make_driver) -> dict:
    d1 = make_driver("Nathalie", "Roux", home=LUZECH)
    d2 = make_driver("Pierre", "Bessières", home=CAHORS)
    d3 = make_driver("Luc", "Vidal", home=GOURDON)
    d4 = make_driver("Anne", "Cayla", home=FIGEAC)
    o1 = offer(d1, LUZECH, CAHORS, date(2024, 12, 1), date(2025, 6, 30))
    o2 = offer(d2, CAHORS, LUZECH, date(2025, 1, 1), date(2025, 1, 31), at=time(16, 45))
    offer(d3, GOURDON, SOUILLAC, date(2025, 1, 1), date(2025, 3, 31), status=OfferStatus.CANCELLED)
    offer(d4, FIGEAC, CAHORS, date(2025, 5, 1), date(2025, 5, 31))
    p1 = passenger(1, "Odette", "Marty")
    p2 = passenger(2, "Jean", "Delpech")
    p3 = passenger(3, "Rose", "Lafon")
    p4 = passenger(4, "Marcel", "Bouzou")
    p5 = passenger(5, "Lucie", "Garric")
    r0 = trip_request(p1, LUZECH, CAHORS, date(2024, 12, 10), time(8, 30), S.DONE)
    ride(r0, o1, 3)
    reqs = {
        "R1": trip_request(p1, LUZECH, CAHORS, date(2025, 1, 6), time(8, 30), S.DONE, notes="Cardiologue"),
        "R2": trip_request(p1, CAHORS, LUZECH, date(2025, 1, 6), time(17, 0), S.DONE),
        "R3": trip_request(p2, DOUELLE, CAHORS, date(2025, 1, 14), time(9, 0), S.DONE, R.JOB),
        "R4": trip_request(p2, DOUELLE, CAHORS, date(2025, 2, 11), time(9, 0), S.UNMET, R.JOB,
                           "Aucun conducteur à cet horaire"),
        "R5": trip_request(p3, ASSIER, FIGEAC, date(2025, 2, 4), time(8, 0), S.UNMET, R.MEDICAL,
                           "Aucun conducteur sur ce trajet"),
        "R6": trip_request(p3, LACAPELLE, FIGEAC, date(2025, 2, 18), time(8, 30), S.UNMET, R.SHOPPING,
                           "Autre : le conducteur habituel est malade"),
        "R7": trip_request(p4, ASSIER, FIGEAC, date(2025, 3, 4), time(8, 15), S.OPEN, R.ADMINISTRATION),
        "R8": trip_request(p4, LUZECH, CAHORS, date(2025, 3, 10), time(8, 30), S.CANCELLED),
        "R9": trip_request(p5, GOURDON, SOUILLAC, date(2025, 3, 20), time(10, 0), S.BOOKED, R.TRAINING),
        "R11": trip_request(p2, CAHORS, LUZECH, date(2025, 3, 31), time(23, 30), S.UNMET, R.OTHER,
                            "Demande trop tardive"),
    }
    trip_request(p5, FIGEAC, CAHORS, date(2025, 4, 1), time(0, 10), S.UNMET, R.OTHER, "Autre")
    rides = [ride(reqs["R1"], o1, 4), ride(reqs["R2"], o2, 0), ride(reqs["R3"], o1, 2)]
    db.session.commit()
    return {"requests": reqs, "rides": rides, "passengers": [p1, p2, p3, p4, p5], "drivers": [d1, d2, d3, d4]}


def lines_data(make_driver) -> dict:
    """West: the Lot valley to Cahors (8 requests, both ways); east: Assier to Figeac (5); noise."""
    pax = [passenger(20 + i, "Passager", f"N{i}") for i in range(6)]
    jan = lambda d: date(2025, 1, d)  # noqa: E731
    feb = lambda d: date(2025, 2, d)  # noqa: E731
    west = [
        (LUZECH, CAHORS, jan(6), time(8, 30), S.UNMET),     # Monday
        (LUZECH, CAHORS, jan(7), time(8, 30), S.UNMET),     # Tuesday
        (LUZECH, CAHORS, jan(8), time(8, 30), S.UNMET),     # Wednesday
        (DOUELLE, CAHORS, jan(13), time(9, 0), S.DONE),     # Monday
        (DOUELLE, CAHORS, jan(14), time(9, 0), S.UNMET),    # Tuesday
        (PARNAC, CAHORS, jan(16), time(14, 0), S.UNMET),    # Thursday, alone in its window
        (CAHORS, LUZECH, jan(6), time(17, 0), S.UNMET),
        (CAHORS, LUZECH, jan(7), time(17, 0), S.BOOKED),
    ]
    east = [
        (REYREVIGNES, FIGEAC, feb(3), time(8, 0), S.UNMET),   # on the way from Assier
        (REYREVIGNES, FIGEAC, feb(4), time(8, 0), S.UNMET),
        (ASSIER, FIGEAC, feb(3), time(8, 30), S.DONE),
        (ASSIER, FIGEAC, feb(10), time(8, 30), S.UNMET),
        (FIGEAC, ASSIER, feb(3), time(18, 0), S.UNMET),
    ]
    for i, (o, d, day, at, status) in enumerate(west + east):
        trip_request(pax[i % 6], o, d, day, at, status)
    trip_request(pax[0], GOURDON, SOUILLAC, jan(20), time(10, 0), S.UNMET)           # a lone request
    trip_request(pax[2], LACAPELLE, FIGEAC, feb(5), time(8, 0), S.UNMET)             # 7 min off: alone
    trip_request(pax[1], LUZECH, CAHORS, jan(21), time(8, 30), S.CANCELLED)          # not demand
    d1 = make_driver("Nathalie", "Roux", home=LUZECH)
    d2 = make_driver("Pierre", "Bessières", home=CAHORS)
    d3 = make_driver("Luc", "Vidal", home=DOUELLE)
    offer(d1, LUZECH, CAHORS, date(2025, 1, 1), date(2025, 12, 31))
    offer(d2, CAHORS, LUZECH, jan(6), jan(6), kind=OfferKind.ONE_OFF, at=time(16, 50))
    offer(d3, DOUELLE, CAHORS, date(2025, 1, 1), date(2025, 12, 31), status=OfferStatus.PAUSED)
    db.session.commit()
    return {"drivers": [d1, d2, d3]}
