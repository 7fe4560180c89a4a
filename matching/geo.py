"""Geometry helpers: points, great-circle distance and a contracting plane projection.

All distances are in kilometres on a sphere of radius :data:`EARTH_RADIUS_KM`.

The index works in a plane obtained by *orthographic* projection onto the tangent plane
at a fixed centre. An orthographic projection is an orthogonal projection of the 3D
points on the sphere onto a plane, so it never lengthens a segment:

    planar(a, b) <= chord(a, b) <= great_circle(a, b)

Planar distances are therefore safe lower bounds of :func:`haversine_km` anywhere on the
globe (and within ~1e-4 relative error around the Lot), which is what makes the
corridor filter exact rather than approximate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

EARTH_RADIUS_KM: float = 6371.0088
"""Mean Earth radius (IUGG), shared by the router and the projection."""

# Default projection centre: roughly the middle of the Lot department.
LOT_CENTER_LAT: float = 44.62
LOT_CENTER_LON: float = 1.60


@dataclass(frozen=True, slots=True)
class Point:
    """A WGS84 position in decimal degrees.

    ``phi`` (latitude in radians) and ``cos_phi`` are computed once, at construction: the
    router's distances read them instead of redoing that trigonometry for every leg (same
    values, hence the same distances to the last bit). They take no part in equality,
    hashing or the repr."""

    lat: float
    lon: float
    phi: float = field(init=False, repr=False, compare=False)
    cos_phi: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not (-90.0 <= self.lat <= 90.0) or not (-180.0 <= self.lon <= 180.0):
            raise ValueError(f"coordinates out of range: lat={self.lat}, lon={self.lon}")
        phi = math.radians(self.lat)
        object.__setattr__(self, "phi", phi)
        object.__setattr__(self, "cos_phi", math.cos(phi))


_DIAMETER_KM: float = 2.0 * EARTH_RADIUS_KM
_sin, _sqrt, _asin, _radians = math.sin, math.sqrt, math.asin, math.radians


def haversine_km(a: Point, b: Point) -> float:
    """Great-circle distance between two points, in km.

    The hottest function of the exact check (every leg of every tour search): the math
    functions are bound once and the clamp is a comparison, not a ``min`` call."""
    if a.lat == b.lat and a.lon == b.lon:
        return 0.0
    s = _sqrt(_sin((b.phi - a.phi) / 2.0) ** 2
              + a.cos_phi * b.cos_phi * _sin(_radians(b.lon - a.lon) / 2.0) ** 2)
    return _DIAMETER_KM * _asin(s if s < 1.0 else 1.0)


class Projection:
    """Orthographic projection onto the tangent plane at ``center`` (km, east/north).

    The projection is a contraction: ``hypot(*project(a) - project(b)) <=
    haversine_km(a, b)`` for every pair of points (up to float rounding, which the
    index absorbs with an explicit epsilon).
    """

    __slots__ = ("center", "_sin0", "_cos0", "_lon0")

    def __init__(self, center: Point | None = None) -> None:
        self.center: Point = center if center is not None else Point(LOT_CENTER_LAT, LOT_CENTER_LON)
        phi0 = math.radians(self.center.lat)
        self._sin0 = math.sin(phi0)
        self._cos0 = math.cos(phi0)
        self._lon0 = math.radians(self.center.lon)

    def project(self, p: Point) -> tuple[float, float]:
        phi = math.radians(p.lat)
        dl = math.radians(p.lon) - self._lon0
        cphi = math.cos(phi)
        x = EARTH_RADIUS_KM * cphi * math.sin(dl)
        y = EARTH_RADIUS_KM * (self._cos0 * math.sin(phi) - self._sin0 * cphi * math.cos(dl))
        return x, y


def ellipse_bbox(
    x1: float, y1: float, x2: float, y2: float, total: float
) -> tuple[float, float, float, float]:
    """Bounding box ``(minx, miny, maxx, maxy)`` of the planar ellipse with foci
    ``(x1, y1)``, ``(x2, y2)`` and distance sum ``total`` (``total`` is clamped to at
    least the focal distance)."""
    fx = x2 - x1
    fy = y2 - y1
    focal = math.hypot(fx, fy)
    a = max(total, focal) / 2.0
    c = focal / 2.0
    b = math.sqrt(max(a * a - c * c, 0.0))
    if focal > 0.0:
        ux = fx / focal
        uy = fy / focal
    else:
        ux, uy = 1.0, 0.0
    hx = math.sqrt(a * a * ux * ux + b * b * uy * uy)
    hy = math.sqrt(a * a * uy * uy + b * b * ux * ux)
    cx = (x1 + x2) / 2.0
    cy = (y1 + y2) / 2.0
    return cx - hx, cy - hy, cx + hx, cy + hy
