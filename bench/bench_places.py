"""Benchmark of the place lookup (issue 15): ~900 places, in-process.

Run from the repository root::

    python -m bench.bench_places            # every place x 4 query kinds + the spoken table, 5 rounds
    python -m bench.bench_places --quick    # 1 round (CI smoke check)

Places: the Lot's 312 communes, the 549 around it and the Lot's former communes, read from
the shipped files (``data/communes/``), as `flask communes load` stores them.

Queries (fixed seed): for every place, its name as typed fast (lower case, no accents or
hyphens), its first 4 letters, one typo (two letters swapped, or one dropped), its phonetic
spelling ("sen" for Saint, -que → k, c → k), plus the table of spoken forms of the tests
(tests/spoken_places.py).

Measured: index build time; per-query latency of `search` (the autocomplete) and of
`resolve` (a form field), p50 / p95 / p99 / max; the share of spoken forms found in the first
three suggestions and first; and the same for an honest baseline, the lookup before issue 15
(spelling only: exact / prefix / word / contains, then one `rapidfuzz.fuzz.ratio` per place in a
Python loop), over the same places. The last line is machine-readable (``RESULT ...``).
Exits with status 1 if a spoken form is missing from the first three suggestions or fewer
than 90 % come first (timings are printed against the 5 ms target, never a failure: they
depend on what else runs on the machine).
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rapidfuzz import fuzz

from lotocar.communes.operations import index_from_files
from lotocar.communes.search import CommuneEntry, Index, normalize, resolve, search
from tests.spoken_places import SPOKEN_FORMS

DATA = Path(__file__).resolve().parent.parent / "data" / "communes"


def legacy_search(entries: Sequence[CommuneEntry], text: str, limit: int = 10) -> list[CommuneEntry]:
    """The lookup as it was before issue 15 (spelling only), kept as the baseline."""
    query = normalize(text)
    if not query:
        return []
    qc = query.replace(" ", "")
    qwords = query.split()
    scored: list[tuple[float, CommuneEntry]] = []
    for e in entries:
        if e.key == query or e.compact == qc:
            scored.append((100.0, e))
            continue
        if e.key.startswith(query) or e.compact.startswith(qc):
            scored.append((95.0, e))
            continue
        words, pos, ok = e.key.split(), 0, True
        for qw in qwords:
            while pos < len(words) and not words[pos].startswith(qw):
                pos += 1
            if pos == len(words):
                ok = False
                break
            pos += 1
        if ok:
            scored.append((90.0, e))
            continue
        if len(qc) >= 3 and qc in e.compact:
            scored.append((85.0, e))
            continue
        if len(qc) >= 3:
            full = fuzz.ratio(qc, e.compact)
            head = fuzz.ratio(qc, e.compact[: len(qc) + 1]) if len(qc) >= 4 else 0
            best = max(full, head * 0.97)
            if best >= 78:
                scored.append((min(best, 84.0), e))
    scored.sort(key=lambda se: (-round(se[0]), -se[1].population, se[1].name))
    return [e for _s, e in scored[:limit]]


def _typo(rng: random.Random, word: str) -> str:
    if len(word) < 5:
        return word + word[-1]
    i = rng.randrange(1, len(word) - 2)
    if rng.random() < 0.5:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    return word[:i] + word[i + 1:]


def _spoken(key: str) -> str:
    words = ["sen" if w == "saint" else "sente" if w == "sainte" else w for w in key.split()]
    text = " ".join(words)
    for a, b in (("que", "k"), ("qu", "k"), ("ph", "f"), ("eau", "o"), ("aux", "o"), ("ac", "ak")):
        text = text.replace(a, b)
    return text


def queries(index: Index, seed: int = 46) -> list[str]:
    rng = random.Random(seed)
    out: list[str] = []
    for e in index.entries:
        out += [e.key, e.compact[:4], _typo(rng, e.key), _spoken(e.key)]
    out += [typed for typed, _insee, _place in SPOKEN_FORMS]
    rng.shuffle(out)
    return out


def timed(fn: Callable[[str], object], qs: list[str], rounds: int) -> list[float]:
    durations: list[float] = []
    for _ in range(rounds):
        for q in qs:
            start = time.perf_counter()
            fn(q)
            durations.append((time.perf_counter() - start) * 1000)
    return durations


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def table_score(find: Callable[[str], list[CommuneEntry]]) -> tuple[int, int]:
    first = top3 = 0
    for typed, insee, place in SPOKEN_FORMS:
        hits = [e.insee == insee and (place is None or e.place == place) for e in find(typed)[:3]]
        first += bool(hits and hits[0])
        top3 += any(hits)
    return first, top3


def in_app(qs: list[str], rounds: int) -> tuple[list[float], list[float]]:
    """The same queries through the app's operations (SQLite file, places loaded by the
    operations of `flask communes load`), including the rows fetched for the answer."""
    import tempfile

    from flask_migrate import upgrade

    from lotocar import create_app
    from lotocar.communes import operations
    from lotocar.extensions import db

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.db", "SECRET_KEY": "bench"})
        with app.app_context():
            upgrade()
            operations.load_reference_data(app.config)
            db.session.commit()
            operations.find("cahors")  # the index is built once per process
            found = timed(lambda q: operations.find(q, limit=8), qs, rounds)
            resolved = timed(lambda q: operations.resolve_place(q), qs, rounds)
            db.session.remove()
            db.engine.dispose()
    return found, resolved


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="one round")
    args = ap.parse_args(argv)
    rounds = 1 if args.quick else args.rounds

    start = time.perf_counter()
    index = index_from_files([DATA / "communes_lot.csv", DATA / "communes_neighbours.csv"],
                             DATA / "communes_lot_former.csv")
    build_ms = (time.perf_counter() - start) * 1000
    qs = queries(index)
    in_lot = sum(e.in_lot and not e.is_former for e in index.entries)
    former = sum(e.is_former for e in index.entries)
    print(f"places: {len(index)} ({in_lot} Lot communes, {len(index) - in_lot - former} around, "
          f"{former} former communes); index built in {build_ms:.0f} ms")
    print(f"queries: {len(qs)} x {rounds} rounds")

    timed(lambda q: search(index, q), qs[:200], 1)  # warm-up (phonetic cache of the names)
    new = timed(lambda q: search(index, q, limit=8), qs, rounds)
    res = timed(lambda q: resolve(index, q), qs, rounds)
    old = timed(lambda q: legacy_search(index.entries, q, limit=8), qs, max(1, rounds // 2))
    for label, values in (("search (autocomplete)", new), ("resolve (form field)", res),
                          ("baseline: lookup before #15", old)):
        print(f"{label:30s} p50 {statistics.median(values):6.2f} ms  p95 {pct(values, 95):6.2f} ms  "
              f"p99 {pct(values, 99):6.2f} ms  max {max(values):6.2f} ms")
    first, top3 = table_score(lambda q: [m.entry for m in search(index, q, limit=3)])
    old_first, old_top3 = table_score(lambda q: legacy_search(index.entries, q, limit=3))
    n = len(SPOKEN_FORMS)
    print(f"spoken forms ({n}): first {first} ({first / n:.0%}), first three {top3} ({top3 / n:.0%}); "
          f"baseline: first {old_first} ({old_first / n:.0%}), first three {old_top3} ({old_top3 / n:.0%})")
    app_find, app_resolve = in_app(qs, max(1, rounds // 2))
    print(f"{'in the app: find (SQLite)':30s} p50 {statistics.median(app_find):6.2f} ms  "
          f"p95 {pct(app_find, 95):6.2f} ms  p99 {pct(app_find, 99):6.2f} ms  max {max(app_find):6.2f} ms")
    print(f"{'in the app: resolve_place':30s} p50 {statistics.median(app_resolve):6.2f} ms  "
          f"p95 {pct(app_resolve, 95):6.2f} ms  p99 {pct(app_resolve, 99):6.2f} ms  max {max(app_resolve):6.2f} ms")
    print(f"RESULT places={len(index)} queries={len(new)} p50_ms={statistics.median(new):.3f} "
          f"p95_ms={pct(new, 95):.3f} resolve_p95_ms={pct(res, 95):.3f} "
          f"app_find_p95_ms={pct(app_find, 95):.3f} baseline_p95_ms={pct(old, 95):.3f} spoken_first={first / n:.3f} spoken_top3={top3 / n:.3f} "
          f"baseline_first={old_first / n:.3f} baseline_top3={old_top3 / n:.3f}")
    target = "met" if max(pct(app_find, 95), pct(new, 95)) <= 5.0 else "NOT met (compare on a quiet machine)"
    print(f"target p95 <= 5 ms in-process: {target}")
    # timings depend on the machine's load; only a wrong answer fails the run
    return 0 if top3 == n and first >= 0.9 * n else 1


if __name__ == "__main__":
    raise SystemExit(main())
