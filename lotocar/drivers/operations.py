"""Drivers registered by staff or partners (the web sign-up lives in lotocar.auth)."""
from __future__ import annotations

from dataclasses import dataclass

from lotocar.audit import operations as audit
from lotocar.auth.models import Role, User
from lotocar.communes.models import Commune
from lotocar.core import needs as need_codes
from lotocar.core.phones import PhoneError, parse_phone
from lotocar.core.timeutil import utcnow
from lotocar.drivers.models import Driver
from lotocar.extensions import db


class DriverInputError(ValueError):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class DriverInput:
    first_name: str
    last_name: str
    phone: str
    home_insee: str | None
    email: str | None = None
    consent_contact: bool = False


def _name_and_mobile_errors(data) -> tuple[dict[str, str], str | None]:
    """French errors on a driver's first and last name and mobile number (any input with
    those three fields), and the number normalised (E.164) when it is valid."""
    errors: dict[str, str] = {}
    for field in ("first_name", "last_name"):
        value = (getattr(data, field) or "").strip()
        if not value:
            errors[field] = "Ce champ est obligatoire."
        elif len(value) > 80:
            errors[field] = "80 caractères au plus."
    phone = None
    try:
        phone, _ = parse_phone(data.phone, mobile_only=True)
    except PhoneError as exc:
        errors["phone"] = str(exc)
    return errors, phone


def register_by_staff(data: DriverInput, actor_id: int | None) -> Driver:
    """A driver registered on their behalf; they verify their phone at first login."""
    errors, phone = _name_and_mobile_errors(data)
    if phone and db.session.scalar(db.select(User).where(User.phone == phone)) is not None:
        errors["phone"] = "Ce numéro est déjà inscrit."
    home = db.session.get(Commune, data.home_insee) if data.home_insee else None
    if home is None or not home.in_lot:
        errors["home_insee"] = "Commune inconnue : une commune du Lot est attendue."
    email = (data.email or "").strip().lower() or None
    email_taken = False
    if email and ("@" not in email or len(email) > 254):
        errors["email"] = "Adresse e-mail non valide."
    elif email and db.session.scalar(db.select(User).where(User.email == email)) is not None:
        # not said: the answer would tell whoever registers drivers which addresses have an
        # account (staff ones included); the driver is registered without it
        email_taken = True
    if not data.consent_contact:
        errors["consent_contact"] = "L'accord du conducteur pour être contacté est nécessaire."
    if errors:
        raise DriverInputError(errors)
    user = User(role=Role.DRIVER, first_name=data.first_name.strip(), last_name=data.last_name.strip(),
                phone=phone, email=None if email_taken else email)
    user.driver = Driver(home_insee=data.home_insee, consent_contact=True, consent_at=utcnow())
    db.session.add(user)
    db.session.flush()
    audit.record(actor_id, "user", user.id, "driver_registered_by_staff",
                 {"phone": phone, **({"email_not_saved": True} if email_taken else {})})
    return user.driver


@dataclass(frozen=True)
class DriverRecordInput:
    first_name: str
    last_name: str
    phone: str
    home_insee: str | None
    accepts: frozenset[str] = frozenset()  # lotocar.core.needs codes


@dataclass(frozen=True)
class DriverChange:
    driver: Driver
    changed: dict[str, list]  # field -> [before, after]
    old_phone: str | None     # the number before, when it changed

    @property
    def accepts_changed(self) -> bool:
        return "accepts_flags" in self.changed


def _snapshot(driver: Driver) -> dict:
    user = driver.user
    return {"first_name": user.first_name, "last_name": user.last_name, "phone": user.phone,
            "home_insee": driver.home_insee, "accepts_flags": driver.accepts_flags}


def validate_record(driver: Driver, data: DriverRecordInput) -> tuple[dict[str, str], str | None]:
    """French errors per field, and the number normalised (E.164)."""
    errors, phone = _name_and_mobile_errors(data)
    if phone and db.session.scalar(db.select(User).where(User.phone == phone, User.id != driver.user_id)) is not None:
        errors["phone"] = "Ce numéro est déjà celui d'un autre compte."
    home = db.session.get(Commune, data.home_insee) if data.home_insee else None
    if home is None or not home.in_lot:
        errors["home"] = "Indiquez la commune du domicile (une commune du Lot)."
    if set(data.accepts) - need_codes.NEEDS.keys():
        errors["accepts"] = "Choix inconnu."
    return errors, phone


def update_record(driver: Driver, data: DriverRecordInput, actor_id: int | None) -> DriverChange:
    """Staff correct a driver's record (name, mobile number, home, what he accepts); audited
    with each changed field's before / after on his user. Adds and flushes; the edge commits
    (and tells his trips when what he accepts changed: `offers.operations.driver_accepts_changed`)."""
    errors, phone = validate_record(driver, data)
    if errors:
        raise DriverInputError(errors)
    before = _snapshot(driver)
    driver.user.first_name, driver.user.last_name = data.first_name.strip(), data.last_name.strip()
    if phone != driver.user.phone:
        driver.user.phone = phone
        driver.user.phone_verified_at = None  # the new number is verified at his next login
    driver.home_insee = data.home_insee
    driver.accepts_flags = need_codes.dump(data.accepts)
    after = _snapshot(driver)
    changed = {k: [before[k], after[k]] for k in before if before[k] != after[k]}
    db.session.flush()
    if changed:
        audit.record(actor_id, "user", driver.user_id, "driver_record_updated", changed)
    return DriverChange(driver, changed, before["phone"] if "phone" in changed else None)


def set_accepts(driver: Driver, accepts: frozenset[str], actor_id: int | None) -> bool:
    """The driver himself says what he accepts; True when it changed (audited)."""
    if set(accepts) - need_codes.NEEDS.keys():
        raise DriverInputError({"accepts": "Choix inconnu."})
    before, after = driver.accepts_flags, need_codes.dump(accepts)
    if before == after:
        return False
    driver.accepts_flags = after
    db.session.flush()
    audit.record(actor_id, "user", driver.user_id, "driver_accepts_updated", {"accepts_flags": [before, after]})
    return True
