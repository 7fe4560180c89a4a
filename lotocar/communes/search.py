"""Finding a place from what a person types or says on the phone.

Pure functions over plain data. A place is a commune (of the Lot or around it) or a former
commune merged into a commune nouvelle ("Cœur de Causse — Vaillac"). The lookup is tolerant
to accents, case, hyphens and apostrophes, `St`/`Saint`, `Ste`/`Sainte`, postcodes and INSEE
codes, and to what is heard rather than spelt: every name also has a French phonetic key
(the "phonétique française" algorithm of Édouard Bergé, package `phonetic-fr`: -que/-k,
-aux/-o, c/k/qu, s/z/c before e/i, silent final letters, é/è/ai), and typos are caught by
edit distance (`rapidfuzz`) on both the spelling and the phonetic key.

Ranking: closeness of the match first, then Lot communes before the neighbours, then
population (a caller saying "Saint-..." more likely means a big village).
"""
from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

from phonetic_fr import phonetic
from rapidfuzz import fuzz, process

LOT = "46"
_ABBREVIATIONS = {"st": "saint", "ste": "sainte", "s": "saint"}
# how "Saint" / "Sainte" get written by someone typing what they hear
_SPOKEN = {"sen": "saint", "sin": "saint", "sain": "saint", "sein": "saint", "saints": "saint",
           "sint": "saint", "sinte": "sainte", "sainte": "sainte", "sente": "sainte"}
# words callers drop or mumble: "villefranche rouergue", "brive gaillarde"
PARTICLES = frozenset({"de", "du", "des", "la", "le", "les", "l", "d", "en", "sur", "sous", "et",
                       "au", "aux", "lo"})
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_ILL = re.compile(r"([AEIOU])IL(?=[AEIOU]|$)")  # Vaillac ~ "vayac", Souillac ~ "souyac"
_AI = re.compile(r"AI(?=[^AEIOU]|$)")  # Vayrac ~ "vérac"
FUZZY_CUTOFF = 75.0

# score tiers (100 = exact); `how` says which rule matched
EXACT, CODE, PREFIX, PHONETIC, WORD, SOUNDS_LIKE, CONTAINS, FUZZY_MAX = (
    100.0, 100.0, 95.0, 92.0, 90.0, 87.0, 85.0, 84.0)
LITERAL = frozenset({"exact", "prefix", "word", "code"})  # what a form may choose by itself


def normalize(text: str) -> str:
    """'Saint-Géry-Vers' / "st gery vers" / "ST-GÉRY" → 'saint gery vers'."""
    text = unicodedata.normalize("NFKD", text or "")
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.lower().replace("œ", "oe").replace("æ", "ae")
    words = _NON_ALNUM.sub(" ", text).split()
    return " ".join(_ABBREVIATIONS.get(w, w) for w in words)


@lru_cache(maxsize=4096)
def _word_sound(word: str) -> str:
    return _AI.sub("E", _ILL.sub(r"\1I", phonetic(_SPOKEN.get(word, word))))


def sound_key(key: str) -> tuple[str, str]:
    """Phonetic key of a normalized name, and the same without particles ("de", "la"…)."""
    words = key.split()
    full = "".join(_word_sound(w) for w in words)
    core = "".join(_word_sound(w) for w in words if w not in PARTICLES)
    return full, core


@dataclass(frozen=True, slots=True)
class CommuneEntry:
    """A searchable place: a commune, or a former commune (`place_insee`, `place`)."""

    insee: str  # the current commune
    name: str  # the current commune's name
    postcode: str
    population: int
    key: str  # normalize(searched name)
    compact: str  # key without spaces
    departement: str = LOT
    place: str | None = None  # former commune's name
    place_insee: str | None = None  # former commune's code
    lat: float | None = None  # the place's point (the village of a former commune)
    lon: float | None = None
    sound: str = ""
    sound_core: str = ""

    @property
    def in_lot(self) -> bool:
        return self.departement == LOT

    @property
    def is_former(self) -> bool:
        return self.place_insee is not None

    @property
    def label(self) -> str:
        if self.place is not None:
            return f"{self.name} — {self.place}"
        if self.in_lot:
            return f"{self.name} ({self.postcode})"
        return f"{self.name} ({self.departement})"

    @property
    def ident(self) -> str:
        return f"{self.insee}/{self.place_insee}" if self.place_insee else self.insee


@dataclass(frozen=True, slots=True)
class Match:
    entry: CommuneEntry
    score: float  # 100 = exact; higher is closer
    how: str  # exact | code | prefix | phonetic | word | sounds_like | contains | fuzzy


def make_entry(insee: str, name: str, postcode: str, population: int, departement: str = LOT,
               lat: float | None = None, lon: float | None = None) -> CommuneEntry:
    key = normalize(name)
    sound, core = sound_key(key)
    return CommuneEntry(insee, name, postcode, population, key, key.replace(" ", ""),
                        departement, lat=lat, lon=lon, sound=sound, sound_core=core)


def make_former_entry(commune: CommuneEntry, former_insee: str, former_name: str,
                      lat: float, lon: float) -> CommuneEntry:
    key = normalize(former_name)
    sound, core = sound_key(key)
    return CommuneEntry(commune.insee, commune.name, commune.postcode, commune.population, key,
                        key.replace(" ", ""), commune.departement, former_name, former_insee,
                        lat, lon, sound, core)


class Index:
    """The places prepared for fast lookup (built once, shared read-only)."""

    def __init__(self, entries: Iterable[CommuneEntry]) -> None:
        self.entries: list[CommuneEntry] = list(entries)
        self.compacts = [e.compact for e in self.entries]
        self.sounds = [e.sound for e in self.entries]
        self.cores = [e.sound_core for e in self.entries]
        self.by_insee = {e.insee: e for e in self.entries if not e.is_former}
        self.by_former = {e.place_insee: e for e in self.entries if e.is_former}
        self.by_label = {normalize(e.label): e for e in self.entries}
        # sorted (text, position) lists: exact and prefix matches by bisection, not by a scan
        self.sorted_keys = sorted((e.key, i) for i, e in enumerate(self.entries))
        self.sorted_compacts = sorted((e.compact, i) for i, e in enumerate(self.entries))
        self.sorted_sounds = sorted((e.sound, i) for i, e in enumerate(self.entries) if e.sound)
        self.sorted_cores = sorted((e.sound_core, i) for i, e in enumerate(self.entries) if e.sound_core)
        self.sorted_words = sorted({(w, i) for i, e in enumerate(self.entries) for w in e.key.split()})

    def __len__(self) -> int:
        return len(self.entries)


def _starting(pairs: list[tuple[str, int]], prefix: str) -> Iterator[tuple[str, int]]:
    """The (text, position) pairs whose text starts with `prefix`."""
    if not prefix:
        return
    j = bisect_left(pairs, (prefix, -1))
    while j < len(pairs) and pairs[j][0].startswith(prefix):
        yield pairs[j]
        j += 1


def _as_index(entries: Index | Sequence[CommuneEntry]) -> Index:
    return entries if isinstance(entries, Index) else Index(entries)


def _words_in_order(qwords: list[str], words: list[str]) -> bool:
    """Every typed word is the start of a distinct word of the name, in order."""
    pos = 0
    for qw in qwords:
        while pos < len(words) and not words[pos].startswith(qw):
            pos += 1
        if pos == len(words):
            return False
        pos += 1
    return True


def _fuzzy(query: str, choices: list[str], cutoff: float) -> dict[int, float]:
    if not query:
        return {}
    return {i: s for _c, s, i in process.extract(query, choices, scorer=fuzz.ratio, limit=None,
                                                  score_cutoff=cutoff)}


def _sort_key(m: Match) -> tuple:
    e = m.entry
    return (-round(m.score), not e.in_lot, -e.population, e.is_former, e.name, e.place or "")


def _code_search(index: Index, digits: str, limit: int) -> list[Match]:
    hits: list[Match] = []
    if len(digits) == 5:
        if digits in index.by_insee:
            hits.append(Match(index.by_insee[digits], CODE, "code"))
        former = index.by_former.get(digits)
        if former is not None and former.place_insee != former.insee:
            hits.append(Match(former, CODE, "code"))
    seen = {m.entry.ident for m in hits}
    hits += [Match(e, 99.0, "code") for e in index.entries
             if not e.is_former and e.postcode.startswith(digits) and e.ident not in seen]
    hits.sort(key=_sort_key)
    return hits[:limit]


def search(entries: Index | Sequence[CommuneEntry], text: str, limit: int = 10) -> list[Match]:
    """Places matching `text`, best first (closeness, then Lot first, then population)."""
    index = _as_index(entries)
    raw = (text or "").strip()
    if not raw:
        return []
    digits = raw.replace(" ", "")
    if digits.isdigit():
        return _code_search(index, digits, limit)
    query = normalize(raw)
    if not query:
        return []
    qcompact = query.replace(" ", "")
    qwords = query.split()
    qsound, qcore = sound_key(query)
    long_enough = len(qcompact) >= 3
    fuzzy: dict[int, float] = {}

    def keep(scores: dict[int, float], weight: float) -> None:
        for i, s in scores.items():
            s = s * weight
            if s > fuzzy.get(i, 0.0):
                fuzzy[i] = s

    if long_enough:
        keep(_fuzzy(qcompact, index.compacts, FUZZY_CUTOFF), 1.0)
        # what is heard: a sound key is shorter, so each of its differences weighs more
        keep(_fuzzy(qsound, index.sounds, FUZZY_CUTOFF), 0.97)
        keep(_fuzzy(qcore, index.cores, FUZZY_CUTOFF), 0.96)
        if len(qcompact) >= 4:  # a typo at the start of a long name: compare with its start
            n = len(qcompact) + 1
            keep(_fuzzy(qcompact, [c[:n] for c in index.compacts], FUZZY_CUTOFF), 0.95)
        if len(qsound) >= 5:
            m = len(qsound) + 1
            keep(_fuzzy(qsound, [s[:m] for s in index.sounds], FUZZY_CUTOFF), 0.93)
    # the closest rule of each place wins; rules from the loosest to the closest
    found: dict[int, tuple[float, str]] = {i: (min(s, FUZZY_MAX), "fuzzy") for i, s in fuzzy.items()}
    if long_enough:
        for i, c in enumerate(index.compacts):
            if qcompact in c:
                found[i] = (CONTAINS, "contains")
        if len(qsound) >= 3:
            for _t, i in _starting(index.sorted_sounds, qsound):
                found[i] = (SOUNDS_LIKE, "sounds_like")
        if len(qcore) >= 3:
            for _t, i in _starting(index.sorted_cores, qcore):
                found[i] = (SOUNDS_LIKE, "sounds_like")
    for i in {i for _w, i in _starting(index.sorted_words, qwords[0])}:
        if _words_in_order(qwords, index.entries[i].key.split()):
            found[i] = (WORD, "word")
    if qsound:
        for pairs, wanted in ((index.sorted_sounds, qsound), (index.sorted_cores, qcore)):
            for t, i in _starting(pairs, wanted):
                if t == wanted:
                    found[i] = (PHONETIC, "phonetic")
    for pairs, wanted in ((index.sorted_keys, query), (index.sorted_compacts, qcompact)):
        for _t, i in _starting(pairs, wanted):
            found[i] = (PREFIX, "prefix")
    for pairs, wanted in ((index.sorted_keys, query), (index.sorted_compacts, qcompact)):
        for t, i in _starting(pairs, wanted):
            if t == wanted:
                found[i] = (EXACT, "exact")
    matches = [Match(index.entries[i], score, how) for i, (score, how) in found.items()]
    matches.sort(key=_sort_key)
    return matches[:limit]


_LABEL = re.compile(r"^(?P<name>.+?)\s*\((?P<code>\d{5}|\d{2})\)\s*$")
_PLACE_LABEL = re.compile(r"^(?P<commune>.+?)\s+[—–-]\s+(?P<place>.+)$")


def _by_label(index: Index, raw: str) -> CommuneEntry | None:
    label = _LABEL.match(raw)
    if label:
        name_key = normalize(label.group("name"))
        code = label.group("code")
        for e in index.entries:
            if not e.is_former and e.key == name_key and code in (e.postcode, e.insee, e.departement):
                return e
        return None
    if _PLACE_LABEL.match(raw):
        return index.by_label.get(normalize(raw))
    return None


def resolve(entries: Index | Sequence[CommuneEntry], text: str
            ) -> tuple[CommuneEntry | None, list[Match]]:
    """One place for a form field, or None with suggestions.

    Accepts the autocomplete labels ("Cahors (46000)", "Brive-la-Gaillarde (19)",
    "Cœur de Causse — Vaillac"), an INSEE code, or a name that is the single exact match or
    the single clear prefix match. Phonetic and fuzzy matches are only ever suggested.
    """
    index = _as_index(entries)
    raw = (text or "").strip()
    labelled = _by_label(index, raw)
    if labelled is not None:
        return labelled, []
    label = _LABEL.match(raw)
    if label:
        raw = label.group("name")
    found = search(index, raw, limit=6)
    if not found:
        return None, []
    best = found[0]
    exact = [m for m in found if m.how in ("exact", "code") and m.score == best.score]
    if best.how in ("exact", "code"):
        # a name both in the Lot and next door (Cazals 46 / 82) is asked, never guessed
        return (best.entry, found) if len(exact) == 1 else (None, found)
    strong = [m for m in found if m.how in LITERAL]
    if len(strong) == 1 and strong[0] is best and (
            best.entry.in_lot or _whole_words(normalize(raw), best.entry.key)):
        # a single clear prefix/word match: "cahor" is Cahors, "Brive" Brive-la-Gaillarde,
        # but "Paris" is not silently Parisot (82)
        return best.entry, found
    return None, found


def _whole_words(query: str, key: str) -> bool:
    qwords, words = query.split(), key.split()
    return len(qwords) <= len(words) and words[:len(qwords)] == qwords
