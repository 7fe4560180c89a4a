"""Drivers' profile rows (RGPD hook, see `lotocar.core.personal_data`); identity and login
are the `auth` feature's."""
from __future__ import annotations

from typing import Any

from lotocar.core import personal_data as pd
from lotocar.drivers.models import Driver
from lotocar.extensions import db


def export(subject: pd.Subject) -> dict[str, Any]:
    if subject.kind != "driver":
        return {}
    driver = db.session.get(Driver, subject.person_id)
    return {"person": pd.row(driver, ["home_insee", "consent_contact", "consent_at", "notes",
                                       "accepts_flags"])}


def erase(subject: pd.Subject) -> None:
    if subject.kind != "driver":
        return
    driver = db.session.get(Driver, subject.person_id)
    driver.notes = None
    driver.accepts_flags = None  # what he accepted (issue #14): his trips are closed by the erasure
    driver.consent_contact = False


pd.register("drivers", 60, export, erase)
