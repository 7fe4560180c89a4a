"""Booking events → outbox rows: once per (booking, kind, recipient), reminders at local
times across DST, quiet hours, withdrawal and replacement, consent, the worker with the
development gateway, the operator's history and the driver's answer link."""
from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone

import pytest
from flask import render_template

from lotocar.core.clock import today_local
from lotocar.bookings import operations as bookings
from lotocar.bookings.models import BookingStatus
from lotocar.core.phones import format_phone
from lotocar.core.timeutil import PARIS, utcnow
from lotocar.extensions import db
from lotocar.notifications import operations as sms_ops
from lotocar.notifications import outbox, planner, worker
from lotocar.notifications.models import SmsLink, SmsMessage, SmsStatus
from lotocar.offers.models import Offer
from lotocar.requests.models import TripRequest
from tests.conftest import csrf_token
from tests.sms_factories import NICOURBY, by_key, confirm, make_world, pending, rows

S = SmsStatus
UTC = timezone.utc


def _last_sunday(year: int, month: int) -> date:
    day = date(year, month + 1, 1) - timedelta(days=1)
    return day - timedelta(days=(day.weekday() - 6) % 7)


def _next_dst_sundays() -> tuple[date, date]:
    """The next spring-forward and fall-back Sundays at least two days ahead."""
    today = today_local() + timedelta(days=2)
    spring = next(d for y in (today.year, today.year + 1) if (d := _last_sunday(y, 3)) > today)
    autumn = next(d for y in (today.year, today.year + 1) if (d := _last_sunday(y, 10)) > today)
    return spring, autumn


def test_proposal_queues_one_sms_to_the_driver_with_a_link(app, sms):
    w = make_world()
    [row] = rows(w.booking_id)
    assert row.kind == "proposal" and row.recipient == "driver" and row.to_phone == w.driver_phone
    assert row.key == f"b{w.booking_id}:proposal:driver" and row.status == S.PENDING
    assert re.search(r"/r/[A-Za-z0-9]{20}\b", row.body) and "Marie" in row.body and "Douelle" in row.body
    assert db.session.scalar(db.select(db.func.count(SmsLink.id))) == 1
    stats = worker.run_once(app)
    assert stats.sent == 1
    assert sms.last_to(w.driver_phone).body == row.body
    [row] = rows(w.booking_id)
    assert row.status == S.SENT and row.provider_id.startswith("DEV") and row.attempts == 1


def test_confirmation_queued_once_even_on_double_click(app, sms):
    w = make_world()
    confirm(w)
    with pytest.raises(bookings.BookingError):  # the operator's second click
        bookings.transition(w.booking_id, "confirm", actor_id=None)
        db.session.commit()
    # the same event delivered twice (a retried request, a replayed signal) queues nothing more
    planner.plan_booking_change(w.booking, BookingStatus.ACCEPTED_BY_DRIVER, BookingStatus.CONFIRMED, None, utcnow())
    db.session.commit()
    confirmations = [r for r in rows(w.booking_id) if r.kind == "confirmed"]
    assert sorted(r.recipient for r in confirmations) == ["driver", "passenger"]
    worker.run_once(app)
    worker.run_once(app)
    assert [m.kind for m in sms.sent if m.to == w.passenger_phone] == ["confirmed"]
    text = sms.last_to(w.passenger_phone).body
    assert "Jean vous prend à Douelle (mairie)" in text and "05 31 60 09 03" in text


@pytest.mark.parametrize("which", ["spring", "autumn"])
def test_reminders_at_local_times_across_dst(app, which):
    spring, autumn = _next_dst_sundays()
    sunday = spring if which == "spring" else autumn
    w = make_world(datetime.combine(sunday, time(10, 0), tzinfo=PARIS))
    confirm(w)
    keys = by_key(w.booking_id)
    eve, soon = keys["reminder_eve:passenger"], keys["reminder_soon:passenger"]
    saturday = sunday - timedelta(days=1)
    # 18:00 on Saturday in Saturday's offset; 09:00 on Sunday in Sunday's offset
    assert eve.send_after == datetime.combine(saturday, time(18, 0), tzinfo=PARIS).astimezone(UTC)
    assert soon.send_after == datetime.combine(sunday, time(9, 0), tzinfo=PARIS).astimezone(UTC)
    if which == "spring":  # CET (+1) on Saturday, CEST (+2) on Sunday
        assert (eve.send_after.hour, soon.send_after.hour) == (17, 7)
    else:  # CEST (+2) on Saturday, CET (+1) on Sunday
        assert (eve.send_after.hour, soon.send_after.hour) == (16, 8)
    assert keys["reminder_eve:driver"].send_after == eve.send_after
    assert "demain" in eve.body and "10:00" in eve.body and "à 10:00 à Douelle" in soon.body
    # Monday after the change: the evening-before reminder is on the changed Sunday
    monday = sunday + timedelta(days=1)
    w2 = make_world(datetime.combine(monday, time(9, 30), tzinfo=PARIS))
    confirm(w2)
    assert by_key(w2.booking_id)["reminder_eve:driver"].send_after == \
        datetime.combine(sunday, time(18, 0), tzinfo=PARIS).astimezone(UTC)


def test_quiet_hours_hold_non_urgent_messages_until_morning(app, sms):
    night = datetime(2027, 1, 12, 22, 30, tzinfo=PARIS).astimezone(UTC)
    morning = datetime(2027, 1, 13, 8, 0, tzinfo=PARIS).astimezone(UTC)
    held = outbox.prepare(outbox.Draft(kind="confirmed", to_phone="+33600000001", body="x"), night)
    assert held["send_after"] == morning
    urgent = outbox.prepare(outbox.Draft(kind="code_login", to_phone="+33600000001", body="x", urgent=True), night)
    assert urgent["send_after"] == night
    early = datetime(2027, 1, 13, 6, 10, tzinfo=PARIS).astimezone(UTC)
    assert outbox.prepare(outbox.Draft(kind="x", to_phone="+336", body="x"), early)["send_after"] == morning
    # a reminder that could only go out after it is useful is not queued at all
    assert outbox.prepare(outbox.Draft(kind="reminder_soon", to_phone="+336", body="x", send_after=early,
                                       expires_at=morning - timedelta(minutes=5)), night) is None

    # the worker: at night only urgent rows go out, the rest at 08:00
    outbox.enqueue(outbox.Draft(kind="test", to_phone="+33600000002", body="pas urgent", send_after=night), night)
    db.session.execute(db.update(SmsMessage).values(send_after=night))  # as if queued before the night
    outbox.enqueue(outbox.Draft(kind="test", to_phone="+33600000003", body="urgent", urgent=True), night)
    db.session.commit()
    worker.run_once(app, now=night + timedelta(minutes=5))
    assert [m.body for m in sms.sent] == ["urgent"]
    worker.run_once(app, now=morning + timedelta(minutes=1))
    assert [m.body for m in sms.sent] == ["urgent", "pas urgent"]


def test_reminder_before_an_early_pickup_waits_for_the_morning_or_is_dropped(app):
    day = today_local() + timedelta(days=3)
    w = make_world(datetime.combine(day, time(8, 30), tzinfo=PARIS))
    confirm(w)
    soon = by_key(w.booking_id)["reminder_soon:passenger"]
    assert soon.send_after == datetime.combine(day, time(8, 0), tzinfo=PARIS).astimezone(UTC)
    w2 = make_world(datetime.combine(day, time(7, 30), tzinfo=PARIS))
    confirm(w2)
    keys = by_key(w2.booking_id)
    assert "reminder_soon:passenger" not in keys and "reminder_eve:passenger" in keys


def test_cancellation_withdraws_pending_and_tells_those_informed(app, sms):
    w = make_world()
    confirm(w)
    worker.run_once(app)  # proposal + confirmations go out; reminders stay pending
    assert {r.kind for r in pending(w.booking_id)} == {"reminder_eve", "reminder_soon"}
    bookings.transition(w.booking_id, "cancel_by_driver", actor_id=w.driver_user_id, reason="panne")
    db.session.commit()
    assert pending(w.booking_id) and all(r.kind == "cancelled" for r in pending(w.booking_id))
    withdrawn = [r for r in rows(w.booking_id) if r.kind.startswith("reminder")]
    assert len(withdrawn) == 4 and all(r.status == S.CANCELLED for r in withdrawn)
    assert all("annulée" in r.last_error for r in withdrawn)
    [told] = pending(w.booking_id)  # the driver cancelled himself: only the passenger is told
    assert told.recipient == "passenger" and "Jean ne peut plus vous prendre à Douelle" in told.body
    assert told.urgent is False


def test_cancelling_before_anything_went_out_sends_nothing(app, sms):
    w = make_world()
    bookings.transition(w.booking_id, "cancel_by_operator", actor_id=None)
    db.session.commit()
    [row] = rows(w.booking_id)
    assert row.kind == "proposal" and row.status == S.CANCELLED
    worker.run_once(app)
    assert sms.sent == []


def test_landline_or_no_consent_means_no_sms_for_the_passenger(app):
    for world in (make_world(passenger_mobile=False), make_world(passenger_consent=False)):
        confirm(world)
        assert {r.recipient for r in rows(world.booking_id)} == {"driver"}


def test_trip_change_replaces_reminders_and_tells_the_passenger(app, sms):
    from lotocar.offers.signals import offer_saved

    w = make_world()
    confirm(w)
    worker.run_once(app)
    before = {k: (r.id, r.send_after) for k, r in by_key(w.booking_id).items()}
    offer = db.session.get(Offer, w.offer_id)
    offer.departure_at = offer.departure_at + timedelta(minutes=15)
    offer.local_time = (datetime.combine(today_local(), offer.local_time) + timedelta(minutes=15)).time()
    offer_saved.send(app, offer=offer, action="updated")  # inside the change's transaction
    db.session.commit()
    after = by_key(w.booking_id)
    changed = {r.recipient: r for k, r in after.items() if k.startswith("changed")}
    # the factory's booking promised 10:05 for a 09:55 departure from the passenger's own
    # village: the trip, moved to 10:10, now picks her up at 10:10 (the matcher's truth)
    assert set(changed) == {"passenger", "driver"}  # both were told 10:05
    assert "10:10 à Douelle (mairie) (au lieu de 10:05)" in changed["passenger"].body
    assert "10:10 à Douelle (mairie) (au lieu de 10:05)" in changed["driver"].body
    for key in ("reminder_eve:passenger", "reminder_soon:driver"):
        assert after[key].id == before[key][0] and after[key].status == S.PENDING
        assert "10:10" in after[key].body
    assert after["reminder_soon:driver"].send_after == before["reminder_soon:driver"][1] + timedelta(minutes=5)
    request = db.session.get(TripRequest, w.request_id)
    assert request.flag == "trip_changed" and "10:10" in request.flag_detail
    # saving the trip again without a time change does nothing more
    offer_saved.send(app, offer=offer, action="updated")
    db.session.commit()
    assert len([k for k in by_key(w.booking_id) if k.startswith("changed")]) == 2
    # pausing the trip withdraws the reminders; the booking is cancelled (matching reactions)
    # and both people, who had been told, get the cancellation
    from lotocar.offers.operations import change_status
    change_status(db.session.get(Offer, w.offer_id), "pause", actor_id=None)
    db.session.commit()
    assert all(r.status == S.CANCELLED for r in rows(w.booking_id) if r.kind.startswith("reminder"))
    assert w.booking.status == BookingStatus.CANCELLED_BY_DRIVER
    assert sorted(r.recipient for r in pending(w.booking_id) if r.kind == "cancelled") == ["driver", "passenger"]


def test_opted_out_number_is_not_sent_and_the_operator_is_told(app, sms):
    w = make_world()
    outbox.set_opt_out(w.passenger_phone, True, "STOP", "sms")
    db.session.commit()
    confirm(w)
    worker.run_once(app)
    conf = by_key(w.booking_id)["confirmed:passenger"]
    assert conf.status == S.CANCELLED and "STOP" in conf.last_error
    assert sms.last_to(w.passenger_phone) is None and sms.last_to(w.driver_phone) is not None
    request = db.session.get(TripRequest, w.request_id)
    assert request.flag == "sms_failed" and "Marie (passager)" in request.flag_detail
    assert sms_ops.is_opted_out(w.passenger_phone)
    history = sms_ops.messages_for_booking(w.booking_id)
    assert any(m.needs_call for m in history)
    html = render_template("notifications/_messages.html", messages=history)
    assert "Non envoyé" in html and "À appeler" in html and "Confirmation" in html
    assert format_phone(w.passenger_phone) in html  # national format, e.g. 06 70 00 00 14
    assert sms_ops.messages_for_phone(w.passenger_phone)[0].phone == w.passenger_phone


def test_codes_go_through_the_outbox_and_are_not_kept_readable(client, sms):
    from lotocar.auth.operations import send_code
    from lotocar.notifications.worker import send_now

    body = send_code("+33612345699", "login", None).body  # the code is stored; the edge sends it
    db.session.commit()
    send_now("+33612345699", body, "code_login")
    code = re.search(r"\b(\d{6})\b", sms.last_to("+33612345699").body).group(1)
    [row] = rows(kind="code_login")
    assert row.status == S.SENT and row.urgent and code not in row.body and "******" in row.body


def _link_token(booking_id: int) -> str:
    [row] = [r for r in rows(booking_id) if r.kind == "proposal"]
    return re.search(r"/r/([A-Za-z0-9]{20})", row.body).group(1)


def test_driver_answers_yes_through_the_link(app, client):
    w = make_world()
    token = _link_token(w.booking_id)
    page = client.get(f"/r/{token}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Acceptez-vous de prendre Marie D. à Douelle mardi" in html and "à 10:05 ?" in html
    assert w.booking.status == BookingStatus.PROPOSED  # a link preview (GET) changes nothing
    r = client.post(f"/r/{token}", data={"answer": "oui", "csrf_token": csrf_token(client, f"/r/{token}")})
    assert r.status_code == 200 and "Réponse enregistrée" in r.get_data(as_text=True)
    db.session.expire_all()
    assert w.booking.status == BookingStatus.ACCEPTED_BY_DRIVER
    from lotocar.audit.models import AuditEntry
    entry = db.session.scalar(db.select(AuditEntry).where(AuditEntry.action == "accept"))
    assert entry.actor_id == w.driver_user_id and entry.reason == "Réponse par lien SMS"
    assert "accepted:driver" in by_key(w.booking_id)  # the thank-you SMS
    again = client.get(f"/r/{token}")
    assert again.status_code == 410 and "déjà répondu" in again.get_data(as_text=True)


def test_driver_link_no_expired_tampered_and_closed(app, client):
    w = make_world()
    token = _link_token(w.booking_id)
    bad = token[:-1] + ("A" if token[-1] != "A" else "B")
    r = client.get(f"/r/{bad}")
    assert r.status_code == 404 and "pas valide" in r.get_data(as_text=True)
    assert client.get("/r/x").status_code == 404
    # the operator confirmed on the phone meanwhile: the link says so, in French, no 500
    bookings.transition(w.booking_id, "decline", actor_id=None)
    db.session.commit()
    r = client.post(f"/r/{token}", data={"answer": "non", "csrf_token": csrf_token(client, "/connexion")})
    assert r.status_code == 409 and "Refusée par le conducteur" in r.get_data(as_text=True)
    w2 = make_world()
    token2 = _link_token(w2.booking_id)
    link = db.session.get(SmsLink, token2[:10])
    link.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    r = client.get(f"/r/{token2}")
    assert r.status_code == 410 and "expiré" in r.get_data(as_text=True)
    w3 = make_world()
    token3 = _link_token(w3.booking_id)
    r = client.post(f"/r/{token3}", data={"answer": "non", "csrf_token": csrf_token(client, "/connexion")})
    assert r.status_code == 200
    db.session.expire_all()
    assert w3.booking.status == BookingStatus.DECLINED
    assert db.session.get(TripRequest, w3.request_id).flag == "driver_declined"


def test_long_commune_texts_in_a_real_booking(app):
    w = make_world(origin=NICOURBY, origin_place="parking de la salle des fêtes", passenger_first="Marie-Christine")
    confirm(w)
    for row in rows(w.booking_id):
        assert row.segments <= 2, row.body
        assert "Saint-Médard-Nicourby" in row.body or row.kind == "accepted"


def test_operator_double_click_on_confirm_in_the_console_queues_once(app, client, sms):
    from lotocar.auth.models import Role
    from lotocar.auth.operations import create_staff
    from tests.conftest import login_as

    operator, _ = create_staff("op-sms@lotocar.fr", "Sophie", "Martin", Role.OPERATOR)
    db.session.commit()
    login_as(client, operator)
    w = make_world()
    bookings.transition(w.booking_id, "accept", actor_id=None)
    db.session.commit()
    page = f"/console/reservations/{w.booking_id}"
    token = csrf_token(client, page)
    for _ in range(2):  # the second click arrives after the first was saved
        r = client.post(f"{page}/confirm", data={"csrf_token": token, "reason": ""})
        assert r.status_code == 302
    assert w.booking.status == BookingStatus.CONFIRMED
    confirmations = [r for r in rows(w.booking_id) if r.kind == "confirmed"]
    assert sorted(r.recipient for r in confirmations) == ["driver", "passenger"]
    worker.run_once(app)
    assert [m.kind for m in sms.sent if m.to == w.passenger_phone] == ["confirmed"]
    # the console's booking page shows the SMS history
    html = client.get(page).get_data(as_text=True)
    assert "Confirmation" in html and "Simulé" in html
