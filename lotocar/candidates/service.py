"""The matching service: one corridor index per process, kept in step with the database.

- Built from the active trips at the first query of the process (or in gunicorn's master),
  and again once a day (the first query of a new local day drops finished trips).
- This process's own writes update it incrementally, from an after-commit hook registered
  when the trip change is reconciled (nothing changes in memory if the transaction rolls back).
- Writes from other processes: every trip change bumps the `offers` change counter and
  writes one `offer_changes` row (offer id, counter value) in its transaction. Before each
  query the counter is read; a process k changes behind re-reads those k trips and
  removes / re-adds them. Only a gap in the log (rows missing) forces a full rebuild.
- Open requests (drivers' pages, reverse matching) are cached per process the same way,
  behind the `requests` counter, with a reverse index by pick-up point.
- Seats come from `offer_days` (one row per run), for the dates a request can reach only.
- rtree is not thread-safe: every use of the index goes through one lock.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from flask import Flask, current_app
from sqlalchemy.orm import aliased, selectinload

from matching import (TOUR_MAX_SHIFT_MIN, Booked, CorridorIndex, Matcher, OSRMRouter, Point, Request,
                      Router, StraightLineRouter)
from matching import Candidate as MatchCandidate
from matching import Offer as MatchOffer
from matching.index import OfferRecord, RequestIndex
from matching.misses import DETOUR_SLACK_MIN, WINDOW_SLACK_MIN, Miss, near_misses, widen_offer, widen_request
from matching.model import localize_ts

from lotocar.core import clock
from lotocar.core import needs as need_codes
from lotocar.bookings.models import LIVE, Booking, BookingStatus, OfferDay
from lotocar.bookings.operations import run_detour_allowance
from lotocar.communes.models import Commune
from lotocar.core import tx
from lotocar.core.counters import read as read_counter
from lotocar.core.counters import written_here
from lotocar.core.timeutil import to_local
from lotocar.extensions import db
from lotocar.offers.models import Offer, OfferChange, OfferStatus
from lotocar.offers.operations import to_match_offer
from lotocar.passengers.models import Passenger
from lotocar.requests.changes import COUNTER as REQUESTS_COUNTER
from lotocar.requests.models import RequestMode, RequestStatus, TripRequest
from lotocar.roads.service import RoadRouter

log = logging.getLogger("lotocar.matching")

# Open requests are those whose time is at most this far in the past (drivers' pages).
OPEN_SINCE = timedelta(hours=12)
# A full build of the index reads the trips this many at a time: the peak of the build
# (the heap a process keeps afterwards, and gunicorn's workers inherit from the master) is
# one batch of ORM objects, not every trip's.
LOAD_BATCH = 500


def make_router(config, roads: RoadRouter | None = None) -> Router:
    """ROUTER=straight (default), osrm (OSRM_URL) or pgrouting (the graph `flask roads load`
    imported, its matrix in memory; straight-line legs until a graph is loaded)."""
    straight = StraightLineRouter(circuity=config["ROUTER_CIRCUITY"], speed_kmh=config["ROUTER_SPEED_KMH"])
    kind = config.get("ROUTER") or "straight"
    if kind == "osrm":
        if not config.get("OSRM_URL"):
            raise RuntimeError("ROUTER=osrm needs OSRM_URL")
        return OSRMRouter(config["OSRM_URL"], timeout=config["OSRM_TIMEOUT_S"])
    if kind == "pgrouting":
        if roads is None:
            raise RuntimeError("ROUTER=pgrouting needs the roads feature (lotocar.roads.service.init_app)")
        return roads
    if kind != "straight":
        raise RuntimeError(f"ROUTER={kind!r}: expected straight, osrm or pgrouting")
    return straight


@dataclass
class OpenRequests:
    """This process's copy of the open requests, at one value of the `requests` counter."""

    stamp: int
    day: date
    index: RequestIndex
    target_s: dict[int, float]


class MatchingService:
    def __init__(self, router: Router, max_shift_min: float = TOUR_MAX_SHIFT_MIN) -> None:
        self.router = router
        # how far a booked passenger's pickup may move when another one joins her run
        self.max_shift_min = max_shift_min
        self._lock = threading.RLock()
        self._index: CorridorIndex | None = None
        self._matcher: Matcher | None = None
        self._stamp: int | None = None
        self._built_for: date | None = None
        self._open: OpenRequests | None = None
        # near misses: a corridor index of the same trips with their detour widened, built
        # lazily from the main index after each of its full builds and then kept in step
        # with it change by change (see _apply, misses_for)
        self._wide: CorridorIndex | None = None
        self.wide_builds = 0        # full builds of the near-miss index by this process
        # reverse matching needs only the projection and bounds of an index, not its content
        self._reverse = Matcher(router, CorridorIndex(router))
        self.rebuilds = 0           # full rebuilds of the corridor index by this process
        self.changes_applied = 0    # trips re-read from the change log
        self.open_reloads = 0       # reloads of the open requests

    # -- keeping the index in step -------------------------------------------------------

    @staticmethod
    def _running(today: date):
        """The trips the index holds (active, not over), with what their matcher view reads."""
        return (db.select(Offer).options(selectinload(Offer.origin), selectinload(Offer.destination),
                                         selectinload(Offer.driver))
                .where(Offer.status == OfferStatus.ACTIVE, Offer.last_date >= today))

    def _load_offers(self, today: date, ids: set[int]) -> list[Offer]:
        return list(db.session.scalars(self._running(today).where(Offer.id.in_(ids))))

    def _active_offers(self, today: date) -> Iterator[Offer]:
        """Every active trip, read LOAD_BATCH at a time (by id): each batch's ORM objects are
        freed before the next one is read, so a full build never holds them all at once."""
        after: int | None = None
        while True:
            stmt = self._running(today).order_by(Offer.id).limit(LOAD_BATCH)
            if after is not None:
                stmt = stmt.where(Offer.id > after)
            batch = list(db.session.scalars(stmt))
            if not batch:
                return
            after = batch[-1].id
            yield from batch
            del batch

    def _rebuild(self, stamp: int, today: date, reason: str) -> None:
        index = CorridorIndex(self.router)
        index.bulk_load(to_match_offer(o) for o in self._active_offers(today))
        self._index, self._matcher = index, Matcher(self.router, index)
        self._wide = None  # built again from the new index by the next near-miss query
        self._stamp, self._built_for = stamp, today
        self.rebuilds += 1
        log.info("matching index rebuilt (%s): %d trips (offers stamp %d)", reason, len(index), stamp)

    def _catch_up(self, stamp: int, today: date) -> bool:
        """Apply the change log from this index's stamp to `stamp`; False on a gap."""
        assert self._index is not None and self._stamp is not None
        if stamp < self._stamp:
            return False
        changed = db.session.scalars(
            db.select(OfferChange.offer_id)
            .where(OfferChange.seq > self._stamp, OfferChange.seq <= stamp)
        ).all()
        if len(changed) != stamp - self._stamp:
            return False
        ids = set(changed)
        fresh = {o.id: to_match_offer(o) for o in self._load_offers(today, ids)}
        for offer_id in ids:
            self._apply(offer_id, fresh.get(offer_id))
        self._stamp = stamp
        self.changes_applied += len(ids)
        return True

    def _apply(self, offer_id: int, match_offer: MatchOffer | None) -> None:
        assert self._index is not None
        for index, view in ((self._index, match_offer),
                            (self._wide, match_offer and widen_offer(match_offer, DETOUR_SLACK_MIN))):
            if index is None:
                continue
            if offer_id in index:
                index.remove(offer_id)
            if view is not None:
                index.add(view)

    def _sync_roads(self) -> bool:
        """With ROUTER=pgrouting: follow the current road graph; True when the legs changed
        (the index and the reverse matcher are then rebuilt on the new legs and bound)."""
        sync = getattr(self.router, "sync", None)
        if sync is None or not sync():
            return False
        with self._lock:
            self._reverse = Matcher(self.router, CorridorIndex(self.router))
        return True

    def _fresh_matcher(self) -> Matcher:
        """The matcher, first brought up to date with the trips other processes changed (or
        rebuilt on new legs when the road graph changed)."""
        roads_changed = self._sync_roads()
        stamp = read_counter("offers")
        today = clock.now_local().date()
        with self._lock:
            if self._matcher is None:
                self._rebuild(stamp, today, "start-up")
            elif roads_changed:
                self._rebuild(stamp, today, "road graph changed")
            elif today != self._built_for:
                self._rebuild(stamp, today, "new day")
            elif stamp != self._stamp and not written_here("offers"):
                # (a transaction that changed trips itself waits for its commit hook)
                if not self._catch_up(stamp, today):
                    self._rebuild(stamp, today, "gap in the change log")
            assert self._matcher is not None
            return self._matcher

    def offer_changed(self, offer_id: int, match_offer: MatchOffer | None, stamp: int) -> None:
        """Called after this process committed a change to a trip (stamp = new counter);
        `match_offer` is its matcher view, None when it no longer runs."""
        with self._lock:
            if self._index is None:
                return  # built lazily at the next query
            if self._stamp is not None and stamp == self._stamp + 1:
                self._apply(offer_id, match_offer)
                self._stamp = stamp
            # otherwise another process wrote in between: the next query reads the log

    def evaluate(self, request: TripRequest, offer: Offer, day: date,
                 free_seats_of: list[Booking] = (), booked: list[Booked] | None = None,
                 max_shift_min: float | None | bool = True, extra_detour_min: float = 0.0
                 ) -> MatchCandidate | None:
        """The exact candidate of one run of one trip, as the trip is in this transaction
        (no index: used under the trip's lock, to decide a proposal or a reconciliation).
        The seats of `free_seats_of` count as free. `booked` is the run's tour (None: the
        run's live bookings in the database, this request's own left out). `max_shift_min`:
        True = the configured TOUR_MAX_SHIFT_MIN, None = no bound (a trip change).
        `extra_detour_min`: the driver is asked to accept that much more detour (a near miss).
        A run carrying a booking proposed that way keeps, while that booking lives, the detour
        the driver was asked to accept (`Booking.detour_allowance_min`) as its budget when one
        of its own passengers is checked again (a trip or request change); a new passenger
        gets the driver's usual detour, as in the candidates list."""
        if offer.status != OfferStatus.ACTIVE:
            return None
        on_run = list(db.session.scalars(db.select(Booking).where(
            Booking.offer_id == offer.id, Booking.occurrence_date == day, Booking.status.in_(LIVE))))
        if any(b.request_id == request.id for b in on_run):
            extra_detour_min = max(extra_detour_min, run_detour_allowance(on_run, offer.max_detour_min))
        if max_shift_min is True:
            max_shift_min = self.max_shift_min
        seats = free_seats(seats_taken(day, day, [offer.id]), free_seats_of)
        if booked is None:
            tours = run_tours(day, until=day, exclude_request=request.id, offer_id=offer.id)
        else:
            tours = {(offer.id, day): booked} if booked else {}
        with self._lock:
            match_offer = to_match_offer(offer)
            if extra_detour_min > 0:
                match_offer = widen_offer(match_offer, extra_detour_min)
            pairs = self._reverse.requests_for_offer(match_offer, [to_match_request(request)], seats,
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
            self._open = None
            self._wide = None

    # -- queries --------------------------------------------------------------------------

    def candidates_for(self, request: TripRequest, ignore_bookings: list[Booking] = (),
                       ignore_needs: bool = False) -> list[MatchCandidate]:
        """Ranked candidates; the seats of `ignore_bookings` count as free (to re-check them).
        `ignore_needs`: as if the passenger had no accessibility needs (to say which drivers
        were left out for them only)."""
        match_request = to_match_request(request)
        if ignore_needs:
            match_request = replace(match_request, needs=frozenset())
        matcher = self._fresh_matcher()
        with self._lock:
            first, last = matcher.index.reachable_dates(match_request)
        seats = free_seats(seats_taken(first, last), ignore_bookings)
        travelled = travelled_with(request.passenger_id)
        tours = run_tours(first, until=last, exclude_request=request.id,
                          exclude_bookings={b.id for b in ignore_bookings})
        with self._lock:
            return matcher.candidates(match_request, seats, travelled, tours, self.max_shift_min)

    def misses_for(self, request: TripRequest, exclude: set[tuple[int, date]] = frozenset(),
                   limit: int = 5) -> list[Miss]:
        """The runs that nearly serve the request (`matching.misses`): the widened index's
        hits for the widened window, checked exactly; `exclude` = the candidates' runs."""
        match_request = to_match_request(request)
        matcher = self._fresh_matcher()
        with self._lock:
            if self._wide is None:
                wide = CorridorIndex(self.router)
                wide.bulk_load(widen_offer(o, DETOUR_SLACK_MIN) for o in matcher.index.offers())
                self._wide = wide
                self.wide_builds += 1
            wide_request = widen_request(match_request, WINDOW_SLACK_MIN)
            hits = [(matcher.index.record(offer.id).offer, t0, t0_s)
                    for offer, _od, t0, t0_s in self._wide.hits(wide_request) if offer.id in matcher.index]
            first, last = self._wide.reachable_dates(wide_request)
        if not hits:
            return []
        seats = seats_taken(first, last, list({o.id for o, _, _ in hits}))
        tours = run_tours(first, until=last, exclude_request=request.id)
        with self._lock:
            return near_misses(match_request, hits, self.router, seats, tours, exclude,
                               WINDOW_SLACK_MIN, DETOUR_SLACK_MIN, limit)

    def _open_requests(self) -> OpenRequests:
        """Open requests, re-read only when the `requests` counter moved (or the day changed)."""
        stamp = read_counter(REQUESTS_COUNTER)
        today = clock.now_local().date()
        with self._lock:
            cached = self._open
            if cached is not None and cached.stamp == stamp and cached.day == today \
                    and not written_here(REQUESTS_COUNTER):
                return cached
        loaded = open_match_requests(clock.now_local() - OPEN_SINCE)
        fresh = OpenRequests(
            stamp=stamp, day=today, index=RequestIndex(self._reverse.index.projection, loaded),
            target_s={r.id: localize_ts(r.date, r.time, r.tz)[1] for r in loaded})
        if not written_here(REQUESTS_COUNTER):  # never cache what may still roll back
            with self._lock:
                self._open = fresh
                self.open_reloads += 1
        return fresh

    def open_requests_for(self, offers: list[Offer]) -> dict[int, list[int]]:
        """For each offer, the ids of the open requests it can serve (reverse matching through
        the requests' index: only those whose points lie in the trip's detour ellipse)."""
        if not offers:
            return {}
        cache = self._open_requests()
        now = clock.now_local()
        if self._sync_roads():
            self.reset()  # new legs: the requests' index and cache are rebuilt on them
            cache = self._open_requests()
        since_s = (now - OPEN_SINCE).timestamp()
        active = [o for o in offers if o.status == OfferStatus.ACTIVE]
        seats = seats_taken(now.date() - timedelta(days=1), None, [o.id for o in active]) if active else {}
        tours = run_tours(now.date() - timedelta(days=1))
        matcher = self._reverse
        result: dict[int, list[int]] = {o.id: [] for o in offers}
        for offer in active:
            match_offer = to_match_offer(offer)
            with self._lock:
                rec = OfferRecord(match_offer, self.router.leg(match_offer.origin, match_offer.destination),
                                  matcher.index.projection, matcher.index.bound)
                near = [r for r in cache.index.near(rec) if cache.target_s[r.id] >= since_s]
                pairs = matcher.requests_for_offer(match_offer, near, seats, tours=tours,
                                                   max_shift_min=self.max_shift_min) if near else []
            result[offer.id] = sorted({req.id for req, cand in pairs if cand.pickup_at > now})
        return result


def free_seats(seats: dict[tuple[int, date], int], bookings: list[Booking]) -> dict[tuple[int, date], int]:
    """`seats` with the seats of `bookings` counted as free."""
    for booking in bookings:
        key = (booking.offer_id, booking.occurrence_date)
        if key in seats:
            seats[key] = max(0, seats[key] - booking.seats)
    return seats


def open_match_requests(since: datetime) -> list[Request]:
    """Open or unmet requests from `since` on, as the matcher's value objects — read as plain
    columns (no ORM objects, no geometry parsing): drivers' pages run this on every view."""
    o, d = aliased(Commune), aliased(Commune)
    rows = db.session.execute(
        db.select(TripRequest.id, TripRequest.passenger_id, TripRequest.origin_lat, TripRequest.origin_lon,
                  o.lat, o.lon, TripRequest.destination_lat, TripRequest.destination_lon, d.lat, d.lon,
                  TripRequest.mode, TripRequest.target_at, TripRequest.flexibility_min, TripRequest.seats,
                  Passenger.needs_flags)
        .join(o, o.insee == TripRequest.origin_insee).join(d, d.insee == TripRequest.destination_insee)
        .join(Passenger, Passenger.id == TripRequest.passenger_id)
        .where(TripRequest.status.in_((RequestStatus.OPEN, RequestStatus.UNMET)),
               TripRequest.target_at >= since)
    ).all()
    out = []
    for (rid, pid, olat, olon, oclat, oclon, dlat, dlon, dclat, dclon, mode, target, flex, seats, flags) in rows:
        local = to_local(target)
        out.append(Request(
            id=rid, passenger_id=pid,
            pickup=Point(olat, olon) if olat is not None and olon is not None else Point(oclat, oclon),
            dropoff=Point(dlat, dlon) if dlat is not None and dlon is not None else Point(dclat, dclon),
            date=local.date(), mode="arrive_by" if mode == RequestMode.ARRIVE_BY else "leave_after",
            time=local.time().replace(tzinfo=None, second=0, microsecond=0),
            flexibility_min=flex, seats=seats, needs=need_codes.parse(flags)))
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
        needs=request.passenger.need_codes,
    )


def seats_taken(first: date, last: date | None = None, offer_ids: list[int] | None = None
                ) -> dict[tuple[int, date], int]:
    """Seats held per (trip, local date) from `offer_days` (one row per run), for the dates
    `first`..`last` only (`last` None: no end) — whatever the booking history."""
    stmt = db.select(OfferDay.offer_id, OfferDay.day, OfferDay.held).where(OfferDay.held > 0, OfferDay.day >= first)
    if last is not None:
        stmt = stmt.where(OfferDay.day <= last)
    if offer_ids is not None:
        stmt = stmt.where(OfferDay.offer_id.in_(offer_ids))
    return {(offer_id, day): int(held) for offer_id, day, held in db.session.execute(stmt)}


def booked_of(booking: Booking) -> Booked | None:
    """The matcher's view of a booking on its run's tour (None without promised times)."""
    if booking.pickup_at is None or booking.dropoff_at is None:
        return None
    return Booked(booking_id=booking.id, request=to_match_request(booking.request),
                  pickup_at=to_local(booking.pickup_at), dropoff_at=to_local(booking.dropoff_at),
                  name=booking.request.passenger.first_name)


def run_tours(since: date, *, until: date | None = None, exclude_request: int | None = None,
              exclude_bookings: set[int] = frozenset(), offer_id: int | None = None
              ) -> dict[tuple[int, date], list[Booked]]:
    """The passengers on each run from `since` (to `until`) on: the live bookings (proposed,
    accepted, confirmed) with their promised pickup and drop-off, oldest first."""
    query = (db.select(Booking).options(selectinload(Booking.request).selectinload(TripRequest.passenger))
             .where(Booking.status.in_(LIVE), Booking.occurrence_date >= since)
             .order_by(Booking.id))
    if until is not None:
        query = query.where(Booking.occurrence_date <= until)
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


def travelled_with(passenger_id: int) -> set[int]:
    return set(db.session.scalars(
        db.select(Offer.driver_id).join(Booking, Booking.offer_id == Offer.id)
        .join(TripRequest, TripRequest.id == Booking.request_id)
        .where(TripRequest.passenger_id == passenger_id, Booking.status == BookingStatus.DONE)
    ))


# Change-log rows older than this are pruned by the worker; a process that far behind
# (no query for days) meets a gap and rebuilds, which is what it would do anyway at a new day.
CHANGE_LOG_KEEP = timedelta(days=2)


def prune_change_log(app: Flask) -> int:
    """Worker job (edge): drop `offer_changes` rows older than CHANGE_LOG_KEEP, one transaction."""
    with app.app_context():
        cutoff = clock.now_utc() - CHANGE_LOG_KEEP
        return tx.atomic(lambda: db.session.execute(
            db.delete(OfferChange).where(OfferChange.changed_at < cutoff)).rowcount)


def init_app(app: Flask) -> None:
    service = MatchingService(make_router(app.config, app.extensions.get("roads")),
                              app.config.get("TOUR_MAX_SHIFT_MIN", TOUR_MAX_SHIFT_MIN))
    app.extensions["matching"] = service
    app.extensions.setdefault("worker_jobs", []).append(("offer-changes-prune", prune_change_log, 3600.0))


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
