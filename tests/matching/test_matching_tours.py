"""Issue #12: a run with passengers is one tour. The indexed matcher (pruned search) equals
the brute-force oracle (every insertion, every order for <= 4 booked) on random worlds with
bookings, and the named cases of the issue hold."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from matching_testutils import BumpyRouter, CeilRouter, fingerprint, load_communes, random_offer, request_near

from matching import (
    REORDER_MAX,
    Booked,
    Candidate,
    CorridorIndex,
    Matcher,
    Offer,
    Point,
    Request,
    StraightLineRouter,
    brute_force_candidates,
)
from matching.router import Router
from matching.tours import TOUR_MAX_SHIFT_MIN, _Problem, brute_force_tour, check_sequence, plan_tour

COMMUNES = load_communes()
PALETTE = [COMMUNES[n] for n in sorted(COMMUNES)][::13]
DAYS = (date(2026, 3, 26), date(2026, 4, 1))  # crosses the 2026-03-29 DST change
ROUTERS: list[Router] = [StraightLineRouter(1.3, 60.0), CeilRouter(), BumpyRouter()]
SETTINGS: dict[str, Any] = dict(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
R = StraightLineRouter(1.3, 60.0)
DAY = date(2026, 12, 7)


def tour_fingerprint(c: Candidate) -> tuple[object, ...]:
    return (
        fingerprint(c), c.total_detour_min,
        tuple((s.kind, s.booking_id, s.point, s.at.timestamp()) for s in c.stops),
        tuple((s.booking_id, s.pickup_before.timestamp(), s.pickup_after.timestamp(),
               s.dropoff_before.timestamp(), s.dropoff_after.timestamp()) for s in c.shifts),
        tuple((b, p.timestamp(), d.timestamp()) for b, p, d in c.new_times),
    )


def book_on(tours: dict, cand: Candidate, booking_id: int, request: Request) -> None:
    """Book ``cand`` the way the app does: the others follow the tour, she joins it."""
    key = (cand.offer_id, cand.date)
    moved = {b: (p, d) for b, p, d in cand.new_times}
    tours[key] = [Booked(b.booking_id, b.request, *moved[b.booking_id]) for b in tours.get(key, [])]
    tours[key].append(Booked(booking_id, request, cand.pickup_at, cand.dropoff_at))


def world(rng: random.Random, router: Router, n_offers: int, n_bookings: int):
    offers = [random_offer(rng, i + 1, DAYS, PALETTE) for i in range(n_offers)]
    offers = [Offer(o.id, o.driver_id, o.origin, o.destination, max(o.seats, 3), max(o.max_detour_min, 10),
                    o.departure, o.recurrence) for o in offers]
    tours: dict = {}
    seats: dict = {}
    rid = 1000
    for _ in range(n_bookings):
        offer = rng.choice(offers)
        days = offer.occurrence_dates(*DAYS)
        if not days:
            continue
        day = days[0] if rng.random() < 0.7 else rng.choice(days)  # a few runs carry most passengers
        if len(tours.get((offer.id, day), [])) >= REORDER_MAX - 1:
            continue
        rid += 1
        req = request_near(rng, rid, offer, day)
        req = Request(req.id, req.passenger_id, req.pickup, req.dropoff, req.date, req.mode, req.time,
                      req.flexibility_min, 1)
        for cand in brute_force_candidates([offer], req, router, seats, tours=tours):
            if cand.date == day:
                book_on(tours, cand, rid, req)
                seats[(offer.id, day)] = seats.get((offer.id, day), 0) + 1
                break
    return offers, tours, seats


@settings(max_examples=200, **SETTINGS)
@given(st.integers(0, 10**9), st.sampled_from(ROUTERS), st.integers(1, 5), st.integers(0, 10))
def test_index_equals_oracle_on_worlds_with_bookings(seed: int, router: Router, n_offers: int, n_bookings: int) -> None:
    rng = random.Random(seed)
    offers, tours, seats = world(rng, router, n_offers, n_bookings)
    index = CorridorIndex(router)
    index.bulk_load(offers)
    matcher = Matcher(router, index)
    on_tours = sorted(tours)
    by_id = {o.id: o for o in offers}
    for rid in range(6):
        if on_tours and rng.random() < 0.8:  # mostly along a run that already carries passengers
            offer_id, day = rng.choice(on_tours)
            offer = by_id[offer_id]
        else:
            offer = rng.choice(offers)
            day = rng.choice(offer.occurrence_dates(*DAYS) or [DAYS[0]])
        req = request_near(rng, rid + 1, offer, day)
        shift = rng.choice([TOUR_MAX_SHIFT_MIN, 3.0, None])
        got = matcher.candidates(req, seats, frozenset(), tours, shift)
        want = brute_force_candidates(offers, req, router, seats, frozenset(), tours, shift)
        assert [tour_fingerprint(c) for c in got] == [tour_fingerprint(c) for c in want]
        event(f"candidates on tours: {sum((c.offer_id, c.date) in tours for c in want) > 0}")
        event(f"shifts reported: {any(c.shifts for c in want)}")
        for c in want:  # the index query keeps every accepted run (bare-route ellipse)
            assert (c.offer_id, c.departure_at.timestamp()) in {(o.id, t0.timestamp()) for o, t0 in index.query(req)}
            if (c.offer_id, c.date) in tours:
                assert c.total_detour_min <= next(o for o in offers if o.id == c.offer_id).max_detour_min + 1e-9
                for sh in c.shifts:
                    if shift is not None:
                        assert abs((sh.pickup_after - sh.pickup_before).total_seconds()) <= shift * 60 + 1e-6


def test_reverse_matching_and_more_than_four_booked_equal_the_oracle() -> None:
    """A minibus with 6 passengers on board: insertion only (no re-ordering), both paths agree."""
    rng = random.Random(7)
    for seed in range(8):
        rng.seed(seed)
        o = Point(44.45, 1.44)
        d = Point(44.45 + rng.uniform(-0.1, 0.1), 1.44 + rng.uniform(0.25, 0.4))
        offer = Offer(1, 1, o, d, seats=8, max_detour_min=30, departure=datetime(2026, 12, 7, 8, 0))
        tours: dict = {}
        for rid in range(1, 12):
            req = request_near(rng, rid, offer, DAY)
            for cand in brute_force_candidates([offer], req, R, {}, tours=tours):
                book_on(tours, cand, rid, req)
        booked = tours.get((1, DAY), [])
        req = request_near(rng, 99, offer, DAY)
        index = CorridorIndex(R)
        index.bulk_load([offer])
        got = Matcher(R, index).candidates(req, {}, frozenset(), tours)
        want = brute_force_candidates([offer], req, R, {}, frozenset(), tours)
        assert [tour_fingerprint(c) for c in got] == [tour_fingerprint(c) for c in want]
        rev = Matcher(R, index).requests_for_offer(offer, [req], {}, tours=tours)
        assert [tour_fingerprint(c) for _, c in rev] == [tour_fingerprint(c) for c in want]
        if len(booked) > REORDER_MAX and want:
            base = sorted([(b.pickup_s, 0, b.booking_id) for b in booked] + [(b.dropoff_s, 1, b.booking_id) for b in booked])
            kept = [(x[2], x[1]) for x in base]
            seq = [(s.booking_id, 0 if s.kind == "pickup" else 1) for s in want[0].stops if s.booking_id is not None]
            assert seq == kept  # the booked stops keep their order


# -- the named cases -------------------------------------------------------------------

O, D = Point(44.45, 1.30), Point(44.45, 1.60)  # about 24 km west -> east, 31 min by this router
T0 = datetime(2026, 12, 7, 8, 0)
OFFER = Offer(1, 1, O, D, seats=3, max_detour_min=10, departure=T0)


def req(rid: int, p: Point, q: Point = D, *, mode: str = "arrive_by", at: time = time(9, 30), flex: int = 120) -> Request:
    return Request(rid, rid, p, q, DAY, mode, at, flex)  # type: ignore[arg-type]


def both(offers, request, tours, shift=TOUR_MAX_SHIFT_MIN) -> list[Candidate]:
    index = CorridorIndex(R)
    index.bulk_load(offers)
    got = Matcher(R, index).candidates(request, {}, frozenset(), tours, shift)
    want = brute_force_candidates(offers, request, R, {}, frozenset(), tours, shift)
    assert [tour_fingerprint(c) for c in got] == [tour_fingerprint(c) for c in want]
    return got


def booked_from(cand: Candidate, booking_id: int, request: Request) -> dict:
    tours: dict = {}
    book_on(tours, cand, booking_id, request)
    return tours


def test_two_passengers_fitting_alone_but_not_together() -> None:
    north, south = req(1, Point(44.525, 1.45)), req(2, Point(44.375, 1.45))
    (a,) = both([OFFER], north, {})
    (b,) = both([OFFER], south, {})
    assert 5 < a.detour_min <= 10 and 5 < b.detour_min <= 10
    assert both([OFFER], south, booked_from(a, 1, north)) == []  # the detours would add up to ~15


def test_second_picked_up_before_the_first_moves_her_within_the_bound() -> None:
    first = req(1, Point(44.45, 1.50))  # on the way, 2/3 along
    (a,) = both([OFFER], first, {})
    tours = booked_from(a, 1, first)
    second = req(2, Point(44.51, 1.36))  # off the road near the start: picked up before her
    (c,) = both([OFFER], second, tours)
    assert [(s.booking_id, s.kind) for s in c.stops] == [(None, "pickup"), (1, "pickup"), (1, "dropoff"), (None, "dropoff")]
    (sh,) = c.shifts
    moved = (sh.pickup_after - sh.pickup_before).total_seconds() / 60
    assert 0 < moved <= TOUR_MAX_SHIFT_MIN and abs(moved - c.detour_min) < 1e-6
    assert c.total_detour_min >= c.detour_min
    # the same geometry with a tighter shift bound: no candidate from that run
    assert both([OFFER], second, tours, shift=moved - 0.5) == []


def test_second_picked_up_before_the_first_beyond_the_bound() -> None:
    wide = Offer(1, 1, O, D, seats=3, max_detour_min=25, departure=T0)
    first = req(1, Point(44.45, 1.50))
    (a,) = both([wide], first, {})
    tours = booked_from(a, 1, first)
    far = req(2, Point(44.56, 1.36))  # a 15-min loop before her: fits the driver, not her promise
    (alone,) = both([wide], far, {})
    assert TOUR_MAX_SHIFT_MIN < alone.detour_min <= 25
    assert both([wide], far, tours) == []
    (anyway,) = both([wide], far, tours, shift=None)  # no shift bound (trip changes): it fits
    assert (anyway.shifts[0].pickup_after - anyway.shifts[0].pickup_before) > timedelta(minutes=10)


def test_a_window_leaves_only_one_insertion_order() -> None:
    first = req(1, Point(44.44, 1.40))
    (a,) = both([OFFER], first, {})
    tours = booked_from(a, 1, first)
    q = Point(44.46, 1.40)  # facing her, across the road: either of them may be picked up first
    t0_s = a.departure_at.timestamp()
    problem = _Problem(R, O, D, t0_s, tours[(1, DAY)], req(2, q), R.leg(O, D), 10, TOUR_MAX_SHIFT_MIN)
    seqs = {"her first": [(0, 0), (1, 0), (1, 1), (0, 1)], "new first": [(1, 0), (0, 0), (1, 1), (0, 1)]}
    at = {name: check_sequence(problem, s).times[s.index((1, 0))] for name, s in seqs.items()}
    # a leave_after window that opens after the "new first" pickup time: only "her first" is valid
    late = at["her first"]
    assert late > at["new first"] + 1
    opens = T0 + timedelta(minutes=int(late))
    second = req(2, q, mode="leave_after", at=opens.time(), flex=3)
    (c,) = both([OFFER], second, tours)
    assert [(s.booking_id, s.kind) for s in c.stops][:2] == [(1, "pickup"), (None, "pickup")]
    problem = _Problem(R, O, D, t0_s, tours[(1, DAY)], second, R.leg(O, D), 10, TOUR_MAX_SHIFT_MIN)
    assert check_sequence(problem, seqs["new first"]) is None and check_sequence(problem, seqs["her first"])
    # and a window closing before "her first": only the other order
    early = T0 + timedelta(minutes=int(at["new first"]))
    second = req(3, q, mode="leave_after", at=early.time(), flex=1)
    (c,) = both([OFFER], second, tours)
    assert [(s.booking_id, s.kind) for s in c.stops][:2] == [(None, "pickup"), (1, "pickup")]


def test_cancellation_shrinks_the_tour() -> None:
    first = req(1, Point(44.45, 1.50))
    (a,) = both([OFFER], first, {})
    tours = booked_from(a, 1, first)
    second = req(2, Point(44.51, 1.36))
    (b,) = both([OFFER], second, tours)
    book_on(tours, b, 2, second)
    third = req(3, Point(44.39, 1.55))
    assert both([OFFER], third, tours) == []  # the tour is full of detour
    # the second passenger cancels: the tour of those left is recomputed
    left = [x for x in tours[(1, DAY)] if x.booking_id != 2]
    od = R.leg(O, D)
    plan, base = plan_tour(R, O, D, a.departure_at.timestamp(), left, None, od, 10)
    assert (plan, base) == brute_force_tour(R, O, D, a.departure_at.timestamp(), left, None, od, 10)
    back = a.departure_at.timestamp() + plan.times[plan.codes.index((0, 0))] * 60
    assert abs(back - a.pickup_at.timestamp()) < 1e-6  # her first pickup time again
    assert plan.total_min < base.total_min + 1e-9
    shrunk = {(1, DAY): [Booked(1, first, a.pickup_at, a.dropoff_at)]}
    (c,) = both([OFFER], third, shrunk)  # and the third passenger fits again
    assert c.total_detour_min <= 10 + 1e-9


def test_four_booked_may_be_reordered() -> None:
    """With four on board every order is tried; the matcher equals the oracle's permutations."""
    rng = random.Random(3)
    big = Offer(1, 1, O, D, seats=6, max_detour_min=30, departure=T0)
    for _ in range(6):
        tours: dict = {}
        for rid in range(1, 5):
            r = req(rid, Point(44.45 + rng.uniform(-0.04, 0.04), rng.uniform(1.32, 1.58)),
                    Point(44.45 + rng.uniform(-0.02, 0.02), rng.uniform(1.45, 1.6)), flex=240)
            for cand in brute_force_candidates([big], r, R, {}, tours=tours):
                book_on(tours, cand, rid, r)
        r = req(9, Point(44.45 + rng.uniform(-0.04, 0.04), rng.uniform(1.32, 1.5)), flex=240)
        both([big], r, tours)
        assert len(tours.get((1, DAY), [])) <= 4
