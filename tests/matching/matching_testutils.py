"""Shared helpers for the matching tests: data, comparison, special routers."""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path

from matching import (
    Candidate,
    CorridorIndex,
    Leg,
    Matcher,
    Offer,
    Point,
    Recurrence,
    Request,
    SpeedBound,
    StraightLineRouter,
    brute_force_candidates,
    haversine_km,
)
from matching.router import Router

ROOT = Path(__file__).resolve().parent.parent.parent
COMMUNES_CSV_CANDIDATES = (
    ROOT / "data" / "communes" / "communes_lot.csv",  # shipped with the project
    ROOT.parent / "shared" / "data" / "communes_lot.csv",
)

LAT_RANGE = (44.2, 45.05)
LON_RANGE = (1.0, 2.2)


def communes_csv() -> Path:
    for p in COMMUNES_CSV_CANDIDATES:
        if p.exists():
            return p
    raise FileNotFoundError("communes_lot.csv not found (data/communes/ in the repository)")


def load_communes() -> dict[str, Point]:
    with communes_csv().open(newline="", encoding="utf-8") as fh:
        return {r["name"]: Point(float(r["lat"]), float(r["lon"])) for r in csv.DictReader(fh)}


def fingerprint(c: Candidate) -> tuple[object, ...]:
    """Every field; datetimes as epoch seconds (aware comparisons would ignore fold)."""
    return (
        c.offer_id, c.driver_id, c.date, c.departure_at.timestamp(), c.pickup_at.timestamp(),
        c.dropoff_at.timestamp(), c.detour_min, c.detour_km, c.seats_left, c.band,
        c.already_travelled, c.score, c.reasons,
        c.departure_at.utcoffset(), c.pickup_at.utcoffset(), c.dropoff_at.utcoffset(),
    )


def fingerprints(cs: Iterable[Candidate]) -> list[tuple[object, ...]]:
    return [fingerprint(c) for c in cs]


class CeilRouter:
    """Straight-line legs with minutes rounded *up* to whole minutes: exact boundaries.

    Minutes only grow, so the straight-line bound stays valid."""

    def __init__(self, base: StraightLineRouter | None = None) -> None:
        self.base = base or StraightLineRouter(1.3, 60.0)
        self.bound = self.base.bound

    def leg(self, a: Point, b: Point) -> Leg:
        leg = self.base.leg(a, b)
        return Leg(leg.km, float(math.ceil(leg.minutes - 1e-12)))


class NoBoundRouter:
    """Straight-line legs but no declared bound: the index may only filter on time."""

    def __init__(self) -> None:
        self.base = StraightLineRouter(1.4, 55.0)

    def leg(self, a: Point, b: Point) -> Leg:
        return self.base.leg(a, b)


def _frac(*xs: float) -> float:
    h = 0.0
    for i, x in enumerate(xs):
        h += math.sin(x * (12.9898 + 7.233 * i)) * 43758.5453
    return h - math.floor(h)


class BumpyRouter:
    """Deterministic, asymmetric pseudo road network: circuity 1.2–1.6, speed 30–90 km/h,
    and endpoints "snapped" by up to 0.3 km (legs can be shorter than the crow flies).

    Declared bound: straight speed <= 90 / 1.2 = 75 km/h, snap 0.3 km."""

    bound = SpeedBound(max_kmh=75.0, snap_km=0.3)

    def leg(self, a: Point, b: Point) -> Leg:
        if a == b:
            return Leg(0.0, 0.0)
        straight = haversine_km(a, b)
        f = _frac(a.lat, a.lon, b.lat, b.lon)
        g = _frac(b.lon, a.lat, b.lat, a.lon)
        circ = 1.2 + 0.4 * f
        speed = 30.0 + 60.0 * g
        km = max(0.0, straight - 0.3 * g) * circ
        return Leg(km, km / speed * 60.0)


# -- random data ------------------------------------------------------------------------


def random_point(rng: random.Random, palette: Sequence[Point] = ()) -> Point:
    if palette and rng.random() < 0.5:
        return rng.choice(palette)
    return Point(round(rng.uniform(*LAT_RANGE), 5), round(rng.uniform(*LON_RANGE), 5))


def random_offer(rng: random.Random, oid: int, days: tuple[date, date], palette: Sequence[Point] = ()) -> Offer:
    o = random_point(rng, palette)
    d = random_point(rng, palette)
    while d == o:
        d = random_point(rng, palette)
    span = (days[1] - days[0]).days
    minute = rng.choice([rng.randrange(0, 1440), rng.randrange(6 * 60, 20 * 60), rng.randrange(23 * 60, 1440)])
    at = time(minute // 60, minute % 60)
    common = dict(id=oid, driver_id=rng.randrange(1, 40), origin=o, destination=d,
                  seats=rng.randint(1, 4), max_detour_min=rng.choice([0, 3, 5, 10, 15, 20, 30]))
    if rng.random() < 0.5:
        day = days[0] + timedelta(days=rng.randrange(span + 1))
        return Offer(**common, departure=datetime.combine(day, at))  # type: ignore[arg-type]
    first = days[0] + timedelta(days=rng.randrange(-3, span + 1))
    last = first + timedelta(days=rng.randrange(0, span + 4))
    wd = frozenset(rng.sample(range(1, 8), rng.randint(1, 7)))
    return Offer(**common, recurrence=Recurrence(wd, at, first, last))  # type: ignore[arg-type]


def request_near(rng: random.Random, rid: int, offer: Offer, day: date) -> Request:
    """A request roughly along ``offer`` around its departure time (to get matches)."""
    o, d = offer.origin, offer.destination

    def along(f: float, noise: float) -> Point:
        return Point(
            min(max(o.lat + (d.lat - o.lat) * f + rng.uniform(-noise, noise), -89.0), 89.0),
            min(max(o.lon + (d.lon - o.lon) * f + rng.uniform(-noise, noise), -179.0), 179.0),
        )

    f1 = rng.choice([0.0, rng.random() * 0.6])
    f2 = rng.choice([1.0, f1 + rng.random() * (1 - f1)])
    p = o if f1 == 0.0 and rng.random() < 0.5 else along(f1, rng.choice([0.0, 0.01, 0.03]))
    q = d if f2 == 1.0 and rng.random() < 0.5 else along(f2, rng.choice([0.0, 0.01, 0.03]))
    if p == q:
        q = d if p != d else o
    if offer.departure is not None:
        base = offer.departure.hour * 60 + offer.departure.minute
    else:
        assert offer.recurrence is not None
        base = offer.recurrence.time.hour * 60 + offer.recurrence.time.minute
    m = (base + rng.randrange(-30, 90)) % 1440
    return Request(id=rid, passenger_id=rng.randrange(1, 30), pickup=p, dropoff=q, date=day,
                   mode=rng.choice(["arrive_by", "leave_after"]), time=time(m // 60, m % 60),
                   flexibility_min=rng.choice([0, 10, 30, 60, 120]), seats=rng.choice([1, 1, 1, 2, 3]))


def random_request(rng: random.Random, rid: int, days: tuple[date, date], palette: Sequence[Point] = ()) -> Request:
    p = random_point(rng, palette)
    q = random_point(rng, palette)
    span = (days[1] - days[0]).days
    m = rng.randrange(0, 1440)
    return Request(id=rid, passenger_id=rng.randrange(1, 30), pickup=p, dropoff=q,
                   date=days[0] + timedelta(days=rng.randrange(span + 1)),
                   mode=rng.choice(["arrive_by", "leave_after"]), time=time(m // 60, m % 60),
                   flexibility_min=rng.choice([0, 15, 30, 60, 180]), seats=rng.randint(1, 2))


def random_seats(rng: random.Random, offers: Sequence[Offer], days: tuple[date, date]) -> dict[tuple[int, date], int]:
    taken: dict[tuple[int, date], int] = {}
    for o in offers:
        for d in o.occurrence_dates(days[0] - timedelta(days=2), days[1] + timedelta(days=2)):
            if rng.random() < 0.3:
                taken[(o.id, d)] = rng.randint(0, o.seats)
    return taken


def assert_index_matches_oracle(
    router: Router,
    index: CorridorIndex,
    offers: Sequence[Offer],
    requests: Iterable[Request],
    seats: dict[tuple[int, date], int] | None = None,
    travelled: frozenset[int] = frozenset(),
) -> int:
    """Indexed candidates == brute force for each request; returns the candidates count."""
    matcher = Matcher(router, index)
    seats = seats or {}
    n = 0
    for r in requests:
        got = matcher.candidates(r, seats, travelled)
        want = brute_force_candidates(offers, r, router, seats, travelled)
        assert fingerprints(got) == fingerprints(want), f"request {r}"
        # query() must contain every accepted run
        runs = {(o.id, t0.timestamp()) for o, t0 in index.query(r)}
        assert {(c.offer_id, c.departure_at.timestamp()) for c in want} <= runs
        n += len(want)
    return n
