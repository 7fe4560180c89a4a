"""Routers: road distance and travel time between two points.

A router implements :class:`Router` (``leg(a, b) -> Leg``). To let the corridor index
prune offers, a router may also expose a ``bound`` attribute (a :class:`SpeedBound`)
promising that, for every pair of points::

    haversine_km(a, b) <= bound.snap_km + bound.max_kmh * leg(a, b).minutes / 60

i.e. the router never "travels" faster than ``max_kmh`` as the crow flies (up to a
per-leg additive ``snap_km``, for engines that snap points onto the road network).
Routers without a bound still work with the index: it then filters on time only.

The bound must also hold for a *chain* of legs a -> b -> ... -> z (the tours of
:mod:`matching.tours`): ``haversine_km(a, z) <= snap_km + max_kmh * (sum of minutes) / 60``.
A constant-speed router satisfies it by the triangle inequality; a road engine that snaps
points onto the network does too, since consecutive legs meet at the same snapped stop and
only the two ends of the chain are displaced.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Protocol, Sequence, runtime_checkable

from .geo import Point, haversine_km


class RouterError(RuntimeError):
    """The router could not compute a leg (engine down, bad answer, no route)."""


class Leg(NamedTuple):
    """Road distance (km) and travel time (minutes) from one point to another.

    An immutable pair (a named tuple rather than a frozen dataclass: a request's exact
    check makes thousands of them, and a tuple is built several times faster)."""

    km: float
    minutes: float


@dataclass(frozen=True, slots=True)
class SpeedBound:
    """Safe lower bound of a router's travel times, in straight-line terms.

    ``haversine_km(a, b) <= snap_km + max_kmh * leg(a, b).minutes / 60`` for all a, b.
    """

    max_kmh: float
    snap_km: float = 0.0

    def __post_init__(self) -> None:
        if not self.max_kmh > 0 or self.snap_km < 0:
            raise ValueError("SpeedBound needs max_kmh > 0 and snap_km >= 0")

    def weakest(self, other: SpeedBound) -> SpeedBound:
        """A bound valid for both routers (used when a router falls back on another)."""
        return SpeedBound(max(self.max_kmh, other.max_kmh), max(self.snap_km, other.snap_km))


@runtime_checkable
class Router(Protocol):
    """Anything that gives a road leg between two points."""

    def leg(self, a: Point, b: Point) -> Leg: ...


_new_leg = tuple.__new__


def router_bound(router: Router) -> SpeedBound | None:
    """The router's :class:`SpeedBound`, or ``None`` if it does not declare one."""
    bound = getattr(router, "bound", None)
    return bound if isinstance(bound, SpeedBound) else None


class StraightLineRouter:
    """Great-circle distance times a circuity factor, driven at a constant speed.

    Deterministic and network-free: ``km = haversine * circuity`` and
    ``minutes = km / speed_kmh * 60``. Its :attr:`bound` is exact
    (``max_kmh = speed_kmh / circuity``), so the index's ellipse is tight.
    """

    __slots__ = ("circuity", "speed_kmh", "bound", "_min_per_km")

    def __init__(self, circuity: float = 1.3, speed_kmh: float = 60.0) -> None:
        if not (circuity >= 1.0 and math.isfinite(circuity)):
            raise ValueError("circuity must be >= 1 (straight line never exceeds road)")
        if not (speed_kmh > 0 and math.isfinite(speed_kmh)):
            raise ValueError("speed_kmh must be > 0")
        self.circuity: float = float(circuity)
        self.speed_kmh: float = float(speed_kmh)
        self.bound: SpeedBound = SpeedBound(max_kmh=self.speed_kmh / self.circuity)
        self._min_per_km: float = 60.0 / self.speed_kmh

    def leg(self, a: Point, b: Point) -> Leg:
        km = haversine_km(a, b) * self.circuity
        return _new_leg(Leg, (km, km * self._min_per_km))  # Leg(km, minutes), without its slow __new__

    def table(self, sources: Sequence[Point], destinations: Sequence[Point]) -> list[list[Leg]]:
        """All legs ``sources[i] -> destinations[j]`` (same values as :meth:`leg`)."""
        return [[self.leg(s, d) for d in destinations] for s in sources]

    def __repr__(self) -> str:
        return f"StraightLineRouter(circuity={self.circuity}, speed_kmh={self.speed_kmh})"
