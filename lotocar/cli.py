"""`flask` commands, grouped per feature."""
from __future__ import annotations

from flask import Flask


def register_cli(app: Flask) -> None:
    from lotocar.auth.cli import operators_cli
    from lotocar.communes.cli import communes_cli
    from lotocar.demo.cli import demo_cli
    from lotocar.jobs import worker_command
    from lotocar.notifications.cli import sms_cli
    from lotocar.privacy.cli import privacy_cli
    from lotocar.rpc.cli import rpc_cli
    from lotocar.statements.cli import statements_cli
    from lotocar.roads.cli import roads_cli

    app.cli.add_command(communes_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(operators_cli)
    sms_cli.add_command(worker_command)  # `flask sms worker`: the top-level edge, above privacy
    app.cli.add_command(sms_cli)
    app.cli.add_command(privacy_cli)
    app.cli.add_command(statements_cli)
    app.cli.add_command(rpc_cli)
    app.cli.add_command(roads_cli)
