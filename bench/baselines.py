"""Honest baselines for ``bench_matching``: the same offers, the same exact check.

* :class:`NumpyScan` — a vectorised linear scan over arrays precomputed once per offer
  (origin / destination in radians, the O -> D leg, local departure minute, weekday mask,
  date range): per request, numpy computes every offer's straight-line detour and time
  bounds at once; the few survivors go through :func:`matching.rules.evaluate`.
* :class:`PostgisScan` — what a user could write in SQL instead: one row per offer with its
  detour-ellipse polygon (circumscribed, so never smaller than the ellipse) under a GiST
  index, the pick-up and drop-off points tested with ``ST_Intersects``, the weekday / date
  range / local-minute filter in the same statement, the exact check in Python.

Both use the index's conservative naive-local-minute window (:func:`time_window`), so all
three return exactly the oracle's candidates (the benchmark checks it).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from datetime import date

import numpy as np

from matching import Candidate, Offer, Request, StraightLineRouter
from matching.geo import EARTH_RADIUS_KM, Projection
from matching.index import _EPOCH_ORDINAL, OfferRecord, _offset_range
from matching.model import localize_ts
from matching.rules import RequestContext, evaluate, rank

_TOL = 1e-6


def time_window(request: Request, max_trip: float, tzs: Sequence[str]) -> tuple[float, float, list[int]]:
    """(lo, hi, days): a run on local epoch day D leaving at local minute m may serve the
    request only if [m, m + trip_max] meets [lo - 1440 D, hi - 1440 D] (see matching.index)."""
    ws, we, _ = request.window_s()
    first_day = int((ws - max_trip * 60.0) // 86400) - 1
    last_day = int(we // 86400) + 1
    lo_off, hi_off = math.inf, -math.inf
    for tz in tzs:
        a, b = _offset_range(tz, first_day, last_day)
        lo_off, hi_off = min(lo_off, a), max(hi_off, b)
    lo = ws / 60.0 + lo_off - 2e-5
    hi = we / 60.0 + hi_off + 2e-5
    days = list(range(math.floor((lo - 1440.0 - max_trip) / 1440.0), math.floor(hi / 1440.0) + 1))
    return lo, hi, days


def _exact(router, offers: Sequence[Offer], records: Sequence[OfferRecord], pairs, request: Request,
           seats: Mapping[tuple[int, date], int], travelled: AbstractSet[int],
           tours: Mapping = {}) -> list[Candidate]:
    # the same exact check as the index, tours included (a run's booked passengers): the
    # bare-route prefilter stays valid for a tour by the triangle inequality
    # (legs by trip end point, as matching.Matcher does)
    ctx = RequestContext(request, router, seats, travelled, tours)
    out = []
    to_p: dict = {}
    from_d: dict = {}
    for i, day in pairs:
        offer, rec = offers[i], records[i]
        t0, t0_s = localize_ts(date.fromordinal(day + _EPOCH_ORDINAL), rec.at, offer.tz)
        op = to_p.get(offer.origin)
        if op is None:
            op = to_p[offer.origin] = router.leg(offer.origin, request.pickup)
        dd = from_d.get(offer.destination)
        if dd is None:
            dd = from_d[offer.destination] = router.leg(request.dropoff, offer.destination)
        c = evaluate(ctx, offer, t0, t0_s, op, dd, rec.od)
        if c is not None:
            out.append(c)
    return rank(out)


class NumpyScan:
    def __init__(self, router: StraightLineRouter, offers: Sequence[Offer]) -> None:
        self.router = router
        self.offers = list(offers)
        proj = Projection()
        self.records = [OfferRecord(o, router.leg(o.origin, o.destination), proj, router.bound) for o in self.offers]
        rad = np.radians
        self.olat = rad(np.array([o.origin.lat for o in self.offers]))
        self.olon = rad(np.array([o.origin.lon for o in self.offers]))
        self.dlat = rad(np.array([o.destination.lat for o in self.offers]))
        self.dlon = rad(np.array([o.destination.lon for o in self.offers]))
        self.od_min = np.array([r.od.minutes for r in self.records])
        self.detour = np.array([o.max_detour_min for o in self.offers], dtype=float)
        self.minute = np.array([r.minute for r in self.records])
        self.trip_max = np.array([r.trip_max_min for r in self.records])
        self.first = np.array([r.first_day for r in self.records])
        self.last = np.array([r.last_day for r in self.records])
        self.wmask = np.array([r.weekdays for r in self.records])
        self.max_trip = float(self.trip_max.max()) if self.offers else 0.0
        self.tzs = sorted({o.tz for o in self.offers})
        self.min_per_km = router.circuity / router.speed_kmh * 60.0

    def _hav(self, lat1, lon1, lat2, lon2):
        h = np.sin((lat2 - lat1) / 2.0) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2.0) ** 2
        return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, np.sqrt(h)))

    def candidates(self, request: Request, seats: Mapping[tuple[int, date], int] = {},
                   travelled: AbstractSet[int] = frozenset(), tours: Mapping = {}) -> list[Candidate]:
        if request.pickup == request.dropoff or not self.offers:
            return []
        return _exact(self.router, self.offers, self.records, self.pairs(request), request, seats, travelled, tours)

    def pairs(self, request: Request) -> list[tuple[int, int]]:
        """The filter stage alone: (offer position, local epoch day) of the runs to check."""
        if request.pickup == request.dropoff or not self.offers:
            return []
        plat, plon = math.radians(request.pickup.lat), math.radians(request.pickup.lon)
        qlat, qlon = math.radians(request.dropoff.lat), math.radians(request.dropoff.lon)
        pd = self.router.leg(request.pickup, request.dropoff)
        op = self._hav(self.olat, self.olon, plat, plon) * self.min_per_km
        dd = self._hav(qlat, qlon, self.dlat, self.dlon) * self.min_per_km
        ok = op + pd.minutes + dd - self.od_min <= self.detour + _TOL
        lo, hi, days = time_window(request, self.max_trip, self.tzs)
        pairs = []
        for day in days:
            base = day * 1440.0
            m = (ok & (self.first <= day) & (self.last >= day) & ((self.wmask >> ((day + 3) % 7)) & 1).astype(bool)
                 & (self.minute <= hi - base) & (self.minute + self.trip_max >= lo - base))
            pairs.extend((int(i), day) for i in np.flatnonzero(m))
        return pairs


def _ellipse_wkt(rec: OfferRecord, n: int = 32) -> str:
    """A polygon containing the detour ellipse (vertices on the ellipse scaled by 1/cos(pi/n))."""
    a = rec.total / 2.0 + 1e-6
    cx, cy = (rec.ox + rec.dx) / 2.0, (rec.oy + rec.dy) / 2.0
    c = math.hypot(rec.dx - rec.ox, rec.dy - rec.oy) / 2.0
    b = math.sqrt(max(a * a - c * c, 0.0)) + 1e-6
    th = math.atan2(rec.dy - rec.oy, rec.dx - rec.ox)
    k = 1.0 / math.cos(math.pi / n) * (1 + 1e-9)
    pts = []
    for i in range(n):
        t = 2 * math.pi * i / n
        x, y = a * k * math.cos(t), b * k * math.sin(t)
        pts.append((cx + x * math.cos(th) - y * math.sin(th), cy + x * math.sin(th) + y * math.cos(th)))
    pts.append(pts[0])
    return "POLYGON((" + ",".join(f"{x:.9f} {y:.9f}" for x, y in pts) + "))"


class PostgisScan:
    def __init__(self, url: str, router: StraightLineRouter, offers: Sequence[Offer]) -> None:
        import psycopg2
        from psycopg2.extras import execute_values

        self.router = router
        self.offers = list(offers)
        self.proj = Projection()
        self.records = [OfferRecord(o, router.leg(o.origin, o.destination), self.proj, router.bound)
                        for o in self.offers]
        self.max_trip = max((r.trip_max_min for r in self.records), default=0.0)
        self.tzs = sorted({o.tz for o in self.offers})
        self.conn = psycopg2.connect(url)
        self.conn.autocommit = True
        cur = self.conn.cursor()
        cur.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        cur.execute("DROP TABLE IF EXISTS bench_offers")
        cur.execute("CREATE TABLE bench_offers (i integer PRIMARY KEY, geom geometry(Polygon) NOT NULL, "
                    "minute float8, trip_max float8, first_day integer, last_day integer, wmask integer)")
        execute_values(cur, "INSERT INTO bench_offers VALUES %s",
                       [(i, _ellipse_wkt(r), r.minute, r.trip_max_min, r.first_day, r.last_day, r.weekdays)
                        for i, r in enumerate(self.records)],
                       template="(%s, ST_GeomFromText(%s), %s, %s, %s, %s, %s)", page_size=2000)
        cur.execute("CREATE INDEX bench_offers_geom ON bench_offers USING gist (geom)")
        cur.execute("ANALYZE bench_offers")
        self.cur = cur

    def candidates(self, request: Request, seats: Mapping[tuple[int, date], int] = {},
                   travelled: AbstractSet[int] = frozenset(), tours: Mapping = {}) -> list[Candidate]:
        if request.pickup == request.dropoff or not self.offers:
            return []
        return _exact(self.router, self.offers, self.records, self.pairs(request), request, seats, travelled, tours)

    def pairs(self, request: Request) -> list[tuple[int, int]]:
        """The filter stage alone (the SQL query): (offer position, local epoch day)."""
        if request.pickup == request.dropoff or not self.offers:
            return []
        px, py = self.proj.project(request.pickup)
        qx, qy = self.proj.project(request.dropoff)
        lo, hi, days = time_window(request, self.max_trip, self.tzs)
        parts, args = [], []
        for day in days:
            base = day * 1440.0
            parts.append("SELECT i, %s FROM bench_offers WHERE ST_Intersects(geom, ST_MakePoint(%s, %s)) "
                         "AND ST_Intersects(geom, ST_MakePoint(%s, %s)) AND first_day <= %s AND last_day >= %s "
                         "AND (wmask >> %s) & 1 = 1 AND minute <= %s AND minute + trip_max >= %s")
            args += [day, px, py, qx, qy, day, day, (day + 3) % 7, hi - base, lo - base]
        self.cur.execute(" UNION ALL ".join(parts), args)
        return [(i, day) for i, day in self.cur.fetchall()]

    def close(self) -> None:
        self.cur.execute("DROP TABLE IF EXISTS bench_offers")
        self.conn.close()
