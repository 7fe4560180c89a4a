from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from lotocar.core.timeutil import utcnow
from lotocar.core.types import UTCDateTime
from lotocar.extensions import db


class DriverMode(str, enum.Enum):
    FREE = "free"            # "gratuit"
    SUGGESTED = "suggested"  # "participation suggérée"


class Basis(str, enum.Enum):
    """Why a ride costs what it costs."""

    SUGGESTED = "suggested"      # km × rate, rounded, within the bounds
    DRIVER_FREE = "driver_free"  # the driver chose "gratuit"
    EXEMPT = "exempt"            # the passenger is exempt (reason recorded)
    SERVICE_OFF = "service_off"  # the service suggests no participation


class DriverContributionChoice(db.Model):
    """A driver's one setting: free rides or a suggested participation (absent = suggested)."""

    __tablename__ = "driver_contribution_choices"

    driver_id: Mapped[int] = mapped_column(ForeignKey("drivers.id"), primary_key=True)
    mode: Mapped[str] = mapped_column(String(20), default=DriverMode.SUGGESTED.value)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)

    __table_args__ = (CheckConstraint("mode IN ('free', 'suggested')", name="driver_mode_known"),)


class PassengerExemption(db.Model):
    """A passenger the operator exempted from any participation, and why (e.g. social criteria)."""

    __tablename__ = "passenger_exemptions"

    passenger_id: Mapped[int] = mapped_column(ForeignKey("passengers.id"), primary_key=True)
    reason: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)


class BookingContribution(db.Model):
    """The amount fixed on a booking at its confirmation: later rate changes never touch it."""

    __tablename__ = "booking_contributions"

    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id"), primary_key=True)
    amount_cents: Mapped[int] = mapped_column(Integer)
    km: Mapped[float] = mapped_column(Float)
    basis: Mapped[str] = mapped_column(String(20))
    eur_per_km: Mapped[float] = mapped_column(Float)
    exempt_reason: Mapped[str | None] = mapped_column(String(300), nullable=True)
    fixed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (CheckConstraint("amount_cents >= 0", name="contribution_not_negative"),)
