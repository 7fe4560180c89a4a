"""API tokens: issued to operators and admins only, stored as their SHA-256.

A token is shown once, when issued (`flask operators token EMAIL`); the database keeps
only its hash, so a leaked database does not leak working tokens. Tokens of a user who
is deactivated or no longer staff stop working at once (checked at every call).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlalchemy.exc import OperationalError

from lotocar.api.models import ApiToken
from lotocar.audit import operations as audit
from lotocar.auth.models import Role, User
from lotocar.core.timeutil import utcnow
from lotocar.extensions import db

STAFF = (Role.OPERATOR, Role.ADMIN)
PREFIX = "ltc_"
LAST_USED_EVERY = timedelta(minutes=5)  # `last_used_at` is refreshed at most this often


class TokenError(ValueError):
    """A French message for the person at the command line."""


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _staff_user(email: str) -> User:
    user = db.session.scalar(db.select(User).where(User.email == (email or "").strip().lower()))
    if user is None:
        raise TokenError(f"Aucun compte avec l'adresse {email}.")
    if user.role not in STAFF:
        raise TokenError("Les jetons d'API sont réservés aux opérateurs et administrateurs.")
    return user


def issue_token(email: str) -> tuple[str, ApiToken]:
    """A new token for a staff account: (the token, shown once; its stored row)."""
    user = _staff_user(email)
    if not user.active:
        raise TokenError("Ce compte est désactivé.")
    raw = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, token_hash=hash_token(raw), created_at=utcnow())
    db.session.add(token)
    db.session.flush()
    audit.record(None, "user", user.id, "api_token_issued", {"token_id": token.id})
    return raw, token


def revoke_tokens(email: str) -> int:
    """Revoke every live token of the account; returns how many."""
    user = _staff_user(email)
    now = utcnow()
    tokens = list(db.session.scalars(
        db.select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))))
    for token in tokens:
        token.revoked_at = now
    audit.record(None, "user", user.id, "api_tokens_revoked", {"count": len(tokens)})
    return len(tokens)


def authenticate(raw: str) -> tuple[User | None, bool]:
    """(user, is_staff) for a live token of an active account; (None, False) otherwise.

    A valid token of an account that is not (or no longer) staff gives (user, False): the
    caller answers 403 rather than 401.
    """
    if not raw or len(raw) > 200:
        return None, False
    digest = hash_token(raw)
    token = db.session.scalar(db.select(ApiToken).where(ApiToken.token_hash == digest))
    if token is None or token.revoked_at is not None or not hmac.compare_digest(token.token_hash, digest):
        return None, False
    user = token.user
    if user is None or not user.active:
        return None, False
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_EVERY:
        try:  # best effort: a busy database must not fail the call itself (the edge commits)
            db.session.execute(db.update(ApiToken).where(ApiToken.id == token.id)
                               .values(last_used_at=now))
        except OperationalError:
            db.session.rollback()
    return user, user.role in STAFF
