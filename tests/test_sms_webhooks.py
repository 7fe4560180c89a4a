"""Twilio webhooks: signature (valid, invalid, missing, behind a proxy), status callbacks out
of order and repeated, STOP / START, drivers' OUI / NON replies."""
from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator

from lotocar.bookings.models import BookingStatus
from lotocar.core.timeutil import utcnow
from lotocar.extensions import db
from lotocar.notifications import operations as sms_ops
from lotocar.notifications import outbox, worker
from lotocar.notifications.gateway import SendResult
from lotocar.notifications.models import SmsInbound, SmsStatus
from lotocar.requests.models import TripRequest
from tests.fake_twilio import AUTH_TOKEN
from tests.sms_factories import by_key, confirm, make_world, rows

S = SmsStatus


@pytest.fixture(autouse=True)
def token(app, monkeypatch):
    monkeypatch.setitem(app.config, "TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", "")


def signed_post(client, path: str, params: dict, url: str | None = None, token: str = AUTH_TOKEN, **kw):
    signature = RequestValidator(token).compute_signature(url or f"http://localhost{path}", params)
    return client.post(path, data=params, headers={"X-Twilio-Signature": signature}, **kw)


def sent_row(app) -> int:
    msg_id = outbox.enqueue(outbox.Draft(kind="test", to_phone="+33622222222", body="essai", urgent=True))
    db.session.commit()
    worker.run_once(app)
    return msg_id


def status(msg_id: int) -> SmsStatus:
    db.session.expire_all()
    return next(r for r in rows() if r.id == msg_id).status


def callback(client, msg_id: int, word: str, sid: str | None = None, **extra):
    row = next(r for r in rows() if r.id == msg_id)
    params = {"MessageSid": sid or row.provider_id, "MessageStatus": word, "AccountSid": "AC1", **extra}
    return signed_post(client, f"/sms/webhooks/status?m={msg_id}", params)


def test_signature_valid_invalid_missing(app, client):
    msg_id = sent_row(app)
    params = {"MessageSid": next(r for r in rows()).provider_id, "MessageStatus": "delivered"}
    path = f"/sms/webhooks/status?m={msg_id}"
    assert client.post(path, data=params).status_code == 403  # missing
    bad = client.post(path, data=params, headers={"X-Twilio-Signature": "bm9wZQ=="})
    assert bad.status_code == 403 and "Accès refusé" in bad.get_data(as_text=True)
    tampered = RequestValidator(AUTH_TOKEN).compute_signature(f"http://localhost{path}", {**params, "MessageStatus": "sent"})
    assert client.post(path, data=params, headers={"X-Twilio-Signature": tampered}).status_code == 403
    assert signed_post(client, path, params, token="another-token").status_code == 403
    assert status(msg_id) == S.SENT
    assert signed_post(client, path, params).status_code == 204  # no CSRF token needed, signature is
    assert status(msg_id) == S.DELIVERED


def test_signature_without_configured_token_is_refused(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "TWILIO_AUTH_TOKEN", "")
    r = signed_post(client, "/sms/webhooks/inbound", {"From": "+33622222222", "Body": "STOP", "MessageSid": "SM1"})
    assert r.status_code == 403 and not outbox.is_opted_out("+33622222222")


def test_signature_behind_a_reverse_proxy(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", "https://lotocar.lot.fr/")
    msg_id = sent_row(app)
    params = {"MessageSid": next(r for r in rows()).provider_id, "MessageStatus": "delivered"}
    path = f"/sms/webhooks/status?m={msg_id}"
    # Twilio signed the public https URL; the app sees http://localhost through the proxy
    assert signed_post(client, path, params, url=f"http://localhost{path}").status_code == 403
    assert signed_post(client, path, params, url=f"https://lotocar.lot.fr{path}").status_code == 204
    assert status(msg_id) == S.DELIVERED


def test_status_only_moves_forward_and_repeats_are_ignored(app, client):
    msg_id = sent_row(app)
    assert callback(client, msg_id, "sent").status_code == 204
    assert callback(client, msg_id, "delivered").status_code == 204
    for late in ("sent", "queued", "sending", "delivered", "undelivered"):
        assert callback(client, msg_id, late).status_code == 204
    assert status(msg_id) == S.DELIVERED
    # a report for an unknown message, or an unknown status word, is accepted and ignored
    assert callback(client, msg_id, "delivered", sid="SMnope").status_code == 204
    assert callback(client, msg_id, "whatever").status_code == 204
    assert status(msg_id) == S.DELIVERED


def test_callback_before_the_worker_recorded_the_send(app, client):
    msg_id = outbox.enqueue(outbox.Draft(kind="test", to_phone="+33622222222", body="essai", urgent=True))
    db.session.commit()
    now = utcnow()
    assert outbox.claim(msg_id, "w1", now)
    db.session.commit()
    # Twilio reports delivery before the worker wrote down the API's answer
    assert signed_post(client, f"/sms/webhooks/status?m={msg_id}",
                       {"MessageSid": "SMabc", "MessageStatus": "delivered"}).status_code == 204
    row = next(r for r in rows() if r.id == msg_id)
    outbox._record_sent(row, SendResult("SMabc", "queued"), now)
    row = next(r for r in rows() if r.id == msg_id)
    assert row.status == S.DELIVERED and row.provider_id == "SMabc"


def test_undelivered_flags_the_request_and_30003_is_retried_later(app, client):
    w = make_world()
    worker.run_once(app)
    [proposal] = rows(w.booking_id)
    callback(client, proposal.id, "undelivered", ErrorCode="30005")
    db.session.expire_all()
    assert status(proposal.id) == S.UNDELIVERED
    request = db.session.get(TripRequest, w.request_id)
    assert request.flag == "sms_failed" and "numéro inconnu" in request.flag_detail
    history = sms_ops.messages_for_booking(w.booking_id)
    assert history[0].status_label == "Non remis" and history[0].needs_call

    w2 = make_world()
    worker.run_once(app)
    [proposal2] = rows(w2.booking_id)
    callback(client, proposal2.id, "undelivered", ErrorCode="30003")
    again = [r for r in rows(w2.booking_id) if r.id != proposal2.id]
    assert len(again) == 1 and again[0].status == S.PENDING and again[0].body == proposal2.body
    assert db.session.get(TripRequest, w2.request_id).flag is None


def inbound(client, from_: str, body: str, sid: str):
    return signed_post(client, "/sms/webhooks/inbound",
                       {"From": from_, "To": "+33700000000", "Body": body, "MessageSid": sid})


def test_stop_then_start(app, client, sms):
    w = make_world()
    confirm(w)
    worker.run_once(app)  # confirmations sent; reminders pending
    r = inbound(client, w.passenger_phone, "Arrêt", "SMin1")
    assert r.status_code == 200 and r.mimetype == "text/xml" and "<Response>" in r.get_data(as_text=True)
    assert inbound(client, w.passenger_phone, "Arrêt", "SMin1").status_code == 200  # repeated webhook
    assert db.session.scalar(db.select(db.func.count(SmsInbound.id))) == 1
    assert sms_ops.is_opted_out(w.passenger_phone)
    assert sms_ops.opt_out_record(w.passenger_phone).keyword == "ARRET"
    keys = by_key(w.booking_id)
    assert keys["reminder_eve:passenger"].status == S.CANCELLED and keys["reminder_eve:driver"].status == S.PENDING
    request = db.session.get(TripRequest, w.request_id)
    assert request.flag == "sms_failed" and "STOP" in request.flag_detail  # the operator sees it
    worker.run_once(app)
    assert "vous ne recevrez plus nos SMS" in sms.last_to(w.passenger_phone).body  # the one allowed reply
    assert any(m.kind == "opt_out" for m in sms_ops.messages_for_phone(w.passenger_phone))

    inbound(client, w.passenger_phone, "START", "SMin2")
    assert not sms_ops.is_opted_out(w.passenger_phone)
    worker.run_once(app)
    assert "de nouveau" in sms.last_to(w.passenger_phone).body


@pytest.mark.parametrize("word", ["STOP", "stop", "Stop merci", "STOPALL", "unsubscribe", "ARRET", "arrêter"])
def test_standard_opt_out_keywords(app, client, word):
    inbound(client, "+33633333333", word, f"SM-{word}")
    assert sms_ops.is_opted_out("+33633333333")


def test_driver_replies_oui_or_non_to_the_latest_proposal(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "SMS_TWO_WAY", "true")
    w = make_world()
    inbound(client, w.driver_phone, "Oui !", "SMr1")
    db.session.expire_all()
    assert w.booking.status == BookingStatus.ACCEPTED_BY_DRIVER
    from lotocar.audit.models import AuditEntry
    entry = db.session.scalar(db.select(AuditEntry).where(AuditEntry.action == "accept"))
    assert entry.actor_id == w.driver_user_id and entry.reason == "Réponse par SMS"
    reply = db.session.scalar(db.select(SmsInbound).where(SmsInbound.provider_id == "SMr1"))
    assert reply.booking_id == w.booking_id and reply.result == "Accepté par SMS"
    # nothing left to answer
    inbound(client, w.driver_phone, "non", "SMr2")
    db.session.expire_all()
    assert w.booking.status == BookingStatus.ACCEPTED_BY_DRIVER
    assert any("aucune demande" in r.body for r in rows() if r.to_phone == w.driver_phone)


def test_non_declines_and_free_text_is_kept_for_the_operator(app, client):
    w = make_world()
    inbound(client, w.driver_phone, "NON désolé", "SMr3")
    db.session.expire_all()
    assert w.booking.status == BookingStatus.DECLINED
    w2 = make_world()
    inbound(client, w2.driver_phone, "Je serai un peu en retard", "SMr4")
    request = db.session.get(TripRequest, w2.request_id)
    assert request.flag == "sms_reply" and "en retard" in request.flag_detail
    assert any(m.direction == "in" and m.kind == "other" for m in sms_ops.messages_for_booking(w2.booking_id))
