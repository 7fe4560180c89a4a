"""Figures of the service, read from requests, bookings and trips (the stats own no table).

Definitions (also shown on the pages):

- A request belongs to a period by the local date of the trip it asks for, and to an EPCI
  when it starts or ends in one of its communes.
- Outcome of a request: *served* when its ride was done; *unmet* when the operator closed
  it without a solution, or when it stayed open after its date had passed; *cancelled* by
  the passenger; otherwise *in progress*. Served rate = served / (served + unmet).
- A ride is a booking marked done. Its distance is the passenger's trip, pickup to drop-off,
  in road km: from the loaded road graph (`flask roads load`) when there is one, else from
  the straight-line router (haversine × ROUTER_CIRCUITY).
- CO2 avoided = (km shared − the drivers' detour km) × an ADEME factor per car-km: each
  ride stands for one car trip not made (a lift by a relative, a taxi) and the detour the
  driver made for it counts against it.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any, Sequence

from flask import current_app
from sqlalchemy import distinct, func, or_
from sqlalchemy.orm import aliased, joinedload

from matching import Point, StraightLineRouter
from matching.router import Router

from lotocar.bookings.models import Booking, BookingStatus
from lotocar.communes.models import Commune
from lotocar.contributions import operations as contributions
from lotocar.core.timeutil import WEEKDAY_SHORT_FR, to_local, utcnow
from lotocar.drivers.models import Driver
from lotocar.extensions import db
from lotocar.offers.models import Offer, OfferKind, OfferStatus
from lotocar.requests.models import RequestReason, RequestStatus, TripRequest
from lotocar.requests.operations import REASONS_FR
from lotocar.roads.service import loaded_router
from lotocar.stats import lines as corridors
from lotocar.stats.filters import CAUSE_EXPIRED, CAUSE_UNKNOWN, CAUSES, Scope, month_label

# --- CO2 ------------------------------------------------------------------------------
CO2_KG_PER_KM = 0.192
CO2_FACTOR = {
    "kg_per_km": CO2_KG_PER_KM,
    "label": "0,192 kg CO₂e par kilomètre parcouru en voiture",
    "source": ("ADEME, Base Carbone® (Base Empreinte), transport routier : voiture particulière à "
               "moteur thermique, émissions à l'usage (combustion et production du carburant), "
               "hors fabrication du véhicule ; valeur reprise par le simulateur Impact CO₂ de "
               "l'ADEME (impactco2.fr, « voiture thermique »)."),
    "url": "https://base-empreinte.ademe.fr/documentation/base-carbone?docLink=Routier2",
}

OUTCOMES = ("served", "unmet", "pending", "cancelled")
OUTCOME_LABELS = {"served": "Servies (trajet effectué)", "unmet": "Sans solution",
                  "pending": "En cours", "cancelled": "Annulées par le passager"}
HOUR_BANDS = [(0, 7, "avant 7 h"), (7, 9, "7 h – 9 h"), (9, 12, "9 h – 12 h"), (12, 14, "12 h – 14 h"),
              (14, 17, "14 h – 17 h"), (17, 19, "17 h – 19 h"), (19, 24, "après 19 h")]
_UNMET_LABELS = {label.casefold(): label for label in CAUSES.values()}


# --- reading the data -----------------------------------------------------------------

def router() -> Router:
    """Road legs of the loaded graph when there is one (km shared, CO2); else the
    straight-line router."""
    road = loaded_router()
    return road if road is not None else straight_router()


def straight_router() -> StraightLineRouter:
    """The straight-line router with the app's parameters (deterministic, no network)."""
    cfg = current_app.config
    return StraightLineRouter(circuity=cfg["ROUTER_CIRCUITY"], speed_kmh=cfg["ROUTER_SPEED_KMH"])


def communes() -> dict[str, Commune]:
    return {c.insee: c for c in db.session.scalars(db.select(Commune))}


def _territory(origin_col, destination_col, epci: str):
    members = db.select(Commune.insee).where(Commune.epci_siren == epci).scalar_subquery()
    return or_(origin_col.in_(members), destination_col.in_(members))


def request_conditions(scope: Scope | None, model=TripRequest) -> list[Any]:
    if scope is None:
        return []
    lo, hi = scope.bounds
    conditions = [model.target_at >= lo, model.target_at < hi]
    if scope.epci:
        conditions.append(_territory(model.origin_insee, model.destination_insee, scope.epci))
    return conditions


@dataclass(frozen=True)
class RequestFact:
    id: int
    passenger_id: int
    origin: str
    destination: str
    local_at: datetime          # asked time, Europe/Paris
    reason: RequestReason
    status: RequestStatus
    outcome: str                # one of OUTCOMES
    cause: str | None           # for unmet requests
    km: float                   # road km of the asked trip


@dataclass(frozen=True)
class RideFact:
    booking_id: int
    request_id: int
    day: date
    driver_id: int
    passenger_id: int
    km: float
    detour_km: float
    contribution_cents: int = 0   # fixed on the booking at confirmation (issue #18)
    origin_insee: str = ""

    @property
    def co2_kg(self) -> float:
        return co2_avoided_kg(self.km, self.detour_km)


def co2_avoided_kg(km: float, detour_km: float) -> float:
    return max(0.0, km - detour_km) * CO2_KG_PER_KM


def detour_km(minutes: float | None) -> float:
    """The driver's extra km for a detour of `minutes`, at the router's mean speed."""
    return (minutes or 0.0) * current_app.config["ROUTER_SPEED_KMH"] / 60.0


def outcome_of(request: TripRequest, now: datetime) -> str:
    if request.status == RequestStatus.DONE:
        return "served"
    if request.status == RequestStatus.UNMET:
        return "unmet"
    if request.status == RequestStatus.CANCELLED:
        return "cancelled"
    if request.status == RequestStatus.OPEN and request.target_at < now:
        return "unmet"
    return "pending"


def cause_of(request: TripRequest) -> str:
    """The operator's reason mapped to the list ("Autre : …" → "Autre")."""
    if request.status == RequestStatus.OPEN:
        return CAUSE_EXPIRED
    text = (request.unmet_reason or "").strip()
    if not text:
        return CAUSE_UNKNOWN
    folded = text.casefold()
    for key, label in _UNMET_LABELS.items():
        if folded == key or folded.startswith(key + " ") or folded.startswith(key + ":"):
            return label
    return "Autre"


def _point(obj, prefix: str, places: dict[str, Commune]) -> Point:
    lat, lon = getattr(obj, f"{prefix}_lat"), getattr(obj, f"{prefix}_lon")
    if lat is None or lon is None:
        commune = places[getattr(obj, f"{prefix}_insee")]
        lat, lon = commune.lat, commune.lon
    return Point(lat, lon)


def trip_km(request: TripRequest, places: dict[str, Commune], road: Router) -> float:
    return road.leg(_point(request, "origin", places), _point(request, "destination", places)).km


def load_requests(scope: Scope | None, now: datetime | None = None,
                  places: dict[str, Commune] | None = None) -> list[RequestFact]:
    now = now or utcnow()
    places = places if places is not None else communes()
    road = router()
    facts = []
    for r in db.session.scalars(db.select(TripRequest).where(*request_conditions(scope))
                                .order_by(TripRequest.target_at, TripRequest.id)):
        outcome = outcome_of(r, now)
        facts.append(RequestFact(
            id=r.id, passenger_id=r.passenger_id, origin=r.origin_insee, destination=r.destination_insee,
            local_at=to_local(r.target_at), reason=r.reason, status=r.status, outcome=outcome,
            cause=cause_of(r) if outcome == "unmet" else None, km=trip_km(r, places, road)))
    return facts


def load_rides(scope: Scope | None, places: dict[str, Commune] | None = None) -> list[RideFact]:
    """Done bookings of the requests in scope, with their km and detour."""
    places = places if places is not None else communes()
    road = router()
    rows = db.session.execute(
        db.select(Booking, TripRequest, Offer.driver_id)
        .join(TripRequest, Booking.request_id == TripRequest.id)
        .join(Offer, Booking.offer_id == Offer.id)
        .where(Booking.status == BookingStatus.DONE, *request_conditions(scope))
        .order_by(Booking.occurrence_date, Booking.id)
    ).all()
    fixed = contributions.fixed_for([b.id for b, _r, _d in rows])
    return [RideFact(booking_id=b.id, request_id=r.id, day=b.occurrence_date, driver_id=driver_id,
                     passenger_id=r.passenger_id, km=trip_km(r, places, road),
                     detour_km=detour_km(b.detour_min),
                     contribution_cents=fixed[b.id].amount_cents if b.id in fixed else 0,
                     origin_insee=r.origin_insee)
            for b, r, driver_id in rows]


# --- figures ----------------------------------------------------------------------------

@dataclass
class Summary:
    requests: int = 0
    served: int = 0
    unmet: int = 0
    pending: int = 0
    cancelled: int = 0
    served_rate: float | None = None     # served / (served + unmet), 0..1
    rides: int = 0
    passengers: int = 0                  # people who asked for a trip
    passengers_transported: int = 0
    drivers_active: int = 0              # drivers with at least one ride done
    km_shared: float = 0.0
    detour_km: float = 0.0
    co2_kg: float = 0.0
    contributions_eur: float = 0.0       # participations fixed on the rides done


def summarize(requests: Sequence[RequestFact], rides: Sequence[RideFact]) -> Summary:
    outcomes = Counter(r.outcome for r in requests)
    served, unmet = outcomes["served"], outcomes["unmet"]
    return Summary(
        requests=len(requests), served=served, unmet=unmet, pending=outcomes["pending"],
        cancelled=outcomes["cancelled"],
        served_rate=(served / (served + unmet)) if served + unmet else None,
        rides=len(rides), passengers=len({r.passenger_id for r in requests}),
        passengers_transported=len({r.passenger_id for r in rides}),
        drivers_active=len({r.driver_id for r in rides}),
        km_shared=sum(r.km for r in rides), detour_km=sum(r.detour_km for r in rides),
        co2_kg=sum(r.co2_kg for r in rides),
        contributions_eur=round(sum(r.contribution_cents for r in rides) / 100, 2),
    )


@dataclass
class Dashboard:
    scope: Scope
    summary: Summary
    months: list[dict[str, Any]]
    unmet_causes: list[tuple[str, int]]
    reasons: list[dict[str, Any]]
    new_passengers: int
    returning_passengers: int
    drivers_offering: int
    contributions_by_epci: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["scope"] = {**self.scope.args(), "territoire": self.scope.territory}
        data["co2_factor"] = CO2_FACTOR
        return data


def _first_request_at(scope: Scope) -> dict[int, datetime]:
    """Each passenger of the scope → the asked time of their very first request (any)."""
    inner = aliased(TripRequest)
    in_scope = db.select(inner.passenger_id).where(*request_conditions(scope, inner))
    rows = db.session.execute(
        db.select(TripRequest.passenger_id, func.min(TripRequest.target_at))
        .where(TripRequest.passenger_id.in_(in_scope)).group_by(TripRequest.passenger_id)
    ).all()
    return {pid: first for pid, first in rows}


def drivers_offering(scope: Scope) -> int:
    """Drivers with a (not cancelled) trip running during the period in the territory."""
    conditions = [Offer.status != OfferStatus.CANCELLED, Offer.first_date <= scope.end,
                  Offer.last_date >= scope.start]
    if scope.epci:
        conditions.append(_territory(Offer.origin_insee, Offer.destination_insee, scope.epci))
    return db.session.scalar(db.select(func.count(distinct(Offer.driver_id))).where(*conditions)) or 0


def dashboard(scope: Scope, now: datetime | None = None) -> Dashboard:
    places = communes()
    requests = load_requests(scope, now, places)
    rides = load_rides(scope, places)
    summary = summarize(requests, rides)

    per_month: dict[tuple[int, int], Counter[str]] = defaultdict(Counter)
    for r in requests:
        per_month[(r.local_at.year, r.local_at.month)][r.outcome] += 1
    rides_month: dict[tuple[int, int], list[RideFact]] = defaultdict(list)
    for ride in rides:
        rides_month[(ride.day.year, ride.day.month)].append(ride)
    months = [{"month": f"{y}-{m:02d}", "label": month_label(y, m),
               **{o: per_month[(y, m)][o] for o in OUTCOMES},
               "rides": len(rides_month[(y, m)]), "km": sum(x.km for x in rides_month[(y, m)]),
               "contributions_eur": round(sum(x.contribution_cents for x in rides_month[(y, m)]) / 100, 2)}
              for y, m in scope.months()]
    by_epci: dict[str, list[RideFact]] = defaultdict(list)
    for ride in rides:  # each ride once, by the EPCI of its pickup commune
        by_epci[places[ride.origin_insee].epci_siren].append(ride)
    epci_names = {c.epci_siren: c.epci_name for c in places.values()}
    contributions_by_epci = sorted(
        ({"epci": code, "name": epci_names.get(code, code), "rides": len(items),
          "contributions_eur": round(sum(x.contribution_cents for x in items) / 100, 2)}
         for code, items in by_epci.items()), key=lambda row: (-row["contributions_eur"], row["name"]))

    causes = Counter(r.cause for r in requests if r.outcome == "unmet")
    reasons = []
    for reason in RequestReason:
        of_reason = [r for r in requests if r.reason == reason]
        reasons.append({"reason": reason.value, "label": REASONS_FR[reason], "requests": len(of_reason),
                        "served": sum(r.outcome == "served" for r in of_reason),
                        "unmet": sum(r.outcome == "unmet" for r in of_reason)})

    lo, _ = scope.bounds
    first = _first_request_at(scope)
    new = sum(1 for pid in {r.passenger_id for r in requests} if first[pid] >= lo)
    return Dashboard(scope=scope, summary=summary, months=months,
                     unmet_causes=sorted(causes.items(), key=lambda kv: (-kv[1], kv[0])),
                     reasons=reasons, new_passengers=new,
                     returning_passengers=summary.passengers - new,
                     drivers_offering=drivers_offering(scope), contributions_by_epci=contributions_by_epci)


# --- unmet-demand map ---------------------------------------------------------------------

def _commune_json(c: Commune) -> dict[str, Any]:
    return {"insee": c.insee, "name": c.display_name, "lat": c.lat, "lon": c.lon,
            "departement": c.departement, "in_lot": c.in_lot}


def unmet_map(scope: Scope, cause: str | None = None, motif: RequestReason | None = None,
              now: datetime | None = None, lines_limit: int = 10) -> dict[str, Any]:
    """Origins and destinations of unmet requests per commune, their flows, the strongest
    corridors, and every commune's point as a background (the map reads without tiles)."""
    places = communes()
    requests = load_requests(scope, now, places)
    unmet = [r for r in requests if r.outcome == "unmet"
             and (cause is None or r.cause == cause) and (motif is None or r.reason == motif)]
    origins = Counter(r.origin for r in unmet)
    destinations = Counter(r.destination for r in unmet)
    per_commune = [{**_commune_json(places[insee]), "origins": origins[insee],
                    "destinations": destinations[insee]}
                   for insee in sorted(set(origins) | set(destinations),
                                       key=lambda i: (-(origins[i] + destinations[i]), places[i].name))]
    flows = Counter((r.origin, r.destination) for r in unmet if r.origin != r.destination)
    # the Lot (or the chosen EPCI) and every commune the demand reaches, inside or outside
    reached = set(origins) | set(destinations)
    in_view = [c for c in places.values()
               if (c.epci_siren == scope.epci if scope.epci else c.in_lot) or c.insee in reached]
    shown = [c for c in places.values() if c.in_lot or c.insee in reached]
    return {
        "scope": {**scope.args(), "territoire": scope.territory, "label": scope.label()},
        "total": len(unmet),
        "communes": per_commune,
        "flows": [{"from": o, "to": d, "count": n,
                   "from_name": places[o].display_name, "to_name": places[d].display_name,
                   "path": [[places[o].lat, places[o].lon], [places[d].lat, places[d].lon]]}
                  for (o, d), n in sorted(flows.items(), key=lambda kv: (-kv[1], kv[0]))],
        "lines": [line.as_map() for line in virtual_lines(scope, now, lines_limit, places, requests)],
        "background": [[c.lat, c.lon, c.display_name, c.population] for c in sorted(shown, key=lambda c: c.insee)],
        "bounds": [[min(c.lat for c in in_view), min(c.lon for c in in_view)],
                   [max(c.lat for c in in_view), max(c.lon for c in in_view)]] if in_view else None,
    }


# --- virtual lines ------------------------------------------------------------------------

@dataclass
class LineDriver:
    driver_id: int
    name: str
    home: str
    trip: str
    schedule: str
    regular: bool
    carries: int        # requests of the line this trip could carry (geography)


@dataclass
class Line:
    rank: int
    a: Commune
    b: Commune
    requests: int
    served: int
    unmet: int
    forward: int
    backward: int
    weekdays: list[int]
    hour_bands: list[int]
    slots: list[dict[str, Any]]
    pairs: list[dict[str, Any]]
    stops: list[dict[str, Any]]
    regular_needed: int
    drivers: list[LineDriver] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.a.display_name} ⇄ {self.b.display_name}"

    @property
    def regular_drivers(self) -> int:
        return len({d.driver_id for d in self.drivers if d.regular})

    def as_map(self) -> dict[str, Any]:
        return {"rank": self.rank, "label": self.label, "requests": self.requests, "unmet": self.unmet,
                "served": self.served, "drivers": len({d.driver_id for d in self.drivers}),
                "regular_needed": self.regular_needed,
                "path": [[self.a.lat, self.a.lon], [self.b.lat, self.b.lon]], "stops": self.stops}


def _schedule(offer: Offer) -> str:
    at = f"{offer.local_time.hour:02d}:{offer.local_time.minute:02d}" if offer.local_time else ""
    if offer.kind == OfferKind.ONE_OFF:
        return f"le {offer.first_date.strftime('%d/%m/%Y')} à {at}"
    days = sorted(offer.weekday_set)
    if days == [1, 2, 3, 4, 5]:
        label = "du lundi au vendredi"
    else:
        label = ", ".join(WEEKDAY_SHORT_FR[d - 1] for d in days)
    return f"{label} à {at}"


def _slot_json(slot: corridors.Slot, a: Commune, b: Commune) -> dict[str, Any]:
    def hhmm(minute: int) -> str:
        return f"{minute // 60:02d}:{minute % 60:02d}"

    days = [WEEKDAY_SHORT_FR[d] for d, n in enumerate(slot.weekdays) if n]
    an, bn = a.display_name, b.display_name
    return {"direction": f"{an} → {bn}" if slot.forward else f"{bn} → {an}",
            "from": hhmm(slot.first_minute), "to": hhmm(slot.last_minute), "count": slot.count,
            "days": ", ".join(days)}


def virtual_lines(scope: Scope, now: datetime | None = None, limit: int = 10,
                  places: dict[str, Commune] | None = None,
                  requests: Sequence[RequestFact] | None = None) -> list[Line]:
    """The strongest corridors of the period's demand (served, unmet and in progress),
    with the drivers already on them and the regular drivers they would need."""
    places = places if places is not None else communes()
    if requests is None:
        requests = load_requests(scope, now, places)
    trips = [corridors.Trip(key=r.id, origin=r.origin, destination=r.destination,
                            minute=r.local_at.hour * 60 + r.local_at.minute, weekday=r.local_at.weekday(),
                            served=r.outcome == "served", unmet=r.outcome == "unmet")
             for r in requests if r.outcome != "cancelled"]
    legs = corridors.Legs(straight_router(), {i: Point(c.lat, c.lon) for i, c in places.items()})
    found = [c for c in corridors.group_corridors(trips, legs, population={i: c.population for i, c in places.items()})
             if len(c.trips) >= corridors.MIN_LINE_REQUESTS][:limit]
    if not found:
        return []
    offers = db.session.scalars(
        db.select(Offer).options(joinedload(Offer.driver).joinedload(Driver.user))
        .where(Offer.status == OfferStatus.ACTIVE, Offer.last_date >= scope.start)
        .order_by(Offer.id)).unique().all()
    result = []
    for rank, c in enumerate(found, start=1):
        a, b = places[c.a], places[c.b]
        pairs = c.pairs()
        hours = [0] * len(HOUR_BANDS)
        for t in c.trips:
            hours[next(i for i, (lo, hi, _) in enumerate(HOUR_BANDS) if lo * 60 <= t.minute < hi * 60)] += 1
        stop_counts: Counter[str] = Counter()
        for (o, d), n in pairs.items():
            stop_counts[o] += n
            stop_counts[d] += n
        line = Line(
            rank=rank, a=a, b=b, requests=len(c.trips), served=c.served, unmet=c.unmet,
            forward=len(c.forward), backward=len(c.backward),
            weekdays=[sum(t.weekday == d for t in c.trips) for d in range(7)], hour_bands=hours,
            slots=[_slot_json(s, a, b) for s in c.slots()],
            pairs=[{"from": places[o].display_name, "to": places[d].display_name, "count": n}
                   for (o, d), n in sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))],
            stops=[{**_commune_json(places[i]), "count": n}
                   for i, n in sorted(stop_counts.items(), key=lambda kv: (-kv[1], kv[0]))],
            regular_needed=c.regular_drivers_needed())
        for offer in offers:
            n = corridors.carries(legs, offer.origin_insee, offer.destination_insee,
                                  offer.max_detour_min, pairs)
            if n:
                user = offer.driver.user
                line.drivers.append(LineDriver(
                    driver_id=offer.driver_id, name=f"{user.first_name} {user.last_name[:1]}.",
                    home=places[offer.driver.home_insee].name,
                    trip=f"{places[offer.origin_insee].display_name} → {places[offer.destination_insee].display_name}",
                    schedule=_schedule(offer), regular=offer.kind == OfferKind.REGULAR, carries=n))
        result.append(line)
    return result


# --- public figures ---------------------------------------------------------------------------

def public_figures(year: int) -> dict[str, Any]:
    """Aggregates only (no personal data): every year with activity, the chosen year's
    rides per month and reasons for travel."""
    places = communes()
    requests = load_requests(None, places=places)
    rides = load_rides(None, places)
    years = sorted({r.local_at.year for r in requests} | {r.day.year for r in rides} | {year})
    per_year = [{"year": y, **asdict(summarize([r for r in requests if r.local_at.year == y],
                                                [r for r in rides if r.day.year == y]))}
                for y in years]
    chosen = next(row for row in per_year if row["year"] == year)
    months = [{"label": month_label(year, m),
               "rides": sum(1 for r in rides if r.day.year == year and r.day.month == m)}
              for m in range(1, 13)]
    reasons = Counter(r.reason for r in requests if r.local_at.year == year)
    return {"year": year, "summary": chosen, "years": per_year, "months": months,
            "reasons": [{"label": REASONS_FR[reason], "requests": reasons[reason]} for reason in RequestReason],
            "co2_factor": CO2_FACTOR}

