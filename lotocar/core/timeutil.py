"""Time helpers: UTC in the database, Europe/Paris on screen."""
from __future__ import annotations

from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

from lotocar.core import clock
from lotocar.core.clock import PARIS

WEEKDAY_NAMES_FR = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]
WEEKDAY_SHORT_FR = ["lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim."]
MONTH_NAMES_FR = [
    "janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
    "septembre", "octobre", "novembre", "décembre",
]


def utcnow() -> datetime:
    """The current instant in UTC, from the app's one clock (`lotocar.core.clock`)."""
    return clock.now_utc()


def today_local(tz: ZoneInfo = PARIS) -> date:
    return clock.today_local(tz)


def local_to_utc(day: date, at: time, tz: ZoneInfo = PARIS) -> datetime:
    """Wall-clock time in `tz` on `day` → aware UTC datetime.

    A time that does not exist (spring-forward gap) is resolved by zoneinfo's fold=0 rule,
    which moves it forward by the gap; an ambiguous one (autumn) takes the first (summer)
    instant. The matcher applies the same rule.
    """
    return datetime.combine(day, at, tzinfo=tz).astimezone(timezone.utc)


def missing_local_time(day: date, at: time, tz: ZoneInfo = PARIS) -> str | None:
    """A French message when `at` does not exist on `day` (the spring-forward night, when
    clocks jump from 02:00 to 03:00), else None."""
    naive = datetime.combine(day, at)
    back = datetime.combine(day, at, tzinfo=tz).astimezone(timezone.utc).astimezone(tz)
    if back.replace(tzinfo=None) == naive:
        return None
    jump_from = naive.replace(minute=0, second=0, microsecond=0)
    jump_to = jump_from + (back.replace(tzinfo=None) - naive)
    return (f"{at.hour:02d}:{at.minute:02d} n'existe pas ce jour-là : la nuit du passage à l'heure "
            f"d'été, les horloges passent de {jump_from:%H:%M} à {jump_to:%H:%M}. Indiquez une heure "
            f"avant {jump_from:%H:%M} ou à partir de {jump_to:%H:%M}.")


def to_local(value: datetime, tz: ZoneInfo = PARIS) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(tz)


def format_date_fr(day: date) -> str:
    return f"{WEEKDAY_NAMES_FR[day.weekday()]} {day.day} {MONTH_NAMES_FR[day.month - 1]} {day.year}"


def format_time_fr(at: time | datetime) -> str:
    return f"{at.hour:02d}:{at.minute:02d}"


def format_datetime_fr(value: datetime, tz: ZoneInfo = PARIS) -> str:
    local = to_local(value, tz)
    return f"{format_date_fr(local.date())} à {format_time_fr(local)}"
