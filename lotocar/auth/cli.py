from __future__ import annotations

import click
from flask.cli import AppGroup

from lotocar.api import operations as api_tokens
from lotocar.auth import operations as ops
from lotocar.core import tx
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
        user, password = tx.atomic(lambda: ops.create_staff(email, first, last or "-",
                                                            Role.ADMIN if admin else Role.OPERATOR))
    except ops.AuthError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{user.role.value} {user.email} created. Password: {password}")


@operators_cli.command("token")
@click.argument("email")
@click.option("--revoke", is_flag=True, help="Revoke every API token of this account instead.")
def token(email: str, revoke: bool) -> None:
    """Print a new API token for an operator or admin (only its SHA-256 is stored)."""
    try:
        if revoke:
            count = tx.atomic(lambda: api_tokens.revoke_tokens(email))
            click.echo(f"{count} API token(s) revoked for {email}.")
            return
        raw, _ = tx.atomic(lambda: api_tokens.issue_token(email))
    except api_tokens.TokenError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"API token for {email} (shown only once, keep it secret):", err=True)
    click.echo(raw)
