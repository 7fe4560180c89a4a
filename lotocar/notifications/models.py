"""Outbox tables (SMS and voice calls), opt-outs, received messages and drivers' answer links."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, Enum, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lotocar.core.timeutil import utcnow
from lotocar.core.types import UTCDateTime
from lotocar.extensions import db


class SmsStatus(str, enum.Enum):
    PENDING = "pending"          # waiting for its send_after (or for the end of quiet hours)
    SENDING = "sending"          # claimed by a worker (or a web request), POST in progress
    UNKNOWN = "unknown"          # the POST's outcome is not known: checked before any resend
    SENT = "sent"                # accepted by the provider
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    CANCELLED = "cancelled"      # withdrawn (booking cancelled/changed), expired or blocked


# Statuses only move forward: a change is applied only to a row whose rank is lower.
STATUS_RANK = {
    SmsStatus.PENDING: 0, SmsStatus.SENDING: 1, SmsStatus.UNKNOWN: 1, SmsStatus.SENT: 2,
    SmsStatus.DELIVERED: 3, SmsStatus.UNDELIVERED: 3, SmsStatus.FAILED: 3, SmsStatus.CANCELLED: 3,
}
FINAL = frozenset(s for s, r in STATUS_RANK.items() if r == 3)


class Channel(str, enum.Enum):
    """How a message reaches its person: an SMS, or an automatic voice call (issue #17)."""

    SMS = "sms"
    VOICE = "voice"


def _enum(cls, name):
    return Enum(cls, name=name, native_enum=False, length=20,
                values_callable=lambda e: [m.value for m in e])


class SmsMessage(db.Model):
    """One SMS to send (the outbox), written in the transaction of the event that causes it.

    `key` is unique: the same event (booking, kind, recipient) can never be queued twice,
    whatever the number of clicks, retries or workers.
    """

    __tablename__ = "sms_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str | None] = mapped_column(String(160), unique=True, nullable=True)
    kind: Mapped[str] = mapped_column(String(30))
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id"), nullable=True, index=True)
    recipient: Mapped[str] = mapped_column(String(10))  # driver | passenger | person
    recipient_name: Mapped[str | None] = mapped_column(String(80), nullable=True)
    to_phone: Mapped[str] = mapped_column(String(20), index=True)
    body: Mapped[str] = mapped_column(Text)
    segments: Mapped[int] = mapped_column(Integer, default=1)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    send_after: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # the pickup instant and the trip departure the text was written for (trip changes)
    event_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    departure_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    planned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # when those were set
    status: Mapped[SmsStatus] = mapped_column(_enum(SmsStatus, "sms_status"), default=SmsStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    checks: Mapped[int] = mapped_column(Integer, default=0)  # look-ups after an unknown outcome
    provider_id: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    provider_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    error_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(300), nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    first_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    status_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    # --- voice calls (channel = voice): one row per call attempt -----------------------
    channel: Mapped[Channel] = mapped_column(_enum(Channel, "message_channel"), default=Channel.SMS,
                                             server_default=Channel.SMS.value)
    attempt: Mapped[int] = mapped_column(Integer, default=1, server_default="1")  # 1, 2, 3 … of a call
    # single-use secret of this attempt's TwiML URL (/voice/webhooks/twiml/<token>): no personal data
    twiml_token: Mapped[str | None] = mapped_column(String(40), unique=True, nullable=True)
    twiml_served_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    answered_by: Mapped[str | None] = mapped_column(String(30), nullable=True)  # Twilio AnsweredBy
    digit: Mapped[str | None] = mapped_column(String(1), nullable=True)  # the key pressed (1, 2, 3)
    digit_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    call_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)

    __table_args__ = (Index("ix_sms_messages_due", "status", "send_after"),)

    @property
    def is_voice(self) -> bool:
        return self.channel == Channel.VOICE


class SmsOptOut(db.Model):
    """A number that answered STOP (or that the provider reports as opted out)."""

    __tablename__ = "sms_opt_outs"

    phone: Mapped[str] = mapped_column(String(20), primary_key=True)
    opted_out: Mapped[bool] = mapped_column(Boolean, default=True)
    keyword: Mapped[str | None] = mapped_column(String(20), nullable=True)
    source: Mapped[str] = mapped_column(String(20), default="sms")  # sms | provider
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SmsInbound(db.Model):
    """An SMS received on the two-way sender (Twilio inbound webhook), kept for the operator."""

    __tablename__ = "sms_inbound"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider_id: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    from_phone: Mapped[str] = mapped_column(String(20), index=True)
    to_phone: Mapped[str | None] = mapped_column(String(20), nullable=True)
    body: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(20))  # opt_out | opt_in | accept | decline | help | other
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id"), nullable=True, index=True)
    result: Mapped[str | None] = mapped_column(String(300), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SmsLink(db.Model):
    """A driver's yes/no link sent by SMS: signed, expiring, single-use."""

    __tablename__ = "sms_links"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    answer: Mapped[str | None] = mapped_column(String(10), nullable=True)
