"""The Twilio gateway, through the real SDK, against a fake Twilio API on loopback:
success, 429, 500, timeouts, 21211, 21610, refused connections, unknown outcomes checked
before any resend, sender by configuration (alphanumeric, Messaging Service, API key)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from lotocar.core.timeutil import utcnow
from lotocar.extensions import db
from lotocar.notifications import outbox, worker
from lotocar.notifications.gateway import TwilioGateway, build_gateway
from lotocar.notifications.models import SmsStatus
from lotocar.requests.models import TripRequest
from tests.fake_twilio import ACCOUNT_SID, API_KEY, API_SECRET, AUTH_TOKEN, FakeTwilio
from tests.sms_factories import make_world, rows

S = SmsStatus
TO = "+33611111111"


@pytest.fixture
def fake():
    server = FakeTwilio(hang_s=1.2).start()
    yield server
    server.stop()


def use_twilio(app, monkeypatch, base_url: str, **extra) -> None:
    settings = {"SMS_GATEWAY": "twilio", "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                "TWILIO_API_BASE_URL": base_url, "TWILIO_TIMEOUT_S": 0.5, "SMS_SENDER": "LOTOCAR",
                "PUBLIC_BASE_URL": "https://lotocar.example", "SMS_RETRY_BASE_S": 30, **extra}
    for key, value in settings.items():
        monkeypatch.setitem(app.config, key, value)
    monkeypatch.setitem(app.extensions, "sms_gateway", build_gateway(app))


@pytest.fixture
def twilio(app, fake, monkeypatch):
    use_twilio(app, monkeypatch, fake.url)
    return fake


def queue(body: str = "Lot'ôcar : essai", to: str = TO) -> int:
    msg_id = outbox.enqueue(outbox.Draft(kind="test", to_phone=to, body=body, urgent=True))
    db.session.commit()
    return msg_id


def row(msg_id: int):
    db.session.expire_all()
    return next(r for r in rows() if r.id == msg_id)


def test_send_through_the_sdk(app, twilio):
    assert isinstance(app.extensions["sms_gateway"], TwilioGateway)
    msg_id = queue()
    assert worker.run_once(app).sent == 1
    [form] = twilio.forms
    assert form["To"] == TO and form["From"] == "LOTOCAR" and form["Body"] == "Lot'ocar : essai"
    assert form["StatusCallback"] == f"https://lotocar.example/sms/webhooks/status?m={msg_id}"
    r = row(msg_id)
    assert r.status == S.SENT and r.provider_id == twilio.messages[0]["sid"] and r.provider_status == "queued"


def test_messaging_service_and_api_key_by_configuration(app, fake, monkeypatch):
    use_twilio(app, monkeypatch, fake.url, TWILIO_MESSAGING_SERVICE_SID="MG" + "1" * 32,
               TWILIO_AUTH_TOKEN="", TWILIO_API_KEY=API_KEY, TWILIO_API_SECRET=API_SECRET)
    queue()
    worker.run_once(app)
    [form] = fake.forms
    assert form["MessagingServiceSid"] == "MG" + "1" * 32 and "From" not in form
    assert fake.auth_failures == 0 and fake.count() == 1


def test_429_is_retried_with_backoff(app, twilio):
    twilio.script(TO, "429", "429", "ok")
    msg_id = queue()
    now = utcnow()
    worker.run_once(app, now=now)
    r = row(msg_id)
    assert r.status == S.PENDING and r.attempts == 1 and "429" in r.last_error
    assert r.send_after == now + timedelta(seconds=30)
    worker.run_once(app, now=now + timedelta(seconds=10))  # not due yet
    assert twilio.posts == 1
    worker.run_once(app, now=now + timedelta(seconds=31))
    assert row(msg_id).send_after == now + timedelta(seconds=31 + 60)  # doubled
    worker.run_once(app, now=now + timedelta(seconds=95))
    assert row(msg_id).status == S.SENT and twilio.count() == 1 and twilio.posts == 3


def test_500_outcome_unknown_is_checked_then_resent_once(app, twilio):
    twilio.script(TO, "500")
    msg_id = queue()
    now = utcnow()
    worker.run_once(app, now=now)
    assert row(msg_id).status == S.UNKNOWN and twilio.lists == 0
    worker.run_once(app, now=now + timedelta(seconds=31))
    r = row(msg_id)
    assert twilio.lists == 1 and r.checks == 1  # looked up before resending
    assert r.status == S.SENT and twilio.count() == 1 and twilio.posts == 2


@pytest.mark.parametrize("behaviour", ["500_created", "timeout_created"])
def test_unknown_outcome_that_went_out_is_never_resent(app, twilio, behaviour):
    twilio.script(TO, behaviour)
    msg_id = queue()
    now = utcnow()
    worker.run_once(app, now=now)
    r = row(msg_id)
    assert r.status == S.UNKNOWN and r.provider_id is None
    worker.run_once(app, now=now + timedelta(seconds=31))
    r = row(msg_id)
    assert r.status == S.SENT and r.provider_id == twilio.messages[0]["sid"]
    assert twilio.posts == 1 and twilio.count() == 1


def test_timeout_without_message_is_resent_after_the_check(app, twilio):
    twilio.script(TO, "timeout")
    msg_id = queue()
    now = utcnow()
    worker.run_once(app, now=now)
    assert row(msg_id).status == S.UNKNOWN
    worker.run_once(app, now=now + timedelta(seconds=31))
    assert row(msg_id).status == S.SENT and twilio.count() == 1 and twilio.lists == 1


def test_connection_refused_is_transient_not_unknown(app, fake, monkeypatch):
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nobody listens there now
    use_twilio(app, monkeypatch, f"http://127.0.0.1:{port}")
    msg_id = queue()
    worker.run_once(app)
    r = row(msg_id)
    assert r.status == S.PENDING and r.attempts == 1 and "Réseau" in r.last_error


def test_gives_up_after_max_attempts(app, twilio, monkeypatch):
    monkeypatch.setitem(app.config, "SMS_MAX_ATTEMPTS", 2)
    twilio.script(TO, "429", "429", "429")
    msg_id = queue()
    now = utcnow()
    worker.run_once(app, now=now)
    worker.run_once(app, now=now + timedelta(hours=1))
    r = row(msg_id)
    assert r.status == S.FAILED and "Abandon après 2 essais" in r.last_error and twilio.posts == 2


@pytest.mark.parametrize("code,text", [("21211", "numéro invalide"), ("21614", "pas un portable"),
                                       ("30006", "ligne fixe")])
def test_permanent_errors_fail_at_once_and_flag_the_request(app, twilio, code, text):
    w = make_world()
    twilio.script(w.driver_phone, code)
    now = utcnow()
    worker.run_once(app, now=now)
    worker.run_once(app, now=now + timedelta(hours=2))
    [proposal] = rows(w.booking_id)
    assert proposal.status == S.FAILED and proposal.error_code == int(code) and twilio.posts == 1
    request = db.session.get(TripRequest, w.request_id)
    assert request.flag == "sms_failed" and text in request.flag_detail and "Jean (conducteur)" in request.flag_detail


def test_21610_records_the_opt_out_and_stops_further_sends(app, twilio):
    twilio.script(TO, "21610")
    first = queue("premier")
    worker.run_once(app)
    assert row(first).status == S.FAILED and outbox.is_opted_out(TO)
    second = queue("second")
    code = outbox.enqueue(outbox.Draft(kind="code_login", to_phone=TO, body="code 123456", urgent=True))
    db.session.commit()
    worker.run_once(app)
    assert row(second).status == S.CANCELLED and "STOP" in row(second).last_error
    assert row(code).status == S.SENT  # a code the person asked for is still allowed
    assert [f["Body"] for f in twilio.forms] == ["premier", "code 123456"]


def test_misconfiguration_is_refused_clearly(app, monkeypatch):
    monkeypatch.setitem(app.config, "SMS_GATEWAY", "twilio")
    monkeypatch.setitem(app.config, "TWILIO_ACCOUNT_SID", "")
    with pytest.raises(RuntimeError, match="TWILIO_ACCOUNT_SID"):
        build_gateway(app)
    monkeypatch.setitem(app.config, "SMS_GATEWAY", "")
    assert build_gateway(app).name == "dev"  # the default without Twilio settings
    monkeypatch.setitem(app.config, "TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setitem(app.config, "TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    assert build_gateway(app).name == "twilio"


def test_unknown_outcome_that_cannot_be_checked_is_never_resent(app, twilio, monkeypatch):
    monkeypatch.setitem(app.config, "SMS_MAX_ATTEMPTS", 2)
    twilio.script(TO, "500_created")
    twilio.list_fails = True
    msg_id = queue()
    now = utcnow()
    worker.run_once(app, now=now)
    worker.run_once(app, now=now + timedelta(seconds=31))
    r = row(msg_id)
    assert r.status == S.UNKNOWN and r.checks == 1 and "Vérification impossible" in r.last_error
    worker.run_once(app, now=now + timedelta(hours=1))
    r = row(msg_id)
    assert r.status == S.FAILED and r.checks == 2 and "Envoi incertain" in r.last_error
    assert twilio.posts == 1  # checked, never blindly resent
