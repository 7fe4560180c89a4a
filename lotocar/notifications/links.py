"""Short answer links for drivers (/r/<token>): signed, expiring, single-use.

The token is a random row id (10 characters) followed by an HMAC of it under SECRET_KEY
(10 characters): short enough for an SMS, unguessable, and useless once the row says it
was used or expired.
"""
from __future__ import annotations

import base64
import hmac
import secrets
import string
from datetime import datetime, timedelta

from flask import current_app, has_request_context, request

from lotocar.extensions import db
from lotocar.notifications.models import SmsLink

_ALPHABET = string.ascii_letters + string.digits
ID_LEN = 10
MAC_LEN = 10


def _mac(link_id: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, f"sms-link:{link_id}".encode(), "sha256").digest()
    return base64.urlsafe_b64encode(digest).decode()[:MAC_LEN].replace("-", "x").replace("_", "y")


def token_for(link_id: str) -> str:
    return link_id + _mac(link_id)


def create_link(booking_id: int, user_id: int, now: datetime, until: datetime | None) -> str:
    """A new link row in the current transaction; returns its token."""
    ttl = timedelta(hours=int(current_app.config.get("SMS_LINK_TTL_HOURS", 48)))
    expires = now + ttl
    if until is not None and until < expires:
        expires = until
    link_id = "".join(secrets.choice(_ALPHABET) for _ in range(ID_LEN))
    db.session.add(SmsLink(id=link_id, booking_id=booking_id, user_id=user_id, created_at=now,
                           expires_at=expires))
    return token_for(link_id)


def resolve(token: str) -> SmsLink | None:
    """The link row if the token is well-formed and correctly signed."""
    token = (token or "").strip()
    # isascii: "É" * 20 is alphanumeric too, and compare_digest raises on non-ASCII text
    if len(token) != ID_LEN + MAC_LEN or not token.isascii() or not token.isalnum():
        return None
    link_id, mac = token[:ID_LEN], token[ID_LEN:]
    if not hmac.compare_digest(mac, _mac(link_id)):
        return None
    return db.session.get(SmsLink, link_id)


def public_url(path: str) -> str:
    base = (current_app.config.get("PUBLIC_BASE_URL") or "").rstrip("/")
    if not base and has_request_context():
        base = request.host_url.rstrip("/")
    return (base or "http://localhost:5000") + path
