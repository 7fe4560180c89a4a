"""The one clock of the application: every business "now" goes through this module.

Quiet hours, reminders, answer links' expiry, one-time codes, queues, the worker and the
statistics all ask `now_utc()`, `now_local()` or `today_local()`; nothing else in
`lotocar/` reads the system clock for business time (a test greps for it). Durations that
are not business time (a worker's run bound) use `monotonic()`.

Tests pin the clock with time-machine (which patches the C-level clock, so this module
follows). Processes started by tests (gunicorn, the SMS worker) cannot be patched from
outside: they receive the pinned instant in `LOTOCAR_CLOCK_START` (ISO 8601 with offset),
honoured only under `APP_ENV=testing`, and their clock then runs forward from it at the
real pace.
"""
from __future__ import annotations

import os
import time as _time
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")

ENV_START = "LOTOCAR_CLOCK_START"

# (start instant, monotonic reading when it was installed) or None for the system clock
_offset_origin: tuple[datetime, float] | None = None


def now_utc() -> datetime:
    """The current instant, aware, in UTC."""
    if _offset_origin is not None:
        start, mono = _offset_origin
        return start + timedelta(seconds=_time.monotonic() - mono)
    return datetime.now(timezone.utc)


def now_local(tz: ZoneInfo = PARIS) -> datetime:
    """The current instant as an aware datetime in the service's time zone."""
    return now_utc().astimezone(tz)


def today_local(tz: ZoneInfo = PARIS) -> date:
    """Today's date in the service's time zone (not the machine's)."""
    return now_local(tz).date()


def monotonic() -> float:
    """Seconds from an arbitrary origin, for measuring durations (never business time)."""
    return _time.monotonic()


def system_now_utc() -> datetime:
    """The machine's own clock, for infrastructure that runs on it (APScheduler's triggers
    fire in real time even when a test process's business clock is pinned)."""
    return datetime.now(timezone.utc)


def install_start(start: datetime | None) -> None:
    """Make the clock run from `start` (aware) onwards; None restores the system clock."""
    global _offset_origin
    if start is None:
        _offset_origin = None
        return
    if start.tzinfo is None:
        raise ValueError("the clock's start instant must carry its UTC offset")
    _offset_origin = (start.astimezone(timezone.utc), _time.monotonic())


def install_from_env(app_env: str, environ: dict[str, str] | None = None) -> bool:
    """Honour `LOTOCAR_CLOCK_START` in a test process only. Returns True when installed."""
    environ = os.environ if environ is None else environ
    raw = (environ.get(ENV_START) or "").strip()
    if not raw:
        return False
    if app_env != "testing":
        raise RuntimeError(f"{ENV_START} is only allowed with APP_ENV=testing")
    install_start(datetime.fromisoformat(raw))
    return True
