"""Personal data (RGPD): export everything held about one person, erase it on request, and
anonymise people inactive for a long time. Rides stay in the statistics, without identity.

Erasing keeps the rows that statistics count (requests, bookings, trips: communes, dates,
statuses) and removes what identifies a person: names, phone numbers, e-mail, notes, needs,
free-text places, precise points, SMS texts and numbers, audit details. A phone number that
opted out of SMS stays on the opt-out list: it is what lets us honour the opposition.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from lotocar.api.models import ApiToken
from lotocar.audit import operations as audit
from lotocar.audit.models import AuditEntry
from lotocar.auth.models import PhoneCode, Role, User
from lotocar.bookings.models import Booking
from lotocar.core.timeutil import utcnow
from lotocar.drivers.models import Driver
from lotocar.extensions import db
from lotocar.offers.models import Offer, OfferStatus
from lotocar.passengers.models import Passenger
from lotocar.requests.models import TripRequest

ANON = "Anonyme"
RETENTION_MONTHS = 24
_SCRUB_KEYS = {"phone", "email", "first_name", "last_name", "notes", "needs", "remark",
               "origin_place", "destination_place", "origin_lat", "origin_lon",
               "destination_lat", "destination_lon"}


class PrivacyError(ValueError):
    pass


def _iso(value: Any) -> Any:
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if hasattr(value, "value") and isinstance(value.value, str):
        return value.value
    return value


def _row(obj, fields: list[str]) -> dict[str, Any]:
    return {f: _iso(getattr(obj, f)) for f in fields}


def _sms_rows(phone: str | None) -> dict[str, list[dict]]:
    if not phone:
        return {"sent": [], "received": [], "opt_out": []}
    from lotocar.notifications.models import SmsInbound, SmsMessage, SmsOptOut

    sent = db.session.scalars(db.select(SmsMessage).where(SmsMessage.to_phone == phone)
                              .order_by(SmsMessage.created_at)).all()
    received = db.session.scalars(db.select(SmsInbound).where(SmsInbound.from_phone == phone)
                                  .order_by(SmsInbound.received_at)).all()
    optout = db.session.get(SmsOptOut, phone)
    return {
        "sent": [_row(m, ["kind", "channel", "body", "status", "digit", "created_at", "sent_at", "status_at"])
                 for m in sent],
        "received": [_row(m, ["body", "action", "received_at"]) for m in received],
        "opt_out": [_row(optout, ["opted_out", "keyword", "changed_at"])] if optout else [],
    }


def _audit_rows(entity: str, entity_id: int, actor_id: int | None = None) -> list[dict]:
    query = db.select(AuditEntry).where((AuditEntry.entity == entity) & (AuditEntry.entity_id == entity_id))
    if actor_id is not None:
        query = db.select(AuditEntry).where(
            ((AuditEntry.entity == entity) & (AuditEntry.entity_id == entity_id)) | (AuditEntry.actor_id == actor_id))
    return [_row(e, ["at", "entity", "entity_id", "action", "changes", "reason"])
            for e in db.session.scalars(query.order_by(AuditEntry.at, AuditEntry.id))]


def export_passenger(passenger_id: int) -> dict[str, Any]:
    person = db.session.get(Passenger, passenger_id)
    if person is None:
        raise PrivacyError("Passager inconnu.")
    requests = db.session.scalars(db.select(TripRequest).where(TripRequest.passenger_id == person.id)
                                  .order_by(TripRequest.created_at)).all()
    bookings = db.session.scalars(db.select(Booking).where(Booking.request_id.in_([r.id for r in requests]))
                                  .order_by(Booking.created_at)).all() if requests else []
    return {
        "kind": "passenger",
        "exported_at": utcnow().isoformat(),
        "person": _row(person, ["id", "first_name", "last_name", "phone", "phone_is_mobile", "home_insee",
                                "has_no_car", "sms_consent_at", "call_consent_at", "prefers_calls", "needs", "notes",
                                "created_at", "anonymised_at"]),
        "requests": [_row(r, ["id", "origin_insee", "origin_place", "origin_lat", "origin_lon",
                              "destination_insee", "destination_place", "destination_lat", "destination_lon",
                              "mode", "target_at", "flexibility_min", "reason", "status", "unmet_reason",
                              "notes", "created_at"]) for r in requests],
        "bookings": [{**_row(b, ["id", "request_id", "occurrence_date", "status", "pickup_at", "dropoff_at",
                                 "created_at"]),
                      "driver_first_name": b.offer.driver.user.first_name} for b in bookings],
        "sms": _sms_rows(person.phone),
        "audit": _audit_rows("passenger", person.id),
    }


def export_driver(driver_id: int) -> dict[str, Any]:
    driver = db.session.get(Driver, driver_id)
    if driver is None:
        raise PrivacyError("Conducteur inconnu.")
    user = driver.user
    offers = db.session.scalars(db.select(Offer).where(Offer.driver_id == driver.id).order_by(Offer.created_at)).all()
    bookings = db.session.scalars(db.select(Booking).where(Booking.offer_id.in_([o.id for o in offers]))
                                  .order_by(Booking.created_at)).all() if offers else []
    codes = db.session.scalars(db.select(PhoneCode).where(PhoneCode.phone == user.phone)).all() if user.phone else []
    return {
        "kind": "driver",
        "exported_at": utcnow().isoformat(),
        "person": {**_row(user, ["id", "first_name", "last_name", "phone", "phone_verified_at", "email",
                                 "created_at", "last_login_at", "anonymised_at"]),
                   **_row(driver, ["home_insee", "consent_contact", "consent_at", "notes"])},
        "offers": [_row(o, ["id", "kind", "status", "departure_at", "local_time", "weekdays", "first_date",
                            "last_date", "origin_insee", "origin_place", "destination_insee",
                            "destination_place", "seats", "max_detour_min", "remark", "created_at"])
                   for o in offers],
        "bookings": [{**_row(b, ["id", "offer_id", "occurrence_date", "status", "pickup_at", "created_at"]),
                      "passenger_first_name": b.request.passenger.first_name} for b in bookings],
        "login_codes": [_row(c, ["purpose", "created_at", "used_at"]) for c in codes],
        "sms": _sms_rows(user.phone),
        "audit": _audit_rows("user", user.id, actor_id=user.id),
    }


def _scrub_audit(entity: str, entity_id: int, actor_id: int | None = None) -> None:
    query = db.select(AuditEntry).where((AuditEntry.entity == entity) & (AuditEntry.entity_id == entity_id))
    if actor_id is not None:
        query = db.select(AuditEntry).where(
            ((AuditEntry.entity == entity) & (AuditEntry.entity_id == entity_id)) | (AuditEntry.actor_id == actor_id))
    for entry in db.session.scalars(query):
        if entry.changes:
            entry.changes = {k: ("[supprimé]" if k in _SCRUB_KEYS else v) for k, v in entry.changes.items()}


def _scrub_sms(phone: str | None, placeholder: str) -> None:
    if not phone:
        return
    from lotocar.notifications.models import SmsInbound, SmsMessage, SmsStatus

    for message in db.session.scalars(db.select(SmsMessage).where(SmsMessage.to_phone == phone)):
        if message.status == SmsStatus.PENDING:
            message.status = SmsStatus.CANCELLED
            message.last_error = "Données effacées (RGPD)"
        message.to_phone = placeholder
        message.body = "[supprimé]"
        message.recipient_name = None
    for inbound in db.session.scalars(db.select(SmsInbound).where(SmsInbound.from_phone == phone)):
        inbound.from_phone = placeholder
        inbound.body = "[supprimé]"


def _scrub_request(request: TripRequest) -> None:
    request.notes = None
    request.origin_place = request.destination_place = None
    request.origin_lat = request.origin_lon = None
    request.destination_lat = request.destination_lon = None
    request.set_place("origin", request.origin)
    request.set_place("destination", request.destination)


def anonymise_passenger(passenger_id: int, actor_id: int | None, reason: str) -> Passenger:
    person = db.session.get(Passenger, passenger_id)
    if person is None:
        raise PrivacyError("Passager inconnu.")
    if person.anonymised_at is not None:
        return person
    from lotocar.bookings import operations as bookings
    from lotocar.requests.models import RequestStatus

    for request in db.session.scalars(db.select(TripRequest).where(TripRequest.passenger_id == person.id)):
        live = bookings.live_booking(request.id)
        if live is not None:
            bookings.transition(live.id, "cancel_by_passenger", actor_id, "Données effacées (RGPD)")
        elif request.status in (RequestStatus.OPEN, RequestStatus.UNMET):
            request.status = RequestStatus.CANCELLED
        _scrub_request(request)
    placeholder = f"anon-p{person.id}"
    _scrub_sms(person.phone, placeholder)
    _scrub_audit("passenger", person.id)
    person.first_name, person.last_name = ANON, ""
    person.phone = placeholder
    person.needs = person.notes = None
    person.sms_consent_at = None
    person.sms_consent_by_id = None
    person.call_consent_at = None
    person.call_consent_by_id = None
    person.prefers_calls = False
    person.anonymised_at = utcnow()
    audit.record(actor_id, "passenger", person.id, "anonymised", reason=reason)
    db.session.commit()
    return person


def anonymise_driver(driver_id: int, actor_id: int | None, reason: str) -> Driver:
    driver = db.session.get(Driver, driver_id)
    if driver is None:
        raise PrivacyError("Conducteur inconnu.")
    user = driver.user
    if user.anonymised_at is not None:
        return driver
    from lotocar.offers import operations as offer_ops

    for offer in db.session.scalars(db.select(Offer).where(Offer.driver_id == driver.id)):
        if offer.status != OfferStatus.CANCELLED:
            offer_ops.change_status(offer, "cancel", actor_id, "Données effacées (RGPD)")
        offer.remark = None
        offer.origin_place = offer.destination_place = None
        offer.origin_lat = offer.origin_lon = offer.destination_lat = offer.destination_lon = None
        offer.set_place("origin", offer.origin)
        offer.set_place("destination", offer.destination)
    placeholder = f"anon-d{driver.id}"
    _scrub_sms(user.phone, placeholder)
    if user.phone:
        db.session.execute(db.delete(PhoneCode).where(PhoneCode.phone == user.phone))
    _scrub_audit("user", user.id, actor_id=user.id)
    for token in db.session.scalars(db.select(ApiToken).where(ApiToken.user_id == user.id)):
        token.revoked_at = token.revoked_at or utcnow()
    user.first_name, user.last_name = ANON, ""
    user.phone = None
    user.email = None
    user.password_hash = None
    user.active = False
    user.anonymised_at = utcnow()
    driver.notes = None
    driver.consent_contact = False
    audit.record(actor_id, "user", user.id, "anonymised", reason=reason)
    db.session.commit()
    return driver


def purge_inactive(now: datetime | None = None, months: int = RETENTION_MONTHS,
                   dry_run: bool = False) -> dict[str, list[int]]:
    """Anonymise passengers and drivers with no activity for `months` (default 24)."""
    now = now or utcnow()
    cutoff = now - timedelta(days=round(months * 30.44))
    # passengers: last activity = registration, last request, last booking change
    last_request = (db.select(TripRequest.passenger_id, db.func.max(TripRequest.target_at).label("at"))
                    .group_by(TripRequest.passenger_id).subquery())
    last_booking = (db.select(TripRequest.passenger_id, db.func.max(Booking.updated_at).label("at"))
                    .join(Booking, Booking.request_id == TripRequest.id)
                    .group_by(TripRequest.passenger_id).subquery())
    passengers = db.session.execute(
        db.select(Passenger.id, Passenger.created_at, last_request.c.at, last_booking.c.at)
        .outerjoin(last_request, last_request.c.passenger_id == Passenger.id)
        .outerjoin(last_booking, last_booking.c.passenger_id == Passenger.id)
        .where(Passenger.anonymised_at.is_(None))
    ).all()
    from lotocar.core.types import UTCDateTime  # noqa: F401  (values normalised below)

    def latest(*values):
        aware = [v if v.tzinfo else v.replace(tzinfo=now.tzinfo) for v in values if v is not None]
        return max(aware) if aware else None

    stale_passengers = [pid for pid, created, req_at, book_at in passengers
                        if (latest(created, req_at, book_at) or now) < cutoff]
    last_offer = (db.select(Offer.driver_id, db.func.max(Offer.updated_at).label("at"),
                            db.func.max(Offer.last_date).label("until"))
                  .group_by(Offer.driver_id).subquery())
    drivers = db.session.execute(
        db.select(Driver.id, User.created_at, User.last_login_at, last_offer.c.at, last_offer.c.until)
        .join(User, User.id == Driver.user_id)
        .outerjoin(last_offer, last_offer.c.driver_id == Driver.id)
        .where(User.anonymised_at.is_(None), User.role == Role.DRIVER)
    ).all()
    stale_drivers = []
    for did, created, login, offer_at, until in drivers:
        last = latest(created, login, offer_at)
        if until is not None and until >= cutoff.date():
            continue
        if (last or now) < cutoff:
            stale_drivers.append(did)
    if not dry_run:
        reason = f"Inactif depuis plus de {months} mois (durée de conservation)"
        for pid in stale_passengers:
            anonymise_passenger(pid, None, reason)
        for did in stale_drivers:
            anonymise_driver(did, None, reason)
        db.session.execute(db.delete(PhoneCode).where(PhoneCode.created_at < now - timedelta(days=1)))
        db.session.commit()
    return {"passengers": stale_passengers, "drivers": stale_drivers}


def record_export(kind: str, person_id: int, actor_id: int | None) -> None:
    entity = "passenger" if kind == "passenger" else "driver"
    audit.record(actor_id, entity, person_id, "personal_data_exported")
    db.session.commit()
