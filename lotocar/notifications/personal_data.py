"""SMS about a person (RGPD hook, see `lotocar.core.personal_data`): what was sent to her
and received from her, and her first name in the texts sent to the other party of her
bookings. A number that said STOP stays on the opt-out list (that is what honours it)."""
from __future__ import annotations

import re
from typing import Any

from lotocar.bookings import personal_data as booking_data
from lotocar.core import personal_data as pd
from lotocar.extensions import db
from lotocar.notifications import outbox
from lotocar.notifications.gsm import normalize
from lotocar.notifications.models import SmsInbound, SmsMessage, SmsOptOut
from lotocar.notifications.operations import masked_body

# what replaces the erased person's name in the other party's texts ("… vous attend à …")
NEUTRAL = "la personne"


def export(subject: pd.Subject) -> dict[str, Any]:
    if not subject.phone:
        return {"sms": {"sent": [], "received": [], "opt_out": []}}
    sent = db.session.scalars(db.select(SmsMessage).where(SmsMessage.to_phone == subject.phone)
                              .order_by(SmsMessage.created_at, SmsMessage.id)).all()
    received = db.session.scalars(db.select(SmsInbound).where(SmsInbound.from_phone == subject.phone)
                                  .order_by(SmsInbound.received_at)).all()
    optout = db.session.get(SmsOptOut, subject.phone)
    return {"sms": {
        "sent": [{**pd.row(m, ["kind", "status", "created_at", "sent_at", "status_at"]), "body": masked_body(m)}
                 for m in sent],
        "received": [pd.row(m, ["body", "action", "received_at"]) for m in received],
        "opt_out": [pd.row(optout, ["opted_out", "keyword", "changed_at"])] if optout else [],
    }}


def _name_pattern(subject: pd.Subject) -> re.Pattern[str] | None:
    names = {normalize(n).strip() for n in (subject.first_name, subject.last_name) if n and n.strip()}
    names.discard(pd.ANON)
    if not names:
        return None
    # whole words only: "Pierre" goes, "Saint-Pierre-Lafeuille" stays
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(rf"(?<![\w'-])(?:{alternatives})(?![\w'-])")


def erase(subject: pd.Subject) -> None:
    if subject.phone:
        outbox.cancel_pending_for(subject.phone, "Données effacées (RGPD)")
        for message in db.session.scalars(db.select(SmsMessage).where(SmsMessage.to_phone == subject.phone)):
            message.to_phone = subject.placeholder
            message.body = pd.SCRUBBED
            message.recipient_name = None
        for inbound in db.session.scalars(db.select(SmsInbound).where(SmsInbound.from_phone == subject.phone)):
            inbound.from_phone = subject.placeholder
            inbound.body = pd.SCRUBBED
    pattern = _name_pattern(subject)
    booking_ids = [b.id for b in booking_data.of_subject(subject)]
    if pattern is None or not booking_ids:
        return
    for message in db.session.scalars(db.select(SmsMessage).where(SmsMessage.booking_id.in_(booking_ids))):
        if message.body != pd.SCRUBBED:
            message.body = pattern.sub(NEUTRAL, message.body)


pd.register("notifications", 40, export, erase)
