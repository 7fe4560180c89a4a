"""Edge cases of the matching rules, each checked through the index and the oracle."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta, timezone

import pytest
from matching_testutils import CeilRouter, fingerprints, load_communes

from matching import (
    Candidate,
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

C = load_communes()
LUZECH, CAHORS, DOUELLE, MERCUES = C["Luzech"], C["Cahors"], C["Douelle"], C["Mercuès"]
ALL_DAYS = frozenset(range(1, 8))
MONDAY = date(2026, 3, 16)


def both(
    router: Router,
    offers: Sequence[Offer],
    request: Request,
    seats: Mapping[tuple[int, date], int] | None = None,
    travelled: frozenset[int] = frozenset(),
) -> list[Candidate]:
    """Candidates through the index, asserted identical to the oracle's."""
    index = CorridorIndex(router)
    index.bulk_load(offers)
    got = Matcher(router, index).candidates(request, seats or {}, travelled)
    want = brute_force_candidates(offers, request, router, seats or {}, travelled)
    assert fingerprints(got) == fingerprints(want)
    return got


def one_off(oid: int, o: Point, d: Point, at: datetime, detour: int = 10, seats: int = 3, driver: int = 0) -> Offer:
    return Offer(oid, driver or 100 + oid, o, d, seats, detour, departure=at)


def regular(oid: int, o: Point, d: Point, at: time, days: frozenset[int] = ALL_DAYS, detour: int = 10,
            first: date = date(2026, 1, 1), last: date = date(2027, 12, 31), seats: int = 3) -> Offer:
    return Offer(oid, 100 + oid, o, d, seats, detour, recurrence=Recurrence(days, at, first, last))


def req(p: Point, d: Point, day: date, mode: str, at: time, flex: int, seats: int = 1, rid: int = 1) -> Request:
    return Request(rid, 7, p, d, day, mode, at, flex, seats)  # type: ignore[arg-type]


def utc(c_dt: datetime) -> datetime:
    return c_dt.astimezone(timezone.utc)


# -- geometry edge cases ----------------------------------------------------------------


def test_passenger_at_origin_and_destination_zero_detour() -> None:
    r = StraightLineRouter(1.3, 60.0)
    offer = one_off(1, LUZECH, CAHORS, datetime(2026, 3, 16, 7, 45), detour=0)
    (c,) = both(r, [offer], req(LUZECH, CAHORS, MONDAY, "leave_after", time(7, 45), 0))
    assert c.detour_min == 0.0 and c.detour_km == 0.0 and c.band == "green"
    assert c.pickup_at == c.departure_at
    assert c.dropoff_at.timestamp() == pytest.approx(c.departure_at.timestamp() + r.leg(LUZECH, CAHORS).minutes * 60)
    assert c.reasons[0] == "Sans détour"
    # zero accepted detour: any real detour is refused
    assert both(r, [offer], req(MERCUES, CAHORS, MONDAY, "arrive_by", time(8, 30), 60)) == []


def test_passenger_at_destination_only() -> None:
    r = StraightLineRouter(1.3, 60.0)
    offer = one_off(1, LUZECH, CAHORS, datetime(2026, 3, 16, 7, 45))
    (c,) = both(r, [offer], req(DOUELLE, CAHORS, MONDAY, "arrive_by", time(8, 30), 30))
    assert 0 < c.detour_min < 1
    (c,) = both(r, [offer], req(LUZECH, DOUELLE, MONDAY, "leave_after", time(7, 40), 10))
    assert c.pickup_at == c.departure_at


def test_pickup_equal_dropoff_gives_nothing() -> None:
    r = StraightLineRouter()
    offer = one_off(1, LUZECH, CAHORS, datetime(2026, 3, 16, 7, 45))
    assert both(r, [offer], req(DOUELLE, DOUELLE, MONDAY, "leave_after", time(7, 0), 120)) == []


def test_wrong_direction_is_refused() -> None:
    r = StraightLineRouter()
    offer = one_off(1, LUZECH, CAHORS, datetime(2026, 3, 16, 7, 45), detour=15)
    # Luzech -> Cahors -> Douelle -> Cahors is an 18-minute detour
    assert both(r, [offer], req(CAHORS, DOUELLE, MONDAY, "leave_after", time(7, 0), 120)) == []
    assert len(both(r, [offer], req(DOUELLE, CAHORS, MONDAY, "leave_after", time(7, 0), 120))) == 1


# -- windows touching at one minute (inclusive) ---------------------------------------------


def test_leave_after_boundaries_inclusive() -> None:
    r = CeilRouter()
    offer = one_off(1, LUZECH, CAHORS, datetime(2026, 3, 16, 8, 0))
    assert len(both(r, [offer], req(LUZECH, CAHORS, MONDAY, "leave_after", time(8, 0), 0))) == 1
    assert len(both(r, [offer], req(LUZECH, CAHORS, MONDAY, "leave_after", time(7, 30), 30))) == 1
    assert both(r, [offer], req(LUZECH, CAHORS, MONDAY, "leave_after", time(8, 1), 30)) == []
    assert both(r, [offer], req(LUZECH, CAHORS, MONDAY, "leave_after", time(7, 29), 30)) == []
    # pick-up further along: t0 + m(O, Douelle), whole minutes with CeilRouter
    m = int(r.leg(LUZECH, DOUELLE).minutes)
    pick = (datetime(2026, 3, 16, 8, 0) + timedelta(minutes=m)).time()
    (c,) = both(r, [offer], req(DOUELLE, CAHORS, MONDAY, "leave_after", pick, 0))
    assert c.pickup_at.time() == pick
    late = (datetime(2026, 3, 16, 8, 0) + timedelta(minutes=m + 1)).time()
    assert both(r, [offer], req(DOUELLE, CAHORS, MONDAY, "leave_after", late, 30)) == []


def test_arrive_by_boundaries_inclusive() -> None:
    r = CeilRouter()
    offer = one_off(1, LUZECH, CAHORS, datetime(2026, 3, 16, 8, 0))
    m = int(r.leg(LUZECH, CAHORS).minutes)
    arrival = datetime(2026, 3, 16, 8, 0) + timedelta(minutes=m)
    at = lambda delta: (arrival + timedelta(minutes=delta)).time()  # noqa: E731
    (c,) = both(r, [offer], req(LUZECH, CAHORS, MONDAY, "arrive_by", at(0), 0))
    assert c.dropoff_at.replace(tzinfo=None) == arrival and c.score[1] == 0.0
    (c,) = both(r, [offer], req(LUZECH, CAHORS, MONDAY, "arrive_by", at(30), 30))
    assert c.score[1] == 30.0  # time-fit penalty: T - arrival
    assert both(r, [offer], req(LUZECH, CAHORS, MONDAY, "arrive_by", at(-1), 30)) == []
    assert both(r, [offer], req(LUZECH, CAHORS, MONDAY, "arrive_by", at(31), 30)) == []


def test_detour_boundary_inclusive() -> None:
    r = CeilRouter()
    legs = r.leg(LUZECH, MERCUES).minutes + r.leg(MERCUES, CAHORS).minutes
    detour = int(legs - r.leg(LUZECH, CAHORS).minutes)
    assert detour > 0
    ok = one_off(1, LUZECH, CAHORS, datetime(2026, 3, 16, 7, 45), detour=detour)
    tight = one_off(2, LUZECH, CAHORS, datetime(2026, 3, 16, 7, 45), detour=detour - 1)
    cs = both(r, [ok, tight], req(MERCUES, CAHORS, MONDAY, "arrive_by", time(9, 0), 120))
    assert [c.offer_id for c in cs] == [1] and cs[0].detour_min == detour


# -- around midnight -------------------------------------------------------------------------


def test_run_leaving_the_day_before_midnight() -> None:
    r = StraightLineRouter()
    offer = one_off(1, LUZECH, CAHORS, datetime(2026, 5, 11, 23, 50))
    request = req(DOUELLE, CAHORS, date(2026, 5, 12), "arrive_by", time(0, 30), 30)
    (c,) = both(r, [offer], request)
    assert c.date == date(2026, 5, 11) and c.dropoff_at.date() == date(2026, 5, 12)
    assert "Départ le 11/05 à 23:50" in c.reasons
    # seats are keyed by the run's own local date
    assert len(both(r, [offer], request, seats={(1, date(2026, 5, 12)): 3})) == 1
    assert both(r, [offer], request, seats={(1, date(2026, 5, 11)): 3}) == []
    # same thing with a daily regular trip: only the 11th's run fits
    daily = regular(2, LUZECH, CAHORS, time(23, 50))
    (c,) = both(r, [daily], request)
    assert c.date == date(2026, 5, 11)


def test_run_leaving_just_after_midnight_for_late_leave_after() -> None:
    r = StraightLineRouter()
    daily = regular(1, LUZECH, CAHORS, time(0, 10))
    (c,) = both(r, [daily], req(LUZECH, CAHORS, date(2026, 5, 11), "leave_after", time(23, 55), 30))
    assert c.date == date(2026, 5, 12) and (c.departure_at.hour, c.departure_at.minute) == (0, 10)
    assert both(r, [daily], req(LUZECH, CAHORS, date(2026, 5, 11), "leave_after", time(23, 55), 10)) == []


def test_midnight_run_of_the_day_before_is_found() -> None:
    r = StraightLineRouter()
    daily = regular(1, LUZECH, CAHORS, time(23, 50))
    request = req(DOUELLE, CAHORS, date(2026, 5, 12), "arrive_by", time(0, 30), 30)
    (c,) = both(r, [daily], request)
    assert c.date == date(2026, 5, 11)


@pytest.mark.parametrize("years", [0, 1, 5])
def test_far_dates_cost_no_slow_path(years: int) -> None:
    # No horizon: a run years ahead is one entry, filtered by weekday / date range and time.
    r = StraightLineRouter()
    daily = regular(1, LUZECH, CAHORS, time(7, 45), days=frozenset({1, 2, 3, 4, 5}), last=date(2033, 12, 31))
    monday = MONDAY.replace(year=MONDAY.year + years)
    monday -= timedelta(days=monday.isoweekday() - 1)
    found = both(r, [daily], req(DOUELLE, CAHORS, monday, "arrive_by", time(8, 30), 30))
    assert [c.date for c in found] == [monday]
    assert both(r, [daily], req(DOUELLE, CAHORS, monday + timedelta(days=5), "arrive_by", time(8, 30), 30)) == []


# -- daylight saving time ----------------------------------------------------------------------


@pytest.mark.parametrize("sunday", [date(2026, 3, 29), date(2026, 10, 25), date(2027, 3, 28), date(2027, 10, 31)])
def test_dst_sundays_regular_trip_keeps_local_time(sunday: date) -> None:
    r = StraightLineRouter()
    offer = regular(1, LUZECH, CAHORS, time(7, 45), days=frozenset({1, 7}))
    for day in (sunday - timedelta(days=6), sunday, sunday + timedelta(days=1)):
        (c,) = both(r, [offer], req(DOUELLE, CAHORS, day, "arrive_by", time(8, 30), 30))
        assert c.date == day and (c.departure_at.hour, c.departure_at.minute) == (7, 45)
        assert c.reasons[1] == "Arrivée 08:02 (rendez-vous 08:30)"
    assert both(r, [offer], req(DOUELLE, CAHORS, sunday - timedelta(days=1), "arrive_by", time(8, 30), 30)) == []


def test_dst_gap_and_fold_runs() -> None:
    r = CeilRouter()
    offer = regular(1, LUZECH, CAHORS, time(2, 30))
    # spring: 02:30 does not exist on 2026-03-29, the run leaves at 03:30 CEST
    (c,) = both(r, [offer], req(LUZECH, CAHORS, date(2026, 3, 29), "leave_after", time(3, 0), 60))
    assert (c.departure_at.hour, c.departure_at.minute) == (3, 30)
    assert utc(c.departure_at) == datetime(2026, 3, 29, 1, 30, tzinfo=timezone.utc)
    # autumn: 02:30 happens twice on 2026-10-25, the run takes the first one (CEST)
    (c,) = both(r, [offer], req(LUZECH, CAHORS, date(2026, 10, 25), "leave_after", time(2, 0), 45))
    assert utc(c.departure_at) == datetime(2026, 10, 25, 0, 30, tzinfo=timezone.utc)
    assert both(r, [offer], req(LUZECH, CAHORS, date(2026, 10, 25), "leave_after", time(2, 40), 10)) == []


def test_window_across_spring_forward_is_elapsed_time() -> None:
    r = CeilRouter()
    m = int(r.leg(LUZECH, CAHORS).minutes)
    offer = one_off(1, LUZECH, CAHORS, datetime(2026, 3, 29, 1, 50))  # CET
    (c,) = both(r, [offer], req(LUZECH, CAHORS, date(2026, 3, 29), "arrive_by", time(3, 10), 60))
    arrival_utc = datetime(2026, 3, 29, 0, 50, tzinfo=timezone.utc) + timedelta(minutes=m)
    assert utc(c.dropoff_at) == arrival_utc
    assert c.score[1] == pytest.approx(20 - m)  # 03:10 CEST is 01:10 UTC


# -- seats and schedules ------------------------------------------------------------------------


def test_full_car_and_seats_left() -> None:
    r = StraightLineRouter()
    offer = one_off(1, LUZECH, CAHORS, datetime(2026, 3, 16, 7, 45), seats=2)
    one = req(DOUELLE, CAHORS, MONDAY, "arrive_by", time(8, 30), 30)
    two = req(DOUELLE, CAHORS, MONDAY, "arrive_by", time(8, 30), 30, seats=2)
    assert both(r, [offer], one, seats={(1, MONDAY): 2}) == []
    assert both(r, [offer], two, seats={(1, MONDAY): 1}) == []
    (c,) = both(r, [offer], one, seats={(1, MONDAY): 1})
    assert c.seats_left == 1 and "1 place libre" in c.reasons
    (c,) = both(r, [offer], two)
    assert c.seats_left == 2 and "2 places libres" in c.reasons
    assert both(r, [one_off(2, LUZECH, CAHORS, datetime(2026, 3, 16, 7, 45), seats=0)], one) == []


def test_recurrence_outside_range_or_wrong_weekday() -> None:
    r = StraightLineRouter()
    offer = regular(1, LUZECH, CAHORS, time(7, 45), days=frozenset({1, 2, 3, 4, 5}),
                    first=date(2026, 3, 9), last=date(2026, 3, 20))
    at = lambda day: req(DOUELLE, CAHORS, day, "arrive_by", time(8, 30), 30)  # noqa: E731
    assert len(both(r, [offer], at(date(2026, 3, 9)))) == 1
    assert len(both(r, [offer], at(date(2026, 3, 20)))) == 1
    assert both(r, [offer], at(date(2026, 3, 6))) == []  # Friday before first_date
    assert both(r, [offer], at(date(2026, 3, 23))) == []  # Monday after last_date
    assert both(r, [offer], at(date(2026, 3, 14))) == []  # Saturday
    assert both(r, [offer], at(date(2026, 3, 15))) == []  # Sunday


# -- ranking and reasons ---------------------------------------------------------------------------


def test_ranking_is_deterministic_and_total() -> None:
    r = StraightLineRouter()
    dep = datetime(2026, 3, 16, 7, 45)
    offers = [
        one_off(1, LUZECH, CAHORS, dep, driver=50),               # tiny detour, not travelled
        one_off(2, LUZECH, CAHORS, dep, driver=51),               # same, travelled together
        one_off(3, LUZECH, CAHORS, dep - timedelta(minutes=5), driver=52),  # earlier: worse fit
        one_off(4, LUZECH, CAHORS, dep, driver=50),               # tie with 1 -> offer id
        one_off(5, Point(44.60, 1.30), CAHORS, dep, driver=53),   # bigger detour
    ]
    cs = both(r, offers, req(DOUELLE, CAHORS, MONDAY, "arrive_by", time(8, 30), 40), travelled=frozenset({51}))
    assert [c.offer_id for c in cs] == [2, 1, 4, 3, 5]
    assert cs[0].already_travelled and "Déjà voyagé ensemble" in cs[0].reasons
    assert [c.score for c in cs] == sorted(c.score for c in cs)
    assert cs[-1].reasons[0].startswith("Détour ") and cs[-1].reasons[0].endswith(" min")


def test_reason_strings() -> None:
    r = StraightLineRouter()
    offer = one_off(1, LUZECH, CAHORS, datetime(2026, 3, 16, 7, 45))
    (c,) = both(r, [offer], req(MERCUES, CAHORS, MONDAY, "arrive_by", time(8, 30), 30))
    assert c.reasons == ("Détour 3 min", "Arrivée 08:05 (rendez-vous 08:30)", "3 places libres")
    (c,) = both(r, [offer], req(MERCUES, CAHORS, MONDAY, "leave_after", time(7, 50), 30))
    assert c.reasons[1] == "Prise en charge 07:56 (à partir de 07:50)"
