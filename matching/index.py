"""Corridor index: an exact pre-filter of offers — one entry per offer, numpy arrays.

Each offer is ONE slot in flat numpy arrays, whatever its number of dates:

* ``ox, oy, dx, dy`` — its origin and destination in a contracting plane projection (see
  :mod:`matching.geo`), ``total`` — a bound of the straight-line length of any admissible
  route O -> p -> d -> D (the *detour ellipse* ``|Op| + |pd| + |dD| <= total``) and the
  ellipse's bounding box ``x0, y0, x1, y1``;
* ``minute`` — its local departure time in minutes of the day (a regular trip's runs all
  share it: 07:45 stays 07:45 local on both sides of a daylight-saving change) and
  ``trip_max = m(O,D) + max_detour`` the longest time the driver can be on the road;
* ``first_day, last_day, weekdays`` — its local date range (a one-off trip's single date,
  as local epoch days) and weekday bitmask.

Space: a uniform grid of ``cell_km`` cells. Every offer is listed in each cell its
ellipse can reach (cells of its box, minus those whose every point lies outside the
ellipse), in two grids: one-off trips sorted by their naive local departure minute since
the epoch (``day * 1440 + minute``), regular trips by their minute of the day. A query
takes the cell of the pick-up or of the drop-off (whichever lists fewer offers in the
time range), cuts the time range of that cell's sorted list with ``searchsorted``, and
tests every offer of the slice at once with numpy: date range and weekday, the other
point in the box, the ellipse, and time bounds built on straight-line lower bounds of
the legs (see ``_QueryGeometry``). Only the survivors are turned into Python objects (a
local departure per run) and go to the exact rules (:class:`matching.Matcher`).

Time filter (exact, with the DST rule of :mod:`matching.model`): a run on local day ``D``
leaving at local ``m`` has the naive local instant ``N0 = D * 1440 + m`` (minutes) and the
UTC instant ``t0 = N0 - offset`` where ``offset`` is one of the zone's UTC offsets around
that moment (``fold=0``: the pre-transition offset in a spring-forward gap, summer time
in the autumn overlap). A run can serve a request whose window is ``[ws, we]`` only if
``t0 <= we`` and ``t0 + trip_max >= ws``; hence, with ``off_lo``/``off_hi`` the smallest
and largest offsets of the zones involved over the days around the window,
``N0 <= we + off_hi`` and ``N0 + trip_max >= ws + off_lo``. No horizon: a request a year
ahead costs what a request tomorrow costs.

Safety of the ellipse (why the filter never drops a valid candidate): if the router
declares a :class:`~matching.router.SpeedBound` ``(v, s)`` then for each leg
``straight_km <= s + v * minutes / 60``; a feasible route has
``m(O,p) + m(p,d) + m(d,D) <= m(O,D) + max_detour``, hence

    |Op| + |pd| + |dD| <= total = v / 60 * (m(O,D) + max_detour) + 3 s

(straight-line km, plus epsilons for float rounding). For :class:`StraightLineRouter`
``v = speed / circuity`` and ``s = 0``, so the ellipse is exactly the detour condition.
For OSRM, ``v`` is a configured maximum speed and ``s`` a snapping allowance. A router
without a bound gets an unbounded ellipse (time filtering only): still exact, slower.
A grid cell is left out of an offer's list only when ``|Oc| + |cD| - 2 r > total`` for
its centre ``c`` and half-diagonal ``r``: no point of that cell lies in the ellipse.

Changes (``add`` / ``update`` / ``remove``) never rebuild: a removed offer's slot is
marked dead (a tombstone), an added one is appended to the arrays and to a small *loose*
list that every query tests in full (vectorised, like a cell). When the loose list or
the tombstones grow past an eighth of the index, the grids are recompacted from the
arrays (no router call).

:class:`RequestIndex` is the reverse structure (open requests by pick-up point) used to
find the requests one offer can serve without scanning them all.

Every method takes an internal lock. Keep one index per process (e.g. built at worker
start-up, updated when offers change).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import sys
import threading
from array import array
from collections.abc import Iterable
from datetime import date, datetime, time, timezone
from functools import lru_cache
from typing import Final

import numpy as np
from rtree import index as rtree_index

from .geo import EARTH_RADIUS_KM, Point, Projection, ellipse_bbox
from .model import Offer, Request, localize_ts, zone
from .router import Leg, Router, SpeedBound, router_bound
from .rules import EPS, local_date

EPS_KM: Final = 1e-6
EPS_REL: Final = 1e-9
EPS_T_MIN: Final = 1e-5
_TIME_TOL: Final = 1e-6
_CELL_KM: Final = 20.0
_CELL_SLACK_KM: Final = 1e-3
_MAX_CELLS: Final = 4096  # an offer reaching more cells stays in the loose list
_WORLD: Final = EARTH_RADIUS_KM + 1.0
_DAY_MIN: Final = 1440.0
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
_ALL_WEEKDAYS: Final = 0b1111111
_CELL_SHIFT: Final = 1 << 21  # cell coordinates are offset into [0, 2^22) before packing

# float columns of the per-slot array
_X0, _Y0, _X1, _Y1, _OX, _OY, _DX, _DY, _TOTAL, _TRIP, _MINUTE = range(11)
_NF: Final = 11
# int columns
_FIRST, _LAST, _WMASK, _REGULAR = range(4)
_NI: Final = 4

Hit = tuple[Offer, Leg, datetime, float]
"""(offer, its O -> D leg, local departure of the run, its UTC epoch seconds)."""


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


def _load_trim():  # type: ignore[no-untyped-def]
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


_MALLOC_TRIM = _load_trim()


def _release_memory() -> None:
    """Give the heap's free pages back to the system after a build. The build's large numpy
    temporaries are freed, but glibc raises its mmap threshold after the first large free,
    so later ones come from the heap, which only ``malloc_trim`` returns; otherwise a
    worker's resident memory would keep the build's peak."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _local_at(offer: Offer) -> tuple[time, int, int, int]:
    """(local departure time, first and last local epoch day, weekday bitmask)."""
    if offer.recurrence is not None:
        rec = offer.recurrence
        return (rec.time, rec.first_date.toordinal() - _EPOCH_ORDINAL, rec.last_date.toordinal() - _EPOCH_ORDINAL,
                sum(1 << (d - 1) for d in rec.weekdays))
    assert offer.departure is not None
    day = offer.departure.date().toordinal() - _EPOCH_ORDINAL
    return offer.departure.time(), day, day, _ALL_WEEKDAYS


def _minute_of(at: time) -> float:
    return at.hour * 60 + at.minute + at.second / 60.0 + at.microsecond / 60e6


class OfferRecord:
    """One offer's precomputation as a Python object (reverse matching, baselines, tests):
    the same geometry, minute, weekdays and dates as the index's arrays."""

    __slots__ = ("offer", "od", "key", "minute", "at", "first_day", "last_day", "weekdays")

    def __init__(self, offer: Offer, od: Leg, projection: Projection, bound: SpeedBound | None) -> None:
        self.offer = offer
        self.od = od
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
        self.at, self.first_day, self.last_day, self.weekdays = _local_at(offer)
        self.minute: float = _minute_of(self.at)

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

    def runs_on(self, day: int) -> bool:
        """Does the offer run on local epoch day ``day`` (date range and weekday)?"""
        return self.first_day <= day <= self.last_day and bool(self.weekdays >> ((day + 3) % 7) & 1)


def corridor_total(bound: SpeedBound | None, od: Leg, max_detour_min: float) -> float:
    """Upper bound of |Op| + |pd| + |dD| (straight-line km) over admissible routes."""
    if bound is None:
        return math.inf
    base = bound.max_kmh / 60.0 * (od.minutes + max_detour_min + 2 * EPS) + 3.0 * bound.snap_km
    return base * (1.0 + EPS_REL) + EPS_KM


class _Grid:
    """Slots listed per cell (CSR), each cell's slice sorted by a time key."""

    __slots__ = ("cells", "keys", "max_trip", "slots")

    def __init__(self) -> None:
        self.cells: dict[int, tuple[int, int]] = {}
        self.slots: np.ndarray = np.zeros(0, dtype=np.int32)
        self.keys: np.ndarray = np.zeros(0, dtype=np.float64)
        self.max_trip = 0.0

    def count(self, cell: int) -> int:
        se = self.cells.get(cell)
        return 0 if se is None else se[1] - se[0]

    def window(self, cell: int, lo: float, hi: float) -> np.ndarray | None:
        """Slots of ``cell`` whose key lies in [lo, hi]."""
        se = self.cells.get(cell)
        if se is None:
            return None
        s, e = se
        keys = self.keys[s:e]
        a = int(np.searchsorted(keys, lo, "left"))
        b = int(np.searchsorted(keys, hi, "right"))
        if a >= b:
            return None
        return self.slots[s + a:s + b]

    def span(self, cell: int, lo: float, hi: float) -> int:
        se = self.cells.get(cell)
        if se is None:
            return 0
        keys = self.keys[se[0]:se[1]]
        return int(np.searchsorted(keys, hi, "right")) - int(np.searchsorted(keys, lo, "left"))


def _pack(cx: np.ndarray | int, cy: np.ndarray | int):  # type: ignore[no-untyped-def]
    return (cx + _CELL_SHIFT) * (2 * _CELL_SHIFT) + (cy + _CELL_SHIFT)


class CorridorIndex:
    """Exact spatio-temporal pre-filter of offers (see module docstring)."""

    def __init__(self, router: Router, *, center: Point | None = None, cell_km: float = _CELL_KM) -> None:
        self.router: Router = router
        self.projection: Projection = Projection(center)
        self.bound: SpeedBound | None = router_bound(router)
        self.cell_km = float(cell_km)
        self._lock = threading.RLock()
        self._reset()

    # -- storage ----------------------------------------------------------------------

    def _reset(self) -> None:
        self._f = np.zeros((0, _NF), dtype=np.float64)
        self._i = np.zeros((0, _NI), dtype=np.int64)
        self._alive = np.zeros(0, dtype=bool)
        self._n = 0
        self._offers: list[Offer | None] = []
        self._od: list[Leg | None] = []
        self._slot: dict[int, int] = {}
        self._max_trip_min = 0.0
        self._zones: dict[str, int] = {}
        self._oneoff = _Grid()
        self._regular = _Grid()
        self._loose: list[int] = []
        self._loose_arr: np.ndarray = np.zeros(0, dtype=np.int64)
        self._dead = 0  # tombstones in the grids
        self._added = 0  # offers added since the last compaction

    def _rows(self, offers: list[Offer], ods: list[Leg]) -> tuple[np.ndarray, np.ndarray]:
        """The float and int rows of ``offers`` (vectorised geometry). Written straight into
        numpy arrays: no per-offer Python temporaries are kept (they would fragment the heap)."""
        n = len(offers)
        ints = np.empty((n, _NI), dtype=np.int64)
        minute = np.empty(n)
        masks: dict[frozenset[int], int] = {}
        for k, o in enumerate(offers):
            rec = o.recurrence
            if rec is not None:
                wd = rec.weekdays
                mask = masks.get(wd)
                if mask is None:
                    mask = masks[wd] = sum(1 << (d - 1) for d in wd)
                at = rec.time
                ints[k] = (rec.first_date.toordinal() - _EPOCH_ORDINAL, rec.last_date.toordinal() - _EPOCH_ORDINAL,
                           mask, 1)
            else:
                dep = o.departure
                assert dep is not None
                at = dep
                day = dep.toordinal() - _EPOCH_ORDINAL
                ints[k] = (day, day, _ALL_WEEKDAYS, 0)
            minute[k] = at.hour * 60 + at.minute + at.second / 60.0 + at.microsecond / 60e6
        lat = np.fromiter((c for o in offers for c in (o.origin.lat, o.destination.lat)), dtype=np.float64,
                          count=2 * n)
        lon = np.fromiter((c for o in offers for c in (o.origin.lon, o.destination.lon)), dtype=np.float64,
                          count=2 * n)
        detour = np.fromiter((o.max_detour_min for o in offers), dtype=np.float64, count=n)
        od_min = np.fromiter((od.minutes for od in ods), dtype=np.float64, count=n)
        proj = self.projection
        phi = np.radians(lat)
        dl = np.radians(lon) - proj._lon0
        cphi = np.cos(phi)
        x = EARTH_RADIUS_KM * cphi * np.sin(dl)
        y = EARTH_RADIUS_KM * (proj._cos0 * np.sin(phi) - proj._sin0 * cphi * np.cos(dl))
        f = np.empty((n, _NF))
        ox, oy, dx, dy = x[0::2], y[0::2], x[1::2], y[1::2]
        f[:, _OX], f[:, _OY], f[:, _DX], f[:, _DY] = ox, oy, dx, dy
        f[:, _TRIP] = od_min + detour + EPS
        f[:, _MINUTE] = minute
        bound = self.bound
        if bound is None:
            f[:, _TOTAL] = math.inf
            f[:, _X0] = f[:, _Y0] = -_WORLD
            f[:, _X1] = f[:, _Y1] = _WORLD
            return f, ints
        base = bound.max_kmh / 60.0 * (od_min + detour + 2 * EPS) + 3.0 * bound.snap_km
        total = base * (1.0 + EPS_REL) + EPS_KM
        f[:, _TOTAL] = total
        # bounding box of the ellipse (as geo.ellipse_bbox), padded by EPS_KM
        fx, fy = dx - ox, dy - oy
        focal = np.hypot(fx, fy)
        a = np.maximum(total, focal) / 2.0
        c = focal / 2.0
        b = np.sqrt(np.maximum(a * a - c * c, 0.0))
        safe = np.where(focal > 0.0, focal, 1.0)
        ux = np.where(focal > 0.0, fx / safe, 1.0)
        uy = np.where(focal > 0.0, fy / safe, 0.0)
        hx = np.sqrt(a * a * ux * ux + b * b * uy * uy) * (1.0 + 1e-12) + EPS_KM
        hy = np.sqrt(a * a * uy * uy + b * b * ux * ux) * (1.0 + 1e-12) + EPS_KM
        cx, cy = (ox + dx) / 2.0, (oy + dy) / 2.0
        f[:, _X0], f[:, _Y0], f[:, _X1], f[:, _Y1] = cx - hx, cy - hy, cx + hx, cy + hy
        return f, ints

    def _grow(self, need: int) -> None:
        cap = len(self._alive)
        if need <= cap:
            return
        new = max(need, cap * 2, 64)
        f = np.zeros((new, _NF))
        f[:cap] = self._f
        i = np.zeros((new, _NI), dtype=np.int64)
        i[:cap] = self._i
        alive = np.zeros(new, dtype=bool)
        alive[:cap] = self._alive
        self._f, self._i, self._alive = f, i, alive

    def _append(self, offers: list[Offer], ods: list[Leg]) -> range:
        """Store ``offers`` in new slots (not yet in any grid)."""
        f, ints = self._rows(offers, ods)
        start = self._n
        end = start + len(offers)
        self._grow(end)
        self._f[start:end] = f
        self._i[start:end] = ints
        self._alive[start:end] = True
        self._n = end
        self._offers.extend(offers)
        self._od.extend(ods)
        for k, o in enumerate(offers):
            self._slot[o.id] = start + k
            self._zones[o.tz] = self._zones.get(o.tz, 0) + 1
        if len(offers):
            # Never lowered on removal: a larger bound only widens the queried days (still exact).
            self._max_trip_min = max(self._max_trip_min, float(f[:, _TRIP].max()))
        return range(start, end)

    def _cell_of(self, x: float, y: float) -> int:
        c = self.cell_km
        return int(_pack(math.floor(x / c), math.floor(y / c)))

    def _index_slots(self, slots: np.ndarray) -> None:
        """(Re)build both grids over ``slots``; offers reaching too many cells go loose."""
        c = self.cell_km
        f = self._f[slots]
        total = f[:, _TOTAL]
        finite = np.isfinite(total)
        box = np.where(finite[:, None], f[:, _X0:_Y1 + 1], 0.0)
        cx0 = np.floor(box[:, 0] / c).astype(np.int64)
        cy0 = np.floor(box[:, 1] / c).astype(np.int64)
        cx1 = np.floor(box[:, 2] / c).astype(np.int64)
        cy1 = np.floor(box[:, 3] / c).astype(np.int64)
        nx, ny = cx1 - cx0 + 1, cy1 - cy0 + 1
        cnt = nx * ny
        wide = ~finite | (cnt > _MAX_CELLS)
        self._loose = [int(x) for x in slots[wide]]
        self._loose_arr = np.array(self._loose, dtype=np.int64)
        keep = np.flatnonzero(~wide)
        ints = self._i[slots]
        regular = ints[keep, _REGULAR].astype(bool)
        half_diag = c * math.sqrt(2.0) / 2.0
        for grid_name, part in (("_oneoff", keep[~regular]), ("_regular", keep[regular])):
            grid = _Grid()
            if len(part):
                k = cnt[part]
                rep = np.repeat(np.arange(len(part)), k)  # position in `part` of every (offer, cell)
                local = np.arange(int(k.sum()), dtype=np.int64) - np.repeat(np.cumsum(k) - k, k)
                pnx = nx[part][rep]
                gx = cx0[part][rep] + local % pnx
                gy = cy0[part][rep] + local // pnx
                # drop cells that no point of the ellipse can reach
                mx, my = (gx + 0.5) * c, (gy + 0.5) * c
                reach = (np.hypot(mx - f[part, _OX][rep], my - f[part, _OY][rep])
                         + np.hypot(mx - f[part, _DX][rep], my - f[part, _DY][rep])
                         - 2.0 * half_diag - _CELL_SLACK_KM) <= total[part][rep]
                rep, gx, gy = rep[reach], gx[reach], gy[reach]
                if grid_name == "_oneoff":
                    pkey = ints[part, _FIRST] * _DAY_MIN + f[part, _MINUTE]
                else:
                    pkey = f[part, _MINUTE]
                # cells as small integers, then sort by (cell, key): by key first (once per
                # offer), then stably by cell
                gx0, gy0 = int(gx.min()), int(gy.min())
                width = int(gy.max()) - gy0 + 1
                lin = (gx - gx0) * width + (gy - gy0)
                by_key = np.argsort(pkey, kind="stable")
                rank = np.empty(len(part), dtype=np.int64)
                rank[by_key] = np.arange(len(part))
                order = np.argsort(lin * len(part) + rank[rep])
                lin = lin[order]
                rep = rep[order]
                grid.slots = slots[part][rep].astype(np.int32)
                grid.keys = pkey[rep]
                starts = np.concatenate(([0], np.flatnonzero(np.diff(lin)) + 1))
                ends = np.append(starts[1:], len(lin))
                first = lin[starts]
                cells = _pack(first // width + gx0, first % width + gy0)
                grid.cells = dict(zip(cells.tolist(), zip(starts.tolist(), ends.tolist())))
                grid.max_trip = float(f[part, _TRIP].max())
            setattr(self, grid_name, grid)

    def _compact(self) -> None:
        """Drop the tombstones and put every offer back into the grids (no router call)."""
        live = np.flatnonzero(self._alive[:self._n])
        self._f = self._f[live].copy()
        self._i = self._i[live].copy()
        self._alive = np.ones(len(live), dtype=bool)
        self._offers = [self._offers[s] for s in live.tolist()]
        self._od = [self._od[s] for s in live.tolist()]
        self._n = len(live)
        self._slot = {o.id: k for k, o in enumerate(self._offers) if o is not None}
        self._dead = self._added = 0
        self._index_slots(np.arange(self._n, dtype=np.int64))
        _release_memory()

    def _maybe_compact(self) -> None:
        # (the loose list also holds the offers too wide for the grid: count the additions)
        if self._added + self._dead > max(1024, len(self._slot) // 8):
            self._compact()

    # -- building ---------------------------------------------------------------------

    def bulk_load(self, offers: Iterable[Offer]) -> None:
        """(Re)build the whole index from ``offers`` (one pass over the iterable).

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
        batch: list[Offer] = []
        ods: list[Leg] = []
        seen: set[int] = set()
        legs: dict[tuple[float, float, float, float], Leg] = {}
        leg = self.router.leg
        for offer in offers:
            oid = offer.id
            if oid in seen:
                raise ValueError(f"duplicate offer id {oid}")
            seen.add(oid)
            org, dst = offer.origin, offer.destination
            pair = (org.lat, org.lon, dst.lat, dst.lon)
            od = legs.get(pair)
            if od is None:
                od = legs[pair] = leg(org, dst)
            batch.append(offer)
            ods.append(od)
        if batch:
            slots = self._append(batch, ods)
            self._index_slots(np.arange(slots.start, slots.stop, dtype=np.int64))
        del batch, ods, seen, legs
        _release_memory()

    def add(self, offer: Offer) -> None:
        """Index a new offer (``ValueError`` if its id is already indexed)."""
        od = self.router.leg(offer.origin, offer.destination)
        with self._lock:
            if offer.id in self._slot:
                raise ValueError(f"offer {offer.id} is already indexed; use update()")
            self._add(offer, od)

    def _add(self, offer: Offer, od: Leg) -> None:
        slots = self._append([offer], [od])
        self._loose.append(slots.start)
        self._loose_arr = np.array(self._loose, dtype=np.int64)
        self._added += 1
        self._maybe_compact()

    def remove(self, offer_id: int) -> None:
        """Drop an offer (``KeyError`` if unknown)."""
        with self._lock:
            slot = self._slot.pop(offer_id)
            offer = self._offers[slot]
            assert offer is not None
            self._alive[slot] = False
            self._offers[slot] = self._od[slot] = None
            if slot in self._loose:
                self._loose.remove(slot)
                self._loose_arr = np.array(self._loose, dtype=np.int64)
            else:
                self._dead += 1
            left = self._zones[offer.tz] - 1
            if left:
                self._zones[offer.tz] = left
            else:
                del self._zones[offer.tz]
            if not self._slot:
                self._reset()
            else:
                self._maybe_compact()

    def update(self, offer: Offer) -> None:
        """Replace the offer with the same id (or add it)."""
        od = self.router.leg(offer.origin, offer.destination)
        with self._lock:
            if offer.id in self._slot:
                self.remove(offer.id)
            self._add(offer, od)

    def __len__(self) -> int:
        """Number of indexed offers (one entry each, whatever their number of runs)."""
        return len(self._slot)

    def __contains__(self, offer_id: object) -> bool:
        return offer_id in self._slot

    def offers(self) -> list[Offer]:
        """The indexed offers, by id."""
        with self._lock:
            out = [self._offers[self._slot[k]] for k in sorted(self._slot)]
            return [o for o in out if o is not None]

    def record(self, offer_id: int) -> OfferRecord:
        """The precomputed record of an indexed offer (``KeyError`` if unknown)."""
        with self._lock:
            slot = self._slot[offer_id]
            offer, od = self._offers[slot], self._od[slot]
            assert offer is not None and od is not None
        return OfferRecord(offer, od, self.projection, self.bound)

    def stats(self) -> dict[str, int]:
        """Bookkeeping: offers, slots, grid entries, loose offers, tombstones."""
        with self._lock:
            return {"offers": len(self._slot), "slots": self._n, "loose": len(self._loose), "dead": self._dead,
                    "entries": len(self._oneoff.slots) + len(self._regular.slots),
                    "cells": len(set(self._oneoff.cells) | set(self._regular.cells))}

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
        hits.sort(key=lambda h: (h[3], h[0].id))
        return [(offer, t0) for offer, _, t0, _ in hits]

    def _use_dropoff(self, span_p: int, span_q: int) -> bool:
        """Query the grid with the drop-off rather than the pick-up?"""
        return span_q < span_p

    def hits(self, request: Request) -> list[Hit]:
        """Like :meth:`query`, with the O -> D legs and epoch seconds (unsorted)."""
        if request.pickup == request.dropoff:
            return []
        ws, we, _ = request.window_s()
        proj = self.projection
        px, py = proj.project(request.pickup)
        qx, qy = proj.project(request.dropoff)
        geometry = _QueryGeometry(request.mode == "arrive_by", ws, we, px, py, qx, qy, self.bound)
        with self._lock:
            if not self._slot:
                return []
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
            d_first = math.floor((lo_n - _DAY_MIN - max_trip) / _DAY_MIN)
            d_last = math.floor(hi_n / _DAY_MIN)
            days = range(d_first, d_last + 1)
            one, reg = self._oneoff, self._regular
            one_lo = lo_n - one.max_trip - EPS_T_MIN
            reg_lo = lo_n - reg.max_trip - EPS_T_MIN

            def span(cell: int) -> int:
                n = one.span(cell, one_lo, hi_n)
                if reg.cells:
                    for day in days:
                        base = day * _DAY_MIN
                        n += reg.span(cell, reg_lo - base, hi_n - base)
                return n

            # Both p and d must lie in the offer's ellipse: take the slices of the cell of
            # one of them (the one listing fewer offers in the time range), test the other.
            cp, cq = self._cell_of(px, py), self._cell_of(qx, qy)
            if cp != cq and self._use_dropoff(span(cp), span(cq)):
                cell, bx, by = cq, px, py
            else:
                cell, bx, by = cp, qx, qy
            parts_s: list[np.ndarray] = []
            parts_d: list[np.ndarray] = []
            got = one.window(cell, one_lo, hi_n)
            if got is not None:
                parts_s.append(got)
                parts_d.append(self._i[got, _FIRST])
            for day in days:
                base = day * _DAY_MIN
                got = reg.window(cell, reg_lo - base, hi_n - base)
                if got is not None:
                    parts_s.append(got)
                    parts_d.append(np.full(len(got), day, dtype=np.int64))
                if len(self._loose_arr):
                    parts_s.append(self._loose_arr)
                    parts_d.append(np.full(len(self._loose_arr), day, dtype=np.int64))
            if not parts_s:
                return []
            s = np.concatenate(parts_s) if len(parts_s) > 1 else parts_s[0]
            d = np.concatenate(parts_d) if len(parts_d) > 1 else parts_d[0]
            keep, lo_t, hi_t = geometry.vector(self._f[s], self._i[s], self._alive[s], d, bx, by, lo_n, hi_n,
                                               off_lo, off_hi)
            if not len(keep):
                return []
            slots = s[keep].tolist()
            run_days = d[keep].tolist()
            offers, ods = self._offers, self._od
            out: list[Hit] = []
            ws_m, we_m = ws / 60.0, we / 60.0
            dates: dict[int, date] = {}
            for slot, day, lt, ht in zip(slots, run_days, lo_t[keep].tolist(), hi_t[keep].tolist()):
                the_date = dates.get(day)
                if the_date is None:
                    the_date = dates[day] = date.fromordinal(day + _EPOCH_ORDINAL)
                offer = offers[slot]
                assert offer is not None
                rec = offer.recurrence
                at = rec.time if rec is not None else offer.departure.time()  # type: ignore[union-attr]
                t0, t0_s = localize_ts(the_date, at, offer.tz)
                t0_m = t0_s / 60.0
                if lt > we_m - t0_m + _TIME_TOL or ht < ws_m - t0_m - _TIME_TOL:
                    continue
                out.append((offer, ods[slot], t0, t0_s))  # type: ignore[arg-type]
        return out


class _QueryGeometry:
    """Necessary conditions checked on each run of a hit, all in straight-line terms.

    With ``a1 = |Op|``, ``a2 = |pd|``, ``a3 = |dD|`` (planar, <= great-circle km) and the
    router bound ``m(x, y) >= lb(|xy|) = max(0, |xy| - snap) * 60 / v``:

    * the run's date range and weekday; the other point (the one not used for the grid
      lookup) inside the offer's box, and ``a1 + a2 + a3 <= total`` (the detour ellipse);
    * pick-up offset ``m(O,p)`` lies in ``[lb(a1), trip_max - lb(a2) - lb(a3)]`` and
      drop-off offset in ``[lb(a1) + lb(a2), trip_max - lb(a3)]``; the relevant one must
      meet the request's window (relative to ``t0``), with a 1e-6 min tolerance: first
      over the naive local departure and the zones' offsets (vectorised), then over the
      run's real UTC departure (per survivor).
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

    def vector(self, f: np.ndarray, ints: np.ndarray, alive: np.ndarray, day: np.ndarray, bx: float, by: float,
               lo_n: float, hi_n: float, off_lo: float, off_hi: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Positions passing every test, and every row's (lo_t, hi_t) offsets (minutes)."""
        ok = alive & (ints[:, _FIRST] <= day) & (day <= ints[:, _LAST])
        ok &= ((ints[:, _WMASK] >> ((day + 3) % 7)) & 1).astype(bool)
        ok &= (f[:, _X0] <= bx) & (bx <= f[:, _X1]) & (f[:, _Y0] <= by) & (by <= f[:, _Y1])
        n0 = day * _DAY_MIN + f[:, _MINUTE]
        trip = f[:, _TRIP]
        ok &= (n0 <= hi_n) & (n0 + trip >= lo_n)
        a1 = np.hypot(self.px - f[:, _OX], self.py - f[:, _OY])
        a3 = np.hypot(f[:, _DX] - self.qx, f[:, _DY] - self.qy)
        ok &= a1 + self.pq + a3 <= f[:, _TOTAL]
        k, snap, l2 = self.k, self.snap, self.l2
        l1 = np.maximum(a1 - snap, 0.0) * k
        l3 = np.maximum(a3 - snap, 0.0) * k
        if self.arrive_by:
            lo_t, hi_t = l1 + l2, trip - l3
        else:
            lo_t, hi_t = l1, trip - l2 - l3
        # the run's UTC departure t0 (minutes) lies in [n0 - off_hi, n0 - off_lo]
        ws_m, we_m = self.ws / 60.0, self.we / 60.0
        slack = _TIME_TOL + EPS_T_MIN
        ok &= (lo_t <= we_m - (n0 - off_hi) + slack) & (hi_t >= ws_m - (n0 - off_lo) - slack)
        return np.flatnonzero(ok), lo_t, hi_t


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
