"""Sign-up, phone verification and login: plain functions, no request objects."""
from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from werkzeug.security import check_password_hash, generate_password_hash

from lotocar.audit import operations as audit
from lotocar.auth.models import PhoneCode, Role, User
from lotocar.core.timeutil import utcnow
from lotocar.drivers.models import Driver
from lotocar.extensions import db


class AuthError(ValueError):
    """A French message for the person, and the form field it concerns."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class DriverSignup:
    first_name: str
    last_name: str
    phone: str  # E.164
    email: str | None
    home_insee: str
    consent_contact: bool


def register_driver(data: DriverSignup) -> User:
    """Create (or refresh, if never verified) a driver account; the phone is not verified yet."""
    if not data.consent_contact:
        raise AuthError("Votre accord est nécessaire pour que l'équipe puisse vous contacter.",
                        "consent_contact")
    user = db.session.scalar(db.select(User).where(User.phone == data.phone))
    if user is not None and (user.phone_verified_at is not None or user.role != Role.DRIVER):
        raise AuthError("Ce numéro est déjà inscrit : connectez-vous avec lui.", "phone")
    if data.email:
        other = db.session.scalar(db.select(User).where(User.email == data.email))
        if other is not None and other is not user:
            raise AuthError("Cette adresse e-mail est déjà utilisée.", "email")
    now = utcnow()
    if user is None:
        user = User(role=Role.DRIVER, phone=data.phone)
        db.session.add(user)
    user.first_name = data.first_name
    user.last_name = data.last_name
    user.email = data.email or None
    if user.driver is None:
        user.driver = Driver(home_insee=data.home_insee)
    user.driver.home_insee = data.home_insee
    user.driver.consent_contact = True
    user.driver.consent_at = now
    db.session.flush()
    audit.record(user.id, "user", user.id, "driver_signup",
                 {"phone": data.phone, "home_insee": data.home_insee})
    return user


def _hash_code(phone: str, code: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{phone}:{code}".encode(), "sha256").hexdigest()


def send_code(phone: str, purpose: str, user: User | None) -> str:
    """A new 6-digit one-time code (stored hashed); returns the SMS text, which the edge sends
    once this is committed (lotocar.notifications.worker.send_now). At most
    OTP_MAX_PER_PHONE per 15 minutes."""
    now = utcnow()
    recent = db.session.scalar(
        db.select(db.func.count(PhoneCode.id)).where(
            PhoneCode.phone == phone, PhoneCode.created_at >= now - timedelta(minutes=15)
        )
    )
    if recent >= current_app.config["OTP_MAX_PER_PHONE"]:
        raise AuthError("Trop de codes demandés pour ce numéro. Réessayez dans 15 minutes "
                        "ou appelez l'équipe Lot'ôcar.", "phone")
    code = f"{secrets.randbelow(1_000_000):06d}"
    ttl = current_app.config["OTP_TTL_MINUTES"]
    db.session.add(PhoneCode(
        phone=phone, purpose=purpose, code_hash=_hash_code(phone, code), created_at=now,
        expires_at=now + timedelta(minutes=ttl), user_id=user.id if user else None,
    ))
    return (f"Lot'ôcar : votre code est {code}. Il est valable {ttl} minutes. "
            "Ne le donnez à personne.")


def check_code(phone: str, purpose: str, code: str) -> None:
    """Consume a valid code or raise AuthError. Each wrong try counts against the code: the
    edge commits it even when this raises."""
    code = "".join(ch for ch in (code or "") if ch.isdigit())
    now = utcnow()
    pending = db.session.scalar(
        db.select(PhoneCode)
        .where(PhoneCode.phone == phone, PhoneCode.purpose == purpose,
               PhoneCode.used_at.is_(None))
        .order_by(PhoneCode.created_at.desc(), PhoneCode.id.desc())
        .limit(1)
    )
    if pending is None or pending.expires_at < now:
        raise AuthError("Ce code a expiré. Demandez-en un nouveau.", "code")
    if pending.attempts >= current_app.config["OTP_MAX_ATTEMPTS"]:
        raise AuthError("Trop d'essais. Demandez un nouveau code.", "code")
    if len(code) != 6 or not hmac.compare_digest(pending.code_hash, _hash_code(phone, code)):
        pending.attempts += 1
        db.session.flush()
        raise AuthError("Ce code n'est pas le bon. Vérifiez le SMS reçu.", "code")
    pending.used_at = now


def verify_phone(user: User, code: str) -> None:
    assert user.phone is not None
    check_code(user.phone, "verify", code)
    user.phone_verified_at = utcnow()
    audit.record(user.id, "user", user.id, "phone_verified")


def driver_for_phone(phone: str) -> User | None:
    return db.session.scalar(
        db.select(User).where(User.phone == phone, User.role == Role.DRIVER)
    )


def mark_login(user: User) -> None:
    user.last_login_at = utcnow()


def set_password(user: User, password: str) -> None:
    if len(password) < 10:
        raise AuthError("Le mot de passe doit faire au moins 10 caractères.", "password")
    user.password_hash = generate_password_hash(password)


def check_password(email: str, password: str) -> User | None:
    user = db.session.scalar(db.select(User).where(User.email == email.strip().lower()))
    if user is None or not user.password_hash or not user.active:
        # same work either way, so timing does not reveal accounts
        check_password_hash(generate_password_hash("x"), password)
        return None
    if not check_password_hash(user.password_hash, password):
        return None
    return user


def create_staff(email: str, first_name: str, last_name: str, role: Role,
                 password: str | None = None) -> tuple[User, str]:
    email = email.strip().lower()
    if db.session.scalar(db.select(User).where(User.email == email)) is not None:
        raise AuthError("Cette adresse e-mail est déjà utilisée.", "email")
    password = password or secrets.token_urlsafe(12)
    user = User(role=role, email=email, first_name=first_name, last_name=last_name)
    set_password(user, password)
    db.session.add(user)
    db.session.flush()
    audit.record(None, "user", user.id, "staff_created", {"role": role.value, "email": email})
    return user, password


def verify_phone_after_login(user: User) -> None:
    """A login code was received on this phone: it is verified."""
    user.phone_verified_at = utcnow()
    audit.record(user.id, "user", user.id, "phone_verified", reason="login code")
