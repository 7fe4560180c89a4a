from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from lotocar.communes import operations
from lotocar.extensions import db

communes_cli = AppGroup("communes", help="Reference list of the Lot's communes.")


@communes_cli.command("load")
@click.option("--csv", "csv_path", default=None, help="CSV file (default: the shipped list).")
def load(csv_path: str | None) -> None:
    """Load or refresh the communes (idempotent)."""
    path = csv_path or current_app.config["COMMUNES_CSV"]
    try:
        rows = operations.read_csv(path)
    except (OSError, operations.CommuneFileError) as exc:
        raise click.ClickException(f"cannot read {path}: {exc}") from exc
    counts = {"added": 0, "updated": 0, "same": 0}
    with click.progressbar(operations.upsert_communes(rows), length=len(rows),
                           label="Communes", show_pos=True) as bar:
        for _insee, outcome in bar:
            counts[outcome] += 1
    db.session.commit()
    click.echo(f"{len(rows)} communes: {counts['added']} added, {counts['updated']} updated, "
               f"{counts['same']} unchanged.")
