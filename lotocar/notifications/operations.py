"""What the rest of the app asks about SMS: history per booking or person, opt-outs, and
drivers' answers through their SMS link."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from flask import current_app

from lotocar.bookings.models import Booking, BookingStatus
from lotocar.bookings.operations import STATUS_LABELS_FR as BOOKING_LABELS
from lotocar.bookings.operations import TRANSITIONS, BookingError, transition
from lotocar.core.timeutil import format_time_fr, to_local, utcnow
from lotocar.extensions import db
from lotocar.notifications import calls, links, outbox
from lotocar.notifications.models import Channel, SmsInbound, SmsLink, SmsMessage, SmsOptOut, SmsStatus
from lotocar.notifications.planner import Told, effective_pickup, told_of_change
from lotocar.notifications.texts import KIND_LABELS_FR, day_fr

S = SmsStatus

STATUS_LABELS_FR = {
    S.PENDING: "Programmé",
    S.SENDING: "Envoi en cours",
    S.UNKNOWN: "Envoi à vérifier",
    S.SENT: "Envoyé",
    S.DELIVERED: "Reçu",
    S.UNDELIVERED: "Non remis",
    S.FAILED: "Échec",
    S.CANCELLED: "Non envoyé",
}
# DSFR badge variants
STATUS_BADGES = {
    S.PENDING: "new", S.SENDING: "info", S.UNKNOWN: "warning", S.SENT: "info",
    S.DELIVERED: "success", S.UNDELIVERED: "error", S.FAILED: "error", S.CANCELLED: "",
}
ROLE_LABELS_FR = {"driver": "conducteur", "passenger": "passager", "person": ""}
INBOUND_LABELS_FR = {
    "opt_out": "STOP : désinscription", "opt_in": "START : réinscription", "help": "Demande d'aide",
    "accept": "Réponse OUI", "decline": "Réponse NON", "other": "Message libre",
}


@dataclass(frozen=True)
class MessageRow:
    """One line of an SMS history, sent or received (what `_messages.html` renders)."""

    direction: str  # "out" | "in"
    at: datetime
    kind: str
    kind_label: str
    phone: str
    who: str
    body: str
    status: str
    status_label: str
    badge: str
    detail: str | None
    scheduled_at: datetime | None
    booking_id: int | None
    segments: int | None
    needs_call: bool


_DIGITS6 = re.compile(r"\b\d{6}\b")


def masked_body(m: SmsMessage) -> str:
    """A one-time code is never shown, even while its SMS waits (Twilio down): only the
    development gateway's server console prints it."""
    return _DIGITS6.sub("******", m.body) if m.kind.startswith("code_") else m.body


def _out_row(m: SmsMessage) -> MessageRow:
    role = ROLE_LABELS_FR.get(m.recipient, m.recipient)
    who = f"{m.recipient_name} ({role})" if m.recipient_name and role else (m.recipient_name or role)
    needs_call = m.status in (S.FAILED, S.UNDELIVERED) or (
        m.status == S.CANCELLED and bool(m.last_error) and "STOP" in (m.last_error or ""))
    detail = m.last_error
    status_label = STATUS_LABELS_FR[m.status]
    if m.status == S.SENT and (m.provider_id or "").startswith("DEV"):  # dev gateway: recorded only
        status_label, detail = "Simulé", "Passerelle de développement : rien n'a été envoyé"
    if m.status == S.PENDING and m.attempts:
        detail = f"Nouvel essai prévu ({m.attempts} essai(s)) — {m.last_error or ''}".strip(" —")
    return MessageRow(
        direction="out", at=m.sent_at or m.created_at, kind=m.kind,
        kind_label=KIND_LABELS_FR.get(m.kind, m.kind), phone=m.to_phone, who=who, body=masked_body(m),
        status=m.status.value, status_label=status_label, badge=STATUS_BADGES[m.status],
        detail=detail, scheduled_at=m.send_after if m.status == S.PENDING else None,
        booking_id=m.booking_id, segments=m.segments, needs_call=needs_call,
    )


def _in_row(m: SmsInbound) -> MessageRow:
    return MessageRow(
        direction="in", at=m.received_at, kind=m.action,
        kind_label=INBOUND_LABELS_FR.get(m.action, m.action), phone=m.from_phone, who="",
        body=m.body, status="received", status_label="Reçu de la personne", badge="info",
        detail=m.result, scheduled_at=None, booking_id=m.booking_id, segments=None,
        needs_call=m.action == "other",
    )


def _sorted(rows: list[MessageRow]) -> list[MessageRow]:
    return sorted(rows, key=lambda r: (r.scheduled_at or r.at), reverse=True)


def messages_for_booking(booking_id: int) -> list[MessageRow]:
    """Every SMS about a booking (sent, planned, withdrawn, received), newest first."""
    out = db.session.scalars(db.select(SmsMessage).where(SmsMessage.booking_id == booking_id,
                                                         SmsMessage.channel == Channel.SMS)
                             .order_by(SmsMessage.id)).all()
    inbound = db.session.scalars(db.select(SmsInbound).where(SmsInbound.booking_id == booking_id)).all()
    return _sorted([_out_row(m) for m in out] + [_in_row(m) for m in inbound])


def messages_for_phone(e164: str, limit: int = 200) -> list[MessageRow]:
    """Every SMS sent to or received from a number, newest first."""
    out = db.session.scalars(db.select(SmsMessage).where(SmsMessage.to_phone == e164,
                                                         SmsMessage.channel == Channel.SMS)
                             .order_by(SmsMessage.id.desc()).limit(limit)).all()
    inbound = db.session.scalars(db.select(SmsInbound).where(SmsInbound.from_phone == e164)
                                 .order_by(SmsInbound.id.desc()).limit(limit)).all()
    return _sorted([_out_row(m) for m in out] + [_in_row(m) for m in inbound])[:limit]


def is_opted_out(e164: str) -> bool:
    return outbox.is_opted_out(e164)


def opt_out_record(e164: str) -> SmsOptOut | None:
    return db.session.get(SmsOptOut, e164)


def needs_call(booking_id: int) -> bool:
    return any(r.needs_call for r in messages_for_booking(booking_id)) or any(
        r.needs_call for r in calls_for_booking(booking_id))


# --- automatic voice calls (issue #17) ---------------------------------------------------

CALL_BADGES = {
    S.PENDING: "new", S.SENDING: "info", S.UNKNOWN: "warning", S.SENT: "info", S.DELIVERED: "success",
    S.UNDELIVERED: "warning", S.FAILED: "error", S.CANCELLED: "",
}
ANSWERED_BY_FR = {"human": "une personne", "unknown": "inconnu", "fax": "un fax"}


@dataclass(frozen=True)
class CallRow:
    """One attempt of an automatic call (what `_calls.html` renders)."""

    id: int
    at: datetime
    scheduled_at: datetime | None
    kind_label: str
    attempt: int
    who: str
    phone: str
    outcome: str
    badge: str
    answered_by: str | None
    digit: str | None
    detail: str | None
    body: str
    needs_call: bool


def _call_row(m: SmsMessage) -> CallRow:
    role = ROLE_LABELS_FR.get(m.recipient, m.recipient)
    who = f"{m.recipient_name} ({role})" if m.recipient_name and role else (m.recipient_name or role)
    outcome = calls.outcome_fr(m)
    if m.status == S.SENT and (m.provider_id or "").startswith("DEV"):
        outcome = "simulé (passerelle de développement : personne n'a été appelé)"
    answered = None
    if m.answered_by:
        answered = "un répondeur" if calls.is_machine(m.answered_by) else ANSWERED_BY_FR.get(m.answered_by,
                                                                                           m.answered_by)
    return CallRow(
        id=m.id, at=m.sent_at or m.created_at, scheduled_at=m.send_after if m.status == S.PENDING else None,
        kind_label=KIND_LABELS_FR.get(m.kind, m.kind), attempt=m.attempt, who=who, phone=m.to_phone,
        outcome=outcome[:1].upper() + outcome[1:], badge=CALL_BADGES[m.status], answered_by=answered,
        digit=m.digit, detail=m.last_error if m.status in (S.FAILED, S.UNDELIVERED, S.CANCELLED) else None,
        body=m.body, needs_call=m.status == S.FAILED)


def calls_for_booking(booking_id: int) -> list[CallRow]:
    """Every call attempt about a booking (placed, planned, withdrawn), newest first."""
    out = db.session.scalars(db.select(SmsMessage).where(
        SmsMessage.booking_id == booking_id, SmsMessage.channel == Channel.VOICE)
        .order_by(SmsMessage.id.desc())).all()
    return [_call_row(m) for m in out]


def calls_for_phone(e164: str, limit: int = 100) -> list[CallRow]:
    out = db.session.scalars(db.select(SmsMessage).where(
        SmsMessage.to_phone == e164, SmsMessage.channel == Channel.VOICE)
        .order_by(SmsMessage.id.desc()).limit(limit)).all()
    return [_call_row(m) for m in out]


def channel_label(passenger) -> str:
    """How the service reaches this passenger, in words for the operator."""
    channel = calls.passenger_channel(passenger)
    if channel == Channel.VOICE:
        return "appels vocaux automatiques"
    if channel == Channel.SMS:
        return "SMS"
    return "par l'équipe, au téléphone (ni SMS ni appel automatique)"


# --- who an action will reach (said before the operator confirms it) ---------------------

HOW_FR = {"sms": "SMS", "voice": "appel automatique"}


@dataclass(frozen=True)
class Notice:
    """Who a booking action will tell, in the operator's words (the planner's own rule)."""

    told: tuple[Told, ...]  # automatically, by SMS or automatic call
    to_call: tuple[Told, ...]  # nobody will tell them: the operator phones

    @staticmethod
    def _who(t: Told) -> str:
        return t.name if t.role == "passenger" else f"le conducteur {t.name}"

    @staticmethod
    def _join(parts: list[str]) -> str:
        return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " et " + parts[-1]

    @property
    def sentence(self) -> str:
        """'Marie Dupont (SMS) et le conducteur Jean Martin (SMS) seront prévenus.'"""
        if not self.told:
            return "Aucun message automatique ne partira."
        text = self._join([f"{self._who(t)} ({HOW_FR[t.how]})" for t in self.told])
        text = text[:1].upper() + text[1:]
        return text + (" seront prévenus." if len(self.told) > 1 else " sera prévenu·e.")

    @property
    def call_sentence(self) -> str:
        """'À appeler par vous : Marie Dupont (ni SMS ni appel automatique).' — or ''."""
        if not self.to_call:
            return ""
        return "À appeler par vous : " + self._join([self._who(t) for t in self.to_call]) + \
            " (ni SMS ni appel automatique possible)."


def who_is_told(booking: Booking, action: str, actor_id: int | None = None,
                now: datetime | None = None) -> Notice:
    """Who `action` on `booking` will tell (SMS, automatic call) and whom the operator must
    phone, computed by the notifications planner's rules, nothing queued."""
    target = TRANSITIONS[action][1]
    everyone = told_of_change(booking, target, actor_id, now or utcnow())
    return Notice(told=tuple(t for t in everyone if t.how != "call"),
                  to_call=tuple(t for t in everyone if t.how == "call"))


# --- the driver's answer link ----------------------------------------------------------

class LinkClosed(Exception):
    """The link cannot be answered (French message, HTTP status for the page)."""

    def __init__(self, message: str, status: int = 410) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class LinkQuestion:
    token: str
    driver_first: str
    passenger: str
    commune: str
    place: str | None
    destination: str
    day: str
    time: str


def _open_link(token: str, now: datetime) -> SmsLink:
    link = links.resolve(token)
    operator = current_app.config["OPERATOR_PHONE"]
    if link is None:
        raise LinkClosed(f"Ce lien n'est pas valide. Appelez l'équipe Lot'ôcar au {operator}.", 404)
    if link.used_at is not None:
        said = {"oui": "oui", "non": "non"}.get(link.answer or "", "")
        raise LinkClosed("Vous avez déjà répondu" + (f" « {said} »" if said else "") +
                         f". Merci ! Pour changer d'avis, appelez l'équipe au {operator}.", 410)
    if link.expires_at <= now:
        raise LinkClosed(f"Ce lien a expiré. Pour répondre, appelez l'équipe au {operator}.", 410)
    booking = db.session.get(Booking, link.booking_id)
    if booking is None or booking.status != BookingStatus.PROPOSED:
        label = BOOKING_LABELS.get(booking.status, "") if booking else ""
        raise LinkClosed("Cette demande n'attend plus de réponse" + (f" (réservation « {label} »)" if label else "")
                         + f". Une question ? Appelez l'équipe au {operator}.", 409)
    return link


def link_question(token: str, now: datetime | None = None) -> LinkQuestion:
    now = now or utcnow()
    link = _open_link(token, now)
    booking = db.session.get(Booking, link.booking_id)
    passenger = booking.request.passenger
    pickup = effective_pickup(booking)
    local = to_local(pickup) if pickup else None
    return LinkQuestion(
        token=token, driver_first=booking.offer.driver.user.first_name,
        passenger=f"{passenger.first_name} {passenger.last_name[:1]}.".strip(),
        commune=booking.request.origin.name, place=booking.request.origin_place,
        destination=booking.request.destination.name,
        day=day_fr(local) if local else "", time=format_time_fr(local) if local else "",
    )


def answer_link(token: str, answer: str, now: datetime | None = None) -> str:
    """Apply the driver's yes / no once; returns the French thank-you text. The caller
    commits (or rolls back on LinkClosed)."""
    now = now or utcnow()
    if answer not in ("oui", "non"):
        raise LinkClosed("Réponse non comprise : choisissez Oui ou Non.", 400)
    link = _open_link(token, now)
    used = db.session.execute(
        db.update(SmsLink).where(SmsLink.id == link.id, SmsLink.used_at.is_(None))
        .values(used_at=now, answer=answer).execution_options(synchronize_session=False)).rowcount
    if used != 1:
        raise LinkClosed("Vous avez déjà répondu. Merci !", 410)
    try:
        transition(link.booking_id, "accept" if answer == "oui" else "decline", actor_id=link.user_id,
                   reason="Réponse par lien SMS")
    except BookingError as err:
        raise LinkClosed(str(err), 409) from err
    if answer == "oui":
        return "Merci ! Nous prévenons la personne et vous confirmons le trajet par SMS."
    return "C'est noté, merci. Nous cherchons un autre conducteur."


def phone_changed(old: str, new: str, recipient: str, sms_ok: bool, calls_ok: bool) -> dict[str, int]:
    """See `outbox.phone_changed` (a number corrected on a passenger's or driver's record)."""
    return outbox.phone_changed(old, new, recipient, sms_ok, calls_ok)
