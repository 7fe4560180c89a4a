from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from lotocar.statements import operations as ops
from lotocar.statements import render


@click.group("statements", help="Drivers' monthly statements.")
def statements_cli() -> None:
    pass


@statements_cli.command("month", help="Statements of MONTH (AAAA-MM): every driver with rides done, or --driver.")
@click.argument("month")
@click.option("--driver", "driver_id", type=click.IntRange(1, 2**31 - 1), help="one driver's id")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="also write each statement's PDF and CSV in this folder")
@with_appcontext
def month_command(month: str, driver_id: int | None, out_dir: Path | None) -> None:
    try:
        items = ops.statements(ops.Month.parse(month), driver_id)
    except ops.StatementError as exc:
        raise click.UsageError(str(exc)) from exc
    if not items:
        click.echo(f"Aucun trajet effectué en {ops.Month.parse(month).label_fr}.")
    for st in items:
        click.echo(render.to_text(st))
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / render.filename(st, "pdf")).write_bytes(
                render.to_pdf(st, current_app.config.get("OPERATOR_PHONE", "")))
            (out_dir / render.filename(st, "csv")).write_text(render.to_csv(st), encoding="utf-8")
            click.echo(f"  -> {out_dir / render.filename(st, 'pdf')} et .csv")
