"""Received SMS (two-way sender): STOP / START keywords and drivers' OUI / NON answers.

`handle_inbound` adds and flushes; the webhook (the edge) commits once."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from flask import current_app

from lotocar.auth.models import Role, User
from lotocar.bookings.models import Booking, BookingStatus
from lotocar.bookings.operations import BookingError, flag_request, transition
from lotocar.core.phones import PhoneError, parse_phone
from lotocar.drivers.models import Driver
from lotocar.offers.models import Offer
from lotocar.core.timeutil import utcnow
from lotocar.extensions import db
from lotocar.notifications import outbox
from lotocar.notifications.models import SmsInbound, SmsMessage, SmsStatus
from lotocar.notifications.texts import render_reply

# Standard carrier / Twilio keywords, plus the French ones.
OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "ARRET", "ARRETER", "UNSUBSCRIBE", "CANCEL", "END",
                           "QUIT", "REVOKE", "OPTOUT", "DESINSCRIPTION"})
OPT_IN_WORDS = frozenset({"START", "UNSTOP", "DEMARRER", "REPRENDRE"})
HELP_WORDS = frozenset({"HELP", "AIDE", "INFO"})
ACCEPT_WORDS = frozenset({"OUI", "O", "OK", "DACCORD", "YES", "OUAIS"})
DECLINE_WORDS = frozenset({"NON", "N", "NO"})


def keyword(body: str) -> str:
    """First word, upper case, without accents or punctuation ('Arrêt.' → 'ARRET')."""
    text = unicodedata.normalize("NFD", body or "")
    text = "".join(c for c in text if not unicodedata.combining(c)).upper()
    text = text.replace("'", "").replace("\u2019", "")
    words = re.findall(r"[A-Z0-9]+", text)
    return words[0] if words else ""


def classify(body: str, opted_out: bool) -> str:
    word = keyword(body)
    if word in OPT_OUT_WORDS:
        return "opt_out"
    if word in OPT_IN_WORDS or (word == "YES" and opted_out):
        return "opt_in"
    if word in HELP_WORDS:
        return "help"
    if word in ACCEPT_WORDS:
        return "accept"
    if word in DECLINE_WORDS:
        return "decline"
    return "other"


def normalise_phone(raw: str) -> str:
    try:
        return parse_phone(raw, mobile_only=False)[0]
    except PhoneError:
        return (raw or "").strip()[:20]


@dataclass(frozen=True)
class InboundResult:
    action: str
    duplicate: bool = False
    booking_id: int | None = None


def _reply(to: str, name: str, now: datetime, kind: str = "reply", **extra: str) -> None:
    body = render_reply(name, current_app.config["OPERATOR_PHONE"], **extra)
    outbox.enqueue(outbox.Draft(kind=kind, to_phone=to, body=body, urgent=True), now)


def latest_open_proposal(phone: str):
    return db.session.scalar(
        db.select(Booking).join(Offer, Booking.offer_id == Offer.id)
        .join(Driver, Offer.driver_id == Driver.id).join(User, Driver.user_id == User.id)
        .where(User.phone == phone, User.role == Role.DRIVER, Booking.status == BookingStatus.PROPOSED)
        .order_by(Booking.created_at.desc(), Booking.id.desc()).limit(1))


def handle_inbound(provider_id: str | None, from_raw: str, to_raw: str | None, body: str,
                   now: datetime | None = None) -> InboundResult:
    """Record a received SMS once (by provider id) and act on it."""
    now = now or utcnow()
    if provider_id and db.session.scalar(
            db.select(SmsInbound.id).where(SmsInbound.provider_id == provider_id)) is not None:
        return InboundResult("duplicate", duplicate=True)
    phone = normalise_phone(from_raw)
    action = classify(body, outbox.is_opted_out(phone))
    row = SmsInbound(provider_id=provider_id or None, from_phone=phone, to_phone=(to_raw or "")[:20] or None,
                     body=(body or "")[:1600], action=action, received_at=now)
    db.session.add(row)
    if action == "opt_out":
        outbox.set_opt_out(phone, True, keyword(body), "sms", now)
        pending = db.session.scalars(db.select(SmsMessage).where(
            SmsMessage.to_phone == phone, SmsMessage.status == SmsStatus.PENDING,
            SmsMessage.kind.not_in(outbox.ALLOWED_AFTER_OPT_OUT))).all()
        for msg in pending:
            msg.status = SmsStatus.CANCELLED
            msg.status_at = now
            msg.last_error = "Non envoyé : numéro désinscrit des SMS (STOP), appeler"
        booking_ids = {m.booking_id for m in pending if m.booking_id}
        row.result = "Désinscrit des SMS" + (f" ; {len(pending)} SMS retiré(s)" if pending else "")
        _reply(phone, "opt_out", now, kind="optout_ack")
        for msg in pending:  # reminders included: that person must now be phoned
            if msg.booking_id in booking_ids:
                booking_ids.discard(msg.booking_id)
                outbox.flag_booking(msg, "a répondu STOP, ne reçoit plus de SMS : appeler")
        return InboundResult(action)
    if action == "opt_in":
        outbox.set_opt_out(phone, False, keyword(body), "sms", now)
        row.result = "Réabonné aux SMS"
        _reply(phone, "opt_in", now)
        return InboundResult(action)
    if action == "help":
        row.result = "Aide envoyée"
        if not outbox.is_opted_out(phone):
            _reply(phone, "help", now)
        return InboundResult(action)
    if action in ("accept", "decline"):
        booking = latest_open_proposal(phone)
        if booking is None:
            row.result = "Aucune demande en attente pour ce numéro"
            _reply(phone, "nothing_open", now)
            return InboundResult(action)
        row.booking_id = booking.id
        booking_id, driver_user_id = booking.id, booking.offer.driver.user_id
        db.session.flush()
        try:  # a savepoint: the received SMS is kept whatever happens to the answer
            with db.session.begin_nested():
                transition(booking_id, "accept" if action == "accept" else "decline",
                           actor_id=driver_user_id, reason="Réponse par SMS")
        except BookingError as err:
            row.result = f"Refusé : {err}"[:300]
            _reply(phone, "error", now, message=str(err))
            return InboundResult(action, booking_id=booking_id)
        row.result = "Accepté par SMS" if action == "accept" else "Refusé par SMS"
        return InboundResult(action, booking_id=booking_id)
    # anything else: kept for the operator, and the number to call in return
    row.result = "Message libre : à lire par l'équipe"
    booking = latest_open_proposal(phone)
    if booking is not None:
        row.booking_id = booking.id
        flag_request(booking.request, "sms_reply", f"SMS reçu du conducteur : « {(body or '')[:200]} »")
    if not outbox.is_opted_out(phone):
        _reply(phone, "other", now)
    return InboundResult(action, booking_id=row.booking_id)
