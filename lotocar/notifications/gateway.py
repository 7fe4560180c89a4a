"""The notification interface the rest of the app talks to.

Issue #5 adds the outbox, Twilio and the worker behind this same interface. Until then the
development gateway records what would have been sent and logs it, so a developer can read
verification codes in the console.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from flask import Flask, current_app

from lotocar.core.timeutil import utcnow

log = logging.getLogger("lotocar.sms")


@dataclass(frozen=True)
class SentMessage:
    to: str
    body: str
    kind: str
    at: datetime = field(default_factory=utcnow)


class SmsGateway(Protocol):
    def send(self, to: str, body: str, kind: str) -> None: ...


class DevGateway:
    """Sends nothing: keeps the last messages in memory and logs them."""

    def __init__(self, keep: int = 500) -> None:
        self.keep = keep
        self.sent: list[SentMessage] = []

    def send(self, to: str, body: str, kind: str) -> None:
        msg = SentMessage(to=to, body=body, kind=kind)
        self.sent.append(msg)
        del self.sent[: -self.keep]
        log.warning("SMS (dev gateway, not sent) to %s [%s]: %s", to, kind, body)
        print(f"[SMS dev] to {to} [{kind}]: {body}", flush=True)

    def last_to(self, to: str) -> SentMessage | None:
        for msg in reversed(self.sent):
            if msg.to == to:
                return msg
        return None


def init_app(app: Flask) -> None:
    name = app.config.get("SMS_GATEWAY", "dev")
    if name != "dev":
        raise RuntimeError(f"SMS_GATEWAY={name!r} is not available yet (only 'dev')")
    app.extensions["sms_gateway"] = DevGateway()


def gateway() -> SmsGateway:
    return current_app.extensions["sms_gateway"]


def send_sms(to: str, body: str, kind: str) -> None:
    gateway().send(to, body, kind)
