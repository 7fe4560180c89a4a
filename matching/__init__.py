"""Lot'ôcar matching library: which driver's trip can take which passenger.

Pure, typed, framework-free (stdlib + numpy + rtree; ``requests`` only for OSRM, imported
lazily). See ``GUIDE.md`` section 3 for the semantics and each module's docstring for
the details:

* :mod:`matching.geo` — points, great-circle distance, contracting projection;
* :mod:`matching.router` / :mod:`matching.osrm` — road legs (straight line, OSRM);
* :mod:`matching.matrix` — place-to-place legs from a precomputed matrix in memory;
* :mod:`matching.model` — offers, recurrences, requests, candidates, local time rules;
* :mod:`matching.rules` — the exact rules and the brute-force oracle;
* :mod:`matching.tours` — runs already carrying passengers: insertion, re-ordering, shifts;
* :mod:`matching.index` — the corridor index (exact pre-filter: numpy arrays, time-sorted grid);
* :mod:`matching.matcher` — index + rules + ranking, and reverse matching.
* :mod:`matching.misses` — near misses: runs failing only the window or the detour (or
  full), and the change to the request that would make each work.

Typical use (one index per process, one entry per offer whatever its number of dates,
updated with ``add`` / ``update`` / ``remove`` when offers change)::

    router = StraightLineRouter(circuity=1.3, speed_kmh=60)   # or OSRMRouter(url, fallback=...)
    index = CorridorIndex(router)
    index.bulk_load(offers)
    matcher = Matcher(router, index)
    for c in matcher.candidates(request, seats_taken, travelled_with):
        print(c.driver_id, c.pickup_at, c.band, c.reasons)
"""

from __future__ import annotations

from .geo import EARTH_RADIUS_KM, Point, Projection, haversine_km
from .index import CorridorIndex
from .matcher import Matcher
from .matrix import MatrixRouter
from .model import DEFAULT_TZ, Booked, Candidate, Offer, Recurrence, Request, Shift, Stop, band_for_detour, localize
from .osrm import OSRMRouter
from .router import Leg, Router, RouterError, SpeedBound, StraightLineRouter
from .rules import brute_force_candidates
from .tours import REORDER_MAX, TOUR_MAX_SHIFT_MIN

__all__ = [
    "DEFAULT_TZ",
    "REORDER_MAX",
    "TOUR_MAX_SHIFT_MIN",
    "Booked",
    "Shift",
    "Stop",
    "EARTH_RADIUS_KM",
    "Candidate",
    "CorridorIndex",
    "Leg",
    "Matcher",
    "MatrixRouter",
    "OSRMRouter",
    "Offer",
    "Point",
    "Projection",
    "Recurrence",
    "Request",
    "Router",
    "RouterError",
    "SpeedBound",
    "StraightLineRouter",
    "band_for_detour",
    "brute_force_candidates",
    "haversine_km",
    "localize",
]
