"""Communes: loading the reference list and looking communes up."""
from __future__ import annotations

import csv
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from lotocar.communes.models import Commune
from lotocar.communes.search import CommuneEntry, Match, make_entry, normalize, resolve, search
from lotocar.core import tx
from lotocar.core.types import point_ewkt
from lotocar.extensions import db

EXPECTED_COLUMNS = ["insee", "name", "postcode", "lat", "lon", "population", "epci_siren", "epci_name"]


@dataclass(frozen=True)
class CommuneRow:
    insee: str
    name: str
    postcode: str
    lat: float
    lon: float
    population: int
    epci_siren: str
    epci_name: str


class CommuneFileError(ValueError):
    pass


def read_csv(path: str | Path) -> list[CommuneRow]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames != EXPECTED_COLUMNS:
            raise CommuneFileError(f"unexpected columns {reader.fieldnames}, want {EXPECTED_COLUMNS}")
        rows = []
        for n, raw in enumerate(reader, start=2):
            try:
                row = CommuneRow(
                    insee=raw["insee"].strip(), name=raw["name"].strip(),
                    postcode=raw["postcode"].strip(), lat=float(raw["lat"]), lon=float(raw["lon"]),
                    population=int(raw["population"]), epci_siren=raw["epci_siren"].strip(),
                    epci_name=raw["epci_name"].strip(),
                )
            except (TypeError, ValueError) as exc:
                raise CommuneFileError(f"line {n}: {exc}") from exc
            if len(row.insee) != 5 or not (-90 <= row.lat <= 90 and -180 <= row.lon <= 180):
                raise CommuneFileError(f"line {n}: bad INSEE code or coordinates")
            rows.append(row)
    return rows


def upsert_communes(rows: list[CommuneRow]) -> Iterator[tuple[str, str]]:
    """Insert or update every row (idempotent). Yields (insee, 'added'|'updated'|'same')."""
    existing = {c.insee: c for c in db.session.scalars(db.select(Commune))}
    for row in rows:
        values = dict(
            name=row.name, search_key=normalize(row.name), postcode=row.postcode,
            population=row.population, epci_siren=row.epci_siren, epci_name=row.epci_name,
            lat=row.lat, lon=row.lon,
        )
        commune = existing.get(row.insee)
        if commune is None:
            db.session.add(Commune(insee=row.insee, geom=point_ewkt(row.lat, row.lon), **values))
            yield row.insee, "added"
            continue
        changed = any(getattr(commune, k) != v for k, v in values.items())
        if changed:
            for k, v in values.items():
                setattr(commune, k, v)
            commune.geom = point_ewkt(row.lat, row.lon)
        yield row.insee, "updated" if changed else "same"
    tx.after_commit(lambda: invalidate_cache)  # the edge commits; the lookup cache follows


# --- lookup --------------------------------------------------------------------------

_cache_lock = threading.Lock()
_cache: dict[str, list[CommuneEntry]] = {}


def invalidate_cache() -> None:
    with _cache_lock:
        _cache.clear()


def entries() -> list[CommuneEntry]:
    key = str(db.engine.url)
    with _cache_lock:
        cached = _cache.get(key)
    if cached:
        return cached
    rows = db.session.execute(
        db.select(Commune.insee, Commune.name, Commune.postcode, Commune.population)
    ).all()
    built = [make_entry(r.insee, r.name, r.postcode, r.population) for r in rows]
    if built:
        with _cache_lock:
            _cache[key] = built
    return built


def find(text: str, limit: int = 10) -> list[tuple[Commune, Match]]:
    matches = search(entries(), text, limit=limit)
    if not matches:
        return []
    by_code = {
        c.insee: c
        for c in db.session.scalars(
            db.select(Commune).where(Commune.insee.in_([m.entry.insee for m in matches]))
        )
    }
    return [(by_code[m.entry.insee], m) for m in matches if m.entry.insee in by_code]


def resolve_commune(text: str) -> tuple[Commune | None, list[str]]:
    """The commune a form field designates, or None and up to 5 suggested labels."""
    entry, found = resolve(entries(), text)
    if entry is not None:
        return db.session.get(Commune, entry.insee), []
    return None, [f"{m.entry.name} ({m.entry.postcode})" for m in found[:5]]


def get(insee: str) -> Commune | None:
    return db.session.get(Commune, insee)


def nearest(lat: float, lon: float, max_km: float = 15.0) -> Commune | None:
    """The commune whose town hall is closest to a point (None if farther than max_km)."""
    from matching import Point, haversine_km

    best, best_km = None, max_km
    here = Point(lat, lon)
    for commune in db.session.scalars(db.select(Commune)):
        km = haversine_km(here, Point(commune.lat, commune.lon))
        if km <= best_km:
            best, best_km = commune, km
    return best
