"""The SMS worker's ticks: the edge that commits the outbox's steps (lotocar.notifications
.outbox only adds and flushes). The long-running process that schedules them, with the
nightly jobs, is `lotocar.jobs` (`flask sms worker`), never a web worker.

Each tick, in this order: rows left `sending` by a dead process become `unknown`; expired
pending rows are withdrawn; unknown sends are looked up at the provider (adopted or
re-queued); calls whose final status never came are asked at Twilio; then a batch of due rows is claimed and sent one by one, each outcome committed
before the next send. SIGTERM / SIGINT stop it gracefully: the message being sent is
finished, the rest of the batch is given back.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time as _time
from dataclasses import dataclass, field
from datetime import datetime

from flask import Flask

from lotocar.core import clock, tx
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
    """One pass over the outbox. `now` fixes the clock (tests); else real time per step.
    Each step is its own transaction, committed here: a claim is committed before the send,
    each outcome right after it."""
    worker_id = worker_id or default_worker_id()
    stats = TickStats()
    with app.app_context():
        try:
            batch = batch or int(app.config.get("SMS_WORKER_BATCH", 20))
            stats.recovered = tx.atomic(lambda: outbox.recover_stale(now or utcnow()))
            stats.expired = tx.atomic(lambda: outbox.expire_pending(now or utcnow()))
            stats.checked = check_unknown(worker_id, now, batch)
            stats.polled = tx.atomic(lambda: calls.poll_unfinished(now or utcnow(), batch))
            claimed = tx.atomic(lambda: outbox.claim_due(worker_id, now or utcnow(), batch))
            for index, msg_id in enumerate(claimed):
                if stop is not None and stop.is_set():
                    tx.atomic(lambda: outbox.release(claimed[index:], worker_id))
                    break
                tx.atomic(lambda: outbox.arm_call(msg_id, worker_id))  # a call's token, before its POST
                outcome = tx.atomic(lambda: outbox.deliver(msg_id, worker_id, now))
                stats.outcomes[outcome] = stats.outcomes.get(outcome, 0) + 1
        except Exception:
            db.session.rollback()
            log.exception("SMS worker tick failed")
            raise
        finally:
            db.session.remove()
    return stats


def check_unknown(worker_id: str, now: datetime | None, batch: int) -> dict[str, int]:
    """Take the unknown sends (committed), then look each one up and commit its outcome."""
    stats = {"found": 0, "requeued": 0, "still_unknown": 0}
    mine = tx.atomic(lambda: outbox.take_unknown(worker_id, now or utcnow(), batch))
    for msg_id, to, body, since, channel, known_id in mine:
        outcome = tx.atomic(lambda: outbox.check_one(msg_id, to, body, since, now or utcnow(), channel, known_id))
        stats[outcome] += 1
    return stats


def send_now(to: str, body: str, kind: str, now: datetime | None = None) -> int | None:
    """An urgent SMS from a web request (one-time codes): queued and committed, then tried at
    once from this process; the worker finds the row if this attempt fails (lease → check)."""
    now = now or utcnow()
    msg_id = tx.atomic(lambda: outbox.queue_urgent(to, body, kind, now))
    if msg_id is None:
        return None
    worker_id = "web"
    if tx.atomic(lambda: outbox.claim(msg_id, worker_id, now)):
        try:
            tx.atomic(lambda: outbox.deliver(msg_id, worker_id, now))
        except Exception:  # never break the page
            log.exception("SMS %s: immediate send failed, left to the worker", msg_id)
    return msg_id


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
