"""Personal data (RGPD): export everything held about one person, erase it on request, and
anonymise people inactive for a long time. Rides stay in the statistics, without identity.

Erasing keeps the rows that statistics count (requests, bookings, trips: communes, dates,
statuses) and removes what identifies a person: names, phone numbers, e-mail, notes, needs,
free-text places, precise points, SMS texts and numbers, audit details. A phone number that
opted out of SMS stays on the opt-out list: it is what lets us honour the opposition.

This module edits no feature's table itself: it finds the person and calls every feature's
hook (`lotocar.core.personal_data`; each feature's `personal_data` module), in one
transaction committed here.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from lotocar.audit import operations as audit
from lotocar.auth import personal_data as auth_data
from lotocar.auth.models import Role, User
from lotocar.bookings.models import Booking
from lotocar.core import personal_data
from lotocar.core.personal_data import ANON, Subject  # noqa: F401  (ANON: the name left behind)
from lotocar.core.timeutil import utcnow
from lotocar.drivers.models import Driver
from lotocar.extensions import db
from lotocar.offers.models import Offer
from lotocar.passengers.models import Passenger
from lotocar.requests.models import TripRequest

RETENTION_MONTHS = 24


class PrivacyError(ValueError):
    pass


def _passenger_subject(passenger_id: int, actor_id: int | None = None, reason: str = "") -> tuple[Passenger, Subject]:
    person = db.session.get(Passenger, passenger_id)
    if person is None:
        raise PrivacyError("Passager inconnu.")
    return person, Subject("passenger", person.id, None, person.phone, person.first_name, person.last_name,
                           f"anon-p{person.id}", actor_id, reason)


def _driver_subject(driver_id: int, actor_id: int | None = None, reason: str = "") -> tuple[Driver, Subject]:
    driver = db.session.get(Driver, driver_id)
    if driver is None:
        raise PrivacyError("Conducteur inconnu.")
    user = driver.user
    return driver, Subject("driver", driver.id, user.id, user.phone, user.first_name, user.last_name,
                           f"anon-d{driver.id}", actor_id, reason)


def _export(subject: Subject) -> dict[str, Any]:
    return {"kind": subject.kind, "exported_at": utcnow().isoformat(), **personal_data.export_all(subject)}


def export_passenger(passenger_id: int) -> dict[str, Any]:
    """Everything held about a passenger, each feature giving its own part."""
    return _export(_passenger_subject(passenger_id)[1])


def export_driver(driver_id: int) -> dict[str, Any]:
    return _export(_driver_subject(driver_id)[1])


def anonymise_passenger(passenger_id: int, actor_id: int | None, reason: str) -> Passenger:
    person, subject = _passenger_subject(passenger_id, actor_id, reason)
    if person.anonymised_at is not None:
        return person
    personal_data.erase_all(subject)
    audit.record(actor_id, "passenger", person.id, "anonymised", reason=reason)
    return person


def anonymise_driver(driver_id: int, actor_id: int | None, reason: str) -> Driver:
    driver, subject = _driver_subject(driver_id, actor_id, reason)
    if driver.user.anonymised_at is not None:
        return driver
    personal_data.erase_all(subject)
    audit.record(actor_id, "user", driver.user.id, "anonymised", reason=reason)
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
        auth_data.purge_codes(before=now - timedelta(days=1))
    return {"passengers": stale_passengers, "drivers": stale_drivers}


def record_export(kind: str, person_id: int, actor_id: int | None) -> None:
    entity = "passenger" if kind == "passenger" else "driver"
    audit.record(actor_id, entity, person_id, "personal_data_exported")
