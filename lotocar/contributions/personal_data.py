"""Cost participation (RGPD hook, see `lotocar.core.personal_data`): a passenger's exemption
and its reason are personal; the amounts fixed on rides stay (anonymous, for statements and
statistics). Runs before the audit trail's hook (the reason is also cleared there)."""
from __future__ import annotations

from typing import Any

from lotocar.contributions import operations as contributions
from lotocar.core import personal_data as pd


def export(subject: pd.Subject) -> dict[str, Any]:
    if subject.kind != "passenger":
        return {}
    row = contributions.exemption(subject.person_id)
    return {"contribution_exemption": [pd.row(row, ["reason", "created_at"])] if row else []}


def erase(subject: pd.Subject) -> None:
    if subject.kind == "passenger":
        contributions.erase_passenger(subject.person_id)


pd.register("contributions", 35, export, erase)
