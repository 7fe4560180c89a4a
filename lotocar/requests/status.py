"""The one owner of a request's status and flags.

Every change of `TripRequest.status` goes through `move()` (its transition table below) and
every flag through `flag()`, whoever causes it: a booking (lotocar.bookings), the operator
(unmet, cancelled), the RGPD erasure (lotocar.privacy), an SMS that could not be delivered.
"""
from __future__ import annotations

from lotocar.core.timeutil import utcnow
from lotocar.requests.models import RequestStatus, TripRequest

R = RequestStatus

# event → (statuses it may come from, new status)
TRANSITIONS: dict[str, tuple[frozenset[RequestStatus], RequestStatus]] = {
    "booking_proposed": (frozenset({R.OPEN, R.UNMET}), R.OPEN),
    "booking_confirmed": (frozenset({R.OPEN}), R.BOOKED),
    "booking_released": (frozenset({R.OPEN, R.BOOKED}), R.OPEN),
    "ride_done": (frozenset({R.BOOKED}), R.DONE),
    "unmet": (frozenset({R.OPEN, R.UNMET}), R.UNMET),
    "cancelled": (frozenset({R.OPEN, R.UNMET, R.BOOKED}), R.CANCELLED),
}

# Flags that put a request back in front of the operator.
FLAGS_FR = {
    "driver_declined": "Le conducteur a refusé",
    "trip_changed": "Trajet du conducteur modifié ou annulé",
    "new_candidate": "Nouveau conducteur possible",
    "booking_cancelled": "Réservation annulée",
    "sms_failed": "SMS non remis : appeler",
    "sms_reply": "Réponse SMS à lire : rappeler",
    "call_failed": "Appel automatique sans succès : appeler",
    "call_needed": "Ni SMS ni appel automatique : appeler",
    "call_cancelled": "Annulé par le passager au téléphone (appel automatique)",
}
# Flags meaning "automation could not do it: a person must phone" (the console's call list).
CALL_LIST_FLAGS = frozenset({"call_failed", "call_needed", "call_cancelled", "sms_failed", "sms_reply"})

_REFUSED_FR = {
    "booking_proposed": "Cette demande n'attend pas de conducteur.",
    "unmet": "Seule une demande en attente peut être classée sans solution.",
    "cancelled": "Cette demande ne peut plus être annulée.",
}


class RequestStateError(ValueError):
    """A status change the request's current status does not allow (French message)."""

    code = "invalid_state"


def can(request: TripRequest, event: str) -> bool:
    return request.status in TRANSITIONS[event][0]


def move(request: TripRequest, event: str) -> None:
    allowed, target = TRANSITIONS[event]
    if request.status not in allowed:
        raise RequestStateError(_REFUSED_FR.get(event, "Cette demande a changé entre-temps : rechargez la page."))
    request.status = target
    if event == "booking_proposed":
        request.unmet_reason = None
    if event in ("booking_confirmed", "unmet"):
        request.handled_at = utcnow()
    if target in (R.CANCELLED, R.UNMET, R.DONE) or event == "booking_proposed":
        flag(request, None)


def flag(request: TripRequest, name: str | None, detail: str | None = None) -> None:
    """Put the request in front of the operator (`name` in FLAGS_FR), or clear it (None)."""
    if name is not None and name not in FLAGS_FR:
        raise ValueError(f"unknown flag {name}")
    request.flag = name
    request.flag_detail = (detail or None) and detail[:300]
    request.flagged_at = utcnow() if name else None
