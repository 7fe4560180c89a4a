"""Passengers, registered by operators while on the phone."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_

from lotocar.audit import operations as audit
from lotocar.communes.models import Commune
from lotocar.core.phones import PhoneError, parse_phone
from lotocar.core.timeutil import utcnow
from lotocar.extensions import db
from lotocar.passengers.models import Passenger


class PassengerError(ValueError):
    def __init__(self, errors: dict[str, str], existing: Passenger | None = None) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors
        self.existing = existing


@dataclass(frozen=True)
class PassengerInput:
    first_name: str
    last_name: str
    phone: str  # as typed; landlines accepted
    home_insee: str | None
    has_no_car: bool
    sms_consent: bool
    needs: str | None = None
    notes: str | None = None
    call_consent: bool = False   # automatic voice calls, agreed on the phone (issue #17)
    prefers_calls: bool = False  # a mobile owner who would rather be called than texted


def validate(data: PassengerInput) -> tuple[dict[str, str], str | None, bool]:
    errors: dict[str, str] = {}
    phone, mobile = None, False
    if not data.first_name.strip():
        errors["first_name"] = "Ce champ est obligatoire."
    elif len(data.first_name) > 80:
        errors["first_name"] = "80 caractères au plus."
    if not data.last_name.strip():
        errors["last_name"] = "Ce champ est obligatoire."
    elif len(data.last_name) > 80:
        errors["last_name"] = "80 caractères au plus."
    try:
        phone, mobile = parse_phone(data.phone, mobile_only=False)
    except PhoneError as exc:
        errors["phone"] = str(exc)
    home = db.session.get(Commune, data.home_insee) if data.home_insee else None
    if home is None or not home.in_lot:  # Lot'ôcar serves people living in the Lot
        errors["home"] = "Indiquez la commune du domicile (une commune du Lot)."
    if not data.has_no_car:
        errors["has_no_car"] = "Lot'ôcar est réservé aux personnes sans voiture : faites confirmer."
    if data.sms_consent and not mobile and phone:
        errors["sms_consent"] = "Un numéro fixe ne reçoit pas de SMS : décochez ou donnez un portable."
    if data.prefers_calls and not data.call_consent:
        errors["prefers_calls"] = "Cochez aussi l'accord pour les appels automatiques."
    for field in ("needs", "notes"):
        value = getattr(data, field)
        if value and len(value) > 2000:
            errors[field] = "2000 caractères au plus."
    return errors, phone, mobile


def find_by_phone(raw: str) -> Passenger | None:
    try:
        phone, _ = parse_phone(raw, mobile_only=False)
    except PhoneError:
        return None
    return db.session.scalar(db.select(Passenger).where(Passenger.phone == phone))


def register(data: PassengerInput, operator_id: int | None) -> Passenger:
    """Create a passenger; a known phone number is never duplicated (PassengerError.existing)."""
    errors, phone, mobile = validate(data)
    existing = db.session.scalar(db.select(Passenger).where(Passenger.phone == phone)) if phone else None
    if existing is not None:
        errors["phone"] = f"Ce numéro est déjà celui de {existing.first_name} {existing.last_name}."
    if errors:
        raise PassengerError(errors, existing)
    now = utcnow()
    passenger = Passenger(
        first_name=data.first_name.strip(), last_name=data.last_name.strip(), phone=phone,
        phone_is_mobile=mobile, home_insee=data.home_insee, has_no_car=True,
        sms_consent_at=now if data.sms_consent else None,
        sms_consent_by_id=operator_id if data.sms_consent else None,
        needs=(data.needs or "").strip() or None, notes=(data.notes or "").strip() or None,
        created_by_id=operator_id, call_consent_at=now if data.call_consent else None,
        call_consent_by_id=operator_id if data.call_consent else None, prefers_calls=bool(data.prefers_calls),
    )
    db.session.add(passenger)
    db.session.flush()
    audit.record(operator_id, "passenger", passenger.id, "registered",
                 {"sms_consent": data.sms_consent, "call_consent": data.call_consent,
                  "home_insee": data.home_insee})
    return passenger


def set_call_consent(passenger: Passenger, consent: bool, prefers_calls: bool, operator_id: int | None) -> None:
    """Record (with its date) or withdraw the passenger's agreement to automatic calls, asked
    on the phone. Adds to the session; the caller commits."""
    if prefers_calls and not consent:
        raise PassengerError({"prefers_calls": "Cochez aussi l'accord pour les appels automatiques."})
    before = passenger.call_consent_at is not None
    if consent and not before:
        passenger.call_consent_at = utcnow()
        passenger.call_consent_by_id = operator_id
    elif not consent:
        passenger.call_consent_at = None
        passenger.call_consent_by_id = None
    passenger.prefers_calls = bool(prefers_calls and consent)
    audit.record(operator_id, "passenger", passenger.id, "call_consent",
                 {"call_consent": [before, consent], "prefers_calls": passenger.prefers_calls})


def update_notes(passenger: Passenger, notes: str | None, needs: str | None, operator_id: int | None) -> None:
    passenger.notes = (notes or "").strip()[:2000] or None
    passenger.needs = (needs or "").strip()[:2000] or None
    audit.record(operator_id, "passenger", passenger.id, "notes_updated")


def search(text: str, limit: int = 10) -> list[Passenger]:
    """By phone number (any format) or by name (case-insensitive, prefix of first or last name)."""
    text = (text or "").strip()[:80]
    if not text:
        return []
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) >= 6 and len(digits) >= len(text.replace(" ", "").replace("+", "")) - 1:
        found = find_by_phone(text)
        if found:
            return [found]
        tail = digits[-8:]
        return list(db.session.scalars(
            db.select(Passenger).where(Passenger.phone.like(f"%{tail}")).limit(limit)))
    words = text.split()
    query = db.select(Passenger)
    for word in words:
        like = f"{word.lower()}%"
        query = query.where(or_(db.func.lower(Passenger.first_name).like(like),
                                db.func.lower(Passenger.last_name).like(like)))
    return list(db.session.scalars(query.order_by(Passenger.last_name, Passenger.first_name).limit(limit)))
