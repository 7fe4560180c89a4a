"""The matching rules (one implementation shared by the index path and the oracle).

An occurrence (run) of an offer leaving at ``t0`` **without passengers** serves a request
when, along the route O -> p -> d -> D computed by the router:

* ``detour = m(O,p) + m(p,d) + m(d,D) - m(O,D) <= max_detour_min`` (+ 1e-9);
* ``pickup_at = t0 + m(O,p)`` (``leave_after``) or ``dropoff_at = pickup_at + m(p,d)``
  (``arrive_by``) lies in the request's window, bounds inclusive (1e-9 min tolerance);
* ``offer.seats - seats_taken[(offer.id, local date of t0)] >= request.seats``;
* the driver accepts every need of the passenger: ``request.needs <= offer.accepts``.
* the local date of ``t0`` is not one of the offer's ``skip_dates``.

Any occurrence whose pick-up or drop-off can fall in the window is considered, whatever
its date: a run leaving at 23:50 the day before (or just after midnight the day after, for
a late ``leave_after`` window) is a valid candidate, keyed by its own local date. Times
are compared as UTC epoch seconds relative to ``t0``, so the 1e-9 tolerance is meaningful.

A run **with passengers** (``tours[(offer.id, local date)]``, a sequence of
:class:`~matching.model.Booked`) is one tour: the new pickup and drop-off must be
inserted into the run's stop sequence under the rules of :mod:`matching.tours` (whole
tour's detour within ``max_detour_min``, every window met, booked pickups moved by at
most ``max_shift_min``); the least added time wins and the candidate's ``detour_min`` is
the detour this passenger adds. The matcher uses :func:`matching.tours.plan_tour`, the
oracle :func:`matching.tours.brute_force_tour` (every insertion / every order).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from types import MappingProxyType
from collections.abc import Set as AbstractSet

from collections.abc import Sequence

from .model import Booked, Candidate, Offer, Request, Stop, band_for_detour, epoch_to_local, hhmm, minutes_label
from .router import Leg, Router
from .tours import TOUR_MAX_SHIFT_MIN, brute_force_tour, describe, plan_tour

EPS: float = 1e-9
"""Tolerance (minutes) on detour and window bounds."""

EMPTY_SEATS: Mapping[tuple[int, date], int] = MappingProxyType({})
EMPTY_IDS: frozenset[int] = frozenset()
EMPTY_TOURS: Mapping[tuple[int, date], Sequence[Booked]] = MappingProxyType({})


class RequestContext:
    """Per-request precomputation shared by all offers examined for that request."""

    __slots__ = (
        "request", "ws", "we", "t", "arrive_by", "pd", "seats_taken", "travelled_with", "tz", "t_label",
        "router", "tours", "max_shift_min", "planner", "legs_from_router",
    )

    def __init__(
        self,
        request: Request,
        router: Router,
        seats_taken: Mapping[tuple[int, date], int],
        travelled_with: AbstractSet[int],
        tours: Mapping[tuple[int, date], Sequence[Booked]] = EMPTY_TOURS,
        max_shift_min: float | None = TOUR_MAX_SHIFT_MIN,
        oracle: bool = False,
    ) -> None:
        self.request = request
        self.router = router
        self.tours = tours
        self.max_shift_min = max_shift_min
        self.planner = brute_force_tour if oracle else plan_tour
        self.legs_from_router = True
        """The O -> p, d -> D legs handed to :func:`evaluate` come from ``router`` (False once
        the matcher swaps ``router`` for a :class:`~matching.tours.LegTable`)."""
        self.ws, self.we, self.t = request.window_s()
        self.arrive_by = request.mode == "arrive_by"
        self.pd: Leg = router.leg(request.pickup, request.dropoff)
        self.seats_taken = seats_taken
        self.travelled_with = travelled_with
        self.tz = request.tz
        self.t_label = hhmm(self.t, request.tz)


def evaluate(
    ctx: RequestContext, offer: Offer, t0: datetime, t0_s: float, op: Leg, dd: Leg, od: Leg
) -> Candidate | None:
    """Exact check of one occurrence (departure ``t0``, ``t0_s`` = its epoch seconds).

    ``op`` = leg O->p, ``dd`` = leg d->D, ``od`` = leg O->D. Returns the candidate or None.
    """
    if ctx.request.needs and not ctx.request.needs <= offer.accepts:
        return None  # the driver does not accept all the passenger's needs (Request.unmet_needs)
    day = t0.date()
    if offer.skip_dates and day in offer.skip_dates:
        return None  # the driver cancelled that date (the index may still return the run)
    booked = ctx.tours.get((offer.id, day), ()) if ctx.tours else ()
    if booked:
        return _evaluate_tour(ctx, offer, t0, t0_s, od, booked, op, dd)
    pd = ctx.pd
    detour_min = op.minutes + pd.minutes + dd.minutes - od.minutes
    if detour_min > offer.max_detour_min + EPS:
        return None
    pickup_rel = op.minutes
    dropoff_rel = op.minutes + pd.minutes
    lo = (ctx.ws - t0_s) / 60.0
    hi = (ctx.we - t0_s) / 60.0
    x = dropoff_rel if ctx.arrive_by else pickup_rel
    if x < lo - EPS or x > hi + EPS:
        return None
    request = ctx.request
    left = offer.seats - ctx.seats_taken.get((offer.id, day), 0)
    if left < request.seats:
        return None
    t_rel = (ctx.t - t0_s) / 60.0
    penalty = max(0.0, t_rel - dropoff_rel) if ctx.arrive_by else max(0.0, pickup_rel - t_rel)
    already = offer.driver_id in ctx.travelled_with
    detour_min = max(0.0, detour_min)
    detour_km = max(0.0, op.km + pd.km + dd.km - od.km)
    pickup_s = t0_s + pickup_rel * 60.0
    dropoff_s = t0_s + dropoff_rel * 60.0
    tz = offer.tz
    pickup_at = epoch_to_local(pickup_s, tz)
    dropoff_at = epoch_to_local(dropoff_s, tz)
    stops = (Stop("pickup", None, request.pickup, pickup_at), Stop("dropoff", None, request.dropoff, dropoff_at))
    score = (round(detour_min, 1), penalty, not already, t0_s, offer.id)
    reasons: list[str] = []
    if detour_min < 0.5:
        reasons.append("Sans détour")
    else:
        reasons.append(f"Détour {minutes_label(detour_min)} min")
    reasons += _time_reasons(ctx, day, t0_s, pickup_s, dropoff_s, tz)
    if already:
        reasons.append("Déjà voyagé ensemble")
    reasons.append("1 place libre" if left == 1 else f"{left} places libres")
    return Candidate(
        offer_id=offer.id,
        driver_id=offer.driver_id,
        date=day,
        departure_at=t0,
        pickup_at=pickup_at,
        dropoff_at=dropoff_at,
        detour_min=detour_min,
        detour_km=detour_km,
        seats_left=left,
        band=band_for_detour(detour_min),
        already_travelled=already,
        score=score,
        reasons=tuple(reasons),
        total_detour_min=detour_min,
        stops=stops,
    )


def _time_reasons(ctx: RequestContext, day: date, t0_s: float, pickup_s: float, dropoff_s: float,
                  tz: str) -> list[str]:
    """When the passenger is picked up (or arrives) against her window, and the departure's
    date when it is not her day (shared by the lone-passenger and the tour checks)."""
    if ctx.arrive_by:
        out = [f"Arrivée {hhmm(dropoff_s, ctx.tz)} (rendez-vous {ctx.t_label})"]
    else:
        out = [f"Prise en charge {hhmm(pickup_s, ctx.tz)} (à partir de {ctx.t_label})"]
    if day != ctx.request.date:
        out.append(f"Départ le {day:%d/%m} à {hhmm(t0_s, tz)}")
    return out


def _evaluate_tour(
    ctx: RequestContext, offer: Offer, t0: datetime, t0_s: float, od: Leg, booked: Sequence[Booked],
    op: Leg, dd: Leg,
) -> Candidate | None:
    """Exact check of a run that already carries ``booked`` passengers (one tour)."""
    request = ctx.request
    day = t0.date()
    left = offer.seats - ctx.seats_taken.get((offer.id, day), 0)
    if left < request.seats:
        return None
    if ctx.planner is plan_tour and ctx.legs_from_router:
        # the search reuses the legs this request already has (same router, same numbers)
        found = plan_tour(ctx.router, offer.origin, offer.destination, t0_s, booked, request, od,
                          offer.max_detour_min, ctx.max_shift_min, known=(op, ctx.pd, dd))
    else:
        found = ctx.planner(ctx.router, offer.origin, offer.destination, t0_s, booked, request, od,
                            offer.max_detour_min, ctx.max_shift_min)
    if found is None:
        return None
    plan, base = found
    assert base is not None
    n = len(booked)
    pickup_rel = plan.times[plan.codes.index((n, 0))]
    dropoff_rel = plan.times[plan.codes.index((n, 1))]
    added = max(0.0, plan.total_min - base.total_min)
    total = max(0.0, plan.total_min - od.minutes)
    detour_km = max(0.0, plan.total_km - base.total_km)
    t_rel = (ctx.t - t0_s) / 60.0
    penalty = max(0.0, t_rel - dropoff_rel) if ctx.arrive_by else max(0.0, pickup_rel - t_rel)
    already = offer.driver_id in ctx.travelled_with
    pickup_s = t0_s + pickup_rel * 60.0
    dropoff_s = t0_s + dropoff_rel * 60.0
    tz = offer.tz
    stops, shifts, times = describe(plan, booked, request, t0_s, tz)
    # the new passenger's two stops carry her local times (the same sums as pickup_s / dropoff_s)
    mine = [st.at for st in stops if st.booking_id is None]
    score = (round(added, 1), penalty, not already, t0_s, offer.id)
    reasons = [f"Détour ajouté {minutes_label(added)} min (total {minutes_label(total)} / {offer.max_detour_min})"]
    reasons += _time_reasons(ctx, day, t0_s, pickup_s, dropoff_s, tz)
    reasons.append("1 passager déjà à bord" if n == 1 else f"{n} passagers déjà à bord")
    for sh in shifts:
        who = sh.name or f"Réservation {sh.booking_id}"
        reasons.append(f"{who} : {hhmm(sh.pickup_before.timestamp(), tz)} → {hhmm(sh.pickup_after.timestamp(), tz)}")
    if already:
        reasons.append("Déjà voyagé ensemble")
    reasons.append("1 place libre" if left == 1 else f"{left} places libres")
    return Candidate(
        offer_id=offer.id,
        driver_id=offer.driver_id,
        date=day,
        departure_at=t0,
        pickup_at=mine[0],
        dropoff_at=mine[1],
        detour_min=added,
        detour_km=detour_km,
        seats_left=left,
        band=band_for_detour(added),
        already_travelled=already,
        score=score,
        reasons=tuple(reasons),
        total_detour_min=total,
        stops=stops,
        shifts=shifts,
        new_times=tuple((bid, p, d) for bid, (p, d) in times.items()),
    )


def local_date(seconds: float, tz: str) -> date:
    return epoch_to_local(seconds, tz).date()


def occurrence_date_range(offer: Offer, ctx: RequestContext, trip_max_min: float) -> tuple[date, date]:
    """Local dates of every run of ``offer`` that could serve the request: departures in
    [window start - longest possible trip, window end], widened by one day each side."""
    first = local_date(ctx.ws - trip_max_min * 60.0, offer.tz) - timedelta(days=1)
    last = local_date(ctx.we, offer.tz) + timedelta(days=1)
    return first, last


def rank(candidates: list[Candidate]) -> list[Candidate]:
    candidates.sort(key=_score)
    return candidates


def _score(c: Candidate) -> tuple[float, float, bool, float, int]:
    return c.score


def brute_force_candidates(
    offers: Iterable[Offer],
    request: Request,
    router: Router,
    seats_taken: Mapping[tuple[int, date], int] = EMPTY_SEATS,
    travelled_with: AbstractSet[int] = EMPTY_IDS,
    tours: Mapping[tuple[int, date], Sequence[Booked]] = EMPTY_TOURS,
    max_shift_min: float | None = TOUR_MAX_SHIFT_MIN,
) -> list[Candidate]:
    """The oracle: linear scan of every offer and every run near the request's window.

    No index, no pruning beyond the obvious date range; runs with passengers are checked
    by :func:`matching.tours.brute_force_tour` (every insertion, every order for at most
    four booked passengers). Same rules and ordering as :meth:`matching.Matcher.candidates`.
    """
    if request.pickup == request.dropoff:
        return []
    ctx = RequestContext(request, router, seats_taken, travelled_with, tours, max_shift_min, oracle=True)
    out: list[Candidate] = []
    for offer in offers:
        od = router.leg(offer.origin, offer.destination)
        first, last = occurrence_date_range(offer, ctx, od.minutes + offer.max_detour_min)
        runs = offer.runs(first, last)
        if not runs:
            continue
        op = router.leg(offer.origin, request.pickup)
        dd = router.leg(request.dropoff, offer.destination)
        for t0, t0_s in runs:
            c = evaluate(ctx, offer, t0, t0_s, op, dd, od)
            if c is not None:
                out.append(c)
    return rank(out)
