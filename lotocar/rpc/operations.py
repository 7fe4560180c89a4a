"""The proofs outbox: one row per ride done, checked, sent once, statuses only forward."""
from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from flask import Flask, current_app

from lotocar.bookings.models import Booking, BookingStatus
from lotocar.core.timeutil import local_to_utc, utcnow
from lotocar.extensions import db
from lotocar.rpc import journeys
from lotocar.rpc.models import FINAL, RANK, JourneyStatus, RpcJourney

log = logging.getLogger("lotocar.rpc")
J = JourneyStatus
LIVE_FOR_RULES = (J.PENDING, J.UNKNOWN, J.ACCEPTED)


def configured(app: Flask | None = None) -> bool:
    cfg = (app or current_app).config
    return bool(cfg.get("RPC_API_URL")) and bool(cfg.get("RPC_TOKEN"))


def _facts(row: RpcJourney) -> journeys.Facts:
    return journeys.Facts(row.operator_trip_id, row.start_at, row.end_at, row.distance_m,
                          row.driver_key, row.passenger_key)


def _others(row: RpcJourney) -> list[journeys.Facts]:
    window = (row.start_at - timedelta(days=1), row.end_at + timedelta(days=1))
    return [_facts(o) for o in db.session.scalars(
        db.select(RpcJourney).where(
            RpcJourney.id != row.id, RpcJourney.status.in_(LIVE_FOR_RULES),
            RpcJourney.start_at >= window[0], RpcJourney.start_at <= window[1],
            (RpcJourney.driver_key.in_([row.driver_key, row.passenger_key]))
            | (RpcJourney.passenger_key.in_([row.driver_key, row.passenger_key]))))]


def _move(row: RpcJourney, status: JourneyStatus, now: datetime, error: str | None = None,
          labels: list[str] | None = None) -> bool:
    """Forward-only status change (compare-and-set on the current status)."""
    if RANK[status] < RANK[row.status] or (row.status in FINAL and status != row.status):
        return False
    changed = db.session.execute(
        db.update(RpcJourney).where(RpcJourney.id == row.id, RpcJourney.status == row.status)
        .values(status=status, status_at=now, last_error=error if error is not None else row.last_error,
                refusal_labels=labels if labels is not None else row.refusal_labels,
                sent_at=now if status in (J.ACCEPTED, J.REFUSED, J.UNKNOWN) and row.sent_at is None
                else row.sent_at)
        .execution_options(synchronize_session=False)).rowcount
    db.session.refresh(row)
    return changed == 1


def record_done(booking: Booking, now: datetime | None = None) -> RpcJourney | None:
    """Write the journey row of a booking just marked done (same transaction; no commit)."""
    now = now or utcnow()
    if db.session.scalar(db.select(RpcJourney.id).where(RpcJourney.booking_id == booking.id)):
        return None
    try:
        built = journeys.build(booking)
    except journeys.JourneyBuildError as exc:
        log.warning("booking %s cannot become a proof: %s", booking.id, exc)
        row = RpcJourney(booking_id=booking.id, operator_journey_id=journeys.journey_id(booking),
                         operator_trip_id=journeys.trip_id(booking), driver_key="", passenger_key="",
                         start_at=booking.pickup_at or now, end_at=booking.dropoff_at or now, distance_m=0,
                         payload={}, status=J.BLOCKED, refusal_labels=[exc.label], last_error=str(exc),
                         next_attempt_at=now, status_at=now, created_at=now)
        db.session.add(row)
        db.session.flush()
        return row
    row = RpcJourney(booking_id=booking.id, operator_journey_id=built.payload["operator_journey_id"],
                     operator_trip_id=built.payload["operator_trip_id"], driver_key=built.driver_key,
                     passenger_key=built.passenger_key, start_at=built.start_at, end_at=built.end_at,
                     distance_m=built.distance_m, payload=built.payload, status=J.PENDING,
                     next_attempt_at=now, status_at=now, created_at=now)
    db.session.add(row)
    db.session.flush()
    labels = journeys.refusals(_facts(row), now, _others(row))
    if labels:
        _move(row, J.BLOCKED, now, journeys.describe(labels), labels)
    return row


def on_booking_changed(sender, booking: Booking, old, new, **_: object) -> None:
    """A ride marked done: its proof row, in the same transaction. Only one actor can win the
    compare-and-set to `done`, so the row is written once (a replayed event finds it)."""
    if new == BookingStatus.DONE:
        record_done(booking)


# --- operators ---------------------------------------------------------------------------------

def overdue_rides(now: datetime | None = None, hours: int | None = None) -> list[Booking]:
    """Confirmed rides whose pickup was more than RPC_DONE_WARNING_HOURS ago and not marked
    done (nor no-show): past 24 h the register refuses their proof."""
    now = now or utcnow()
    hours = hours if hours is not None else int(current_app.config.get("RPC_DONE_WARNING_HOURS", 20))
    return list(db.session.scalars(
        db.select(Booking).where(Booking.status == BookingStatus.CONFIRMED,
                                 Booking.pickup_at <= now - timedelta(hours=hours))
        .order_by(Booking.pickup_at)))


def overdue_count(now: datetime | None = None) -> int:
    now = now or utcnow()
    hours = int(current_app.config.get("RPC_DONE_WARNING_HOURS", 20))
    return db.session.scalar(db.select(db.func.count(Booking.id)).where(
        Booking.status == BookingStatus.CONFIRMED, Booking.pickup_at <= now - timedelta(hours=hours))) or 0


def attention_count() -> int:
    return db.session.scalar(db.select(db.func.count(RpcJourney.id)).where(
        RpcJourney.status.in_((J.REFUSED, J.BLOCKED, J.FAILED)))) or 0


def needing_attention() -> list[RpcJourney]:
    return list(db.session.scalars(
        db.select(RpcJourney).where(RpcJourney.status.in_((J.REFUSED, J.BLOCKED, J.FAILED)))
        .order_by(RpcJourney.start_at.desc()).limit(500)))


def listing(start: date, end: date) -> list[RpcJourney]:
    return list(db.session.scalars(
        db.select(RpcJourney).where(RpcJourney.start_at >= local_to_utc(start, datetime.min.time()),
                                    RpcJourney.start_at < local_to_utc(end + timedelta(days=1),
                                                                      datetime.min.time()))
        .order_by(RpcJourney.start_at, RpcJourney.id)))


def export(start: date, end: date) -> tuple[list[dict], list[RpcJourney]]:
    """Journeys of the period (by local start date) to hand to the register, and those left
    out because the register would refuse them (blocked or refused)."""
    rows = listing(start, end)
    keep = [r.payload for r in rows if r.status not in (J.BLOCKED, J.REFUSED) and r.payload]
    return keep, [r for r in rows if r.status in (J.BLOCKED, J.REFUSED)]
