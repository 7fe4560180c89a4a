from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from lotocar.rpc import journeys
from lotocar.rpc import operations as ops
from lotocar.rpc import worker as rpc_worker


def _day(ctx, param, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter("date AAAA-MM-JJ attendue") from exc


@click.group("rpc", help="Carpool proofs for the national register (RPC, API v3, class A).")
def rpc_cli() -> None:
    pass


@rpc_cli.command("export", help="Write the journeys of a period as JSON (a list of v3 journeys).")
@click.option("--du", "start", required=True, callback=_day, help="first local date (included)")
@click.option("--au", "end", required=True, callback=_day, help="last local date (included)")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="file (default: stdout)")
@with_appcontext
def export_command(start: date, end: date, output: Path | None) -> None:
    if end < start:
        raise click.UsageError("--au doit suivre --du.")
    payloads, left_out = ops.export(start, end)
    for payload in payloads:
        errors = journeys.schema_errors(payload)
        if errors:
            raise click.ClickException(f"{payload.get('operator_journey_id')}: {errors}")
    text = json.dumps(payloads, ensure_ascii=False, indent=2)
    if output:
        output.write_text(text + "\n", encoding="utf-8")
    else:
        click.echo(text)
    for row in left_out:
        click.echo(f"non exporté {row.operator_journey_id} : {row.last_error or journeys.describe(row.refusal_labels)}",
                   err=True)
    click.echo(f"{len(payloads)} trajet(s) exporté(s), {len(left_out)} écarté(s).", err=True)


@rpc_cli.command("send", help="One pass of the sender (what the worker does each minute).")
@with_appcontext
def send_command() -> None:
    if not ops.configured():
        raise click.ClickException("RPC_API_URL et RPC_TOKEN ne sont pas configurés : utilisez `flask rpc export`.")
    click.echo(json.dumps(rpc_worker.send_due(current_app._get_current_object())))
