"""Drivers' trips: create, change, pause, resume, cancel, and list their occurrences."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from matching import Offer as MatchOffer
from matching import Point, Recurrence

from flask import current_app

from lotocar.core import clock, counters, tx
from lotocar.audit import operations as audit
from lotocar.communes.models import Commune
from lotocar.core.timeutil import local_to_utc, to_local, utcnow
from lotocar.drivers.models import Driver
from lotocar.extensions import db
from lotocar.offers import limits
from lotocar.offers.models import Offer, OfferChange, OfferKind, OfferSkip, OfferStatus
from lotocar.offers.rules import OfferInput, PlaceInput, validate_offer
from lotocar.offers.signals import offer_saved


class OfferValidationError(ValueError):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class OfferStateError(ValueError):
    """An action that the trip's status does not allow (French message)."""


def place_input(commune: Commune | None, place: str | None, lat: float | None,
                lon: float | None) -> PlaceInput:
    return PlaceInput(
        insee=commune.insee if commune else None,
        commune_lat=commune.lat if commune else None,
        commune_lon=commune.lon if commune else None,
        place=place, lat=lat, lon=lon,
    )


def _apply(offer: Offer, data: OfferInput) -> None:
    origin = db.session.get(Commune, data.origin.insee)
    destination = db.session.get(Commune, data.destination.insee)
    offer.set_place("origin", origin, data.origin.place, data.origin.lat, data.origin.lon)
    offer.set_place("destination", destination, data.destination.place,
                    data.destination.lat, data.destination.lon)
    offer.origin, offer.destination = origin, destination
    offer.kind = OfferKind(data.kind)
    offer.seats = data.seats
    offer.max_detour_min = data.max_detour_min
    offer.remark = (data.remark or "").strip() or None
    if offer.kind == OfferKind.ONE_OFF:
        offer.departure_at = local_to_utc(data.departure_date, data.departure_time)
        offer.local_time = data.departure_time
        offer.weekdays = None
        offer.first_date = offer.last_date = data.departure_date
    else:
        offer.departure_at = None
        offer.local_time = data.departure_time
        offer.weekdays = ",".join(str(d) for d in sorted(data.weekdays))
        offer.first_date = data.first_date
        offer.last_date = data.last_date


def _snapshot(offer: Offer) -> dict:
    return {
        "kind": offer.kind.value if offer.kind else None, "origin": offer.origin_insee,
        "destination": offer.destination_insee, "departure_at": offer.departure_at,
        "local_time": offer.local_time, "weekdays": offer.weekdays,
        "first_date": offer.first_date, "last_date": offer.last_date, "seats": offer.seats,
        "max_detour_min": offer.max_detour_min, "origin_place": offer.origin_place,
        "destination_place": offer.destination_place, "origin_lat": offer.origin_lat,
        "origin_lon": offer.origin_lon, "destination_lat": offer.destination_lat,
        "destination_lon": offer.destination_lon, "remark": offer.remark,
    }


def _saved(offer: Offer, action: str) -> None:
    """Inside the change's transaction: bump the `offers` counter and tell the subscribers
    (reconciliation of the trip's bookings, SMS), which only add to the session. The caller
    (the edge) commits once; this process's matching index follows from an after-commit hook
    registered by its subscriber."""
    db.session.add(OfferChange(seq=counters.bump("offers"), offer_id=offer.id))
    db.session.flush()
    offer_saved.send(current_app._get_current_object(), offer=offer, action=action)


def lock_offer(offer_id: int) -> Offer | None:
    """The trip, locked for this transaction and re-read, so every change to it and to its
    bookings is decided on its current state: `SELECT … FOR UPDATE` on PostgreSQL; on SQLite
    a no-op write to the row, which takes the database's single writer lock now rather than
    at the action's first real write (its reads would otherwise be older than its writes)."""
    if db.engine.dialect.name == "sqlite":
        db.session.execute(db.update(Offer).where(Offer.id == offer_id)
                           .values(id=Offer.id, updated_at=Offer.updated_at)
                           .execution_options(synchronize_session=False))
    return db.session.scalar(tx.lock(db.select(Offer).where(Offer.id == offer_id))
                             .execution_options(populate_existing=True))


def create_offer(driver: Driver, data: OfferInput, actor_id: int | None,
                 now: datetime | None = None) -> Offer:
    errors = validate_offer(data, now or utcnow()) or limits.cap_errors(driver)
    if errors:
        raise OfferValidationError(errors)
    offer = Offer(driver_id=driver.id, status=OfferStatus.ACTIVE)
    _apply(offer, data)
    db.session.add(offer)
    db.session.flush()
    audit.record(actor_id, "offer", offer.id, "created", _snapshot(offer))
    _saved(offer, "created")
    return offer


def update_offer(offer: Offer, data: OfferInput, actor_id: int | None,
                 now: datetime | None = None) -> Offer:
    errors = validate_offer(data, now or utcnow())
    if errors:
        raise OfferValidationError(errors)
    offer = lock_offer(offer.id) or offer
    if offer.status == OfferStatus.CANCELLED:
        raise OfferStateError("Ce trajet est annulé : il ne peut plus être modifié.")
    before = _snapshot(offer)
    _apply(offer, data)
    after = _snapshot(offer)
    changes = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
    audit.record(actor_id, "offer", offer.id, "updated", changes or None)
    _saved(offer, "updated")
    return offer


_TRANSITIONS = {
    "pause": ({OfferStatus.ACTIVE}, OfferStatus.PAUSED),
    "resume": ({OfferStatus.PAUSED}, OfferStatus.ACTIVE),
    "cancel": ({OfferStatus.ACTIVE, OfferStatus.PAUSED}, OfferStatus.CANCELLED),
}

_STATE_MESSAGES = {
    "pause": "Seul un trajet actif peut être mis en pause.",
    "resume": "Seul un trajet en pause peut être repris.",
    "cancel": "Ce trajet est déjà annulé.",
}


def change_status(offer: Offer, action: str, actor_id: int | None, reason: str | None = None) -> Offer:
    if action not in _TRANSITIONS:
        raise OfferStateError("Action inconnue.")
    allowed, target = _TRANSITIONS[action]
    offer = lock_offer(offer.id) or offer
    if offer.status not in allowed:
        raise OfferStateError(_STATE_MESSAGES[action])
    before = offer.status
    offer.status = target
    audit.record(actor_id, "offer", offer.id, action,
                 {"status": [before.value, target.value]}, reason=reason)
    _saved(offer, action)
    return offer


# --- one date of a regular trip ---------------------------------------------------------

def check_skip_day(offer: Offer, day: date | None, restore: bool = False) -> None:
    """Raise OfferStateError (French) unless `day` is a date of `offer` that can be cancelled
    (or, `restore`, a cancelled date that can be restored): a regular, not cancelled trip, a
    run of its schedule, not already gone."""
    if offer.status == OfferStatus.CANCELLED:
        raise OfferStateError("Ce trajet est annulé : ses dates ne peuvent plus changer.")
    if not offer.is_regular:
        raise OfferStateError("Un trajet ponctuel n'a qu'une date : annulez le trajet.")
    if day is None:
        raise OfferStateError("Date inconnue : choisissez l'un des prochains départs.")
    if day not in _scheduled(offer, day):
        raise OfferStateError("Ce trajet ne roule pas ce jour-là.")
    departure = localize_run(offer, day)
    if departure <= clock.now_local():
        raise OfferStateError("Ce départ est déjà passé : il ne peut plus changer.")
    skipped = day in offer.skip_dates
    if restore and not skipped:
        raise OfferStateError("Ce départ n'est pas annulé.")
    if not restore and skipped:
        raise OfferStateError("Ce départ est déjà annulé.")


def _scheduled(offer: Offer, day: date) -> list[date]:
    """The schedule's own dates on `day` (skipped dates included)."""
    return to_match_offer(offer, with_skips=False).occurrence_dates(day, day)


def localize_run(offer: Offer, day: date) -> datetime:
    """Aware Europe/Paris departure of the trip's run on `day` (skipped or not)."""
    return to_match_offer(offer, with_skips=False).occurrences(day, day)[0]


def skip_date(offer: Offer, day: date | None, actor_id: int | None, reason: str | None = None) -> Offer:
    """The driver does not drive `day` ("annulé ce jour-là"): the run is no longer proposed,
    and the trip change goes through the usual path (counter, change log, `offer_saved`), so
    the bookings of that day are cancelled and their passengers told by the reactions."""
    offer = lock_offer(offer.id) or offer
    check_skip_day(offer, day, restore=False)
    assert day is not None
    offer.skips.append(OfferSkip(day=day))
    db.session.flush()
    audit.record(actor_id, "offer", offer.id, "date_skipped", {"day": day.isoformat()}, reason=reason)
    _saved(offer, "date_skipped")
    return offer


def restore_date(offer: Offer, day: date | None, actor_id: int | None, reason: str | None = None) -> Offer:
    """The driver drives `day` after all: the run is proposed again (bookings cancelled when
    the date was cancelled stay cancelled)."""
    offer = lock_offer(offer.id) or offer
    check_skip_day(offer, day, restore=True)
    for skip in list(offer.skips):
        if skip.day == day:
            offer.skips.remove(skip)
    db.session.flush()
    audit.record(actor_id, "offer", offer.id, "date_restored", {"day": day.isoformat()}, reason=reason)
    _saved(offer, "date_restored")
    return offer


# --- schedule ------------------------------------------------------------------------

def to_match_offer(offer: Offer, with_skips: bool = True) -> MatchOffer:
    """The matcher's view of a trip (also the one source of truth for occurrences); the
    dates the driver cancelled are left out (`with_skips=False`: the bare schedule)."""
    o_lat, o_lon = offer.point("origin")
    d_lat, d_lon = offer.point("destination")
    if offer.kind == OfferKind.ONE_OFF:
        departure = to_local(offer.departure_at).replace(tzinfo=None)
        recurrence = None
    else:
        departure = None
        recurrence = Recurrence(weekdays=offer.weekday_set, time=offer.local_time,
                                first_date=offer.first_date, last_date=offer.last_date)
    return MatchOffer(
        id=offer.id, driver_id=offer.driver_id, origin=Point(o_lat, o_lon),
        destination=Point(d_lat, d_lon), seats=offer.seats,
        max_detour_min=offer.max_detour_min, departure=departure, recurrence=recurrence,
        accepts=_driver_of(offer).accept_codes,
        skip_dates=offer.skip_dates if with_skips and recurrence is not None else frozenset(),
    )


def _driver_of(offer: Offer) -> Driver:
    """The trip's driver, also for a trip not flushed yet (its relationship is then unset)."""
    return offer.driver if offer.driver is not None else db.session.get(Driver, offer.driver_id)


def driver_accepts_changed(driver: Driver) -> list[Offer]:
    """What the driver accepts (passengers' needs) changed: each of his trips still to come
    is saved again, so every matching index follows and his booked passengers are
    reconciled (one whose needs he no longer accepts loses the ride and is told)."""
    today = clock.now_local().date()
    offers = list(db.session.scalars(
        db.select(Offer.id).where(Offer.driver_id == driver.id, Offer.last_date >= today,
                                  Offer.status != OfferStatus.CANCELLED).order_by(Offer.id)))
    changed = []
    for offer_id in offers:
        offer = lock_offer(offer_id)
        if offer is not None:
            _saved(offer, "accepts_changed")
            changed.append(offer)
    return changed


def occurrences(offer: Offer, start: date, end: date) -> list[datetime]:
    """Aware Europe/Paris departure datetimes of `offer` whose local date is in [start, end]."""
    return to_match_offer(offer).occurrences(start, end)


@dataclass(frozen=True)
class UpcomingTrip:
    offer: Offer
    next_departures: list[datetime]
    remaining: int  # occurrences left from today on (all of them, not just those shown)
    skipped: list[datetime] = ()  # type: ignore[assignment]  # cancelled dates to come (to restore)

    @property
    def paused(self) -> bool:
        return self.offer.status == OfferStatus.PAUSED


def upcoming_for_driver(driver: Driver, today: date | None = None, shown: int = 3) -> list[UpcomingTrip]:
    """The driver's trips that still have a departure to come (cancelled ones excluded)."""
    now_local = clock.now_local()
    today = today or now_local.date()
    offers = db.session.scalars(
        db.select(Offer)
        .where(Offer.driver_id == driver.id, Offer.status != OfferStatus.CANCELLED,
               Offer.last_date >= today)
        .order_by(Offer.first_date, Offer.local_time, Offer.id)
    ).all()
    result = []
    for offer in offers:
        bare = [t for t in to_match_offer(offer, with_skips=False).occurrences(today, offer.last_date)
                if t > now_local]
        skip = offer.skip_dates
        future = [t for t in bare if t.date() not in skip]
        skipped = [t for t in bare if t.date() in skip]
        if bare:
            result.append(UpcomingTrip(offer, future[:shown], len(future), skipped))
    result.sort(key=lambda u: (u.next_departures or u.skipped)[0])
    return result


def past_or_cancelled_for_driver(driver: Driver, limit: int = 20) -> list[Offer]:
    today = clock.now_local().date()
    return list(db.session.scalars(
        db.select(Offer)
        .where(Offer.driver_id == driver.id,
               (Offer.status == OfferStatus.CANCELLED) | (Offer.last_date < today))
        .order_by(Offer.updated_at.desc()).limit(limit)
    ))


def get_for_driver(driver: Driver, offer_id: int) -> Offer | None:
    """A trip only if it belongs to this driver (callers answer 404 otherwise)."""
    offer = db.session.get(Offer, offer_id)
    if offer is None or offer.driver_id != driver.id:
        return None
    return offer


def default_first_date() -> date:
    return clock.now_local().date() + timedelta(days=1)
