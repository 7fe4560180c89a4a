"""Voice gateways (issue #17): Twilio Voice through the official SDK, and a development
gateway that prints what the call would say (and, under LOTOCAR_SPEAK_DIR, writes it as a
WAV file with Debian's `espeak-ng -v fr` so a person can listen to it).

Same contract as the SMS gateways (`lotocar.notifications.gateway`): `call` returns a
`SendResult` (Twilio created the call) or raises `SendError` with a transient, permanent or
unknown outcome; `find_call` looks a call up after an unknown outcome, so that a call whose
POST may have reached Twilio is never placed a second time blindly. Nothing here writes to
the database.
"""
from __future__ import annotations

import itertools
import logging
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from flask import Flask, current_app

from lotocar.core.timeutil import utcnow
from lotocar.notifications.gateway import (SendError, SendResult, gateway_name,
                                          twilio_client, twilio_errors)

log = logging.getLogger("lotocar.voice")

# what the call's status callback reports (Twilio sends them as they happen)
STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]


@dataclass(frozen=True)
class PlacedCall:
    to: str
    kind: str
    speech: str
    twiml_url: str
    at: datetime = field(default_factory=utcnow)
    provider_id: str = ""
    wav: str | None = None


class VoiceGateway(Protocol):
    name: str

    def call(self, to: str, *, kind: str, speech: str, twiml_url: str,
             status_callback: str | None) -> SendResult: ...

    def find_call(self, to: str, since: datetime, known: set[str]) -> SendResult | None: ...

    def fetch_call(self, sid: str) -> CallState | None: ...


@dataclass(frozen=True)
class CallState:
    """What Twilio says of a call when asked (a status callback that never came)."""

    status: str
    answered_by: str | None = None
    duration_s: int | None = None


class DevVoiceGateway:
    """Places no call: prints the spoken text; with `speak_dir`, writes `<n>-<kind>.wav`."""

    name = "dev"

    def __init__(self, speak_dir: str = "", keep: int = 200) -> None:
        self.speak_dir = speak_dir
        self.keep = keep
        self.calls: list[PlacedCall] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.espeak = shutil.which("espeak-ng")
        if speak_dir and not self.espeak:
            log.warning("LOTOCAR_SPEAK_DIR is set but espeak-ng is not installed "
                        "(apt-get install espeak-ng): calls are printed, not spoken")

    def call(self, to: str, *, kind: str, speech: str, twiml_url: str,
             status_callback: str | None) -> SendResult:
        with self._lock:
            n = next(self._ids)
        sid = f"DEVCA{n:08d}"
        wav = self._speak(n, kind, speech)
        with self._lock:
            self.calls.append(PlacedCall(to=to, kind=kind, speech=speech, twiml_url=twiml_url,
                                         provider_id=sid, wav=wav))
            del self.calls[: -self.keep]
        print(f"[Appel dev] to {to} [{kind}]: {speech}" + (f" (WAV: {wav})" if wav else ""), flush=True)
        log.warning("Call (dev gateway, not placed) to %s [%s]", to, kind)
        return SendResult(sid, "completed")

    def _speak(self, n: int, kind: str, speech: str) -> str | None:
        if not self.speak_dir or not self.espeak:
            return None
        folder = Path(self.speak_dir)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{n:04d}-{re.sub(r'[^a-z_]', '', kind)}.wav"
        try:
            subprocess.run([self.espeak, "-v", "fr", "-s", "150", "-w", str(path), speech],
                           check=True, capture_output=True, timeout=60)
        except (OSError, subprocess.SubprocessError) as exc:
            log.warning("espeak-ng could not write %s: %s", path, exc)
            return None
        return str(path)

    def find_call(self, to: str, since: datetime, known: set[str]) -> SendResult | None:
        for placed in reversed(self.calls):
            if placed.to == to and placed.at >= since - timedelta(minutes=1) and placed.provider_id not in known:
                return SendResult(placed.provider_id, "completed")
        return None

    def fetch_call(self, sid: str) -> CallState | None:
        return None  # nothing was placed: the row stays "simulated"


class TwilioVoiceGateway:
    """`client.calls.create(to, from_=VOICE_FROM, url=<TwiML URL>, machine_detection=…)`."""

    name = "twilio"

    def __init__(self, account_sid: str, *, caller: str, auth_token: str = "", api_key: str = "",
                 api_secret: str = "", base_url: str = "", timeout: float = 10.0, ring_s: int = 25,
                 machine_detection: str = "DetectMessageEnd") -> None:
        self.client = twilio_client(account_sid, auth_token=auth_token, api_key=api_key,
                                    api_secret=api_secret, base_url=base_url, timeout=timeout)
        self.caller = caller
        self.ring_s = ring_s
        self.machine_detection = machine_detection

    def call(self, to: str, *, kind: str, speech: str, twiml_url: str,
             status_callback: str | None) -> SendResult:
        from twilio.base import values

        extra = {}
        if status_callback:
            extra = {"status_callback": status_callback, "status_callback_method": "POST",
                     "status_callback_event": STATUS_EVENTS}
        with twilio_errors():
            call = self.client.calls.create(
                to=to, from_=self.caller, url=twiml_url, method="POST", timeout=self.ring_s,
                machine_detection=self.machine_detection or values.unset, **extra)
        return SendResult(call.sid, call.status or "queued")

    def find_call(self, to: str, since: datetime, known: set[str]) -> SendResult | None:
        import requests
        from twilio.base.exceptions import TwilioException

        try:
            recent = self.client.calls.list(to=to, limit=50)
        except (TwilioException, requests.exceptions.RequestException) as exc:
            raise SendError("unknown", f"Vérification impossible : {exc.__class__.__name__}") from exc
        for call in recent:
            created = call.date_created
            if call.sid not in known and (created is None or created >= since - timedelta(minutes=2)):
                return SendResult(call.sid, call.status or "queued")
        return None

    def fetch_call(self, sid: str) -> CallState | None:
        import requests
        from twilio.base.exceptions import TwilioException

        try:
            call = self.client.calls(sid).fetch()
        except (TwilioException, requests.exceptions.RequestException) as exc:
            log.warning("call %s could not be looked up: %s", sid, exc.__class__.__name__)
            return None
        duration = int(call.duration) if str(call.duration or "").isdigit() else None
        return CallState(str(call.status or ""), getattr(call, "answered_by", None), duration)


def voice_gateway_name(app: Flask) -> str:
    name = (app.config.get("VOICE_GATEWAY") or "").strip().lower()
    if name:
        return name
    if app.config.get("TWILIO_ACCOUNT_SID") and app.config.get("VOICE_FROM"):
        return "twilio"
    return "dev" if gateway_name(app) == "dev" else "off"


def build_voice_gateway(app: Flask) -> VoiceGateway | None:
    name = voice_gateway_name(app)
    cfg = app.config
    if name == "off":
        return None
    if name == "dev":
        return DevVoiceGateway(speak_dir=str(cfg.get("LOTOCAR_SPEAK_DIR") or ""))
    if name != "twilio":
        raise RuntimeError(f"VOICE_GATEWAY must be 'twilio', 'dev' or 'off', not {name!r}")
    if not cfg.get("TWILIO_ACCOUNT_SID"):
        raise RuntimeError("VOICE_GATEWAY=twilio needs TWILIO_ACCOUNT_SID")
    if not cfg.get("VOICE_FROM"):
        raise RuntimeError("VOICE_GATEWAY=twilio needs VOICE_FROM (a Twilio voice number)")
    if not cfg.get("TWILIO_AUTH_TOKEN"):
        raise RuntimeError("VOICE_GATEWAY=twilio needs TWILIO_AUTH_TOKEN (it also signs the call's webhooks)")
    if not cfg.get("PUBLIC_BASE_URL"):
        raise RuntimeError("VOICE_GATEWAY=twilio needs PUBLIC_BASE_URL (Twilio fetches what to say there)")
    return TwilioVoiceGateway(
        cfg["TWILIO_ACCOUNT_SID"], caller=cfg["VOICE_FROM"], auth_token=cfg.get("TWILIO_AUTH_TOKEN", ""),
        api_key=cfg.get("TWILIO_API_KEY", ""), api_secret=cfg.get("TWILIO_API_SECRET", ""),
        base_url=cfg.get("TWILIO_API_BASE_URL", ""), timeout=float(cfg.get("TWILIO_TIMEOUT_S", 10.0)),
        ring_s=int(cfg.get("VOICE_RING_S", 25)),
        machine_detection=str(cfg.get("VOICE_MACHINE_DETECTION") or ""),
    )


def init_app(app: Flask) -> None:
    app.extensions["voice_gateway"] = build_voice_gateway(app)


def voice_gateway() -> VoiceGateway | None:
    return current_app.extensions.get("voice_gateway")


def voice_available() -> bool:
    return voice_gateway() is not None
