"""`flask sms …`: operations commands (`flask sms worker` is added by lotocar.jobs)."""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

sms_cli = AppGroup("sms", help="SMS and automatic calls: outbox worker, test message, status.")


@sms_cli.command("test")
@click.argument("phone")
@click.option("--text", default="Lot'ôcar : SMS d'essai. Équipe : {operator}")
def test_command(phone, text):
    """Queue a test SMS to PHONE (sent by the worker)."""
    from lotocar.core.phones import PhoneError, parse_phone
    from lotocar.extensions import db
    from lotocar.notifications import outbox

    try:
        e164, _ = parse_phone(phone, mobile_only=True)
    except PhoneError as exc:
        raise click.ClickException(str(exc)) from exc
    msg_id = outbox.enqueue(outbox.Draft(kind="test", to_phone=e164, urgent=True,
                                         body=text.format(operator=current_app.config["OPERATOR_PHONE"])))
    db.session.commit()  # the edge
    click.echo(f"queued message {msg_id} to {e164}")


@sms_cli.command("status")
def status_command():
    """Count outbox rows per status, and name the gateway in use."""
    from lotocar.extensions import db
    from lotocar.notifications.gateway import gateway
    from lotocar.notifications.models import SmsMessage

    from lotocar.notifications.voice_gateway import voice_gateway

    rows = db.session.execute(db.select(SmsMessage.channel, SmsMessage.status, db.func.count(SmsMessage.id))
                              .group_by(SmsMessage.channel, SmsMessage.status)).all()
    voice = voice_gateway()
    click.echo(f"gateway: {gateway().name}")
    click.echo(f"voice gateway: {voice.name if voice else 'off'}")
    for channel, status, count in sorted(rows, key=lambda r: (r[0].value, r[1].value)):
        click.echo(f"{status.value}: {count}" if channel.value == "sms" else f"voice {status.value}: {count}")
