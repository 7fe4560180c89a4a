"""The process's road router: the matrix in memory, pgRouting for the other legs.

`RoadRouter` is a `matching` router whose legs come, while a graph is loaded, from a
`MatrixRouter` (place-to-place legs of the current graph's matrix, one lookup each) over a
`PgRoutingRouter` (any other leg, on demand, cached); with no graph, from the straight-line
router. `sync()` reads the current graph version (one small query) and swaps the inner
router when a new graph or a new matrix was committed by any process; it answers whether
it changed, so the matching service rebuilds its index on the same legs and bound.
"""
from __future__ import annotations

import logging
import math
import threading
from array import array

from flask import Flask, current_app
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from lotocar.extensions import db
from lotocar.roads.engine import GraphInfo, PgRoutingRouter, current_graph
from matching import Leg, MatrixRouter, Point, SpeedBound, StraightLineRouter
from matching.router import Router, router_bound

log = logging.getLogger("lotocar.roads")


def load_matrix_router(engine_router: PgRoutingRouter, conn, within_km: float = 80.0) -> MatrixRouter:
    """The graph's stored matrix as plain arrays in front of the engine."""
    gid = engine_router.graph.id
    places = conn.execute(text(
        "SELECT key, lat, lon FROM road_places WHERE graph_id = :g ORDER BY key"), {"g": gid}).all()
    slot = {row[0]: i for i, row in enumerate(places)}
    n = len(places)
    minutes = array("d", [math.nan]) * (n * n)
    km = array("d", [math.nan]) * (n * n)
    for origin, destination, m, k in conn.execute(text(
            "SELECT origin, destination, minutes, km FROM road_legs WHERE graph_id = :g"), {"g": gid}):
        i, j = slot.get(origin), slot.get(destination)
        if i is not None and j is not None:
            minutes[i * n + j] = m
            km[i * n + j] = k
    points = [Point(float(lat), float(lon)) for _key, lat, lon in places]
    return MatrixRouter(points, minutes, km, engine_router, cache_size=engine_router.cache_size,
                        warm=lambda x: engine_router.warm(x, points, within_km))


class RoadRouter:
    """See the module docstring. Thread-safe; `bound` changes only at a `sync()`."""

    def __init__(self, app: Flask, straight: StraightLineRouter) -> None:
        self._app = app
        self.straight = straight
        self._inner: Router = straight
        self._stamp: tuple[int, object] | None = None
        self._synced = False
        self._lock = threading.Lock()
        self.graph: GraphInfo | None = None

    @property
    def bound(self) -> SpeedBound | None:
        return router_bound(self._inner)

    @property
    def inner(self) -> Router:
        return self._inner

    @property
    def loaded(self) -> bool:
        return self.graph is not None

    def leg(self, a: Point, b: Point) -> Leg:
        return self._inner.leg(a, b)

    def reset(self) -> None:
        """Forget the graph in use (straight lines until the next `sync()`)."""
        with self._lock:
            self._inner, self.graph, self._stamp, self._synced = self.straight, None, None, False

    def _connect(self):
        return self._engine.connect()

    def sync(self) -> bool:
        """Follow the current graph version; True when the legs changed."""
        with self._lock:
            self._engine = db.engine
            try:
                with self._engine.connect() as conn:
                    graph = current_graph(conn)
                    stamp = (graph.id, graph.matrix_built_at) if graph is not None else None
                    if self._synced and stamp == self._stamp:
                        return False
                    if graph is None:
                        inner: Router = self.straight
                    else:
                        cfg = self._app.config
                        engine_router = PgRoutingRouter(
                            self._connect, graph, self.straight, max_snap_km=cfg["ROADS_MAX_SNAP_KM"],
                            cache_size=cfg["ROADS_CACHE_SIZE"])
                        inner = load_matrix_router(engine_router, conn, cfg["ROADS_MATRIX_KM"])
            except DBAPIError as exc:  # a database without the tables yet (before `db upgrade`)
                log.warning("road graph unreadable (%s): straight-line legs", exc.__class__.__name__)
                return False
            changed = stamp != self._stamp
            self._inner, self.graph, self._stamp, self._synced = inner, graph, stamp, True
            if graph is None:
                log.info("no road graph loaded: straight-line legs")
            else:
                log.info("road graph %d in use (%d places in its matrix)", graph.id,
                         getattr(inner, "places", 0))
            return changed

    def __repr__(self) -> str:
        return f"RoadRouter({self._inner!r})"


def straight_router(config) -> StraightLineRouter:
    return StraightLineRouter(circuity=config["ROUTER_CIRCUITY"], speed_kmh=config["ROUTER_SPEED_KMH"])


def init_app(app: Flask) -> None:
    app.extensions["roads"] = RoadRouter(app, straight_router(app.config))


def road_router() -> RoadRouter:
    return current_app.extensions["roads"]


def loaded_router() -> Router | None:
    """The road router when a graph is loaded (after following the current version), else None."""
    router = road_router()
    router.sync()
    return router if router.loaded else None
