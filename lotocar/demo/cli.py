from __future__ import annotations

import click
from flask.cli import AppGroup

from lotocar.core import tx
from lotocar.demo import operations

demo_cli = AppGroup("demo", help="Demonstration data.")


@demo_cli.command("load")
def load() -> None:
    """Create demo drivers, trips, passengers and an operator (idempotent)."""
    counts = tx.atomic(operations.load_demo)
    click.echo("Demo data: " + ", ".join(f"{v} {k}" for k, v in counts.items()) + " created.")
    click.echo(f"Demo operator: {operations.DEMO_OPERATOR_EMAIL} / {operations.DEMO_OPERATOR_PASSWORD}")
    click.echo("Demo drivers log in with their phone (e.g. 06 12 34 56 01); the code is printed here.")
