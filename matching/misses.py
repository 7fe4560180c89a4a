"""Near misses: the runs that *almost* serve a request, and what would make each work.

When a request has no (or few) candidates, the operator needs to know which driver was
close: "arrivée 09:17, 17 min après le rendez-vous", "détour 8 min, le conducteur accepte
5", "complet ce jour-là". A near miss is a run of an offer that fails the exact rules of
:mod:`matching.rules` for **one** reason only, within a bounded slack:

* ``late`` / ``early``: the pickup (``leave_after``) or drop-off (``arrive_by``) computed
  along O -> p -> d -> D falls outside the passenger's window by at most
  ``window_slack_min``; the fix is a new target time or flexibility (see :class:`Miss`);
* ``detour``: the route fits the window but its detour exceeds the driver's accepted
  detour by at most ``detour_slack_min`` (the fix is to ask the driver);
* ``full``: the route fits (detour and window) but the run has no free seat left.

Runs already carrying passengers are only reported as ``full`` (their tour is not
re-planned here). Runs that are candidates (``exclude``) never appear.

Bounded cost: the caller gives the runs to examine, typically the hits of a corridor
index built with every offer's detour widened by ``detour_slack_min`` and queried with the
window widened by ``window_slack_min`` (:func:`widen_offer`, :func:`widen_request`), so
nothing outside that widened corridor is looked at. Pure: no Flask, no SQLAlchemy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Literal

from .model import Booked, Offer, Request, epoch_to_local, hhmm, minutes_label
from .router import Router
from .rules import EMPTY_SEATS, EMPTY_TOURS, EPS

WINDOW_SLACK_MIN = 60.0
DETOUR_SLACK_MIN = 20.0
MAX_FLEXIBILITY_MIN = 240

Kind = Literal["late", "early", "detour", "full"]


@dataclass(frozen=True, slots=True)
class Miss:
    """One run that nearly serves the request.

    ``amount_min`` is how much must change (window minutes, extra detour minutes; 0 for
    ``full``). For a window miss, ``new_target`` (aware local) and ``new_flexibility_min``
    are the request's target and flexibility that make this run fit (the smallest change:
    the time moves for a late arrival or an early departure, the flexibility grows for an
    early arrival or a late pickup). ``reason`` is the operator's French sentence.
    """

    offer_id: int
    driver_id: int
    date: date
    kind: Kind
    amount_min: float
    departure_at: datetime
    pickup_at: datetime
    dropoff_at: datetime
    detour_min: float
    max_detour_min: int
    reason: str
    new_target: datetime | None = None
    new_flexibility_min: int | None = None

    @property
    def score(self) -> tuple[bool, float, float, float, int]:
        """Least change first (window or detour minutes alike), full runs last."""
        return (self.kind == "full", round(self.amount_min, 1), self.detour_min, self.departure_at.timestamp(),
                self.offer_id)


def widen_offer(offer: Offer, detour_slack_min: float = DETOUR_SLACK_MIN) -> Offer:
    """The offer with its accepted detour widened (to index a wider corridor)."""
    return replace(offer, max_detour_min=math.ceil(offer.max_detour_min + detour_slack_min))


def widen_request(request: Request, window_slack_min: float = WINDOW_SLACK_MIN) -> Request:
    """A request whose window covers the request's window widened by the slack each side
    (same mode; the date and time follow the shifted target)."""
    slack = math.ceil(window_slack_min)
    target = request.target()
    shifted = target + timedelta(minutes=slack) if request.mode == "arrive_by" else target - timedelta(minutes=slack)
    shifted = shifted.replace(tzinfo=None)
    return replace(request, date=shifted.date(), time=shifted.time().replace(second=0, microsecond=0),
                   flexibility_min=request.flexibility_min + 2 * slack)


def _ceil_min(seconds: float) -> float:
    return math.ceil(seconds / 60.0 - 1e-9) * 60.0


def _floor_min(seconds: float) -> float:
    return math.floor(seconds / 60.0 + 1e-9) * 60.0


def near_misses(
    request: Request,
    runs: Iterable[tuple[Offer, datetime, float]],
    router: Router,
    seats_taken: Mapping[tuple[int, date], int] = EMPTY_SEATS,
    tours: Mapping[tuple[int, date], Sequence[Booked]] = EMPTY_TOURS,
    exclude: Iterable[tuple[int, date]] = (),
    window_slack_min: float = WINDOW_SLACK_MIN,
    detour_slack_min: float = DETOUR_SLACK_MIN,
    limit: int = 5,
) -> list[Miss]:
    """The near misses among ``runs`` ((offer with its *own* detour budget, departure,
    departure epoch seconds)), least change first, at most ``limit``."""
    if request.pickup == request.dropoff:
        return []
    skip = set(exclude)
    ws, we, t = request.window_s()
    arrive_by = request.mode == "arrive_by"
    tz = request.tz
    pd = router.leg(request.pickup, request.dropoff)
    t_label = hhmm(t, tz)
    best: dict[tuple[int, date], Miss] = {}
    legs: dict[int, tuple] = {}
    for offer, t0, t0_s in runs:
        day = t0.date()
        if (offer.id, day) in skip or (offer.id, day) in best:
            continue
        pair = legs.get(offer.id)
        if pair is None:
            pair = legs[offer.id] = (router.leg(offer.origin, request.pickup),
                                     router.leg(request.dropoff, offer.destination),
                                     router.leg(offer.origin, offer.destination))
        op, dd, od = pair
        detour = max(0.0, op.minutes + pd.minutes + dd.minutes - od.minutes)
        extra = detour - offer.max_detour_min
        pickup_s = t0_s + op.minutes * 60.0
        dropoff_s = pickup_s + pd.minutes * 60.0
        x = dropoff_s if arrive_by else pickup_s
        early = (ws - x) / 60.0
        late = (x - we) / 60.0
        left = offer.seats - seats_taken.get((offer.id, day), 0)
        booked = tours.get((offer.id, day), ()) if tours else ()
        problems = []
        if extra > EPS:
            problems.append("detour")
        if early > EPS:
            problems.append("early")
        if late > EPS:
            problems.append("late")
        no_seat = left < request.seats
        common = {"offer_id": offer.id, "driver_id": offer.driver_id, "date": day, "departure_at": t0,
                  "pickup_at": epoch_to_local(pickup_s, tz), "dropoff_at": epoch_to_local(dropoff_s, tz),
                  "detour_min": detour, "max_detour_min": offer.max_detour_min}
        miss: Miss | None = None
        if not problems:
            if no_seat:
                miss = Miss(kind="full", amount_min=0.0, reason=f"Complet ce jour-là ({day:%d/%m})", **common)
            # fits with a seat: a real candidate (or a run with passengers whose tour did not fit)
        elif len(problems) == 1 and not no_seat and not booked:
            kind = problems[0]
            if kind == "detour" and extra <= detour_slack_min + EPS:
                miss = Miss(kind="detour", amount_min=extra,
                            reason=f"Détour {minutes_label(detour)} min, le conducteur accepte {offer.max_detour_min}",
                            **common)
            elif kind in ("early", "late") and (early if kind == "early" else late) <= window_slack_min + EPS:
                miss = _window_miss(request, kind, early if kind == "early" else late, x, t, t_label, common)
        if miss is not None:
            best[(offer.id, day)] = miss
    out = sorted(best.values(), key=lambda m: m.score)
    return out[:limit]


def _window_miss(request: Request, kind: str, amount: float, x: float, t: float, t_label: str,
                 common: dict) -> Miss | None:
    """The window miss and the smallest change to the request that makes the run fit."""
    tz = request.tz
    flex = request.flexibility_min
    at = hhmm(x, tz)
    gap = minutes_label(abs(x - t) / 60.0)
    if request.mode == "arrive_by":
        if kind == "late":  # the appointment would have to be later: move the time
            new_t = _ceil_min(x)
            new_flex = flex if flex >= 1 or new_t == x else 1
            reason = f"Arrivée {at}, {gap} min après le rendez-vous ({t_label})"
        else:  # arrives too early: more flexibility
            new_t = t
            new_flex = math.ceil((t - x) / 60.0 - 1e-9)
            reason = f"Arrivée {at}, {gap} min avant le rendez-vous ({t_label}, souplesse {flex} min)"
    else:
        if kind == "early":  # leaves before the wanted time: move the time
            new_t = _floor_min(x)
            new_flex = flex if flex >= 1 or new_t == x else 1
            reason = f"Départ {at}, {gap} min avant l'heure voulue ({t_label})"
        else:  # picked up after the window: more flexibility
            new_t = t
            new_flex = math.ceil((x - t) / 60.0 - 1e-9)
            reason = f"Départ {at}, {gap} min après l'heure voulue ({t_label}, souplesse {flex} min)"
    if new_flex > MAX_FLEXIBILITY_MIN:
        return None
    return Miss(kind=kind, amount_min=amount, reason=reason, new_target=epoch_to_local(new_t, tz),
                new_flexibility_min=new_flex, **common)
