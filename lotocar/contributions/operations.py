"""Cost participation rules: quote a ride, fix it on a booking, drivers' choice, exemptions.

Operations add and flush; the edge (view, CLI, API handler) commits."""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from matching import Point, StraightLineRouter
from matching.router import Router, RouterError

from lotocar.audit import operations as audit
from lotocar.audit.models import AuditEntry
from lotocar.contributions.models import (Basis, BookingContribution, DriverContributionChoice,
                                          DriverMode, PassengerExemption)
from lotocar.contributions.pricing import Settings, amount_cents, euros, format_eur
from lotocar.extensions import db
from lotocar.requests.models import TripRequest

MODE_LABELS_FR = {DriverMode.FREE.value: "Gratuit", DriverMode.SUGGESTED.value: "Participation suggérée"}
BASIS_LABELS_FR = {
    Basis.SUGGESTED.value: "Participation suggérée",
    Basis.DRIVER_FREE.value: "Gratuit (choix du conducteur)",
    Basis.EXEMPT.value: "Gratuit (passager exonéré)",
    Basis.SERVICE_OFF.value: "Gratuit",
}


class ContributionError(ValueError):
    """Refused input, with a French message and the field it concerns."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Quote:
    amount_cents: int
    km: float
    basis: str
    eur_per_km: float
    exempt_reason: str | None = None
    fixed: bool = False

    @property
    def eur(self) -> float:
        return euros(self.amount_cents)

    @property
    def label_fr(self) -> str:
        """What the operator reads out: '2,50 € (participation suggérée)' or 'Gratuit (…)'."""
        if self.amount_cents > 0:
            return f"{format_eur(self.amount_cents)} (participation suggérée)"
        return BASIS_LABELS_FR[self.basis]


def settings() -> Settings:
    return Settings.from_config(current_app.config)


def router() -> Router:
    """The matcher's router (so the km are the same figure the candidates were found with)."""
    service = current_app.extensions.get("matching")
    if service is not None:
        return service.router
    cfg = current_app.config
    return StraightLineRouter(circuity=cfg["ROUTER_CIRCUITY"], speed_kmh=cfg["ROUTER_SPEED_KMH"])


def passenger_km(request: TripRequest) -> float:
    """The passenger's road km, pickup → drop-off, as the router gives them."""
    p, d = request.point("origin"), request.point("destination")
    try:
        return router().leg(Point(*p), Point(*d)).km
    except RouterError:  # an engine down: the straight-line router's honest figure
        cfg = current_app.config
        return StraightLineRouter(cfg["ROUTER_CIRCUITY"], cfg["ROUTER_SPEED_KMH"]).leg(Point(*p), Point(*d)).km


# --- drivers' choice ---------------------------------------------------------------------

def driver_modes(driver_ids: set[int]) -> dict[int, str]:
    """Each driver's choice (absent = participation suggérée)."""
    found = {c.driver_id: c.mode for c in db.session.scalars(
        db.select(DriverContributionChoice).where(DriverContributionChoice.driver_id.in_(driver_ids)))
    } if driver_ids else {}
    return {i: found.get(i, DriverMode.SUGGESTED.value) for i in driver_ids}


def driver_mode(driver_id: int) -> str:
    return driver_modes({driver_id})[driver_id]


def set_driver_mode(driver_id: int, mode: str, actor_id: int | None) -> bool:
    """Change a driver's choice; audited. Returns False when nothing changed."""
    if mode not in MODE_LABELS_FR:
        raise ContributionError("Choisissez « Gratuit » ou « Participation suggérée ».", "mode")
    row = db.session.get(DriverContributionChoice, driver_id)
    old = row.mode if row is not None else DriverMode.SUGGESTED.value
    if row is None:
        row = DriverContributionChoice(driver_id=driver_id, mode=mode, updated_by_id=actor_id)
        db.session.add(row)
    elif row.mode == mode:
        return False
    row.mode, row.updated_by_id = mode, actor_id
    db.session.flush()
    if old != mode:
        audit.record(actor_id, "driver", driver_id, "contribution_mode", {"mode": [old, mode]})
    return old != mode


# --- passengers' exemption -----------------------------------------------------------------

def exemption(passenger_id: int) -> PassengerExemption | None:
    return db.session.get(PassengerExemption, passenger_id)


def set_exemption(passenger_id: int, exempt: bool, reason: str | None, actor_id: int | None) -> None:
    """Exempt a passenger (a reason is required) or lift the exemption; audited."""
    row = exemption(passenger_id)
    if exempt:
        reason = " ".join((reason or "").split())
        if not reason:
            raise ContributionError("Indiquez le motif de l'exonération (ex. : critères sociaux, CCAS).",
                                    "reason")
        if len(reason) > 300:
            raise ContributionError("Motif trop long : 300 caractères au plus.", "reason")
        if row is None:
            db.session.add(PassengerExemption(passenger_id=passenger_id, reason=reason,
                                              created_by_id=actor_id))
        else:
            row.reason, row.created_by_id = reason, actor_id
        audit.record(actor_id, "passenger", passenger_id, "contribution_exempt", {"exempt": [row is not None, True]},
                     reason=reason)
    elif row is not None:
        db.session.delete(row)
        audit.record(actor_id, "passenger", passenger_id, "contribution_exempt", {"exempt": [True, False]},
                     reason=reason or None)
    db.session.flush()


# --- quotes and fixing -----------------------------------------------------------------------

_UNKNOWN = object()


def quote_for(request: TripRequest, driver_mode_value: str, km: float | None = None,
              exempt=_UNKNOWN) -> Quote:
    """What this passenger would be asked for a ride with a driver of this choice
    (`exempt`: the passenger's exemption when the caller already read it)."""
    conf = settings()
    km = passenger_km(request) if km is None else km
    if exempt is _UNKNOWN:
        exempt = exemption(request.passenger_id)
    if not conf.enabled:
        return Quote(0, km, Basis.SERVICE_OFF.value, conf.eur_per_km)
    if exempt is not None:
        return Quote(0, km, Basis.EXEMPT.value, conf.eur_per_km, exempt.reason)
    if driver_mode_value == DriverMode.FREE.value:
        return Quote(0, km, Basis.DRIVER_FREE.value, conf.eur_per_km)
    return Quote(amount_cents(km, conf), km, Basis.SUGGESTED.value, conf.eur_per_km)


def quotes_for_drivers(request: TripRequest, driver_ids: set[int]) -> dict[int, Quote]:
    """One quote per candidate driver (the km are computed once for the request)."""
    km = passenger_km(request)
    modes = driver_modes(driver_ids)
    exempt = exemption(request.passenger_id)  # read once, not once per driver
    return {i: quote_for(request, modes[i], km, exempt) for i in driver_ids}


def _as_quote(row: BookingContribution) -> Quote:
    return Quote(row.amount_cents, row.km, row.basis, row.eur_per_km, row.exempt_reason, fixed=True)


def fixed(booking_id: int) -> Quote | None:
    row = db.session.get(BookingContribution, booking_id)
    return _as_quote(row) if row is not None else None


def for_booking(booking) -> Quote:
    """The fixed amount once confirmed, else what confirming now would fix."""
    return fixed(booking.id) or quote_for(booking.request, driver_mode(booking.offer.driver_id))


def fixed_for(booking_ids: list[int]) -> dict[int, Quote]:
    if not booking_ids:
        return {}
    return {row.booking_id: _as_quote(row) for row in db.session.scalars(
        db.select(BookingContribution).where(BookingContribution.booking_id.in_(booking_ids)))}


def fix_at_confirmation(booking, actor_id: int | None) -> Quote:
    """Fix the amount on a booking being confirmed (once: a fixed amount never moves)."""
    existing = fixed(booking.id)
    if existing is not None:
        return existing
    quote = quote_for(booking.request, driver_mode(booking.offer.driver_id))
    db.session.add(BookingContribution(
        booking_id=booking.id, amount_cents=quote.amount_cents, km=round(quote.km, 3),
        basis=quote.basis, eur_per_km=quote.eur_per_km, exempt_reason=quote.exempt_reason))
    db.session.flush()  # the row is its own record (fixed_at); the "confirm" audit entry follows
    return _as_quote(db.session.get(BookingContribution, booking.id))


def sms_phrase(quote: Quote) -> str:
    """The sentence of the passenger's confirmation SMS."""
    if quote.amount_cents > 0:
        return f"Participation suggérée : {format_eur(quote.amount_cents)} au conducteur."
    return "Trajet gratuit."


def erase_passenger(passenger_id: int) -> None:
    """RGPD erasure: the exemption's reason is personal (amounts on rides stay, anonymous)."""
    row = exemption(passenger_id)
    if row is not None:
        db.session.delete(row)
    db.session.execute(db.update(AuditEntry).where(
        AuditEntry.entity == "passenger", AuditEntry.entity_id == passenger_id,
        AuditEntry.action == "contribution_exempt").values(reason=None)
        .execution_options(synchronize_session=False))
    db.session.execute(db.text(
        "UPDATE booking_contributions SET exempt_reason = NULL WHERE booking_id IN "
        "(SELECT b.id FROM bookings b JOIN trip_requests r ON r.id = b.request_id "
        "WHERE r.passenger_id = :pid)"), {"pid": passenger_id})
    db.session.flush()
