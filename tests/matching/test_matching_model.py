"""Geometry, routers, value objects and local-time rules."""

from __future__ import annotations

import math
from zoneinfo import ZoneInfo
from datetime import date, datetime, time, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching import (
    Leg,
    Offer,
    Point,
    Projection,
    Recurrence,
    Request,
    StraightLineRouter,
    band_for_detour,
    haversine_km,
    localize,
)
from matching.geo import ellipse_bbox
from matching.model import hhmm

lats = st.floats(44.2, 45.05)
lons = st.floats(1.0, 2.2)
points = st.builds(Point, lats, lons)
world_points = st.builds(Point, st.floats(-89.0, 89.0), st.floats(-179.0, 179.0))
PARIS_OFFSETS = {timedelta(hours=1), timedelta(hours=2)}


# -- geometry ---------------------------------------------------------------------------


def test_haversine_known_distance() -> None:
    cahors, figeac = Point(44.447, 1.441), Point(44.61, 2.035)
    assert haversine_km(cahors, figeac) == pytest.approx(50.4, abs=0.5)
    assert haversine_km(cahors, cahors) == 0.0


@settings(max_examples=300, deadline=None, database=None)
@given(world_points, world_points, world_points)
def test_projection_never_lengthens(a: Point, b: Point, c: Point) -> None:
    proj = Projection(c)
    (ax, ay), (bx, by) = proj.project(a), proj.project(b)
    assert math.hypot(ax - bx, ay - by) <= haversine_km(a, b) * (1 + 1e-12) + 1e-9


@settings(max_examples=200, deadline=None, database=None)
@given(points, points)
def test_projection_is_tight_around_the_lot(a: Point, b: Point) -> None:
    proj = Projection()
    (ax, ay), (bx, by) = proj.project(a), proj.project(b)
    # absolute slack too: two points 1e-14 km apart differ by float rounding, not by the projection
    assert math.hypot(ax - bx, ay - by) >= haversine_km(a, b) * (1 - 1e-3) - 1e-9


@settings(max_examples=200, deadline=None, database=None)
@given(
    st.floats(-50, 50), st.floats(-50, 50), st.floats(-50, 50), st.floats(-50, 50),
    st.floats(0, 40), st.floats(0, 2 * math.pi), st.floats(0, 1),
)
def test_ellipse_bbox_contains_the_ellipse(x1: float, y1: float, x2: float, y2: float, slack: float,
                                           angle: float, r: float) -> None:
    focal = math.hypot(x2 - x1, y2 - y1)
    total = focal + slack
    x0, y0, x3, y3 = ellipse_bbox(x1, y1, x2, y2, total)
    a = total / 2
    b = math.sqrt(max(a * a - (focal / 2) ** 2, 0))
    ux, uy = ((x2 - x1) / focal, (y2 - y1) / focal) if focal else (1.0, 0.0)
    u, v = a * r * math.cos(angle), b * r * math.sin(angle)
    px = (x1 + x2) / 2 + u * ux - v * uy
    py = (y1 + y2) / 2 + u * uy + v * ux
    assert x0 - 1e-9 <= px <= x3 + 1e-9 and y0 - 1e-9 <= py <= y3 + 1e-9


def test_point_validates_range() -> None:
    with pytest.raises(ValueError):
        Point(91, 0)
    with pytest.raises(ValueError):
        Point(0, 181)


# -- routers ----------------------------------------------------------------------------


def test_straight_line_router_values_and_bound() -> None:
    r = StraightLineRouter(1.3, 60.0)
    a, b = Point(44.478, 1.287), Point(44.447, 1.441)
    leg = r.leg(a, b)
    assert leg.km == pytest.approx(haversine_km(a, b) * 1.3)
    assert leg.minutes == pytest.approx(leg.km)  # 60 km/h
    assert r.leg(a, a) == Leg(0.0, 0.0)
    assert r.bound.max_kmh == pytest.approx(60 / 1.3) and r.bound.snap_km == 0.0
    assert r.table([a, b], [b]) == [[r.leg(a, b)], [r.leg(b, b)]]
    slow = StraightLineRouter(1.4, 45.0)
    assert slow.leg(a, b).minutes == pytest.approx(haversine_km(a, b) * 1.4 / 45 * 60)
    with pytest.raises(ValueError):
        StraightLineRouter(0.9)
    with pytest.raises(ValueError):
        StraightLineRouter(1.3, 0)


@settings(max_examples=200, deadline=None, database=None)
@given(points, points, st.floats(1.0, 2.0), st.floats(20, 130))
def test_straight_line_bound_holds(a: Point, b: Point, circuity: float, speed: float) -> None:
    r = StraightLineRouter(circuity, speed)
    assert haversine_km(a, b) <= r.bound.max_kmh * r.leg(a, b).minutes / 60 * (1 + 1e-12) + 1e-12


def test_bands() -> None:
    assert [band_for_detour(x) for x in (0, 5, 5.01, 15, 15.01, 40)] == [
        "green", "green", "orange", "orange", "red", "red"]


# -- value objects -----------------------------------------------------------------------

P1, P2 = Point(44.478, 1.287), Point(44.447, 1.441)
WEEKDAYS = frozenset({1, 2, 3, 4, 5})


def test_offer_needs_exactly_one_schedule() -> None:
    rec = Recurrence(WEEKDAYS, time(7, 45), date(2026, 1, 1), date(2026, 12, 31))
    with pytest.raises(ValueError):
        Offer(1, 1, P1, P2, 3, 10)
    with pytest.raises(ValueError):
        Offer(1, 1, P1, P2, 3, 10, departure=datetime(2026, 3, 2, 7, 45), recurrence=rec)
    with pytest.raises(ValueError):
        Offer(1, 1, P1, P2, 3, -1, departure=datetime(2026, 3, 2, 7, 45))
    with pytest.raises(ValueError):
        Recurrence(frozenset({0, 1}), time(7, 45), date(2026, 1, 1), date(2026, 12, 31))
    with pytest.raises(ValueError):
        Recurrence(frozenset(), time(7, 45), date(2026, 1, 1), date(2026, 12, 31))
    with pytest.raises(ValueError):
        Recurrence(WEEKDAYS, time(7, 45), date(2026, 2, 1), date(2026, 1, 1))
    with pytest.raises(ValueError):
        Request(1, 1, P1, P2, date(2026, 3, 2), "whenever", time(8), 30)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Request(1, 1, P1, P2, date(2026, 3, 2), "arrive_by", time(8), -1)
    with pytest.raises(ValueError):
        Request(1, 1, P1, P2, date(2026, 3, 2), "arrive_by", time(8), 30, seats=0)


def test_aware_departure_is_converted_to_local_wall_time() -> None:
    o = Offer(1, 1, P1, P2, 3, 10, departure=datetime(2026, 3, 2, 6, 45, tzinfo=timezone.utc))
    assert o.departure == datetime(2026, 3, 2, 7, 45)


def test_regular_occurrences_weekdays_and_range() -> None:
    rec = Recurrence(frozenset({1, 3}), time(7, 45), date(2026, 3, 4), date(2026, 3, 16))
    o = Offer(1, 1, P1, P2, 3, 10, recurrence=rec)
    got = o.occurrences(date(2026, 3, 1), date(2026, 3, 31))
    assert [d.date() for d in got] == [date(2026, 3, 4), date(2026, 3, 9), date(2026, 3, 11), date(2026, 3, 16)]
    assert all(d.isoweekday() in {1, 3} and (d.hour, d.minute) == (7, 45) for d in got)
    assert o.occurrences(date(2026, 3, 17), date(2026, 4, 30)) == []  # after last_date
    assert o.occurrences(date(2026, 3, 1), date(2026, 3, 3)) == []  # before first_date
    assert o.occurrences(date(2026, 3, 5), date(2026, 3, 8)) == []  # no Monday/Wednesday


def test_one_off_occurrence() -> None:
    o = Offer(1, 1, P1, P2, 3, 10, departure=datetime(2026, 3, 2, 7, 45))
    (t0,) = o.occurrences(date(2026, 3, 2), date(2026, 3, 2))
    assert t0.tzinfo is not None and t0.utcoffset() == timedelta(hours=1)
    assert o.occurrences(date(2026, 3, 3), date(2026, 3, 9)) == []


@pytest.mark.parametrize(
    "sunday, before, after",
    [
        (date(2026, 3, 29), timedelta(hours=1), timedelta(hours=2)),
        (date(2026, 10, 25), timedelta(hours=2), timedelta(hours=1)),
        (date(2027, 3, 28), timedelta(hours=1), timedelta(hours=2)),
        (date(2027, 10, 31), timedelta(hours=2), timedelta(hours=1)),
    ],
)
def test_monday_0745_stays_0745_across_dst(sunday: date, before: timedelta, after: timedelta) -> None:
    rec = Recurrence(frozenset({1, 7}), time(7, 45), date(2026, 1, 1), date(2027, 12, 31))
    o = Offer(1, 1, P1, P2, 3, 10, recurrence=rec)
    runs = o.occurrences(sunday - timedelta(days=6), sunday + timedelta(days=1))
    assert [r.date() for r in runs] == [sunday - timedelta(days=6), sunday, sunday + timedelta(days=1)]
    assert all((r.hour, r.minute) == (7, 45) for r in runs)
    assert [r.utcoffset() for r in runs] == [before, after, after]  # 07:45 is after the 02:00/03:00 switch
    # the elapsed time between the two Mondays is a week +/- one hour
    assert (runs[2].timestamp() - runs[0].timestamp()) / 3600 == 7 * 24 + (before - after).total_seconds() / 3600


def test_nonexistent_time_is_shifted_forward() -> None:
    t = localize(date(2026, 3, 29), time(2, 30))
    assert (t.hour, t.minute, t.utcoffset()) == (3, 30, timedelta(hours=2))
    assert t.astimezone(timezone.utc) == datetime(2026, 3, 29, 1, 30, tzinfo=timezone.utc)
    o = Offer(1, 1, P1, P2, 3, 10, departure=datetime(2027, 3, 28, 2, 10))
    (t0,) = o.occurrences(date(2027, 3, 28), date(2027, 3, 28))
    assert (t0.hour, t0.minute) == (3, 10)


def test_ambiguous_time_takes_first_occurrence() -> None:
    t = localize(date(2026, 10, 25), time(2, 30))
    assert (t.hour, t.minute, t.utcoffset()) == (2, 30, timedelta(hours=2))
    assert t.astimezone(timezone.utc) == datetime(2026, 10, 25, 0, 30, tzinfo=timezone.utc)


@settings(max_examples=200, deadline=None, database=None)
@given(st.dates(date(2026, 1, 1), date(2027, 12, 31)), st.times())
def test_localize_is_aware_and_local(day: date, at: time) -> None:
    t = localize(day, at)
    assert t.utcoffset() in PARIS_OFFSETS
    assert t.date() == day
    if (t.hour, t.minute) != (at.hour, at.minute):  # only in the spring gap
        assert at.hour == 2 and t.hour == 3 and t.minute == at.minute


def test_request_windows_are_absolute() -> None:
    # arrive_by 03:10 flex 60 on the spring-forward night: 60 elapsed minutes
    r = Request(1, 1, P1, P2, date(2026, 3, 29), "arrive_by", time(3, 10), 60)
    ws, we, t = r.window_s()
    assert we == t and we - ws == 3600
    assert datetime.fromtimestamp(ws, timezone.utc) == datetime(2026, 3, 29, 0, 10, tzinfo=timezone.utc)
    r2 = Request(1, 1, P1, P2, date(2026, 3, 2), "leave_after", time(8, 0), 30)
    ws, we, t = r2.window_s()
    assert ws == t and we - ws == 1800


@pytest.mark.parametrize("tz", ["Europe/Paris", "America/St_Johns", "Asia/Kathmandu"])
def test_hhmm_rounds_to_the_minute_in_local_time_across_european_and_american_dst_nights(tz: str) -> None:
    """``hhmm`` is memoised by whole minute: every few seconds of the 2026 DST nights of Europe
    and North America (and of zones with half- or quarter-hour offsets) reads the local wall
    clock it would read directly."""
    z = ZoneInfo(tz)
    for night in (datetime(2026, 3, 29, 0, 0, tzinfo=timezone.utc), datetime(2026, 10, 25, 0, 0, tzinfo=timezone.utc),
                  datetime(2026, 3, 8, 4, 0, tzinfo=timezone.utc), datetime(2026, 11, 1, 3, 0, tzinfo=timezone.utc)):
        start = night.timestamp()
        for s in range(0, 4 * 3600, 7):
            t = start + s + 0.25
            rounded = datetime.fromtimestamp(math.floor(t / 60.0 + 0.5) * 60.0, tz=z)
            assert hhmm(t, tz) == f"{rounded:%H:%M}", (tz, t)
