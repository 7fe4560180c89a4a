"""The audit trail about a person (RGPD hook, see `lotocar.core.personal_data`): entries are
kept (who did what, when), the personal values in their details are replaced."""
from __future__ import annotations

from typing import Any

from lotocar.audit.models import AuditEntry
from lotocar.core import personal_data as pd
from lotocar.extensions import db

SCRUB_KEYS = {"phone", "email", "first_name", "last_name", "notes", "needs", "remark",
              "origin_place", "destination_place", "origin_lat", "origin_lon",
              "destination_lat", "destination_lon", "pickup_place", "pickup_lat", "pickup_lon",
              "needs_flags", "accepts_flags"}


def _entries(subject: pd.Subject):
    if subject.kind == "passenger":
        cond = (AuditEntry.entity == "passenger") & (AuditEntry.entity_id == subject.person_id)
    else:
        cond = (((AuditEntry.entity == "user") & (AuditEntry.entity_id == subject.user_id))
                | (AuditEntry.actor_id == subject.user_id))
    return db.session.scalars(db.select(AuditEntry).where(cond).order_by(AuditEntry.at, AuditEntry.id))


def export(subject: pd.Subject) -> dict[str, Any]:
    return {"audit": [pd.row(e, ["at", "entity", "entity_id", "action", "changes", "reason"])
                      for e in _entries(subject)]}


def erase(subject: pd.Subject) -> None:
    for entry in _entries(subject):
        if entry.changes:
            entry.changes = {k: (pd.SCRUBBED if k in SCRUB_KEYS else v) for k, v in entry.changes.items()}


pd.register("audit", 90, export, erase)
