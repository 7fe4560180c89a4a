"""Matrix router: legs between known places read from memory, other legs from an engine.

Most meeting points are known places (town halls, former villages, nearby towns). Their
road legs are computed once by a routing engine and handed to :class:`MatrixRouter` as
plain data: the list of place points and two flat ``array('d')`` tables (minutes and km,
row-major, ``NaN`` where a pair was not computed, e.g. beyond the matrix's radius). A leg
between two places is then one dictionary lookup and one array read.

Any other leg (an address, a pair outside the matrix) is asked of ``engine`` once and kept
in a bounded, thread-safe LRU cache. An optional ``warm(point)`` callback is called once
for each new non-place point met in a leg with a place, before that leg is asked: an
engine can then compute all legs between that point and the places in one go. Results are deterministic as long as the engine's
are, so the corridor index and the brute-force oracle see the same numbers.

The speed bound (:class:`~matching.router.SpeedBound`) is the engine's unless given: the
matrix must come from the same engine (same graph, same speeds) for it to hold.
"""

from __future__ import annotations

import math
import threading
from array import array
from collections import OrderedDict
from collections.abc import Callable, Sequence

from .geo import Point
from .router import Leg, Router, SpeedBound, router_bound


class MatrixRouter:
    """Router reading place-to-place legs from a precomputed matrix (see module docstring)."""

    def __init__(
        self,
        places: Sequence[Point],
        minutes: Sequence[float],
        km: Sequence[float],
        engine: Router,
        *,
        bound: SpeedBound | None = None,
        cache_size: int = 100_000,
        warm: Callable[[Point], object] | None = None,
    ) -> None:
        n = len(places)
        if len(minutes) != n * n or len(km) != n * n:
            raise ValueError(f"matrix tables must hold {n} x {n} values")
        if cache_size < 0:
            raise ValueError("cache_size must be >= 0")
        self._slot: dict[Point, int] = {}
        for i, p in enumerate(places):
            self._slot.setdefault(p, i)
        self._n = n
        self._minutes = minutes if isinstance(minutes, array) else array("d", minutes)
        self._km = km if isinstance(km, array) else array("d", km)
        self.engine: Router = engine
        self.bound: SpeedBound | None = bound if bound is not None else router_bound(engine)
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[Point, Point], Leg] = OrderedDict()
        self._lock = threading.Lock()
        self.matrix_hits = 0
        self.engine_calls = 0
        self._warm = warm
        self._warmed: OrderedDict[Point, None] = OrderedDict()

    @property
    def places(self) -> int:
        return self._n

    def pairs(self) -> int:
        """Number of computed pairs held in the matrix."""
        return sum(1 for v in self._minutes if not math.isnan(v))

    def lookup(self, a: Point, b: Point) -> Leg | None:
        """The matrix's leg for two places, or ``None`` when either is not a place or the
        pair was not computed."""
        i = self._slot.get(a)
        if i is None:
            return None
        j = self._slot.get(b)
        if j is None:
            return None
        k = i * self._n + j
        m = self._minutes[k]
        if math.isnan(m):
            return None
        return Leg(self._km[k], m)

    def leg(self, a: Point, b: Point) -> Leg:
        if a == b:
            return Leg(0.0, 0.0)
        hit = self.lookup(a, b)
        if hit is not None:
            self.matrix_hits += 1
            return hit
        key = (a, b)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        if self._warm is not None:
            a_place, b_place = a in self._slot, b in self._slot
            if a_place != b_place:
                x = b if a_place else a
                with self._lock:
                    first = x not in self._warmed
                    if first:
                        self._warmed[x] = None
                        while len(self._warmed) > max(1, self.cache_size // 100):
                            self._warmed.popitem(last=False)
                if first:
                    self._warm(x)
        leg = self.engine.leg(a, b)
        self.engine_calls += 1
        if self.cache_size:
            with self._lock:
                self._cache[key] = leg
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return leg

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    @property
    def cache_len(self) -> int:
        return len(self._cache)

    def __repr__(self) -> str:
        return f"MatrixRouter(places={self._n}, engine={self.engine!r})"
