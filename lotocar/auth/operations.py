"""Sign-up, phone verification and login: plain functions, no request objects."""
from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from werkzeug.security import check_password_hash, generate_password_hash

from lotocar.audit import operations as audit
from lotocar.audit.models import AuditEntry
from lotocar.auth.models import PhoneCode, Role, User
from lotocar.core.timeutil import utcnow
from lotocar.drivers.models import Driver
from lotocar.extensions import db

log = logging.getLogger("lotocar.auth")


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


@dataclass(frozen=True)
class CodeSms:
    """A code's SMS, sent by the edge once the code is committed."""
    phone: str
    body: str
    kind: str


def _phone_owner(phone: str) -> User | None:
    return db.session.scalar(db.select(User).where(User.phone == phone))


def start_signup(data: DriverSignup) -> CodeSms | None:
    """Send the sign-up code; NOTHING about the person is written before the code proves
    that the caller holds the phone (the typed data waits in the caller's session).

    The answer is the same whether the number is new, a driver registered by the team, an
    existing account or a staff phone: only the SMS says the rest."""
    if not data.consent_contact:
        raise AuthError("Votre accord est nécessaire pour que l'équipe puisse vous contacter.",
                        "consent_contact")
    owner = _phone_owner(data.phone)
    if owner is None or (owner.role == Role.DRIVER and owner.phone_verified_at is None):
        return send_code(data.phone, "verify", owner)
    if owner.role == Role.DRIVER:
        return send_code(data.phone, "verify", owner, template=ALREADY_REGISTERED_SMS)
    # a staff account's phone: counted like a code, nothing is sent
    return send_code(data.phone, "verify", None, deliver=False)


@dataclass(frozen=True)
class SignupResult:
    user: User
    outcome: str  # "created" | "confirm" (registered by the team) | "existing"
    email_saved: bool = True


def complete_signup(data: DriverSignup, code: str) -> SignupResult:
    """The code is right: create the account, or verify the one the team registered (its
    data is kept until the person confirms), or log into the existing one (unchanged)."""
    check_code(data.phone, "verify", code)
    owner = _phone_owner(data.phone)
    now = utcnow()
    if owner is not None and owner.role != Role.DRIVER:
        raise AuthError(WRONG_CODE, "code")
    if owner is not None and owner.phone_verified_at is not None:
        return SignupResult(owner, "existing")
    if owner is not None:
        owner.phone_verified_at = now
        audit.record(owner.id, "user", owner.id, "phone_verified", reason="sign-up code")
        return SignupResult(owner, "confirm")
    email_free = _email_free(data.email, None)
    user = User(role=Role.DRIVER, phone=data.phone, first_name=data.first_name,
                last_name=data.last_name, email=data.email if email_free else None,
                phone_verified_at=now)
    user.driver = Driver(home_insee=data.home_insee, consent_contact=True, consent_at=now)
    db.session.add(user)
    db.session.flush()
    audit.record(user.id, "user", user.id, "driver_signup",
                 {"phone": data.phone, "home_insee": data.home_insee})
    return SignupResult(user, "created", email_free or not data.email)


def _email_free(email: str | None, user: User | None) -> bool:
    if not email:
        return True
    other = db.session.scalar(db.select(User).where(User.email == email))
    return other is None or other is user


def confirm_signup_details(user: User, data: DriverSignup, use_typed: bool) -> bool:
    """After the code: keep what the team entered, or take what the person typed (she has
    proved she holds the phone). Returns False when the typed e-mail could not be saved."""
    if not use_typed:
        audit.record(user.id, "user", user.id, "signup_details_kept")
        return True
    before = {"first_name": user.first_name, "last_name": user.last_name, "email": user.email,
              "home_insee": user.driver.home_insee if user.driver else None}
    user.first_name, user.last_name = data.first_name, data.last_name
    email_ok = _email_free(data.email, user)
    if data.email and email_ok:
        user.email = data.email
    if user.driver is None:
        user.driver = Driver(home_insee=data.home_insee)
    user.driver.home_insee = data.home_insee
    user.driver.consent_contact = True
    user.driver.consent_at = utcnow()
    after = {"first_name": user.first_name, "last_name": user.last_name, "email": user.email,
             "home_insee": data.home_insee}
    audit.record(user.id, "user", user.id, "signup_details_replaced",
                 {k: [before[k], after[k]] for k in after if before[k] != after[k]} or None)
    return email_ok or not data.email


WRONG_CODE = "Ce code n'est pas le bon. Vérifiez le SMS reçu."
EXPIRED_CODE = "Ce code a expiré. Demandez-en un nouveau."
TOO_MANY_TRIES = "Trop d'essais. Demandez un nouveau code."
TOO_MANY_TRIES_TODAY = ("Trop d'essais aujourd'hui pour ce numéro. Réessayez demain "
                        "ou appelez l'équipe Lot'ôcar.")
TOO_MANY_CODES = ("Trop de codes demandés pour ce numéro. Réessayez dans 15 minutes "
                  "ou appelez l'équipe Lot'ôcar.")
TOO_MANY_CODES_TODAY = ("Trop de codes demandés aujourd'hui pour ce numéro. Réessayez demain "
                        "ou appelez l'équipe Lot'ôcar.")
BUDGET_REACHED = ("L'envoi de codes est momentanément suspendu. Réessayez dans une heure "
                  "ou appelez l'équipe Lot'ôcar.")
CODE_SMS = "Lot'ôcar : votre code est {code}. Il est valable {ttl} minutes. Ne le donnez à personne."
ALREADY_REGISTERED_SMS = ("Lot'ôcar : ce numéro a déjà un compte. Votre code {code} (valable {ttl} min) "
                          "vous y connecte, sans rien changer. Ne le donnez à personne.")
BUDGET_ALERT = "sms_code_budget_reached"


def _hash_code(phone: str, code: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{phone}:{code}".encode(), "sha256").hexdigest()


def _codes_since(phone: str | None, since: datetime, sent_only: bool = False) -> int:
    query = db.select(db.func.count(PhoneCode.id)).where(PhoneCode.created_at >= since)
    if phone is not None:
        query = query.where(PhoneCode.phone == phone)
    if sent_only:
        query = query.where(PhoneCode.code_hash != "")
    return db.session.scalar(query) or 0


def budget_alert(since: datetime) -> AuditEntry | None:
    """The last time the hourly budget of code SMS was reached (shown to operators)."""
    return db.session.scalar(
        db.select(AuditEntry).where(AuditEntry.action == BUDGET_ALERT, AuditEntry.at >= since)
        .order_by(AuditEntry.at.desc()).limit(1))


def _check_budget(now: datetime) -> None:
    budget = int(current_app.config["SMS_CODE_BUDGET_PER_HOUR"])
    sent = _codes_since(None, now - timedelta(hours=1), sent_only=True)
    if sent < budget:
        return
    if budget_alert(now - timedelta(hours=1)) is None:
        audit.record(None, "sms_budget", 0, BUDGET_ALERT,
                     {"codes_last_hour": sent, "budget": budget})
        log.warning("SMS code budget reached: %s codes in the last hour (budget %s)", sent, budget)
    raise AuthError(BUDGET_REACHED, "phone")


def send_code(phone: str, purpose: str, user: User | None, *, template: str = CODE_SMS,
              deliver: bool = True) -> CodeSms | None:
    """A new 6-digit one-time code, stored hashed (flush only). Returns its SMS, which the
    edge sends once this is committed (lotocar.notifications.worker.send_now).

    Limits, the same for every number whether it has an account or not: OTP_MAX_PER_PHONE
    per 15 minutes, OTP_MAX_PER_PHONE_DAY per 24 hours, and SMS_CODE_BUDGET_PER_HOUR codes
    for the whole service (operators are alerted when it is reached). `deliver=False`
    records a code nobody can use (a number without an account): it counts the same."""
    now = utcnow()
    cfg = current_app.config
    if _codes_since(phone, now - timedelta(minutes=15)) >= cfg["OTP_MAX_PER_PHONE"]:
        raise AuthError(TOO_MANY_CODES, "phone")
    if _codes_since(phone, now - timedelta(hours=24)) >= cfg["OTP_MAX_PER_PHONE_DAY"]:
        raise AuthError(TOO_MANY_CODES_TODAY, "phone")
    if deliver:
        _check_budget(now)
    code = f"{secrets.randbelow(1_000_000):06d}"
    ttl = cfg["OTP_TTL_MINUTES"]
    db.session.add(PhoneCode(
        phone=phone, purpose=purpose, code_hash=_hash_code(phone, code) if deliver else "",
        created_at=now, expires_at=now + timedelta(minutes=ttl), user_id=user.id if user else None,
    ))
    db.session.flush()
    if not deliver:
        return None
    return CodeSms(phone, template.format(code=code, ttl=ttl), f"code_{purpose}")


def _wrong_today(phone: str, now: datetime) -> int:
    attempts, used = db.session.execute(
        db.select(db.func.coalesce(db.func.sum(PhoneCode.attempts), 0),
                  db.func.count(PhoneCode.used_at))
        .where(PhoneCode.phone == phone, PhoneCode.created_at >= now - timedelta(hours=24))
    ).one()
    return int(attempts) - int(used)


def check_code(phone: str, purpose: str, code: str) -> None:
    """Consume a valid code or raise AuthError (flush only: the caller commits either way,
    so that a wrong try is counted).

    A try is reserved BEFORE the comparison by one atomic UPDATE (attempts + 1 WHERE
    attempts < OTP_MAX_ATTEMPTS RETURNING): however many guesses arrive at once, at most
    OTP_MAX_ATTEMPTS are ever compared; and OTP_MAX_WRONG_PER_DAY wrong codes per phone."""
    code = "".join(ch for ch in (code or "") if ch.isdigit())
    now = utcnow()
    cfg = current_app.config
    pending = db.session.scalar(
        db.select(PhoneCode)
        .where(PhoneCode.phone == phone, PhoneCode.purpose == purpose,
               PhoneCode.used_at.is_(None))
        .order_by(PhoneCode.created_at.desc(), PhoneCode.id.desc())
        .limit(1)
    )
    if pending is None or pending.expires_at < now:
        raise AuthError(EXPIRED_CODE, "code")
    if _wrong_today(phone, now) >= cfg["OTP_MAX_WRONG_PER_DAY"]:
        raise AuthError(TOO_MANY_TRIES_TODAY, "code")
    reserved = db.session.execute(
        db.update(PhoneCode)
        .where(PhoneCode.id == pending.id, PhoneCode.used_at.is_(None),
               PhoneCode.attempts < cfg["OTP_MAX_ATTEMPTS"])
        .values(attempts=PhoneCode.attempts + 1)
        .returning(PhoneCode.attempts)
        .execution_options(synchronize_session=False)
    ).first()
    if reserved is None:
        raise AuthError(TOO_MANY_TRIES, "code")
    if len(code) != 6 or not hmac.compare_digest(pending.code_hash, _hash_code(phone, code)):
        raise AuthError(WRONG_CODE, "code")
    consumed = db.session.execute(
        db.update(PhoneCode).where(PhoneCode.id == pending.id, PhoneCode.used_at.is_(None))
        .values(used_at=now).execution_options(synchronize_session=False)
    ).rowcount
    if consumed != 1:  # used by a simultaneous request
        raise AuthError(EXPIRED_CODE, "code")


def request_login_code(phone: str) -> CodeSms | None:
    """/connexion: a code for an active driver's phone; any other number is counted the
    same (same limits, same answers) but nothing is sent."""
    user = driver_for_phone(phone)
    if user is not None and user.active:
        return send_code(phone, "login", user)
    return send_code(phone, "login", None, deliver=False)


def login_with_code(phone: str, code: str) -> User:
    check_code(phone, "login", code)
    user = driver_for_phone(phone)
    if user is None or not user.active:
        raise AuthError(WRONG_CODE, "code")
    if user.phone_verified_at is None:  # the code proves the phone too
        verify_phone_after_login(user)
    return user


def driver_for_phone(phone: str) -> User | None:
    return db.session.scalar(
        db.select(User).where(User.phone == phone, User.role == Role.DRIVER)
    )


def mark_login(user: User) -> None:
    user.last_login_at = utcnow()


def end_sessions(user: User) -> None:
    """Log out everywhere: every session and "remember me" cookie of this account stops
    working (the token is part of both)."""
    user.rotate_session_token()
    audit.record(user.id, "user", user.id, "sessions_ended")


def load_session_user(raw: str) -> User | None:
    """Flask-Login's user loader: "<id>:<session token>", both must match."""
    user_id, sep, token = (raw or "").partition(":")
    if not sep or not user_id.isdigit() or not token or len(user_id) > 12:
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.session_token or not hmac.compare_digest(user.session_token, token):
        return None
    return user


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
        # the admin's own command line: saying so reveals nothing to an outsider
        raise AuthError("Un compte existe déjà avec cette adresse e-mail.", "email")
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
