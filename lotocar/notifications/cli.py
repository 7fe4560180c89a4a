"""`flask sms …`: the worker and a few operations commands."""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

sms_cli = AppGroup("sms", help="SMS and automatic calls: outbox worker, test message, status.")


@sms_cli.command("worker")
@click.option("--interval", type=float, default=None, help="Seconds between passes (SMS_WORKER_INTERVAL_S).")
@click.option("--once", is_flag=True, help="One pass, then exit.")
@click.option("--until-idle", is_flag=True, help="Run until nothing is due, then exit.")
@click.option("--max-seconds", type=float, default=120.0, help="Limit for --until-idle.")
@click.option("--worker-id", default=None, help="Name recorded on claimed rows (default host:pid).")
def worker_command(interval, once, until_idle, max_seconds, worker_id):
    """Send the outbox: the one process that sends SMS and reminders (never in web workers)."""
    from lotocar.notifications import worker

    app = current_app._get_current_object()
    if once:
        stats = worker.run_once(app, worker_id)
        click.echo(f"sent {stats.sent}, outcomes {stats.outcomes}, checked {stats.checked}, "
                   f"recovered {stats.recovered}, expired {stats.expired}")
        return
    if until_idle:
        worker.run_until_idle(app, worker_id, max_seconds=max_seconds)
        click.echo("outbox drained")
        return
    worker.run_forever(app, interval=interval, worker_id=worker_id)


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
    db.session.commit()
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
