"""pgRouting as the road engine: snapping, one leg on demand, the place-to-place matrix.

A leg from point a to point b on graph g is::

    a --(straight, at access_kmh)--> va ==(pgr_dijkstra, fastest path)==> vb --(straight)--> b

where va / vb are the nearest vertices of the graph's largest strongly connected component
(so every pair has a route, one-way streets included). Two points snapping to the same
vertex are joined straight at the access speed. A point farther than `max_snap_km` from
any vertex is outside the graph: its legs come from the fallback router (straight line).

Edge lengths are the spherical lengths of the OSM geometries (PostGIS `use_spheroid =
false`, the same mean Earth radius as `matching.geo`), and edge times are length / speed,
so a path's time is never shorter than its end points' great-circle distance at the
graph's fastest speed; the access legs are straight lines at `access_kmh`. Hence
`SpeedBound(max(fastest road, access_kmh))` holds with no snapping allowance.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection

from matching import Leg, Point, RouterError, SpeedBound, haversine_km
from matching.router import Router, router_bound

# Float headroom on the speed bound: spherical lengths in PostGIS and haversine in Python
# agree to ~1e-9; the bound is widened by far more than that.
BOUND_MARGIN = 1e-6


@dataclass(frozen=True)
class GraphInfo:
    id: int
    access_kmh: float
    max_kmh: float
    matrix_built_at: datetime | None


@dataclass(frozen=True)
class Snap:
    vertex: int
    point: Point
    km: float


def edges_sql(graph_id: int, reverse: bool = False) -> str:
    """The edges query pgRouting runs (an integer id, never user input). `reverse` turns
    every edge around: one search from x on it gives the fastest paths from all vertices to x."""
    if reverse:
        return ("SELECT id, source, target, reverse_cost_s AS cost, cost_s AS reverse_cost "
                f"FROM road_edges WHERE graph_id = {int(graph_id)}")
    return ("SELECT id, source, target, cost_s AS cost, reverse_cost_s AS reverse_cost "
            f"FROM road_edges WHERE graph_id = {int(graph_id)}")


def current_graph(conn: Connection) -> GraphInfo | None:
    row = conn.execute(text(
        "SELECT id, access_kmh, max_kmh, matrix_built_at FROM road_graphs WHERE is_current "
        "ORDER BY id DESC LIMIT 1")).first()
    if row is None:
        return None
    built = row[3]
    if isinstance(built, str):  # SQLite keeps text
        built = datetime.fromisoformat(built)
    return GraphInfo(int(row[0]), float(row[1]), float(row[2]), built)


def snap(conn: Connection, graph_id: int, p: Point) -> Snap:
    """The nearest routable vertex of the graph to `p`."""
    row = conn.execute(text(
        "SELECT id, lat, lon FROM road_vertices WHERE graph_id = :g AND routable "
        "ORDER BY geom <-> ST_GeogFromText(:p) LIMIT 1"),
        {"g": graph_id, "p": f"SRID=4326;POINT({p.lon!r} {p.lat!r})"}).first()
    if row is None:
        raise RouterError(f"road graph {graph_id} has no routable vertex")
    v = Point(float(row[1]), float(row[2]))
    return Snap(int(row[0]), v, haversine_km(p, v))


def compose(a: Point, sa: Snap, b: Point, sb: Snap, path_s: float, path_m: float,
            access_kmh: float) -> Leg:
    """The leg a -> b from its two snaps and the path between their vertices."""
    if sa.vertex == sb.vertex:
        km = haversine_km(a, b)
        return Leg(km, km / access_kmh * 60.0)
    access_km = sa.km + sb.km
    return Leg(access_km + path_m / 1000.0, access_km / access_kmh * 60.0 + path_s / 60.0)


def path_cost(conn: Connection, graph_id: int, va: int, vb: int) -> tuple[float, float]:
    """(seconds, metres) of the fastest path va -> vb."""
    row = conn.execute(text(
        "SELECT count(*), coalesce(sum(d.cost), 0), coalesce(sum(e.length_m), 0) "
        "FROM pgr_dijkstra(:edges, CAST(:va AS BIGINT), CAST(:vb AS BIGINT), true) d "
        "LEFT JOIN road_edges e ON e.graph_id = :g AND e.id = d.edge"),
        {"edges": edges_sql(graph_id), "va": va, "vb": vb, "g": graph_id}).first()
    if row is None or int(row[0]) == 0:
        raise RouterError(f"no road route between vertices {va} and {vb} (graph {graph_id})")
    return float(row[1]), float(row[2])


def path_edges(conn: Connection, graph_id: int, va: int, vb: int) -> list[dict]:
    """The edges of the fastest path va -> vb, in order (id, name, class, metres, seconds)."""
    rows = conn.execute(text(
        "SELECT e.id, e.name, e.road_class, e.length_m, d.cost "
        "FROM pgr_dijkstra(:edges, CAST(:va AS BIGINT), CAST(:vb AS BIGINT), true) d "
        "JOIN road_edges e ON e.graph_id = :g AND e.id = d.edge ORDER BY d.seq"),
        {"edges": edges_sql(graph_id), "va": va, "vb": vb, "g": graph_id}).all()
    return [{"id": r[0], "name": r[1], "road_class": r[2], "length_m": r[3], "seconds": r[4]}
            for r in rows]


class PgRoutingRouter:
    """A `matching` router answering each leg with pgRouting (cached, thread-safe).

    `connect()` opens a database connection (a context manager); legs of points outside
    the graph come from `fallback`."""

    def __init__(self, connect: Callable[[], AbstractContextManager[Connection]], graph: GraphInfo,
                 fallback: Router, *, max_snap_km: float = 3.0, cache_size: int = 200_000) -> None:
        self._connect = connect
        self.graph = graph
        self.fallback = fallback
        self.max_snap_km = max_snap_km
        self.cache_size = cache_size
        own = SpeedBound(graph.max_kmh * (1.0 + BOUND_MARGIN))
        fb = router_bound(fallback)
        self.bound: SpeedBound | None = own.weakest(fb) if fb is not None else None
        self._legs: OrderedDict[tuple[Point, Point], Leg] = OrderedDict()
        self._snaps: dict[Point, Snap] = {}
        self._lock = threading.Lock()
        self.queries = 0

    def snap(self, p: Point, conn: Connection | None = None) -> Snap | None:
        """The point's snap, or None when it lies outside the graph."""
        with self._lock:
            s = self._snaps.get(p)
        if s is None:
            if conn is None:
                with self._connect() as own:
                    s = snap(own, self.graph.id, p)
            else:
                s = snap(conn, self.graph.id, p)
            with self._lock:
                if len(self._snaps) > self.cache_size:
                    self._snaps.clear()
                self._snaps[p] = s
        return s if s.km <= self.max_snap_km else None

    def leg(self, a: Point, b: Point) -> Leg:
        if a == b:
            return Leg(0.0, 0.0)
        key = (a, b)
        with self._lock:
            hit = self._legs.get(key)
            if hit is not None:
                self._legs.move_to_end(key)
                return hit
        with self._connect() as conn:
            sa, sb = self.snap(a, conn), self.snap(b, conn)
            if sa is None or sb is None:
                leg = self.fallback.leg(a, b)
            elif sa.vertex == sb.vertex:
                leg = compose(a, sa, b, sb, 0.0, 0.0, self.graph.access_kmh)
            else:
                self.queries += 1
                seconds, metres = path_cost(conn, self.graph.id, sa.vertex, sb.vertex)
                leg = compose(a, sa, b, sb, seconds, metres, self.graph.access_kmh)
        with self._lock:
            self._legs[key] = leg
            while len(self._legs) > self.cache_size:
                self._legs.popitem(last=False)
        return leg

    def warm(self, x: Point, places: Sequence[Point], within_km: float) -> int:
        """Legs between `x` (an address) and every place within `within_km`, both ways, in
        two pgRouting calls (one-to-many, many-to-one) instead of one call per leg; kept in
        the cache. Returns the number of legs added."""
        with self._connect() as conn:
            sx = self.snap(x, conn)
            if sx is None:
                return 0  # off the graph: fallback legs, cheap
            near = [(p, self.snap(p, conn)) for p in places
                    if p != x and haversine_km(x, p) <= within_km]
            near = [(p, s) for p, s in near if s is not None]
            others = sorted({s.vertex for _, s in near if s.vertex != sx.vertex})
            out: dict[int, tuple[float, float]] = {}
            back: dict[int, tuple[float, float]] = {}
            if others:
                self.queries += 2
                # one search from x each way: on the graph (x -> places) and on the reversed
                # graph (places -> x); the many-to-many form names both ends of each path
                for reverse, into in ((False, out), (True, back)):
                    rows = conn.execute(text(
                        "SELECT d.end_vid, sum(d.cost), coalesce(sum(e.length_m), 0) "
                        "FROM pgr_dijkstra(:edges, CAST(:x AS BIGINT[]), CAST(:vs AS BIGINT[]), true) d "
                        "LEFT JOIN road_edges e ON e.graph_id = :g AND e.id = d.edge "
                        "GROUP BY d.start_vid, d.end_vid"),
                        {"edges": edges_sql(self.graph.id, reverse), "g": self.graph.id,
                         "x": [sx.vertex], "vs": others}).all()
                    for vertex, seconds, metres in rows:
                        into[int(vertex)] = (float(seconds), float(metres))
        added = 0
        access = self.graph.access_kmh
        with self._lock:
            for p, s in near:
                for key, found in (((x, p), out.get(s.vertex)), ((p, x), back.get(s.vertex))):
                    if key in self._legs:
                        continue
                    if s.vertex == sx.vertex:
                        leg = compose(key[0], sx if key[0] == x else s, key[1], s if key[0] == x else sx,
                                      0.0, 0.0, access)
                    elif found is None:
                        continue  # no route found this way: leg() will ask on its own
                    elif key[0] == x:
                        leg = compose(x, sx, p, s, found[0], found[1], access)
                    else:
                        leg = compose(p, s, x, sx, found[0], found[1], access)
                    self._legs[key] = leg
                    added += 1
            while len(self._legs) > self.cache_size:
                self._legs.popitem(last=False)
        return added

    def route(self, a: Point, b: Point) -> list[dict]:
        """The road edges the leg a -> b drives along (empty when off the graph)."""
        with self._connect() as conn:
            sa, sb = self.snap(a, conn), self.snap(b, conn)
            if sa is None or sb is None or sa.vertex == sb.vertex:
                return []
            return path_edges(conn, self.graph.id, sa.vertex, sb.vertex)

    def __repr__(self) -> str:
        return f"PgRoutingRouter(graph={self.graph.id})"


# --- the matrix ---------------------------------------------------------------------------

@dataclass(frozen=True)
class MatrixResult:
    places: list[tuple[str, Point, Snap]]      # snapped places
    outside: list[str]                          # places too far from the graph
    legs: dict[tuple[str, str], Leg]


def pairs_within(places: Sequence[tuple[str, Point]], within_km: float) -> list[tuple[int, int]]:
    """Ordered pairs (i, j), i != j, at most `within_km` apart as the crow flies."""
    out = []
    for i, (_, p) in enumerate(places):
        for j, (_, q) in enumerate(places):
            if i != j and haversine_km(p, q) <= within_km:
                out.append((i, j))
    return out


def compute_matrix(conn: Connection, router: PgRoutingRouter, places: Iterable[tuple[str, Point]],
                   within_km: float, batch_sources: int = 16,
                   progress: Callable[[int, int], None] | None = None) -> MatrixResult:
    """Road legs between every pair of places at most `within_km` apart, by pgRouting.

    One `pgr_dijkstra` call per batch of source vertices over exactly the needed vertex pairs
    (its combinations form); each leg is composed exactly as `PgRoutingRouter.leg` does."""
    graph = router.graph
    snapped: list[tuple[str, Point, Snap]] = []
    outside: list[str] = []
    for key, p in places:
        s = router.snap(p, conn)
        (snapped.append((key, p, s)) if s is not None else outside.append(key))
    pairs = pairs_within([(k, p) for k, p, _ in snapped], within_km)
    vertex_pairs = sorted({(snapped[i][2].vertex, snapped[j][2].vertex) for i, j in pairs
                           if snapped[i][2].vertex != snapped[j][2].vertex})
    sources = sorted({va for va, _ in vertex_pairs})
    batch_of = {v: k // max(1, batch_sources) for k, v in enumerate(sources)}
    batches = (len(sources) + batch_sources - 1) // max(1, batch_sources)
    conn.execute(text("CREATE TEMPORARY TABLE IF NOT EXISTS road_matrix_pairs "
                      "(source BIGINT, target BIGINT, batch INTEGER) ON COMMIT DROP"))
    conn.execute(text("DELETE FROM road_matrix_pairs"))
    if vertex_pairs:
        conn.execute(text("INSERT INTO road_matrix_pairs (source, target, batch) VALUES (:s, :t, :b)"),
                     [{"s": va, "t": vb, "b": batch_of[va]} for va, vb in vertex_pairs])
    paths: dict[tuple[int, int], tuple[float, float]] = {}
    for k in range(batches):
        rows = conn.execute(text(
            "SELECT d.start_vid, d.end_vid, sum(d.cost), coalesce(sum(e.length_m), 0) "
            "FROM pgr_dijkstra(:edges, :combos, true) d "
            "LEFT JOIN road_edges e ON e.graph_id = :g AND e.id = d.edge "
            "GROUP BY d.start_vid, d.end_vid"),
            {"edges": edges_sql(graph.id), "g": graph.id,
             "combos": f"SELECT source, target FROM road_matrix_pairs WHERE batch = {k}"}).all()
        for va, vb, seconds, metres in rows:
            paths[(int(va), int(vb))] = (float(seconds), float(metres))
        if progress:
            progress(k + 1, batches)
    conn.execute(text("DROP TABLE IF EXISTS road_matrix_pairs"))
    legs: dict[tuple[str, str], Leg] = {}
    for i, j in pairs:
        ka, a, sa = snapped[i]
        kb, b, sb = snapped[j]
        if sa.vertex == sb.vertex:
            legs[(ka, kb)] = compose(a, sa, b, sb, 0.0, 0.0, graph.access_kmh)
            continue
        found = paths.get((sa.vertex, sb.vertex))
        if found is None:
            raise RouterError(f"no road route from {ka} to {kb} on graph {graph.id}")
        legs[(ka, kb)] = compose(a, sa, b, sb, found[0], found[1], graph.access_kmh)
    return MatrixResult(snapped, outside, legs)
