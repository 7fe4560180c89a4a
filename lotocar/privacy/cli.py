from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import AppGroup

from lotocar.core import tx
from lotocar.privacy import operations as ops

privacy_cli = AppGroup("privacy", help="Personal data (RGPD): export, erasure, retention.")


@privacy_cli.command("export")
@click.argument("kind", type=click.Choice(["passenger", "driver"]))
@click.argument("person_id", type=int)
def export(kind: str, person_id: int) -> None:
    """Print everything held about one person, as JSON."""
    try:
        data = ops.export_passenger(person_id) if kind == "passenger" else ops.export_driver(person_id)
    except ops.PrivacyError as exc:
        raise click.ClickException(str(exc)) from exc
    tx.atomic(lambda: ops.record_export(kind, person_id, None))
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


@privacy_cli.command("delete")
@click.argument("kind", type=click.Choice(["passenger", "driver"]))
@click.argument("person_id", type=int)
@click.option("--reason", required=True, help="Why (e.g. 'demande écrite du 12/03').")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def delete(kind: str, person_id: int, reason: str, yes: bool) -> None:
    """Erase a person's identifying data (rides stay, anonymous, in the statistics)."""
    if not yes:
        click.confirm(f"Erase the personal data of {kind} {person_id}?", abort=True)
    try:
        tx.atomic(lambda: ops.anonymise_passenger(person_id, None, reason) if kind == "passenger"
                  else ops.anonymise_driver(person_id, None, reason))
    except ops.PrivacyError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{kind} {person_id}: personal data erased.")


@privacy_cli.command("purge")
@click.option("--months", type=int, default=None, help="Inactivity before anonymisation (default: config, 24).")
@click.option("--dry-run", is_flag=True, help="List who would be anonymised, change nothing.")
def purge(months: int | None, dry_run: bool) -> None:
    """Anonymise people inactive for the retention period (the worker runs it nightly)."""
    months = months or int(current_app.config.get("PRIVACY_RETENTION_MONTHS", 24))
    done = tx.atomic(lambda: ops.purge_inactive(months=months, dry_run=dry_run))
    verb = "would be" if dry_run else "were"
    click.echo(f"{len(done['passengers'])} passengers and {len(done['drivers'])} drivers {verb} anonymised "
               f"(inactive for {months} months).")
