"""Benchmark of the matching library on realistic synthetic Lot data.

Run from the repository root::

    python -m bench.bench_matching                 # 100,000 offer-days, 1,000 requests
    python -m bench.bench_matching --quick         # CI smoke check (5,000 / 100)
    python bench/bench_matching.py --offer-days 20000 --requests 500

Data (fixed seed): communes from ``communes_lot.csv``; drivers' origins and passengers'
pick-ups weighted by population; destinations mostly Cahors, Figeac, Gourdon, Souillac
and Saint-Céré, some random; regular trips (mostly Mon–Fri) expanded over a 4-week
horizon that crosses the March 2026 DST change, plus one-off trips; departures
06:30–19:00, accepted detours 0–20 min; some seats already taken. Booked passengers
(issue #12, a separate random stream so the rest of the data is unchanged): about 30 % of
the runs carry one passenger and 10 % two, each inserted into the run's tour by
``matching.tours.plan_tour`` with a window around her times, so requests meeting those
runs go through the tour check (insertion, re-ordering, shift bound).

Measured: index build time and its resident memory (RSS growth over the build),
per-request latency of the indexed matcher (index query + exact check + ranking), and on
the same requests the two honest baselines of ``bench/baselines.py`` with the same exact
check: a numpy vectorised scan over precomputed per-offer arrays, and (``--postgres URL``)
the PostGIS query with a GiST-indexed detour-ellipse polygon. Recall of every method
against the brute-force oracle on a sample (must be 1.000 with identical candidate lists).
Exits with status 1 on any disagreement. The last line is machine-readable (``RESULT ...``).

    python -m bench.bench_matching --offer-days 1000000 --postgres postgresql://postgres@127.0.0.1/postgres
"""

from __future__ import annotations

import argparse
import csv
import gc
import os
import random
import resource
import statistics
import sys
import time as clock
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.baselines import NumpyScan, PostgisScan  # noqa: E402
from matching import (  # noqa: E402
    Booked,
    Candidate,
    CorridorIndex,
    Matcher,
    Offer,
    Point,
    Recurrence,
    Request,
    StraightLineRouter,
    brute_force_candidates,
)
from matching.model import epoch_to_local  # noqa: E402
from matching.tours import describe, plan_tour  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CSV_CANDIDATES = (
    ROOT / "data" / "communes" / "communes_lot.csv",  # shipped with the project
    ROOT.parent / "shared" / "data" / "communes_lot.csv",
)
HUBS: tuple[tuple[str, float], ...] = (
    ("Cahors", 0.42),
    ("Figeac", 0.20),
    ("Gourdon", 0.10),
    ("Souillac", 0.08),
    ("Saint-Céré", 0.07),
)
HORIZON_START = date(2026, 3, 16)  # a Monday; the horizon crosses the 2026-03-29 DST change
HORIZON_DAYS = 28


@dataclass(frozen=True)
class Commune:
    name: str
    point: Point
    population: int


def find_csv(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get("LOTOCAR_COMMUNES_CSV")
    if env:
        return Path(env)
    for p in DEFAULT_CSV_CANDIDATES:
        if p.exists():
            return p
    raise SystemExit("communes_lot.csv not found (use --csv or LOTOCAR_COMMUNES_CSV)")


def load_communes(path: Path) -> list[Commune]:
    with path.open(newline="", encoding="utf-8") as fh:
        return [
            Commune(r["name"], Point(float(r["lat"]), float(r["lon"])), max(1, int(r["population"] or 1)))
            for r in csv.DictReader(fh)
        ]


class Generator:
    """Deterministic synthetic offers and requests."""

    def __init__(self, communes: Sequence[Commune], seed: int) -> None:
        self.rng = random.Random(seed)
        self.communes = list(communes)
        self.weights = [c.population for c in self.communes]
        by_name = {c.name: c for c in self.communes}
        self.hubs = [by_name[n] for n, _ in HUBS if n in by_name]
        self.hub_weights = [w for n, w in HUBS if n in by_name]
        self.random_share = 1.0 - sum(self.hub_weights)
        self.horizon = (HORIZON_START, HORIZON_START + timedelta(days=HORIZON_DAYS - 1))

    def _jitter(self, p: Point) -> Point:
        if self.rng.random() < 0.3:  # a home address rather than the town hall
            return Point(p.lat + self.rng.uniform(-0.01, 0.01), p.lon + self.rng.uniform(-0.014, 0.014))
        return p

    def _origin(self) -> Commune:
        return self.rng.choices(self.communes, self.weights)[0]

    def _destination(self, origin: Commune) -> Commune:
        while True:
            if self.rng.random() < self.random_share:
                c = self.rng.choices(self.communes, self.weights)[0]
            else:
                c = self.rng.choices(self.hubs, self.hub_weights)[0]
            if c.name != origin.name:
                return c

    def _departure_time(self) -> time:
        r = self.rng.random()
        if r < 0.45:
            lo, hi = 6 * 60 + 30, 9 * 60
        elif r < 0.80:
            lo, hi = 16 * 60, 19 * 60
        else:
            lo, hi = 9 * 60, 16 * 60
        m = self.rng.randrange(lo, hi + 1, 5)
        return time(m // 60, m % 60)

    def _day(self, weekdays_only: float) -> date:
        while True:
            d = self.horizon[0] + timedelta(days=self.rng.randrange(HORIZON_DAYS))
            if d.isoweekday() <= 5 or self.rng.random() > weekdays_only:
                return d

    def offers(self, offer_days: int) -> list[Offer]:
        out: list[Offer] = []
        remaining = offer_days
        n_drivers = max(10, offer_days // 12)
        h0, h1 = self.horizon
        while remaining > 0:
            o = self._origin()
            dst = self._destination(o)
            oid = len(out) + 1
            driver = self.rng.randrange(1, n_drivers + 1)
            start, end = self._jitter(o.point), self._jitter(dst.point)
            seats = self.rng.choice((1, 2, 3, 3, 4))
            detour = self.rng.randint(0, 20)
            if remaining < 25 or self.rng.random() < 0.8:
                dep = datetime.combine(self._day(0.7), self._departure_time())
                out.append(Offer(oid, driver, start, end, seats, detour, departure=dep))
                remaining -= 1
                continue
            r = self.rng.random()
            if r < 0.75:
                weekdays = frozenset({1, 2, 3, 4, 5})
            elif r < 0.9:
                weekdays = frozenset(self.rng.sample(range(1, 6), self.rng.randint(2, 4)))
            else:
                weekdays = frozenset({1, 2, 3, 4, 5, 6})
            first = h0 - timedelta(days=60) if self.rng.random() < 0.6 else h0 + timedelta(days=self.rng.randrange(14))
            last = h1 + timedelta(days=90) if self.rng.random() < 0.6 else h1 - timedelta(days=self.rng.randrange(14))
            rec = Recurrence(weekdays, self._departure_time(), first, last)
            n = len(rec.dates(h0, h1))
            if n == 0:
                continue
            if n > remaining:  # trim so that the total is exactly offer_days
                days = rec.dates(h0, h1)
                rec = Recurrence(weekdays, rec.time, rec.first_date, days[remaining - 1])
                n = remaining
            out.append(Offer(oid, driver, start, end, seats, detour, recurrence=rec))
            remaining -= n
        return out

    def requests(self, count: int) -> list[Request]:
        out: list[Request] = []
        h0, h1 = self.horizon
        while len(out) < count:
            o = self._origin()
            dst = self._destination(o)
            while True:  # keep 2 days of margin inside the horizon
                day = self._day(0.85)
                if h0 + timedelta(days=2) <= day <= h1 - timedelta(days=2):
                    break
            if self.rng.random() < 0.65:
                mode = "arrive_by"
                m = self.rng.randrange(7 * 60 + 30, 18 * 60 + 31, 5)
            else:
                mode = "leave_after"
                m = self.rng.randrange(6 * 60 + 30, 18 * 60 + 1, 5)
            out.append(
                Request(
                    id=len(out) + 1,
                    passenger_id=self.rng.randrange(1, count // 2 + 2),
                    pickup=self._jitter(o.point),
                    dropoff=self._jitter(dst.point),
                    date=day,
                    mode=mode,  # type: ignore[arg-type]
                    time=time(m // 60, m % 60),
                    flexibility_min=self.rng.choice((15, 30, 30, 45, 60, 90)),
                    seats=1 if self.rng.random() < 0.9 else 2,
                )
            )
        return out

    def seats_taken(self, offers: Sequence[Offer]) -> dict[tuple[int, date], int]:
        taken: dict[tuple[int, date], int] = {}
        h0, h1 = self.horizon
        for offer in offers:
            for d in offer.occurrence_dates(h0, h1):
                if self.rng.random() < 0.15:
                    taken[(offer.id, d)] = self.rng.randint(1, max(1, offer.seats))
        return taken

    def tours(self, offers: Sequence[Offer], router: StraightLineRouter, seats: dict[tuple[int, date], int],
              seed: int) -> dict[tuple[int, date], list[Booked]]:
        """Passengers already on ~30 % (one) and ~10 % (two) of the runs; `seats` follows."""
        rng = random.Random(seed * 1000 + 12)
        h0, h1 = self.horizon
        out: dict[tuple[int, date], list[Booked]] = {}
        bid = 0
        for offer in offers:
            od = router.leg(offer.origin, offer.destination)
            for t0, t0_s in offer.runs(h0, h1):
                u = rng.random()
                want = 1 if u < 0.30 else 2 if u < 0.40 else 0
                want = min(want, offer.seats)
                booked: list[Booked] = []
                for _ in range(want):
                    bid += 1
                    made = self._booked(rng, offer, t0_s, od, booked, router, bid)
                    if made is not None:
                        booked = made
                if booked:
                    key = (offer.id, t0.date())
                    out[key] = booked
                    seats[key] = min(offer.seats, max(seats.get(key, 0), len(booked)))
        return out

    @staticmethod
    def _booked(rng: random.Random, offer: Offer, t0_s: float, od, booked: list[Booked],
                router: StraightLineRouter, bid: int) -> list[Booked] | None:
        o, d = offer.origin, offer.destination
        f1 = rng.uniform(0.0, 0.7)
        f2 = 1.0 if rng.random() < 0.7 else rng.uniform(f1 + 0.1, 1.0)

        def along(f: float) -> Point:
            return Point(o.lat + (d.lat - o.lat) * f + rng.uniform(-0.01, 0.01),
                         o.lon + (d.lon - o.lon) * f + rng.uniform(-0.014, 0.014))

        p, q = along(f1), along(f2)
        start = epoch_to_local(t0_s, offer.tz)
        wide = Request(bid, bid, p, q, start.date(), "leave_after",
                       start.time().replace(tzinfo=None, second=0, microsecond=0), 600)
        found = plan_tour(router, o, d, t0_s, booked, wide, od, offer.max_detour_min)
        if found is None:
            return None
        stops, _shifts, times = describe(found[0], booked, wide, t0_s, offer.tz)
        pickup = next(s.at for s in stops if s.booking_id is None and s.kind == "pickup")
        dropoff = next(s.at for s in stops if s.booking_id is None and s.kind == "dropoff")
        if rng.random() < 0.5:
            at = (pickup - timedelta(minutes=rng.randint(0, 10))).replace(second=0, microsecond=0)
            real = Request(bid, bid, p, q, at.date(), "leave_after", at.time().replace(tzinfo=None),
                           rng.choice((15, 30, 45)))
        else:
            at = (dropoff + timedelta(minutes=rng.randint(1, 15))).replace(second=0, microsecond=0)
            real = Request(bid, bid, p, q, at.date(), "arrive_by", at.time().replace(tzinfo=None),
                           rng.choice((30, 60, 90)))
        moved = [Booked(b.booking_id, b.request, *times[b.booking_id]) for b in booked]
        if moved and plan_tour(router, o, d, t0_s, moved, None, od, offer.max_detour_min) is None:
            return None  # a passenger already on board would leave her window
        return moved + [Booked(bid, real, pickup, dropoff)]

    def travelled(self, requests: Sequence[Request], offers: Sequence[Offer]) -> dict[int, frozenset[int]]:
        drivers = sorted({o.driver_id for o in offers})
        out: dict[int, frozenset[int]] = {}
        for r in requests:
            if r.passenger_id not in out:
                k = self.rng.randint(1, 3) if self.rng.random() < 0.3 else 0
                out[r.passenger_id] = frozenset(self.rng.sample(drivers, k))
        return out


def fingerprint(c: Candidate) -> tuple[object, ...]:
    """Every field, with datetimes as epoch seconds (aware comparisons ignore fold)."""
    return (
        c.offer_id, c.driver_id, c.date, c.departure_at.timestamp(), c.pickup_at.timestamp(),
        c.dropoff_at.timestamp(), c.detour_min, c.detour_km, c.seats_left, c.band,
        c.already_travelled, c.score, c.reasons, c.total_detour_min,
        tuple((s.kind, s.booking_id, s.point, s.at.timestamp()) for s in c.stops),
        tuple((s.booking_id, s.pickup_after.timestamp(), s.dropoff_after.timestamp()) for s in c.shifts),
    )


def pct(values: Sequence[float], q: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def rss_mb() -> float:
    """Current resident set size (MB)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def timed(fn, requests, seats, travelled, tours=None) -> tuple[list[float], dict[int, list[Candidate]]]:
    lat: list[float] = []
    out: dict[int, list[Candidate]] = {}
    for r in requests:
        tw = travelled.get(r.passenger_id, frozenset())
        t = clock.perf_counter()
        out[r.id] = fn(r, seats, tw) if tours is None else fn(r, seats, tw, tours)
        lat.append((clock.perf_counter() - t) * 1000.0)
    return lat, out


def peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return kb / 1024.0 if sys.platform != "darwin" else kb / 1024.0 / 1024.0


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--offer-days", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--oracle-sample", type=int, default=100, help="requests checked against the linear scan")
    ap.add_argument("--seed", type=int, default=46)
    ap.add_argument("--csv", default=None, help="communes CSV (default: data/communes/communes_lot.csv)")
    ap.add_argument("--quick", action="store_true", help="CI smoke check: 5,000 offer-days, 100 requests")
    ap.add_argument("--postgres", default=None, metavar="URL",
                    help="also time the PostGIS baseline in this database (a table bench_offers is created then dropped)")
    ap.add_argument("--postgis-sample", type=int, default=300, help="requests timed against PostGIS")
    args = ap.parse_args(argv)
    if args.quick:
        args.offer_days, args.requests = 5000, 100

    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start "
          f"(latencies are wall-clock; CPU-time figures are shown alongside)")
    communes = load_communes(find_csv(args.csv))
    gen = Generator(communes, args.seed)
    t = clock.perf_counter()
    offers = gen.offers(args.offer_days)
    requests = gen.requests(args.requests)
    n_regular = sum(1 for o in offers if o.recurrence is not None)
    print(f"data: {len(communes)} communes, {len(offers)} offers ({n_regular} regular, "
          f"{len(offers) - n_regular} one-off), {len(requests)} requests, horizon "
          f"{gen.horizon[0]}..{gen.horizon[1]} (generated in {clock.perf_counter() - t:.2f} s)")

    router = StraightLineRouter(1.3, 60.0)
    index = CorridorIndex(router)
    gc.collect()
    rss0 = rss_mb()
    t, c = clock.perf_counter(), clock.process_time()
    index.bulk_load(offers)
    build_s, build_cpu = clock.perf_counter() - t, clock.process_time() - c
    gc.collect()
    index_mb = rss_mb() - rss0
    if len(index) != len(offers):
        print(f"ERROR: index holds {len(index)} entries, expected one per offer ({len(offers)})")
        return 1
    print(f"build: {len(index)} offers ({args.offer_days} offer-days) indexed in {build_s:.3f} s "
          f"(CPU {build_cpu:.3f} s), resident +{index_mb:.0f} MB")

    seats = gen.seats_taken(offers)
    travelled = gen.travelled(requests, offers)
    t = clock.perf_counter()
    tours = gen.tours(offers, router, seats, args.seed)
    runs_total = len(index)
    two = sum(1 for v in tours.values() if len(v) >= 2)
    print(f"tours: {len(tours)} runs carry booked passengers ({len(tours) - two} one, {two} two) of "
          f"{runs_total} ({len(tours) / max(1, runs_total):.0%}; generated in {clock.perf_counter() - t:.2f} s)")
    matcher = Matcher(router, index)
    # The data of this process (offers, tours, seats: millions of long-lived objects) would
    # make the cyclic GC's full collections land inside whichever method is being timed;
    # freeze them once, before timing every method alike (a server worker does the same
    # after loading its index).
    gc.collect()
    gc.freeze()

    lat_ms: list[float] = []
    cpu_ms: list[float] = []
    results: dict[int, list[Candidate]] = {}
    n_hits = 0
    for r in requests:
        n_hits += len(index.hits(r))
    filt_ms: list[float] = []  # the filter stage alone (index lookup, before the exact check)
    for r in requests:
        t = clock.perf_counter()
        index.hits(r)
        filt_ms.append((clock.perf_counter() - t) * 1000.0)
    for r in requests:
        tw = travelled.get(r.passenger_id, frozenset())
        t, c = clock.perf_counter(), clock.process_time()
        res = matcher.candidates(r, seats, tw, tours)
        lat_ms.append((clock.perf_counter() - t) * 1000.0)
        cpu_ms.append((clock.process_time() - c) * 1000.0)
        results[r.id] = res
    p50 = pct(lat_ms, 0.50)
    p95 = pct(lat_ms, 0.95)
    n_cands = sum(len(v) for v in results.values())
    served = sum(1 for v in results.values() if v)
    on_tours = sum(1 for v in results.values() for c in v if (c.offer_id, c.date) in tours)
    print(f"indexed: p50 {p50:.3f} ms, p95 {p95:.3f} ms, max {max(lat_ms):.3f} ms over {len(requests)} "
          f"requests; {n_hits / len(requests):.1f} index hits and {n_cands / len(requests):.2f} "
          f"candidates per request; {served} requests served ({served / len(requests):.0%}); "
          f"{on_tours} candidates on runs with passengers")
    print(f"indexed, CPU time: p50 {pct(cpu_ms, 0.50):.3f} ms, p95 {pct(cpu_ms, 0.95):.3f} ms")
    print(f"index filter alone (hits, before the exact check): p50 {pct(filt_ms, 0.50):.3f} ms, "
          f"p95 {pct(filt_ms, 0.95):.3f} ms")

    k = max(1, min(args.oracle_sample, len(requests)))
    step = len(requests) / k
    sample = [requests[int(i * step)] for i in range(k)]
    scan_ms: list[float] = []
    found = expected = 0
    identical = True
    for r in sample:
        tw = travelled.get(r.passenger_id, frozenset())
        t = clock.perf_counter()
        oracle = brute_force_candidates(offers, r, router, seats, tw, tours)
        scan_ms.append((clock.perf_counter() - t) * 1000.0)
        got = results[r.id]
        keys = {(c.offer_id, c.departure_at.timestamp()) for c in got}
        expected += len(oracle)
        found += sum(1 for c in oracle if (c.offer_id, c.departure_at.timestamp()) in keys)
        if [fingerprint(c) for c in oracle] != [fingerprint(c) for c in got]:
            identical = False
            print(f"MISMATCH request {r.id}: oracle {len(oracle)} vs index {len(got)} candidates")
    t = clock.perf_counter()
    numpy_scan = NumpyScan(router, offers)
    print(f"numpy baseline: arrays precomputed in {clock.perf_counter() - t:.2f} s")
    np_ms, np_results = timed(numpy_scan.candidates, requests, seats, travelled, tours)
    np_p50 = pct(np_ms, 0.50)
    for r in requests:
        if [fingerprint(c) for c in np_results[r.id]] != [fingerprint(c) for c in results[r.id]]:
            identical = False
            print(f"MISMATCH request {r.id}: numpy scan {len(np_results[r.id])} vs index {len(results[r.id])}")
    vs_numpy = np_p50 / p50 if p50 > 0 else float("inf")
    print(f"numpy vectorised scan (same exact check): p50 {np_p50:.3f} ms, p95 {pct(np_ms, 0.95):.3f} ms "
          f"over {len(requests)} requests; index is {vs_numpy:.1f}x faster (p50)")
    np_filt: list[float] = []
    for r in requests:
        t = clock.perf_counter()
        numpy_scan.pairs(r)
        np_filt.append((clock.perf_counter() - t) * 1000.0)
    filt_p50 = pct(filt_ms, 0.50)
    filter_vs_numpy = pct(np_filt, 0.50) / filt_p50 if filt_p50 > 0 else float("inf")
    print(f"numpy filter alone: p50 {pct(np_filt, 0.50):.3f} ms, p95 {pct(np_filt, 0.95):.3f} ms; "
          f"index filter is {filter_vs_numpy:.1f}x faster (p50)")
    vs_postgis_s = filter_vs_postgis_s = "n/a"
    if args.postgres:
        t = clock.perf_counter()
        pg = PostgisScan(args.postgres, router, offers)
        print(f"postgis baseline: {len(offers)} ellipse polygons loaded and GiST-indexed in "
              f"{clock.perf_counter() - t:.1f} s")
        try:
            kp = max(1, min(args.postgis_sample, len(requests)))
            pg_sample = [requests[int(i * len(requests) / kp)] for i in range(kp)]
            pg_ms, pg_results = timed(pg.candidates, pg_sample, seats, travelled, tours)
            pg_filt: list[float] = []
            for r in pg_sample:
                t = clock.perf_counter()
                pg.pairs(r)
                pg_filt.append((clock.perf_counter() - t) * 1000.0)
        finally:
            pg.close()
        for r in pg_sample:
            if [fingerprint(c) for c in pg_results[r.id]] != [fingerprint(c) for c in results[r.id]]:
                identical = False
                print(f"MISMATCH request {r.id}: postgis {len(pg_results[r.id])} vs index {len(results[r.id])}")
        idx_sample_p50 = pct([lat_ms[requests.index(r)] for r in pg_sample], 0.50)
        vs_postgis = pct(pg_ms, 0.50) / idx_sample_p50 if idx_sample_p50 > 0 else float("inf")
        vs_postgis_s = f"{vs_postgis:.1f}x"
        print(f"postgis (ellipse polygon, GiST, time filter, same exact check) on {kp} requests: "
              f"p50 {pct(pg_ms, 0.50):.3f} ms, p95 {pct(pg_ms, 0.95):.3f} ms; index is {vs_postgis:.1f}x faster (p50)")
        idx_filt_sample = pct([filt_ms[requests.index(r)] for r in pg_sample], 0.50)
        f_pg = pct(pg_filt, 0.50) / idx_filt_sample if idx_filt_sample > 0 else float("inf")
        filter_vs_postgis_s = f"{f_pg:.1f}x"
        print(f"postgis query alone: p50 {pct(pg_filt, 0.50):.3f} ms, p95 {pct(pg_filt, 0.95):.3f} ms; "
              f"index filter is {f_pg:.1f}x faster (p50)")
    scan_p50 = pct(scan_ms, 0.50)
    recall = found / expected if expected else 1.0
    speedup = scan_p50 / p50 if p50 > 0 else float("inf")
    print(f"linear scan (oracle) on a sample of {k} requests: p50 {scan_p50:.1f} ms, "
          f"p95 {pct(scan_ms, 0.95):.1f} ms; {expected} oracle candidates")
    print(f"speedup (scan p50 / indexed p50): {speedup:.0f}x")
    print(f"recall on the sample: {recall:.3f} ({found}/{expected}); "
          f"candidate lists identical (same order and numbers): {'yes' if identical else 'NO'}")
    print(f"peak memory (max RSS): {peak_rss_mb():.0f} MB")
    print(f"mean latency {statistics.fmean(lat_ms):.3f} ms")
    print(
        f"RESULT offer_days={args.offer_days} trips={len(index)} requests={len(requests)} build_s={build_s:.3f} "
        f"rss_mb={index_mb:.0f} p50_ms={p50:.3f} p95_ms={p95:.3f} vs_numpy={vs_numpy:.1f}x "
        f"vs_postgis={vs_postgis_s} recall={recall:.3f} tours={len(tours)} "
        f"filter_p50_ms={filt_p50:.3f} filter_p95_ms={pct(filt_ms, 0.95):.3f} "
        f"filter_vs_numpy={filter_vs_numpy:.1f}x filter_vs_postgis={filter_vs_postgis_s}"
    )
    gc.unfreeze()
    return 0 if identical and found == expected else 1


if __name__ == "__main__":
    raise SystemExit(main())
