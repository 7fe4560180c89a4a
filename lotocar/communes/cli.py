from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from lotocar.communes import operations
from lotocar.extensions import db

communes_cli = AppGroup("communes", help="Reference lists: the Lot's communes, those around it, former communes.")


def _progress(label: str, rows: list, upsert) -> dict[str, int]:
    counts = {"added": 0, "updated": 0, "same": 0}
    with click.progressbar(upsert(rows), length=len(rows), label=label, show_pos=True) as bar:
        for _code, outcome in bar:
            counts[outcome] += 1
    return counts


@communes_cli.command("load")
@click.option("--csv", "csv_path", default=None,
              help="One communes file (the Lot's columns, optionally then `departement`…).")
@click.option("--former", "former_path", default=None, help="One former communes file.")
def load(csv_path: str | None, former_path: str | None) -> None:
    """Load or refresh the communes and former communes (idempotent).

    Without options: the three shipped files (the Lot, around the Lot, former communes)."""
    if csv_path or former_path:
        communes_files, former_file = ([csv_path] if csv_path else []), former_path
    else:
        communes_files, former_file = operations.shipped_files(current_app.config)
    try:
        for path in communes_files:
            rows = operations.read_csv(path)
            counts = _progress("Communes", rows, operations.upsert_communes)
            outside = sum(1 for r in rows if r.departement != operations.LOT)
            what = f"{len(rows)} communes" + (f" ({outside} outside the Lot)" if outside else "")
            click.echo(f"{what}: {counts['added']} added, {counts['updated']} updated, "
                       f"{counts['same']} unchanged.")
        if former_file:
            rows = operations.read_former_csv(former_file)
            counts = _progress("Former communes", rows, operations.upsert_former)
            click.echo(f"{len(rows)} former communes: {counts['added']} added, "
                       f"{counts['updated']} updated, {counts['same']} unchanged.")
    except (OSError, operations.CommuneFileError) as exc:
        db.session.rollback()
        raise click.ClickException(f"cannot load: {exc}") from exc
    db.session.commit()
