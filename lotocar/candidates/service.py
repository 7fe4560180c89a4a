"""The matching service: one corridor index per process, kept in step with the database.

- Built lazily from the active trips at the first query of the process.
- This process's own writes update it incrementally, from an after-commit hook registered
  when the trip change is reconciled (nothing changes in memory if the transaction rolls back).
- Writes from other processes are detected with the `offers` change counter, read before
  each query: when it moved in a way this process did not see, the index is rebuilt.
- rtree is not thread-safe: every use of the index goes through one lock.
"""
from __future__ import annotations

import logging
import threading
from datetime import date, datetime, timedelta

from flask import Flask, current_app
from sqlalchemy.orm import selectinload

from matching import (TOUR_MAX_SHIFT_MIN, Booked, CorridorIndex, Matcher, OSRMRouter, Point, Request,
                      Router, StraightLineRouter)
from matching import Candidate as MatchCandidate
from matching import Offer as MatchOffer

from lotocar.core import clock
from lotocar.bookings.models import LIVE, SEAT_HOLDING, Booking, BookingStatus
from lotocar.core import tx
from lotocar.core.counters import read as read_counter
from lotocar.core.timeutil import to_local
from lotocar.extensions import db
from lotocar.offers.models import Offer, OfferStatus
from lotocar.offers.operations import to_match_offer
from lotocar.requests.models import RequestMode, RequestStatus, TripRequest

log = logging.getLogger("lotocar.matching")

# Regular trips are expanded into dated runs this far ahead (MATCHING_HORIZON_DAYS); a
# request beyond it is still matched exactly, by the index's slower scan of regular trips.
HORIZON_DAYS = 42


def make_router(config) -> Router:
    straight = StraightLineRouter(circuity=config["ROUTER_CIRCUITY"], speed_kmh=config["ROUTER_SPEED_KMH"])
    if config.get("ROUTER") == "osrm":
        if not config.get("OSRM_URL"):
            raise RuntimeError("ROUTER=osrm needs OSRM_URL")
        return OSRMRouter(config["OSRM_URL"], timeout=config["OSRM_TIMEOUT_S"])
    return straight


class MatchingService:
    def __init__(self, router: Router, horizon_days: int = HORIZON_DAYS,
                 max_shift_min: float = TOUR_MAX_SHIFT_MIN) -> None:
        self.router = router
        # how far a booked passenger's pickup may move when another one joins her run
        self.max_shift_min = max_shift_min
        self.horizon_days = horizon_days
        self._lock = threading.RLock()
        self._index: CorridorIndex | None = None
        self._matcher: Matcher | None = None
        self._stamp: int | None = None
        self._built_for: date | None = None
        # reverse matching needs only the projection and bounds of an index, not its content
        self._reverse = Matcher(router, CorridorIndex(router))

    # -- keeping the index in step -------------------------------------------------------

    def _load_offers(self, today: date) -> list[Offer]:
        return list(db.session.scalars(
            db.select(Offer).options(selectinload(Offer.origin), selectinload(Offer.destination))
            .where(Offer.status == OfferStatus.ACTIVE, Offer.last_date >= today)
        ))

    def _rebuild(self, stamp: int, today: date) -> None:
        index = CorridorIndex(self.router, horizon=(today - timedelta(days=1),
                                                    today + timedelta(days=self.horizon_days)))
        index.bulk_load(to_match_offer(o) for o in self._load_offers(today))
        self._index, self._matcher = index, Matcher(self.router, index)
        self._stamp, self._built_for = stamp, today
        log.info("matching index rebuilt: %d entries (offers stamp %d)", len(index), stamp)

    def _fresh_matcher(self) -> Matcher:
        """The matcher, rebuilt first if another process changed the trips."""
        stamp = read_counter("offers")
        today = clock.now_local().date()
        with self._lock:
            if self._matcher is None or stamp != self._stamp or today != self._built_for:
                self._rebuild(stamp, today)
            assert self._matcher is not None
            return self._matcher

    def offer_changed(self, offer_id: int, match_offer: MatchOffer | None, stamp: int) -> None:
        """Called after this process committed a change to a trip (stamp = new counter);
        `match_offer` is its matcher view, None when it no longer runs."""
        with self._lock:
            if self._index is None:
                return  # built lazily at the next query
            if self._stamp is not None and stamp == self._stamp + 1:
                if offer_id in self._index:
                    self._index.remove(offer_id)
                if match_offer is not None:
                    self._index.add(match_offer)
                self._stamp = stamp
            # otherwise another process wrote in between: the next query rebuilds

    def evaluate(self, request: TripRequest, offer: Offer, day: date,
                 free_seats_of: list[Booking] = (), booked: list[Booked] | None = None,
                 max_shift_min: float | None | bool = True) -> MatchCandidate | None:
        """The exact candidate of one run of one trip, as the trip is in this transaction
        (no index: used under the trip's lock, to decide a proposal or a reconciliation).
        The seats of `free_seats_of` count as free. `booked` is the run's tour (None: the
        run's live bookings in the database, this request's own left out). `max_shift_min`:
        True = the configured TOUR_MAX_SHIFT_MIN, None = no bound (a trip change)."""
        if offer.status != OfferStatus.ACTIVE:
            return None
        if max_shift_min is True:
            max_shift_min = self.max_shift_min
        seats = seats_taken()
        for booking in free_seats_of:
            key = (booking.offer_id, booking.occurrence_date)
            if key in seats:
                seats[key] = max(0, seats[key] - booking.seats)
        if booked is None:
            tours = run_tours(day, exclude_request=request.id, offer_id=offer.id)
        else:
            tours = {(offer.id, day): booked} if booked else {}
        with self._lock:
            pairs = self._reverse.requests_for_offer(to_match_offer(offer), [to_match_request(request)], seats,
                                                     tours=tours, max_shift_min=max_shift_min)
        for _req, cand in pairs:
            if cand.date == day:
                return cand
        return None

    def warm(self) -> int:
        """Build the index now (e.g. in gunicorn's master before it forks the workers)."""
        return len(self._fresh_matcher().index)

    def reset(self) -> None:
        with self._lock:
            self._index = self._matcher = None
            self._stamp = None

    # -- queries --------------------------------------------------------------------------

    def candidates_for(self, request: TripRequest, ignore_bookings: list[Booking] = ()
                       ) -> list[MatchCandidate]:
        """Ranked candidates; the seats of `ignore_bookings` count as free (to re-check them)."""
        match_request = to_match_request(request)
        matcher = self._fresh_matcher()
        seats = seats_taken()
        for booking in ignore_bookings:
            key = (booking.offer_id, booking.occurrence_date)
            if key in seats:
                seats[key] = max(0, seats[key] - booking.seats)
        travelled = travelled_with(request.passenger_id)
        tours = run_tours(clock.today_local() - timedelta(days=1), exclude_request=request.id,
                          exclude_bookings={b.id for b in ignore_bookings})
        with self._lock:
            return matcher.candidates(match_request, seats, travelled, tours, self.max_shift_min)

    def open_requests_for(self, offers: list[Offer]) -> dict[int, list[int]]:
        """For each offer, the ids of the open requests it can serve (reverse matching)."""
        if not offers:
            return {}
        match_requests = open_match_requests(clock.now_local() - timedelta(hours=12))
        if not match_requests:
            return {o.id: [] for o in offers}
        now = clock.now_local()
        seats = seats_taken()
        tours = run_tours(clock.today_local() - timedelta(days=1))
        matcher = self._reverse
        result: dict[int, list[int]] = {}
        for offer in offers:
            if offer.status != OfferStatus.ACTIVE:
                result[offer.id] = []
                continue
            with self._lock:
                pairs = matcher.requests_for_offer(to_match_offer(offer), match_requests, seats, tours=tours,
                                                   max_shift_min=self.max_shift_min)
            result[offer.id] = [req.id for req, cand in pairs if cand.pickup_at > now]
        return result


def open_match_requests(since: datetime) -> list[Request]:
    """Open or unmet requests from `since` on, as the matcher's value objects — read as plain
    columns (no ORM objects, no geometry parsing): drivers' pages run this on every view."""
    from sqlalchemy.orm import aliased

    from lotocar.communes.models import Commune

    o, d = aliased(Commune), aliased(Commune)
    rows = db.session.execute(
        db.select(TripRequest.id, TripRequest.passenger_id, TripRequest.origin_lat, TripRequest.origin_lon,
                  o.lat, o.lon, TripRequest.destination_lat, TripRequest.destination_lon, d.lat, d.lon,
                  TripRequest.mode, TripRequest.target_at, TripRequest.flexibility_min, TripRequest.seats)
        .join(o, o.insee == TripRequest.origin_insee).join(d, d.insee == TripRequest.destination_insee)
        .where(TripRequest.status.in_((RequestStatus.OPEN, RequestStatus.UNMET)),
               TripRequest.target_at >= since)
    ).all()
    out = []
    for (rid, pid, olat, olon, oclat, oclon, dlat, dlon, dclat, dclon, mode, target, flex, seats) in rows:
        local = to_local(target)
        out.append(Request(
            id=rid, passenger_id=pid,
            pickup=Point(olat, olon) if olat is not None and olon is not None else Point(oclat, oclon),
            dropoff=Point(dlat, dlon) if dlat is not None and dlon is not None else Point(dclat, dclon),
            date=local.date(), mode="arrive_by" if mode == RequestMode.ARRIVE_BY else "leave_after",
            time=local.time().replace(tzinfo=None, second=0, microsecond=0),
            flexibility_min=flex, seats=seats))
    return out


def to_match_request(request: TripRequest) -> Request:
    local = to_local(request.target_at)
    p_lat, p_lon = request.point("origin")
    d_lat, d_lon = request.point("destination")
    return Request(
        id=request.id, passenger_id=request.passenger_id, pickup=Point(p_lat, p_lon),
        dropoff=Point(d_lat, d_lon), date=local.date(),
        mode="arrive_by" if request.mode == RequestMode.ARRIVE_BY else "leave_after",
        time=local.time().replace(tzinfo=None, second=0, microsecond=0),
        flexibility_min=request.flexibility_min, seats=request.seats,
    )


def booked_of(booking: Booking) -> Booked | None:
    """The matcher's view of a booking on its run's tour (None without promised times)."""
    if booking.pickup_at is None or booking.dropoff_at is None:
        return None
    return Booked(booking_id=booking.id, request=to_match_request(booking.request),
                  pickup_at=to_local(booking.pickup_at), dropoff_at=to_local(booking.dropoff_at),
                  name=booking.request.passenger.first_name)


def run_tours(since: date, *, exclude_request: int | None = None, exclude_bookings: set[int] = frozenset(),
              offer_id: int | None = None) -> dict[tuple[int, date], list[Booked]]:
    """The passengers on each run from `since` on: the live bookings (proposed, accepted,
    confirmed) with their promised pickup and drop-off, oldest first."""
    query = (db.select(Booking).options(selectinload(Booking.request).selectinload(TripRequest.passenger))
             .where(Booking.status.in_(LIVE), Booking.occurrence_date >= since)
             .order_by(Booking.created_at, Booking.id))
    if offer_id is not None:
        query = query.where(Booking.offer_id == offer_id)
    if exclude_request is not None:
        query = query.where(Booking.request_id != exclude_request)
    out: dict[tuple[int, date], list[Booked]] = {}
    for booking in db.session.scalars(query):
        if booking.id in exclude_bookings:
            continue
        item = booked_of(booking)
        if item is not None:
            out.setdefault((booking.offer_id, booking.occurrence_date), []).append(item)
    return out


def seats_taken() -> dict[tuple[int, date], int]:
    rows = db.session.execute(
        db.select(Booking.offer_id, Booking.occurrence_date, db.func.sum(Booking.seats))
        .where(Booking.status.in_(SEAT_HOLDING))
        .group_by(Booking.offer_id, Booking.occurrence_date)
    ).all()
    return {(offer_id, day): int(total) for offer_id, day, total in rows}


def travelled_with(passenger_id: int) -> set[int]:
    return set(db.session.scalars(
        db.select(Offer.driver_id).join(Booking, Booking.offer_id == Offer.id)
        .join(TripRequest, TripRequest.id == Booking.request_id)
        .where(TripRequest.passenger_id == passenger_id, Booking.status == BookingStatus.DONE)
    ))


def init_app(app: Flask) -> None:
    service = MatchingService(make_router(app.config), app.config.get("MATCHING_HORIZON_DAYS", HORIZON_DAYS),
                              app.config.get("TOUR_MAX_SHIFT_MIN", TOUR_MAX_SHIFT_MIN))
    app.extensions["matching"] = service


def refresh_after_commit(offer: Offer) -> None:
    """Keep this process's index in step with `offer` once (and only if) the change commits."""
    matching = service()

    def prepare():
        stamp = read_counter("offers")
        match_offer = to_match_offer(offer) if offer.status == OfferStatus.ACTIVE else None
        offer_id = offer.id
        return lambda: matching.offer_changed(offer_id, match_offer, stamp)

    tx.after_commit(prepare)


def service() -> MatchingService:
    return current_app.extensions["matching"]
