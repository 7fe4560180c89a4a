"""Real roads on a real engine: the OSM fixture loaded by `flask roads load` into the test
PostGIS with pgRouting, the matrix by `flask roads matrix`, then routing, matching and
statistics on it. Tests needing pgRouting are skipped on SQLite (and, outside CI, where the
server lacks pgRouting); under CI=true the PostGIS run fails without pgRouting (conftest).
"""
from __future__ import annotations

import random
import sys
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from lotocar.candidates.service import MatchingService, make_router
from lotocar.communes.models import Commune
from lotocar.core.types import point_ewkt
from lotocar.extensions import db
from lotocar.offers import operations as offer_ops
from lotocar.offers.rules import OfferInput
from lotocar.requests.models import RequestMode
from lotocar.roads.engine import edges_sql
from lotocar.roads.models import RoadEdge, RoadGraph, RoadLeg, RoadPlace
from lotocar.roads.service import RoadRouter
from lotocar.roads.speeds import (
    DEFAULT_SPEEDS_KMH,
    SpeedsError,
    mapconfig_xml,
    parse_speeds,
)
from matching import (
    CorridorIndex,
    MatrixRouter,
    Offer,
    Point,
    Recurrence,
    Request,
    StraightLineRouter,
    haversine_km,
)
from tests import conftest
from tests.factories import MONDAY, TODAY, commune, passenger, trip_request
from tests.roads_fixture import (
    BRIDGE_NAME,
    FAST_ROAD_NAME,
    SLOW_ROAD_NAME,
    VILLAGES,
    at,
    build_osm,
    village,
)

sys.path.insert(0, str(Path(__file__).parent / "matching"))
from matching_testutils import assert_index_matches_oracle

# --- pure parts (both databases) ---------------------------------------------------------

def test_speeds_are_configurable_and_checked():
    speeds = parse_speeds("primary=85, service=0")
    assert speeds["primary"] == 85 and "service" not in speeds
    assert speeds["tertiary"] == DEFAULT_SPEEDS_KMH["tertiary"]
    for bad in ("highway=50", "primary=fast", "primary=250", "primary"):
        with pytest.raises(SpeedsError):
            parse_speeds(bad)
    xml = mapconfig_xml({"primary": 85.0, "tertiary": 60.0})
    assert '<tag_value name="primary" id="106" priority="1" maxspeed="85" />' in xml
    assert "motorway" not in xml


def test_router_factory_knows_pgrouting(app):
    roads = app.extensions["roads"]
    cfg = {**app.config, "ROUTER": "pgrouting"}
    assert make_router(cfg, roads) is roads
    assert isinstance(make_router({**app.config, "ROUTER": "straight"}, roads), StraightLineRouter)
    with pytest.raises(RuntimeError, match="expected straight, osrm or pgrouting"):
        make_router({**app.config, "ROUTER": "graphhopper"}, roads)


def test_router_pgrouting_in_config_wires_the_app(database_url, tmp_path):
    from lotocar import create_app

    other = create_app({**conftest.TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": database_url, "ROUTER": "pgrouting"})
    other.instance_path = str(tmp_path)
    assert other.extensions["matching"].router is other.extensions["roads"]
    with other.app_context():
        assert other.extensions["matching"].warm() == 0   # no trips; straight lines until a graph
        assert not other.extensions["roads"].loaded


def test_load_refuses_without_postgresql_or_file(app, runner, db_kind, tmp_path):
    result = runner.invoke(args=["roads", "load", str(tmp_path / "absent.osm.pbf")])
    assert result.exit_code != 0
    if db_kind == "sqlite":
        assert "need PostgreSQL" in result.output or "no such file" in result.output
    else:
        assert "no such file" in result.output
    wrong = tmp_path / "extract.csv"
    wrong.write_text("x")
    result = runner.invoke(args=["roads", "load", str(wrong)])
    assert result.exit_code != 0 and "Traceback" not in result.output
    result = runner.invoke(args=["roads", "matrix"])
    assert result.exit_code != 0
    assert "run `flask roads load" in result.output or "need PostgreSQL" in result.output


def test_no_graph_means_straight_lines(app):
    roads: RoadRouter = app.extensions["roads"]
    assert roads.sync() is False and not roads.loaded
    a, b = village("Saint-Alby"), village("Cazenac")
    assert roads.leg(a, b) == roads.straight.leg(a, b)


# --- on pgRouting ------------------------------------------------------------------------

@pytest.fixture
def pgrouting(db_kind):
    if db_kind != "postgres":
        pytest.skip("real roads need PostgreSQL with pgRouting: run with --db=postgres")
    if conftest.PGROUTING_MISSING:
        pytest.skip(conftest.PGROUTING_MISSING)


@pytest.fixture
def villages(app, pgrouting):
    """The fixture's villages as places (communes rows), removed afterwards."""
    for name, (code, _xy) in VILLAGES.items():
        p = village(name)
        db.session.add(Commune(insee=code, name=name, search_key=name.lower(), postcode="32000",
                               population=300, epci_siren="999999999", epci_name="CC de test",
                               lat=p.lat, lon=p.lon, geom=point_ewkt(p.lat, p.lon)))
    db.session.commit()
    yield {name: code for name, (code, _) in VILLAGES.items()}
    # communes outlive each test (conftest.KEEP_TABLES): empty what refers to them, then drop them
    db.session.rollback()
    tables = [t.name for t in db.metadata.sorted_tables if t.name not in conftest.KEEP_TABLES]
    with db.engine.begin() as conn:
        conn.execute(text("TRUNCATE " + ", ".join(tables) + " RESTART IDENTITY CASCADE"))
        conn.execute(db.delete(Commune).where(Commune.insee.in_([c for c, _ in VILLAGES.values()])))


@pytest.fixture
def graph(app, runner, villages, tmp_path):
    """The fixture loaded by the real commands; the app's road router synced on it."""
    osm = build_osm(tmp_path / "vallee.osm")
    loaded = runner.invoke(args=["roads", "load", str(osm)])
    assert loaded.exit_code == 0, loaded.output
    built = runner.invoke(args=["roads", "matrix"])
    assert built.exit_code == 0, built.output
    roads: RoadRouter = app.extensions["roads"]
    assert roads.sync() is True and roads.loaded
    yield {"load": loaded.output, "matrix": built.output, "roads": roads}
    roads.reset()  # the app fixture empties the tables (and restarts their ids) next


def test_load_builds_a_costed_current_graph(app, graph):
    out = graph["load"]
    assert "7 edges, 6 routable vertices" in out and "Speeds (km/h): " in out
    g = db.session.scalars(db.select(RoadGraph)).one()
    assert g.is_current and g.edges == 7 and g.vertices == 7
    assert g.max_kmh == max(DEFAULT_SPEEDS_KMH.values())
    # the one-way street's dead end is not routable (you can get in, not out)
    assert g.routable_vertices == 6
    for e in db.session.scalars(db.select(RoadEdge)):
        speed = DEFAULT_SPEEDS_KMH[e.road_class]
        assert e.cost_s == pytest.approx(e.length_m * 3.6 / speed, rel=1e-12)
        if e.name == "Rue de la Mairie":
            assert e.reverse_cost_s < 0
        else:
            assert e.reverse_cost_s == pytest.approx(e.cost_s)
    bridge = db.session.scalars(db.select(RoadEdge).where(RoadEdge.name == BRIDGE_NAME)).one()
    assert bridge.length_m == pytest.approx(2000, rel=0.01)
    assert "20 legs between 5 places" in graph["matrix"]


def test_route_takes_the_bridge(graph):
    engine = graph["roads"].inner.engine
    a, b = village("Saint-Alby"), village("Cazenac")
    names = [e["name"] for e in engine.route(a, b)]
    assert names == ["Route de Lagarde", BRIDGE_NAME, "Route de Cazenac"]
    leg = graph["roads"].leg(a, b)
    assert haversine_km(a, b) == pytest.approx(3.0, rel=0.01)
    assert leg.km == pytest.approx(18.0, rel=0.01)        # 8 + 2 + 8 km: up, across, down
    assert leg.minutes == pytest.approx(18.0, rel=0.01)   # tertiary roads at 60 km/h
    # and back the same way
    assert [e["name"] for e in engine.route(b, a)] == ["Route de Cazenac", BRIDGE_NAME, "Route de Lagarde"]


def test_load_shows_a_progress_bar_in_a_terminal(app, villages, database_url, tmp_path):
    """The real command in a pseudo-terminal, as an administrator runs it."""
    import os
    import pty
    import subprocess

    osm = build_osm(tmp_path / "vallee.osm")
    master, slave = pty.openpty()
    env = {**os.environ, **conftest.clock_env(), "DATABASE_URL": database_url, "FLASK_APP": "app",
           "SECRET_KEY": "test-secret", "COLUMNS": "100"}
    proc = subprocess.Popen([sys.executable, "-m", "flask", "roads", "load", str(osm)], cwd=conftest.ROOT,
                            stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=60) == 0
    os.close(master)
    screen = b"".join(chunks).decode("utf-8", "replace")
    assert "Road graph" in screen and "6/6" in screen and "new graph current" in screen, screen
    assert "7 edges, 6 routable vertices" in screen


def test_pbf_extract_loads_through_osmium(app, runner, villages, tmp_path):
    import shutil
    import subprocess

    if shutil.which("osmium") is None:
        if conftest.os.environ.get("CI") == "true":
            pytest.fail("osmium-tool is required under CI=true")
        pytest.skip("osmium-tool is not installed (apt-get install osmium-tool)")
    osm = build_osm(tmp_path / "vallee.osm")
    pbf = tmp_path / "vallee.osm.pbf"
    subprocess.run(["osmium", "cat", str(osm), "-o", str(pbf)], check=True)
    result = runner.invoke(args=["roads", "load", str(pbf)])
    assert result.exit_code == 0, result.output
    g = db.session.scalars(db.select(RoadGraph)).one()
    assert (g.source_name, g.edges, g.routable_vertices) == ("vallee.osm.pbf", 7, 6)


def test_an_address_gets_its_legs_with_all_places_in_two_calls(graph):
    from lotocar.roads.engine import PgRoutingRouter

    router = graph["roads"].inner
    engine = router.engine
    farm = at(-1.3, 7.6)
    before = engine.queries
    legs = {name: router.leg(farm, village(name)) for name in VILLAGES}
    back = {name: router.leg(village(name), farm) for name in VILLAGES}
    assert engine.queries == before + 2          # one-to-many and many-to-one, then the cache
    # the same legs as one pgRouting call per leg, on a cold router
    cold = PgRoutingRouter(engine._connect, engine.graph, engine.fallback)
    for name in VILLAGES:   # (the reversed search may add the same path up in another order)
        for got, want in ((legs[name], cold.leg(farm, village(name))), (back[name], cold.leg(village(name), farm))):
            assert got.minutes == pytest.approx(want.minutes, rel=1e-12, abs=1e-12)
            assert got.km == pytest.approx(want.km, rel=1e-12, abs=1e-12)
    assert legs["Cazenac"].km == pytest.approx(0.45 + 2.0 + 8.0, rel=0.02)
    # the reversed graph turns one-way streets around: open backwards only
    from lotocar.roads.engine import edges_sql

    gid = engine.graph.id
    one_way = db.session.scalars(db.select(RoadEdge).where(RoadEdge.name == "Rue de la Mairie")).one()
    forward = db.session.execute(text(edges_sql(gid) + " AND id = :i"), {"i": one_way.id}).one()
    backward = db.session.execute(text(edges_sql(gid, reverse=True) + " AND id = :i"), {"i": one_way.id}).one()
    assert (forward.source, forward.target) == (backward.source, backward.target)
    assert forward.cost > 0 > forward.reverse_cost and backward.cost < 0 < backward.reverse_cost


def test_fast_road_wins_and_speeds_are_configurable(app, runner, graph, tmp_path):
    engine = graph["roads"].inner.engine
    a, b = village("Saint-Alby"), village("Brasc")
    assert [e["name"] for e in engine.route(a, b)] == [FAST_ROAD_NAME]
    fast = graph["roads"].leg(a, b)
    assert fast.minutes == pytest.approx(13.82 / 80 * 60, rel=0.01)
    # a slower primary road: the same extract reloaded now goes by the slow road
    app.config["ROADS_SPEEDS"] = "primary=40"
    try:
        result = runner.invoke(args=["roads", "load", str(build_osm(tmp_path / "again.osm"))])
    finally:
        app.config["ROADS_SPEEDS"] = ""
    assert result.exit_code == 0, result.output
    assert "1 older version(s) removed" in result.output
    assert graph["roads"].sync() is True
    engine = graph["roads"].inner.engine
    assert [e["name"] for e in engine.route(a, b)] == [SLOW_ROAD_NAME]
    # the old graph's matrix went with it; the new graph has none yet (legs on demand)
    assert db.session.scalar(db.select(db.func.count()).select_from(RoadLeg)) == 0
    assert graph["roads"].inner.places == 0
    assert graph["roads"].leg(a, b).minutes == pytest.approx(12.25 / 45 * 60, rel=0.01)


def test_matrix_equals_pgroutings_own_answers(graph):
    gid = db.session.scalar(db.select(RoadGraph.id))
    places = {p.key: p for p in db.session.scalars(db.select(RoadPlace).where(RoadPlace.graph_id == gid))}
    assert set(places) == set(VILLAGES_CODES := {c for c, _ in VILLAGES.values()})
    legs = db.session.scalars(db.select(RoadLeg).where(RoadLeg.graph_id == gid)).all()
    assert {(leg.origin, leg.destination) for leg in legs} == {
        (a, b) for a in VILLAGES_CODES for b in VILLAGES_CODES if a != b}
    access = db.session.scalar(db.select(RoadGraph.access_kmh))
    for leg in legs:
        o, d = places[leg.origin], places[leg.destination]
        # pgRouting's own answer for the same vertices: pgr_dijkstraCost (time) and the
        # edges of pgr_dijkstra's path (length)
        seconds = db.session.execute(text(
            "SELECT agg_cost FROM pgr_dijkstraCost(:e, CAST(:a AS BIGINT), CAST(:b AS BIGINT), true)"),
            {"e": edges_sql(gid), "a": o.vertex_id, "b": d.vertex_id}).scalar_one()
        metres = db.session.execute(text(
            "SELECT sum(e.length_m) FROM pgr_dijkstra(:e, CAST(:a AS BIGINT), CAST(:b AS BIGINT), true) p "
            "JOIN road_edges e ON e.graph_id = :g AND e.id = p.edge"),
            {"e": edges_sql(gid), "a": o.vertex_id, "b": d.vertex_id, "g": gid}).scalar_one()
        snaps = o.snap_km + d.snap_km
        # straight line at the graph's fastest speed never beats the road (the index's bound)
        crow = haversine_km(Point(o.lat, o.lon), Point(d.lat, d.lon))
        assert crow <= graph["roads"].bound.max_kmh * leg.minutes / 60
        assert crow <= leg.km
        assert leg.minutes == pytest.approx(seconds / 60 + snaps / access * 60, rel=1e-9)
        assert leg.km == pytest.approx(metres / 1000 + snaps, rel=1e-9)
        # and the in-memory matrix router gives the stored values with one lookup
        router = graph["roads"].inner
        assert isinstance(router, MatrixRouter)
        hit = router.lookup(Point(o.lat, o.lon), Point(d.lat, d.lon))
        assert hit is not None and (hit.minutes, hit.km) == (leg.minutes, leg.km)
    # a point that is not a place gets its leg from the engine, once, then from the cache
    router = graph["roads"].inner
    address = at(-1.3, 7.6)          # a farm 450 m from the Lagarde junction
    calls = router.engine_calls
    first = router.leg(address, village("Cazenac"))
    assert router.leg(address, village("Cazenac")) == first and router.engine_calls == calls + 1
    assert first.km == pytest.approx(0.45 + 2.0 + 8.0, rel=0.02)
    # a point far from any road of the graph: straight-line legs (the fallback)
    off = Point(44.2, 1.0)
    assert router.leg(off, village("Cazenac")) == router.engine.fallback.leg(off, village("Cazenac"))


def _offer_saint_alby_brasc(make_driver):
    driver = make_driver()
    data = OfferInput(kind="regular",
                      origin=offer_ops.place_input(commune("99001"), None, None, None),
                      destination=offer_ops.place_input(commune("99005"), None, None, None),
                      seats=3, max_detour_min=10, departure_time=time(7, 45),
                      weekdays=frozenset({1, 2, 3, 4, 5}), first_date=TODAY + timedelta(days=1),
                      last_date=TODAY + timedelta(days=90))
    offer = offer_ops.create_offer(driver.driver, data, driver.id)
    db.session.commit()
    return offer


def test_passenger_across_the_river_is_refused(app, graph, make_driver):
    offer = _offer_saint_alby_brasc(make_driver)
    across = trip_request(passenger("+33698765001"), origin="99002", destination="99005",
                          day=MONDAY, at=time(8, 30), mode=RequestMode.ARRIVE_BY, flex=60)
    along = trip_request(passenger("+33698765002"), origin="99001", destination="99005",
                         day=MONDAY, at=time(8, 30), mode=RequestMode.ARRIVE_BY, flex=60)
    straight = MatchingService(make_router({**app.config, "ROUTER": "straight"}))
    roads = MatchingService(make_router({**app.config, "ROUTER": "pgrouting"}, graph["roads"]))
    by_line = straight.candidates_for(across)
    assert [c.offer_id for c in by_line] == [offer.id]
    assert by_line[0].detour_min < 10               # 3 km as the crow flies: "yes"
    assert roads.candidates_for(across) == []       # 18 km each way round by the bridge: no
    road_detour = (graph["roads"].leg(village("Saint-Alby"), village("Cazenac")).minutes
                   + graph["roads"].leg(village("Cazenac"), village("Brasc")).minutes
                   - graph["roads"].leg(village("Saint-Alby"), village("Brasc")).minutes)
    assert road_detour > 30
    # the same driver still takes a passenger on his own bank, with road times
    on_road = roads.candidates_for(along)
    assert [c.offer_id for c in on_road] == [offer.id] and on_road[0].detour_min == 0
    leg = graph["roads"].leg(village("Saint-Alby"), village("Brasc"))
    assert (on_road[0].dropoff_at - on_road[0].pickup_at).total_seconds() == pytest.approx(leg.minutes * 60)


def test_matcher_with_roads_equals_its_oracle(graph):
    router = graph["roads"]
    assert router.bound is not None and router.bound.max_kmh >= max(DEFAULT_SPEEDS_KMH.values())
    rng = random.Random(19)
    places = [village(n) for n in VILLAGES]
    addresses = [at(rng.uniform(-6.5, 4.5), rng.uniform(-0.5, 12.5)) for _ in range(10)]
    far = [Point(43.9, 0.9), Point(43.2, -0.3)]    # off the graph: straight-line legs
    palette = places * 3 + addresses + far
    days = (MONDAY, MONDAY + timedelta(days=6))
    offers = []
    for oid in range(1, 41):
        o, d = rng.sample(palette, 2)
        while o == d:
            d = rng.choice(palette)
        at_min = rng.randrange(6 * 60, 10 * 60)
        common = {"id": oid, "driver_id": rng.randrange(1, 15), "origin": o, "destination": d,
                  "seats": rng.randint(1, 3), "max_detour_min": rng.choice([0, 5, 10, 15, 30])}
        when = time(at_min // 60, at_min % 60)
        if rng.random() < 0.5:
            offers.append(Offer(**common, departure=datetime.combine(days[0] + timedelta(days=rng.randrange(7)), when)))
        else:
            offers.append(Offer(**common, recurrence=Recurrence(frozenset({1, 2, 3, 4, 5}), when, days[0], days[1])))
    requests = []
    for rid in range(1, 81):
        p, q = rng.sample(palette, 2)
        m = rng.randrange(6 * 60, 11 * 60)
        requests.append(Request(id=rid, passenger_id=rng.randrange(1, 20), pickup=p, dropoff=q,
                                date=days[0] + timedelta(days=rng.randrange(7)),
                                mode=rng.choice(["arrive_by", "leave_after"]), time=time(m // 60, m % 60),
                                flexibility_min=rng.choice([15, 30, 60, 120])))
    index = CorridorIndex(router)  # one entry per trip, no horizon (issue #13)
    index.bulk_load(offers)
    found = assert_index_matches_oracle(router, index, offers, requests)
    assert found > 20
    # the index did prune with the road bound: some offers were never examined for some requests
    assert any(len(index.query(r)) < sum(len(o.runs(days[0] - timedelta(days=1), days[1] + timedelta(days=1)))
                                         for o in offers) for r in requests)
    # and roads change the answer compared with straight lines (the river, the bends)
    straight = StraightLineRouter(1.3, 60.0)
    s_index = CorridorIndex(straight)
    s_index.bulk_load(offers)
    assert_index_matches_oracle(straight, s_index, offers, requests)
    from matching import Matcher

    by_road, by_line = Matcher(router, index), Matcher(straight, s_index)
    changed = sum({(c.offer_id, c.date) for c in by_road.candidates(r)}
                  != {(c.offer_id, c.date) for c in by_line.candidates(r)} for r in requests)
    assert changed > 0


def test_statistics_use_road_km_once_a_graph_is_loaded(app, graph):
    from lotocar.stats import operations as stats

    pax = passenger("+33698765003")
    req = trip_request(pax, origin="99001", destination="99002", day=MONDAY)
    road = stats.router()
    assert road is graph["roads"]
    places = stats.communes()
    km = stats.trip_km(req, places, road)
    assert km == pytest.approx(18.0, rel=0.01)
    assert stats.trip_km(req, places, stats.straight_router()) == pytest.approx(3.9, rel=0.01)
    facts = {f.id: f for f in stats.load_requests(None, places=places)}
    assert facts[req.id].km == pytest.approx(km)
