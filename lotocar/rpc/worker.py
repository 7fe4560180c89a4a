"""The proofs sender: one worker tick over the due journeys (an edge, like the SMS worker).

Each journey is checked, claimed (its attempt counted and committed before the request
leaves, so a crash mid-send is visible), sent or looked up, and its outcome committed before
the next one: the outbox rules of the SMS worker, applied to the register.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import Flask, current_app

from lotocar.core.timeutil import utcnow
from lotocar.extensions import db
from lotocar.rpc import journeys
from lotocar.rpc.client import Outcome, RegisterClient
from lotocar.rpc.models import FINAL, JourneyStatus, RpcJourney
from lotocar.rpc.operations import _facts, _move, _others, configured

log = logging.getLogger("lotocar.rpc")
J = JourneyStatus


def _client(app: Flask) -> RegisterClient:
    cfg = app.config
    return RegisterClient(cfg["RPC_API_URL"], cfg["RPC_TOKEN"], float(cfg.get("RPC_TIMEOUT_S", 10.0)))


def _backoff(attempts: int) -> timedelta:
    base = int(current_app.config.get("RPC_RETRY_BASE_S", 60))
    return timedelta(seconds=min(3600, base * (2 ** max(0, attempts - 1))))


def _apply(row: RpcJourney, outcome: Outcome, now: datetime) -> str:
    if outcome.kind == "accepted":
        _move(row, J.ACCEPTED, now, outcome.message or None)
    elif outcome.kind == "refused":
        labels = outcome.labels or []
        text = outcome.message + (f" ({journeys.describe(labels)})" if labels else "")
        _move(row, J.REFUSED, now, text, labels)
    elif outcome.kind == "unknown":
        _move(row, J.UNKNOWN, now, outcome.message)
        row.next_attempt_at = now + _backoff(row.attempts)
    else:  # retry later, same status
        row.last_error = outcome.message
        if row.attempts >= int(current_app.config.get("RPC_MAX_ATTEMPTS", 8)):
            _move(row, J.FAILED, now, outcome.message)
        else:
            row.next_attempt_at = now + _backoff(row.attempts)
    return outcome.kind


def process(row_id: int, client: RegisterClient, now: datetime | None = None) -> str:
    """Check, then send (or look up) one journey; the outcome is committed before the next."""
    now = now or utcnow()
    row = db.session.get(RpcJourney, row_id)
    if row is None or row.status in FINAL:
        return "skipped"
    if row.status == J.UNKNOWN:
        # the last send may have reached the register: ask before sending again
        found = client.lookup(row.operator_journey_id)
        if found.kind in ("accepted", "refused"):
            kind = _apply(row, found, now)
            db.session.commit()
            return kind
        if found.kind == "retry":
            row.next_attempt_at = now + _backoff(row.attempts)
            row.last_error = found.message
            db.session.commit()
            return "retry"
    labels = journeys.refusals(_facts(row), now, _others(row))
    if labels:
        _move(row, J.BLOCKED, now, journeys.describe(labels), labels)
        db.session.commit()
        return "blocked"
    # claim: count the attempt before the request leaves (a crash mid-send is then visible)
    claimed = db.session.execute(
        db.update(RpcJourney).where(RpcJourney.id == row.id, RpcJourney.attempts == row.attempts,
                                    RpcJourney.status == row.status)
        .values(attempts=RpcJourney.attempts + 1, next_attempt_at=now + _backoff(row.attempts + 1))
        .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    if claimed != 1:
        return "skipped"
    db.session.refresh(row)
    outcome = client.send(row.payload)
    kind = _apply(row, outcome, now)
    db.session.commit()
    log.info("proof %s: %s %s", row.operator_journey_id, kind, outcome.message)
    return kind


def due_ids(now: datetime, limit: int = 50) -> list[int]:
    return list(db.session.scalars(
        db.select(RpcJourney.id).where(RpcJourney.status.in_((J.PENDING, J.UNKNOWN)),
                                       RpcJourney.next_attempt_at <= now)
        .order_by(RpcJourney.next_attempt_at, RpcJourney.id).limit(limit)))


def send_due(app: Flask, now: datetime | None = None, client: RegisterClient | None = None) -> dict[str, int]:
    """One pass of the worker: every due journey once (nothing when not configured)."""
    counts: dict[str, int] = {}
    if not configured(app):
        return counts
    with app.app_context():
        try:
            client = client or _client(app)
            for row_id in due_ids(now or utcnow()):
                kind = process(row_id, client, now)
                counts[kind] = counts.get(kind, 0) + 1
        except Exception:
            db.session.rollback()
            log.exception("proofs pass failed")
            raise
        finally:
            db.session.remove()
    return counts


def worker_job(app: Flask) -> None:
    counts = send_due(app)
    if counts:
        log.info("proofs: %s", counts)
