"""The one long-running background process (`flask sms worker`): an edge above every
feature. APScheduler runs the SMS outbox tick (lotocar.notifications.worker) and the nightly
RGPD retention job (lotocar.privacy), each committing its own transactions. Never started
inside a web worker.
"""
from __future__ import annotations

import logging
import signal
import threading

import click

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask, current_app

from lotocar.core import clock, tx
from lotocar.notifications.worker import default_worker_id, run_once, run_until_idle
from lotocar.privacy.operations import purge_inactive

log = logging.getLogger("lotocar.sms.worker")


def retention(app: Flask) -> dict[str, list[int]]:
    """RGPD: anonymise people inactive for PRIVACY_RETENTION_MONTHS (idempotent), one
    transaction."""
    with app.app_context():
        months = int(app.config.get("PRIVACY_RETENTION_MONTHS", 24))
        return tx.atomic(lambda: purge_inactive(months=months))


def run_forever(app: Flask, interval: float | None = None, worker_id: str | None = None) -> None:
    """The long-running worker: an APScheduler interval job, one tick at a time."""
    interval = interval or float(app.config.get("SMS_WORKER_INTERVAL_S", 5.0))
    worker_id = worker_id or default_worker_id()
    stop = threading.Event()
    scheduler = BlockingScheduler(
        timezone="UTC", executors={"default": ThreadPoolExecutor(max_workers=1)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
    )

    def tick() -> None:
        if stop.is_set():
            return
        try:
            stats = run_once(app, worker_id, stop=stop)
        except Exception:  # logged in run_once; the next tick tries again
            return
        if stats.outcomes or stats.recovered or stats.expired or any(stats.checked.values()):
            log.info("SMS tick: %s", stats)

    scheduler.add_job(tick, IntervalTrigger(seconds=interval), id="sms-outbox", next_run_time=clock.system_now_utc())

    # periodic jobs other features registered in app.extensions["worker_jobs"] (e.g. the proofs
    # sender): (id, callable(app), seconds); each failure is logged, the next run tries again
    for job_id, job, seconds in app.extensions.get("worker_jobs", []):
        def run_job(job=job, job_id=job_id) -> None:
            if stop.is_set():
                return
            try:
                job(app)
            except Exception:
                log.exception("worker job %s failed; it runs again at the next interval", job_id)

        scheduler.add_job(run_job, IntervalTrigger(seconds=seconds), id=job_id,
                          next_run_time=clock.system_now_utc())

    def nightly() -> None:
        if stop.is_set():
            return
        try:
            done = retention(app)
            log.info("retention: anonymised %d passengers, %d drivers",
                     len(done["passengers"]), len(done["drivers"]))
        except Exception:
            log.exception("retention job failed; it runs again tomorrow")

    scheduler.add_job(nightly, CronTrigger(hour=3, minute=30, timezone="Europe/Paris"), id="privacy-retention")

    def on_signal(signum, frame) -> None:
        if stop.is_set():
            return
        log.info("SMS worker %s: signal %s, stopping after the current message", worker_id, signum)
        stop.set()
        # shutdown(wait=True) waits for the running tick: do it off the signal handler
        threading.Thread(target=scheduler.shutdown, kwargs={"wait": True}, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("SMS worker %s started (every %.1f s, database %s)", worker_id, interval,
             app.config["SQLALCHEMY_DATABASE_URI"].split("@")[-1])
    print(f"SMS worker {worker_id} started", flush=True)
    scheduler.start()
    print(f"SMS worker {worker_id} stopped", flush=True)


@click.command("worker")
@click.option("--interval", type=float, default=None, help="Seconds between passes (SMS_WORKER_INTERVAL_S).")
@click.option("--once", is_flag=True, help="One pass, then exit.")
@click.option("--until-idle", is_flag=True, help="Run until nothing is due, then exit.")
@click.option("--max-seconds", type=float, default=120.0, help="Limit for --until-idle.")
@click.option("--worker-id", default=None, help="Name recorded on claimed rows (default host:pid).")
def worker_command(interval, once, until_idle, max_seconds, worker_id):
    """Send the outbox: the one process that sends SMS and reminders (never in web workers)."""
    app = current_app._get_current_object()
    if once:
        stats = run_once(app, worker_id)
        click.echo(f"sent {stats.sent}, outcomes {stats.outcomes}, checked {stats.checked}, "
                   f"recovered {stats.recovered}, expired {stats.expired}")
        return
    if until_idle:
        run_until_idle(app, worker_id, max_seconds=max_seconds)
        click.echo("outbox drained")
        return
    run_forever(app, interval=interval, worker_id=worker_id)
