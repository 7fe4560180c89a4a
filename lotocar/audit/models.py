from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lotocar.core.timeutil import utcnow
from lotocar.core.types import UTCDateTime
from lotocar.extensions import db


class AuditEntry(db.Model):
    """Who changed what, when and why. Append-only."""

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(40))
    changes: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)

    actor: Mapped["User | None"] = relationship()  # noqa: F821

    __table_args__ = (Index("ix_audit_entity", "entity", "entity_id"),)

    @property
    def actor_name(self) -> str:
        if self.actor is None:
            return "Système"
        role = {"driver": "conducteur", "operator": "opérateur", "admin": "admin"}[self.actor.role.value]
        return f"{self.actor.first_name} {self.actor.last_name} ({role})"
