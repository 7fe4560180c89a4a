"""MatrixRouter: place legs from plain arrays, other legs from the engine (cached), exact
against the oracle."""

from __future__ import annotations

import math
import random
from array import array
from datetime import date

import pytest
from matching_testutils import (
    BumpyRouter,
    assert_index_matches_oracle,
    load_communes,
    random_offer,
    random_request,
)

from matching import CorridorIndex, Leg, MatrixRouter, Point, SpeedBound


class CountingRouter:
    def __init__(self) -> None:
        self.base = BumpyRouter()
        self.bound = self.base.bound
        self.calls = 0

    def leg(self, a: Point, b: Point) -> Leg:
        self.calls += 1
        return self.base.leg(a, b)


def _matrix(points: list[Point], engine, skip: set[tuple[int, int]] = frozenset()) -> MatrixRouter:
    n = len(points)
    minutes = array("d", [math.nan]) * (n * n)
    km = array("d", [math.nan]) * (n * n)
    for i, a in enumerate(points):
        for j, b in enumerate(points):
            if i != j and (i, j) not in skip:
                leg = engine.base.leg(a, b)
                minutes[i * n + j], km[i * n + j] = leg.minutes, leg.km
    return MatrixRouter(points, minutes, km, engine)


def test_places_are_looked_up_and_others_asked_once():
    towns = list(load_communes().values())[:30]
    engine = CountingRouter()
    router = _matrix(towns, engine, skip={(0, 1)})
    assert router.places == 30 and router.pairs() == 30 * 29 - 1
    assert router.bound == engine.bound
    assert router.leg(towns[2], towns[3]) == engine.base.leg(towns[2], towns[3])
    assert engine.calls == 0 and router.matrix_hits == 1
    # a pair the matrix lacks, and an address: the engine once each, then the cache
    address = Point(44.5, 1.44)
    for _ in range(3):
        assert router.leg(towns[0], towns[1]) == engine.base.leg(towns[0], towns[1])
        assert router.leg(address, towns[5]) == engine.base.leg(address, towns[5])
    assert engine.calls == 2 and router.engine_calls == 2 and router.cache_len == 2
    assert router.leg(towns[4], towns[4]) == Leg(0.0, 0.0)
    assert router.lookup(address, towns[5]) is None


def test_cache_is_bounded():
    towns = list(load_communes().values())[:3]
    engine = CountingRouter()
    router = MatrixRouter(towns, [math.nan] * 9, [math.nan] * 9, engine, cache_size=2)
    for lat in (44.1, 44.2, 44.3, 44.1):
        router.leg(Point(lat, 1.5), towns[0])
    assert router.cache_len == 2 and engine.calls == 4   # 44.1 was evicted, asked again


def test_bad_tables_are_refused():
    with pytest.raises(ValueError, match="2 x 2"):
        MatrixRouter([Point(44, 1), Point(44.1, 1)], [1.0], [1.0], CountingRouter())
    explicit = SpeedBound(130.0)
    assert MatrixRouter([], [], [], CountingRouter(), bound=explicit).bound is explicit


def test_index_with_matrix_router_equals_oracle():
    rng = random.Random(1919)
    towns = list(load_communes().values())
    palette = rng.sample(towns, 60)
    engine = CountingRouter()
    router = _matrix(palette, engine, skip={(i, j) for i in range(60) for j in range(60) if (i + j) % 7 == 0})
    days = (date(2026, 12, 7), date(2026, 12, 20))
    offers = [random_offer(rng, i, days, palette) for i in range(1, 301)]
    index = CorridorIndex(router)  # one entry per trip, no horizon (issue #13)
    index.bulk_load(offers)
    requests = [random_request(rng, i, days, palette) for i in range(1, 121)]
    assert assert_index_matches_oracle(router, index, offers, requests) > 0
    assert router.matrix_hits > 0 and router.engine_calls > 0
