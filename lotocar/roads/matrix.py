"""Operations behind `flask roads matrix` (add and flush; the command commits).

The places are read generically from the communes table (every row with a point: town
halls today, former communes and neighbouring towns as that table grows), keyed by their
code. The matrix is written for the current graph only, replacing that graph's previous
matrix; `road_graphs.matrix_built_at` changes, which every process's road router notices.
"""
from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager

from flask import current_app
from sqlalchemy import text

from lotocar.communes.models import Commune
from lotocar.core import clock
from lotocar.extensions import db
from lotocar.roads.engine import (
    MatrixResult,
    PgRoutingRouter,
    compute_matrix,
    current_graph,
)
from lotocar.roads.loader import LoadError, require_pgrouting
from lotocar.roads.service import straight_router
from matching import Point


class MatrixError(RuntimeError):
    """No graph to compute a matrix on."""


@contextmanager
def _session_connection():
    yield db.session.connection()


def engine_router(cache_size: int | None = None) -> PgRoutingRouter:
    """A pgRouting router on the current graph, through the command's own transaction."""
    try:
        require_pgrouting(db.session)
    except LoadError as exc:
        raise MatrixError(str(exc)) from exc
    graph = current_graph(db.session.connection())
    if graph is None:
        raise MatrixError("no road graph loaded: run `flask roads load FILE.osm.pbf` first")
    cfg = current_app.config
    return PgRoutingRouter(_session_connection, graph, straight_router(cfg),
                           max_snap_km=cfg["ROADS_MAX_SNAP_KM"],
                           cache_size=cache_size if cache_size is not None else cfg["ROADS_CACHE_SIZE"])


def places_from_communes() -> list[tuple[str, Point]]:
    rows = db.session.execute(db.select(Commune.insee, Commune.lat, Commune.lon)
                              .where(Commune.lat.is_not(None), Commune.lon.is_not(None))
                              .order_by(Commune.insee)).all()
    return [(code, Point(float(lat), float(lon))) for code, lat, lon in rows]


def build_matrix(router: PgRoutingRouter, places: list[tuple[str, Point]], within_km: float,
                 batch: int = 16, progress: Callable[[int, int], None] | None = None) -> MatrixResult:
    conn = db.session.connection()
    gid = router.graph.id
    result = compute_matrix(conn, router, places, within_km, batch, progress)
    conn.execute(text("DELETE FROM road_legs WHERE graph_id = :g"), {"g": gid})
    conn.execute(text("DELETE FROM road_places WHERE graph_id = :g"), {"g": gid})
    if result.places:
        conn.execute(text(
            "INSERT INTO road_places (graph_id, key, lat, lon, vertex_id, snap_km) "
            "VALUES (:g, :k, :lat, :lon, :v, :s)"),
            [{"g": gid, "k": k, "lat": p.lat, "lon": p.lon, "v": s.vertex, "s": s.km}
             for k, p, s in result.places])
    rows = [{"g": gid, "o": o, "d": d, "m": leg.minutes, "km": leg.km} for (o, d), leg in result.legs.items()]
    for start in range(0, len(rows), 20_000):
        conn.execute(text("INSERT INTO road_legs (graph_id, origin, destination, minutes, km) "
                          "VALUES (:g, :o, :d, :m, :km)"), rows[start:start + 20_000])
    conn.execute(text(
        "UPDATE road_graphs SET matrix_built_at = :at, matrix_within_km = :w, matrix_pairs = :n "
        "WHERE id = :g"), {"at": clock.now_utc(), "w": within_km, "n": len(rows), "g": gid})
    db.session.flush()
    return result
