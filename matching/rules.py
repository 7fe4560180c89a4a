"""The matching rules (one implementation shared by the index path and the oracle).

An occurrence of an offer leaving at ``t0`` serves a request when, along the route
O -> p -> d -> D computed by the router:

* ``detour = m(O,p) + m(p,d) + m(d,D) - m(O,D) <= max_detour_min`` (+ 1e-9);
* ``pickup_at = t0 + m(O,p)`` (``leave_after``) or ``dropoff_at = pickup_at + m(p,d)``
  (``arrive_by``) lies in the request's window, bounds inclusive (1e-9 min tolerance);
* ``offer.seats - seats_taken[(offer.id, local date of t0)] >= request.seats``.

Any occurrence whose pick-up or drop-off can fall in the window is considered, whatever
its date: a run leaving at 23:50 the day before (or just after midnight the day after, for
a late ``leave_after`` window) is a valid candidate, keyed by its own local date. Times
are compared as UTC epoch seconds relative to ``t0``, so the 1e-9 tolerance is meaningful.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from types import MappingProxyType
from collections.abc import Set as AbstractSet

from .model import Candidate, Offer, Request, band_for_detour, epoch_to_local, hhmm, minutes_label
from .router import Leg, Router

EPS: float = 1e-9
"""Tolerance (minutes) on detour and window bounds."""

EMPTY_SEATS: Mapping[tuple[int, date], int] = MappingProxyType({})
EMPTY_IDS: frozenset[int] = frozenset()


class RequestContext:
    """Per-request precomputation shared by all offers examined for that request."""

    __slots__ = (
        "request", "ws", "we", "t", "arrive_by", "pd", "seats_taken", "travelled_with", "tz", "t_label",
    )

    def __init__(
        self,
        request: Request,
        router: Router,
        seats_taken: Mapping[tuple[int, date], int],
        travelled_with: AbstractSet[int],
    ) -> None:
        self.request = request
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
    day = t0.date()
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
    score = (round(detour_min, 1), penalty, not already, t0_s, offer.id)
    reasons: list[str] = []
    if detour_min < 0.5:
        reasons.append("Sans détour")
    else:
        reasons.append(f"Détour {minutes_label(detour_min)} min")
    if ctx.arrive_by:
        reasons.append(f"Arrivée {hhmm(dropoff_s, ctx.tz)} (rendez-vous {ctx.t_label})")
    else:
        reasons.append(f"Prise en charge {hhmm(pickup_s, ctx.tz)} (à partir de {ctx.t_label})")
    if day != request.date:
        reasons.append(f"Départ le {day:%d/%m} à {hhmm(t0_s, tz)}")
    if already:
        reasons.append("Déjà voyagé ensemble")
    reasons.append("1 place libre" if left == 1 else f"{left} places libres")
    return Candidate(
        offer_id=offer.id,
        driver_id=offer.driver_id,
        date=day,
        departure_at=t0,
        pickup_at=epoch_to_local(pickup_s, tz),
        dropoff_at=epoch_to_local(dropoff_s, tz),
        detour_min=detour_min,
        detour_km=detour_km,
        seats_left=left,
        band=band_for_detour(detour_min),
        already_travelled=already,
        score=score,
        reasons=tuple(reasons),
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
) -> list[Candidate]:
    """The oracle: linear scan of every offer and every run near the request's window.

    No index, no pruning beyond the obvious date range; same rules and ordering as
    :meth:`matching.Matcher.candidates`.
    """
    if request.pickup == request.dropoff:
        return []
    ctx = RequestContext(request, router, seats_taken, travelled_with)
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
