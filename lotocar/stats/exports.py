"""CSV exports of requests, bookings and rides for a period and territory.

Files open right in French spreadsheet software: UTF-8 with a byte-order mark, `;` between
fields, decimal commas, CRLF line ends. By default people are pseudonymised: a passenger
or a driver appears as a stable code (HMAC-SHA256 of their id under the app's secret key),
so rows of one person can be linked across files without naming them; names, phone
numbers, precise addresses and free-text notes are left out. The full export (admins only,
recorded in the audit trail by the view) adds them.
"""
from __future__ import annotations

import csv
import hashlib
import hmac
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from flask import current_app
from sqlalchemy.orm import joinedload

from lotocar.bookings.models import Booking, BookingStatus
from lotocar.bookings.operations import STATUS_LABELS_FR
from lotocar.contributions import operations as contributions
from lotocar.core.phones import format_phone
from lotocar.core.timeutil import to_local, utcnow
from lotocar.drivers.models import Driver
from lotocar.extensions import db
from lotocar.offers.models import Offer
from lotocar.requests.models import RequestMode, TripRequest
from lotocar.requests.operations import REASONS_FR, STATUS_FR
from lotocar.stats import operations as ops
from lotocar.stats.filters import Scope

KINDS = {"demandes": "Demandes de trajet", "reservations": "Réservations (mises en relation)",
         "trajets": "Trajets effectués"}
MODES_FR = {RequestMode.ARRIVE_BY: "arriver avant", RequestMode.LEAVE_AFTER: "partir après"}
OUTCOMES_FR = {"served": "servie", "unmet": "sans solution", "pending": "en cours", "cancelled": "annulée"}


@dataclass(frozen=True)
class Export:
    filename: str
    content: str
    rows: int


def pseudonym(kind: str, ident: int | None) -> str:
    if ident is None:
        return ""
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, f"lotocar-stats:{kind}:{ident}".encode(), hashlib.sha256).hexdigest()
    return f"{'P' if kind == 'passenger' else 'C'}-{digest[:10]}"


def number(value: float | None, decimals: int = 1) -> str:
    return "" if value is None else f"{value:.{decimals}f}".replace(".", ",")


def text(value: str | None) -> str:
    """Free text, defused: a leading = + - @ would be run as a formula by spreadsheets."""
    value = (value or "").replace("\r", " ").replace("\n", " ").strip()
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t") else value


def local(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return to_local(value).strftime(fmt) if value else ""


def to_csv(header: list[str], rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _requests(scope: Scope, full: bool) -> tuple[list[str], list[list[Any]]]:
    places = ops.communes()
    road = ops.router()
    now = utcnow()
    header = ["id_demande", "passager", "date_trajet", "heure", "horaire", "souplesse_min",
              "depart_insee", "depart_commune", "arrivee_insee", "arrivee_commune", "epci_depart",
              "motif", "statut", "issue", "cause_sans_solution", "distance_km", "recue_le", "aller_de",
              "depart_departement", "arrivee_departement"]
    if full:
        header += ["passager_prenom", "passager_nom", "passager_telephone", "lieu_depart",
                   "lieu_arrivee", "notes"]
    rows = []
    for r in db.session.scalars(db.select(TripRequest).options(joinedload(TripRequest.passenger))
                                .where(*ops.request_conditions(scope))
                                .order_by(TripRequest.target_at, TripRequest.id)):
        outcome = ops.outcome_of(r, now)
        row = [r.id, pseudonym("passenger", r.passenger_id), local(r.target_at, "%Y-%m-%d"),
               local(r.target_at, "%H:%M"), MODES_FR[r.mode], r.flexibility_min,
               r.origin_insee, places[r.origin_insee].name, r.destination_insee,
               places[r.destination_insee].name, places[r.origin_insee].epci_name,
               REASONS_FR[r.reason], STATUS_FR[r.status], OUTCOMES_FR[outcome],
               ops.cause_of(r) if outcome == "unmet" else "", number(ops.trip_km(r, places, road)),
               local(r.created_at), r.return_of_id or "", places[r.origin_insee].departement,
               places[r.destination_insee].departement]
        if full:
            p = r.passenger
            row += [text(p.first_name), text(p.last_name), text(format_phone(p.phone)),
                    text(r.origin_place), text(r.destination_place), text(r.notes)]
        rows.append(row)
    return header, rows


def _bookings(scope: Scope, full: bool, done_only: bool) -> tuple[list[str], list[list[Any]]]:
    places = ops.communes()
    road = ops.router()
    stmt = (db.select(Booking)
            .join(TripRequest, Booking.request_id == TripRequest.id)
            .options(joinedload(Booking.request).joinedload(TripRequest.passenger),
                     joinedload(Booking.offer).joinedload(Offer.driver).joinedload(Driver.user))
            .where(*ops.request_conditions(scope))
            .order_by(Booking.occurrence_date, Booking.id))
    if done_only:
        stmt = stmt.where(Booking.status == BookingStatus.DONE)
        header = ["id_reservation", "id_demande", "date", "prise_en_charge", "depart_insee",
                  "depart_commune", "arrivee_insee", "arrivee_commune", "distance_km", "detour_km",
                  "co2_evite_kg", "motif", "passager", "conducteur", "depart_departement",
                  "arrivee_departement", "participation_eur"]
    else:
        header = ["id_reservation", "id_demande", "id_trajet_propose", "date", "statut",
                  "prise_en_charge", "depose", "detour_min", "places", "depart_commune",
                  "arrivee_commune", "motif", "passager", "conducteur", "creee_le",
                  "depart_departement", "arrivee_departement", "participation_eur"]
    if full:
        header += ["passager_prenom", "passager_nom", "passager_telephone", "conducteur_prenom",
                   "conducteur_nom", "conducteur_telephone"]
        if not done_only:
            header += ["commentaire_statut"]
    rows = []
    found = db.session.scalars(stmt).unique().all()
    fixed = contributions.fixed_for([b.id for b in found])  # amounts fixed at confirmation
    for b in found:
        r, user = b.request, b.offer.driver.user
        amount = number(fixed[b.id].amount_cents / 100, 2) if b.id in fixed else ""
        who = [pseudonym("passenger", r.passenger_id), pseudonym("driver", b.offer.driver_id)]
        if done_only:
            km = ops.trip_km(r, places, road)
            detour = ops.detour_km(b.detour_min)
            row = [b.id, r.id, b.occurrence_date.isoformat(), local(b.pickup_at, "%H:%M"),
                   r.origin_insee, places[r.origin_insee].name, r.destination_insee,
                   places[r.destination_insee].name, number(km), number(detour),
                   number(ops.co2_avoided_kg(km, detour), 2), REASONS_FR[r.reason], *who,
                   places[r.origin_insee].departement, places[r.destination_insee].departement, amount or "0,00"]
        else:
            row = [b.id, r.id, b.offer_id, b.occurrence_date.isoformat(), STATUS_LABELS_FR[b.status],
                   local(b.pickup_at, "%H:%M"), local(b.dropoff_at, "%H:%M"), number(b.detour_min, 0),
                   b.seats, places[r.origin_insee].name, places[r.destination_insee].name,
                   REASONS_FR[r.reason], *who, local(b.created_at),
                   places[r.origin_insee].departement, places[r.destination_insee].departement, amount]
        if full:
            p = r.passenger
            row += [text(p.first_name), text(p.last_name), text(format_phone(p.phone)), text(user.first_name),
                    text(user.last_name), text(format_phone(user.phone))]
            if not done_only:
                row += [text(b.status_reason)]
        rows.append(row)
    return header, rows


_BUILDERS: dict[str, Callable[[Scope, bool], tuple[list[str], list[list[Any]]]]] = {
    "demandes": _requests,
    "reservations": lambda scope, full: _bookings(scope, full, done_only=False),
    "trajets": lambda scope, full: _bookings(scope, full, done_only=True),
}


def export(kind: str, scope: Scope, full: bool = False) -> Export:
    if kind not in _BUILDERS:
        raise ValueError(f"unknown export {kind!r}")
    header, rows = _BUILDERS[kind](scope, full)
    territory = f"-epci-{scope.epci}" if scope.epci else ""
    name = f"lotocar-{kind}-{scope.start.isoformat()}_{scope.end.isoformat()}{territory}{'-complet' if full else ''}.csv"
    return Export(name, to_csv(header, rows), len(rows))
