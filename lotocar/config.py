"""Configuration read from environment variables (and a `.env` file when present).

Every variable is documented in the README ("Configuration").
"""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from dotenv import load_dotenv

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEV_SECRET_KEY = "dev-only-not-secret"


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on", "oui"}


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw not in (None, "") else default


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


class ConfigError(RuntimeError):
    """Raised when the environment describes an unsafe or impossible configuration."""


def load_config(instance_path: str) -> dict[str, object]:
    """Build the Flask configuration mapping from the environment."""
    load_dotenv(PROJECT_ROOT / ".env", override=False)
    env = os.environ.get("APP_ENV", "development").strip().lower()
    if env not in {"development", "production", "testing"}:
        raise ConfigError(f"APP_ENV must be development, production or testing, not {env!r}")
    production = env == "production"

    secret = os.environ.get("SECRET_KEY", "")
    if not secret:
        if production:
            raise ConfigError("SECRET_KEY must be set when APP_ENV=production")
        secret = DEV_SECRET_KEY

    default_db = "sqlite:///" + str(Path(instance_path) / "lotocar.db")
    database_url = os.environ.get("DATABASE_URL") or default_db
    if database_url.startswith("postgres://"):  # Heroku-style URLs
        database_url = "postgresql://" + database_url[len("postgres://"):]

    return {
        "APP_ENV": env,
        "SECRET_KEY": secret,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "TIMEZONE": os.environ.get("TIMEZONE", "Europe/Paris"),
        # Session cookies: Secure outside development (local http would drop them).
        "SESSION_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", production),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", production),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",  # Flask-Login sets none by default
        "PERMANENT_SESSION_LIFETIME": _int("SESSION_LIFETIME_DAYS", 30) * 86400,
        # "remember me" (drivers): 30 days, ended by logout through the per-user session token
        "REMEMBER_COOKIE_DURATION": timedelta(days=_int("REMEMBER_DAYS", 30)),
        # Reverse proxies in front of gunicorn whose X-Forwarded-For/-Proto/-Host are trusted
        # (exactly that many hops; 0 = none, the development server). Production: 1 (nginx).
        "PROXY_HOPS": _int("PROXY_HOPS", 0),
        "WTF_CSRF_ENABLED": _bool("WTF_CSRF_ENABLED", True),
        "WTF_CSRF_TIME_LIMIT": None,
        "WTF_I18N_ENABLED": False,  # WTForms' own French messages (see lotocar.core.forms)  # tied to the session instead of a clock
        # Rate limits (Flask-Limiter); memory:// is per process, use redis:// in production.
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", "memory://"),
        "RATELIMIT_ENABLED": _bool("RATELIMIT_ENABLED", True),
        # per client address (the real one, see PROXY_HOPS); only real attempts count
        "CODE_SEND_LIMIT": os.environ.get("CODE_SEND_LIMIT", "5 per 15 minutes;20 per day"),
        "LOGIN_LIMIT": os.environ.get("LOGIN_LIMIT", "10 per 15 minutes"),
        # wrong passwords per staff account, whatever the address
        "LOGIN_ACCOUNT_LIMIT": os.environ.get("LOGIN_ACCOUNT_LIMIT", "20 per hour"),
        "OTP_TTL_MINUTES": _int("OTP_TTL_MINUTES", 10),
        "OTP_MAX_ATTEMPTS": _int("OTP_MAX_ATTEMPTS", 5),
        "OTP_MAX_PER_PHONE": _int("OTP_MAX_PER_PHONE", 3),  # codes per phone per 15 minutes
        "OTP_MAX_PER_PHONE_DAY": _int("OTP_MAX_PER_PHONE_DAY", 8),  # codes per phone per 24 h
        "OTP_MAX_WRONG_PER_DAY": _int("OTP_MAX_WRONG_PER_DAY", 15),  # wrong codes per phone per 24 h
        "SMS_CODE_BUDGET_PER_HOUR": _int("SMS_CODE_BUDGET_PER_HOUR", 120),  # codes sent, all numbers
        # Drivers' trips: active trips per driver, creations per account, withdrawals
        "OFFER_MAX_ACTIVE_PER_DRIVER": _int("OFFER_MAX_ACTIVE_PER_DRIVER", 20),
        "OFFER_CREATE_LIMIT": os.environ.get("OFFER_CREATE_LIMIT", "10 per hour;30 per day"),
        "DRIVER_WITHDRAW_MAX_30D": _int("DRIVER_WITHDRAW_MAX_30D", 3),
        # SMS (lotocar.notifications): "twilio" or "dev"; empty = Twilio when
        # TWILIO_ACCOUNT_SID is set, else the development gateway that only records.
        "SMS_GATEWAY": os.environ.get("SMS_GATEWAY", "").strip().lower(),
        "TWILIO_ACCOUNT_SID": os.environ.get("TWILIO_ACCOUNT_SID", ""),
        "TWILIO_AUTH_TOKEN": os.environ.get("TWILIO_AUTH_TOKEN", ""),
        "TWILIO_API_KEY": os.environ.get("TWILIO_API_KEY", ""),
        "TWILIO_API_SECRET": os.environ.get("TWILIO_API_SECRET", ""),
        "SMS_SENDER": os.environ.get("SMS_SENDER", "LOTOCAR"),
        "TWILIO_MESSAGING_SERVICE_SID": os.environ.get("TWILIO_MESSAGING_SERVICE_SID", ""),
        "PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL", ""),
        "OPERATOR_PHONE": os.environ.get("OPERATOR_PHONE", "05 31 60 09 03"),
        "TWILIO_API_BASE_URL": os.environ.get("TWILIO_API_BASE_URL", ""),  # tests / API proxy
        "TWILIO_TIMEOUT_S": _float("TWILIO_TIMEOUT_S", 10.0),
        "SMS_TWO_WAY": os.environ.get("SMS_TWO_WAY", ""),  # empty = auto (numeric sender)
        "SMS_QUIET_HOURS": os.environ.get("SMS_QUIET_HOURS", "21:00-08:00"),
        "SMS_REMINDER_EVE_AT": os.environ.get("SMS_REMINDER_EVE_AT", "18:00"),
        "SMS_REMINDER_BEFORE_MIN": _int("SMS_REMINDER_BEFORE_MIN", 60),
        "SMS_URGENT_WITHIN_HOURS": _int("SMS_URGENT_WITHIN_HOURS", 12),
        "SMS_LINK_TTL_HOURS": _int("SMS_LINK_TTL_HOURS", 48),
        "SMS_WORKER_INTERVAL_S": _float("SMS_WORKER_INTERVAL_S", 5.0),
        "SMS_WORKER_BATCH": _int("SMS_WORKER_BATCH", 20),
        "SMS_SENDING_LEASE_S": _int("SMS_SENDING_LEASE_S", 120),
        "SMS_MAX_ATTEMPTS": _int("SMS_MAX_ATTEMPTS", 8),
        "SMS_RETRY_BASE_S": _int("SMS_RETRY_BASE_S", 30),
        # Automatic voice calls (issue #17): "twilio", "dev" or "off"; empty = Twilio when
        # TWILIO_ACCOUNT_SID and VOICE_FROM are set, the development gateway when SMS use it,
        # else off (landline passengers then stay on the operator's call list).
        "VOICE_GATEWAY": os.environ.get("VOICE_GATEWAY", "").strip().lower(),
        "VOICE_FROM": os.environ.get("VOICE_FROM", ""),  # a Twilio voice number (E.164)
        "VOICE_NAME": os.environ.get("VOICE_NAME", "Polly.Lea"),
        "VOICE_HOURS": os.environ.get("VOICE_HOURS", "09:00-20:00"),
        "VOICE_URGENT_HOURS": os.environ.get("VOICE_URGENT_HOURS", "08:00-21:00"),
        "VOICE_RETRY_MIN": _int("VOICE_RETRY_MIN", 30),
        "VOICE_MAX_ATTEMPTS": _int("VOICE_MAX_ATTEMPTS", 3),
        "VOICE_RING_S": _int("VOICE_RING_S", 25),
        "VOICE_GATHER_TIMEOUT_S": _int("VOICE_GATHER_TIMEOUT_S", 8),
        "VOICE_MACHINE_DETECTION": os.environ.get("VOICE_MACHINE_DETECTION", "DetectMessageEnd"),
        "LOTOCAR_SPEAK_DIR": os.environ.get("LOTOCAR_SPEAK_DIR", ""),
        # Router used by the matcher (issue #3).
        "ROUTER": os.environ.get("ROUTER", "straight"),
        "ROUTER_CIRCUITY": _float("ROUTER_CIRCUITY", 1.3),
        "ROUTER_SPEED_KMH": _float("ROUTER_SPEED_KMH", 60.0),
        "OSRM_URL": os.environ.get("OSRM_URL", ""),
        "OSRM_TIMEOUT_S": _float("OSRM_TIMEOUT_S", 2.0),
        # Real roads with pgRouting (issue #19): ROUTER=pgrouting, `flask roads load|matrix`.
        "ROADS_SPEEDS": os.environ.get("ROADS_SPEEDS", ""),  # "primary=80,tertiary=50", see roads/speeds.py
        "ROADS_ACCESS_KMH": _float("ROADS_ACCESS_KMH", 30.0),
        "ROADS_MAX_SNAP_KM": _float("ROADS_MAX_SNAP_KM", 3.0),
        "ROADS_MATRIX_KM": _float("ROADS_MATRIX_KM", 80.0),
        "ROADS_CACHE_SIZE": _int("ROADS_CACHE_SIZE", 200_000),
        "OSM2PGROUTING": os.environ.get("OSM2PGROUTING", "osm2pgrouting"),
        "OSMIUM": os.environ.get("OSMIUM", "osmium"),
        "TOUR_MAX_SHIFT_MIN": _float("TOUR_MAX_SHIFT_MIN", 10.0),
        "PRIVACY_RETENTION_MONTHS": _int("PRIVACY_RETENTION_MONTHS", 24),
        # Cost participation (lotocar.contributions): suggested amount per ride, in euros.
        "CONTRIBUTION_ENABLED": _bool("CONTRIBUTION_ENABLED", True),
        "CONTRIBUTION_EUR_PER_KM": _float("CONTRIBUTION_EUR_PER_KM", 0.10),
        "CONTRIBUTION_MIN_EUR": _float("CONTRIBUTION_MIN_EUR", 1.0),
        "CONTRIBUTION_MAX_EUR": _float("CONTRIBUTION_MAX_EUR", 10.0),
        "CONTRIBUTION_ROUNDING_EUR": _float("CONTRIBUTION_ROUNDING_EUR", 0.50),
        # Carpool proof register (lotocar.rpc): sent by the worker when both are set.
        "RPC_API_URL": os.environ.get("RPC_API_URL", "").rstrip("/"),
        "RPC_TOKEN": os.environ.get("RPC_TOKEN", ""),
        "RPC_TIMEOUT_S": _float("RPC_TIMEOUT_S", 10.0),
        "RPC_INTERVAL_S": _float("RPC_INTERVAL_S", 60.0),
        "RPC_MAX_ATTEMPTS": _int("RPC_MAX_ATTEMPTS", 8),
        "RPC_RETRY_BASE_S": _int("RPC_RETRY_BASE_S", 60),
        "RPC_DONE_WARNING_HOURS": _int("RPC_DONE_WARNING_HOURS", 20),
        # Front end
        "NODE_MODULES": os.environ.get("NODE_MODULES", str(PROJECT_ROOT / "node_modules")),
        "DSFR_DIST": os.environ.get(
            "DSFR_DIST", str(PROJECT_ROOT / "node_modules" / "@gouvfr" / "dsfr" / "dist")
        ),
        "MAP_TILE_URL": os.environ.get(
            "MAP_TILE_URL", "https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png"
        ),
        "COMMUNES_CSV": os.environ.get(
            "COMMUNES_CSV", str(PROJECT_ROOT / "data" / "communes" / "communes_lot.csv")
        ),
        "COMMUNES_NEIGHBOURS_CSV": os.environ.get(
            "COMMUNES_NEIGHBOURS_CSV",
            str(PROJECT_ROOT / "data" / "communes" / "communes_neighbours.csv"),
        ),
        "COMMUNES_FORMER_CSV": os.environ.get(
            "COMMUNES_FORMER_CSV", str(PROJECT_ROOT / "data" / "communes" / "communes_lot_former.csv")
        ),
    }
