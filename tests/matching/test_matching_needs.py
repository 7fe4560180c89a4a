"""Accessibility needs: an offer serves a request only when its driver accepts every need
(exact check in `rules.evaluate`, so the index and the oracle agree)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, time

import pytest
from matching_testutils import fingerprints, load_communes

from matching import (
    Booked,
    CorridorIndex,
    Matcher,
    Offer,
    Recurrence,
    Request,
    StraightLineRouter,
    brute_force_candidates,
)

C = load_communes()
LUZECH, CAHORS, DOUELLE = C["Luzech"], C["Cahors"], C["Douelle"]
MONDAY = date(2026, 3, 16)
ROUTER = StraightLineRouter()


def offer(oid: int, accepts=frozenset()) -> Offer:
    return Offer(oid, 100 + oid, LUZECH, CAHORS, 3, 10,
                 recurrence=Recurrence(frozenset({1, 2, 3, 4, 5}), time(7, 45), date(2026, 1, 1), date(2026, 12, 31)),
                 accepts=accepts)


def request(needs=frozenset(), rid: int = 1) -> Request:
    return Request(rid, 7, DOUELLE, CAHORS, MONDAY, "arrive_by", time(8, 30), 30, needs=needs)


def both(offers, req, tours=None):
    index = CorridorIndex(ROUTER)
    index.bulk_load(offers)
    got = Matcher(ROUTER, index).candidates(req, {}, frozenset(), tours or {})
    want = brute_force_candidates(offers, req, ROUTER, {}, frozenset(), tours or {})
    assert fingerprints(got) == fingerprints(want)
    return got


@pytest.mark.parametrize("needs, accepts, served", [
    (frozenset(), frozenset(), True),
    (frozenset(), frozenset({"assistance_dog"}), True),
    (frozenset({"assistance_dog"}), frozenset(), False),
    (frozenset({"assistance_dog"}), frozenset({"assistance_dog"}), True),
    (frozenset({"assistance_dog", "wheelchair"}), frozenset({"assistance_dog"}), False),
    (frozenset({"assistance_dog", "wheelchair"}), frozenset({"assistance_dog", "wheelchair", "front_seat"}), True),
])
def test_driver_must_accept_every_need(needs, accepts, served):
    got = both([offer(1, accepts)], request(needs))
    assert bool(got) is served
    assert request(needs).unmet_needs(offer(1, accepts)) == (frozenset() if served else needs - accepts)


def test_only_accepting_drivers_among_several():
    offers = [offer(1), offer(2, {"front_seat"}), offer(3, {"front_seat", "boarding_help"})]
    got = both(offers, request({"front_seat"}))
    assert sorted({c.offer_id for c in got}) == [2, 3]
    # the same request without needs: all three
    assert sorted({c.offer_id for c in both(offers, request())}) == [1, 2, 3]


def test_needs_checked_on_a_shared_run_too():
    """A run already carrying someone: the new passenger's needs are checked all the same."""
    first = request(rid=9)
    [cand] = both([offer(1)], first)
    tours = {(1, cand.date): [Booked(1, first, cand.pickup_at, cand.dropoff_at, "Odette")]}
    assert both([offer(1)], request({"wheelchair"}, rid=2), tours) == []
    assert both([offer(1, {"wheelchair"})], request({"wheelchair"}, rid=2), tours)


def test_sets_are_normalised():
    o = replace(offer(1), accepts={"wheelchair"})
    r = Request(1, 7, DOUELLE, CAHORS, MONDAY, "arrive_by", time(8, 30), 30, needs=["wheelchair"])
    assert isinstance(o.accepts, frozenset) and isinstance(r.needs, frozenset)
    assert r.unmet_needs(o) == frozenset()
