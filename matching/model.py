"""Value objects: recurrences, offers, requests and candidates; local-time helpers.

Local time rules (Europe/Paris by default, any IANA zone accepted):

* Offers and requests are expressed in naive *local* wall-clock time. A regular trip at
  07:45 stays at 07:45 local on both sides of a daylight-saving change.
* A local time that does not exist (spring-forward gap, e.g. 02:30 on the last Sunday of
  March) is shifted forward by the length of the gap (02:30 -> 03:30 CEST): it is
  interpreted with the pre-transition offset (``fold=0``) and normalised.
* An ambiguous local time (autumn fall-back, e.g. 02:30 on the last Sunday of October)
  is resolved deterministically to its first occurrence (``fold=0``, summer time).
* Durations (travel times, flexibility windows) are elapsed minutes, so all arithmetic
  and comparisons are done on absolute (UTC epoch) seconds, never on wall-clock values;
  results are handed back as timezone-aware local datetimes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from .geo import Point

DEFAULT_TZ = "Europe/Paris"

Mode = Literal["arrive_by", "leave_after"]
Band = Literal["green", "orange", "red"]

GREEN_MAX_MIN = 5.0
ORANGE_MAX_MIN = 15.0


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """Cached :class:`ZoneInfo` lookup."""
    return ZoneInfo(name)


def localize(day: date, at: time, tz: str = DEFAULT_TZ) -> datetime:
    """Aware local datetime for a naive local (day, time), with the gap/fold rules above."""
    return localize_ts(day, at, tz)[0]


@lru_cache(maxsize=32768)
def localize_ts(day: date, at: time, tz: str = DEFAULT_TZ) -> tuple[datetime, float]:
    """:func:`localize` and its UTC epoch seconds.

    Memoised: regular trips share a few departure times over a few dates, and
    ``timestamp()`` of a zoneinfo datetime is comparatively slow."""
    if at.tzinfo is not None:
        raise ValueError("local times must be naive (no tzinfo)")
    z = zone(tz)
    aware = datetime.combine(day, at).replace(tzinfo=z, fold=0)
    # Round-trip through UTC: normalises non-existent times (shifted forward) and
    # gives the canonical offset/fold.
    utc = aware.astimezone(timezone.utc)
    return utc.astimezone(z), utc.timestamp()


def band_for_detour(minutes: float) -> Band:
    """Colour band shown to operators: green <= 5 min, orange <= 15 min, red beyond."""
    if minutes <= GREEN_MAX_MIN:
        return "green"
    if minutes <= ORANGE_MAX_MIN:
        return "orange"
    return "red"


def _iter_days(start: date, end: date) -> range:
    return range(start.toordinal(), end.toordinal() + 1)


@dataclass(frozen=True, slots=True)
class Recurrence:
    """A regular trip: every ISO weekday in ``weekdays`` (1=Mon..7=Sun) at local ``time``,
    from ``first_date`` to ``last_date`` inclusive."""

    weekdays: frozenset[int]
    time: time
    first_date: date
    last_date: date

    def __post_init__(self) -> None:
        if not isinstance(self.weekdays, frozenset):
            object.__setattr__(self, "weekdays", frozenset(self.weekdays))
        if not self.weekdays or not self.weekdays <= frozenset(range(1, 8)):
            raise ValueError("weekdays must be a non-empty subset of 1..7 (ISO, 1=Monday)")
        if self.time.tzinfo is not None:
            raise ValueError("recurrence time must be naive local time")
        if self.first_date > self.last_date:
            raise ValueError("first_date must not be after last_date")

    def dates(self, start: date, end: date) -> list[date]:
        """Run dates within [start, end] (both inclusive)."""
        lo = max(start, self.first_date)
        hi = min(end, self.last_date)
        if lo > hi:
            return []
        wd = self.weekdays
        out: list[date] = []
        for o in _iter_days(lo, hi):
            d = date.fromordinal(o)
            if d.isoweekday() in wd:
                out.append(d)
        return out


@dataclass(frozen=True, slots=True)
class Offer:
    """A driver's trip: one-off (``departure``, naive local) or regular (``recurrence``).

    ``skip_dates``: local dates the driver cancelled ("not this Tuesday"); no run on them."""

    id: int
    driver_id: int
    origin: Point
    destination: Point
    seats: int
    max_detour_min: int
    departure: datetime | None = None
    recurrence: Recurrence | None = None
    tz: str = DEFAULT_TZ
    accepts: frozenset[str] = frozenset()
    """Passengers' needs the driver and his car accept (opaque codes, see ``Request.needs``)."""
    skip_dates: frozenset[date] = frozenset()
    """Dates of a regular trip the driver cancelled (no run those days)."""

    def __post_init__(self) -> None:
        if not isinstance(self.accepts, frozenset):
            object.__setattr__(self, "accepts", frozenset(self.accepts))
        if not isinstance(self.skip_dates, frozenset):
            object.__setattr__(self, "skip_dates", frozenset(self.skip_dates))
        if (self.departure is None) == (self.recurrence is None):
            raise ValueError("an offer needs exactly one of departure / recurrence")
        if self.seats < 0:
            raise ValueError("seats must be >= 0")
        if self.max_detour_min < 0:
            raise ValueError("max_detour_min must be >= 0")
        if self.departure is not None and self.departure.tzinfo is not None:
            # Accept aware datetimes by converting them to local wall-clock time.
            object.__setattr__(
                self, "departure", self.departure.astimezone(zone(self.tz)).replace(tzinfo=None, fold=0)
            )
        zone(self.tz)  # validates the zone name

    @property
    def is_regular(self) -> bool:
        return self.recurrence is not None

    def occurrence_dates(self, start: date, end: date) -> list[date]:
        """Local dates of the runs within [start, end] (skipped dates left out)."""
        skip = self.skip_dates
        if self.recurrence is not None:
            dates = self.recurrence.dates(start, end)
            return [d for d in dates if d not in skip] if skip else dates
        assert self.departure is not None
        d = self.departure.date()
        return [d] if start <= d <= end and d not in skip else []

    def occurrences(self, start: date, end: date) -> list[datetime]:
        """Aware local departure datetimes of the runs whose local date is in [start, end]."""
        return [t0 for t0, _ in self.runs(start, end)]

    def runs(self, start: date, end: date) -> list[tuple[datetime, float]]:
        """Like :meth:`occurrences`, paired with UTC epoch seconds."""
        if self.recurrence is not None:
            at = self.recurrence.time
            return [localize_ts(d, at, self.tz) for d in self.occurrence_dates(start, end)]
        assert self.departure is not None
        d = self.departure.date()
        if start <= d <= end and d not in self.skip_dates:
            return [localize_ts(d, self.departure.time(), self.tz)]
        return []


@dataclass(frozen=True, slots=True)
class Request:
    """A passenger's need on local ``date``.

    ``arrive_by`` T, flexibility F: arrival at the drop-off within [T - F, T].
    ``leave_after`` T, flexibility F: pick-up within [T, T + F].
    Bounds are inclusive (with a 1e-9 minute tolerance); F is in elapsed minutes.
    """

    id: int
    passenger_id: int
    pickup: Point
    dropoff: Point
    date: date
    mode: Mode
    time: time
    flexibility_min: int
    seats: int = 1
    tz: str = DEFAULT_TZ
    needs: frozenset[str] = frozenset()
    """Needs every proposed driver must accept (e.g. "assistance_dog"): opaque codes, an offer
    serves the request only when ``needs <= offer.accepts``."""
    _window: tuple[float, float, float] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.needs, frozenset):
            object.__setattr__(self, "needs", frozenset(self.needs))
        if self.mode not in ("arrive_by", "leave_after"):
            raise ValueError("mode must be 'arrive_by' or 'leave_after'")
        if self.flexibility_min < 0:
            raise ValueError("flexibility_min must be >= 0")
        if self.seats < 1:
            raise ValueError("seats must be >= 1")
        if self.time.tzinfo is not None:
            raise ValueError("request time must be naive local time")
        zone(self.tz)

    def unmet_needs(self, offer: Offer) -> frozenset[str]:
        """The needs of this request the offer's driver does not accept (empty: none)."""
        return self.needs - offer.accepts

    def target(self) -> datetime:
        """Aware local datetime of T."""
        return localize(self.date, self.time, self.tz)

    def window_s(self) -> tuple[float, float, float]:
        """(window start, window end, T) as UTC epoch seconds (computed once: every run a
        request meets, and every tour it is booked on, reads it)."""
        got = self._window
        if got is None:
            t = localize_ts(self.date, self.time, self.tz)[1]
            f = self.flexibility_min * 60.0
            got = (t - f, t, t) if self.mode == "arrive_by" else (t, t + f, t)
            object.__setattr__(self, "_window", got)
        return got


@dataclass(frozen=True, slots=True)
class Candidate:
    """An offer occurrence that can serve a request.

    ``date`` is the local date of the occurrence (key of ``seats_taken``), which may be
    the day before the request's date around midnight. ``seats_left`` is the number of
    free seats on that occurrence before booking this request. On a run that already
    carries passengers (see :mod:`matching.tours`) ``detour_min`` is the detour this
    passenger *adds* for the driver, ``total_detour_min`` the whole tour's detour,
    ``stops`` the tour in order, ``shifts`` the booked passengers whose times move and
    ``new_times`` every booked passenger's (booking id, pickup, drop-off) on the tour; on an
    empty run ``total_detour_min == detour_min`` and the others hold the new passenger's
    two stops / nothing. ``score`` is the sort
    key: (detour rounded to 0.1 min, time-fit penalty in minutes, not already travelled
    together, departure as UTC epoch seconds, offer id).
    """

    offer_id: int
    driver_id: int
    date: date
    departure_at: datetime
    pickup_at: datetime
    dropoff_at: datetime
    detour_min: float
    detour_km: float
    seats_left: int
    band: Band
    already_travelled: bool
    score: tuple[float, float, bool, float, int] = field(repr=False)
    reasons: tuple[str, ...] = ()
    total_detour_min: float = 0.0
    stops: tuple[Stop, ...] = ()
    shifts: tuple[Shift, ...] = ()
    new_times: tuple[tuple[int, datetime, datetime], ...] = ()

    @property
    def added_detour_min(self) -> float:
        """The driver's added detour (same as ``detour_min``)."""
        return self.detour_min


@dataclass(frozen=True, slots=True)
class Booked:
    """A passenger already holding a seat on a run: her booking, her request (hence her
    window and her points) and the pickup / drop-off she was promised (aware datetimes)."""

    booking_id: int
    request: Request
    pickup_at: datetime
    dropoff_at: datetime
    name: str = ""

    pickup_s: float = field(init=False, repr=False, compare=False)
    """``pickup_at`` as UTC epoch seconds (computed once, with ``dropoff_s``)."""
    dropoff_s: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.pickup_at.tzinfo is None or self.dropoff_at.tzinfo is None:
            raise ValueError("promised times must be aware datetimes")
        object.__setattr__(self, "pickup_s", self.pickup_at.timestamp())
        object.__setattr__(self, "dropoff_s", self.dropoff_at.timestamp())


@dataclass(frozen=True, slots=True)
class Stop:
    """One stop of a tour: a pickup or a drop-off, of a booked passenger (``booking_id``)
    or of the new one (``booking_id`` None), with its local time."""

    kind: Literal["pickup", "dropoff"]
    booking_id: int | None
    point: Point
    at: datetime
    name: str = ""


@dataclass(frozen=True, slots=True)
class Shift:
    """A booked passenger whose pickup or drop-off minute moves: before -> after."""

    booking_id: int
    pickup_before: datetime
    pickup_after: datetime
    dropoff_before: datetime
    dropoff_after: datetime
    name: str = ""


def epoch_to_local(seconds: float, tz: str) -> datetime:
    """Aware local datetime for UTC epoch seconds."""
    return datetime.fromtimestamp(seconds, tz=zone(tz))


def hhmm(seconds: float, tz: str) -> str:
    """Local wall-clock HH:MM of UTC epoch ``seconds``, rounded to the nearest minute."""
    return _hhmm_of_minute(math.floor(seconds / 60.0 + 0.5), tz)


@lru_cache(maxsize=16384)
def _hhmm_of_minute(minute: int, tz: str) -> str:
    """HH:MM of a whole UTC minute since the epoch (memoised: a request's candidates share a
    few hours of minutes, and a zoneinfo conversion costs more than the lookup)."""
    r = epoch_to_local(minute * 60.0, tz)
    return f"{r.hour:02d}:{r.minute:02d}"


def minutes_label(x: float) -> int:
    """Whole minutes for display (half up)."""
    return int(math.floor(x + 0.5))
