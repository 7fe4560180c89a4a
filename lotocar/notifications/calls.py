"""Automatic voice calls (issue #17): channel choice, call statuses, retries, answering
machines, the TwiML a call fetches and the key the person presses.

A call is an outbox row with `channel = voice`, one row per attempt (see `outbox`). Its life:

    pending ─claim→ sending ─Twilio created the call→ sent (queued, ringing, in-progress)
        └ completed → delivered   (a person listened, or the machine took the message once)
        └ busy / no-answer → undelivered → attempt n+1 after VOICE_RETRY_MIN, within the call
                               hours, up to VOICE_MAX_ATTEMPTS; then the operator's call list
        └ failed / canceled → failed → the operator's call list

Webhooks (signed by Twilio, see `voice_views`) move statuses forward only; a repeated or
late callback changes nothing. The TwiML URL of an attempt carries a random token in its
path (no name, no number) and is served once: a second fetch only hangs up.
Key 1 records the person's confirmation, 2 cancels the booking through
`lotocar.bookings.operations.transition` (the driver gets the cancellation SMS, the operator
a flag), 3 says the message again.

Functions here add to the session and never commit: the webhook view or the worker's tick
commits once (the cancellation by key 2 goes through the bookings operation, which only
flushes: the gather webhook commits it with the call's outcome).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app

from lotocar.bookings import operations as bookings
from lotocar.bookings.models import LIVE, Booking
from lotocar.core.timeutil import format_time_fr, to_local, utcnow
from lotocar.extensions import db
from lotocar.notifications import outbox, speech
from lotocar.notifications.models import Channel, SmsMessage, SmsStatus
from lotocar.notifications.texts import KIND_LABELS_FR, day_fr
from lotocar.notifications.voice_gateway import voice_available, voice_gateway
from lotocar.passengers.models import Passenger

log = logging.getLogger("lotocar.voice")
S = SmsStatus

# Twilio's call statuses, in the order a call goes through them
CALL_RANK = {"queued": 0, "initiated": 1, "ringing": 2, "in-progress": 3, "answered": 3,
             "completed": 4, "busy": 4, "no-answer": 4, "failed": 4, "canceled": 4}
FINAL_CALL = {"completed": S.DELIVERED, "busy": S.UNDELIVERED, "no-answer": S.UNDELIVERED,
              "failed": S.FAILED, "canceled": S.FAILED}
RETRY_ON = frozenset({"busy", "no-answer"})
CANCELLED_KINDS = frozenset({"cancelled", "cancelled_by_driver"})
# a call whose final status never came (lost callback) is asked at Twilio after this long
POLL_AFTER = timedelta(minutes=15)

OUTCOME_FR = {
    "busy": "occupé", "no-answer": "pas de réponse", "failed": "échec de l'appel", "canceled": "appel annulé",
}


# --- which channel for a passenger -------------------------------------------------------

def passenger_channel(p: Passenger) -> Channel | None:
    """Mobile + SMS consent → SMS; landline (or a passenger who asked for calls) + call
    consent → a voice call; neither → None: the operator phones (call list)."""
    if not p.phone or p.anonymised_at is not None:
        return None
    sms_ok = p.phone_is_mobile and p.sms_consent_at is not None
    call_ok = p.call_consent_at is not None and voice_available()
    if call_ok and (not p.phone_is_mobile or p.prefers_calls or not sms_ok):
        return Channel.VOICE
    if sms_ok:
        return Channel.SMS
    return None


def is_machine(answered_by: str | None) -> bool:
    return (answered_by or "").startswith("machine")


# --- status callbacks ----------------------------------------------------------------------

def _row_for(msg_id: int | None, call_sid: str | None) -> SmsMessage | None:
    row = db.session.get(SmsMessage, msg_id) if msg_id else None
    if row is not None and call_sid and row.provider_id and row.provider_id != call_sid:
        row = None  # a report about another attempt
    if row is None and call_sid:
        row = db.session.scalar(db.select(SmsMessage).where(SmsMessage.provider_id == call_sid))
    if row is None or row.channel != Channel.VOICE:
        return None
    return row


def apply_call_status(msg_id: int | None, call_sid: str | None, word: str | None,
                      answered_by: str | None = None, duration_s: int | None = None,
                      now: datetime | None = None) -> str:
    """A call's status report: forward only; the final one decides retry / flag once."""
    now = now or utcnow()
    word = (word or "").strip().lower()
    rank = CALL_RANK.get(word)
    if rank is None:
        return "ignored"
    row = _row_for(msg_id, call_sid)
    if row is None:
        return "unknown_message"
    lower_words = [w for w, r in CALL_RANK.items() if r < rank]
    values: dict = {"provider_status": word}
    if call_sid and row.provider_id is None:
        values["provider_id"] = call_sid
    if answered_by:
        values["answered_by"] = answered_by[:30]
    if duration_s is not None:
        values["call_seconds"] = duration_s
    advanced = db.session.execute(
        db.update(SmsMessage).where(SmsMessage.id == row.id, db.or_(SmsMessage.provider_status.is_(None),
                                                                  SmsMessage.provider_status.in_(lower_words)))
        .values(**values).execution_options(synchronize_session=False)).rowcount == 1
    target = FINAL_CALL.get(word)
    if target is None:
        outbox._set_status(row.id, S.SENT, {S.SENDING, S.UNKNOWN}, sent_at=row.sent_at or now)
        return "moved" if advanced else "stale"
    extra: dict = {}
    if target != S.DELIVERED:
        extra["last_error"] = f"Appel : {OUTCOME_FR.get(word, word)}"
    moved = outbox._set_status(row.id, target, outbox.lower_than(target), **extra)
    if not moved:
        return "stale"
    db.session.refresh(row)
    if target == S.UNDELIVERED and word in RETRY_ON:
        return schedule_retry(row, now)
    if target == S.FAILED:
        flag_unreached(row)
        return "flagged"
    return "moved"


def _base_key(row: SmsMessage) -> str:
    return (row.key or f"m{row.id}").split(":call")[0]


def attempts_of(row: SmsMessage) -> list[SmsMessage]:
    base = _base_key(row)
    return list(db.session.scalars(db.select(SmsMessage).where(
        db.or_(SmsMessage.key == base, SmsMessage.key.like(base + ":call%")) if row.key else SmsMessage.id == row.id)
        .order_by(SmsMessage.attempt, SmsMessage.id)))


def outcome_fr(row: SmsMessage) -> str:
    """One attempt's outcome, as the operator reads it."""
    if row.status == S.DELIVERED:
        if is_machine(row.answered_by):
            return "message laissé"
        return {"1": "écouté, confirmé (touche 1)", "2": "annulé par la personne (touche 2)"}.get(
            row.digit or "", "écouté")
    if row.status in (S.UNDELIVERED, S.FAILED):
        return OUTCOME_FR.get(row.provider_status or "", (row.last_error or "échec").lower())
    if row.status == S.CANCELLED:
        return "non appelé"
    if row.status == S.SENT:
        return {"ringing": "sonne", "in-progress": "en ligne"}.get(row.provider_status or "", "appel passé")
    return {S.PENDING: "programmé", S.SENDING: "appel en cours", S.UNKNOWN: "à vérifier"}[row.status]


def _summary(rows: list[SmsMessage]) -> str:
    return " ; ".join(f"{format_time_fr(to_local(r.sent_at or r.status_at or r.created_at))} {outcome_fr(r)}"
                      for r in rows)


def flag_unreached(row: SmsMessage, reason: str | None = None) -> None:
    """Automation gave up: the request goes on the operator's call list with every attempt."""
    booking = db.session.get(Booking, row.booking_id) if row.booking_id else None
    if booking is None:
        return
    tries = [r for r in attempts_of(row) if r.status in (S.UNDELIVERED, S.FAILED)]
    text = reason or f"injoignable après {len(tries)} essai{'s' if len(tries) > 1 else ''}"
    label = KIND_LABELS_FR.get(row.kind, row.kind).lower()
    who = f"{row.recipient_name} ({outbox.ROLE_FR.get(row.recipient, row.recipient)})" if row.recipient_name \
        else outbox.ROLE_FR.get(row.recipient, row.recipient)
    bookings.flag_request(booking.request, "call_failed",
                          f"Appel « {label} » à {who} : {text} ({_summary(tries)}) : appeler"[:300])


def schedule_retry(row: SmsMessage, now: datetime) -> str:
    """No answer / busy: the next attempt after VOICE_RETRY_MIN, within the call hours, or,
    after the last one (or when the next would come too late), the operator's call list."""
    cfg = current_app.config
    booking = db.session.get(Booking, row.booking_id) if row.booking_id else None
    if booking is not None and booking.status not in LIVE and row.kind not in CANCELLED_KINDS:
        return "moot"  # the ride is off: nothing left to tell about it
    if row.attempt >= int(cfg.get("VOICE_MAX_ATTEMPTS", 3)):
        flag_unreached(row)
        return "flagged"
    draft = outbox.Draft(
        kind=row.kind, to_phone=row.to_phone, body=row.body, key=f"{_base_key(row)}:call{row.attempt + 1}",
        recipient=row.recipient, recipient_name=row.recipient_name, booking_id=row.booking_id,
        send_after=now + timedelta(minutes=int(cfg.get("VOICE_RETRY_MIN", 30))), expires_at=row.expires_at,
        urgent=row.urgent, event_at=row.event_at, departure_at=row.departure_at, channel=Channel.VOICE,
        attempt=row.attempt + 1)
    new_id = outbox.enqueue(draft, now)
    if new_id is not None:
        return "retry_scheduled"
    exists = db.session.scalar(db.select(SmsMessage.id).where(SmsMessage.key == draft.key))
    if exists is None:  # the next call would only come too late
        flag_unreached(row, "plus le temps de rappeler avant le départ")
        return "flagged"
    return "retry_scheduled"


def poll_unfinished(now: datetime, limit: int = 20) -> int:
    """Calls placed long ago whose final status never came: ask Twilio (worker duty)."""
    gw = voice_gateway()
    if gw is None:
        return 0
    rows = db.session.scalars(db.select(SmsMessage).where(
        SmsMessage.channel == Channel.VOICE, SmsMessage.status == S.SENT, SmsMessage.provider_id.is_not(None),
        SmsMessage.sent_at < now - POLL_AFTER).order_by(SmsMessage.sent_at).limit(limit)).all()
    done = 0
    for row in rows:
        state = gw.fetch_call(row.provider_id)
        if state is not None and state.status in FINAL_CALL:
            apply_call_status(row.id, row.provider_id, state.status, state.answered_by, state.duration_s, now)
            done += 1  # the worker's tick commits the batch
    return done


# --- the TwiML webhooks ------------------------------------------------------------------------

def _voice() -> str:
    return str(current_app.config.get("VOICE_NAME") or "Polly.Lea")


def _gather_url(token: str) -> str:
    base = (current_app.config.get("PUBLIC_BASE_URL") or "").rstrip("/")
    return f"{base}/voice/webhooks/gather/{token}"


def _by_token(token: str) -> SmsMessage | None:
    if not token or len(token) > 40:
        return None
    return db.session.scalar(db.select(SmsMessage).where(SmsMessage.twiml_token == token,
                                                         SmsMessage.channel == Channel.VOICE))


def twiml_for(token: str, call_sid: str | None, answered_by: str | None, now: datetime | None = None) -> str:
    """What the call says: served once per attempt (a replay of the URL only hangs up)."""
    now = now or utcnow()
    row = _by_token(token)
    voice = _voice()
    if row is None or (row.provider_id and call_sid and row.provider_id != call_sid):
        return speech.twiml_final(speech.GONE, voice)
    values: dict = {"twiml_served_at": now}
    if call_sid and row.provider_id is None:
        values["provider_id"] = call_sid[:64]
    if answered_by:
        values["answered_by"] = answered_by[:30]
    served = db.session.execute(
        db.update(SmsMessage).where(SmsMessage.id == row.id, SmsMessage.twiml_served_at.is_(None))
        .values(**values).execution_options(synchronize_session=False)).rowcount == 1
    if not served:
        return speech.twiml_final(speech.GONE, voice)
    cfg = current_app.config
    return speech.twiml_message(row.body, row.kind, name=row.recipient_name, machine=is_machine(answered_by),
                                gather_url=_gather_url(token),
                                voice=voice, operator=cfg["OPERATOR_PHONE"],
                                timeout_s=int(cfg.get("VOICE_GATHER_TIMEOUT_S", 8)))


def digits_pressed(token: str, call_sid: str | None, digits: str, now: datetime | None = None) -> str:
    """The key the person pressed (idempotent: Twilio may post the same answer twice)."""
    now = now or utcnow()
    row = _by_token(token)
    cfg = current_app.config
    voice, operator = _voice(), cfg["OPERATOR_PHONE"]
    spoken_operator = speech.phone_spoken(operator)
    if row is None or not row.provider_id or row.provider_id != call_sid or row.twiml_served_at is None:
        return speech.twiml_final(speech.GONE, voice)
    digit = (digits or "").strip()[:1]
    replay = dict(gather_url=_gather_url(token), voice=voice, operator=operator,
                  timeout_s=int(cfg.get("VOICE_GATHER_TIMEOUT_S", 8)))
    if digit == "3":
        return speech.twiml_replay(row.body, row.kind, **replay)
    if row.kind not in speech.ASKS_ANSWER:
        if digit in ("1", "2"):
            _record_digit(row, digit, now, allowed_from=(None,))
            return speech.twiml_final(speech.THANKS, voice)
        return speech.twiml_replay(row.body, row.kind, prefix=speech.NOT_UNDERSTOOD, **replay)
    if digit == "1":
        if row.digit == "2":
            return speech.twiml_final(speech.ALREADY_CANCELLED.format(operator=spoken_operator), voice)
        _record_digit(row, "1", now, allowed_from=(None, "1"))
        return speech.twiml_final(speech.THANKS, voice)
    if digit == "2":
        return _cancel_by_passenger(row, now, voice, spoken_operator)
    return speech.twiml_replay(row.body, row.kind, prefix=speech.NOT_UNDERSTOOD, **replay)


def _record_digit(row: SmsMessage, digit: str, now: datetime, allowed_from: tuple[str | None, ...]) -> bool:
    conditions = [SmsMessage.digit.is_(None) if d is None else SmsMessage.digit == d for d in allowed_from]
    return db.session.execute(
        db.update(SmsMessage).where(SmsMessage.id == row.id, db.or_(*conditions))
        .values(digit=digit, digit_at=now).execution_options(synchronize_session=False)).rowcount == 1


def _cancel_by_passenger(row: SmsMessage, now: datetime, voice: str, spoken_operator: str) -> str:
    booking = db.session.get(Booking, row.booking_id) if row.booking_id else None
    driver = booking.offer.driver.user.first_name if booking else "le conducteur"
    said = speech.CANCELLED_BY_YOU.format(driver=driver, operator=spoken_operator)
    if row.digit == "2":  # the same answer posted again: already done
        return speech.twiml_final(said, voice)
    if booking is None or booking.status not in LIVE:
        _record_digit(row, "2", now, allowed_from=(None, "1"))
        return speech.twiml_final(speech.ALREADY_CANCELLED.format(operator=spoken_operator), voice)
    # the digit first, in the same transaction as the cancellation: the planner sees it
    # (no cancellation call back to her; the request flagged for the operator)
    if not _record_digit(row, "2", now, allowed_from=(None, "1")):
        return speech.twiml_final(said, voice)  # a concurrent post of the same key won
    try:
        bookings.transition(booking.id, "cancel_by_passenger", actor_id=None,
                            reason="Annulé par la personne pendant l'appel automatique (touche 2)")
    except bookings.BookingError:  # cancelled meanwhile by someone else (it rolled back)
        _record_digit(row, "2", now, allowed_from=(None, "1"))
        return speech.twiml_final(speech.ALREADY_CANCELLED.format(operator=spoken_operator), voice)
    return speech.twiml_final(said, voice)


def cancelled_during_call(booking_id: int) -> SmsMessage | None:
    """The call in which the passenger pressed 2 for this booking, if any (planner)."""
    return db.session.scalar(db.select(SmsMessage).where(
        SmsMessage.booking_id == booking_id, SmsMessage.channel == Channel.VOICE, SmsMessage.digit == "2")
        .order_by(SmsMessage.id.desc()).limit(1))


def flag_cancelled_in_call(booking: Booking, call: SmsMessage, driver_told: bool) -> None:
    """The operator is told that the passenger cancelled by phone (same transaction)."""
    local = to_local(call.digit_at or utcnow())
    bookings.flag_request(booking.request, "call_cancelled",
                          f"{call.recipient_name or 'Le passager'} a annulé pendant l'appel automatique "
                          f"du {day_fr(local)} à {format_time_fr(local)} (touche 2)"
                          + (" ; conducteur prévenu par SMS." if driver_told else " ; prévenir le conducteur."))
