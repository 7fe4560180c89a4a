from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lotocar.core import needs as need_codes
from lotocar.core.timeutil import utcnow
from lotocar.core.types import UTCDateTime
from lotocar.extensions import db


class Passenger(db.Model):
    """A person without a car, usually registered by an operator on the phone."""

    __tablename__ = "passengers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    first_name: Mapped[str] = mapped_column(String(80))
    last_name: Mapped[str] = mapped_column(String(80))
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    phone_is_mobile: Mapped[bool] = mapped_column(Boolean, default=True)
    home_insee: Mapped[str] = mapped_column(ForeignKey("communes.insee"))
    has_no_car: Mapped[bool] = mapped_column(Boolean, default=True)
    sms_consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sms_consent_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    # automatic voice calls (issue #17): consent asked and recorded on the phone, with its date
    call_consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    call_consent_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    prefers_calls: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    needs: Mapped[str | None] = mapped_column(Text, nullable=True)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    # accessibility needs as data (lotocar.core.needs codes, comma-separated); `needs` stays
    # the free text for other details
    needs_flags: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # where she is met when leaving from home, instead of the town hall (issue #14)
    pickup_place: Mapped[str | None] = mapped_column(String(200), nullable=True)
    pickup_lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    pickup_lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    home: Mapped["Commune"] = relationship()  # noqa: F821

    @property
    def need_codes(self) -> frozenset[str]:
        return need_codes.parse(self.needs_flags)

    @property
    def has_pickup_point(self) -> bool:
        return self.pickup_lat is not None and self.pickup_lon is not None
