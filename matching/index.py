"""Corridor index: an exact pre-filter of offers, built on rtree — one entry per offer.

Each offer is ONE rtree entry in 4 dimensions (stored time first), whatever its number of
dates:

* x, y — the bounding box of the offer's *detour ellipse* in a contracting plane
  projection (see :mod:`matching.geo`): every point p with
  ``|Op| + |pD| <= total`` where ``total`` bounds the straight-line length of any
  admissible route O -> p -> d -> D;
* t — local *minutes of the day* from the departure time ``m`` to ``m + m(O,D) +
  max_detour``, the latest moment (in the day's wall-clock minutes) the driver can still
  be on the road. A regular trip's runs all share ``m`` (07:45 stays 07:45 local on both
  sides of a daylight-saving change);
* days — its local date range (first to last run; a one-off trip's single date), so a
  query for one day only meets the trips running around it. Weekdays are checked per hit.

Time filter (exact, with the DST rule of :mod:`matching.model`): a run on local day ``D``
leaving at local ``m`` has the naive local instant ``N0 = D * 1440 + m`` (minutes) and the
UTC instant ``t0 = N0 - offset`` where ``offset`` is one of the zone's UTC offsets around
that moment (``fold=0``: the pre-transition offset in a spring-forward gap, summer time
in the autumn overlap). A run can serve a request whose window is ``[ws, we]`` only if
``t0 <= we`` and ``t0 + trip_max >= ws``; hence, with ``off_lo``/``off_hi`` the smallest
and largest offsets of the zones involved over the days around the window,
``[m, m + trip_max]`` meets ``[ws + off_lo - 1440 D, we + off_hi - 1440 D]``. The query
asks the rtree once per local day ``D`` that can matter (one or two days), then keeps the
runs whose weekday and date range include ``D`` and passes each through the straight-line
tests below. No horizon: a request a year ahead costs what a request tomorrow costs.

Safety of the ellipse (why the filter never drops a valid candidate): if the router
declares a :class:`~matching.router.SpeedBound` ``(v, s)`` then for each leg
``straight_km <= s + v * minutes / 60``; a feasible route has
``m(O,p) + m(p,d) + m(d,D) <= m(O,D) + max_detour``, hence

    |Op| + |pd| + |dD| <= total = v / 60 * (m(O,D) + max_detour) + 3 s

(straight-line km, plus epsilons for float rounding). For :class:`StraightLineRouter`
``v = speed / circuity`` and ``s = 0``, so the ellipse is exactly the detour condition.
For OSRM, ``v`` is a configured maximum speed and ``s`` a snapping allowance. A router
without a bound gets an unbounded ellipse (time filtering only): still exact, slower.

A request's pick-up p and drop-off d must both lie in the ellipse, and its pick-up
(``leave_after``) or drop-off (``arrive_by``) time in its window. A query is therefore a
point — p or d, whichever lies in the grid cell where fewer offers start or end — times
the window; each hit must then contain the other point in its box, pass the ellipse test
``|Op| + |pd| + |dD| <= total`` and a time test built on straight-line lower bounds of
the legs (see ``_QueryGeometry``). These are all necessary conditions; the exact rules
(router legs, window, seats) are then applied by :class:`matching.Matcher`.

:class:`RequestIndex` is the reverse structure (open requests by pick-up point) used to
find the requests one offer can serve without scanning them all.

rtree (libspatialindex) is not thread-safe: every method takes an internal lock. Keep one
index per process (e.g. built at worker start-up, updated when offers change).
"""

from __future__ import annotations

import math
import threading
from array import array
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timezone
from functools import lru_cache
from typing import Final

from rtree import index as rtree_index

from .geo import EARTH_RADIUS_KM, Point, Projection, ellipse_bbox
from .model import Offer, Request, localize_ts, zone
from .router import Leg, Router, SpeedBound, router_bound
from .rules import EPS, local_date

EPS_KM: Final = 1e-6
EPS_REL: Final = 1e-9
EPS_T_MIN: Final = 1e-5
_TIME_TOL: Final = 1e-6
_CELL_KM: Final = 4.0
_WORLD: Final = EARTH_RADIUS_KM + 1.0
_DAY_MIN: Final = 1440.0
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
_ALL_WEEKDAYS: Final = 0b1111111

Hit = tuple["OfferRecord", datetime, float]


@lru_cache(maxsize=8192)
def _offset_range(tz: str, first_day: int, last_day: int) -> tuple[float, float]:
    """Smallest and largest UTC offsets (minutes) of ``tz`` over UTC epoch days
    ``first_day .. last_day`` (sampled every hour, plus both ends)."""
    z = zone(tz)
    lo = math.inf
    hi = -math.inf
    start = first_day * 86400
    for k in range((last_day - first_day + 1) * 24 + 1):
        off = datetime.fromtimestamp(start + k * 3600, tz=timezone.utc).astimezone(z).utcoffset()
        m = off.total_seconds() / 60.0 if off is not None else 0.0
        lo = min(lo, m)
        hi = max(hi, m)
    return lo, hi


class OfferRecord:
    """Per-offer precomputation: geometry, local departure minute, weekdays, dates.

    Kept small (one per trip in every process): the geometry lives in one flat array
    ``key = (x0, y0, x1, y1, ox, oy, dx, dy, total, trip_max)`` read by the hot loop."""

    __slots__ = ("offer", "od", "key", "minute", "at", "first_day", "last_day", "weekdays")

    def __init__(self, offer: Offer, od: Leg, projection: Projection, bound: SpeedBound | None) -> None:
        self.offer = offer
        self.od = od
        # Longest time the driver can be on the road: m(O,p) + m(p,d) + m(d,D) <= this.
        trip_max = od.minutes + offer.max_detour_min + EPS
        ox, oy = projection.project(offer.origin)
        dx, dy = projection.project(offer.destination)
        total = corridor_total(bound, od, offer.max_detour_min)
        if math.isinf(total):
            box: tuple[float, float, float, float] = (-_WORLD, -_WORLD, _WORLD, _WORLD)
        else:
            x0, y0, x1, y1 = ellipse_bbox(ox, oy, dx, dy, total)
            box = (x0 - EPS_KM, y0 - EPS_KM, x1 + EPS_KM, y1 + EPS_KM)
        self.key: array[float] = array("d", (*box, ox, oy, dx, dy, total, trip_max))
        if offer.recurrence is not None:
            rec = offer.recurrence
            self.at = rec.time
            self.first_day = rec.first_date.toordinal() - _EPOCH_ORDINAL
            self.last_day = rec.last_date.toordinal() - _EPOCH_ORDINAL
            self.weekdays = sum(1 << (d - 1) for d in rec.weekdays)
        else:
            assert offer.departure is not None
            self.at = offer.departure.time()
            self.first_day = self.last_day = offer.departure.date().toordinal() - _EPOCH_ORDINAL
            self.weekdays = _ALL_WEEKDAYS
        at = self.at
        self.minute: float = at.hour * 60 + at.minute + at.second / 60.0 + at.microsecond / 60e6

    @property
    def box(self) -> tuple[float, float, float, float]:
        k = self.key
        return k[0], k[1], k[2], k[3]

    ox = property(lambda self: self.key[4])
    oy = property(lambda self: self.key[5])
    dx = property(lambda self: self.key[6])
    dy = property(lambda self: self.key[7])
    total = property(lambda self: self.key[8])
    trip_max_min = property(lambda self: self.key[9])

    def in_ellipse(self, px: float, py: float, qx: float, qy: float, pq: float) -> bool:
        """Straight-line (planar) test |Op| + |pq| + |qD| <= total."""
        return math.hypot(px - self.ox, py - self.oy) + pq + math.hypot(self.dx - qx, self.dy - qy) <= self.total

    def coords(self) -> tuple[float, ...]:
        """rtree box, interleaved, time first: (m, first day, x0, y0, m + trip_max, last day,
        x1, y1), m in local minutes of the day, days as local epoch days."""
        x0, y0, x1, y1 = self.box
        return (self.minute - EPS_T_MIN, float(self.first_day), x0, y0,
                self.minute + self.trip_max_min + EPS_T_MIN, float(self.last_day), x1, y1)

    def runs_on(self, day: int) -> bool:
        """Does the offer run on local epoch day ``day`` (date range and weekday)?"""
        return self.first_day <= day <= self.last_day and bool(self.weekdays >> ((day + 3) % 7) & 1)


def _cell(x: float, y: float) -> tuple[int, int]:
    return int(x // _CELL_KM), int(y // _CELL_KM)


def corridor_total(bound: SpeedBound | None, od: Leg, max_detour_min: float) -> float:
    """Upper bound of |Op| + |pd| + |dD| (straight-line km) over admissible routes."""
    if bound is None:
        return math.inf
    base = bound.max_kmh / 60.0 * (od.minutes + max_detour_min + 2 * EPS) + 3.0 * bound.snap_km
    return base * (1.0 + EPS_REL) + EPS_KM


class CorridorIndex:
    """Exact spatio-temporal pre-filter of offers (see module docstring)."""

    def __init__(
        self,
        router: Router,
        *,
        center: Point | None = None,
        leaf_capacity: int = 32,
        index_capacity: int = 32,
    ) -> None:
        self.router: Router = router
        self.projection: Projection = Projection(center)
        self.bound: SpeedBound | None = router_bound(router)
        self._leaf_capacity = leaf_capacity
        self._index_capacity = index_capacity
        self._lock = threading.RLock()
        self._records: dict[int, OfferRecord] = {}
        self._max_trip_min = 0.0
        self._zones: dict[str, int] = {}
        self._density: dict[tuple[int, int], int] = {}
        self._tree: rtree_index.Index = self._new_tree(None)

    # -- building ---------------------------------------------------------------------

    def _properties(self) -> rtree_index.Property:
        p = rtree_index.Property()
        p.dimension = 4
        p.leaf_capacity = self._leaf_capacity
        p.index_capacity = self._index_capacity
        p.near_minimum_overlap_factor = max(2, min(32, self._leaf_capacity, self._index_capacity) - 1)
        return p

    def _new_tree(self, stream: Iterator[tuple[int, tuple[float, ...], None]] | None) -> rtree_index.Index:
        if stream is None:
            return rtree_index.Index(properties=self._properties())
        return rtree_index.Index(stream, properties=self._properties())

    def _record(self, offer: Offer) -> OfferRecord:
        od = self.router.leg(offer.origin, offer.destination)
        return OfferRecord(offer, od, self.projection, self.bound)

    def _register(self, rec: OfferRecord) -> tuple[int, tuple[float, ...], None]:
        """Store ``rec`` and return its rtree entry (the offer id is the rtree id)."""
        offer = rec.offer
        self._records[offer.id] = rec
        # Never lowered on removal: a larger bound only widens the queried days (still exact).
        self._max_trip_min = max(self._max_trip_min, rec.trip_max_min)
        self._zones[offer.tz] = self._zones.get(offer.tz, 0) + 1
        self._count_endpoints(rec, 1)
        return offer.id, rec.coords(), None

    def _count_endpoints(self, rec: OfferRecord, n: int) -> None:
        """Maintain the number of offers starting or ending in each grid cell."""
        density = self._density
        for cell in (_cell(rec.ox, rec.oy), _cell(rec.dx, rec.dy)):
            left = density.get(cell, 0) + n
            if left:
                density[cell] = left
            else:
                density.pop(cell, None)

    def _density_at(self, x: float, y: float) -> int:
        return self._density.get(_cell(x, y), 0)

    def _reset(self) -> None:
        self._records = {}
        self._max_trip_min = 0.0
        self._zones = {}
        self._density = {}
        self._tree = self._new_tree(None)

    def bulk_load(self, offers: Iterable[Offer]) -> None:
        """(Re)build the whole index from ``offers`` with rtree's stream loader.

        On error (duplicate id, router failure) the index is left empty and the error
        re-raised."""
        with self._lock:
            try:
                self._bulk_load(offers)
            except BaseException:
                self._reset()
                raise

    def _bulk_load(self, offers: Iterable[Offer]) -> None:
        self._reset()

        def stream() -> Iterator[tuple[int, tuple[float, ...], None]]:
            for offer in offers:
                if offer.id in self._records:
                    raise ValueError(f"duplicate offer id {offer.id}")
                yield self._register(self._record(offer))

        gen = stream()
        first = next(gen, None)
        if first is None:  # libspatialindex refuses an empty stream
            return

        def chained() -> Iterator[tuple[int, tuple[float, ...], None]]:
            yield first
            yield from gen

        self._tree = self._new_tree(chained())

    def add(self, offer: Offer) -> None:
        """Index a new offer (``ValueError`` if its id is already indexed)."""
        rec = self._record(offer)
        with self._lock:
            if offer.id in self._records:
                raise ValueError(f"offer {offer.id} is already indexed; use update()")
            eid, coords, _ = self._register(rec)
            self._tree.insert(eid, coords)

    def remove(self, offer_id: int) -> None:
        """Drop an offer (``KeyError`` if unknown)."""
        with self._lock:
            rec = self._records.pop(offer_id)
            self._tree.delete(offer_id, rec.coords())
            self._count_endpoints(rec, -1)
            tz = rec.offer.tz
            left = self._zones[tz] - 1
            if left:
                self._zones[tz] = left
            else:
                del self._zones[tz]

    def update(self, offer: Offer) -> None:
        """Replace the offer with the same id (or add it)."""
        rec = self._record(offer)
        with self._lock:
            if offer.id in self._records:
                self.remove(offer.id)
            eid, coords, _ = self._register(rec)
            self._tree.insert(eid, coords)

    def __len__(self) -> int:
        """Number of indexed offers (one entry each, whatever their number of runs)."""
        return len(self._records)

    def __contains__(self, offer_id: object) -> bool:
        return offer_id in self._records

    def offers(self) -> list[Offer]:
        """The indexed offers, by id."""
        with self._lock:
            return [self._records[k].offer for k in sorted(self._records)]

    def record(self, offer_id: int) -> OfferRecord:
        """The precomputed record of an indexed offer (``KeyError`` if unknown)."""
        with self._lock:
            return self._records[offer_id]

    @property
    def max_trip_min(self) -> float:
        """Upper bound of any indexed offer's time on the road (minutes)."""
        return self._max_trip_min

    def reachable_dates(self, request: Request) -> tuple[date, date]:
        """Local dates (in the request's zone) of every run that may serve ``request``:
        departures in [window start - longest trip, window end], widened by one day each
        side for other zones. Seats need only be read for these dates."""
        ws, we, _ = request.window_s()
        first = local_date(ws - self._max_trip_min * 60.0, request.tz)
        last = local_date(we, request.tz)
        return date.fromordinal(first.toordinal() - 1), date.fromordinal(last.toordinal() + 1)

    # -- querying ---------------------------------------------------------------------

    def query(self, request: Request) -> list[tuple[Offer, datetime]]:
        """Offer runs that may serve ``request`` (to be checked exactly), by departure.

        Guaranteed to include every run a linear scan would accept."""
        hits = self.hits(request)
        hits.sort(key=lambda h: (h[2], h[0].offer.id))
        return [(rec.offer, t0) for rec, t0, _ in hits]

    def hits(self, request: Request) -> list[Hit]:
        """Like :meth:`query`, with the offer records and epoch seconds (unsorted)."""
        if request.pickup == request.dropoff:
            return []
        ws, we, _ = request.window_s()
        proj = self.projection
        px, py = proj.project(request.pickup)
        qx, qy = proj.project(request.dropoff)
        geometry = _QueryGeometry(request.mode == "arrive_by", ws, we, px, py, qx, qy, self.bound)
        out: list[Hit] = []
        with self._lock:
            if not self._records:
                return out
            max_trip = self._max_trip_min
            first_day = int((ws - max_trip * 60.0) // 86400) - 1
            last_day = int(we // 86400) + 1
            off_lo, off_hi = math.inf, -math.inf
            for tz in self._zones:
                lo, hi = _offset_range(tz, first_day, last_day)
                off_lo, off_hi = min(off_lo, lo), max(off_hi, hi)
            # Naive local minutes (since the epoch) a departure can have and still serve.
            lo_n = ws / 60.0 + off_lo - _TIME_TOL - EPS_T_MIN
            hi_n = we / 60.0 + off_hi + _TIME_TOL + EPS_T_MIN
            # Both p and d must lie in the offer's ellipse, hence in its box: query the
            # rtree with one of them (a point, far more selective than the box spanning
            # p and d) and test the other one after. Use the point where fewer offers start
            # or end (a hub such as Cahors lies in almost every corridor around it).
            if self._density_at(qx, qy) < self._density_at(px, py):
                ax, ay, bx, by = qx, qy, px, py
            else:
                ax, ay, bx, by = px, py, qx, qy
            records = self._records
            intersection = self._tree.intersection
            d_first = math.floor((lo_n - _DAY_MIN - max_trip) / _DAY_MIN)
            d_last = math.floor(hi_n / _DAY_MIN)
            for day in range(d_first, d_last + 1):
                base = day * _DAY_MIN
                ids = intersection((lo_n - base, day, ax, ay, hi_n - base, day, ax, ay))
                runs: list[Hit] = []
                the_date: date | None = None
                for oid in ids:
                    rec = records[oid]
                    # weekday, then the other point and the ellipse, before any time conversion
                    if not rec.weekdays >> ((day + 3) % 7) & 1 or not geometry.in_corridor(rec.key, bx, by):
                        continue
                    if the_date is None:
                        the_date = date.fromordinal(day + _EPOCH_ORDINAL)
                    t0, t0_s = localize_ts(the_date, rec.at, rec.offer.tz)
                    runs.append((rec, t0, t0_s))
                if runs:
                    out.extend(geometry.select(runs, bx, by))
        return out


class _QueryGeometry:
    """Necessary conditions checked on each run of a hit, all in straight-line terms.

    With ``a1 = |Op|``, ``a2 = |pd|``, ``a3 = |dD|`` (planar, <= great-circle km) and the
    router bound ``m(x, y) >= lb(|xy|) = max(0, |xy| - snap) * 60 / v``:

    * the other point (the one not used for the rtree query) inside the offer's box,
      and ``a1 + a2 + a3 <= total`` (the detour ellipse);
    * pick-up offset ``m(O,p)`` lies in ``[lb(a1), trip_max - lb(a2) - lb(a3)]`` and
      drop-off offset in ``[lb(a1) + lb(a2), trip_max - lb(a3)]``; the relevant one must
      meet the request's window (relative to ``t0``), with a 1e-6 min tolerance.
      Without a router bound, the offsets still lie in ``[0, trip_max]``.
    """

    __slots__ = ("arrive_by", "ws", "we", "px", "py", "qx", "qy", "pq", "k", "snap", "l2")

    def __init__(
        self, arrive_by: bool, ws: float, we: float, px: float, py: float, qx: float, qy: float,
        bound: SpeedBound | None,
    ) -> None:
        self.arrive_by = arrive_by
        self.ws = ws
        self.we = we
        self.px, self.py, self.qx, self.qy = px, py, qx, qy
        self.pq = math.hypot(qx - px, qy - py)
        self.k = 60.0 / bound.max_kmh if bound is not None else 0.0
        self.snap = bound.snap_km if bound is not None else 0.0
        self.l2 = (self.pq - self.snap) * self.k if self.pq > self.snap else 0.0

    def in_corridor(self, key: array[float], bx: float, by: float) -> bool:
        """The other point in the offer's box and both in its ellipse."""
        x0, y0, x1, y1, ox, oy, dx, dy, total, _ = key
        if bx < x0 or bx > x1 or by < y0 or by > y1:
            return False
        return math.hypot(self.px - ox, self.py - oy) + self.pq + math.hypot(dx - self.qx, dy - self.qy) <= total

    def select(self, hits: Iterable[Hit], bx: float, by: float) -> list[Hit]:
        """The hits passing every test (hot loop: kept flat on purpose)."""
        hypot = math.hypot
        px, py, qx, qy, pq = self.px, self.py, self.qx, self.qy, self.pq
        k, snap, l2 = self.k, self.snap, self.l2
        ws_m, we_m = self.ws / 60.0, self.we / 60.0
        arrive_by = self.arrive_by
        out: list[Hit] = []
        for hit in hits:
            x0, y0, x1, y1, ox, oy, dx, dy, total, trip_max = hit[0].key
            if bx < x0 or bx > x1 or by < y0 or by > y1:
                continue
            a1 = hypot(px - ox, py - oy)
            a3 = hypot(dx - qx, dy - qy)
            if a1 + pq + a3 > total:
                continue
            l1 = (a1 - snap) * k if a1 > snap else 0.0
            l3 = (a3 - snap) * k if a3 > snap else 0.0
            t0_m = hit[2] / 60.0
            if arrive_by:
                lo_t, hi_t = l1 + l2, trip_max - l3
            else:
                lo_t, hi_t = l1, trip_max - l2 - l3
            if lo_t > we_m - t0_m + _TIME_TOL or hi_t < ws_m - t0_m - _TIME_TOL:
                continue
            out.append(hit)
        return out


class RequestIndex:
    """Open requests by pick-up point (2-D rtree): the requests an offer may serve are
    those whose pick-up lies in the offer's ellipse box; the drop-off and the ellipse are
    tested next, the exact rules last (:meth:`matching.Matcher.requests_for_offer`)."""

    def __init__(self, projection: Projection, requests: Iterable[Request] = ()) -> None:
        self.projection = projection
        self._lock = threading.RLock()
        self._requests: dict[int, tuple[Request, float, float, float, float]] = {}
        p = rtree_index.Property()
        p.dimension = 2
        entries = []
        for r in requests:
            px, py = projection.project(r.pickup)
            qx, qy = projection.project(r.dropoff)
            self._requests[r.id] = (r, px, py, qx, qy)
            entries.append((r.id, (px, py, px, py), None))
        self._tree = rtree_index.Index(iter(entries), properties=p) if entries else rtree_index.Index(properties=p)

    def __len__(self) -> int:
        return len(self._requests)

    def requests(self) -> list[Request]:
        return [v[0] for _, v in sorted(self._requests.items())]

    def near(self, rec: OfferRecord) -> list[Request]:
        """Requests whose pick-up and drop-off both lie in ``rec``'s detour ellipse, by id."""
        x0, y0, x1, y1 = rec.box
        with self._lock:
            ids = sorted(self._tree.intersection((x0, y0, x1, y1)))
            out = []
            for rid in ids:
                r, px, py, qx, qy = self._requests[rid]
                if not (x0 <= qx <= x1 and y0 <= qy <= y1):
                    continue
                if rec.in_ellipse(px, py, qx, qy, math.hypot(qx - px, qy - py)):
                    out.append(r)
            return out
