"""A driver's statement for one month, built from the rides marked done (plain data)."""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy.orm import joinedload

from lotocar.bookings.models import Booking, BookingStatus
from lotocar.contributions import operations as contributions
from lotocar.core.timeutil import MONTH_NAMES_FR, to_local
from lotocar.drivers.models import Driver
from lotocar.extensions import db
from lotocar.offers.models import Offer
from lotocar.requests.models import TripRequest
from matching import Point

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class StatementError(ValueError):
    """Bad input (French message)."""


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, raw: str | None) -> Month:
        match = _MONTH.match((raw or "").strip())
        if not match:
            raise StatementError("Mois non valide : écrivez-le AAAA-MM (ex. 2026-11).")
        year, month = int(match.group(1)), int(match.group(2))
        if not (1 <= month <= 12 and 2000 <= year <= 2100):
            raise StatementError("Mois non valide : écrivez-le AAAA-MM (ex. 2026-11).")
        return cls(year, month)

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)

    @property
    def first(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last(self) -> date:
        return self.next().first - timedelta(days=1)

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), 12 if self.month == 1 else self.month - 1)

    @property
    def key(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def label_fr(self) -> str:
        return f"{MONTH_NAMES_FR[self.month - 1]} {self.year}"


@dataclass(frozen=True)
class Ride:
    day: date
    departure: datetime | None
    origin: str
    destination: str
    passengers: tuple[str, ...]
    km_with_passengers: float
    detour_km: float
    contribution_cents: int


@dataclass(frozen=True)
class Statement:
    driver_id: int
    driver_name: str
    driver_commune: str
    month: Month
    rides: list[Ride] = field(default_factory=list)

    @property
    def passengers(self) -> int:
        return sum(len(r.passengers) for r in self.rides)

    @property
    def km_with_passengers(self) -> float:
        return round(sum(r.km_with_passengers for r in self.rides), 1)

    @property
    def detour_km(self) -> float:
        return round(sum(r.detour_km for r in self.rides), 1)

    @property
    def contributions_cents(self) -> int:
        return sum(r.contribution_cents for r in self.rides)


def _run_figures(offer: Offer, run: list[Booking]) -> tuple[float, float]:
    """(km with at least one passenger aboard, detour km) of one run O → stops → D."""
    road = contributions.router()
    origin, dest = Point(*offer.point("origin")), Point(*offer.point("destination"))
    stops: list[tuple[datetime, int, Point]] = []
    for b in run:
        r = b.request
        pickup = b.pickup_at or datetime.min
        dropoff = b.dropoff_at or pickup
        stops.append((pickup, +1, Point(*r.point("origin"))))
        stops.append((dropoff, -1, Point(*r.point("destination"))))
    stops.sort(key=lambda s: (s[0], -s[1]))  # at the same minute, pick up before dropping off
    path = [origin] + [p for _t, _k, p in stops] + [dest]
    legs = [road.leg(a, b).km for a, b in zip(path, path[1:])]
    aboard, with_pax = 0, 0.0
    for i, (_t, kind, _p) in enumerate(stops):
        aboard += kind
        if aboard > 0 and i + 1 < len(stops):
            with_pax += legs[i + 1]
    detour = max(0.0, sum(legs) - road.leg(origin, dest).km)
    return round(with_pax, 1), round(detour, 1)


def done_bookings(month: Month, driver_id: int | None = None) -> list[Booking]:
    stmt = (db.select(Booking).join(Offer, Offer.id == Booking.offer_id)
            .options(joinedload(Booking.request).joinedload(TripRequest.passenger),
                     joinedload(Booking.offer).joinedload(Offer.driver).joinedload(Driver.user))
            .where(Booking.status == BookingStatus.DONE, Booking.occurrence_date >= month.first,
                   Booking.occurrence_date <= month.last)
            .order_by(Booking.occurrence_date, Booking.pickup_at, Booking.id))
    if driver_id is not None:
        stmt = stmt.where(Offer.driver_id == driver_id)
    return list(db.session.scalars(stmt).unique())


def statement(driver: Driver, month: Month, bookings: list[Booking] | None = None) -> Statement:
    bookings = done_bookings(month, driver.id) if bookings is None else bookings
    amounts = contributions.fixed_for([b.id for b in bookings])
    runs: dict[tuple[int, date], list[Booking]] = defaultdict(list)
    for b in bookings:
        runs[(b.offer_id, b.occurrence_date)].append(b)
    rides = []
    for (_offer_id, day), run in sorted(runs.items(), key=lambda kv: (kv[0][1], kv[1][0].pickup_at or datetime.min)):
        offer = run[0].offer
        with_pax, detour = _run_figures(offer, run)
        first_pickup = min((b.pickup_at for b in run if b.pickup_at), default=None)
        rides.append(Ride(
            day=day, departure=to_local(first_pickup) if first_pickup else None,
            origin=offer.origin.name, destination=offer.destination.name,
            passengers=tuple(b.request.passenger.first_name for b in run),
            km_with_passengers=with_pax, detour_km=detour,
            contribution_cents=sum(amounts[b.id].amount_cents for b in run if b.id in amounts)))
    user = driver.user
    return Statement(driver.id, f"{user.first_name} {user.last_name}".strip(), driver.home.name, month, rides)


def statements(month: Month, driver_id: int | None = None) -> list[Statement]:
    """Every driver with rides done in the month (or only `driver_id`, even with none)."""
    bookings = done_bookings(month, driver_id)
    by_driver: dict[int, list[Booking]] = defaultdict(list)
    for b in bookings:
        by_driver[b.offer.driver_id].append(b)
    if driver_id is not None:
        driver = db.session.get(Driver, driver_id)
        if driver is None:
            raise StatementError(f"Conducteur inconnu : {driver_id}.")
        return [statement(driver, month, by_driver.get(driver_id, []))]
    drivers = {d.id: d for d in db.session.scalars(db.select(Driver).where(Driver.id.in_(by_driver)))}
    return [statement(drivers[i], month, by_driver[i]) for i in sorted(by_driver)]


def months_with_rides(driver_id: int) -> list[Month]:
    days = db.session.scalars(
        db.select(Booking.occurrence_date).join(Offer, Offer.id == Booking.offer_id)
        .where(Offer.driver_id == driver_id, Booking.status == BookingStatus.DONE).distinct())
    return sorted({Month.of(d) for d in days}, reverse=True)
