"""Finding a commune from what a person types or says on the phone.

Pure functions over plain data: tolerant to accents, case, hyphens and apostrophes,
`St`/`Saint`, `Ste`/`Sainte`, and small typos. Results are ranked by closeness of the
match, then by population (a caller saying "Saint-..." more likely means a big village).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable, Sequence

from rapidfuzz import fuzz

_ABBREVIATIONS = {"st": "saint", "ste": "sainte", "s": "saint"}
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def normalize(text: str) -> str:
    """'Saint-Géry-Vers' / "st gery vers" / "ST-GÉRY" → 'saint gery vers'."""
    text = unicodedata.normalize("NFKD", text or "")
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.lower().replace("œ", "oe").replace("æ", "ae")
    words = _NON_ALNUM.sub(" ", text).split()
    return " ".join(_ABBREVIATIONS.get(w, w) for w in words)


@dataclass(frozen=True, slots=True)
class CommuneEntry:
    insee: str
    name: str
    postcode: str
    population: int
    key: str  # normalize(name)
    compact: str  # key without spaces


@dataclass(frozen=True, slots=True)
class Match:
    entry: CommuneEntry
    score: float  # 100 = exact; higher is closer
    how: str  # exact | prefix | word | contains | fuzzy | code


def make_entry(insee: str, name: str, postcode: str, population: int) -> CommuneEntry:
    key = normalize(name)
    return CommuneEntry(insee, name, postcode, population, key, key.replace(" ", ""))


def _score(query: str, qcompact: str, entry: CommuneEntry) -> tuple[float, str] | None:
    if entry.key == query or entry.compact == qcompact:
        return 100.0, "exact"
    if entry.key.startswith(query) or entry.compact.startswith(qcompact):
        return 95.0, "prefix"
    words = entry.key.split()
    qwords = query.split()
    # every typed word is the start of a distinct word of the name, in order
    pos = 0
    matched = True
    for qw in qwords:
        while pos < len(words) and not words[pos].startswith(qw):
            pos += 1
        if pos == len(words):
            matched = False
            break
        pos += 1
    if matched:
        return 90.0, "word"
    if len(qcompact) >= 3 and qcompact in entry.compact:
        return 85.0, "contains"
    if len(qcompact) >= 3:
        full = fuzz.ratio(qcompact, entry.compact)
        # typo in the first word(s) of a long name: compare with the name's start
        head = fuzz.ratio(qcompact, entry.compact[: len(qcompact) + 1]) if len(qcompact) >= 4 else 0
        best = max(full, head * 0.97)
        if best >= 78:
            return min(best, 84.0) - (0 if best == full else 0.5), "fuzzy"
    return None


def search(entries: Sequence[CommuneEntry], text: str, limit: int = 10) -> list[Match]:
    """Communes matching `text`, best first (closeness, then population)."""
    raw = (text or "").strip()
    if not raw:
        return []
    digits = raw.replace(" ", "")
    if digits.isdigit():
        if len(digits) == 5 and digits.startswith("46") and any(e.insee == digits for e in entries):
            hits = [Match(e, 100.0, "code") for e in entries if e.insee == digits]
        else:
            hits = [Match(e, 99.0, "code") for e in entries if e.postcode.startswith(digits)]
        hits.sort(key=lambda m: (-m.score, -m.entry.population, m.entry.name))
        return hits[:limit]
    query = normalize(raw)
    if not query:
        return []
    qcompact = query.replace(" ", "")
    matches: list[Match] = []
    for entry in entries:
        scored = _score(query, qcompact, entry)
        if scored is not None:
            matches.append(Match(entry, scored[0], scored[1]))
    # closeness first (coarse tiers for the exact kinds, finer for fuzzy), then population
    matches.sort(key=lambda m: (-round(m.score), -m.entry.population, m.entry.name))
    return matches[:limit]


_LABEL = re.compile(r"^(?P<name>.+?)\s*\((?P<code>\d{5})\)\s*$")


def resolve(entries: Iterable[CommuneEntry], text: str) -> tuple[CommuneEntry | None, list[Match]]:
    """One commune for a form field, or None with suggestions.

    Accepts the autocomplete label "Cahors (46000)", an INSEE code, or a name that is an
    exact match or the single clear best match.
    """
    entries = list(entries)
    raw = (text or "").strip()
    label = _LABEL.match(raw)
    if label:
        name_key = normalize(label.group("name"))
        code = label.group("code")
        for e in entries:
            if e.key == name_key and (e.postcode == code or e.insee == code):
                return e, []
        raw = label.group("name")
    found = search(entries, raw, limit=6)
    if not found:
        return None, []
    best = found[0]
    if best.how == "exact":
        return best.entry, found
    if best.how == "code" and (len(found) == 1 or found[1].score < best.score):
        return best.entry, found
    strong = [m for m in found if m.score >= 90]
    if len(strong) == 1 and strong[0] is best:  # a single clear prefix/word match
        return best.entry, found
    return None, found
