"""`flask roads load FILE` and `flask roads matrix`: the road graph and its matrix."""
from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from lotocar.extensions import db
from lotocar.roads import matrix as matrix_ops
from lotocar.roads.loader import STEPS, LoadError, load_extract
from lotocar.roads.speeds import SpeedsError, format_speeds, parse_speeds

roads_cli = AppGroup("roads", help="Real roads: OpenStreetMap graph in PostgreSQL with pgRouting.")

_LABELS = {"read": "extract read", "import": "osm2pgrouting import", "vertices": "vertices copied",
           "edges": "edges costed", "components": "connected roads", "switch": "new graph current"}


@roads_cli.command("load")
@click.argument("extract", type=click.Path(dir_okay=False, path_type=Path))
def load(extract: Path) -> None:
    """Import an OpenStreetMap extract (.osm or .osm.pbf) as the new road graph."""
    cfg = current_app.config
    try:
        speeds = parse_speeds(cfg["ROADS_SPEEDS"])
    except SpeedsError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Speeds (km/h): {format_speeds(speeds)}; access {cfg['ROADS_ACCESS_KMH']:g}")
    with click.progressbar(length=len(STEPS), label="Road graph", show_pos=True,
                           item_show_func=lambda s: s) as bar:
        def step(name: str) -> None:
            bar.update(1, _LABELS.get(name, name))

        try:
            result = load_extract(db.session, extract, speeds, cfg["ROADS_ACCESS_KMH"],
                                  osm2pgrouting=cfg["OSM2PGROUTING"], osmium=cfg["OSMIUM"], step=step)
        except LoadError as exc:
            db.session.rollback()
            raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"Graph {result.graph_id}: {result.vertices} vertices, {result.edges} edges, "
               f"{result.routable} routable vertices; fastest speed {result.max_kmh:g} km/h "
               f"({result.dropped_versions} older version(s) removed). "
               "Run `flask roads matrix` next.")


@roads_cli.command("matrix")
@click.option("--within-km", type=click.FloatRange(min=1.0, max=500.0), default=None,
              help="Pairs of places at most this far apart as the crow flies (default ROADS_MATRIX_KM).")
@click.option("--batch", type=click.IntRange(min=1, max=500), default=16, show_default=True,
              help="Source places per pgRouting call.")
def matrix(within_km: float | None, batch: int) -> None:
    """Road minutes and km between the service's places, stored with the current graph."""
    within = within_km if within_km is not None else current_app.config["ROADS_MATRIX_KM"]
    try:
        router = matrix_ops.engine_router()
    except matrix_ops.MatrixError as exc:
        raise click.ClickException(str(exc)) from exc
    places = matrix_ops.places_from_communes()
    with click.progressbar(length=1, label="Matrix", show_pos=True) as bar:
        def progress(done: int, total: int) -> None:
            bar.length = max(total, 1)
            bar.update(done - bar.pos)

        result = matrix_ops.build_matrix(router, places, within, batch, progress)
    db.session.commit()
    click.echo(f"Graph {router.graph.id}: {len(result.legs)} legs between {len(result.places)} places "
               f"within {within:g} km; {len(result.outside)} place(s) off the graph "
               f"(more than {router.max_snap_km:g} km from a road) use straight-line legs.")

