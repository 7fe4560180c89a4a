"""The outbox: queue messages with the event that causes them, send them exactly once.

One outbox, two channels (issue #17): a row is an SMS (`channel = sms`) or one attempt of an
automatic voice call (`channel = voice`; a retry is a new row, `attempt` 2, 3…, so each row's
status still only moves forward). Calls keep every guarantee below; their own rules (call
hours, retries, webhooks, digits) are in `lotocar.notifications.calls`.

Life of a row (`SmsMessage.status`):

    pending ─claim→ sending ─provider accepted→ sent ─callback→ delivered | undelivered | failed
       ↑               │ transient error (429, 5xx…) ──────────→ pending (later, with backoff)
       │               │ permanent error (21211, 21610…) ──────→ failed (the operator phones)
       │               └ outcome unknown (timeout, crash) ─────→ unknown ─check→ sent | pending
       └ withdrawn / expired / opted out ──────────────────────→ cancelled

Every status change is a conditional UPDATE (compare-and-set on the current status), so two
workers, a worker and a web request, or a worker and a late status callback never both win.
Claiming uses `FOR UPDATE SKIP LOCKED` on PostgreSQL; on SQLite (one writer at a time) the
compare-and-set alone keeps it correct, but run a single worker there.
"""
from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from flask import current_app
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from lotocar.bookings.models import Booking
from lotocar.core.timeutil import local_to_utc, to_local, utcnow
from lotocar.extensions import db
from lotocar.notifications.gateway import OPTED_OUT_CODE, SendError, SendResult, gateway
from lotocar.notifications.gsm import normalize, segments
from lotocar.notifications.speech import full_call_text
from lotocar.notifications.models import STATUS_RANK, Channel, SmsMessage, SmsOptOut, SmsStatus
from lotocar.notifications.texts import KIND_LABELS_FR
from lotocar.requests.status import flag as flag_request
from lotocar.notifications.voice_gateway import voice_gateway

log = logging.getLogger("lotocar.sms")
S = SmsStatus

# Kinds that may still be sent to a number that answered STOP: codes the person asked for
# on the web site, and the one confirmation of the opt-out itself.
ALLOWED_AFTER_OPT_OUT = frozenset({"code_verify", "code_login", "optout_ack"})
# Kinds whose loss is not worth a phone call (the confirmation already said it all).
NO_FLAG_KINDS = frozenset({"reminder_eve", "reminder_soon", "accepted", "declined", "reply",
                           "optout_ack", "code_verify", "code_login", "test"})
ROLE_FR = {"driver": "conducteur", "passenger": "passager", "person": "destinataire"}


# --- time rules ------------------------------------------------------------------------

def _hhmm(raw: str) -> time:
    hours, minutes = raw.strip().split(":")
    return time(int(hours), int(minutes))


def quiet_window() -> tuple[time, time] | None:
    raw = (current_app.config.get("SMS_QUIET_HOURS") or "").strip()
    if not raw or raw.lower() in {"none", "off", "0"}:
        return None
    start, end = raw.split("-")
    return _hhmm(start), _hhmm(end)


def is_quiet(at: datetime) -> bool:
    window = quiet_window()
    if window is None:
        return False
    start, end = window
    local = to_local(at).time()
    if start <= end:
        return start <= local < end
    return local >= start or local < end


def quiet_release(at: datetime) -> datetime:
    """`at` if it is outside quiet hours, else the end of the quiet period (UTC)."""
    if not is_quiet(at):
        return at
    _, end = quiet_window()  # type: ignore[misc]
    local = to_local(at)
    day = local.date() if local.time() < end else local.date() + timedelta(days=1)
    return local_to_utc(day, end)


def call_window(urgent: bool) -> tuple[time, time]:
    """Local hours when calls may be placed: VOICE_HOURS (09:00-20:00), or for an urgent
    change VOICE_URGENT_HOURS (08:00-21:00: never between 21:00 and 08:00)."""
    raw = current_app.config.get("VOICE_URGENT_HOURS" if urgent else "VOICE_HOURS") \
        or ("08:00-21:00" if urgent else "09:00-20:00")
    start, end = str(raw).split("-")
    return _hhmm(start), _hhmm(end)


def in_call_hours(at: datetime, urgent: bool) -> bool:
    start, end = call_window(urgent)
    return start <= to_local(at).time() < end


def call_release(at: datetime, urgent: bool) -> datetime:
    """`at` if a call may be placed then, else the next opening of the call hours (UTC)."""
    if in_call_hours(at, urgent):
        return at
    start, _ = call_window(urgent)
    local = to_local(at)
    day = local.date() if local.time() < start else local.date() + timedelta(days=1)
    return local_to_utc(day, start)


def backoff(attempts: int) -> timedelta:
    base = int(current_app.config.get("SMS_RETRY_BASE_S", 30))
    return timedelta(seconds=min(3600, base * 2 ** max(0, attempts - 1)))


# --- queueing --------------------------------------------------------------------------

@dataclass(frozen=True)
class Draft:
    """An SMS to queue. `key` makes it idempotent (booking, kind, recipient)."""

    kind: str
    to_phone: str
    body: str
    key: str | None = None
    recipient: str = "person"
    recipient_name: str | None = None
    booking_id: int | None = None
    send_after: datetime | None = None
    expires_at: datetime | None = None
    urgent: bool = False
    event_at: datetime | None = None
    departure_at: datetime | None = None
    channel: Channel = Channel.SMS
    attempt: int = 1


def prepare(draft: Draft, now: datetime) -> dict | None:
    """Column values for the row, or None when it would only be sent too late."""
    voice = draft.channel == Channel.VOICE
    body = draft.body.strip() if voice else normalize(draft.body)  # a call says every accent
    send_after = draft.send_after or now
    if voice:
        send_after = call_release(send_after, draft.urgent)
    elif not draft.urgent:
        send_after = quiet_release(send_after)
    if draft.expires_at is not None and send_after >= draft.expires_at:
        return None
    return dict(
        key=draft.key, kind=draft.kind, booking_id=draft.booking_id, recipient=draft.recipient,
        recipient_name=draft.recipient_name, to_phone=draft.to_phone, body=body,
        segments=1 if voice else segments(body).segments, urgent=draft.urgent, send_after=send_after,
        channel=draft.channel, attempt=draft.attempt,
        expires_at=draft.expires_at, event_at=draft.event_at, departure_at=draft.departure_at,
        planned_at=now if draft.event_at else None, status=S.PENDING, attempts=0, checks=0, created_at=now,
    )


def enqueue(draft: Draft, now: datetime | None = None) -> int | None:
    """Add the row to the current transaction (never commits). A second draft with the same
    key is ignored — inside this transaction or against a concurrent one. Returns the id of
    the new row, or None when nothing was queued."""
    now = now or utcnow()
    values = prepare(draft, now)
    if values is None:
        return None
    if draft.key is None:
        return db.session.execute(db.insert(SmsMessage).values(**values).returning(SmsMessage.id)).scalar()
    insert = pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(SmsMessage).values(**values).on_conflict_do_nothing(index_elements=["key"])
    return db.session.execute(stmt.returning(SmsMessage.id)).scalar()


def replace_pending(key: str, draft: Draft, now: datetime | None = None) -> str:
    """Rewrite a still-pending row (changed trip): 'replaced', 'created', 'gone' (too late
    now: withdrawn) or 'kept' (already sent or withdrawn: left alone)."""
    now = now or utcnow()
    row = db.session.scalar(db.select(SmsMessage).where(SmsMessage.key == key))
    values = prepare(draft, now)
    _replace_call_retries(key, values)
    if row is None:
        return "created" if values and enqueue(draft, now) else "gone"
    if row.status != S.PENDING:
        return "kept"
    if values is None:
        _set_status(row.id, S.CANCELLED, {S.PENDING}, last_error="Retiré : trop tard après le changement")
        return "gone"
    for name in ("body", "segments", "send_after", "expires_at", "event_at", "departure_at", "planned_at",
                 "urgent"):
        setattr(row, name, values[name])
    return "replaced"


def _replace_call_retries(key: str, values: dict | None) -> None:
    """A call's pending retries (`<key>:call2`, …) say the new truth too, or are withdrawn."""
    retries = db.session.scalars(db.select(SmsMessage).where(
        SmsMessage.key.like(key + ":call%"), SmsMessage.status == S.PENDING)).all()
    for retry in retries:
        if values is None or values["channel"] != retry.channel:
            _set_status(retry.id, S.CANCELLED, {S.PENDING}, last_error="Retiré : trop tard après le changement")
            continue
        for name in ("body", "expires_at", "event_at", "departure_at", "planned_at", "urgent"):
            setattr(retry, name, values[name])
        if retry.expires_at is not None and retry.send_after >= retry.expires_at:
            retry.status, retry.last_error = S.CANCELLED, "Retiré : trop tard après le changement"


def withdraw(booking_id: int, reason: str, kinds: set[str] | None = None,
             recipient: str | None = None) -> int:
    """Cancel the booking's messages that are still pending (in the current transaction)."""
    stmt = (db.update(SmsMessage)
            .where(SmsMessage.booking_id == booking_id, SmsMessage.status == S.PENDING)
            .values(status=S.CANCELLED, last_error=reason[:300], status_at=utcnow())
            .execution_options(synchronize_session=False))
    if kinds:
        stmt = stmt.where(SmsMessage.kind.in_(kinds))
    if recipient:
        stmt = stmt.where(SmsMessage.recipient == recipient)
    return db.session.execute(stmt).rowcount


def _set_status(msg_id: int, new: SmsStatus, allowed_from: set[SmsStatus], **values) -> bool:
    """Compare-and-set: change the status only from one of `allowed_from`."""
    values.setdefault("status_at", utcnow())
    done = db.session.execute(
        db.update(SmsMessage).where(SmsMessage.id == msg_id, SmsMessage.status.in_(allowed_from))
        .values(status=new, **values).execution_options(synchronize_session=False)
    ).rowcount
    return done == 1


def lower_than(status: SmsStatus) -> set[SmsStatus]:
    return {s for s, r in STATUS_RANK.items() if r < STATUS_RANK[status]}


# --- opt-out ---------------------------------------------------------------------------

def is_opted_out(phone: str) -> bool:
    row = db.session.get(SmsOptOut, phone)
    return bool(row and row.opted_out)


def set_opt_out(phone: str, opted_out: bool, keyword: str | None, source: str,
                now: datetime | None = None) -> None:
    row = db.session.get(SmsOptOut, phone)
    if row is None:
        row = SmsOptOut(phone=phone)
        db.session.add(row)
    row.opted_out = opted_out
    row.keyword = (keyword or "")[:20] or None
    row.source = source
    row.changed_at = now or utcnow()


# --- sending ---------------------------------------------------------------------------

def status_callback_url(msg_id: int) -> str | None:
    base = (current_app.config.get("PUBLIC_BASE_URL") or "").rstrip("/")
    return f"{base}/sms/webhooks/status?m={msg_id}" if base else None


def claim(msg_id: int, worker_id: str, now: datetime) -> bool:
    """pending → sending for this worker (the caller commits)."""
    done = db.session.execute(
        db.update(SmsMessage).where(SmsMessage.id == msg_id, SmsMessage.status == S.PENDING)
        .values(status=S.SENDING, claimed_by=worker_id, claimed_at=now, status_at=now,
                attempts=SmsMessage.attempts + 1,
                first_attempt_at=db.func.coalesce(SmsMessage.first_attempt_at, now))
        .execution_options(synchronize_session=False)
    ).rowcount
    return done == 1


def claim_due(worker_id: str, now: datetime, limit: int) -> list[int]:
    """Claim up to `limit` due rows (the worker commits the claim before sending). During quiet
    hours only urgent SMS; calls only within their call hours."""
    query = (db.select(SmsMessage.id, SmsMessage.channel, SmsMessage.to_phone)
             .where(SmsMessage.status == S.PENDING, SmsMessage.send_after <= now, _sendable_now(now))
             .order_by(SmsMessage.urgent.desc(), SmsMessage.send_after, SmsMessage.id)
             .limit(limit))
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=SmsMessage)
    ids, calling = [], set()
    for msg_id, channel, phone in db.session.execute(query):
        if channel == Channel.VOICE:  # one call per number per batch (the next waits for it)
            if phone in calling:
                continue
            calling.add(phone)
        ids.append(msg_id)
    return [i for i in ids if claim(i, worker_id, now)]


def _sendable_now(now: datetime):
    """SMS: urgent only during quiet hours. Calls: only within their call hours, and never
    while another call to the same number is being placed or may still be ringing."""
    sms = SmsMessage.channel == Channel.SMS
    if is_quiet(now):
        sms = sms & SmsMessage.urgent.is_(True)
    hours = [SmsMessage.urgent.is_(urgent) for urgent in (False, True) if in_call_hours(now, urgent)]
    if not hours:
        return sms
    other = db.aliased(SmsMessage)
    busy = (db.select(other.id).where(
        other.channel == Channel.VOICE, other.to_phone == SmsMessage.to_phone, other.id != SmsMessage.id,
        (other.status.in_([S.SENDING, S.UNKNOWN]))
        | ((other.status == S.SENT) & (other.status_at > now - timedelta(minutes=10))
           & ~db.func.coalesce(other.provider_id, "").startswith("DEV"))).exists())  # dev: nothing rings
    return sms | ((SmsMessage.channel == Channel.VOICE) & db.or_(*hours) & ~busy)


def release(msg_ids: list[int], worker_id: str) -> None:
    """Give claimed rows back untouched (graceful stop before they were sent)."""
    for msg_id in msg_ids:
        db.session.execute(
            db.update(SmsMessage)
            .where(SmsMessage.id == msg_id, SmsMessage.status == S.SENDING,
                   SmsMessage.claimed_by == worker_id)
            .values(status=S.PENDING, attempts=SmsMessage.attempts - 1, claimed_by=None)
            .execution_options(synchronize_session=False))


_PROVIDER_STATUS = {
    "accepted": S.SENT, "scheduled": S.SENT, "queued": S.SENT, "sending": S.SENT, "sent": S.SENT,
    "delivered": S.DELIVERED, "read": S.DELIVERED, "undelivered": S.UNDELIVERED,
    "failed": S.FAILED, "canceled": S.FAILED,
}


def provider_status(word: str | None) -> SmsStatus | None:
    return _PROVIDER_STATUS.get((word or "").strip().lower())


def _record_sent(row: SmsMessage, result: SendResult, now: datetime) -> None:
    target = provider_status(result.status) or S.SENT
    if target not in (S.SENT, S.DELIVERED):
        target = S.SENT
    moved = _set_status(row.id, target, {S.PENDING, S.SENDING, S.UNKNOWN}, provider_id=result.provider_id,
                        provider_status=result.status, sent_at=now, last_error=None, error_code=None)
    if not moved:  # a status callback got there first: keep its status, add the id
        db.session.execute(
            db.update(SmsMessage).where(SmsMessage.id == row.id, SmsMessage.provider_id.is_(None))
            .values(provider_id=result.provider_id, sent_at=now)
            .execution_options(synchronize_session=False))
    _redact_if_code(row.id)


def _finish_unsent(row: SmsMessage, status: SmsStatus, reason: str, code: int | None = None,
                   from_statuses: set[SmsStatus] | None = None) -> None:
    moved = _set_status(row.id, status, from_statuses or {S.SENDING, S.UNKNOWN, S.PENDING},
                        last_error=reason[:300], error_code=code)
    if moved:
        _redact_if_code(row.id)
        if row.booking_id and (row.kind not in NO_FLAG_KINDS or row.channel == Channel.VOICE):
            flag_booking(row, reason)


def flag_booking(row: SmsMessage, reason: str) -> None:
    """Put the booking's request in front of the operator: phone instead (same transaction)."""
    booking = db.session.get(Booking, row.booking_id)
    if booking is None:
        return
    label = KIND_LABELS_FR.get(row.kind, row.kind).lower()
    who = f"{row.recipient_name} ({ROLE_FR.get(row.recipient, row.recipient)})" if row.recipient_name \
        else ROLE_FR.get(row.recipient, row.recipient)
    if row.channel == Channel.VOICE:
        flag_request(booking.request, "call_failed", f"Appel « {label} » à {who} : {reason}"[:300])
    else:
        flag_request(booking.request, "sms_failed", f"SMS « {label} » à {who} : {reason}"[:300])


def deliver(msg_id: int, worker_id: str, now: datetime | None = None) -> str:
    """Send one claimed row (status `sending` by `worker_id`) and record the outcome (the
    caller commits it before the next send)."""
    row = db.session.get(SmsMessage, msg_id, populate_existing=True)
    if row is None or row.status != S.SENDING or row.claimed_by != worker_id:
        return "skipped"
    now = now or utcnow()
    if row.expires_at is not None and row.expires_at <= now:
        _finish_unsent(row, S.CANCELLED, "Expiré avant l'envoi : appeler si besoin")
        return "expired"
    if row.channel == Channel.VOICE:
        return _place_call(row, worker_id, now)
    if row.kind not in ALLOWED_AFTER_OPT_OUT and is_opted_out(row.to_phone):
        _finish_unsent(row, S.CANCELLED, "Non envoyé : numéro désinscrit des SMS (STOP), appeler")
        return "opted_out"
    try:
        result = gateway().send(row.to_phone, row.body, row.kind,
                                status_callback=status_callback_url(row.id))
    except SendError as err:
        return _record_error(row, err, now)
    _record_sent(row, result, now)
    return "sent"


def call_urls(row_id: int, token: str) -> tuple[str, str | None]:
    """The attempt's TwiML URL (a single-use secret in the path, nothing personal) and its
    status callback."""
    base = (current_app.config.get("PUBLIC_BASE_URL") or "").rstrip("/")
    status = f"{base}/voice/webhooks/status?m={row_id}" if base else None
    return f"{base}/voice/webhooks/twiml/{token}", status


def arm_call(msg_id: int, worker_id: str) -> bool:
    """Give a claimed call attempt a fresh single-use TwiML token. The worker commits it
    BEFORE the POST, so that Twilio's TwiML fetch (another process) finds it; an SMS row is
    left alone (returns False)."""
    token = secrets.token_urlsafe(24)
    return db.session.execute(
        db.update(SmsMessage).where(SmsMessage.id == msg_id, SmsMessage.status == S.SENDING,
                                    SmsMessage.claimed_by == worker_id, SmsMessage.channel == Channel.VOICE)
        .values(twiml_token=token, twiml_served_at=None).execution_options(synchronize_session=False)
    ).rowcount == 1


def _place_call(row: SmsMessage, worker_id: str, now: datetime) -> str:
    """One attempt of a voice call, with the token `arm_call` saved before the POST."""
    gw = voice_gateway()
    if gw is None:
        _finish_unsent(row, S.FAILED, "Appels automatiques désactivés (VOICE_GATEWAY) : appeler")
        return "failed"
    token = row.twiml_token
    if not token:  # not armed by the worker (arm_call): never call without a fresh token
        return "skipped"
    twiml_url, status_url = call_urls(row.id, token)
    try:
        result = gw.call(row.to_phone, kind=row.kind, twiml_url=twiml_url,
                         speech=full_call_text(row.body, row.kind, current_app.config["OPERATOR_PHONE"],
                                               row.recipient_name),
                         status_callback=status_url)
    except SendError as err:
        return _record_error(row, err, now)
    _record_sent(row, SendResult(result.provider_id, "queued"), now)
    return "sent"


def _record_error(row: SmsMessage, err: SendError, now: datetime) -> str:
    if err.outcome == "unknown":
        _set_status(row.id, S.UNKNOWN, {S.SENDING}, last_error=str(err)[:300], error_code=err.code,
                    send_after=now + backoff(1))
        return "unknown"
    if err.outcome == "permanent":
        if err.code == OPTED_OUT_CODE:
            set_opt_out(row.to_phone, True, "21610", "provider", now)
        _finish_unsent(row, S.FAILED, _error_fr(err), err.code)
        return "failed"
    attempts = row.attempts
    if attempts >= int(current_app.config.get("SMS_MAX_ATTEMPTS", 8)):
        _finish_unsent(row, S.FAILED, f"Abandon après {attempts} essais : {_error_fr(err)}", err.code)
        return "failed"
    _set_status(row.id, S.PENDING, {S.SENDING}, last_error=str(err)[:300], error_code=err.code,
                send_after=now + backoff(attempts), claimed_by=None)
    return "retry"


_ERRORS_FR = {
    21211: "numéro invalide",
    21408: "envoi vers ce pays non autorisé",
    21610: "le destinataire a demandé STOP",
    21612: "numéro non joignable par SMS",
    21614: "ce numéro n'est pas un portable",
    30003: "téléphone injoignable",
    30005: "numéro inconnu ou inactif",
    30006: "ligne fixe : ne reçoit pas de SMS",
    30007: "message bloqué par l'opérateur",
}


def _error_fr(err: SendError | None, code: int | None = None) -> str:
    code = err.code if err is not None else code
    text = _ERRORS_FR.get(code or 0)
    if text:
        return f"{text} (erreur {code})"
    return str(err) if err is not None else f"erreur {code}"


_CODE_RE = re.compile(r"\b\d{6}\b")


def _redact_if_code(msg_id: int) -> None:
    """One-time codes are kept hashed elsewhere: once sent (or given up), the outbox keeps
    no readable copy."""
    row = db.session.get(SmsMessage, msg_id, populate_existing=True)
    if row is not None and row.kind.startswith("code_") and _CODE_RE.search(row.body):
        row.body = _CODE_RE.sub("******", row.body)


# --- the worker's periodic duties ------------------------------------------------------

def recover_stale(now: datetime) -> int:
    """Rows left `sending` by a dead worker: their POST may or may not have gone out."""
    lease = timedelta(seconds=int(current_app.config.get("SMS_SENDING_LEASE_S", 120)))
    count = db.session.execute(
        db.update(SmsMessage).where(SmsMessage.status == S.SENDING, SmsMessage.claimed_at < now - lease)
        .values(status=S.UNKNOWN, send_after=now, status_at=now,
                last_error="Envoi interrompu (processus arrêté) : à vérifier avant tout renvoi")
        .execution_options(synchronize_session=False)
    ).rowcount
    return count


def expire_pending(now: datetime) -> int:
    rows = db.session.scalars(
        db.select(SmsMessage).where(SmsMessage.status == S.PENDING, SmsMessage.expires_at.is_not(None),
                                    SmsMessage.expires_at <= now)
    ).all()
    for row in rows:
        _finish_unsent(row, S.CANCELLED, "Expiré avant l'envoi : appeler si besoin", from_statuses={S.PENDING})
    return len(rows)


def take_unknown(worker_id: str, now: datetime, limit: int) -> list[tuple]:
    """Take the unknown sends due for a check (the worker commits before looking them up):
    their `send_after` is bumped so another worker leaves them alone meanwhile."""
    query = (db.select(SmsMessage).where(SmsMessage.status == S.UNKNOWN, SmsMessage.send_after <= now)
             .order_by(SmsMessage.send_after, SmsMessage.id).limit(limit))
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = db.session.scalars(query).all()
    lease = timedelta(seconds=int(current_app.config.get("SMS_SENDING_LEASE_S", 120)))
    mine = []
    for row in rows:
        done = db.session.execute(
            db.update(SmsMessage).where(SmsMessage.id == row.id, SmsMessage.status == S.UNKNOWN,
                                        SmsMessage.send_after == row.send_after)
            .values(send_after=now + lease, checks=SmsMessage.checks + 1, claimed_by=worker_id)
            .execution_options(synchronize_session=False)).rowcount
        if done:
            mine.append((row.id, row.to_phone, row.body, row.first_attempt_at or row.claimed_at or row.created_at,
                         row.channel, row.provider_id))
    return mine


def check_one(msg_id: int, to: str, body: str, since: datetime, now: datetime,
              channel: Channel = Channel.SMS, known_id: str | None = None) -> str:
    """Ask the provider whether this unknown send (or call) went out: adopt it ('found'),
    allow a resend ('requeued') or look again later ('still_unknown'). The caller commits."""
    try:
        if channel == Channel.VOICE:
            found = _find_call(to, since, known_id)
        else:
            found = gateway().find_sent(to, body, since)
    except SendError as err:
        row = db.session.get(SmsMessage, msg_id, populate_existing=True)
        if row.checks >= int(current_app.config.get("SMS_MAX_ATTEMPTS", 8)):
            # never resent blindly: the operator phones instead
            _finish_unsent(row, S.FAILED, f"Envoi incertain, vérification impossible : {err}",
                           from_statuses={S.UNKNOWN})
        else:
            _set_status(msg_id, S.UNKNOWN, {S.UNKNOWN}, send_after=now + backoff(row.checks),
                        last_error=str(err)[:300])
        return "still_unknown"
    row = db.session.get(SmsMessage, msg_id, populate_existing=True)
    if found is not None:
        _record_sent(row, found, now)
        return "found"
    _set_status(msg_id, S.PENDING, {S.UNKNOWN}, send_after=now, claimed_by=None,
                last_error="Vérifié : non envoyé, nouvel essai")
    return "requeued"


def _find_call(to: str, since: datetime, known_id: str | None) -> SendResult | None:
    """Did an interrupted call attempt reach Twilio? Its TwiML fetch may already have told us
    (the call's id is then on the row); otherwise ask Twilio for a call to that number since
    the attempt began that no other row owns (calls to one number are never in flight twice)."""
    if known_id:
        return SendResult(known_id, "queued")
    gw = voice_gateway()
    if gw is None:
        raise SendError("unknown", "Vérification impossible : appels automatiques désactivés")
    owned = set(db.session.scalars(db.select(SmsMessage.provider_id).where(
        SmsMessage.to_phone == to, SmsMessage.channel == Channel.VOICE, SmsMessage.provider_id.is_not(None))))
    return gw.find_call(to, since, owned)


# --- web-request sends (one-time codes) ------------------------------------------------

def queue_urgent(to: str, body: str, kind: str, now: datetime | None = None) -> int | None:
    """Queue an urgent SMS (one-time codes); the edge commits, then may try it at once
    (lotocar.notifications.worker.send_now)."""
    now = now or utcnow()
    ttl = int(current_app.config.get("OTP_TTL_MINUTES", 10)) if kind.startswith("code_") else 60
    return enqueue(Draft(kind=kind, to_phone=to, body=body, urgent=True,
                         expires_at=now + timedelta(minutes=ttl)), now)


# --- status callbacks ------------------------------------------------------------------

def apply_provider_status(msg_id: int | None, provider_id: str | None, word: str | None,
                          error_code: int | None, now: datetime | None = None) -> str:
    """A delivery report: move the status forward only; repeats and late ones do nothing."""
    now = now or utcnow()
    target = provider_status(word)
    if target is None:
        return "ignored"
    row = db.session.get(SmsMessage, msg_id) if msg_id else None
    if row is not None and provider_id and row.provider_id and row.provider_id != provider_id:
        row = None  # a report about another send
    if row is None and provider_id:
        row = db.session.scalar(db.select(SmsMessage).where(SmsMessage.provider_id == provider_id))
    if row is None:
        return "unknown_message"
    values: dict = {"provider_status": (word or "")[:20]}
    if provider_id and row.provider_id is None:
        values["provider_id"] = provider_id
    if target in (S.UNDELIVERED, S.FAILED):
        values["error_code"] = error_code
        values["last_error"] = f"Non remis : {_error_fr(None, error_code)}" if error_code else "Non remis"
    if target == S.SENT and row.sent_at is None:
        values["sent_at"] = now
    moved = _set_status(row.id, target, lower_than(target), **values)
    if not moved:
        return "stale"
    _redact_if_code(row.id)
    if target in (S.UNDELIVERED, S.FAILED):
        db.session.refresh(row)
        if error_code == OPTED_OUT_CODE:
            set_opt_out(row.to_phone, True, "21610", "provider", now)
        if error_code == 30003 and _retry_later(row, now):
            return "retry_scheduled"
        if row.booking_id and row.kind not in NO_FLAG_KINDS:
            flag_booking(row, row.last_error or "Non remis")
    return "moved"


def _retry_later(row: SmsMessage, now: datetime) -> bool:
    """30003 (phone unreachable): queue one more copy later, if it is still useful."""
    if row.key and row.key.count(":retry") >= 2:
        return False
    draft = Draft(kind=row.kind, to_phone=row.to_phone, body=row.body,
                  key=f"{row.key or 'm' + str(row.id)}:retry{row.id}", recipient=row.recipient,
                  recipient_name=row.recipient_name, booking_id=row.booking_id,
                  send_after=now + backoff(2), expires_at=row.expires_at, urgent=row.urgent,
                  event_at=row.event_at, departure_at=row.departure_at)
    new_id = enqueue(draft, now)
    return new_id is not None


# --- personal data ---------------------------------------------------------------------

def cancel_pending_for(phone: str, reason: str, now: datetime | None = None) -> int:
    """Withdraw every message to `phone` that has not gone out (in the current transaction):
    pending ones, and those whose outcome is unknown, which are then never checked nor resent.
    Compare-and-set on the status like every change here: a row a worker is sending right
    now, or already sent, keeps its status."""
    return db.session.execute(
        db.update(SmsMessage)
        .where(SmsMessage.to_phone == phone, SmsMessage.status.in_({S.PENDING, S.UNKNOWN}))
        .values(status=S.CANCELLED, last_error=reason[:300], status_at=now or utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount


def phone_changed(old: str, new: str, recipient: str, sms_ok: bool, calls_ok: bool,
                  now: datetime | None = None) -> dict[str, int]:
    """A person's number was corrected on her record (in the current transaction):

    - a STOP given from the old number is her choice: the new number is opted out too;
    - her messages still pending go to the new number (SMS only if it can take them with her
      consent, calls only with hers); the others are withdrawn. A send whose outcome is unknown
      keeps its number: it is checked at the provider as it was sent.
    """
    now = now or utcnow()
    old_row = db.session.get(SmsOptOut, old)
    carried = 0
    if old_row is not None and old_row.opted_out and not is_opted_out(new):
        set_opt_out(new, True, old_row.keyword, "number_change", now)
        carried = 1
    moved = withdrawn = 0
    rows = db.session.scalars(db.select(SmsMessage).where(
        SmsMessage.to_phone == old, SmsMessage.recipient == recipient, SmsMessage.status == S.PENDING))
    for row in rows:
        if (sms_ok if row.channel == Channel.SMS else calls_ok):
            row.to_phone = new
            moved += 1
        else:
            row.status, row.status_at = S.CANCELLED, now
            row.last_error = "Numéro changé : ce canal ne convient plus"
            withdrawn += 1
    db.session.flush()
    return {"moved": moved, "withdrawn": withdrawn, "opt_out_carried": carried}
