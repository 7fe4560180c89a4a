"""French wording of numbers, distances and request windows, for every page (and texts).

One place for each rule, so the console, the drivers' pages and the exports say the same:

- numbers: decimal comma, narrow no-break space between thousands ("1 234,5");
- a unit follows its number after a no-break space ("5,9 km", "2,50 €");
- a request's window: "arrive by T with flexibility F" is [T − F, T] (never after T),
  "leave after T with flexibility F" is [T, T + F] (never before T) — the matcher's rule
  (`matching.model`), worded as such, never as "± F";
- a second time on the same day as the first is given as the time alone ("arrivée vers 09:17").
"""
from __future__ import annotations

from datetime import datetime, timedelta

from lotocar.core.timeutil import format_date_fr, format_datetime_fr, format_time_fr, to_local

NBSP = "\u00a0"  # between a number and its unit
NNBSP = "\u202f"  # between groups of thousands

ARRIVE_BY = "arrive_by"
LEAVE_AFTER = "leave_after"


def number_fr(value: float | int | None, decimals: int = 0) -> str:
    """1234.5 → '1 234,5' (decimal comma, narrow no-break spaces); None → '—'."""
    if value is None:
        return "—"
    rounded = round(float(value), decimals)
    text = f"{(rounded if rounded else 0.0):,.{decimals}f}"  # never "-0,0"
    return text.replace(",", NNBSP).replace(".", ",")


def km_fr(value: float | int | None, decimals: int = 1) -> str:
    """5.94 → '5,9 km'."""
    return "—" if value is None else f"{number_fr(value, decimals)}{NBSP}km"


def eur_fr(value: float | int | None) -> str:
    """2.5 → '2,50 €' (an amount in euros; amounts in cents: `contributions.pricing.format_eur`)."""
    return "—" if value is None else f"{number_fr(value, 2)}{NBSP}€"


def _mode_value(mode) -> str:
    return getattr(mode, "value", mode)


def _other_day(edge: datetime, target: datetime) -> str:
    delta = (edge.date() - target.date()).days
    if delta == 0:
        return ""
    if delta == -1:
        return " la veille"
    if delta == 1:
        return " le lendemain"
    return f" le {format_date_fr(edge.date())}"


def window_bounds(mode, target_local: datetime, flexibility_min: int) -> tuple[datetime, datetime]:
    """The window as the matcher applies it: [T − F, T] to arrive by T, [T, T + F] to leave after T."""
    flex = timedelta(minutes=max(int(flexibility_min or 0), 0))
    if _mode_value(mode) == ARRIVE_BY:
        return target_local - flex, target_local
    return target_local, target_local + flex


def window_fr(mode, target_local: datetime, flexibility_min: int, with_date: bool = True) -> str:
    """A request's window in words, for both modes.

    with_date:  'Arrivée au plus tard le mardi 8 décembre 2026 à 09:00, pas avant 08:30'
                'Départ à partir du mardi 8 décembre 2026 à 09:00, au plus tard 09:30'
    short:      'arrivée entre 08:30 et 09:00' / 'départ entre 09:00 et 09:30'
    """
    target_local = to_local(target_local) if target_local.tzinfo is not None else target_local
    start, end = window_bounds(mode, target_local, flexibility_min)
    arrive = _mode_value(mode) == ARRIVE_BY
    has_window = start != end
    if not with_date:
        word = "arrivée" if arrive else "départ"
        if not has_window:
            return f"{word} à {format_time_fr(target_local)} au plus tard" if arrive \
                else f"{word} à {format_time_fr(target_local)}"
        first = format_time_fr(start) + (_other_day(start, target_local) if arrive else "")
        last = format_time_fr(end) + ("" if arrive else _other_day(end, target_local))
        return f"{word} entre {first} et {last}"
    when = f"{format_date_fr(target_local.date())} à {format_time_fr(target_local)}"
    if arrive:
        text = f"Arrivée au plus tard le {when}"
        return text + (f", pas avant {format_time_fr(start)}{_other_day(start, target_local)}" if has_window else "")
    if not has_window:
        return f"Départ le {when}"
    return f"Départ à partir du {when}, au plus tard {format_time_fr(end)}{_other_day(end, target_local)}"


def request_window_fr(request, with_date: bool = True) -> str:
    """`window_fr` of a TripRequest (anything with mode, target_at (UTC) and flexibility_min)."""
    return window_fr(request.mode, to_local(request.target_at), request.flexibility_min, with_date)


def then_fr(value: datetime | None, reference: datetime | None) -> str:
    """A second instant after `reference`: its time alone on the same local day
    ('09:17'), else the full date and time. Both aware (or naive UTC, as the database gives)."""
    if value is None:
        return ""
    if reference is not None and to_local(value).date() == to_local(reference).date():
        return format_time_fr(to_local(value))
    return format_datetime_fr(value)
