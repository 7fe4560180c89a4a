"""Matcher: index query + exact rules + ranking, and reverse matching."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import date
from collections.abc import Set as AbstractSet

from .index import CorridorIndex, OfferRecord
from collections.abc import Sequence

from .geo import Point
from .model import Booked, Candidate, Offer, Request
from .router import Leg, Router
from .tours import TOUR_MAX_SHIFT_MIN, LegTable
from .rules import (
    EMPTY_IDS,
    EMPTY_SEATS,
    EMPTY_TOURS,
    RequestContext,
    evaluate,
    occurrence_date_range,
    rank,
)

_EMPTY_TRAVELLED: Mapping[int, AbstractSet[int]] = {}


class _Window:
    """A request's window (UTC epoch seconds): what ``occurrence_date_range`` reads."""

    __slots__ = ("t", "we", "ws")

    def __init__(self, ws: float, we: float, t: float) -> None:
        self.ws, self.we, self.t = ws, we, t


class Matcher:
    """Finds candidates for requests using a :class:`CorridorIndex`.

    ``router`` must be the router the index was built with (same legs, hence results
    identical to :func:`matching.brute_force_candidates` over the indexed offers).
    """

    def __init__(self, router: Router, index: CorridorIndex) -> None:
        if index.router is not router:
            raise ValueError("the matcher and its index must share the same router instance")
        self.router: Router = router
        self.index: CorridorIndex = index

    def candidates(
        self,
        request: Request,
        seats_taken: Mapping[tuple[int, date], int] = EMPTY_SEATS,
        travelled_with: AbstractSet[int] = EMPTY_IDS,
        tours: Mapping[tuple[int, date], Sequence[Booked]] = EMPTY_TOURS,
        max_shift_min: float | None = TOUR_MAX_SHIFT_MIN,
    ) -> list[Candidate]:
        """Ranked candidates (best first) for ``request``.

        ``seats_taken`` maps (offer id, local date of the run) to booked seats;
        ``travelled_with`` holds the driver ids this passenger already travelled with;
        ``tours`` maps (offer id, local date) to the passengers already on that run (see
        :mod:`matching.tours`; the index query is the same: every stop of a feasible tour
        lies in the bare route's ellipse, the exact check does the rest).
        """
        if request.pickup == request.dropoff:
            return []
        hits = self.index.hits(request)
        if not hits:
            return []
        router = self.router
        ctx = RequestContext(request, router, seats_taken, travelled_with, tours, max_shift_min)
        p, d = request.pickup, request.dropoff
        if tours and getattr(router, "prefers_table", False):
            # every leg of the tour checks of this request in one table call (OSRM: one HTTP
            # request); a local router computes each run's few legs directly instead
            points: list = [p, d]
            for offer, _, t0, _ in hits:
                on_run = tours.get((offer.id, t0.date()))
                if on_run:
                    points += [offer.origin, offer.destination]
                    for b in on_run:
                        points += [b.request.pickup, b.request.dropoff]
            if len(points) > 2:
                ctx.router = LegTable(router, points)
                ctx.legs_from_router = False
        # legs O -> p and d -> D by trip end point: many trips leave from or go to the same
        # town hall (a router's leg depends on the two points only)
        to_p: dict[Point, Leg] = {}
        from_d: dict[Point, Leg] = {}
        out: list[Candidate] = []
        for offer, od, t0, t0_s in hits:
            op = to_p.get(offer.origin)
            if op is None:
                op = to_p[offer.origin] = router.leg(offer.origin, p)
            dd = from_d.get(offer.destination)
            if dd is None:
                dd = from_d[offer.destination] = router.leg(d, offer.destination)
            c = evaluate(ctx, offer, t0, t0_s, op, dd, od)
            if c is not None:
                out.append(c)
        return rank(out)

    def requests_for_offer(
        self,
        offer: Offer,
        open_requests: Iterable[Request],
        seats_taken: Mapping[tuple[int, date], int] = EMPTY_SEATS,
        travelled_with_by_passenger: Mapping[int, AbstractSet[int]] = _EMPTY_TRAVELLED,
        tours: Mapping[tuple[int, date], Sequence[Booked]] = EMPTY_TOURS,
        max_shift_min: float | None = TOUR_MAX_SHIFT_MIN,
    ) -> list[tuple[Request, Candidate]]:
        """Reverse matching: which open requests can ``offer`` serve?

        Exact (same rules as :meth:`candidates`); requests are pre-filtered by the
        offer's straight-line detour ellipse. Sorted by (candidate score, request id).
        """
        router = self.router
        rec = OfferRecord(offer, router.leg(offer.origin, offer.destination), self.index.projection,
                          self.index.bound)
        proj = self.index.projection
        trip_max = rec.od.minutes + offer.max_detour_min
        out: list[tuple[Request, Candidate]] = []
        for request in open_requests:
            p, d = request.pickup, request.dropoff
            if p == d:
                continue
            px, py = proj.project(p)
            qx, qy = proj.project(d)
            if not rec.in_ellipse(px, py, qx, qy, math.hypot(qx - px, qy - py)):
                continue
            # the runs near the request's window first: most open requests are on other days,
            # and the request's context (its p -> d leg, labels) is only needed for a run
            first, last = occurrence_date_range(offer, _Window(*request.window_s()), trip_max)
            runs = offer.runs(first, last)
            if not runs:
                continue
            ctx = RequestContext(
                request, router, seats_taken, travelled_with_by_passenger.get(request.passenger_id, EMPTY_IDS),
                tours, max_shift_min,
            )
            op = router.leg(offer.origin, p)
            dd = router.leg(d, offer.destination)
            for t0, t0_s in runs:
                c = evaluate(ctx, offer, t0, t0_s, op, dd, rec.od)
                if c is not None:
                    out.append((request, c))
        out.sort(key=lambda rc: (rc[1].score, rc[0].id))
        return out
