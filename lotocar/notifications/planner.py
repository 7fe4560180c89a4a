"""Which SMS a booking event causes, and when (reminders, quiet hours, trip changes).

Every handler here runs inside the transaction of the change (see lotocar.bookings.signals)
and only adds rows to the session: `on_booking_changed` for a status change,
`on_promise_changed` when a booking's pickup or drop-off (place or time) changed — a trip
moved in time or space, its route changed, a passenger was added to the run. A trip change
reaches this module only through those two (its reconciliation, in lotocar.candidates,
cancels or moves the bookings).

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

from lotocar.bookings import operations as bookings
from lotocar.bookings.models import Booking, BookingStatus
from lotocar.bookings.operations import Promise, flag_request
from lotocar.contributions import operations as contributions
from lotocar.core.timeutil import format_time_fr, local_to_utc, to_local, utcnow
from lotocar.extensions import db
from lotocar.notifications import calls, links, speech
from lotocar.notifications.gateway import gateway
from lotocar.notifications.models import Channel, SmsMessage, SmsStatus
from lotocar.notifications.outbox import Draft, enqueue, prepare, replace_pending, withdraw
from lotocar.notifications.texts import TripFacts, day_fr, render
from lotocar.offers.models import OfferStatus
from lotocar.offers.operations import occurrences

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
    offer = booking.offer
    if offer.status != OfferStatus.ACTIVE:
        return None
    runs = occurrences(offer, booking.occurrence_date, booking.occurrence_date)
    return runs[0].astimezone(timezone.utc) if runs else None


def effective_pickup(booking: Booking, departure: datetime | None = None) -> datetime | None:
    """The pickup instant to announce: the booking's own (kept in step with the trip by the
    reconciliation of every trip change), else the trip's departure."""
    return booking.pickup_at or departure or occurrence_departure(booking)


def facts(booking: Booking, pickup: datetime, link: str = "",
          old_pickup: datetime | None = None) -> TripFacts:
    request = booking.request
    return TripFacts(
        passenger_first=request.passenger.first_name, driver_first=booking.offer.driver.user.first_name,
        commune=request.origin.name, place=request.origin_place, destination=request.destination.name,
        pickup_local=to_local(pickup), operator=current_app.config["OPERATOR_PHONE"], link=link,
        old_pickup_local=to_local(old_pickup) if old_pickup else None,
        contribution=contributions.sms_phrase(contributions.for_booking(booking)),
        stops=tuple((to_local(s.at), s.kind, s.first_name, s.commune)
                    for s in bookings.run_stops(booking.offer_id, booking.occurrence_date)),
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


def _informed(booking: Booking, status: BookingStatus | None) -> set[str]:
    """The roles ("driver", "passenger") who know of this booking: a message about it reached
    them, or (the driver) they answered yes — by phone too, before his proposal SMS left."""
    known = set(db.session.scalars(
        db.select(SmsMessage.recipient).where(SmsMessage.booking_id == booking.id,
                                              SmsMessage.status.in_(INFORMED))))
    if status in (B.ACCEPTED_BY_DRIVER, B.CONFIRMED):
        known.add("driver")
    return known


def _cancel_contacts(booking: Booking, informed: set[str], driver_acted: bool, in_call: bool) -> list[Contact]:
    """Whom a cancellation is announced to: those a message already reached (nobody is told of
    a ride they never heard of), except the driver who cancelled himself and the passenger who
    cancelled during an automatic call."""
    return [c for c in _contacts(booking) if c.role in informed
            and not (c.role == "driver" and driver_acted) and not (c.role == "passenger" and in_call)]


@dataclass(frozen=True)
class Told:
    """Someone a status change will reach: how ("sms", "voice") or "call" (nobody will tell
    them automatically: the operator phones)."""

    role: str  # driver | passenger
    name: str
    how: str


def told_of_change(booking: Booking, new: BookingStatus, actor_id: int | None, now: datetime) -> list[Told]:
    """Who `plan_booking_change` will tell of this change, and how — the same rules, nothing
    queued: the console says it before the operator confirms an action. Whoever knows of the
    ride but will not be told automatically is listed with how="call"."""
    request = booking.request
    p, user = request.passenger, booking.offer.driver.user
    names = {"passenger": f"{p.first_name} {p.last_name}".strip(),
             "driver": f"{user.first_name} {user.last_name}".strip()}
    pickup = effective_pickup(booking)
    driver = driver_contact(booking)
    passenger = passenger_contact(booking)
    driver_acted = driver is not None and actor_id is not None and actor_id == driver.user_id
    if pickup is None or pickup <= now:
        return []
    told: list[Told] = []
    if new == B.CONFIRMED:
        for contact in _contacts(booking):
            draft = _draft(booking, "confirmed", contact, "…", pickup=pickup, departure=None, now=now)
            told.append(Told(contact.role, names[contact.role],
                             "call" if _too_late_to_call(draft, now) else contact.channel.value))
        if passenger is None:
            told.insert(0, Told("passenger", names["passenger"], "call"))
        return told
    if new in CANCELLED:
        informed = _informed(booking, booking.status)
        for contact in _cancel_contacts(booking, informed, driver_acted, False):
            told.append(Told(contact.role, names[contact.role], contact.channel.value))
        told_roles = {t.role for t in told}
        if passenger is None and "passenger" not in told_roles and (
                "passenger" in informed or (booking.status == B.CONFIRMED and new != B.CANCELLED_BY_PASSENGER)):
            told.insert(0, Told("passenger", names["passenger"], "call"))
        if driver is None and new != B.CANCELLED_BY_DRIVER:  # he was asked by phone: phone him again
            told.append(Told("driver", names["driver"], "call"))
        return told
    return []  # answers recorded by the operator, done, no-show: no message


def on_booking_changed(sender, booking: Booking, old: BookingStatus | None, new: BookingStatus,
                       actor_id: int | None = None, reason: str | None = None, **_: object) -> None:
    """Queue the SMS of a booking change, in the booking's own transaction (no commit): the
    change and its messages are saved together or not at all."""
    plan_booking_change(booking, old, new, actor_id, utcnow())


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
        informed = _informed(booking, old)
        withdraw(booking.id, "Retiré : réservation annulée")
        if pickup is None or pickup <= now:
            return
        trip = facts(booking, pickup)
        # she pressed 2 during an automatic call: the call itself told her (issue #17)
        in_call = calls.cancelled_during_call(booking.id) if new == B.CANCELLED_BY_PASSENGER else None
        for contact in _cancel_contacts(booking, informed, driver_acted, in_call is not None):
            template = "cancelled_by_driver" if (contact.role == "passenger" and new == B.CANCELLED_BY_DRIVER) \
                else "cancelled"
            enqueue(_draft(booking, "cancelled", contact, _words(template, contact, trip),
                           pickup=pickup, departure=departure, now=now), now)
        if in_call is not None:
            calls.flag_cancelled_in_call(booking, in_call, driver_told="driver" in informed)
        elif passenger_contact(booking) is None and (
                "passenger" in informed or (old == B.CONFIRMED and new != B.CANCELLED_BY_PASSENGER)):
            # told before (or confirmed to her by phone): someone must phone her now
            _flag_no_channel(booking, "Annulation")
        return

    # done, no-show: nothing left to say
    withdraw(booking.id, "Retiré : trajet terminé")


# --- promise changes --------------------------------------------------------------------

def on_promise_changed(sender, booking: Booking, old: Promise, new: Promise, cause: str = "",
                       **_: object) -> None:
    plan_promise_change(booking, old, new, cause, utcnow())


def changed_key(booking: Booking, role: str) -> str:
    """Versioned: every change is announced, even a change back to an earlier time."""
    return f"b{booking.id}:changed:v{booking.promise_version}:{role}"


def plan_promise_change(booking: Booking, old: Promise, new: Promise, cause: str, now: datetime) -> None:
    """Tell whoever was told the old promise, rewrite what is still to be sent (confirmation,
    reminders), and put the request in front of the operator (a landline passenger, or one
    without SMS consent, is phoned: the flag says so)."""
    pickup = new.pickup_at
    if pickup is None:
        return
    departure = occurrence_departure(booking)
    old_pickup = old.pickup_at
    trip = facts(booking, pickup, old_pickup=old_pickup)
    passenger = passenger_contact(booking)
    driver = driver_contact(booking)
    told_passenger = False
    future = pickup > now
    if booking.status == B.CONFIRMED and future:
        if passenger is not None:
            told_passenger = enqueue(_draft(
                booking, "changed", passenger, _words("changed", passenger, trip), pickup=pickup,
                departure=departure, now=now, key=changed_key(booking, "passenger")), now) is not None
    if driver is not None and future:
        # the driver's proposal, thanks or confirmation stated the old time
        enqueue(_draft(booking, "changed", driver, render("changed", "driver", trip), pickup=pickup,
                       departure=departure, now=now, key=changed_key(booking, "driver")), now)
    contacts = _contacts(booking)
    if booking.status == B.CONFIRMED:
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
    if booking.status == B.PROPOSED:
        return  # nobody told the passenger anything yet: the confirmation will say the truth
    local = to_local(pickup)
    was = f" (au lieu de {format_time_fr(to_local(old_pickup))})" if old_pickup else ""
    if booking.status == B.CONFIRMED and not told_passenger:
        # a confirmed passenger nobody could tell automatically: the operator's call list
        flag_request(booking.request, "call_needed",
                     f"{cause} Nouvelle prise en charge {day_fr(local)} à {format_time_fr(local)}{was} : "
                     "prévenir le passager par téléphone (ni SMS ni appel automatique).")
    else:
        by_call = told_passenger and passenger is not None and passenger.channel == Channel.VOICE
        told = " ; passager prévenu par appel automatique." if by_call else " ; passager prévenu par SMS."
        flag_request(booking.request, "trip_changed",
                     f"{cause} Prise en charge {day_fr(local)} à {format_time_fr(local)}{was}"
                     + (told if told_passenger else "."))

