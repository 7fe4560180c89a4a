"""Carpool proofs for France's register (Registre de preuve de covoiturage, API v3, class A).

Layer: with `stats` (above notifications). A ride marked done becomes one journey row (the
outbox of proofs), written in the transaction that marks it done; the worker sends each row
once when RPC_API_URL and RPC_TOKEN are set; otherwise `flask rpc export` writes the JSON."""
from __future__ import annotations

from flask import Flask

from lotocar.bookings.signals import booking_changed
from lotocar.rpc import operations, worker


def init_app(app: Flask) -> None:
    booking_changed.connect(operations.on_booking_changed, sender=app, weak=False)
    # the worker process (`flask sms worker`) runs every registered periodic job
    app.extensions.setdefault("worker_jobs", []).append(
        ("rpc-journeys", worker.worker_job, float(app.config.get("RPC_INTERVAL_S", 60.0))))
