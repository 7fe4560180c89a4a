"""The SMS worker: one process (`flask sms worker`) running APScheduler, never a web worker.

Each tick, in this order: rows left `sending` by a dead process become `unknown`; expired
pending rows are withdrawn; unknown sends are looked up at the provider (adopted or
re-queued); calls whose final status never came are asked at Twilio; then a batch of due rows is claimed and sent one by one, each outcome committed
before the next send. SIGTERM / SIGINT stop it gracefully: the message being sent is
finished, the rest of the batch is given back.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time as _time
from dataclasses import dataclass, field
from datetime import datetime

from flask import Flask

from lotocar.core import clock
from lotocar.core.timeutil import utcnow
from lotocar.extensions import db
from lotocar.notifications import calls, outbox
from lotocar.notifications.models import SmsMessage, SmsStatus

log = logging.getLogger("lotocar.sms.worker")


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:64]


@dataclass
class TickStats:
    recovered: int = 0
    expired: int = 0
    polled: int = 0
    checked: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)

    @property
    def sent(self) -> int:
        return self.outcomes.get("sent", 0)


def run_once(app: Flask, worker_id: str | None = None, now: datetime | None = None,
             stop: threading.Event | None = None, batch: int | None = None) -> TickStats:
    """One pass over the outbox. `now` fixes the clock (tests); else real time per step."""
    worker_id = worker_id or default_worker_id()
    stats = TickStats()
    with app.app_context():
        try:
            batch = batch or int(app.config.get("SMS_WORKER_BATCH", 20))
            stats.recovered = outbox.recover_stale(now or utcnow())
            stats.expired = outbox.expire_pending(now or utcnow())
            stats.checked = outbox.check_unknown(worker_id, now or utcnow(), batch)
            stats.polled = calls.poll_unfinished(now or utcnow(), batch)
            claimed = outbox.claim_due(worker_id, now or utcnow(), batch)
            for index, msg_id in enumerate(claimed):
                if stop is not None and stop.is_set():
                    outbox.release(claimed[index:], worker_id)
                    break
                outcome = outbox.deliver(msg_id, worker_id, now)
                stats.outcomes[outcome] = stats.outcomes.get(outcome, 0) + 1
        except Exception:
            db.session.rollback()
            log.exception("SMS worker tick failed")
            raise
        finally:
            db.session.remove()
    return stats


def backlog(app: Flask, now: datetime | None = None) -> int:
    """Rows that still need the worker now (due pending, sending, unknown)."""
    with app.app_context():
        now = now or utcnow()
        count = db.session.scalar(
            db.select(db.func.count(SmsMessage.id)).where(
                (SmsMessage.status.in_([SmsStatus.SENDING, SmsStatus.UNKNOWN]))
                | ((SmsMessage.status == SmsStatus.PENDING) & (SmsMessage.send_after <= now))))
        db.session.remove()
        return int(count or 0)


def run_until_idle(app: Flask, worker_id: str | None = None, max_seconds: float = 60.0,
                   pause: float = 0.2) -> None:
    """Drain the outbox, then return (operations, tests)."""
    deadline = clock.monotonic() + max_seconds
    while clock.monotonic() < deadline:
        run_once(app, worker_id)
        if backlog(app) == 0:
            return
        _time.sleep(pause)
    raise TimeoutError("the SMS outbox did not drain in time")


def run_forever(app: Flask, interval: float | None = None, worker_id: str | None = None) -> None:
    """The long-running worker: an APScheduler interval job, one tick at a time."""
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.interval import IntervalTrigger

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

    def retention() -> None:
        """RGPD: anonymise people inactive for PRIVACY_RETENTION_MONTHS (idempotent)."""
        from lotocar.privacy.operations import purge_inactive

        if stop.is_set():
            return
        try:
            with app.app_context():
                done = purge_inactive(months=int(app.config.get("PRIVACY_RETENTION_MONTHS", 24)))
            log.info("retention: anonymised %d passengers, %d drivers",
                     len(done["passengers"]), len(done["drivers"]))
        except Exception:
            log.exception("retention job failed; it runs again tomorrow")

    from apscheduler.triggers.cron import CronTrigger

    scheduler.add_job(retention, CronTrigger(hour=3, minute=30, timezone="Europe/Paris"), id="privacy-retention")

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
