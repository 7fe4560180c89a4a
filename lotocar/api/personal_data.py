"""API tokens of an account (RGPD hook, see `lotocar.core.personal_data`)."""
from __future__ import annotations

from lotocar.api.models import ApiToken
from lotocar.core import personal_data as pd
from lotocar.core.timeutil import utcnow
from lotocar.extensions import db


def erase(subject: pd.Subject) -> None:
    if subject.user_id is None:
        return
    for token in db.session.scalars(db.select(ApiToken).where(ApiToken.user_id == subject.user_id)):
        token.revoked_at = token.revoked_at or utcnow()


pd.register("api", 50, None, erase)
