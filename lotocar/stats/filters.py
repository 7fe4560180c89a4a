"""Query parameters of the statistics pages, parsed with French error messages.

A period is a range of local (Europe/Paris) dates, both included; a request belongs to it
by the date of the trip it asks for (`target_at`), which is also the date of its ride.
The territory is the whole Lot or one EPCI: a trip belongs to an EPCI when it starts or
ends in one of its communes.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Mapping

from lotocar.communes.models import LOT, Commune
from lotocar.core.timeutil import MONTH_NAMES_FR, local_to_utc, today_local
from lotocar.extensions import db
from lotocar.requests.models import RequestReason
from lotocar.requests.operations import UNMET_REASONS_FR

MAX_PERIOD_DAYS = 3700  # about ten years: enough for any report, bounded for the charts
MIN_YEAR = 2000

# Causes of unmet demand: the operators' list, plus two the statistics derive themselves.
CAUSE_EXPIRED = "Restée sans réponse (date passée)"
CAUSE_UNKNOWN = "Cause non précisée"


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


CAUSES: dict[str, str] = {slugify(label): label
                          for label in [*UNMET_REASONS_FR, CAUSE_EXPIRED, CAUSE_UNKNOWN]}
MOTIFS: dict[str, RequestReason] = {reason.value: reason for reason in RequestReason}


class FilterError(ValueError):
    """Invalid query parameters: field name → French message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(" ".join(errors.values()))
        self.errors = errors


@dataclass(frozen=True)
class Scope:
    start: date
    end: date  # included
    epci: str | None = None
    epci_name: str | None = None

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        """UTC instants [from, to) covering the local dates of the period."""
        return local_to_utc(self.start, time(0)), local_to_utc(self.end + timedelta(days=1), time(0))

    @property
    def territory(self) -> str:
        return self.epci_name or "Tout le Lot"

    def months(self) -> list[tuple[int, int]]:
        months, year, month = [], self.start.year, self.start.month
        while (year, month) <= (self.end.year, self.end.month):
            months.append((year, month))
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return months

    @property
    def weeks(self) -> float:
        return ((self.end - self.start).days + 1) / 7

    def args(self) -> dict[str, str]:
        """Query-string form (for links between the pages and to the exports)."""
        args = {"du": self.start.isoformat(), "au": self.end.isoformat()}
        if self.epci:
            args["epci"] = self.epci
        return args

    def label(self) -> str:
        return f"du {format_day(self.start)} au {format_day(self.end)} — {self.territory}"


def format_day(day: date) -> str:
    return f"{day.day} {MONTH_NAMES_FR[day.month - 1]} {day.year}"


MONTH_SHORT_FR = ["janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.",
                  "nov.", "déc."]


def month_label(year: int, month: int) -> str:
    return f"{MONTH_SHORT_FR[month - 1]} {year}"


def default_period(today: date | None = None) -> tuple[date, date]:
    """The last twelve months: from the first day of the month eleven months ago to the
    last day of the current month (requests already taken for later this month count)."""
    today = today or today_local()
    year, month = today.year, today.month - 11
    if month < 1:
        year, month = year - 1, month + 12
    next_month = date(year=today.year + (today.month == 12), month=today.month % 12 + 1, day=1)
    return date(year, month, 1), next_month - timedelta(days=1)


def parse_day(raw: str) -> date | None:
    """`AAAA-MM-JJ` (date fields) or `JJ/MM/AAAA` (typed by hand); None when invalid."""
    raw = raw.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            day = date.fromisoformat(raw)
        elif re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}", raw):
            d, m, y = (int(x) for x in raw.split("/"))
            day = date(y, m, d)
        else:
            return None
    except ValueError:
        return None
    return day if day.year >= MIN_YEAR and day.year <= 2100 else None


def epci_options() -> list[tuple[str, str]]:
    """(SIREN, name) of the EPCIs with communes in the Lot, by name (the territories of the
    statistics; the communes around the Lot are destinations, not territories)."""
    rows = db.session.execute(
        db.select(Commune.epci_siren, Commune.epci_name).where(Commune.departement == LOT)
        .distinct().order_by(Commune.epci_name)
    ).all()
    return [(siren, name) for siren, name in rows]


def parse_scope(args: Mapping[str, str], today: date | None = None) -> Scope:
    """The period and territory asked for (defaults: last twelve months, whole Lot)."""
    errors: dict[str, str] = {}
    default_start, default_end = default_period(today)
    raw_start = (args.get("du") or "").strip()
    raw_end = (args.get("au") or "").strip()
    start = parse_day(raw_start) if raw_start else default_start
    end = parse_day(raw_end) if raw_end else default_end
    if start is None:
        errors["du"] = "Date de début incorrecte : utilisez le format JJ/MM/AAAA (par exemple 01/01/2025)."
    if end is None:
        errors["au"] = "Date de fin incorrecte : utilisez le format JJ/MM/AAAA (par exemple 31/12/2025)."
    if start and end:
        if end < start:
            errors["au"] = "La date de fin doit être après la date de début."
        elif (end - start).days > MAX_PERIOD_DAYS:
            errors["au"] = "La période est limitée à dix ans."
    epci = (args.get("epci") or "").strip() or None
    epci_name = None
    if epci is not None:
        names = dict(epci_options())
        if epci not in names:
            errors["epci"] = "Territoire inconnu : choisissez une intercommunalité (EPCI) du Lot dans la liste."
        epci_name = names.get(epci)
    if errors:
        raise FilterError(errors)
    assert start is not None and end is not None
    return Scope(start, end, epci, epci_name)


def parse_unmet_filters(args: Mapping[str, str]) -> tuple[str | None, RequestReason | None]:
    """Cause (label) and travel reason to keep on the unmet-demand map; None = all."""
    errors: dict[str, str] = {}
    cause_slug = (args.get("cause") or "").strip()
    motif_raw = (args.get("motif") or "").strip()
    cause = CAUSES.get(cause_slug) if cause_slug else None
    motif = MOTIFS.get(motif_raw) if motif_raw else None
    if cause_slug and cause is None:
        errors["cause"] = "Cause inconnue : choisissez une cause dans la liste."
    if motif_raw and motif is None:
        errors["motif"] = "Motif de déplacement inconnu : choisissez un motif dans la liste."
    if errors:
        raise FilterError(errors)
    return cause, motif


def parse_year(raw: str | None, today: date | None = None) -> int:
    today = today or today_local()
    if raw is None or not raw.strip():
        return today.year
    raw = raw.strip()
    if not re.fullmatch(r"\d{4}", raw) or not MIN_YEAR <= int(raw) <= today.year:
        raise FilterError({"annee": f"Année incorrecte : indiquez une année entre {MIN_YEAR} et {today.year}."})
    return int(raw)

