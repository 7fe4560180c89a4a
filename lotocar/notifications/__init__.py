"""Notifications: one outbox for SMS and automatic voice calls, gateways (Twilio, development),
worker, reminders, replies, call webhooks.

`init_app` picks the gateway and subscribes to booking and trip events. Nothing here starts
a scheduler: the worker is its own process (`flask sms worker`).
"""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from lotocar.bookings.signals import booking_changed, promise_changed
    from lotocar.notifications import gateway, planner, voice_gateway

    gateway.init_app(app)
    voice_gateway.init_app(app)
    booking_changed.connect(planner.on_booking_changed, sender=app, weak=False)
    promise_changed.connect(planner.on_promise_changed, sender=app, weak=False)
