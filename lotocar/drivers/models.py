from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lotocar.core import needs as need_codes
from lotocar.core.timeutil import utcnow
from lotocar.core.types import UTCDateTime
from lotocar.extensions import db


class Driver(db.Model):
    """A volunteer driver's profile; identity and login live on the linked user."""

    __tablename__ = "drivers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    home_insee: Mapped[str] = mapped_column(ForeignKey("communes.insee"))
    consent_contact: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    notes: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    # what he and his car accept (lotocar.core.needs codes, comma-separated, issue #14)
    accepts_flags: Mapped[str | None] = mapped_column(String(100), nullable=True)

    user: Mapped["User"] = relationship(back_populates="driver")  # noqa: F821
    home: Mapped["Commune"] = relationship()  # noqa: F821
    offers: Mapped[list["Offer"]] = relationship(back_populates="driver")  # noqa: F821

    @property
    def accept_codes(self) -> frozenset[str]:
        return need_codes.parse(self.accepts_flags)
