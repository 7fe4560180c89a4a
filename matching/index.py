"""Corridor index: an exact pre-filter of offer occurrences, built on rtree.

Each offer occurrence ("offer-day") is one rtree entry in 3 dimensions (stored time
first, see :meth:`OfferRecord.coords`):

* x, y — the bounding box of the offer's *detour ellipse* in a contracting plane
  projection (see :mod:`matching.geo`): every point p with
  ``|Op| + |pD| <= total`` where ``total`` bounds the straight-line length of any
  admissible route O -> p -> d -> D;
* t — UTC epoch minutes from the departure ``t0`` to ``t0 + m(O,D) + max_detour``, the
  latest moment the driver can still be on the road.

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
point — p or d, whichever lies in the grid cell where fewer runs start or end — times
the window; each hit must then contain the other point in its box, pass the ellipse test
``|Op| + |pd| + |dD| <= total`` and a time test built on straight-line lower bounds of
the legs (see ``_QueryGeometry``). These are all necessary conditions; the exact rules
(router legs, window, seats) are then applied by :class:`matching.Matcher`.

Regular offers are expanded into one entry per run within ``horizon`` (local dates,
inclusive; ``None`` = each recurrence's whole date range). One-off offers are always
indexed. Requests needing runs outside the horizon stay exact: those runs are generated
on the fly from the regular offers (a linear pass, logged at DEBUG).

rtree (libspatialindex) is not thread-safe: every method takes an internal lock. Keep one
index per process (e.g. built at worker start-up, updated when offers change).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta
from typing import Final

from rtree import index as rtree_index

from .geo import EARTH_RADIUS_KM, Point, Projection, ellipse_bbox
from .model import Offer, Request
from .router import Leg, Router, SpeedBound, router_bound
from .rules import EPS, local_date

log = logging.getLogger(__name__)

EPS_KM: Final = 1e-6
EPS_REL: Final = 1e-9
EPS_T_MIN: Final = 1e-5
_TIME_TOL: Final = 1e-6
_CELL_KM: Final = 4.0
_WORLD: Final = EARTH_RADIUS_KM + 1.0

Hit = tuple["OfferRecord", datetime, float]


class OfferRecord:
    """Per-offer precomputation shared by all its indexed runs."""

    __slots__ = (
        "offer", "od", "trip_max_min", "ox", "oy", "dx", "dy", "total", "box", "entries", "key",
    )

    def __init__(self, offer: Offer, od: Leg, projection: Projection, bound: SpeedBound | None) -> None:
        self.offer = offer
        self.od = od
        # Longest time the driver can be on the road: m(O,p) + m(p,d) + m(d,D) <= this.
        self.trip_max_min: float = od.minutes + offer.max_detour_min + EPS
        self.ox, self.oy = projection.project(offer.origin)
        self.dx, self.dy = projection.project(offer.destination)
        self.total: float = corridor_total(bound, od, offer.max_detour_min)
        if math.isinf(self.total):
            self.box: tuple[float, float, float, float] = (-_WORLD, -_WORLD, _WORLD, _WORLD)
        else:
            x0, y0, x1, y1 = ellipse_bbox(self.ox, self.oy, self.dx, self.dy, self.total)
            self.box = (x0 - EPS_KM, y0 - EPS_KM, x1 + EPS_KM, y1 + EPS_KM)
        self.entries: list[tuple[int, tuple[float, ...]]] = []
        # Flat copy of what the per-hit filter reads (one attribute fetch per hit).
        self.key: tuple[float, ...] = (*self.box, self.ox, self.oy, self.dx, self.dy, self.total, self.trip_max_min)

    def in_ellipse(self, px: float, py: float, qx: float, qy: float, pq: float) -> bool:
        """Straight-line (planar) test |Op| + |pq| + |qD| <= total."""
        return math.hypot(px - self.ox, py - self.oy) + pq + math.hypot(self.dx - qx, self.dy - qy) <= self.total

    def coords(self, t0_s: float) -> tuple[float, ...]:
        """rtree box, interleaved, time first: (t0, x0, y0, t1, x1, y1).

        Time goes first because it is the most selective dimension and
        libspatialindex's STR bulk loader slices the first dimension most finely."""
        t = t0_s / 60.0
        x0, y0, x1, y1 = self.box
        return (t - EPS_T_MIN, x0, y0, t + self.trip_max_min + EPS_T_MIN, x1, y1)


def _cell(x: float, y: float) -> tuple[int, int]:
    return int(x // _CELL_KM), int(y // _CELL_KM)


def corridor_total(bound: SpeedBound | None, od: Leg, max_detour_min: float) -> float:
    """Upper bound of |Op| + |pd| + |dD| (straight-line km) over admissible routes."""
    if bound is None:
        return math.inf
    base = bound.max_kmh / 60.0 * (od.minutes + max_detour_min + 2 * EPS) + 3.0 * bound.snap_km
    return base * (1.0 + EPS_REL) + EPS_KM


class CorridorIndex:
    """Exact spatio-temporal pre-filter of offer occurrences (see module docstring)."""

    def __init__(
        self,
        router: Router,
        horizon: tuple[date, date] | None = None,
        *,
        center: Point | None = None,
        leaf_capacity: int = 32,
        index_capacity: int = 32,
    ) -> None:
        if horizon is not None and horizon[0] > horizon[1]:
            raise ValueError("horizon start must not be after its end")
        self.router: Router = router
        self.horizon: tuple[date, date] | None = horizon
        self.projection: Projection = Projection(center)
        self.bound: SpeedBound | None = router_bound(router)
        self._leaf_capacity = leaf_capacity
        self._index_capacity = index_capacity
        self._lock = threading.RLock()
        self._records: dict[int, OfferRecord] = {}
        self._regular: dict[int, OfferRecord] = {}
        self._entries: dict[int, tuple[OfferRecord, datetime, float]] = {}
        self._next_id = 0
        self._max_regular_trip_min = 0.0
        self._density: dict[tuple[int, int], int] = {}
        self._tree: rtree_index.Index = self._new_tree(None)

    # -- building ---------------------------------------------------------------------

    def _properties(self) -> rtree_index.Property:
        p = rtree_index.Property()
        p.dimension = 3
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

    def _runs(self, offer: Offer) -> list[tuple[datetime, float]]:
        if offer.recurrence is not None:
            if self.horizon is None:
                return offer.runs(offer.recurrence.first_date, offer.recurrence.last_date)
            return offer.runs(self.horizon[0], self.horizon[1])
        assert offer.departure is not None
        d = offer.departure.date()
        return offer.runs(d, d)

    def _register(self, rec: OfferRecord) -> Iterator[tuple[int, tuple[float, ...], None]]:
        """Store ``rec`` and yield its rtree entries (ids allocated here)."""
        offer = rec.offer
        self._records[offer.id] = rec
        if offer.recurrence is not None:
            self._regular[offer.id] = rec
            self._max_regular_trip_min = max(self._max_regular_trip_min, rec.trip_max_min)
        for t0, t0_s in self._runs(offer):
            eid = self._next_id
            self._next_id += 1
            coords = rec.coords(t0_s)
            rec.entries.append((eid, coords))
            self._entries[eid] = (rec, t0, t0_s)
            yield eid, coords, None
        self._count_endpoints(rec, len(rec.entries))

    def _count_endpoints(self, rec: OfferRecord, n: int) -> None:
        """Maintain the number of indexed runs starting or ending in each grid cell."""
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
        self._regular = {}
        self._entries = {}
        self._next_id = 0
        self._max_regular_trip_min = 0.0
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
        seen: set[int] = set()

        def stream() -> Iterator[tuple[int, tuple[float, ...], None]]:
            for offer in offers:
                if offer.id in seen:
                    raise ValueError(f"duplicate offer id {offer.id}")
                seen.add(offer.id)
                yield from self._register(self._record(offer))

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
            for eid, coords, _ in self._register(rec):
                self._tree.insert(eid, coords)

    def remove(self, offer_id: int) -> None:
        """Drop an offer and all its runs (``KeyError`` if unknown)."""
        with self._lock:
            rec = self._records.pop(offer_id)
            self._regular.pop(offer_id, None)
            for eid, coords in rec.entries:
                self._tree.delete(eid, coords)
                del self._entries[eid]
            self._count_endpoints(rec, -len(rec.entries))

    def update(self, offer: Offer) -> None:
        """Replace the offer with the same id (or add it)."""
        rec = self._record(offer)
        with self._lock:
            if offer.id in self._records:
                self.remove(offer.id)
            for eid, coords, _ in self._register(rec):
                self._tree.insert(eid, coords)

    def __len__(self) -> int:
        return len(self._entries)

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
        with self._lock:
            # Both p and d must lie in the offer's ellipse, hence in its box: query the
            # rtree with one of them (a point, far more selective than the box spanning
            # p and d) and test the other one after. Use the point where fewer runs start
            # or end (a hub such as Cahors lies in almost every corridor around it).
            if self._density_at(qx, qy) < self._density_at(px, py):
                ax, ay, bx, by = qx, qy, px, py
            else:
                ax, ay, bx, by = px, py, qx, qy
            box = (ws / 60.0 - EPS_T_MIN, ax, ay, we / 60.0 + EPS_T_MIN, ax, ay)
            ids = self._tree.intersection(box)
            out = geometry.select(map(self._entries.__getitem__, ids), bx, by)
            if self.horizon is not None and self._regular and not self._covers(ws, we):
                out.extend(geometry.select(self._outside_horizon(ws, we), bx, by))
        return out

    def _covers(self, ws: float, we: float) -> bool:
        assert self.horizon is not None
        # UTC dates widened by one day are conservative for any time zone.
        start = local_date(ws - self._max_regular_trip_min * 60.0, "UTC") - timedelta(days=1)
        end = local_date(we, "UTC") + timedelta(days=1)
        return self.horizon[0] <= start and end <= self.horizon[1]

    def _outside_horizon(self, ws: float, we: float) -> list[Hit]:
        """Runs of regular offers on dates the horizon does not cover (slow path)."""
        assert self.horizon is not None
        h0, h1 = self.horizon
        log.debug("request window outside the index horizon %s..%s: scanning regular offers", h0, h1)
        out: list[Hit] = []
        one_day = timedelta(days=1)
        for rec in self._regular.values():
            offer = rec.offer
            first = local_date(ws - rec.trip_max_min * 60.0, offer.tz) - one_day
            last = local_date(we, offer.tz) + one_day
            spans = []
            if first < h0:
                spans.append((first, min(last, h0 - one_day)))
            if last > h1:
                spans.append((max(first, h1 + one_day), last))
            for a, b in spans:
                if a <= b:
                    out.extend((rec, t0, t0_s) for t0, t0_s in offer.runs(a, b))
        return out


class _QueryGeometry:
    """Necessary conditions checked on each rtree hit, all in straight-line terms.

    With ``a1 = |Op|``, ``a2 = |pd|``, ``a3 = |dD|`` (planar, <= great-circle km) and the
    router bound ``m(x, y) >= lb(|xy|) = max(0, |xy| - snap) * 60 / v``:

    * the other point (the one not used for the rtree query) inside the offer's box,
      and ``a1 + a2 + a3 <= total`` (the detour ellipse);
    * pick-up offset ``m(O,p)`` lies in ``[lb(a1), trip_max - lb(a2) - lb(a3)]`` and
      drop-off offset in ``[lb(a1) + lb(a2), trip_max - lb(a3)]``; the relevant one must
      meet the request's window (relative to ``t0``), with a 1e-6 min tolerance.
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
            if k:
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
