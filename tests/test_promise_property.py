"""Property (issue #11): whatever a driver does to his trip (time, start point, seats, weekdays,
dates, pause, resume, cancel, cancel or restore one date) and whatever operators and the driver do to its bookings
(propose, accept, confirm, cancel), in any order, after every step every live booking is
still an exact candidate of its run with the pickup it holds, seats are exact, and the last
message each confirmed passenger got states her current pickup (or she is flagged for a
call). Each step is one action committed once, as an edge does. SQLite and PostGIS."""
from __future__ import annotations

from datetime import time, timedelta

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from lotocar.bookings import operations as bookings
from lotocar.bookings.models import LIVE, Booking
from lotocar.core import tx
from lotocar.extensions import db
from lotocar.offers import operations as offer_ops
from lotocar.offers.models import Offer
from tests.factories import MONDAY, TODAY
from tests.promise_world import assert_promises_true, book, make_passenger, make_request, make_trip, trip_input

DAYS = [MONDAY, MONDAY + timedelta(days=1)]

steps = st.one_of(
    st.tuples(st.just("time"), st.sampled_from([-30, -15, -10, -5, 5, 10, 15, 30])),
    st.tuples(st.just("shift"), st.sampled_from([-6.0, 0.0, 4.0, 8.0])),
    st.tuples(st.just("seats"), st.integers(1, 3)),
    st.tuples(st.just("weekdays"), st.sets(st.integers(1, 5), min_size=1)),
    st.tuples(st.just("dates"), st.sampled_from(["all", "from_tuesday", "until_monday"])),
    st.tuples(st.sampled_from(["pause", "resume", "cancel"]), st.just(None)),
    st.tuples(st.sampled_from(["skip", "restore"]), st.integers(0, 1)),  # one date (issue #14)
    st.tuples(st.sampled_from(["propose", "accept", "confirm", "cancel_booking"]), st.integers(0, 3)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(st.lists(steps, min_size=1, max_size=12))
def test_every_promise_stays_true(app, make_driver, program):
    driver = make_driver()
    trip = {"at": time(7, 45), "seats": 2, "weekdays": frozenset({1, 2, 3, 4, 5}), "origin_shift_km": 0.0,
            "first": TODAY + timedelta(days=1), "last": TODAY + timedelta(days=60)}
    offer = make_trip(driver, **trip)
    people = [(make_request(make_passenger(mobile=i != 3), day=DAYS[i % 2],
                            at=time(8, 30) if i < 2 else time(8, 45)), DAYS[i % 2]) for i in range(4)]
    for i, (request, day) in enumerate(people):  # two runs already carrying passengers
        book(offer, request, day=day, confirm=i != 2)
    assert_promises_true([offer.id])
    for action, arg in program:
        try:
            run(action, arg, offer, driver, trip, people)
            event(f"{action}: done")
        except (bookings.BookingError, offer_ops.OfferStateError, offer_ops.OfferValidationError):
            event(f"{action}: refused")  # illegal transition, no seat, not a candidate, inactive trip
        assert_promises_true([offer.id])
    moved = db.session.scalar(db.select(db.func.max(Booking.promise_version)).where(Booking.offer_id == offer.id))
    event(f"promise moved: {bool(moved)}")


def run(action, arg, offer, driver, trip, people) -> None:
    current = lambda: db.session.get(Offer, offer.id)  # noqa: E731
    if action in ("time", "shift", "seats", "weekdays", "dates"):
        if action == "time":
            base = trip["at"].hour * 60 + trip["at"].minute + arg
            trip["at"] = time(base // 60, base % 60)
        elif action == "shift":
            trip["origin_shift_km"] = arg
        elif action == "seats":
            trip["seats"] = arg
        elif action == "weekdays":
            trip["weekdays"] = frozenset(arg)
        else:
            trip["first"] = {"from_tuesday": DAYS[1]}.get(arg, TODAY + timedelta(days=1))
            trip["last"] = {"until_monday": DAYS[0]}.get(arg, TODAY + timedelta(days=60))
        data = trip_input(**trip)
        tx.atomic(lambda: offer_ops.update_offer(current(), data, driver.id))
        return
    if action in ("pause", "resume", "cancel"):
        tx.atomic(lambda: offer_ops.change_status(current(), action, driver.id))
        return
    if action in ("skip", "restore"):
        change = offer_ops.skip_date if action == "skip" else offer_ops.restore_date
        tx.atomic(lambda: change(current(), DAYS[arg], driver.id))
        return
    request, day = people[arg]
    live = db.session.scalar(db.select(Booking).where(Booking.request_id == request.id,
                                                      Booking.status.in_(LIVE)))
    if action == "propose":
        book(current(), request, day=day, confirm=False)
    elif live is not None:
        name, actor = {"accept": ("accept", driver.id), "confirm": ("confirm", None),
                       "cancel_booking": ("cancel_by_operator", None)}[action]
        tx.atomic(lambda: bookings.transition(live.id, name, actor))
