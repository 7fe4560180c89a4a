"""Named scenarios on real communes (town-hall points from communes_lot.csv).

Geometry with StraightLineRouter(1.3, 60), Luzech -> Cahors is 12.7 km as the crow
flies: 16.5 min on the road, so the 07:45 driver reaches Cahors at about 08:01.
Douelle is almost on the way (detour ~0.1 min, arrival ~08:02) and Mercuès is a 3.3 min
detour (arrival ~08:05): both fit "arrive by 08:30, flexibility 30" ([08:00, 08:30]) as
stated, no time had to be adjusted. Cahors -> Luzech against the driver's direction
costs ~33 min of detour (> 10), so it is never served.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from matching_testutils import fingerprints, load_communes

from matching import (
    CorridorIndex,
    Matcher,
    Offer,
    Recurrence,
    Request,
    StraightLineRouter,
    brute_force_candidates,
)

C = load_communes()
ROUTER = StraightLineRouter(1.3, 60.0)
MON_FRI = frozenset({1, 2, 3, 4, 5})
WEEK = [date(2026, 3, 16) + timedelta(days=i) for i in range(7)]  # Monday .. Sunday
LUZECH_CAHORS = Offer(
    id=1, driver_id=10, origin=C["Luzech"], destination=C["Cahors"], seats=3, max_detour_min=10,
    recurrence=Recurrence(MON_FRI, time(7, 45), date(2026, 1, 5), date(2026, 12, 31)),
)


def request(rid: int, frm: str, to: str, day: date, mode: str = "arrive_by", at: time = time(8, 30),
            flex: int = 30) -> Request:
    return Request(rid, 500 + rid, C[frm], C[to], day, mode, at, flex)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    index = CorridorIndex(ROUTER)
    index.bulk_load([LUZECH_CAHORS])
    return Matcher(ROUTER, index)


def check(matcher: Matcher, r: Request) -> list:
    got = matcher.candidates(r)
    assert fingerprints(got) == fingerprints(brute_force_candidates([LUZECH_CAHORS], r, ROUTER))
    return got


@pytest.mark.parametrize("day", WEEK[:5])
def test_douelle_to_cahors_arrive_by_0830(matcher: Matcher, day: date) -> None:
    (c,) = check(matcher, request(1, "Douelle", "Cahors", day))
    assert c.offer_id == 1 and c.driver_id == 10 and c.date == day
    assert (c.departure_at.hour, c.departure_at.minute) == (7, 45)
    assert datetime(2026, 1, 1, 8, 0).time() <= c.dropoff_at.time() <= time(8, 30)
    assert c.detour_min < 0.5 and c.band == "green"
    assert c.reasons == ("Sans détour", "Arrivée 08:02 (rendez-vous 08:30)", "3 places libres")


@pytest.mark.parametrize("day", WEEK[:5])
def test_mercues_to_cahors(matcher: Matcher, day: date) -> None:
    (c,) = check(matcher, request(2, "Mercuès", "Cahors", day))
    assert 3.0 < c.detour_min < 3.5 and c.band == "green"
    assert c.reasons[:2] == ("Détour 3 min", "Arrivée 08:05 (rendez-vous 08:30)")
    (c,) = check(matcher, request(3, "Mercuès", "Cahors", day, "leave_after", time(7, 45), 15))
    assert c.reasons[1] == "Prise en charge 07:56 (à partir de 07:45)"


@pytest.mark.parametrize("day", WEEK)
def test_never_cahors_to_luzech(matcher: Matcher, day: date) -> None:
    assert check(matcher, request(4, "Cahors", "Luzech", day)) == []
    assert check(matcher, request(5, "Cahors", "Luzech", day, "leave_after", time(6, 0), 240)) == []


@pytest.mark.parametrize("day", WEEK[:5])
def test_never_arriving_by_0700(matcher: Matcher, day: date) -> None:
    assert check(matcher, request(6, "Douelle", "Cahors", day, at=time(7, 0))) == []
    assert check(matcher, request(7, "Mercuès", "Cahors", day, at=time(7, 0), flex=60)) == []


@pytest.mark.parametrize("day", WEEK[5:])
def test_never_on_weekends(matcher: Matcher, day: date) -> None:
    assert check(matcher, request(8, "Douelle", "Cahors", day)) == []
    assert check(matcher, request(9, "Mercuès", "Cahors", day, "leave_after", time(6, 0), 240)) == []


def test_reverse_matching_finds_the_two_passengers(matcher: Matcher) -> None:
    monday, saturday = WEEK[0], WEEK[5]
    open_requests = [
        request(11, "Douelle", "Cahors", monday),
        request(12, "Mercuès", "Cahors", monday),
        request(13, "Cahors", "Luzech", monday),
        request(14, "Douelle", "Cahors", monday, at=time(7, 0)),
        request(15, "Douelle", "Cahors", saturday),
    ]
    pairs = matcher.requests_for_offer(LUZECH_CAHORS, open_requests, travelled_with_by_passenger={512: {10}})
    assert [(r.id, c.already_travelled) for r, c in pairs] == [(11, False), (12, True)]


def test_a_2019_line_assier_to_figeac_and_a_long_diagonal() -> None:
    # Assier -> Figeac (opened in 2019) and Souillac -> Figeac, a long diagonal trip
    # whose bounding box covers half the department: a Gramat passenger is on the way,
    # a Cahors one is inside the box but far outside the ellipse.
    offers = [
        Offer(2, 20, C["Assier"], C["Figeac"], 2, 5, departure=datetime(2026, 3, 17, 7, 30)),
        Offer(3, 30, C["Souillac"], C["Figeac"], 3, 10, departure=datetime(2026, 3, 17, 7, 0)),
    ]
    index = CorridorIndex(ROUTER)
    index.bulk_load(offers)
    m = Matcher(ROUTER, index)
    for r, want in [
        (request(21, "Assier", "Figeac", WEEK[1], "leave_after", time(7, 15), 30), [2]),
        (request(22, "Gramat", "Figeac", WEEK[1], "arrive_by", time(8, 30), 60), [3]),
        (request(23, "Cahors", "Figeac", WEEK[1], "arrive_by", time(8, 30), 120), []),
        # Lacapelle-Marival is on the Souillac diagonal (~2 min) but ~11 min off Assier's (> 5)
        (request(24, "Lacapelle-Marival", "Figeac", WEEK[1], "arrive_by", time(8, 15), 45), [3]),
    ]:
        got = m.candidates(r)
        assert fingerprints(got) == fingerprints(brute_force_candidates(offers, r, ROUTER))
        assert sorted(c.offer_id for c in got) == want, r
