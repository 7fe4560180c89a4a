from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Enum, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lotocar.core.timeutil import utcnow
from lotocar.core.types import UTCDateTime
from lotocar.extensions import db


class JourneyStatus(str, enum.Enum):
    PENDING = "pending"      # waiting to be sent (or for the operator to export it)
    UNKNOWN = "unknown"      # sent, outcome unknown (timeout): looked up before any resend
    ACCEPTED = "accepted"    # the register holds it
    REFUSED = "refused"      # the register said no (its message kept)
    BLOCKED = "blocked"      # our own checks said the register would refuse it: never sent
    FAILED = "failed"        # gave up after RPC_MAX_ATTEMPTS transient errors


# Statuses only move forward along this rank (a late answer never moves one back).
RANK = {JourneyStatus.PENDING: 0, JourneyStatus.UNKNOWN: 1, JourneyStatus.ACCEPTED: 2,
        JourneyStatus.REFUSED: 2, JourneyStatus.BLOCKED: 2, JourneyStatus.FAILED: 2}
FINAL = frozenset(s for s, r in RANK.items() if r == 2)

STATUS_LABELS_FR = {
    JourneyStatus.PENDING: "À envoyer",
    JourneyStatus.UNKNOWN: "Envoi à vérifier",
    JourneyStatus.ACCEPTED: "Accepté par le registre",
    JourneyStatus.REFUSED: "Refusé par le registre",
    JourneyStatus.BLOCKED: "Non envoyé (refus certain)",
    JourneyStatus.FAILED: "Échec d'envoi",
}


class RpcJourney(db.Model):
    """One proof: a (driver, passenger) ride done, in the register's v3 journey format."""

    __tablename__ = "rpc_journeys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id"), unique=True)
    operator_journey_id: Mapped[str] = mapped_column(String(64), unique=True)
    operator_trip_id: Mapped[str] = mapped_column(String(64), index=True)
    driver_key: Mapped[str] = mapped_column(String(64))
    passenger_key: Mapped[str] = mapped_column(String(64))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    distance_m: Mapped[int] = mapped_column(Integer)
    payload: Mapped[dict] = mapped_column(JSON)
    status: Mapped[JourneyStatus] = mapped_column(
        Enum(JourneyStatus, name="rpc_journey_status", native_enum=False, length=20,
             values_callable=lambda e: [m.value for m in e]),
        default=JourneyStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    refusal_labels: Mapped[list | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    status_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    booking: Mapped["Booking"] = relationship()  # noqa: F821

    __table_args__ = (
        Index("ix_rpc_journeys_due", "status", "next_attempt_at"),
        Index("ix_rpc_journeys_start", "start_at"),
    )
