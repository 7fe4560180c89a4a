"""Tours: a run that already carries passengers, and where a new one can be inserted.

A **run** is one offer on one local date. It carries the stops of the bookings holding a
seat on it (proposed, accepted, confirmed): each booked passenger (:class:`Booked`) has a
pickup and a drop-off, the times she was promised, and her own request (hence her window).
The driver leaves at the run's departure ``t0`` and drives the stops in order without
waiting, so a stop's time is ``t0`` plus the road minutes of the legs before it.

The **current order** of a run is its booked stops sorted by their promised times (a
pickup before a drop-off at the same minute). A request fits a run when its pickup ``p``
and drop-off ``d`` can be inserted into that sequence (``p`` before ``d``; every pair of
positions is tried; with at most :data:`REORDER_MAX` booked passengers every order of all
the stops is tried, each pickup before its drop-off) so that:

* the whole tour's time minus the bare ``m(O, D)`` is at most the driver's
  ``max_detour_min`` (+ :data:`EPS`);
* the new passenger's pickup (``leave_after``) or drop-off (``arrive_by``) lies in her
  window, bounds inclusive (as for a lone passenger);
* every booked passenger still meets her own window the same way, and her pickup moves by
  at most ``max_shift_min`` (:data:`TOUR_MAX_SHIFT_MIN`, default 10) either way from the
  time she was promised (``None``: no shift bound, used when a trip change is reconciled);
* seats: checked by the caller (a seat stays held for the whole run).

Among feasible sequences the one with the least tour time wins (ties: the smallest
sequence key, so every implementation picks the same one). The **added** detour is that
time minus the time of the current order (never below 0); the **total** detour is that
time minus ``m(O, D)``.

**Why the corridor index needs no change.** The index keeps a run when the request's ``p``
and ``d`` lie in the ellipse of the *bare* route with the driver's whole detour budget
(:mod:`matching.index`). On a feasible tour O -> ... -> p -> ... -> d -> ... -> D the
tour's time is at most ``m(O, D) + max_detour``; by the triangle inequality the straight
line O-p is no longer than the chain of legs before ``p`` (and likewise p-d and d-D), so
``|Op| + |pd| + |dD|`` is bounded by the same ``total`` as for a lone passenger, and the
pickup / drop-off offsets obey the same time bounds. This needs the router's
:class:`~matching.router.SpeedBound` to hold for chains of legs, which it does for the
straight-line router (``snap_km = 0``) and for OSRM (snapping moves only the ends of a
chain: consecutive legs meet at the same snapped stop). The index stays a filter, never an
approximation: the exact check here does the rest.

Two implementations share :func:`check_sequence`: :func:`plan_tour` (depth-first search
with pruning, used by the matcher) and :func:`brute_force_tour` (the oracle: every
permutation, or every pair of insertion positions, checked in full). The oracle takes the
run's legs from one ``router.table`` call when the router has one, else from ``router.leg``;
the search fetches them lazily from the router it is given — for OSRM the matcher hands it
a :class:`LegTable` filled by one ``table`` call per request, so both read the same numbers
(a router's ``table`` must agree with its ``leg`` when it does not set ``prefers_table``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from .geo import Point
from .model import Booked, Request, Shift, Stop, epoch_to_local
from .router import Leg, Router

EPS: Final = 1e-9
REORDER_MAX: Final = 4
"""With this many booked passengers or fewer, every order of the stops is tried."""
TOUR_MAX_SHIFT_MIN: Final = 10.0
"""Default bound (minutes, either way) on how far a booked passenger's pickup may move."""
_PRUNE_MARGIN: Final = 1e-7

# A stop code: (passenger index, 0 = pickup / 1 = drop-off). The new passenger is index n.
Code = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Plan:
    """The best feasible sequence of a run (relative minutes from ``t0``)."""

    codes: tuple[Code, ...]
    times: tuple[float, ...]
    total_min: float
    total_km: float


class _Problem:
    """Points, legs and constraints of one run (booked passengers + optional new one)."""

    __slots__ = ("points", "legs", "router", "n", "k", "window", "promised", "shift", "budget", "od")

    def __init__(
        self,
        router: Router,
        origin: Point,
        destination: Point,
        t0_s: float,
        booked: Sequence[Booked],
        new: Request | None,
        od: Leg,
        max_detour_min: float,
        max_shift_min: float | None,
        lazy: bool = False,
        known: tuple[Leg, Leg, Leg] | None = None,
    ) -> None:
        passengers: list[Request] = [b.request for b in booked]
        if new is not None:
            passengers.append(new)
        self.n = len(booked)
        self.k = len(passengers)
        pts = [origin, destination]
        for r in passengers:
            pts += [r.pickup, r.dropoff]
        self.points = pts
        self.router = router
        # lazy (the pruned search): legs computed when first needed; else the whole matrix at once
        self.legs: list[list[Leg | None]] = (
            [[None] * len(pts) for _ in pts] if lazy else leg_matrix(router, pts))  # type: ignore[assignment]
        if lazy and new is not None:
            # legs the caller already holds (the same router's numbers): O -> D, and the
            # new passenger's O -> p, p -> d, d -> D
            p = 2 + 2 * self.n
            legs = self.legs
            legs[0][1] = od
            if known is not None:
                legs[0][p], legs[p][p + 1], legs[p + 1][1] = known
        # the rules of each stop, by point index (O and D have none): the window it must
        # meet (a passenger's pickup for leave_after, her drop-off for arrive_by), and the
        # promised pickup it must stay within max_shift_min of (booked passengers only)
        self.window: list[tuple[float, float] | None] = [None, None]
        self.promised: list[float | None] = [None, None]
        for j, r in enumerate(passengers):
            ws, we, _ = r.window_s()
            w = ((ws - t0_s) / 60.0, (we - t0_s) / 60.0)
            self.window += [None, w] if r.mode == "arrive_by" else [w, None]
            near = (booked[j].pickup_s - t0_s) / 60.0 if j < self.n and max_shift_min is not None else None
            self.promised += [near, None]
        self.shift = (max_shift_min + EPS) if max_shift_min is not None else 0.0
        self.od = od.minutes
        self.budget = max_detour_min

    def leg(self, i: int, j: int) -> Leg:
        row = self.legs[i]
        got = row[j]
        if got is None:
            got = row[j] = self.router.leg(self.points[i], self.points[j])
        return got

    def point_of(self, code: Code) -> int:
        return 2 + 2 * code[0] + code[1]

    def stop_ok(self, point: int, t: float) -> bool:
        """The rules of the stop at ``point`` (index in ``points``), reached at ``t``
        (the search in :func:`_search` applies the same comparisons inline)."""
        w = self.window[point]
        if w is not None and (t < w[0] - EPS or t > w[1] + EPS):
            return False
        near = self.promised[point]
        return near is None or abs(t - near) <= self.shift

    def base_order(self, booked: Sequence[Booked]) -> list[Code]:
        """The current order: booked stops by promised time, pickups first at a tie."""
        items = []
        for j, b in enumerate(booked):
            items.append((b.pickup_s, 0, b.booking_id, (j, 0)))
            items.append((b.dropoff_s, 1, b.booking_id, (j, 1)))
        items.sort()
        return [it[3] for it in items]


def leg_matrix(router: Router, points: Sequence[Point]) -> list[list[Leg]]:
    """Every leg between ``points`` (one ``table`` call when the router offers it)."""
    table: Callable[[Sequence[Point], Sequence[Point]], list[list[Leg]]] | None = getattr(router, "table", None)
    if table is not None:
        return table(points, points)
    return [[router.leg(a, b) for b in points] for a in points]


class LegTable:
    """Legs fetched beforehand in one ``table`` call (the matcher does it once per request for
    every run with passengers it checks); a pair not fetched falls back on the router."""

    __slots__ = ("router", "legs")

    def __init__(self, router: Router, points: Sequence[Point]) -> None:
        self.router = router
        pts = list(dict.fromkeys(points))
        matrix = leg_matrix(router, pts)
        self.legs: dict[tuple[Point, Point], Leg] = {
            (a, b): matrix[i][j] for i, a in enumerate(pts) for j, b in enumerate(pts)}

    def leg(self, a: Point, b: Point) -> Leg:
        hit = self.legs.get((a, b))
        return hit if hit is not None else self.router.leg(a, b)

    def table(self, sources: Sequence[Point], destinations: Sequence[Point]) -> list[list[Leg]]:
        return [[self.leg(a, b) for b in destinations] for a in sources]


def check_sequence(problem: _Problem, codes: Sequence[Code]) -> Plan | None:
    """Times of ``codes`` driven in order from O, then D; None if a rule fails."""
    leg_of = problem.leg
    cur = 0
    t = 0.0
    km = 0.0
    times: list[float] = []
    for code in codes:
        nxt = problem.point_of(code)
        leg = leg_of(cur, nxt)
        t += leg.minutes
        km += leg.km
        if not problem.stop_ok(nxt, t):
            return None
        times.append(t)
        cur = nxt
    leg = leg_of(cur, 1)
    total = t + leg.minutes
    if total - problem.od > problem.budget + EPS:
        return None
    return Plan(tuple(codes), tuple(times), total, km + leg.km)


def _better(a: Plan | None, b: Plan) -> bool:
    return a is None or (b.total_min, b.codes) < (a.total_min, a.codes)


def _insertions(base: list[Code], new: int) -> list[list[Code]]:
    out = []
    for i in range(len(base) + 1):
        for j in range(i, len(base) + 1):
            out.append(base[:i] + [(new, 0)] + base[i:j] + [(new, 1)] + base[j:])
    return out


def _every_order(k: int):
    """Every sequence of the 2k stops with each pickup before its drop-off (no pruning)."""
    state = [0] * k
    seq: list[Code] = []

    def go():
        if len(seq) == 2 * k:
            yield list(seq)
            return
        for j in range(k):
            if state[j] < 2:
                seq.append((j, state[j]))
                state[j] += 1
                yield from go()
                state[j] -= 1
                seq.pop()

    return go()


def _search(problem: _Problem) -> Plan | None:
    """Depth-first search over every order (pickup before drop-off), pruned on the rules.

    The rules of :meth:`_Problem.stop_ok` are applied inline (the same comparisons on the
    same per-stop tables, so the same plans as :func:`check_sequence`), and legs are read
    from the problem's matrix directly: this loop is most of a request's exact check."""
    k = problem.k
    legs = problem.legs
    points = problem.points
    router = problem.router
    od, budget = problem.od, problem.budget
    limit = od + budget + EPS + _PRUNE_MARGIN
    window, promised, shift = problem.window, problem.promised, problem.shift
    best: list[Plan | None] = [None]
    codes: list[Code] = []
    times: list[float] = []
    state = [0] * k  # 0 = waiting, 1 = on board, 2 = dropped off

    def go(cur: int, t: float, km: float, left: int) -> None:
        row = legs[cur]
        if left == 0:
            leg = row[1]
            if leg is None:
                leg = row[1] = router.leg(points[cur], points[1])
            total = t + leg.minutes
            if total - od <= budget + EPS:
                b = best[0]
                if b is None or total < b.total_min or (total == b.total_min and tuple(codes) < b.codes):
                    best[0] = Plan(tuple(codes), tuple(times), total, km + leg.km)
            return
        for j in range(k):
            s = state[j]
            if s == 2:
                continue
            nxt = 2 + 2 * j + s
            leg = row[nxt]
            if leg is None:
                leg = row[nxt] = router.leg(points[cur], points[nxt])
            tt = t + leg.minutes
            if tt > limit:
                continue
            w = window[nxt]
            if w is not None and (tt < w[0] - EPS or tt > w[1] + EPS):
                continue
            pr = promised[nxt]
            if pr is not None and abs(tt - pr) > shift:
                continue
            state[j] = s + 1
            codes.append((j, s))
            times.append(tt)
            go(nxt, tt, km + leg.km, left - 1)
            times.pop()
            codes.pop()
            state[j] = s

    go(0, 0.0, 0.0, 2 * k)
    return best[0]


def plan_tour(
    router: Router, origin: Point, destination: Point, t0_s: float, booked: Sequence[Booked],
    new: Request | None, od: Leg, max_detour_min: float, max_shift_min: float | None = TOUR_MAX_SHIFT_MIN,
    known: tuple[Leg, Leg, Leg] | None = None,
) -> tuple[Plan, Plan | None] | None:
    """(best feasible plan, plan of the current order) of a run, or None (see module doc).

    The current order's plan is computed without rules (it is what the driver does now)
    and serves as the baseline of the added detour; it is None for a run without
    passengers when ``new`` is None. Legs are fetched lazily, as the search needs them;
    ``known`` = the legs (O -> p, p -> d, d -> D) of the new passenger when the caller
    already has them from ``router`` (the matcher does), so they are not asked again."""
    problem = _Problem(router, origin, destination, t0_s, booked, new, od, max_detour_min, max_shift_min,
                       lazy=True, known=known)
    base = problem.base_order(booked)
    if problem.k == 0:
        return None
    if len(booked) <= REORDER_MAX:
        best = _search(problem)
    else:
        best = None
        seqs = _insertions(base, problem.n) if new is not None else [base]
        for seq in seqs:
            plan = check_sequence(problem, seq)
            if plan is not None and _better(best, plan):
                best = plan
    if best is None:
        return None
    return best, _baseline(problem, base)


def brute_force_tour(
    router: Router, origin: Point, destination: Point, t0_s: float, booked: Sequence[Booked],
    new: Request | None, od: Leg, max_detour_min: float, max_shift_min: float | None = TOUR_MAX_SHIFT_MIN,
) -> tuple[Plan, Plan | None] | None:
    """The oracle of :func:`plan_tour`: every permutation of the stops (≤ REORDER_MAX booked)
    or every pair of insertion positions, each checked in full by :func:`check_sequence`."""
    problem = _Problem(router, origin, destination, t0_s, booked, new, od, max_detour_min, max_shift_min)
    base = problem.base_order(booked)
    if problem.k == 0:
        return None
    if len(booked) <= REORDER_MAX:
        seqs = _every_order(problem.k)
    else:
        seqs = iter(_insertions(base, problem.n) if new is not None else [base])
    best = None
    for seq in seqs:
        plan = check_sequence(problem, seq)
        if plan is not None and _better(best, plan):
            best = plan
    if best is None:
        return None
    return best, _baseline(problem, base)


def _baseline(problem: _Problem, base: list[Code]) -> Plan | None:
    if not base:
        return None
    cur, t, km = 0, 0.0, 0.0
    times = []
    for code in base:
        nxt = problem.point_of(code)
        leg = problem.leg(cur, nxt)
        t += leg.minutes
        km += leg.km
        times.append(t)
        cur = nxt
    last = problem.leg(cur, 1)
    return Plan(tuple(base), tuple(times), t + last.minutes, km + last.km)


def describe(
    plan: Plan, booked: Sequence[Booked], new: Request | None, t0_s: float, tz: str,
) -> tuple[tuple[Stop, ...], tuple[Shift, ...], dict[int, tuple[datetime, datetime]]]:
    """The plan's stops in order (local times), the shifts of booked passengers whose pickup
    or drop-off minute moves, and every booked passenger's new (pickup, drop-off)."""
    stops: list[Stop] = []
    at: dict[tuple[int, int], float] = {}
    local: dict[tuple[int, int], datetime] = {}
    for code, t in zip(plan.codes, plan.times):
        j, kind = code
        s = t0_s + t * 60.0
        at[code] = s
        when = local[code] = epoch_to_local(s, tz)
        if j < len(booked):
            b = booked[j]
            point = b.request.pickup if kind == 0 else b.request.dropoff
            stops.append(Stop("pickup" if kind == 0 else "dropoff", b.booking_id, point, when, b.name))
        else:
            assert new is not None
            point = new.pickup if kind == 0 else new.dropoff
            stops.append(Stop("pickup" if kind == 0 else "dropoff", None, point, when, ""))
    shifts: list[Shift] = []
    times: dict[int, tuple[datetime, datetime]] = {}
    for j, b in enumerate(booked):
        p_after, d_after = local[(j, 0)], local[(j, 1)]
        times[b.booking_id] = (p_after, d_after)
        if _minute(at[(j, 0)]) != _minute(b.pickup_s) or _minute(at[(j, 1)]) != _minute(b.dropoff_s):
            shifts.append(Shift(b.booking_id, b.pickup_at.astimezone(p_after.tzinfo), p_after,
                                b.dropoff_at.astimezone(p_after.tzinfo), d_after, b.name))
    return tuple(stops), tuple(shifts), times


def _minute(s: float) -> int:
    return math.floor(s / 60.0)  # the promise is compared at the minute, truncated
