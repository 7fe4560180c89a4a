"""What a driver's trip change does to booked passengers, said before it is done, and the
change itself — shared by the driver's pages (`offers.views`) and the operator acting on his
behalf (`console.driver_trips`).

Pausing, cancelling a trip or cancelling one date of it is a two-step action that works
without JavaScript: the first POST (or a GET) shows a confirmation page listing the booked
passengers (first name, date, pickup) and what each will be told; only the second POST,
with `confirm=1`, changes the trip — through the offers operations, so the usual reactions
cancel the bookings, tell the passengers and put their requests back in the queue.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from lotocar.bookings.models import LIVE, Booking, BookingStatus
from lotocar.core import clock
from lotocar.core.timeutil import MONTH_NAMES_FR, WEEKDAY_NAMES_FR, to_local
from lotocar.extensions import db
from lotocar.notifications.models import Channel, SmsMessage
from lotocar.notifications.planner import INFORMED, passenger_contact
from lotocar.offers import operations as ops
from lotocar.offers.models import Offer

# actions that take a confirmation step, and those done at once
CONFIRMED_ACTIONS = frozenset({"pause", "cancel", "skip"})
ACTIONS = CONFIRMED_ACTIONS | {"resume", "restore"}

TITLES = {
    "pause": "Mettre le trajet en pause",
    "cancel": "Annuler le trajet",
    "skip": "Annuler ce jour-là",
}
BUTTONS = {
    "pause": "Oui, mettre en pause",
    "cancel": "Oui, annuler le trajet",
    "skip": "Oui, annuler ce jour-là",
}
DONE = {
    "pause": "Trajet mis en pause.",
    "resume": "Trajet repris.",
    "cancel": "Trajet annulé.",
    "skip": "Départ du {day} annulé.",
    "restore": "Départ du {day} rétabli.",
}


def day_words(day: date) -> str:
    """'mardi 8 décembre' (the next weeks: no year)."""
    return f"{WEEKDAY_NAMES_FR[day.weekday()]} {day.day} {MONTH_NAMES_FR[day.month - 1]}"


def parse_day(raw: str | None) -> date | None:
    try:
        return date.fromisoformat((raw or "").strip())
    except ValueError:
        return None


@dataclass(frozen=True)
class Affected:
    """A booked passenger the change will drop, and what she will be told."""

    booking: Booking
    first_name: str
    day: date
    pickup_at: datetime | None
    where: str
    message: str


def _told(booking: Booking, first: str, day: date, driver_first: str, by_operator: bool) -> str:
    who = f"{driver_first} ne peut" if by_operator else "vous ne pouvez"
    when = day_words(day)
    informed = booking.status == BookingStatus.CONFIRMED and db.session.scalar(
        db.select(SmsMessage.id).where(SmsMessage.booking_id == booking.id, SmsMessage.recipient == "passenger",
                                       SmsMessage.status.in_(INFORMED)).limit(1)) is not None
    if not informed:
        return (f"{first} n'avait pas encore reçu de confirmation : sa demande du {when} retourne à "
                "l'équipe, qui lui cherche un autre conducteur.")
    contact = passenger_contact(booking)
    if contact is None:
        return (f"{first} n'a ni SMS ni appel automatique : l'équipe l'appellera pour lui dire que "
                f"{who} plus l'emmener le {when}, et lui cherchera une autre solution.")
    how = "recevra un appel automatique" if contact.channel == Channel.VOICE else "sera prévenu·e par SMS"
    return f"{first} {how} que {who} plus l'emmener le {when} ; l'équipe lui cherche une autre solution."


def affected(offer: Offer, day: date | None = None, by_operator: bool = False) -> list[Affected]:
    """The live bookings the change drops: every one to come (pause, cancel) or those of
    `day` (one date cancelled) — the rides already under way stay, as the reactions keep them."""
    today, now = clock.today_local(), clock.now_utc()
    stmt = (db.select(Booking).where(Booking.offer_id == offer.id, Booking.status.in_(LIVE),
                                     Booking.occurrence_date >= today)
            .order_by(Booking.occurrence_date, Booking.pickup_at, Booking.id))
    if day is not None:
        stmt = stmt.where(Booking.occurrence_date == day)
    driver_first = offer.driver.user.first_name
    out = []
    for booking in db.session.scalars(stmt):
        if booking.pickup_at is not None and booking.pickup_at <= now:
            continue
        request = booking.request
        first = request.passenger.first_name
        where = request.origin.display_name + (f" ({request.origin_place})" if request.origin_place else "")
        out.append(Affected(booking, first, booking.occurrence_date,
                            to_local(booking.pickup_at) if booking.pickup_at else None, where,
                            _told(booking, first, booking.occurrence_date, driver_first, by_operator)))
    return out


def check(offer: Offer, action: str, day: date | None) -> None:
    """Raise `ops.OfferStateError` (French) when the action cannot be done now."""
    if action in ("skip", "restore"):
        ops.check_skip_day(offer, day, restore=action == "restore")
    elif action == "pause" and offer.status.value != "active":
        raise ops.OfferStateError("Seul un trajet actif peut être mis en pause.")
    elif action == "cancel" and offer.status.value == "cancelled":
        raise ops.OfferStateError("Ce trajet est déjà annulé.")


def act(offer: Offer, action: str, day: date | None, actor_id: int | None, reason: str | None = None) -> Offer:
    """The change itself (inside the edge's transaction)."""
    if action == "skip":
        return ops.skip_date(offer, day, actor_id, reason)
    if action == "restore":
        return ops.restore_date(offer, day, actor_id, reason)
    return ops.change_status(offer, action, actor_id, reason)


def done_message(action: str, day: date | None) -> str:
    return DONE[action].format(day=day_words(day) if day else "")
