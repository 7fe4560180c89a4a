"""Passengers, registered by operators while on the phone."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_

from lotocar.audit import operations as audit
from lotocar.communes.models import Commune
from lotocar.core import needs as need_codes
from lotocar.core.phones import PhoneError, parse_phone
from lotocar.core.places import km_between
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
    needs_flags: frozenset[str] = frozenset()  # lotocar.core.needs codes (issue #14)
    pickup_place: str | None = None  # where she is met when leaving from home (town hall if none)
    pickup_lat: float | None = None
    pickup_lon: float | None = None


PICKUP_MAX_KM = 15.0  # a pickup point stays near home


def _check_pickup(data: PassengerInput, home: Commune | None, errors: dict[str, str]) -> None:
    if data.pickup_place and len(data.pickup_place) > 200:
        errors["pickup_place"] = "200 caractères au plus."
    if (data.pickup_lat is None) != (data.pickup_lon is None):
        errors["pickup_lat"] = "Indiquez la latitude et la longitude du point, ou aucune des deux."
        return
    if data.pickup_lat is None or data.pickup_lon is None:
        return
    if not (-90 <= data.pickup_lat <= 90 and -180 <= data.pickup_lon <= 180):
        errors["pickup_lat"] = "Coordonnées non valides (latitude entre -90 et 90, longitude entre -180 et 180)."
    elif home is not None and km_between(data.pickup_lat, data.pickup_lon, home.lat, home.lon) > PICKUP_MAX_KM:
        errors["pickup_lat"] = (f"Ce point est à plus de {PICKUP_MAX_KM:.0f} km de {home.name} : "
                                "placez-le près du domicile.")


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
    if set(data.needs_flags) - need_codes.NEEDS.keys():
        errors["needs_flags"] = "Besoin inconnu."
    _check_pickup(data, home if home is not None and home.in_lot else None, errors)
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
        needs_flags=need_codes.dump(data.needs_flags), pickup_place=(data.pickup_place or "").strip() or None,
        pickup_lat=data.pickup_lat, pickup_lon=data.pickup_lon,
    )
    db.session.add(passenger)
    db.session.flush()
    audit.record(operator_id, "passenger", passenger.id, "registered",
                 {"sms_consent": data.sms_consent, "call_consent": data.call_consent,
                  "home_insee": data.home_insee, "needs_flags": need_codes.dump(data.needs_flags)})
    return passenger


EDITABLE = ("first_name", "last_name", "phone", "phone_is_mobile", "home_insee", "has_no_car", "sms_consent",
            "call_consent", "prefers_calls", "needs_flags", "needs", "notes", "pickup_place", "pickup_lat",
            "pickup_lon")


def _snapshot(p: Passenger) -> dict:
    return {"first_name": p.first_name, "last_name": p.last_name, "phone": p.phone,
            "phone_is_mobile": p.phone_is_mobile, "home_insee": p.home_insee, "has_no_car": p.has_no_car,
            "sms_consent": p.sms_consent_at is not None, "call_consent": p.call_consent_at is not None,
            "prefers_calls": p.prefers_calls, "needs_flags": p.needs_flags, "needs": p.needs, "notes": p.notes,
            "pickup_place": p.pickup_place, "pickup_lat": p.pickup_lat, "pickup_lon": p.pickup_lon}


@dataclass(frozen=True)
class PassengerChange:
    passenger: Passenger
    changed: dict[str, list]  # field -> [before, after]
    old_phone: str | None     # the number before, when it changed


def update(passenger: Passenger, data: PassengerInput, operator_id: int | None) -> PassengerChange:
    """An operator corrects the record: same checks as at registration, a number already
    another passenger's is refused; consents keep their date unless given or withdrawn now.
    Audited with each changed field's before / after. Adds and flushes; the edge commits."""
    errors, phone, mobile = validate(data)
    if phone:
        other = db.session.scalar(db.select(Passenger).where(Passenger.phone == phone, Passenger.id != passenger.id))
        if other is not None:
            errors["phone"] = f"Ce numéro est déjà celui de {other.first_name} {other.last_name}."
    if errors:
        raise PassengerError(errors)
    before = _snapshot(passenger)
    now = utcnow()
    passenger.first_name, passenger.last_name = data.first_name.strip(), data.last_name.strip()
    passenger.phone, passenger.phone_is_mobile = phone, mobile
    passenger.home_insee, passenger.has_no_car = data.home_insee, True
    if data.sms_consent and passenger.sms_consent_at is None:
        passenger.sms_consent_at, passenger.sms_consent_by_id = now, operator_id
    elif not data.sms_consent:
        passenger.sms_consent_at = passenger.sms_consent_by_id = None
    if data.call_consent and passenger.call_consent_at is None:
        passenger.call_consent_at, passenger.call_consent_by_id = now, operator_id
    elif not data.call_consent:
        passenger.call_consent_at = passenger.call_consent_by_id = None
    passenger.prefers_calls = bool(data.prefers_calls and data.call_consent)
    passenger.needs_flags = need_codes.dump(data.needs_flags)
    passenger.needs = (data.needs or "").strip() or None
    passenger.notes = (data.notes or "").strip() or None
    passenger.pickup_place = (data.pickup_place or "").strip() or None
    passenger.pickup_lat, passenger.pickup_lon = data.pickup_lat, data.pickup_lon
    after = _snapshot(passenger)
    changed = {k: [before[k], after[k]] for k in EDITABLE if before[k] != after[k]}
    db.session.flush()
    if changed:
        audit.record(operator_id, "passenger", passenger.id, "record_updated", changed)
    return PassengerChange(passenger, changed, before["phone"] if "phone" in changed else None)


def input_of(passenger: Passenger) -> PassengerInput:
    """The record as an input (to pre-fill the edit form)."""
    return PassengerInput(
        first_name=passenger.first_name, last_name=passenger.last_name, phone=passenger.phone,
        home_insee=passenger.home_insee, has_no_car=passenger.has_no_car,
        sms_consent=passenger.sms_consent_at is not None, needs=passenger.needs, notes=passenger.notes,
        call_consent=passenger.call_consent_at is not None, prefers_calls=passenger.prefers_calls,
        needs_flags=passenger.need_codes, pickup_place=passenger.pickup_place,
        pickup_lat=passenger.pickup_lat, pickup_lon=passenger.pickup_lon)


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
