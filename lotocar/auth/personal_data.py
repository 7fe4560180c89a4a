"""Accounts: identity, phone, e-mail, password, one-time codes and sessions (RGPD hook,
see `lotocar.core.personal_data`)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from lotocar.auth.models import PhoneCode, User
from lotocar.core import personal_data as pd
from lotocar.core.timeutil import utcnow
from lotocar.extensions import db

FIELDS = ["id", "first_name", "last_name", "phone", "phone_verified_at", "email", "created_at",
          "last_login_at", "anonymised_at"]


def export(subject: pd.Subject) -> dict[str, Any]:
    if subject.user_id is None:
        return {}
    user = db.session.get(User, subject.user_id)
    codes = db.session.scalars(db.select(PhoneCode).where(PhoneCode.phone == user.phone)
                               .order_by(PhoneCode.created_at)).all() if user.phone else []
    return {"person": pd.row(user, FIELDS),
            "login_codes": [pd.row(c, ["purpose", "created_at", "used_at"]) for c in codes]}


def erase(subject: pd.Subject) -> None:
    if subject.user_id is None:
        return
    user = db.session.get(User, subject.user_id)
    if user.phone:
        db.session.execute(db.delete(PhoneCode).where(PhoneCode.phone == user.phone))
    user.first_name, user.last_name = pd.ANON, ""
    user.phone = None
    user.email = None
    user.password_hash = None
    user.active = False
    user.rotate_session_token()  # any open session or "remember me" cookie ends
    user.anonymised_at = utcnow()


def purge_codes(before: datetime) -> int:
    """Retention: one-time codes older than `before` (their counts only matter for a day)."""
    return db.session.execute(db.delete(PhoneCode).where(PhoneCode.created_at < before)).rowcount


pd.register("auth", 75, export, erase)
