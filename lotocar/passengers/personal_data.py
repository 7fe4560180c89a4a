"""Passengers' identity rows (RGPD hook, see `lotocar.core.personal_data`)."""
from __future__ import annotations

from typing import Any

from lotocar.core import personal_data as pd
from lotocar.core.timeutil import utcnow
from lotocar.extensions import db
from lotocar.passengers.models import Passenger

FIELDS = ["id", "first_name", "last_name", "phone", "phone_is_mobile", "home_insee", "has_no_car",
          "sms_consent_at", "call_consent_at", "prefers_calls", "needs", "notes", "needs_flags",
          "pickup_place", "pickup_lat", "pickup_lon", "created_at", "anonymised_at"]


def export(subject: pd.Subject) -> dict[str, Any]:
    if subject.kind != "passenger":
        return {}
    return {"person": pd.row(db.session.get(Passenger, subject.person_id), FIELDS)}


def erase(subject: pd.Subject) -> None:
    if subject.kind != "passenger":
        return
    person = db.session.get(Passenger, subject.person_id)
    person.first_name, person.last_name = pd.ANON, ""
    person.phone = subject.placeholder
    person.needs = person.notes = None
    person.needs_flags = None  # accessibility needs and pickup place (issue #14)
    person.pickup_place = person.pickup_lat = person.pickup_lon = None
    person.sms_consent_at = None
    person.sms_consent_by_id = None
    person.call_consent_at = None  # automatic calls (issue #17): consent asked on the phone
    person.call_consent_by_id = None
    person.prefers_calls = False
    person.anonymised_at = utcnow()


pd.register("passengers", 70, export, erase)
