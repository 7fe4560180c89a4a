"""Drivers who accept (and so read the passenger's phone), then withdraw.

Withdrawing stays possible (a volunteer is never forced to drive), but it is recorded in the
audit trail against the driver's account, shown to operators on the driver's page, and
limited: past DRIVER_WITHDRAW_MAX_30D withdrawals after acceptance in 30 days, the site no
longer takes the withdrawal and asks the driver to phone the team, which then cancels it.
Flush only: the caller commits with the booking change.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app

from lotocar.audit import operations as audit
from lotocar.audit.models import AuditEntry
from lotocar.bookings.models import Booking, BookingStatus
from lotocar.core.timeutil import utcnow
from lotocar.extensions import db

ACTION = "withdrew_after_accept"
WINDOW = timedelta(days=30)
# the statuses in which the driver has been shown the passenger's phone
CONTACT_SHOWN = frozenset({BookingStatus.ACCEPTED_BY_DRIVER, BookingStatus.CONFIRMED})


class WithdrawalRefused(ValueError):
    """Too many withdrawals after acceptance: the driver phones the team (French message)."""


@dataclass(frozen=True)
class Withdrawal:
    at: datetime
    booking_id: int | None
    status_before: str | None


def recent(user_id: int, now: datetime | None = None) -> list[Withdrawal]:
    since = (now or utcnow()) - WINDOW
    entries = db.session.scalars(
        db.select(AuditEntry).where(AuditEntry.entity == "user", AuditEntry.entity_id == user_id,
                                    AuditEntry.action == ACTION, AuditEntry.at >= since)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())).all()
    return [Withdrawal(e.at, (e.changes or {}).get("booking_id"), (e.changes or {}).get("status"))
            for e in entries]


def refusal(booking: Booking, user_id: int) -> str | None:
    """Why the site will not take this driver's withdrawal (French, for him), or None.
    Reads only: the confirmation page says it before he confirms."""
    if booking.status not in CONTACT_SHOWN:
        return None
    limit = int(current_app.config.get("DRIVER_WITHDRAW_MAX_30D", 3))
    if len(recent(user_id)) >= limit:
        return ("Vous vous êtes déjà retiré·e de plusieurs trajets acceptés ce mois-ci : pour annuler "
                f"celui-ci, appelez l'équipe au {current_app.config.get('OPERATOR_PHONE', '')}.")
    return None


def before_driver_withdraws(booking: Booking, user_id: int) -> None:
    """Call before a driver's own cancellation: records it when the phone was already shown,
    or refuses it past the limit."""
    why = refusal(booking, user_id)
    if why is not None:
        raise WithdrawalRefused(why)
    if booking.status not in CONTACT_SHOWN:
        return
    audit.record(user_id, "user", user_id, ACTION,
                 {"booking_id": booking.id, "status": booking.status.value})
