"""`flask roads load`: an OpenStreetMap extract into a new version of the road graph.

Steps: (.pbf only) `osmium cat` to OSM XML; `osm2pgrouting` into a scratch schema, with a
configuration generated from the speed table; then, in the command's transaction, copy into
`road_vertices` / `road_edges` with our own lengths and costs, mark the largest strongly
connected component routable (`pgr_strongComponents`), make the new graph current and delete
the older versions (their matrix goes with them). The scratch schema is always dropped.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

from lotocar.core import clock
from lotocar.roads.speeds import format_speeds, mapconfig_xml

STEPS = ("read", "import", "vertices", "edges", "components", "switch")


class LoadError(RuntimeError):
    """The extract could not be loaded (message for the operator of the command)."""


@dataclass(frozen=True)
class LoadResult:
    graph_id: int
    vertices: int
    edges: int
    routable: int
    max_kmh: float
    dropped_versions: int


def require_pgrouting(session: Session) -> None:
    """PostgreSQL with pgRouting, or a clear error (created when it can be)."""
    if session.get_bind().dialect.name != "postgresql":
        raise LoadError("real roads need PostgreSQL with PostGIS and pgRouting "
                        "(DATABASE_URL is not PostgreSQL)")
    have = session.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'pgrouting'")).first()
    if have:
        return
    available = session.execute(text(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'pgrouting'")).first()
    if not available:
        raise LoadError("pgRouting is not installed on the PostgreSQL server "
                        "(Debian: apt-get install postgresql-15-pgrouting)")
    session.execute(text("CREATE EXTENSION IF NOT EXISTS pgrouting"))


def _osm_xml(path: Path, workdir: Path, osmium: str) -> Path:
    name = path.name.lower()
    if name.endswith(".osm"):
        return path
    if name.endswith(".pbf"):
        if shutil.which(osmium) is None:
            raise LoadError(f"{osmium!r} not found: install osmium-tool to read .pbf extracts")
        out = workdir / "extract.osm"
        done = subprocess.run([osmium, "cat", str(path), "-o", str(out), "--overwrite"],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise LoadError(f"osmium could not read {path.name}: {done.stderr.strip()[-500:]}")
        return out
    raise LoadError(f"{path.name}: expected an OpenStreetMap extract ending in .osm or .osm.pbf")


def _run_osm2pgrouting(engine: Engine, osm: Path, schema: str, conf: Path, binary: str) -> None:
    if shutil.which(binary) is None:
        raise LoadError(f"{binary!r} not found: install osm2pgrouting (Debian package osm2pgrouting)")
    url = make_url(engine.url)
    cmd = [binary, "-f", str(osm), "-c", str(conf), "--schema", schema, "--clean",
           "-d", url.database or "", "-U", url.username or "postgres",
           "-h", url.host or "localhost", "-p", str(url.port or 5432)]
    env = None
    if url.password:  # through libpq's environment, never on the command line (ps shows it)
        env = {**os.environ, "PGPASSWORD": str(url.password)}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0 or "ERROR" in done.stderr:
        raise LoadError(f"osm2pgrouting failed: {(done.stderr or done.stdout).strip()[-800:]}")


def load_extract(session: Session, path: Path, speeds: dict[str, float], access_kmh: float, *,
                 osm2pgrouting: str = "osm2pgrouting", osmium: str = "osmium",
                 step: Callable[[str], None] = lambda _s: None) -> LoadResult:
    """Load `path` as the new current graph. Adds and flushes: the caller commits."""
    if not path.is_file():
        raise LoadError(f"{path}: no such file")
    if not access_kmh > 0:
        raise LoadError("ROADS_ACCESS_KMH must be above 0")
    require_pgrouting(session)
    engine = session.get_bind()
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    schema = f"roads_import_{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="lotocar-roads-") as tmp:
        workdir = Path(tmp)
        osm = _osm_xml(path, workdir, osmium)
        step("read")
        conf = workdir / "mapconfig.xml"
        conf.write_text(mapconfig_xml(speeds), encoding="utf-8")
        # osm2pgrouting writes through its own connection: its scratch schema lives apart
        # from the command's transaction and is dropped whatever happens.
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            _run_osm2pgrouting(engine, osm, schema, conf, osm2pgrouting)
            step("import")
            result = _copy(session, schema, path.name, digest.hexdigest(), speeds, access_kmh, step)
        except BaseException:
            # the command's transaction read the scratch tables: end it before dropping them
            session.rollback()
            with engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            raise
        session.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))  # with the command's commit
        return result


def _copy(session: Session, schema: str, source_name: str, sha256: str, speeds: dict[str, float],
          access_kmh: float, step: Callable[[str], None]) -> LoadResult:
    max_kmh = max(max(speeds.values()), access_kmh)
    graph_id = session.execute(text(
        "INSERT INTO road_graphs (source_name, source_sha256, loaded_at, speeds, access_kmh, max_kmh, "
        "vertices, edges, routable_vertices, is_current, matrix_pairs) "
        "VALUES (:n, :h, :at, :s, :a, :m, 0, 0, 0, false, 0) RETURNING id"),
        {"n": source_name[:255], "h": sha256, "at": clock.now_utc(), "s": format_speeds(speeds),
         "a": access_kmh, "m": max_kmh}).scalar_one()
    vertices = session.execute(text(
        f'INSERT INTO road_vertices (graph_id, id, lat, lon, routable, geom) '
        f'SELECT :g, v.id, ST_Y(v.the_geom), ST_X(v.the_geom), false, v.the_geom::geography '
        f'FROM "{schema}".ways_vertices_pgr v'), {"g": graph_id}).rowcount
    step("vertices")
    # costs from our speed table: class speed, or a lower maxspeed tag; negative = closed
    edges = session.execute(text(
        f'''INSERT INTO road_edges (graph_id, id, source, target, osm_id, road_class, name,
                                    length_m, cost_s, reverse_cost_s)
        SELECT :g, w.gid, w.source, w.target, w.osm_id, c.tag_value, left(w.name, 255), len.m,
               CASE WHEN w.cost_s < 0 THEN -1 ELSE len.m * 3.6 / least(c.maxspeed,
                    coalesce(nullif(w.maxspeed_forward, 0), c.maxspeed)) END,
               CASE WHEN w.reverse_cost_s < 0 THEN -1 ELSE len.m * 3.6 / least(c.maxspeed,
                    coalesce(nullif(w.maxspeed_backward, 0), c.maxspeed)) END
        FROM "{schema}".ways w
        JOIN "{schema}".configuration c ON c.tag_id = w.tag_id
        CROSS JOIN LATERAL (SELECT ST_Length(w.the_geom::geography, false) AS m) len
        WHERE w.source IS NOT NULL AND w.target IS NOT NULL'''), {"g": graph_id}).rowcount
    if not edges:
        raise LoadError(f"{source_name}: no road of the configured classes in this extract")
    step("edges")
    # fresh statistics for the planner: the edges queries pgRouting runs join these tables
    session.execute(text("ANALYZE road_vertices"))
    session.execute(text("ANALYZE road_edges"))
    from lotocar.roads.engine import edges_sql

    session.execute(text(
        "WITH comp AS (SELECT component, node FROM pgr_strongComponents(:edges)), "
        "biggest AS (SELECT component FROM comp GROUP BY component ORDER BY count(*) DESC, component "
        "LIMIT 1) "
        "UPDATE road_vertices v SET routable = true FROM comp JOIN biggest USING (component) "
        "WHERE v.graph_id = :g AND v.id = comp.node"), {"edges": edges_sql(graph_id), "g": graph_id})
    routable = session.execute(text(
        "SELECT count(*) FROM road_vertices WHERE graph_id = :g AND routable"), {"g": graph_id}).scalar_one()
    step("components")
    dropped = session.execute(text("DELETE FROM road_graphs WHERE id <> :g"), {"g": graph_id}).rowcount
    session.execute(text(
        "UPDATE road_graphs SET is_current = true, vertices = :v, edges = :e, routable_vertices = :r "
        "WHERE id = :g"), {"g": graph_id, "v": vertices, "e": edges, "r": routable})
    session.flush()
    step("switch")
    return LoadResult(graph_id, vertices, edges, routable, max_kmh, dropped)
