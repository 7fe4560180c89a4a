"""SMS gateways: Twilio (the official SDK) and a development gateway that only records.

A gateway sends one message and says how it went:
- it returns a `SendResult` (the provider accepted the message), or
- it raises `SendError` with `outcome`:
  "transient" (nothing was sent: 429, 401/403, connection refused, 30003 → retry with backoff),
  "permanent" (never retry: 21211, 21610, 21614, 30005, 30006, other 4xx),
  "unknown" (the request may have reached the provider: read timeout, broken connection, 5xx).
An unknown outcome is never blindly resent: `find_sent` looks for the message first.

Nothing here writes to the database; the outbox (`lotocar.notifications.outbox`) does.
"""
from __future__ import annotations

import itertools
import logging
import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from flask import Flask, current_app

from lotocar.core.timeutil import utcnow

log = logging.getLogger("lotocar.sms")

TWILIO_API = "https://api.twilio.com"
PERMANENT_CODES = frozenset({21211, 21408, 21610, 21612, 21614, 30005, 30006, 30007})
TRANSIENT_CODES = frozenset({20429, 30003, 20003})
OPTED_OUT_CODE = 21610


@dataclass(frozen=True)
class SentMessage:
    to: str
    body: str
    kind: str
    at: datetime = field(default_factory=utcnow)
    provider_id: str = ""


@dataclass(frozen=True)
class SendResult:
    provider_id: str
    status: str = "sent"  # the provider's status word (queued, sent, delivered…)


class SendError(Exception):
    def __init__(self, outcome: str, message: str, code: int | None = None,
                 status: int | None = None) -> None:
        super().__init__(message)
        assert outcome in ("transient", "permanent", "unknown")
        self.outcome = outcome
        self.code = code
        self.status = status


class SmsGateway(Protocol):
    name: str
    two_way: bool

    def send(self, to: str, body: str, kind: str, *, status_callback: str | None = None) -> SendResult: ...

    def find_sent(self, to: str, body: str, since: datetime) -> SendResult | None: ...


class DevGateway:
    """Sends nothing: keeps the last messages in memory and logs them (outbox rows keep the
    full history, which the console shows)."""

    name = "dev"

    def __init__(self, keep: int = 500, two_way: bool = False) -> None:
        self.keep = keep
        self.two_way = two_way
        self.sent: list[SentMessage] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def send(self, to: str, body: str, kind: str, *, status_callback: str | None = None) -> SendResult:
        with self._lock:
            sid = f"DEV{next(self._ids):08d}"
            self.sent.append(SentMessage(to=to, body=body, kind=kind, provider_id=sid))
            del self.sent[: -self.keep]
        log.warning("SMS (dev gateway, not sent) to %s [%s]: %s", to, kind, body)
        print(f"[SMS dev] to {to} [{kind}]: {body}", flush=True)
        return SendResult(sid, "sent")

    def find_sent(self, to: str, body: str, since: datetime) -> SendResult | None:
        for msg in reversed(self.sent):
            if msg.to == to and msg.body == body and msg.at >= since - timedelta(minutes=1):
                return SendResult(msg.provider_id, "sent")
        return None

    def last_to(self, to: str) -> SentMessage | None:
        for msg in reversed(self.sent):
            if msg.to == to:
                return msg
        return None


def _connect_failed(exc: Exception) -> bool:
    """True when the connection was never established (the request surely did not go out)."""
    import requests
    from urllib3.exceptions import NewConnectionError

    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    seen: set[int] = set()
    stack: list[object] = [exc]
    while stack:
        cur = stack.pop()
        if cur is None or id(cur) in seen:
            continue
        seen.add(id(cur))
        if isinstance(cur, NewConnectionError):
            return True
        stack.extend([getattr(cur, "reason", None), getattr(cur, "__cause__", None),
                      getattr(cur, "__context__", None)])
        stack.extend(a for a in getattr(cur, "args", ()) if isinstance(a, BaseException))
    return False


def classify(status: int | None, code: int | None) -> str:
    if code in PERMANENT_CODES:
        return "permanent"
    if status == 429 or code in TRANSIENT_CODES or status in (401, 403):
        return "transient"
    if status is not None and status >= 500:
        return "unknown"
    return "permanent"


@contextmanager
def twilio_errors():
    """A Twilio API call (SMS or voice) whose failure becomes a SendError: the API's refusal
    classified by its status and code, a network failure "transient" when the connection
    never opened (nothing was sent) and "unknown" otherwise (it may have been)."""
    import requests
    from twilio.base.exceptions import TwilioException

    try:
        yield
    except TwilioException as exc:
        status = getattr(exc, "status", None)
        code = getattr(exc, "code", None)
        text = getattr(exc, "msg", None) or getattr(exc, "detail", None) or exc.__class__.__name__
        raise SendError(classify(status, code), f"Twilio {status} ({code}) : {text}"[:300],
                        code, status) from exc
    except requests.exceptions.RequestException as exc:
        outcome = "transient" if _connect_failed(exc) else "unknown"
        raise SendError(outcome, f"Réseau : {exc.__class__.__name__}") from exc


def twilio_client(account_sid: str, *, auth_token: str = "", api_key: str = "", api_secret: str = "",
                  base_url: str = "", timeout: float = 10.0):
    """The real Twilio SDK client (SMS and calls alike): API key or auth token, an HTTP
    timeout, and `base_url` in place of api.twilio.com (the tests' fake server, a proxy)."""
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    base = base_url.rstrip("/")

    class _Http(TwilioHttpClient):
        def request(self, method, url, *args, **kwargs):  # type: ignore[override]
            if base and url.startswith(TWILIO_API):
                url = base + url[len(TWILIO_API):]
            return super().request(method, url, *args, **kwargs)

    http = _Http(timeout=timeout)
    if api_key:
        return Client(api_key, api_secret, account_sid, http_client=http)
    return Client(account_sid, auth_token, http_client=http)


class TwilioGateway:
    """Twilio's REST API through the official SDK.

    Sender: a Messaging Service (TWILIO_MESSAGING_SERVICE_SID) or SMS_SENDER, an
    alphanumeric ID (one-way, e.g. LOTOCAR) or a number / short code (two-way).
    `TWILIO_API_BASE_URL` replaces https://api.twilio.com (tests, outgoing proxy) through the
    SDK's documented hook, a custom `http_client`.
    """

    name = "twilio"

    def __init__(self, account_sid: str, *, auth_token: str = "", api_key: str = "",
                 api_secret: str = "", sender: str = "", messaging_service_sid: str = "",
                 base_url: str = "", timeout: float = 10.0, two_way: bool = False) -> None:
        self.client = twilio_client(account_sid, auth_token=auth_token, api_key=api_key,
                                    api_secret=api_secret, base_url=base_url, timeout=timeout)
        self.sender = sender
        self.messaging_service_sid = messaging_service_sid
        self.two_way = two_way

    def _sender(self) -> dict[str, str]:
        if self.messaging_service_sid:
            return {"messaging_service_sid": self.messaging_service_sid}
        return {"from_": self.sender}

    def send(self, to: str, body: str, kind: str, *, status_callback: str | None = None) -> SendResult:
        from twilio.base import values

        with twilio_errors():
            msg = self.client.messages.create(
                to=to, body=body, status_callback=status_callback or values.unset, **self._sender())
        return SendResult(msg.sid, msg.status or "queued")

    def find_sent(self, to: str, body: str, since: datetime) -> SendResult | None:
        import requests
        from twilio.base.exceptions import TwilioException

        try:
            recent = self.client.messages.list(to=to, limit=50)
        except (TwilioException, requests.exceptions.RequestException) as exc:
            raise SendError("unknown", f"Vérification impossible : {exc.__class__.__name__}") from exc
        for msg in recent:
            created = msg.date_created
            if msg.body == body and (created is None or created >= since - timedelta(minutes=2)):
                return SendResult(msg.sid, msg.status or "sent")
        return None


_NUMERIC_SENDER = re.compile(r"^\+?\d{3,15}$")


def _two_way(app: Flask) -> bool:
    raw = str(app.config.get("SMS_TWO_WAY") or "").strip().lower()
    if raw:
        return raw in {"1", "true", "yes", "on", "oui"}
    return bool(_NUMERIC_SENDER.match(app.config.get("SMS_SENDER") or ""))


def gateway_name(app: Flask) -> str:
    name = (app.config.get("SMS_GATEWAY") or "").strip().lower()
    if not name:
        name = "twilio" if app.config.get("TWILIO_ACCOUNT_SID") else "dev"
    return name


def build_gateway(app: Flask) -> SmsGateway:
    name = gateway_name(app)
    cfg = app.config
    if name == "dev":
        return DevGateway(two_way=_two_way(app))
    if name != "twilio":
        raise RuntimeError(f"SMS_GATEWAY must be 'twilio' or 'dev', not {name!r}")
    if not cfg.get("TWILIO_ACCOUNT_SID"):
        raise RuntimeError("SMS_GATEWAY=twilio needs TWILIO_ACCOUNT_SID")
    if not cfg.get("TWILIO_AUTH_TOKEN") and not (cfg.get("TWILIO_API_KEY") and cfg.get("TWILIO_API_SECRET")):
        raise RuntimeError("SMS_GATEWAY=twilio needs TWILIO_AUTH_TOKEN or TWILIO_API_KEY + TWILIO_API_SECRET")
    if not cfg.get("TWILIO_MESSAGING_SERVICE_SID") and not cfg.get("SMS_SENDER"):
        raise RuntimeError("SMS_GATEWAY=twilio needs SMS_SENDER or TWILIO_MESSAGING_SERVICE_SID")
    return TwilioGateway(
        cfg["TWILIO_ACCOUNT_SID"], auth_token=cfg.get("TWILIO_AUTH_TOKEN", ""),
        api_key=cfg.get("TWILIO_API_KEY", ""), api_secret=cfg.get("TWILIO_API_SECRET", ""),
        sender=cfg.get("SMS_SENDER", ""), messaging_service_sid=cfg.get("TWILIO_MESSAGING_SERVICE_SID", ""),
        base_url=cfg.get("TWILIO_API_BASE_URL", ""), timeout=float(cfg.get("TWILIO_TIMEOUT_S", 10.0)),
        two_way=_two_way(app),
    )


def init_app(app: Flask) -> None:
    app.extensions["sms_gateway"] = build_gateway(app)


def gateway() -> SmsGateway:
    return current_app.extensions["sms_gateway"]
