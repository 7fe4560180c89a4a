"""Personal data (RGPD), feature by feature: each feature exports and erases ITS OWN rows.

A feature registers one hook (`register`) from its `personal_data` module, listed in the app
factory (`lotocar.PERSONAL_DATA`). `lotocar.privacy` finds the person, builds a `Subject`
and calls every hook in `order`: live bookings are cancelled first (the other party is
told), then trips and requests, then messages, accounts and identities, the audit trail
last. Hooks only add and flush; the caller commits once.

Export: each hook returns a mapping of sections ({"offers": [...]}); sections are merged
(a dict section is updated, a list extended).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, Callable

ANON = "Anonyme"
SCRUBBED = "[supprimé]"


@dataclass(frozen=True)
class Subject:
    """The person whose data is exported or erased, as she was before erasure."""

    kind: str                 # "passenger" | "driver"
    person_id: int            # passengers.id or drivers.id
    user_id: int | None       # users.id of a driver
    phone: str | None
    first_name: str
    last_name: str
    placeholder: str          # what replaces her phone in kept rows ("anon-p12")
    actor_id: int | None = None
    reason: str = ""


Export = Callable[[Subject], dict[str, Any]]
Erase = Callable[[Subject], None]


@dataclass(frozen=True)
class Hook:
    feature: str
    order: int
    export: Export | None
    erase: Erase | None


_HOOKS: dict[str, Hook] = {}


def register(feature: str, order: int, export: Export | None = None, erase: Erase | None = None) -> None:
    """Declare what `feature` holds about people (idempotent: the last registration wins)."""
    _HOOKS[feature] = Hook(feature, order, export, erase)


def hooks() -> list[Hook]:
    return sorted(_HOOKS.values(), key=lambda h: (h.order, h.feature))


def export_all(subject: Subject) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for hook in hooks():
        if hook.export is None:
            continue
        for section, value in (hook.export(subject) or {}).items():
            if isinstance(value, dict) and isinstance(out.get(section), dict):
                out[section].update(value)
            elif isinstance(value, list) and isinstance(out.get(section), list):
                out[section].extend(value)
            else:
                out[section] = value
    return out


def erase_all(subject: Subject) -> None:
    for hook in hooks():
        if hook.erase is not None:
            hook.erase(subject)


def row(obj: Any, fields: list[str]) -> dict[str, Any]:
    """Plain JSON values of `fields` (dates as ISO text, enums as their value)."""

    def plain(value: Any) -> Any:
        if isinstance(value, (datetime, date, time)):
            return value.isoformat()
        if hasattr(value, "value") and isinstance(value.value, str):
            return value.value
        return value

    return {f: plain(getattr(obj, f)) for f in fields}
