"""Issue #11: every promise stays true. The five cases that broke it, each through the edge
that commits (a view, the API, or an operation committed once as an edge would), on SQLite
and PostGIS (`--db=postgres`). The races themselves are in tests/test_concurrency_trips.py."""
from __future__ import annotations

from datetime import datetime, time, timedelta

from lotocar.audit.models import AuditEntry
from lotocar.bookings import operations as bookings
from lotocar.bookings.models import Booking, BookingStatus, OfferDay
from lotocar.core import tx
from lotocar.core.timeutil import PARIS, format_time_fr, to_local
from lotocar.extensions import db
from lotocar.notifications import worker
from lotocar.notifications.models import SmsMessage, SmsStatus
from lotocar.requests.models import RequestStatus, TripRequest
from tests.conftest import csrf_token, login_as
from tests.factories import MONDAY
from tests.promise_world import (assert_promises_true, book, changed_rows, edit_trip, hhmm, last_promise_sms,
                                 make_passenger, make_request, make_trip, states, trip_form)


def pending_reminders(booking_id: int) -> list[SmsMessage]:
    db.session.expire_all()
    return list(db.session.scalars(db.select(SmsMessage).where(
        SmsMessage.booking_id == booking_id, SmsMessage.kind.in_(("reminder_eve", "reminder_soon")),
        SmsMessage.status == SmsStatus.PENDING)))


def test_start_point_moved_time_kept_tells_the_passenger(app, make_driver):
    """The driver moves his start 8 km towards Cahors, same 07:45: the passenger in Douelle is
    picked up earlier. She is told, the driver too, the reminders say the new time."""
    driver = make_driver()
    offer = make_trip(driver)
    booking = book(offer, make_request(make_passenger()))
    old_pickup = booking.pickup_at
    assert states(last_promise_sms(booking), booking)
    reminders_before = len(pending_reminders(booking.id))

    edit_trip(offer, origin_shift_km=8)

    db.session.expire_all()
    booking = db.session.get(Booking, booking.id)
    assert booking.status == BookingStatus.CONFIRMED
    assert booking.pickup_at < old_pickup - timedelta(minutes=3)  # the start is now near Douelle
    assert booking.promise_version == 1
    told = {m.recipient: m for m in changed_rows(booking.id)}
    assert set(told) == {"passenger", "driver"}
    new, old = format_time_fr(to_local(booking.pickup_at)), format_time_fr(to_local(old_pickup))
    assert hhmm(told["passenger"].body)[:2] == [new, old] and told["passenger"].key.endswith(":v1:passenger")
    assert states(last_promise_sms(booking), booking)
    reminders = pending_reminders(booking.id)
    assert len(reminders) == reminders_before >= 2  # the evening before, to both (06:4x: none "1 h before")
    assert all(new in r.body and old not in r.body for r in reminders)
    request = db.session.get(TripRequest, booking.request_id)
    assert request.flag == "trip_changed" and new in request.flag_detail
    assert db.session.scalars(db.select(AuditEntry.action).where(
        AuditEntry.entity == "booking", AuditEntry.entity_id == booking.id)).all()[-1] == "promise_changed"
    assert_promises_true([offer.id])


def test_landline_passenger_is_flagged_for_a_call(app, make_driver):
    driver = make_driver()
    offer = make_trip(driver)
    booking = book(offer, make_request(make_passenger(mobile=False)))
    edit_trip(offer, at=time(7, 30))
    db.session.expire_all()
    booking = db.session.get(Booking, booking.id)
    request = db.session.get(TripRequest, booking.request_id)
    assert [m.recipient for m in changed_rows(booking.id)] == ["driver"]  # no SMS to a landline
    assert request.flag == "call_needed"
    assert format_time_fr(to_local(booking.pickup_at)) in request.flag_detail
    assert_promises_true([offer.id])


def test_seats_lowered_below_what_is_held_by_the_driver_page(app, client, make_driver):
    """Two confirmed passengers, the driver lowers his seats to 1 from his page: no 500, the
    first booked stays, the second is cancelled and told, in the edit's own transaction."""
    driver = make_driver()
    offer = make_trip(driver, seats=2)
    first = book(offer, make_request(make_passenger()))
    second = book(offer, make_request(make_passenger()))
    worker.run_once(app)  # both were told (confirmations sent)
    login_as(client, driver)
    url = f"/mes-trajets/{offer.id}/modifier"
    response = client.post(url, data={**trip_form(offer, seats=1), "csrf_token": csrf_token(client, url)})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    db.session.expire_all()
    assert db.session.get(Booking, first.id).status == BookingStatus.CONFIRMED
    assert db.session.get(Booking, second.id).status == BookingStatus.CANCELLED_BY_DRIVER
    run = db.session.get(OfferDay, (offer.id, MONDAY))
    assert (run.capacity, run.held) == (1, 1)
    told = db.session.scalars(db.select(SmsMessage).where(SmsMessage.booking_id == second.id,
                                                          SmsMessage.kind == "cancelled")).all()
    assert {m.recipient for m in told} == {"passenger", "driver"}
    assert db.session.get(TripRequest, second.request_id).status == RequestStatus.OPEN
    assert db.session.get(TripRequest, second.request_id).flag == "trip_changed"
    assert_promises_true([offer.id])


def test_proposal_on_a_cancelled_or_paused_trip_is_refused(app, make_driver):
    driver = make_driver()
    offer = make_trip(driver)
    request = make_request(make_passenger())
    from lotocar.candidates import operations as candidates
    from lotocar.offers import operations as offer_ops

    tx.atomic(lambda: offer_ops.change_status(offer, "pause", None))
    for _ in range(2):
        try:
            tx.atomic(lambda: candidates.propose_candidate(request, offer.id, MONDAY, None))
        except bookings.BookingError as exc:
            assert exc.code == "invalid_state" and "plus actif" in str(exc)
        else:
            raise AssertionError("a proposal on a paused trip was accepted")
        tx.atomic(lambda: offer_ops.change_status(offer, "cancel", None)) if offer.status.value == "paused" else None
    assert db.session.scalar(db.select(db.func.count(Booking.id))) == 0
    assert db.session.get(OfferDay, (offer.id, MONDAY)) is None


def test_time_toggled_back_is_announced_every_time(app, make_driver):
    """07:30 → 07:15 → 07:30 → 07:15: three changes, three SMS, the last one true."""
    driver = make_driver()
    offer = make_trip(driver, at=time(7, 30))
    booking = book(offer, make_request(make_passenger()))
    pickups = []
    for at in (time(7, 15), time(7, 30), time(7, 15)):
        edit_trip(offer, at=at)
        db.session.expire_all()
        pickups.append(db.session.get(Booking, booking.id).pickup_at)
    said = [m for m in changed_rows(booking.id) if m.recipient == "passenger"]
    assert [m.key.split(":")[2] for m in said] == ["v1", "v2", "v3"]
    assert [hhmm(m.body)[0] for m in said] == [format_time_fr(to_local(p)) for p in pickups]
    booking = db.session.get(Booking, booking.id)
    assert states(last_promise_sms(booking), booking)
    assert_promises_true([offer.id])


def test_done_or_no_show_only_from_the_day_of_the_ride(app, api, client, staff, make_driver, travel):
    """The rule lives in lotocar.bookings: the API, the console and any caller get it."""
    driver = make_driver()
    offer = make_trip(driver)
    week_ahead = MONDAY + timedelta(days=7)
    booking = book(offer, make_request(make_passenger(), day=week_ahead), day=week_ahead)
    reminders = len(pending_reminders(booking.id))
    assert reminders >= 2
    # the API
    for action in ("done", "no_show"):
        response = api.post(f"/api/v1/bookings/{booking.id}/{action}")
        assert response.status_code == 409 and response.get_json()["error"]["code"] == "too_early"
        assert "à partir du jour du trajet" in response.get_json()["error"]["message"]
    # the console route, even posted by hand
    login_as(client, staff["operator"])
    page = f"/console/reservations/{booking.id}"
    assert "Trajet effectué" not in client.get(page).get_data(as_text=True)
    response = client.post(f"{page}/done", data={"csrf_token": csrf_token(client, page)}, follow_redirects=True)
    assert "à partir du jour du trajet" in response.get_data(as_text=True)
    # the operation itself
    try:
        bookings.transition(booking.id, "done", None)
    except bookings.BookingError as exc:
        assert exc.code == "too_early"
    else:
        raise AssertionError("done accepted a week early")
    db.session.rollback()
    db.session.expire_all()
    assert db.session.get(Booking, booking.id).status == BookingStatus.CONFIRMED
    assert len(pending_reminders(booking.id)) == reminders  # nothing withdrawn
    assert db.session.get(TripRequest, booking.request_id).status == RequestStatus.BOOKED
    # on the day it works
    travel(datetime(week_ahead.year, week_ahead.month, week_ahead.day, 9, 0, tzinfo=PARIS))
    response = api.post(f"/api/v1/bookings/{booking.id}/done")
    assert response.status_code == 200 and response.get_json()["status"] == "done"


def test_an_added_passenger_rechecks_the_run(app, make_driver):
    """A second passenger on the same run: the first one's promise is checked again against
    the run (the matcher places each passenger independently, so it holds), and stays true."""
    driver = make_driver()
    offer = make_trip(driver)
    first = book(offer, make_request(make_passenger()))
    second = book(offer, make_request(make_passenger(), at=time(8, 45)))
    db.session.expire_all()
    assert db.session.get(Booking, first.id).promise_version == 0
    assert changed_rows(first.id) == [] and changed_rows(second.id) == []
    assert_promises_true([offer.id])


def test_a_failed_action_saves_nothing(app, make_driver):
    """One transaction per action: the trip edit, its reconciliation and its SMS are rolled
    back together when anything in the action fails."""
    driver = make_driver()
    offer = make_trip(driver)
    booking = book(offer, make_request(make_passenger()))
    before = db.session.scalar(db.select(db.func.count(SmsMessage.id)))
    from lotocar.offers import operations as offer_ops
    from tests.promise_world import trip_input

    class Boom(Exception):
        pass

    def edit_then_fail():
        offer_ops.update_offer(offer, trip_input(at=time(7, 15)), None)
        raise Boom()

    try:
        tx.atomic(edit_then_fail)
    except Boom:
        pass
    db.session.expire_all()
    assert db.session.get(Booking, booking.id).promise_version == 0
    assert db.session.scalar(db.select(db.func.count(SmsMessage.id))) == before
    assert db.session.get(type(offer), offer.id).local_time == time(7, 45)
    assert_promises_true([offer.id])


def test_a_ride_already_under_way_is_left_alone(app, make_driver, travel):
    """The driver edits his regular trip after this morning's ride: the ride that already
    picked its passenger up stays as it is (the operator records it done); the runs to come
    follow the change."""
    driver = make_driver()
    offer = make_trip(driver)
    today_ride = book(offer, make_request(make_passenger(), day=MONDAY), day=MONDAY)
    next_ride = book(offer, make_request(make_passenger(), day=MONDAY + timedelta(days=1)),
                     day=MONDAY + timedelta(days=1))
    travel(datetime(MONDAY.year, MONDAY.month, MONDAY.day, 10, 0, tzinfo=PARIS))
    edit_trip(offer, at=time(6, 0), first=MONDAY)  # too early for either passenger now
    db.session.expire_all()
    assert db.session.get(Booking, today_ride.id).status == BookingStatus.CONFIRMED
    assert db.session.get(Booking, today_ride.id).promise_version == 0
    assert db.session.get(Booking, next_ride.id).status == BookingStatus.CANCELLED_BY_DRIVER
    tx.atomic(lambda: bookings.transition(today_ride.id, "done", None))
    assert db.session.get(Booking, today_ride.id).status == BookingStatus.DONE
