"""Candidates for a request, as plain data for the operator console and the API."""
from __future__ import annotations

from lotocar.candidates.service import service
from lotocar.core.phones import format_phone
from lotocar.drivers.models import Driver
from lotocar.extensions import db
from lotocar.offers.models import Offer
from lotocar.requests.models import TripRequest


def _iso(value) -> str:
    return value.isoformat(timespec="minutes")


def ranked_candidates(request: TripRequest) -> dict:
    """Best first, with everything the operator reads out on the phone."""
    found = service().candidates_for(request)
    offers = {o.id: o for o in db.session.scalars(
        db.select(Offer).where(Offer.id.in_({c.offer_id for c in found})))} if found else {}
    drivers = {d.id: d for d in db.session.scalars(
        db.select(Driver).where(Driver.id.in_({c.driver_id for c in found})))} if found else {}
    items = []
    for rank, cand in enumerate(found, start=1):
        offer, driver = offers[cand.offer_id], drivers[cand.driver_id]
        items.append({
            "rank": rank,
            "offer_id": cand.offer_id,
            "driver_id": cand.driver_id,
            "driver_first_name": driver.user.first_name,
            "driver_commune": driver.home.name,
            "driver_phone": driver.user.phone,
            "driver_phone_display": format_phone(driver.user.phone),
            "trip": f"{offer.origin.name} → {offer.destination.name}",
            "date": cand.date.isoformat(),
            "departure_at": _iso(cand.departure_at),
            "pickup_at": _iso(cand.pickup_at),
            "dropoff_at": _iso(cand.dropoff_at),
            "detour_minutes": round(cand.detour_min, 1),
            "detour_km": round(cand.detour_km, 1),
            "band": cand.band,
            "seats_left": cand.seats_left,
            "already_travelled": cand.already_travelled,
            "reasons": list(cand.reasons),
        })
    return {"request_id": request.id, "count": len(items), "candidates": items}


def serving_counts(offers: list[Offer]) -> dict[int, int]:
    """How many open requests each of these trips could serve."""
    return {offer_id: len(ids) for offer_id, ids in service().open_requests_for(offers).items()}
