"""Automatic voice calls (issue #17) over the real Twilio SDK and the fake Twilio server,
which calls the app back (served on loopback) with signed webhooks like Twilio: a landline
passenger's whole booking life, the retry ladder, call hours, key 2 cancelling, answering
machines, webhook signatures, statuses only forward, the console."""
from __future__ import annotations

import re
import threading
from datetime import datetime, time, timedelta
from xml.etree import ElementTree

import pytest
from twilio.request_validator import RequestValidator
from werkzeug.serving import make_server

from lotocar.bookings import operations as bookings
from lotocar.bookings.models import BookingStatus
from lotocar.console import queues
from lotocar.core import tx
from lotocar.core.timeutil import PARIS, to_local
from lotocar.extensions import db
from lotocar.notifications import calls, worker
from lotocar.notifications.gateway import build_gateway
from lotocar.notifications.models import Channel, SmsMessage, SmsStatus
from lotocar.notifications.voice_gateway import TwilioVoiceGateway, build_voice_gateway
from lotocar.offers import operations as offer_ops
from lotocar.offers.models import Offer
from lotocar.offers.rules import OfferInput
from lotocar.requests.models import TripRequest
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio
from tests.sms_factories import confirm, make_world, rows

S = SmsStatus
PUBLIC = "https://lotocar.example"
VOICE_FROM = "+33564000000"


@pytest.fixture
def live_app(app):
    """The app served on loopback: where the fake Twilio posts its webhooks."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def fake(live_app):
    server = FakeTwilio(hang_s=1.2, callback_target=live_app).start()
    yield server
    server.stop()


def use_twilio(app, monkeypatch, base_url: str, **extra) -> None:
    settings = {"SMS_GATEWAY": "twilio", "VOICE_GATEWAY": "twilio", "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_API_BASE_URL": base_url, "TWILIO_TIMEOUT_S": 2,
                "SMS_SENDER": "LOTOCAR", "VOICE_FROM": VOICE_FROM, "PUBLIC_BASE_URL": PUBLIC, **extra}
    for key, value in settings.items():
        monkeypatch.setitem(app.config, key, value)
    monkeypatch.setitem(app.extensions, "sms_gateway", build_gateway(app))
    monkeypatch.setitem(app.extensions, "voice_gateway", build_voice_gateway(app))


@pytest.fixture
def twilio(app, fake, monkeypatch):
    use_twilio(app, monkeypatch, fake.url)
    return fake


def landline_world(**kw):
    return make_world(passenger_mobile=False, passenger_consent=False, passenger_call_consent=True, **kw)


def voice_rows(booking_id: int, kind: str | None = None) -> list[SmsMessage]:
    return [r for r in rows(booking_id) if r.channel == Channel.VOICE and (kind is None or r.kind == kind)]


def run(app, fake: FakeTwilio) -> None:
    """One worker pass, then let every call placed play to its end."""
    worker.run_once(app)
    fake.wait_calls()
    db.session.expire_all()


def move_trip(world, minutes: int) -> None:
    """The driver moves the world's one-off trip by `minutes`, through the real trip edit
    (reconciled in its own transaction), committed once as the edit page would."""
    def edit() -> None:
        offer = db.session.get(Offer, world.offer_id)
        leaves = to_local(offer.departure_at) + timedelta(minutes=minutes)
        offer_ops.update_offer(offer, OfferInput(
            kind="one_off", origin=offer_ops.place_input(offer.origin, offer.origin_place, offer.origin_lat, offer.origin_lon),
            destination=offer_ops.place_input(offer.destination, offer.destination_place,
                                                  offer.destination_lat, offer.destination_lon),
            seats=offer.seats, max_detour_min=offer.max_detour_min, departure_date=leaves.date(),
            departure_time=leaves.time().replace(tzinfo=None)), None)
    tx.atomic(edit)


def says(twiml: str) -> list[str]:
    return [el.text or "" for el in ElementTree.fromstring(twiml).iter("Say")]


def sign(url: str, form: dict[str, str]) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, form)}


# --- the whole life of a booking for a landline passenger ---------------------------------------

def test_landline_passenger_hears_her_whole_booking_life(app, twilio, travel):
    w = landline_world()
    run(app, twilio)  # the driver's proposal goes by SMS
    assert [m["to"] for m in twilio.messages] == [w.driver_phone]

    # confirmed → the passenger is called; she listens and presses 1
    twilio.script(w.passenger_phone, "answer:1")
    confirm(w)
    assert {(r.recipient, r.channel) for r in rows(w.booking_id) if r.kind == "confirmed"} == {
        ("passenger", Channel.VOICE), ("driver", Channel.SMS)}
    run(app, twilio)
    [call] = twilio.calls_to(w.passenger_phone)
    form = twilio.call_forms[0]
    assert form["From"] == VOICE_FROM and form["MachineDetection"] == "DetectMessageEnd"
    assert re.fullmatch(rf"{PUBLIC}/voice/webhooks/twiml/[\w-]{{20,40}}", form["Url"])  # nothing personal
    assert form["StatusCallback"].startswith(f"{PUBLIC}/voice/webhooks/status?m=")
    twiml = call["_twiml"][0]
    assert '<Say language="fr-FR" voice="Polly.Lea">' in twiml and '<Gather action=' in twiml
    assert 'numDigits="1"' in twiml
    spoken = says(twiml)
    message = ("Votre trajet est confirmé, pour mardi 8 décembre, à 10 heures 5. Jean vous prendra à Douelle, "
               "devant la mairie, pour aller à Cahors.")
    assert spoken[0] == "Bonjour Marie. Ici Lot'ôcar, le covoiturage solidaire du Lot. " + message
    assert spoken[1] == "Je répète. " + message  # said twice
    assert spoken[2] == "Tapez 1 pour confirmer, 2 si vous ne pouvez pas venir, 3 pour réécouter."
    assert "zéro 5, 31, 60, zéro 9, zéro 3" in spoken[3]
    assert says(call["_twiml"][1]) == ["Merci, c'est noté. Bonne journée, au revoir."]
    [row] = voice_rows(w.booking_id, "confirmed")
    assert (row.status, row.digit, row.answered_by, row.provider_id) == (S.DELIVERED, "1", "human", call["sid"])
    assert row.provider_status == "completed" and row.call_seconds == 42
    assert all(status in (200, 204) for _, _, status in twilio.callback_log)

    # the evening before at 18:00: the reminder call
    twilio.script(w.passenger_phone, "answer:1")
    travel(datetime(2026, 12, 7, 18, 0, 30, tzinfo=PARIS))
    run(app, twilio)
    [reminder] = voice_rows(w.booking_id, "reminder_eve")
    assert reminder.status == S.DELIVERED and reminder.digit == "1"
    assert "Petit rappel pour demain, mardi 8 décembre. À 10 heures 5, Jean" in twilio.calls_to(
        w.passenger_phone)[1]["_twiml"][0]

    # the driver leaves 20 minutes later (09:55 → 10:15, from her own village): the matcher's
    # new pickup, 10:15, is called; an answering machine takes it
    twilio.script(w.passenger_phone, "machine")
    move_trip(w, 20)
    run(app, twilio)
    [changed] = voice_rows(w.booking_id, "changed")
    assert changed.status == S.DELIVERED and changed.answered_by == "machine_end_beep"
    assert calls.outcome_fr(changed) == "message laissé"
    machine_twiml = twilio.calls_to(w.passenger_phone)[2]["_twiml"]
    assert len(machine_twiml) == 1 and "<Gather" not in machine_twiml[0]  # once, no keys expected
    spoken = says(machine_twiml[0])
    assert spoken[0].endswith("Jean vous prendra mardi 8 décembre, à 10 heures 15, au lieu de 10 heures 5, "
                              "à Douelle, devant la mairie.")
    assert len(spoken) == 2 and "Au revoir" in spoken[1]
    request = db.session.get(TripRequest, w.request_id)
    assert request.flag == "trip_changed" and "prévenu par appel automatique" in request.flag_detail

    # the operator cancels: the passenger, who was told, is called once more
    twilio.script(w.passenger_phone, "answer")
    tx.atomic(lambda: bookings.transition(w.booking_id, "cancel_by_operator", actor_id=None,
                                          reason="Voiture en panne"))
    run(app, twilio)
    [cancelled] = voice_rows(w.booking_id, "cancelled")
    assert cancelled.status == S.DELIVERED and cancelled.digit is None
    assert "Votre trajet du mardi 8 décembre, à 10 heures 15, au départ de Douelle, est annulé." in \
        twilio.calls_to(w.passenger_phone)[3]["_twiml"][0]
    assert "Tapez 3 pour réécouter ce message." in twilio.calls_to(w.passenger_phone)[3]["_twiml"][0]
    # four calls to her, each once; never an SMS to her landline
    assert len(twilio.calls_to(w.passenger_phone)) == 4 and twilio.call_posts == 4
    assert w.passenger_phone not in {m["to"] for m in twilio.messages}
    assert all(r.status in (S.DELIVERED, S.CANCELLED) for r in voice_rows(w.booking_id))


# --- retries ----------------------------------------------------------------------------------

def test_retry_ladder_then_the_operators_call_list(app, twilio, travel):
    start = travel(datetime(2026, 12, 1, 10, 0, tzinfo=PARIS))
    w = landline_world()
    twilio.script(w.passenger_phone, "no-answer", "busy", "no-answer")
    confirm(w)
    run(app, twilio)
    first, second = voice_rows(w.booking_id, "confirmed")
    assert first.status == S.UNDELIVERED and first.provider_status == "no-answer"
    assert second.status == S.PENDING and second.attempt == 2 and second.key.endswith(":call2")
    assert timedelta(minutes=30) <= second.send_after - start < timedelta(minutes=31)
    travel(start + timedelta(minutes=29))
    run(app, twilio)
    assert twilio.call_posts == 1  # not before VOICE_RETRY_MIN
    travel(start + timedelta(minutes=31))
    run(app, twilio)
    travel(start + timedelta(minutes=62))
    run(app, twilio)
    attempts = voice_rows(w.booking_id, "confirmed")
    assert [(r.attempt, r.provider_status, r.status) for r in attempts] == [
        (1, "no-answer", S.UNDELIVERED), (2, "busy", S.UNDELIVERED), (3, "no-answer", S.UNDELIVERED)]
    travel(start + timedelta(hours=3))
    run(app, twilio)
    assert twilio.call_posts == 3  # VOICE_MAX_ATTEMPTS, then nothing more
    request = db.session.get(TripRequest, w.request_id)
    assert request.flag == "call_failed"
    assert re.search(r"injoignable après 3 essais \(10:0\d pas de réponse ; 10:3\d occupé ; "
                     r"11:0\d pas de réponse\) : appeler", request.flag_detail), request.flag_detail
    assert [r.id for r in queues.listing("a-appeler", queues.QueueFilter())] == [w.request_id]


def test_retry_settings_and_a_late_retry_goes_to_the_call_list(app, twilio, travel, monkeypatch):
    monkeypatch.setitem(app.config, "VOICE_RETRY_MIN", 10)
    monkeypatch.setitem(app.config, "VOICE_MAX_ATTEMPTS", 2)
    start = travel(datetime(2026, 12, 1, 10, 0, tzinfo=PARIS))
    w = landline_world()
    twilio.script(w.passenger_phone, "busy", "busy")
    confirm(w)
    run(app, twilio)
    travel(start + timedelta(minutes=11))
    run(app, twilio)
    assert [r.attempt for r in voice_rows(w.booking_id, "confirmed")] == [1, 2]
    assert db.session.get(TripRequest, w.request_id).flag == "call_failed"
    # at 19:50, a retry 30 minutes later would fall after 20:00 and wait for tomorrow 09:00;
    # for a pickup tomorrow 08:30 that is too late: straight to the operator's list
    monkeypatch.setitem(app.config, "VOICE_RETRY_MIN", 30)
    travel(datetime(2026, 12, 1, 19, 50, tzinfo=PARIS))
    late = landline_world(pickup_local=datetime(2026, 12, 2, 8, 30, tzinfo=PARIS))
    twilio.script(late.passenger_phone, "no-answer")
    confirm(late)
    run(app, twilio)
    assert [r.attempt for r in voice_rows(late.booking_id, "confirmed")] == [1]
    flagged = db.session.get(TripRequest, late.request_id)
    assert flagged.flag == "call_failed" and "plus le temps de rappeler" in flagged.flag_detail


# --- call hours ---------------------------------------------------------------------------------

@pytest.mark.parametrize("at,placed_at", [
    (time(19, 59), time(19, 59)), (time(20, 0), time(9, 0)), (time(8, 59), time(9, 0)), (time(9, 0), time(9, 0))])
def test_calls_only_between_9_and_20(app, twilio, travel, at, placed_at):
    when = travel(datetime.combine(datetime(2026, 12, 1).date(), at, tzinfo=PARIS))
    w = landline_world()  # pickup next Tuesday: not urgent
    confirm(w)
    [row] = voice_rows(w.booking_id, "confirmed")
    due_local = row.send_after.astimezone(PARIS)
    assert due_local.time().replace(second=0, microsecond=0) == placed_at
    run(app, twilio)
    assert twilio.call_posts == (1 if placed_at == at else 0)
    if placed_at != at:
        travel(due_local - timedelta(seconds=30))
        run(app, twilio)
        assert twilio.call_posts == 0
        travel(due_local + timedelta(seconds=1))
        run(app, twilio)
        assert twilio.call_posts == 1
    assert when.tzinfo is PARIS


@pytest.mark.parametrize("at,placed", [(time(20, 30), True), (time(21, 0), False), (time(7, 59), False),
                                       (time(8, 0), True)])
def test_urgent_calls_from_8_to_21_never_at_night(app, twilio, travel, at, placed):
    travel(datetime.combine(datetime(2026, 12, 1).date(), at, tzinfo=PARIS))
    pickup = datetime.combine(datetime(2026, 12, 1).date(), at, tzinfo=PARIS) + timedelta(hours=11, minutes=30)
    w = landline_world(pickup_local=pickup)  # within 12 h: urgent
    confirm(w)
    [row] = voice_rows(w.booking_id, "confirmed")
    assert row.urgent
    run(app, twilio)
    assert twilio.call_posts == (1 if placed else 0)
    if not placed:
        assert row.send_after.astimezone(PARIS).time() == time(8, 0)


# --- key 2, answering machine -------------------------------------------------------------------

def test_key_2_cancels_tells_the_driver_and_flags_the_operator(app, twilio, client):
    w = landline_world()
    run(app, twilio)
    twilio.script(w.passenger_phone, "answer:3,2")  # hears it again, then cannot come
    confirm(w)
    run(app, twilio)
    [call] = twilio.calls_to(w.passenger_phone)
    assert call["_digits"] == ["3", "2"]
    assert says(call["_twiml"][1])[0].startswith("Votre trajet est confirmé, pour mardi")  # 3: once more
    assert says(call["_twiml"][2]) == ["C'est noté : votre trajet est annulé, et nous prévenons Jean. "
                                       "L'équipe vous rappellera si besoin, au zéro 5, 31, 60, zéro 9, zéro 3. "
                                       "Au revoir."]
    assert w.booking.status == BookingStatus.CANCELLED_BY_PASSENGER
    request = db.session.get(TripRequest, w.request_id)
    assert request.flag == "call_cancelled" and "touche 2" in request.flag_detail
    assert "conducteur prévenu par SMS" in request.flag_detail
    # the driver is told by SMS; no cancellation call back to her
    worker.run_once(app)
    assert any("annulé" in m["body"] and m["to"] == w.driver_phone for m in twilio.messages)
    assert [r.kind for r in voice_rows(w.booking_id) if r.status != S.CANCELLED] == ["confirmed"]
    [row] = voice_rows(w.booking_id, "confirmed")
    assert row.digit == "2" and calls.outcome_fr(row) == "annulé par la personne (touche 2)"
    # Twilio posting the same key again changes nothing (idempotent)
    url = f"{PUBLIC}/voice/webhooks/gather/{row.twiml_token}"
    form = {"CallSid": row.provider_id, "Digits": "2", "AccountSid": ACCOUNT_SID}
    again = client.post(url.removeprefix(PUBLIC), data=form, headers=sign(url, form))
    assert again.status_code == 200 and "votre trajet est annulé" in again.get_data(as_text=True)
    assert len([e for e in db.session.scalars(db.select(SmsMessage).where(
        SmsMessage.booking_id == w.booking_id, SmsMessage.kind == "cancelled"))]) == 1
    assert [r.id for r in queues.listing("a-appeler", queues.QueueFilter())] == [w.request_id]


def test_answering_machine_gets_the_message_once_and_no_retry(app, twilio):
    w = landline_world()
    twilio.script(w.passenger_phone, "machine")
    confirm(w)
    run(app, twilio)
    [call] = twilio.calls_to(w.passenger_phone)
    [twiml] = call["_twiml"]
    spoken = says(twiml)
    assert spoken[0].startswith("Bonjour Marie.") and "Je répète" not in twiml and "<Gather" not in twiml
    [row] = voice_rows(w.booking_id, "confirmed")
    assert row.status == S.DELIVERED and row.answered_by == "machine_end_beep" and row.digit is None
    assert calls.outcome_fr(row) == "message laissé"
    assert db.session.get(TripRequest, w.request_id).flag is None
    assert twilio.call_posts == 1


# --- webhooks -----------------------------------------------------------------------------------

def _placed_row(app, twilio, scenario="answer"):
    twilio.callback_target = None  # the test plays Twilio's part itself
    w = landline_world()
    twilio.script(w.passenger_phone, scenario)
    confirm(w)
    worker.run_once(app)
    [row] = voice_rows(w.booking_id, "confirmed")
    return w, row


def test_webhooks_refuse_missing_or_wrong_signatures(app, twilio, client):
    w, row = _placed_row(app, twilio)
    twiml_url = f"{PUBLIC}/voice/webhooks/twiml/{row.twiml_token}"
    status_url = f"{PUBLIC}/voice/webhooks/status?m={row.id}"
    gather_url = f"{PUBLIC}/voice/webhooks/gather/{row.twiml_token}"
    form = {"CallSid": row.provider_id, "AccountSid": ACCOUNT_SID, "CallStatus": "completed", "Digits": "2"}
    for url in (twiml_url, status_url, gather_url):
        path = url.removeprefix(PUBLIC)
        assert client.post(path, data=form).status_code == 403  # no signature
        assert client.post(path, data=form, headers={"X-Twilio-Signature": "bad"}).status_code == 403
        # signed for another host (not PUBLIC_BASE_URL), or for other parameters
        assert client.post(path, data=form, headers=sign("http://localhost" + path, form)).status_code == 403
        assert client.post(path, data={**form, "Digits": "1"}, headers=sign(url, form)).status_code == 403
    assert w.booking.status == BookingStatus.CONFIRMED  # nothing happened
    db.session.refresh(row)
    assert row.status == S.SENT and row.twiml_served_at is None


def test_twiml_url_is_single_use_and_statuses_only_move_forward(app, twilio, client):
    w, row = _placed_row(app, twilio)
    url = f"{PUBLIC}/voice/webhooks/twiml/{row.twiml_token}"
    form = {"CallSid": row.provider_id, "AccountSid": ACCOUNT_SID, "AnsweredBy": "human"}
    first = client.post(url.removeprefix(PUBLIC), data=form, headers=sign(url, form)).get_data(as_text=True)
    assert "Bonjour Marie" in first
    second = client.post(url.removeprefix(PUBLIC), data=form, headers=sign(url, form)).get_data(as_text=True)
    assert "Marie" not in second and "<Hangup" in second  # served once
    unknown = f"{PUBLIC}/voice/webhooks/twiml/not-a-token"
    gone = client.post(unknown.removeprefix(PUBLIC), data=form, headers=sign(unknown, form))
    assert gone.status_code == 200 and "<Hangup" in gone.get_data(as_text=True)

    status_url = f"{PUBLIC}/voice/webhooks/status?m={row.id}"

    def report(status: str) -> int:
        data = {"CallSid": row.provider_id, "AccountSid": ACCOUNT_SID, "CallStatus": status}
        return client.post(status_url.removeprefix(PUBLIC), data=data, headers=sign(status_url, data)).status_code

    assert report("in-progress") == 204
    assert report("completed") == 204
    assert report("ringing") == 204 and report("no-answer") == 204 and report("completed") == 204
    db.session.refresh(row)
    assert row.status == S.DELIVERED and row.provider_status == "completed"
    assert len(voice_rows(w.booking_id, "confirmed")) == 1  # the late no-answer scheduled no retry


def test_repeated_no_answer_callbacks_schedule_one_retry(app, twilio, client):
    w, row = _placed_row(app, twilio)
    url = f"{PUBLIC}/voice/webhooks/status?m={row.id}"
    data = {"CallSid": row.provider_id, "AccountSid": ACCOUNT_SID, "CallStatus": "no-answer"}
    for _ in range(3):
        assert client.post(url.removeprefix(PUBLIC), data=data, headers=sign(url, data)).status_code == 204
    assert [r.attempt for r in voice_rows(w.booking_id, "confirmed")] == [1, 2]


# --- channel choice and the console -------------------------------------------------------------

def test_channel_per_person(app):
    cases = {
        "mobile + SMS consent": (make_world(), Channel.SMS),
        "landline + call consent": (landline_world(), Channel.VOICE),
        "mobile who asked for calls": (make_world(passenger_call_consent=True, prefers_calls=True), Channel.VOICE),
        "mobile, calls consent only": (make_world(passenger_consent=False, passenger_call_consent=True),
                                       Channel.VOICE),
        "landline, no call consent": (make_world(passenger_mobile=False, passenger_consent=False), None),
        "mobile, no consent at all": (make_world(passenger_consent=False), None),
    }
    for label, (w, channel) in cases.items():
        confirm(w)
        got = {r.channel for r in rows(w.booking_id) if r.recipient == "passenger"}
        assert got == ({channel} if channel else set()), label
        request = db.session.get(TripRequest, w.request_id)
        if channel is None:
            assert request.flag == "call_needed" and "Marie" in request.flag_detail, label
        else:
            assert request.flag is None, label
    flagged = {r.id for r in queues.listing("a-appeler", queues.QueueFilter())}
    assert flagged == {cases[k][0].request_id for k in ("landline, no call consent", "mobile, no consent at all")}


def test_no_voice_gateway_means_the_operator_calls(app, monkeypatch):
    monkeypatch.setitem(app.extensions, "voice_gateway", None)
    w = landline_world()
    confirm(w)
    assert [r.recipient for r in rows(w.booking_id) if r.kind == "confirmed"] == ["driver"]
    assert db.session.get(TripRequest, w.request_id).flag == "call_needed"


def test_gateway_configuration(app, monkeypatch):
    for key, value in {"VOICE_GATEWAY": "twilio", "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                       "VOICE_FROM": "", "PUBLIC_BASE_URL": PUBLIC}.items():
        monkeypatch.setitem(app.config, key, value)
    with pytest.raises(RuntimeError, match="VOICE_FROM"):
        build_voice_gateway(app)
    monkeypatch.setitem(app.config, "VOICE_FROM", VOICE_FROM)
    assert isinstance(build_voice_gateway(app), TwilioVoiceGateway)
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", "")
    with pytest.raises(RuntimeError, match="PUBLIC_BASE_URL"):
        build_voice_gateway(app)
    monkeypatch.setitem(app.config, "VOICE_GATEWAY", "")  # auto: SMS through Twilio, no VOICE_FROM → off
    monkeypatch.setitem(app.config, "VOICE_FROM", "")
    monkeypatch.setitem(app.config, "SMS_GATEWAY", "twilio")
    assert build_voice_gateway(app) is None
    monkeypatch.setitem(app.config, "SMS_GATEWAY", "dev")
    assert build_voice_gateway(app).name == "dev"


def test_unknown_outcome_at_twilio_is_checked_never_called_twice(app, twilio, travel):
    twilio.callback_target = None
    start = travel(datetime(2026, 12, 1, 10, 0, tzinfo=PARIS))
    w = landline_world()
    twilio.script(w.passenger_phone, "500_created")
    confirm(w)
    worker.run_once(app)
    [row] = voice_rows(w.booking_id, "confirmed")
    assert row.status == S.UNKNOWN and row.provider_id is None
    travel(start + timedelta(minutes=2))
    worker.run_once(app)
    db.session.refresh(row)
    assert row.status == S.SENT and row.provider_id == twilio.calls[0]["sid"] and row.checks == 1
    assert twilio.call_posts == 1 and twilio.call_lists == 1


def test_a_lost_final_status_is_asked_at_twilio(app, twilio, travel):
    twilio.callback_target = None
    start = travel(datetime(2026, 12, 1, 10, 0, tzinfo=PARIS))
    w = landline_world()
    confirm(w)
    worker.run_once(app)
    twilio.calls[0]["status"] = "no-answer"  # Twilio knows; its callback never arrived
    travel(start + timedelta(minutes=16))
    worker.run_once(app)
    first, second = voice_rows(w.booking_id, "confirmed")
    assert first.status == S.UNDELIVERED and second.status == S.PENDING and second.attempt == 2


def test_console_shows_calls_the_call_list_and_records_the_call_consent(app, twilio, client):
    from lotocar.auth.models import Role, User
    from lotocar.passengers.models import Passenger
    from tests.conftest import csrf_token, login_as

    operator = User(role=Role.OPERATOR, first_name="Odile", last_name="Op", email="op@lotocar.example")
    db.session.add(operator)
    db.session.commit()
    login_as(client, operator)
    w = landline_world()
    twilio.script(w.passenger_phone, "answer:1")
    confirm(w)
    run(app, twilio)
    page = client.get(f"/console/reservations/{w.booking_id}").get_data(as_text=True)
    assert "Appels automatiques" in page and "Écouté, confirmé (touche 1)" in page
    assert "Décroché par une personne" in page and "essai n° 1" in page
    # automation did it all: nothing on the call list
    assert "Aucune demande dans cette file." in client.get("/console/?file=a-appeler").get_data(as_text=True)

    # a passenger with a landline and no call consent: on the list; the operator asks her on
    # the phone and records her agreement, with its date
    other = make_world(passenger_mobile=False, passenger_consent=False, passenger_first="Lucienne")
    confirm(other)
    listing = client.get("/console/?file=a-appeler").get_data(as_text=True)
    assert "Lucienne" in listing and "Trajet confirmé à annoncer à Lucienne par téléphone" in listing
    person = db.session.scalar(db.select(Passenger).where(Passenger.phone == other.passenger_phone))
    token = csrf_token(client, f"/console/passagers/{person.id}")
    assert client.post(f"/console/passagers/{person.id}/appels", data={"csrf_token": token,
                                                                      "prefers_calls": "y"}).status_code == 302
    db.session.refresh(person)
    assert person.call_consent_at is None  # "prefers calls" alone is refused
    assert client.post(f"/console/passagers/{person.id}/appels",
                       data={"csrf_token": token, "call_consent": "y"}).status_code == 302
    db.session.refresh(person)
    assert person.call_consent_at is not None and person.call_consent_by_id == operator.id
    page = client.get(f"/console/passagers/{person.id}").get_data(as_text=True)
    assert "Appels automatiques : <span data-call-consent>accord du" in page
    assert "appels vocaux automatiques" in page
    assert client.post(f"/console/passagers/{person.id}/appels", data={"csrf_token": token}).status_code == 302
    db.session.refresh(person)
    assert person.call_consent_at is None


def test_registration_records_the_call_consent(app, client):
    from lotocar.auth.models import Role, User
    from lotocar.passengers.models import Passenger
    from tests.conftest import csrf_token, login_as

    operator = User(role=Role.OPERATOR, first_name="Odile", last_name="Op", email="op2@lotocar.example")
    db.session.add(operator)
    db.session.commit()
    login_as(client, operator)
    token = csrf_token(client, "/console/appel?q=zzzz")
    answer = client.post("/console/passagers", data={
        "csrf_token": token, "phone": "05 65 22 33 44", "first_name": "Germaine", "last_name": "Vidal",
        "home": "Douelle", "has_no_car": "y", "call_consent": "y"})
    assert answer.status_code == 302
    person = db.session.scalar(db.select(Passenger).where(Passenger.last_name == "Vidal"))
    assert not person.phone_is_mobile and person.call_consent_at is not None and person.sms_consent_at is None
    assert calls.passenger_channel(person) == Channel.VOICE


def test_status_command_counts_calls(app, runner):
    w = landline_world()
    confirm(w)
    out = runner.invoke(args=["sms", "status"]).output
    assert "voice gateway: dev" in out and "voice pending: 3" in out  # confirmation, both reminders


def test_what_automation_cannot_tell_goes_to_the_call_list(app, travel):
    # 21:00, pickup tomorrow 07:50: a call could only be placed at 08:00, after the pickup
    travel(datetime(2026, 12, 1, 21, 0, tzinfo=PARIS))
    late = landline_world(pickup_local=datetime(2026, 12, 2, 7, 50, tzinfo=PARIS))
    confirm(late)
    assert voice_rows(late.booking_id) == []
    request = db.session.get(TripRequest, late.request_id)
    assert request.flag == "call_needed" and "trop tard pour un appel automatique" in request.flag_detail
    # a trip change for a passenger with no automatic channel: phone her
    travel(datetime(2026, 12, 2, 10, 0, tzinfo=PARIS))
    w = make_world(passenger_mobile=False, passenger_consent=False, passenger_first="Lucienne")
    confirm(w)
    request = db.session.get(TripRequest, w.request_id)
    assert request.flag == "call_needed"  # her confirmation: the operator phones her
    request.flag = None  # ... and did
    db.session.commit()
    worker.run_once(app)  # the driver's confirmation SMS goes
    # the driver leaves 15 minutes later (09:55 → 10:10, from her own village)
    move_trip(w, 15)
    db.session.expire_all()
    request = db.session.get(TripRequest, w.request_id)
    assert request.flag == "call_needed" and "prévenir le passager par téléphone" in request.flag_detail
    assert "à 10:10 (au lieu de 10:05)" in request.flag_detail
    assert voice_rows(w.booking_id) == [] and \
        {r.recipient for r in rows(w.booking_id) if r.kind == "changed"} == {"driver"}
    assert w.request_id in {r.id for r in queues.listing("a-appeler", queues.QueueFilter())}
