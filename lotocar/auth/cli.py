from __future__ import annotations

import click
from flask.cli import AppGroup

from lotocar.auth import operations as ops
from lotocar.auth.models import Role

operators_cli = AppGroup("operators", help="Operator and admin accounts.")


@operators_cli.command("create")
@click.argument("email")
@click.option("--name", required=True, help="First and last name, e.g. 'Sophie Martin'.")
@click.option("--admin", is_flag=True, help="Create an administrator instead of an operator.")
def create(email: str, name: str, admin: bool) -> None:
    """Create an operator and print a generated password."""
    first, _, last = name.strip().partition(" ")
    try:
        user, password = ops.create_staff(email, first, last or "-",
                                          Role.ADMIN if admin else Role.OPERATOR)
    except ops.AuthError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{user.role.value} {user.email} created. Password: {password}")
