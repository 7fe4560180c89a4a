"""The index is a filter, never an approximation: indexed results == linear scan."""

from __future__ import annotations

import random
import threading
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from matching_testutils import (
    BumpyRouter,
    CeilRouter,
    NoBoundRouter,
    assert_index_matches_oracle,
    fingerprints,
    load_communes,
    random_offer,
    random_request,
    random_seats,
    request_near,
)

from matching import (
    CorridorIndex,
    Matcher,
    Offer,
    Point,
    Recurrence,
    Request,
    StraightLineRouter,
    brute_force_candidates,
)
from matching.router import Router

COMMUNES = load_communes()
PALETTE = [COMMUNES[n] for n in sorted(COMMUNES)][::13]  # ~24 real town halls
DAYS = (date(2026, 3, 26), date(2026, 4, 1))  # crosses the 2026-03-29 DST change
ROUTERS: list[Router] = [StraightLineRouter(1.3, 60.0), CeilRouter(), BumpyRouter(), NoBoundRouter()]
SETTINGS: dict[str, Any] = dict(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

lot_points = st.builds(Point, st.floats(44.2, 45.05), st.floats(1.0, 2.2))
points = st.one_of(st.sampled_from(PALETTE), lot_points)
minutes_of_day = st.one_of(st.integers(0, 1439), st.integers(23 * 60, 1439), st.integers(0, 60),
                           st.integers(6 * 60, 10 * 60))
times = minutes_of_day.map(lambda m: time(m // 60, m % 60))
days = st.dates(DAYS[0], DAYS[1])


@st.composite
def offers(draw: st.DrawFn, oid: int) -> Offer:
    o = draw(points)
    d = draw(points.filter(lambda p: p != o))
    common: dict[str, Any] = dict(
        id=oid, driver_id=draw(st.integers(1, 6)), origin=o, destination=d,
        seats=draw(st.sampled_from([0, 1, 2, 4])), max_detour_min=draw(st.sampled_from([0, 1, 5, 10, 20, 45])),
    )
    if draw(st.booleans()):
        return Offer(**common, departure=datetime.combine(draw(days), draw(times)))
    first = draw(st.dates(DAYS[0] - timedelta(days=4), DAYS[1]))
    last = draw(st.dates(first, DAYS[1] + timedelta(days=4)))
    wd = draw(st.frozensets(st.integers(1, 7), min_size=1))
    return Offer(**common, recurrence=Recurrence(wd, draw(times), first, last))


@st.composite
def requests_for(draw: st.DrawFn, pool: list[Offer], rid: int) -> Request:
    """Random requests, or requests drawn along one run of an offer (to get matches)."""
    mode = draw(st.sampled_from(["arrive_by", "leave_after"]))
    seats = draw(st.sampled_from([1, 1, 1, 2, 3]))
    runs = [(o, t0) for o in pool for t0 in o.occurrences(DAYS[0] - timedelta(days=1), DAYS[1] + timedelta(days=1))]
    if runs and draw(st.integers(0, 3)) > 0:
        offer, t0 = draw(st.sampled_from(runs))
        o, d = offer.origin, offer.destination
        f1 = draw(st.sampled_from([0.0, 0.2, 0.5]))
        f2 = draw(st.sampled_from([1.0, 0.6, 0.9]))
        nudge = draw(st.sampled_from([0.0, 0.002, 0.01]))
        p = o if f1 == 0.0 else Point(o.lat + (d.lat - o.lat) * f1 + nudge, o.lon + (d.lon - o.lon) * f1)
        q = d if f2 == 1.0 else Point(o.lat + (d.lat - o.lat) * f2, o.lon + (d.lon - o.lon) * f2 - nudge)
        if mode == "leave_after":
            offset, flex = draw(st.integers(-40, 60)), draw(st.sampled_from([0, 15, 30, 90, 240]))
        else:
            offset, flex = draw(st.integers(0, 150)), draw(st.sampled_from([30, 90, 240]))
        at = t0 + timedelta(minutes=offset)  # wall-clock arithmetic is fine for test data
        return Request(rid, draw(st.integers(1, 5)), p, q, at.date(), mode, at.time().replace(tzinfo=None), flex, seats)
    flex = draw(st.sampled_from([0, 1, 15, 30, 90, 240]))
    return Request(rid, draw(st.integers(1, 5)), draw(points), draw(points), draw(days), mode, draw(times),
                   flex, seats)


def expected_len(offers_: list[Offer]) -> int:
    """One entry per offer, whatever its number of runs."""
    return len(offers_)


@settings(max_examples=300, **SETTINGS)
@given(st.data())
def test_bulk_loaded_index_equals_oracle(data: st.DataObject) -> None:
    router = data.draw(st.sampled_from(ROUTERS), label="router")
    n = data.draw(st.integers(0, 12), label="offers")
    pool = [data.draw(offers(i + 1)) for i in range(n)]
    index = CorridorIndex(router)
    index.bulk_load(pool)
    assert len(index) == expected_len(pool)
    reqs = [data.draw(requests_for(pool, i)) for i in range(6)]
    seats = {(o.id, d): data.draw(st.integers(0, 4)) for o in pool[:2] for d in o.occurrence_dates(*DAYS)}
    travelled = frozenset(data.draw(st.sets(st.integers(1, 6), max_size=3)))
    found = assert_index_matches_oracle(router, index, pool, reqs, seats, travelled)
    event("some candidates" if found else "no candidate")


@settings(max_examples=100, **SETTINGS)
@given(st.data())
def test_incremental_index_equals_oracle(data: st.DataObject) -> None:
    router = data.draw(st.sampled_from(ROUTERS), label="router")
    index = CorridorIndex(router)
    initial = [data.draw(offers(i + 1)) for i in range(data.draw(st.integers(0, 5)))]
    index.bulk_load(initial)
    model = {o.id: o for o in initial}
    next_id = 100
    for _ in range(data.draw(st.integers(1, 12), label="ops")):
        op = data.draw(st.sampled_from(["add", "remove", "update"]) if model else st.just("add"))
        if op == "add":
            o = data.draw(offers(next_id))
            next_id += 1
            index.add(o)
            model[o.id] = o
        elif op == "remove":
            k = data.draw(st.sampled_from(sorted(model)))
            index.remove(k)
            del model[k]
        else:
            k = data.draw(st.sampled_from(sorted(model)))
            o = data.draw(offers(k))
            index.update(o)
            model[k] = o
        assert len(index) == expected_len(list(model.values()))
        assert sorted(model) == [o.id for o in index.offers()]
    pool = list(model.values())
    reqs = [data.draw(requests_for(pool, i)) for i in range(6)]
    found = assert_index_matches_oracle(router, index, pool, reqs)
    event("some candidates" if found else "no candidate")


@settings(max_examples=100, **SETTINGS)
@given(st.data())
def test_reverse_matching_equals_oracle(data: st.DataObject) -> None:
    router = data.draw(st.sampled_from(ROUTERS), label="router")
    offer = data.draw(offers(1))
    reqs = [data.draw(requests_for([offer], i)) for i in range(10)]
    seats = {(1, d): data.draw(st.integers(0, 2)) for d in offer.occurrence_dates(*DAYS)}
    travelled = {r.passenger_id: {offer.driver_id} for r in reqs if r.id % 3 == 0}
    matcher = Matcher(router, CorridorIndex(router))
    got = matcher.requests_for_offer(offer, reqs, seats, travelled)
    want = [
        (r, c)
        for r in reqs
        for c in brute_force_candidates([offer], r, router, seats, frozenset(travelled.get(r.passenger_id, ())))
    ]
    want.sort(key=lambda rc: (rc[1].score, rc[0].id))
    event("some candidates" if want else "no candidate")
    assert [(r.id, *fp) for (r, _), fp in zip(got, fingerprints(c for _, c in got))] == [
        (r.id, *fp) for (r, _), fp in zip(want, fingerprints(c for _, c in want))
    ]


@pytest.mark.parametrize("router", [StraightLineRouter(1.3, 60.0), BumpyRouter()], ids=["straight", "bumpy"])
def test_lot_sized_random_data_equals_oracle(router: Router) -> None:
    rng = random.Random(46)
    days = (date(2026, 10, 20), date(2026, 10, 28))  # crosses the 2026-10-25 DST change
    pool = [random_offer(rng, i + 1, days, PALETTE) for i in range(1500)]
    index = CorridorIndex(router)
    index.bulk_load(pool)
    reqs: list[Request] = []
    for i in range(120):
        if i % 2:
            offer = rng.choice(pool)
            day = offer.departure.date() if offer.departure else days[0] + timedelta(days=rng.randrange(9))
            reqs.append(request_near(rng, i, offer, day))
        else:
            reqs.append(random_request(rng, i, days, PALETTE))
    seats = random_seats(rng, pool, days)
    found = assert_index_matches_oracle(router, index, pool, reqs, seats, frozenset({1, 2, 3}))
    assert found > 50  # the comparison is not vacuous
    # and after a batch of changes
    for k in rng.sample(range(1, 1501), 200):
        index.remove(k)
        pool = [o for o in pool if o.id != k]
    for k in range(2000, 2100):
        o = random_offer(rng, k, days, PALETTE)
        index.add(o)
        pool.append(o)
    assert_index_matches_oracle(router, index, pool, reqs[:60], seats)


def test_no_match_is_lost_for_long_diagonal_trips() -> None:
    # Corner to corner of the Lot with a long detour: huge, mostly empty bounding box.
    router = StraightLineRouter(1.3, 60.0)
    o = Offer(1, 1, Point(44.25, 1.05), Point(45.0, 2.15), 3, 25, departure=datetime(2026, 3, 16, 8, 0))
    index = CorridorIndex(router)
    index.bulk_load([o])
    rng = random.Random(3)
    reqs = [Request(i, 1, Point(rng.uniform(44.2, 45.05), rng.uniform(1.0, 2.2)),
                    Point(rng.uniform(44.2, 45.05), rng.uniform(1.0, 2.2)), date(2026, 3, 16),
                    "leave_after", time(8, 0), 180) for i in range(400)]
    found = assert_index_matches_oracle(router, index, [o], reqs)
    assert found > 0
    assert sum(1 for r in reqs if index.query(r)) < len(reqs)  # and the filter does filter


# -- API behaviour ------------------------------------------------------------------------------


def _offer(oid: int, **kw: Any) -> Offer:
    base: dict[str, Any] = dict(id=oid, driver_id=1, origin=COMMUNES["Luzech"], destination=COMMUNES["Cahors"],
                                seats=3, max_detour_min=10, departure=datetime(2026, 3, 16, 7, 45))
    base.update(kw)
    return Offer(**base)


def test_bulk_load_takes_one_pass_over_a_generator() -> None:
    consumed: list[int] = []

    def stream():  # type: ignore[no-untyped-def]
        for i in range(1, 50):
            consumed.append(i)
            yield _offer(i)

    index = CorridorIndex(StraightLineRouter())
    index.bulk_load(stream())
    assert len(index) == 49 and consumed == list(range(1, 50))
    stats = index.stats()
    assert stats["offers"] == stats["slots"] == 49 and stats["loose"] == 0 and stats["entries"] >= 49


def test_changes_use_tombstones_and_loose_slots_then_compact() -> None:
    # A change never rebuilds: removals mark the slot dead, additions go to the loose list,
    # and past a threshold the grids are recompacted from the arrays; the oracle agrees at
    # every step.
    router = StraightLineRouter(1.3, 60.0)
    rng = random.Random(5)
    days = (date(2026, 3, 26), date(2026, 4, 1))
    pool = {i: random_offer(rng, i, days, PALETTE) for i in range(1, 301)}
    index = CorridorIndex(router)
    index.bulk_load(pool.values())
    reqs = [request_near(rng, i, rng.choice(list(pool.values())), days[0] + timedelta(days=rng.randrange(7)))
            for i in range(40)]
    for k in range(1, 21):
        index.remove(k)
        del pool[k]
        o = random_offer(random.Random(1000 + k), 1000 + k, days, PALETTE)
        index.add(o)
        pool[o.id] = o
    stats = index.stats()
    assert stats["dead"] == 20 and stats["loose"] == 20 and stats["offers"] == 300
    assert_index_matches_oracle(router, index, list(pool.values()), reqs)
    for k in range(1000, 2200):  # past max(1024, n / 8) changes: compacted
        o = random_offer(random.Random(k), 5000 + k, days, PALETTE)
        index.add(o)
        pool[o.id] = o
    stats = index.stats()
    assert stats["loose"] < 1024 and stats["slots"] < 300 + 20 + 1200
    assert_index_matches_oracle(router, index, list(pool.values()), reqs)


def test_index_api_errors_and_len() -> None:
    r = StraightLineRouter()
    index = CorridorIndex(r)
    index.bulk_load([])
    assert len(index) == 0
    req = Request(1, 1, COMMUNES["Douelle"], COMMUNES["Cahors"], date(2026, 3, 16), "arrive_by", time(8, 30), 30)
    assert index.query(req) == []
    index.bulk_load([_offer(5)])
    with pytest.raises(ValueError):
        index.bulk_load([_offer(1), _offer(1)])
    assert len(index) == 0 and index.offers() == [] and index.query(req) == []  # left empty
    index.bulk_load([_offer(1)])
    with pytest.raises(ValueError):
        index.add(_offer(1))
    with pytest.raises(KeyError):
        index.remove(99)
    weekly = _offer(2, departure=None,
                    recurrence=Recurrence(frozenset({1, 2, 3, 4, 5}), time(7, 45), date(2026, 1, 1), date(2026, 12, 31)))
    index.update(weekly)  # unknown id: added (one entry for the whole year of runs)
    assert len(index) == 2 and 2 in index
    index.update(_offer(2))  # regular -> one-off
    assert len(index) == 2
    (o1, t1), (o2, t2) = index.query(req)
    assert (o1.id, o2.id) == (1, 2) and t1 == t2
    index.remove(1)
    assert len(index) == 1 and 1 not in index
    index.remove(2)
    assert len(index) == 0 and index.stats() == {"offers": 0, "slots": 0, "loose": 0, "dead": 0,
                                                 "entries": 0, "cells": 0}  # bookkeeping back to empty
    with pytest.raises(ValueError):
        Matcher(StraightLineRouter(), index)  # another router instance


def test_concurrent_queries_and_updates_are_safe() -> None:
    router = StraightLineRouter()
    rng = random.Random(7)
    days = (date(2026, 3, 16), date(2026, 3, 20))
    pool = [random_offer(rng, i + 1, days, PALETTE) for i in range(300)]
    index = CorridorIndex(router)
    index.bulk_load(pool)
    matcher = Matcher(router, index)
    reqs = [request_near(rng, i, o, days[0]) for i, o in enumerate(pool[:40])]
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            for _ in range(5):
                for r in reqs:
                    matcher.candidates(r)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def writer() -> None:
        try:
            for k in range(1000, 1200):
                index.add(random_offer(random.Random(k), k, days, PALETTE))
                index.remove(k)
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)] + [threading.Thread(target=writer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert_index_matches_oracle(router, index, pool, reqs)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_either_query_point_gives_the_same_result(monkeypatch: pytest.MonkeyPatch, sign: float) -> None:
    # The index takes the grid cell of the pick-up or of the drop-off (whichever lists fewer
    # offers in the time range) and tests the other point afterwards: force both choices.
    monkeypatch.setattr(CorridorIndex, "_use_dropoff", lambda self, span_p, span_q: sign > 0)
    router = StraightLineRouter(1.3, 60.0)
    rng = random.Random(11)
    days = (date(2026, 3, 26), date(2026, 4, 1))
    pool = [random_offer(rng, i + 1, days, PALETTE) for i in range(500)]
    index = CorridorIndex(router)
    index.bulk_load(pool)
    reqs = [request_near(rng, i, rng.choice(pool), days[0] + timedelta(days=rng.randrange(7))) for i in range(80)]
    assert assert_index_matches_oracle(router, index, pool, reqs) > 20
