"""Real roads against the straight-line estimate, on pgRouting.

Run from the repository root (needs PostgreSQL with PostGIS and pgRouting)::

    python -m bench.bench_roads                                  # the tests' OSM fixture
    python -m bench.bench_roads --database-url postgresql+psycopg2://…/lotocar   # + Lot pairs

1. The fixture (tests/roads_fixture.py: villages, a river with one bridge, a fast and a slow
   road) is loaded by the real loader into a throw-away database, with its matrix.
   On every ordered pair of its places and of random addresses near its roads, it prints
   the ratio road minutes / straight-line estimate (haversine x 1.3 at 60 km/h, the default
   router): median and p95; then, for random trips and requests over those points, how many
   requests get a different candidate list with real roads, and how many candidates appear
   or disappear; and the cost of a leg: matrix lookup, cached leg, pgRouting on demand.
2. With --database-url, the same ratio on random pairs of the service's places (communes
   within ROADS_MATRIX_KM) of the graph loaded in that database, read from its matrix.
3. With --grid, the cost at the Lot's scale: a synthetic road grid over the département
   (every 500 m, jittered; primary every 5 km, secondary every 2.5 km, else unclassified)
   loaded by the real loader, `flask roads matrix` over the 312 communes, and the legs of
   new addresses (with every place at once, vs one pgRouting call per leg). Its ratios say
   nothing of real roads; its timings do.

The index and the brute-force oracle must agree with the road router (exit status 1 if not).
The last line is machine-readable (``RESULT ...``).
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time as clock
import uuid
from datetime import date, datetime, time, timedelta
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa

from matching import (
    CorridorIndex,
    Matcher,
    Offer,
    Point,
    Recurrence,
    Request,
    StraightLineRouter,
    brute_force_candidates,
)

PG_SERVER = os.environ.get("TEST_PG_SERVER", "postgresql+psycopg2://postgres@127.0.0.1:5432").rstrip("/")
STRAIGHT = StraightLineRouter(1.3, 60.0)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def ratios(router, pairs) -> list[float]:
    out = []
    for a, b in pairs:
        straight = STRAIGHT.leg(a, b).minutes
        if straight > 0:
            out.append(router.leg(a, b).minutes / straight)
    return out


def fixture_db() -> str:
    name = f"lotocar_bench_roads_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    engine = sa.create_engine(f"{PG_SERVER}/{name}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
        conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pgrouting"))
    engine.dispose()
    return name


def drop_db(name: str) -> None:
    admin = sa.create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                     {"n": name})
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


def random_trips(rng: random.Random, palette: list[Point], n_offers: int, n_requests: int):
    days = (date(2026, 12, 7), date(2026, 12, 13))
    offers = []
    for oid in range(1, n_offers + 1):
        o, d = rng.sample(palette, 2)
        m = rng.randrange(6 * 60, 10 * 60)
        common = {"id": oid, "driver_id": oid, "origin": o, "destination": d, "seats": 3,
                  "max_detour_min": rng.choice([5, 10, 15, 20])}
        if rng.random() < 0.5:
            offers.append(Offer(**common, departure=datetime.combine(days[0] + timedelta(days=rng.randrange(7)),
                                                                     time(m // 60, m % 60))))
        else:
            offers.append(Offer(**common, recurrence=Recurrence(frozenset({1, 2, 3, 4, 5}), time(m // 60, m % 60),
                                                                days[0], days[1])))
    requests = []
    for rid in range(1, n_requests + 1):
        p, q = rng.sample(palette, 2)
        m = rng.randrange(6 * 60, 11 * 60)
        requests.append(Request(id=rid, passenger_id=rid, pickup=p, dropoff=q,
                                date=days[0] + timedelta(days=rng.randrange(7)),
                                mode=rng.choice(["arrive_by", "leave_after"]), time=time(m // 60, m % 60),
                                flexibility_min=rng.choice([15, 30, 60])))
    return days, offers, requests


def compare_routers(road, offers, requests, days) -> tuple[int, int, int, int]:
    """(requests whose candidates differ, candidates only by road, only by line, road candidates);
    checks the indexed matcher against the oracle for the road router."""
    r_index, s_index = CorridorIndex(road), CorridorIndex(STRAIGHT)  # one entry per trip, no horizon
    r_index.bulk_load(offers)
    s_index.bulk_load(offers)
    by_road, by_line = Matcher(road, r_index), Matcher(STRAIGHT, s_index)
    differ = only_road = only_line = total = 0
    for r in requests:
        got = by_road.candidates(r)
        want = brute_force_candidates(offers, r, road)
        if [(c.offer_id, c.date, c.pickup_at) for c in got] != [(c.offer_id, c.date, c.pickup_at) for c in want]:
            print(f"MISMATCH index vs oracle on request {r.id}", file=sys.stderr)
            sys.exit(1)
        a = {(c.offer_id, c.date) for c in got}
        b = {(c.offer_id, c.date) for c in by_line.candidates(r)}
        differ += a != b
        only_road += len(a - b)
        only_line += len(b - a)
        total += len(a)
    return differ, only_road, only_line, total


def timing(fn, n: int) -> float:
    t = clock.perf_counter()
    for _ in range(n):
        fn()
    return (clock.perf_counter() - t) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--database-url", default=None, help="a database with a loaded graph: Lot pairs too")
    ap.add_argument("--pairs", type=int, default=2000, help="random place pairs on that graph")
    ap.add_argument("--offers", type=int, default=60)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--seed", type=int, default=19)
    ap.add_argument("--grid", action="store_true", help="also time a Lot-sized synthetic graph")
    args = ap.parse_args()
    rng = random.Random(args.seed)

    from flask_migrate import upgrade

    from lotocar import create_app
    from lotocar.communes.models import Commune
    from lotocar.core.types import point_ewkt
    from lotocar.extensions import db
    from lotocar.roads import matrix as matrix_ops
    from lotocar.roads.loader import load_extract
    from lotocar.roads.speeds import parse_speeds
    from tests.roads_fixture import VILLAGES, at, build_osm, village

    name = fixture_db()
    try:
        app = create_app({"APP_ENV": "testing", "TESTING": True, "SECRET_KEY": "bench",
                          "SQLALCHEMY_DATABASE_URI": f"{PG_SERVER}/{name}"})
        with app.app_context(), tempfile.TemporaryDirectory() as tmp:
            upgrade()
            for vname, (code, _) in VILLAGES.items():
                p = village(vname)
                db.session.add(Commune(insee=code, name=vname, search_key=vname.lower(), postcode="32000",
                                       population=300, epci_siren="999999999", epci_name="bench",
                                       lat=p.lat, lon=p.lon, geom=point_ewkt(p.lat, p.lon)))
            t0 = clock.perf_counter()
            load_extract(db.session, build_osm(Path(tmp) / "vallee.osm"), parse_speeds(""),
                         app.config["ROADS_ACCESS_KMH"])
            db.session.commit()
            load_s = clock.perf_counter() - t0
            t0 = clock.perf_counter()
            matrix_ops.build_matrix(matrix_ops.engine_router(), matrix_ops.places_from_communes(), 80.0)
            db.session.commit()
            matrix_s = clock.perf_counter() - t0
            road = app.extensions["roads"]
            road.sync()
            places = [village(n) for n in VILLAGES]
            addresses = []
            engine = road.inner.engine
            while len(addresses) < 15:  # addresses within 1.5 km of a junction of the fixture
                p = at(rng.uniform(-6.5, 4.5), rng.uniform(-0.5, 12.5))
                s = engine.snap(p)
                if s is not None and s.km <= 1.5:
                    addresses.append(p)
            pts = places + addresses
            pairs = [(a, b) for a in pts for b in pts if a != b]
            rs = ratios(road, pairs)
            print(f"fixture: {len(places)} places + {len(addresses)} addresses, {len(pairs)} pairs; "
                  f"load {load_s:.2f} s, matrix {matrix_s:.2f} s")
            print(f"fixture road/straight time ratio: median {statistics.median(rs):.2f}, p95 {pct(rs, 0.95):.2f}, "
                  f"max {max(rs):.2f}")
            days, offers, requests = random_trips(rng, places * 2 + addresses, args.offers, args.requests)
            differ, only_road, only_line, total = compare_routers(road, offers, requests, days)
            print(f"fixture candidates: {differ}/{len(requests)} requests get a different list with roads; "
                  f"{only_road} candidates only by road, {only_line} only by straight line "
                  f"({total} by road); index == oracle on roads")
            a, b = places[0], places[4]
            lookup_us = timing(lambda: road.leg(a, b), 20000) * 1e6
            road.leg(addresses[0], places[1])
            cached_us = timing(lambda: road.leg(addresses[0], places[1]), 20000) * 1e6
            fresh = [(at(rng.uniform(-6, 4), rng.uniform(0, 12)), places[rng.randrange(5)]) for _ in range(40)]
            it = iter(fresh)
            demand_ms = timing(lambda: engine.leg(*next(it)), len(fresh)) * 1e3
            print(f"leg cost: matrix lookup {lookup_us:.2f} us, cached {cached_us:.2f} us, "
                  f"pgRouting on demand {demand_ms:.1f} ms (fixture graph)")
            lot = ""
            if args.database_url:
                lot = lot_pairs(args.database_url, args.pairs, rng)
            if args.grid:
                lot += grid_scale(app, Path(tmp), rng)
            db.session.remove()
            db.engine.dispose()
        print(f"RESULT fixture_ratio_median={statistics.median(rs):.2f} fixture_ratio_p95={pct(rs, 0.95):.2f} "
              f"candidates_changed={differ}/{len(requests)} only_road={only_road} only_line={only_line} "
              f"lookup_us={lookup_us:.2f} on_demand_ms={demand_ms:.1f}{lot}")
    finally:
        drop_db(name)


def build_grid_osm(path: Path, rng: random.Random, step_km: float = 0.5) -> Path:
    """A jittered road grid over the Lot's bounding box, as OSM XML."""
    lat0, lat1, lon0, lon1 = 44.18, 45.07, 0.96, 2.23
    km_lat = 1 / 111.195
    ny = int((lat1 - lat0) / km_lat / step_km) + 1
    mid = (lat0 + lat1) / 2
    km_lon = 1 / (111.195 * __import__("math").cos(__import__("math").radians(mid)))
    nx = int((lon1 - lon0) / km_lon / step_km) + 1
    def nid(i: int, j: int) -> int:
        return i * nx + j + 1
    def cls(k: int) -> str:
        return "primary" if k % 10 == 0 else "secondary" if k % 5 == 0 else "unclassified"
    with path.open("w", encoding="utf-8") as fh:
        fh.write('<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6" generator="bench">\n')
        for i in range(ny):
            for j in range(nx):
                lat = lat0 + (i * step_km + rng.uniform(-0.1, 0.1)) * km_lat
                lon = lon0 + (j * step_km + rng.uniform(-0.1, 0.1)) * km_lon
                fh.write(f'<node id="{nid(i, j)}" version="1" lat="{lat:.7f}" lon="{lon:.7f}"/>\n')
        way = 0
        for i in range(ny):
            way += 1
            fh.write(f'<way id="{way}" version="1">' + "".join(f'<nd ref="{nid(i, j)}"/>' for j in range(nx))
                     + f'<tag k="highway" v="{cls(i)}"/></way>\n')
        for j in range(nx):
            way += 1
            fh.write(f'<way id="{way}" version="1">' + "".join(f'<nd ref="{nid(i, j)}"/>' for i in range(ny))
                     + f'<tag k="highway" v="{cls(j)}"/></way>\n')
        fh.write("</osm>\n")
    return path


def grid_scale(app, tmp: Path, rng: random.Random) -> str:
    from lotocar.communes import operations as communes
    from lotocar.extensions import db
    from lotocar.roads import matrix as matrix_ops
    from lotocar.roads.loader import load_extract
    from lotocar.roads.speeds import parse_speeds

    for _ in communes.upsert_communes(communes.read_csv(app.config["COMMUNES_CSV"])):
        pass
    db.session.commit()
    osm = build_grid_osm(tmp / "grid.osm", rng)
    t0 = clock.perf_counter()
    result = load_extract(db.session, osm, parse_speeds(""), app.config["ROADS_ACCESS_KMH"])
    db.session.commit()
    load_s = clock.perf_counter() - t0
    t0 = clock.perf_counter()
    router = matrix_ops.engine_router()
    built = matrix_ops.build_matrix(router, matrix_ops.places_from_communes(), 80.0, 16)
    db.session.commit()
    matrix_s = clock.perf_counter() - t0
    road = app.extensions["roads"]
    road.sync()
    pts = [p for _, p, _ in built.places]
    a, b = pts[0], pts[1]
    lookup_us = timing(lambda: road.leg(a, b), 20000) * 1e6
    engine = road.inner.engine
    addresses = [Point(rng.uniform(44.3, 44.95), rng.uniform(1.1, 2.1)) for _ in range(20)]
    t0 = clock.perf_counter()
    for x in addresses:  # a new address meets a place: its legs with every place, 2 calls
        road.leg(x, pts[rng.randrange(len(pts))])
    warm_ms = (clock.perf_counter() - t0) / len(addresses) * 1e3
    after = [(x, pts[rng.randrange(len(pts))]) for x in addresses for _ in range(10)]
    it = iter(after)
    after_us = timing(lambda: road.leg(*next(it)), len(after)) * 1e6
    from lotocar.roads.engine import PgRoutingRouter

    cold = PgRoutingRouter(engine._connect, engine.graph, engine.fallback)
    it = iter([(x, pts[rng.randrange(len(pts))]) for x in addresses])
    single_ms = timing(lambda: cold.leg(*next(it)), len(addresses)) * 1e3
    print(f"Lot-sized synthetic grid: {result.edges} edges, {result.vertices} vertices, load {load_s:.1f} s; "
          f"matrix {len(built.legs)} legs between {len(built.places)} places in {matrix_s:.1f} s; "
          f"leg: matrix lookup {lookup_us:.2f} us; a new address {warm_ms:.0f} ms for its legs with all "
          f"places, then {after_us:.1f} us a leg; one pgRouting call per leg {single_ms:.0f} ms")
    return (f" grid_edges={result.edges} grid_matrix_legs={len(built.legs)} grid_matrix_s={matrix_s:.1f}"
            f" grid_new_address_ms={warm_ms:.0f} grid_single_leg_ms={single_ms:.0f}")


def lot_pairs(url: str, n: int, rng: random.Random) -> str:
    """The ratio on random pairs of a real graph's matrix (a database where `flask roads load`
    and `flask roads matrix` ran on a Lot extract)."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        gid = conn.execute(sa.text("SELECT id FROM road_graphs WHERE is_current")).scalar()
        if gid is None:
            print(f"{url}: no road graph loaded: no Lot pairs (run flask roads load / matrix there)")
            return ""
        rows = conn.execute(sa.text(
            "SELECT o.lat, o.lon, d.lat, d.lon, l.minutes FROM road_legs l "
            "JOIN road_places o ON o.graph_id = l.graph_id AND o.key = l.origin "
            "JOIN road_places d ON d.graph_id = l.graph_id AND d.key = l.destination "
            "WHERE l.graph_id = :g"), {"g": gid}).all()
    engine.dispose()
    if not rows:
        print(f"graph {gid}: no matrix yet (flask roads matrix): no Lot pairs")
        return ""
    sample = rng.sample(rows, min(n, len(rows)))
    rs = [m / STRAIGHT.leg(Point(a, b), Point(c, d)).minutes for a, b, c, d, m in sample
          if STRAIGHT.leg(Point(a, b), Point(c, d)).minutes > 0]
    print(f"Lot graph {gid}: {len(rs)} random place pairs of {len(rows)}: road/straight time ratio "
          f"median {statistics.median(rs):.2f}, p95 {pct(rs, 0.95):.2f}")
    return f" lot_pairs={len(rs)} lot_ratio_median={statistics.median(rs):.2f} lot_ratio_p95={pct(rs, 0.95):.2f}"


if __name__ == "__main__":
    main()
