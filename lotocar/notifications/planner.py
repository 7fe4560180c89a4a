"""Which SMS a booking event causes, and when (reminders, quiet hours, trip changes).

`on_booking_changed` runs inside the booking's transaction (see lotocar.bookings.signals):
it only adds rows to the session. `on_offer_saved` runs after a trip change was committed
and commits its own transaction.

Who gets what: passengers on their channel (`calls.passenger_channel`: an SMS on a mobile
with SMS consent, an automatic voice call on a landline — or for whoever asked for calls —
with call consent); those with neither are put on the operator's call list; drivers who
agreed to be contacted get SMS. Opt-outs (STOP) are enforced at send time (outbox.deliver).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone

from flask import current_app

from lotocar.bookings.models import LIVE, Booking, BookingStatus
from lotocar.bookings.operations import flag_request
from lotocar.core.timeutil import format_time_fr, local_to_utc, to_local, utcnow
from lotocar.extensions import db
from lotocar.notifications import calls, links, speech
from lotocar.notifications.gateway import gateway
from lotocar.notifications.models import Channel, SmsMessage, SmsStatus
from lotocar.notifications.outbox import Draft, enqueue, prepare, replace_pending, withdraw
from lotocar.notifications.texts import TripFacts, day_fr, render

log = logging.getLogger("lotocar.sms")
B = BookingStatus
CANCELLED = frozenset({B.CANCELLED_BY_DRIVER, B.CANCELLED_BY_OPERATOR, B.CANCELLED_BY_PASSENGER})
INFORMED = (SmsStatus.SENDING, SmsStatus.UNKNOWN, SmsStatus.SENT, SmsStatus.DELIVERED)
REMINDERS = frozenset({"reminder_eve", "reminder_soon"})


@dataclass(frozen=True)
class Contact:
    role: str  # driver | passenger
    phone: str
    first_name: str
    user_id: int | None = None
    channel: Channel = Channel.SMS


# --- channel choice (issue #17) ------------------------------------------------------------

def passenger_contact(booking: Booking) -> Contact | None:
    p = booking.request.passenger
    channel = calls.passenger_channel(p)
    if channel is None:
        return None
    return Contact("passenger", p.phone, p.first_name, channel=channel)


def _words(template: str, contact: Contact, trip: TripFacts) -> str:
    """The text in the contact's channel: an SMS, or words written for the ear (a call)."""
    if contact.channel == Channel.VOICE:
        return speech.message(template, passenger=trip.passenger_first, driver=trip.driver_first,
                              commune=trip.commune, place=trip.place, destination=trip.destination,
                              pickup_local=trip.pickup_local, old_pickup_local=trip.old_pickup_local)
    return render(template, contact.role, trip)


def _flag_no_channel(booking: Booking, what: str, why: str = "ni SMS ni appel automatique possible") -> None:
    """Neither SMS nor call possible for the passenger: the operator's call list."""
    p = booking.request.passenger
    flag_request(booking.request, "call_needed", f"{what} à annoncer à {p.first_name} par téléphone ({why})")


def _too_late_to_call(draft: Draft, now: datetime) -> bool:
    """A call that would only be placed after the pickup (call hours) is not queued."""
    return draft.channel == Channel.VOICE and prepare(draft, now) is None
# ---------------------------------------------------------------------------------------------


def driver_contact(booking: Booking) -> Contact | None:
    driver = booking.offer.driver
    user = driver.user
    if not user.phone or not driver.consent_contact:
        return None
    return Contact("driver", user.phone, user.first_name, user.id)


def occurrence_departure(booking: Booking) -> datetime | None:
    """The trip's departure on the booking's day (UTC), None if it no longer runs."""
    from lotocar.offers.models import OfferStatus
    from lotocar.offers.operations import occurrences

    offer = booking.offer
    if offer.status != OfferStatus.ACTIVE:
        return None
    runs = occurrences(offer, booking.occurrence_date, booking.occurrence_date)
    return runs[0].astimezone(timezone.utc) if runs else None


def _last_reference(booking_id: int) -> SmsMessage | None:
    return db.session.scalar(
        db.select(SmsMessage).where(SmsMessage.booking_id == booking_id, SmsMessage.departure_at.is_not(None),
                                    SmsMessage.event_at.is_not(None))
        .order_by(SmsMessage.planned_at.desc().nulls_last(), SmsMessage.id.desc()).limit(1))


def effective_pickup(booking: Booking, departure: datetime | None = None) -> datetime | None:
    """The pickup instant to announce: the booking's, moved by as much as the driver moved the
    trip since the last SMS about it."""
    departure = departure or occurrence_departure(booking)
    ref = _last_reference(booking.id)
    if ref is not None and departure is not None:
        return ref.event_at + (departure - ref.departure_at)
    return booking.pickup_at or departure


def facts(booking: Booking, pickup: datetime, link: str = "",
          old_pickup: datetime | None = None) -> TripFacts:
    request = booking.request
    return TripFacts(
        passenger_first=request.passenger.first_name, driver_first=booking.offer.driver.user.first_name,
        commune=request.origin.name, place=request.origin_place, destination=request.destination.name,
        pickup_local=to_local(pickup), operator=current_app.config["OPERATOR_PHONE"], link=link,
        old_pickup_local=to_local(old_pickup) if old_pickup else None,
    )


def is_urgent(pickup: datetime, now: datetime) -> bool:
    hours = int(current_app.config.get("SMS_URGENT_WITHIN_HOURS", 12))
    return pickup - now <= timedelta(hours=hours)


def _hhmm(raw: str) -> time:
    h, m = raw.strip().split(":")
    return time(int(h), int(m))


def reminder_times(pickup: datetime) -> dict[str, datetime]:
    """When each reminder is due (UTC): the evening before at SMS_REMINDER_EVE_AT local time
    and SMS_REMINDER_BEFORE_MIN minutes before pickup — local wall-clock, across DST."""
    cfg = current_app.config
    local_day = to_local(pickup).date()
    eve = local_to_utc(local_day - timedelta(days=1), _hhmm(cfg.get("SMS_REMINDER_EVE_AT", "18:00")))
    soon = pickup - timedelta(minutes=int(cfg.get("SMS_REMINDER_BEFORE_MIN", 60)))
    return {"reminder_eve": eve, "reminder_soon": soon}


def _draft(booking: Booking, kind: str, contact: Contact, body: str, *, pickup: datetime,
           departure: datetime | None, now: datetime, key: str | None = None,
           send_after: datetime | None = None, expires_at: datetime | None = None,
           urgent: bool | None = None) -> Draft:
    return Draft(
        kind=kind, to_phone=contact.phone, body=body,
        key=key or f"b{booking.id}:{kind}:{contact.role}", recipient=contact.role,
        recipient_name=contact.first_name, booking_id=booking.id, send_after=send_after,
        expires_at=expires_at if expires_at is not None else pickup,
        urgent=is_urgent(pickup, now) if urgent is None else urgent,
        event_at=pickup, departure_at=departure, channel=contact.channel,
    )


def reminder_drafts(booking: Booking, pickup: datetime, departure: datetime | None,
                    contacts: list[Contact], now: datetime) -> list[Draft]:
    trip = facts(booking, pickup)
    drafts = []
    for kind, due in reminder_times(pickup).items():
        if due <= now:
            continue  # the confirmation, sent now, says it all
        for contact in contacts:
            # a reminder is never urgent: held during quiet hours, dropped if only too late
            drafts.append(_draft(booking, kind, contact, _words(kind, contact, trip), pickup=pickup,
                                 departure=departure, now=now, send_after=due,
                                 expires_at=pickup - timedelta(minutes=10), urgent=False))
    return drafts


def _contacts(booking: Booking) -> list[Contact]:
    return [c for c in (passenger_contact(booking), driver_contact(booking)) if c is not None]


def on_booking_changed(sender, booking: Booking, old: BookingStatus | None, new: BookingStatus,
                       actor_id: int | None = None, reason: str | None = None, **_: object) -> None:
    """Queue the SMS of a booking change, in the booking's own transaction (no commit).

    A fault here is logged and never blocks the operator's action (which is on the phone)."""
    try:
        plan_booking_change(booking, old, new, actor_id, utcnow())
    except Exception:  # pragma: no cover - defensive
        log.exception("SMS for booking %s (%s → %s) could not be planned", booking.id, old, new)


def plan_booking_change(booking: Booking, old: BookingStatus | None, new: BookingStatus,
                        actor_id: int | None, now: datetime) -> None:
    departure = occurrence_departure(booking)
    pickup = effective_pickup(booking, departure)
    driver = driver_contact(booking)
    driver_acted = driver is not None and actor_id is not None and actor_id == driver.user_id

    if new == B.PROPOSED:
        if driver is None or pickup is None or pickup <= now:
            return
        token = links.create_link(booking.id, driver.user_id, now, until=pickup)
        link = links.public_url(f"/r/{token}")
        kind = "proposal_2way" if gateway().two_way else "proposal"
        body = render(kind, "driver", facts(booking, pickup, link=link))
        ttl = timedelta(hours=int(current_app.config.get("SMS_LINK_TTL_HOURS", 48)))
        enqueue(_draft(booking, "proposal", driver, body, pickup=pickup, departure=departure, now=now,
                       expires_at=min(pickup, now + ttl)), now)
        return

    if new in (B.ACCEPTED_BY_DRIVER, B.DECLINED):  # the driver answered: thank him, close the proposal
        withdraw(booking.id, "Retiré : le conducteur a déjà répondu", {"proposal"})
        kind = "accepted" if new == B.ACCEPTED_BY_DRIVER else "declined"
        if driver_acted and pickup is not None:
            enqueue(_draft(booking, kind, driver, render(kind, "driver", facts(booking, pickup)),
                           pickup=pickup, departure=departure, now=now), now)
        return

    if new == B.CONFIRMED:
        if pickup is None or pickup <= now:
            return
        contacts = _contacts(booking)
        trip = facts(booking, pickup)
        for contact in contacts:
            draft = _draft(booking, "confirmed", contact, _words("confirmed", contact, trip),
                           pickup=pickup, departure=departure, now=now)
            if enqueue(draft, now) is None and _too_late_to_call(draft, now):
                _flag_no_channel(booking, "Trajet confirmé", "trop tard pour un appel automatique")
        for draft in reminder_drafts(booking, pickup, departure, contacts, now):
            enqueue(draft, now)
        if passenger_contact(booking) is None:
            _flag_no_channel(booking, "Trajet confirmé")
        return

    if new in CANCELLED:
        informed = set(db.session.scalars(
            db.select(SmsMessage.recipient).where(SmsMessage.booking_id == booking.id,
                                                  SmsMessage.status.in_(INFORMED))))
        withdraw(booking.id, "Retiré : réservation annulée")
        if pickup is None or pickup <= now:
            return
        trip = facts(booking, pickup)
        # she pressed 2 during an automatic call: the call itself told her (issue #17)
        in_call = calls.cancelled_during_call(booking.id) if new == B.CANCELLED_BY_PASSENGER else None
        for contact in _contacts(booking):
            if contact.role not in informed or (contact.role == "driver" and driver_acted):
                continue
            if in_call is not None and contact.role == "passenger":
                continue
            template = "cancelled_by_driver" if (contact.role == "passenger" and new == B.CANCELLED_BY_DRIVER) \
                else "cancelled"
            enqueue(_draft(booking, "cancelled", contact, _words(template, contact, trip),
                           pickup=pickup, departure=departure, now=now), now)
        if in_call is not None:
            calls.flag_cancelled_in_call(booking, in_call, driver_told="driver" in informed)
        elif "passenger" in informed and passenger_contact(booking) is None:
            _flag_no_channel(booking, "Annulation")
        return

    # done, no-show: nothing left to say
    withdraw(booking.id, "Retiré : trajet terminé")


# --- trip changes ----------------------------------------------------------------------

def on_offer_saved(sender, offer, **_: object) -> None:
    try:
        plan_offer_change(offer.id, utcnow())
    except Exception:  # pragma: no cover - defensive
        db.session.rollback()
        log.exception("SMS after the change of trip %s could not be planned", getattr(offer, "id", "?"))


def plan_offer_change(offer_id: int, now: datetime) -> None:
    """A driver changed, paused or cancelled a trip: fix what its live bookings announced."""
    from lotocar.bookings.operations import flag_request

    today = to_local(now).date()
    bookings = db.session.scalars(
        db.select(Booking).where(Booking.offer_id == offer_id, Booking.status.in_(LIVE),
                                 Booking.occurrence_date >= today)).all()
    for booking in bookings:
        ref = _last_reference(booking.id)
        if ref is None:
            continue  # nothing was announced yet
        departure = occurrence_departure(booking)
        if departure is None:
            # the trip no longer runs that day: its reminders would be wrong. The matching
            # reactions (lotocar.candidates.reactions) cancel such bookings, which sends the
            # cancellation SMS through on_booking_changed.
            withdraw(booking.id, "Retiré : trajet du conducteur suspendu ou annulé", set(REMINDERS))
            continue
        if abs((departure - ref.departure_at).total_seconds()) < 60:
            continue
        old_pickup = ref.event_at
        pickup = ref.event_at + (departure - ref.departure_at)
        contacts = _contacts(booking)
        told = False
        if booking.status == B.CONFIRMED and pickup > now:
            passenger = passenger_contact(booking)
            trip = facts(booking, pickup, old_pickup=old_pickup)
            if passenger is not None:
                told = enqueue(_draft(
                    booking, "changed", passenger, _words("changed", passenger, trip), pickup=pickup,
                    departure=departure, now=now,
                    key=f"b{booking.id}:changed:{pickup:%Y%m%d%H%M}:passenger"), now) is not None
            for contact in contacts:
                replace_pending(f"b{booking.id}:confirmed:{contact.role}", _draft(
                    booking, "confirmed", contact, _words("confirmed", contact, trip), pickup=pickup,
                    departure=departure, now=now), now)
            wanted = {d.key: d for d in reminder_drafts(booking, pickup, departure, contacts, now)}
            for kind in REMINDERS:
                for contact in contacts:
                    key = f"b{booking.id}:{kind}:{contact.role}"
                    if key in wanted:
                        replace_pending(key, wanted[key], now)
                    else:
                        withdraw(booking.id, "Retiré : horaire modifié, trop tard", {kind}, contact.role)
        local = to_local(pickup)
        by_call = told and passenger is not None and passenger.channel == Channel.VOICE
        # a confirmed passenger nobody could tell automatically: the operator's call list
        untold = booking.status == B.CONFIRMED and pickup > now and not told
        flag_request(booking.request, "call_needed" if untold else "trip_changed",
                     f"Horaire du trajet modifié : prise en charge {day_fr(local)} à {format_time_fr(local)} "
                     f"(au lieu de {format_time_fr(to_local(old_pickup))})"
                     + ((" ; passager prévenu par appel automatique." if by_call else " ; passager prévenu par SMS.")
                        if told else " : prévenir le passager par téléphone." if untold else "."))
    db.session.commit()
