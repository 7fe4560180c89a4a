"""Communes and places: loading the reference lists and looking places up.

Three shipped files (see `data/communes/SOURCES.md`): the Lot's communes, the communes
around it (bordering départements within 30 km, and service towns such as Brive, Montauban
or Toulouse), and the Lot's former communes merged into communes nouvelles. Loading only
adds and flushes; the command that calls it commits.
"""
from __future__ import annotations

import csv
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from lotocar.communes.models import LOT, Commune, FormerCommune
from lotocar.communes.search import (
    CommuneEntry,
    Index,
    Match,
    make_entry,
    make_former_entry,
    normalize,
    resolve,
    search,
)
from lotocar.core import tx
from lotocar.core.types import point_ewkt
from lotocar.extensions import db
from matching import Point, haversine_km

EXPECTED_COLUMNS = ["insee", "name", "postcode", "lat", "lon", "population", "epci_siren", "epci_name"]
FORMER_COLUMNS = ["former_insee", "former_name", "current_insee", "current_name", "lat", "lon",
                  "coord_source", "status_2026", "merged_on"]


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
    departement: str = LOT


@dataclass(frozen=True)
class FormerRow:
    former_insee: str
    name: str
    commune_insee: str
    lat: float
    lon: float
    merged_on: date
    delegated: bool


class CommuneFileError(ValueError):
    pass


def _check_point(n: int, code: str, lat: float, lon: float) -> None:
    if len(code) != 5 or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise CommuneFileError(f"line {n}: bad INSEE code or coordinates")


def read_csv(path: str | Path) -> list[CommuneRow]:
    """A communes file: the Lot's (8 columns) or the neighbours' (the same 8, then
    `departement` and details)."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        fields = reader.fieldnames or []
        if fields[:len(EXPECTED_COLUMNS)] != EXPECTED_COLUMNS or (
                len(fields) > len(EXPECTED_COLUMNS) and "departement" not in fields):
            raise CommuneFileError(f"unexpected columns {reader.fieldnames}, want {EXPECTED_COLUMNS}"
                                   " (then optionally departement, …)")
        rows = []
        for n, raw in enumerate(reader, start=2):
            try:
                insee = raw["insee"].strip()
                row = CommuneRow(
                    insee=insee, name=raw["name"].strip(),
                    postcode=raw["postcode"].strip(), lat=float(raw["lat"]), lon=float(raw["lon"]),
                    population=int(raw["population"]), epci_siren=raw["epci_siren"].strip(),
                    epci_name=raw["epci_name"].strip(),
                    departement=(raw.get("departement") or insee[:2]).strip(),
                )
            except (TypeError, ValueError, AttributeError) as exc:
                raise CommuneFileError(f"line {n}: {exc}") from exc
            _check_point(n, row.insee, row.lat, row.lon)
            if not row.name or not 1 <= len(row.departement) <= 3:
                raise CommuneFileError(f"line {n}: empty name or bad département")
            rows.append(row)
    return rows


def read_former_csv(path: str | Path) -> list[FormerRow]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames != FORMER_COLUMNS:
            raise CommuneFileError(f"unexpected columns {reader.fieldnames}, want {FORMER_COLUMNS}")
        rows = []
        for n, raw in enumerate(reader, start=2):
            try:
                row = FormerRow(
                    former_insee=raw["former_insee"].strip(), name=raw["former_name"].strip(),
                    commune_insee=raw["current_insee"].strip(), lat=float(raw["lat"]),
                    lon=float(raw["lon"]), merged_on=date.fromisoformat(raw["merged_on"].strip()),
                    delegated=raw["status_2026"].strip().startswith("commune déléguée"),
                )
            except (TypeError, ValueError, AttributeError) as exc:
                raise CommuneFileError(f"line {n}: {exc}") from exc
            _check_point(n, row.former_insee, row.lat, row.lon)
            if len(row.commune_insee) != 5 or not row.name:
                raise CommuneFileError(f"line {n}: bad current commune code or empty name")
            rows.append(row)
    return rows


def upsert_communes(rows: list[CommuneRow]) -> Iterator[tuple[str, str]]:
    """Insert or update every row (idempotent). Yields (insee, 'added'|'updated'|'same')."""
    existing = {c.insee: c for c in db.session.scalars(db.select(Commune))}
    for row in rows:
        values = {
            "name": row.name, "search_key": normalize(row.name), "postcode": row.postcode,
            "population": row.population, "epci_siren": row.epci_siren, "epci_name": row.epci_name,
            "lat": row.lat, "lon": row.lon, "departement": row.departement,
        }
        commune = existing.get(row.insee)
        if commune is None:
            commune = Commune(insee=row.insee, geom=point_ewkt(row.lat, row.lon), **values)
            db.session.add(commune)
            existing[row.insee] = commune
            yield row.insee, "added"
            continue
        changed = any(getattr(commune, k) != v for k, v in values.items())
        if changed:
            for k, v in values.items():
                setattr(commune, k, v)
            commune.geom = point_ewkt(row.lat, row.lon)
        yield row.insee, "updated" if changed else "same"
    tx.after_commit(lambda: invalidate_cache)  # the edge commits; the lookup cache follows


def upsert_former(rows: list[FormerRow]) -> Iterator[tuple[str, str]]:
    """Insert or update the former communes (idempotent); their current commune must exist."""
    known = set(db.session.scalars(db.select(Commune.insee)))
    missing = sorted({r.commune_insee for r in rows} - known)
    if missing:
        raise CommuneFileError(f"current communes not loaded: {', '.join(missing)}")
    existing = {f.former_insee: f for f in db.session.scalars(db.select(FormerCommune))}
    for row in rows:
        values = {"name": row.name, "commune_insee": row.commune_insee, "lat": row.lat,
                  "lon": row.lon, "merged_on": row.merged_on, "delegated": row.delegated}
        former = existing.get(row.former_insee)
        if former is None:
            db.session.add(FormerCommune(former_insee=row.former_insee, **values))
            yield row.former_insee, "added"
            continue
        changed = any(getattr(former, k) != v for k, v in values.items())
        for k, v in values.items():
            setattr(former, k, v)
        yield row.former_insee, "updated" if changed else "same"
    db.session.flush()
    tx.after_commit(lambda: invalidate_cache)  # the edge commits; the lookup cache follows


def shipped_files(config: Mapping) -> tuple[list[str], str]:
    """(communes files, former communes file) named by the configuration."""
    return ([config["COMMUNES_CSV"], config["COMMUNES_NEIGHBOURS_CSV"]],
            config["COMMUNES_FORMER_CSV"])


def load_reference_data(config: Mapping) -> None:
    """Every shipped file, without progress output (tests, demo). The caller commits."""
    communes_files, former_file = shipped_files(config)
    for path in communes_files:
        for _ in upsert_communes(read_csv(path)):
            pass
    for _ in upsert_former(read_former_csv(former_file)):
        pass


# --- lookup --------------------------------------------------------------------------

_cache_lock = threading.Lock()
_cache: dict[str, Index] = {}


def invalidate_cache() -> None:
    with _cache_lock:
        _cache.clear()


def build_entries(communes: Sequence[Commune | CommuneRow],
                  formers: Sequence[FormerCommune | FormerRow]) -> list[CommuneEntry]:
    """Search entries: every commune, and every former commune whose name differs from its
    current commune's (Castelnau-Montratier stays one entry). Database rows or file rows."""
    built = {c.insee: make_entry(c.insee, c.name, c.postcode, c.population, c.departement,
                                 c.lat, c.lon) for c in communes}
    out = list(built.values())
    for f in formers:
        current = built.get(f.commune_insee)
        if current is None:
            continue
        key = normalize(f.name)
        at_town_hall = (f.lat, f.lon) == (current.lat, current.lon)
        if key == current.key or (at_town_hall and key in current.key):
            # Saint-Géry in Saint Géry-Vers, at its town hall: the commune itself is that place
            continue
        out.append(make_former_entry(current, f.former_insee, f.name, f.lat, f.lon))
    return out


def index_from_files(communes_files: Sequence[str | Path], former_file: str | Path) -> Index:
    """The lookup index straight from the shipped files (benchmark, pure tests)."""
    rows = [row for path in communes_files for row in read_csv(path)]
    return Index(build_entries(rows, read_former_csv(former_file)))


def index() -> Index:
    key = str(db.engine.url)
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None and len(cached):
        return cached
    built = Index(build_entries(list(db.session.scalars(db.select(Commune))),
                                list(db.session.scalars(db.select(FormerCommune)))))
    if len(built):
        with _cache_lock:
            _cache[key] = built
    return built


def entries() -> list[CommuneEntry]:
    return index().entries


@dataclass(frozen=True)
class Place:
    """What a place field designates: a commune, or a former commune of it."""

    commune: Commune
    former: FormerCommune | None = None

    @property
    def lat(self) -> float:
        return self.former.lat if self.former else self.commune.lat

    @property
    def lon(self) -> float:
        return self.former.lon if self.former else self.commune.lon

    @property
    def name(self) -> str:
        """The place as said: "Vaillac" for a former commune, else the commune's name."""
        return self.former.name if self.former else self.commune.name

    def label(self) -> str:
        return self.former.label() if self.former else self.commune.label()

    def meeting_point(self, place: str | None, lat: float | None, lon: float | None
                      ) -> tuple[str | None, float | None, float | None]:
        """(place text, lat, lon) to store: a former commune's village point and name unless
        a precise point or place text was given."""
        if self.former is None:
            return place, lat, lon
        if lat is None and lon is None:
            lat, lon = self.former.lat, self.former.lon
        return (place or self.former.name), lat, lon


def place_for(entry: CommuneEntry) -> Place | None:
    commune = db.session.get(Commune, entry.insee)
    if commune is None:
        return None
    former = db.session.get(FormerCommune, entry.place_insee) if entry.place_insee else None
    return Place(commune, former)


def find(text: str, limit: int = 10, lot_only: bool = False) -> list[tuple[Place, Match]]:
    matches = search(_lot_index() if lot_only else index(), text, limit=limit)
    if not matches:
        return []
    by_code = {c.insee: c for c in db.session.scalars(
        db.select(Commune).where(Commune.insee.in_({m.entry.insee for m in matches})))}
    formers = {f.former_insee: f for f in db.session.scalars(
        db.select(FormerCommune).where(FormerCommune.former_insee.in_(
            {m.entry.place_insee for m in matches if m.entry.place_insee})))}
    return [(Place(by_code[m.entry.insee], formers.get(m.entry.place_insee or "")), m)
            for m in matches if m.entry.insee in by_code]


def resolve_place(text: str, lot_only: bool = False) -> tuple[Place | None, list[CommuneEntry]]:
    """The place a form field designates, or None and up to 5 suggested entries (best first).

    `lot_only` (a passenger's home): only places of the Lot, never a town outside it; a
    former commune gives its current commune ("Vaillac" → home in Cœur de Causse)."""
    idx = index()
    if lot_only:
        idx = _lot_index()
    entry, found = resolve(idx, text)
    if entry is not None:
        place = place_for(entry)
        if place is not None:
            return place, []
    return None, [m.entry for m in found[:5]]


def _lot_index() -> Index:
    key = f"{db.engine.url}#lot"
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    built = Index(e for e in index().entries if e.in_lot)
    if len(built):
        with _cache_lock:
            _cache[key] = built
    return built


def resolve_commune(text: str, lot_only: bool = False) -> tuple[Commune | None, list[str]]:
    """The commune a field designates (a former commune gives its current one), or None and
    up to 5 suggested labels."""
    place, suggestions = resolve_place(text, lot_only=lot_only)
    if place is not None:
        return place.commune, []
    return None, [e.label for e in suggestions]


def get(insee: str) -> Commune | None:
    return db.session.get(Commune, insee)


def get_place(code: str) -> Place | None:
    """A commune by its INSEE code, or a former commune by its own former code (46325 is
    Vaillac in Cœur de Causse 46138); a code shared by both is the commune itself."""
    commune = db.session.get(Commune, code)
    if commune is not None:
        return Place(commune)
    former = db.session.get(FormerCommune, code)
    if former is not None:
        return Place(former.commune, former)
    return None


def former_at(commune: Commune | None, place: str | None, lat: float | None, lon: float | None
              ) -> FormerCommune | None:
    """The former commune a stored place stands for (its name and its village point)."""
    if commune is None or not place or lat is None or lon is None:
        return None
    for former in commune.former_communes:
        if former.name == place and (former.lat, former.lon) == (lat, lon):
            return former
    return None


def nearest(lat: float, lon: float, max_km: float = 15.0) -> Commune | None:
    """The commune whose town hall is closest to a point (None if farther than max_km)."""
    best, best_km = None, max_km
    here = Point(lat, lon)
    for commune in db.session.scalars(db.select(Commune)):
        km = haversine_km(here, Point(commune.lat, commune.lon))
        if km <= best_km:
            best, best_km = commune, km
    return best
