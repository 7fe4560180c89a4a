"""Corridors ("lignes virtuelles"): trips that one regular driver could carry together.

Pure functions over the communes' points and a `matching` router (no database, no Flask).

Grouping. Trips are taken per unordered pair of communes {x, y}, the most asked pairs
first. A pair joins a corridor when the corridor's spine a ⇄ b carries it within
`budget_min` minutes of detour: a driver going a → b picks the passenger up at x and drops
them at y with L(a, x) + L(x, y) + L(y, b) − L(a, b) ≤ budget (or the same on the way back).
A pair can also *extend* a corridor: when its own route carries the spine and every pair of
the corridor within the budget, it becomes the new spine (a driver Luzech → Cahors carries
Douelle → Cahors, not the other way round). Otherwise the pair starts a corridor of its
own. Both directions belong to one corridor, since a regular driver goes there in the
morning and comes back at night. The budget is the 2019 "green" detour, 5 minutes: wider,
and a corridor fans out over neighbouring valleys (Montcuq would join Luzech → Cahors).

Regular drivers needed. In each direction, the asked times (local minutes of the day) are
covered greedily by windows of `window_min` minutes, the fewest windows possible; a window
holding at least `min_requests` requests is a recurring slot that one regular driver can
serve. A driver serves one slot each way, so the corridor needs as many regular drivers as
its busier direction has slots.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable, Mapping, Sequence

from matching import Point, Router

LINE_DETOUR_MIN = 5.0    # the "green" detour of 2019
SLOT_WINDOW_MIN = 120    # a passenger's flexibility each side of one driver's fixed time
MIN_SLOT_REQUESTS = 2    # demand that came back at least twice in the same window
MIN_LINE_REQUESTS = 2    # a corridor with a single request is not a line


@dataclass(frozen=True)
class Trip:
    key: int               # request id
    origin: str            # INSEE code
    destination: str
    minute: int            # asked local time, minutes after midnight
    weekday: int           # 0 = Monday
    served: bool = False
    unmet: bool = False


@dataclass(frozen=True)
class Slot:
    forward: bool
    first_minute: int
    last_minute: int
    count: int
    weekdays: tuple[int, ...]  # requests per weekday, Monday first


@dataclass
class Corridor:
    a: str
    b: str
    forward: list[Trip] = field(default_factory=list)   # a → b
    backward: list[Trip] = field(default_factory=list)  # b → a

    @property
    def trips(self) -> list[Trip]:
        return self.forward + self.backward

    @property
    def unmet(self) -> int:
        return sum(t.unmet for t in self.trips)

    @property
    def served(self) -> int:
        return sum(t.served for t in self.trips)

    def pairs(self) -> Counter[tuple[str, str]]:
        """Requests per directed pair of communes."""
        return Counter((t.origin, t.destination) for t in self.trips)

    def slots(self, window_min: int = SLOT_WINDOW_MIN,
              min_requests: int = MIN_SLOT_REQUESTS) -> list[Slot]:
        return (recurring_slots(self.forward, True, window_min, min_requests)
                + recurring_slots(self.backward, False, window_min, min_requests))

    def regular_drivers_needed(self, window_min: int = SLOT_WINDOW_MIN,
                               min_requests: int = MIN_SLOT_REQUESTS) -> int:
        slots = self.slots(window_min, min_requests)
        return max(sum(s.forward for s in slots), sum(not s.forward for s in slots))


class Legs:
    """Memoised route minutes between communes (the same router as the matcher)."""

    def __init__(self, router: Router, points: Mapping[str, Point]) -> None:
        self._router = router
        self._points = points
        self.minutes = lru_cache(maxsize=None)(self._minutes)

    def _minutes(self, u: str, v: str) -> float:
        if u == v:
            return 0.0
        return self._router.leg(self._points[u], self._points[v]).minutes

    def detour(self, a: str, b: str, x: str, y: str) -> float:
        """Extra minutes for a driver a → b who carries a passenger x → y."""
        m = self.minutes
        return m(a, x) + m(x, y) + m(y, b) - m(a, b)


def recurring_slots(trips: Iterable[Trip], forward: bool, window_min: int = SLOT_WINDOW_MIN,
                    min_requests: int = MIN_SLOT_REQUESTS) -> list[Slot]:
    ordered = sorted(trips, key=lambda t: t.minute)
    slots, i = [], 0
    while i < len(ordered):
        j = i
        while j < len(ordered) and ordered[j].minute < ordered[i].minute + window_min:
            j += 1
        group = ordered[i:j]
        if len(group) >= min_requests:
            per_day = Counter(t.weekday for t in group)
            slots.append(Slot(forward, group[0].minute, group[-1].minute, len(group),
                              tuple(per_day.get(d, 0) for d in range(7))))
        i = j
    return slots


def group_corridors(trips: Sequence[Trip], legs: Legs, budget_min: float = LINE_DETOUR_MIN,
                    population: Mapping[str, int] | None = None) -> list[Corridor]:
    """Corridors, strongest first (requests, then unmet requests). Trips inside one
    commune are left out (no line to draw)."""
    population = population or {}
    counts: Counter[tuple[str, str]] = Counter(
        tuple(sorted((t.origin, t.destination))) for t in trips if t.origin != t.destination)
    order = sorted(counts, key=lambda p: (-counts[p], -legs.minutes(*p), p))
    limit = budget_min + 1e-9

    def carried(spine: tuple[str, str], pair: tuple[str, str]) -> float:
        (a, b), (x, y) = spine, pair
        return min(legs.detour(a, b, x, y), legs.detour(a, b, y, x))

    spines: list[tuple[str, str]] = []
    members: list[list[tuple[str, str]]] = []
    for pair in order:
        best: tuple[float, int, bool] | None = None   # (detour, corridor, pair becomes spine)
        for index, spine in enumerate(spines):
            detour = carried(spine, pair)
            extends = False
            if detour > limit:
                detours = [carried(pair, other) for other in (spine, *members[index])]
                if max(detours) > limit:
                    continue
                detour, extends = max(detours), True
            if best is None or detour < best[0]:
                best = (detour, index, extends)
        if best is None:
            spines.append(pair)
            members.append([])
        elif best[2]:
            members[best[1]].append(spines[best[1]])
            spines[best[1]] = pair
        else:
            members[best[1]].append(pair)
    owner = {pair: index for index, spine in enumerate(spines) for pair in (spine, *members[index])}

    corridors = [Corridor(a, b) for a, b in spines]
    for trip in trips:
        if trip.origin == trip.destination:
            continue
        corridor = corridors[owner[tuple(sorted((trip.origin, trip.destination)))]]
        a, b = corridor.a, corridor.b
        if legs.detour(a, b, trip.origin, trip.destination) <= legs.detour(a, b, trip.destination, trip.origin):
            corridor.forward.append(trip)
        else:
            corridor.backward.append(trip)
    for c in corridors:
        # "aller" is the busier direction; on a tie, towards the bigger town (the pole)
        if (len(c.backward), population.get(c.a, 0)) > (len(c.forward), population.get(c.b, 0)):
            c.a, c.b, c.forward, c.backward = c.b, c.a, c.backward, c.forward
    corridors.sort(key=lambda c: (-len(c.trips), -c.unmet, c.a, c.b))
    return corridors


def carries(legs: Legs, origin: str, destination: str, max_detour_min: float,
            pairs: Mapping[tuple[str, str], int]) -> int:
    """How many of the requests (per directed pair) a driver origin → destination could
    carry within their accepted detour. Geography only: times are for the operator."""
    return sum(n for (x, y), n in pairs.items()
               if legs.detour(origin, destination, x, y) <= max_detour_min + 1e-9)
