"""Candidates for a request, as plain data for the operator console and the API."""
from __future__ import annotations

from sqlalchemy.orm import joinedload, selectinload

from lotocar.bookings import operations as bookings
from lotocar.bookings.models import LIVE, Booking, OfferDay
from lotocar.candidates.reactions import apply_tour
from lotocar.candidates.service import service
from lotocar.contributions import operations as contributions
from lotocar.core.phones import format_phone
from lotocar.drivers.models import Driver
from lotocar.extensions import db
from lotocar.offers.models import Offer, OfferStatus
from lotocar.offers.operations import lock_offer
from lotocar.requests.models import TripRequest


def _iso(value) -> str:
    return value.isoformat(timespec="minutes")


def ranked_candidates(request: TripRequest) -> dict:
    """Best first, with everything the operator reads out on the phone."""
    found = service().candidates_for(request)
    declined = bookings.declined_driver_ids(request.id)
    # one joined load of everything displayed: trips, their communes, drivers, users, homes
    offers = {o.id: o for o in db.session.scalars(
        db.select(Offer).options(
            joinedload(Offer.origin), joinedload(Offer.destination),
            joinedload(Offer.driver).joinedload(Driver.user), joinedload(Offer.driver).joinedload(Driver.home))
        .where(Offer.id.in_({c.offer_id for c in found}))).unique()} if found else {}
    drivers = {o.driver_id: o.driver for o in offers.values()}
    quotes = contributions.quotes_for_drivers(request, {c.driver_id for c in found}) if found else {}
    on_board = _booked_places({s.booking_id for c in found for s in c.stops if s.booking_id is not None})
    items = []
    for rank, cand in enumerate(found, start=1):
        offer, driver = offers[cand.offer_id], drivers[cand.driver_id]
        quote = quotes[cand.driver_id]
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
            "added_detour_minutes": round(cand.detour_min, 1),
            "total_detour_minutes": round(cand.total_detour_min, 1),
            "max_detour_minutes": offer.max_detour_min,
            "stops": [_stop_json(stop, request, on_board) for stop in cand.stops],
            "shifts": [{"booking_id": sh.booking_id, "passenger_first_name": sh.name,
                        "pickup_before": _iso(sh.pickup_before), "pickup_after": _iso(sh.pickup_after),
                        "dropoff_before": _iso(sh.dropoff_before), "dropoff_after": _iso(sh.dropoff_after)}
                       for sh in cand.shifts],
            "detour_km": round(cand.detour_km, 1),
            "band": cand.band,
            "seats_left": cand.seats_left,
            "already_travelled": cand.already_travelled,
            "declined_before": cand.driver_id in declined,
            "reasons": list(cand.reasons),
            # the whole tour in stop order, for the map: driver's origin, every stop, destination
            "route": [list(offer.point("origin"))] + [[s.point.lat, s.point.lon] for s in cand.stops]
                     + [list(offer.point("destination"))],
            "contribution_eur": quote.eur,
            "contribution_basis": quote.basis,
            "contribution_label": quote.label_fr,
            "passenger_km": round(quote.km, 1),
        })
    return {"request_id": request.id, "count": len(items), "candidates": items}


def _booked_places(booking_ids: set[int]) -> dict[int, TripRequest]:
    if not booking_ids:
        return {}
    rows = db.session.execute(
        db.select(Booking.id, TripRequest).join(TripRequest, TripRequest.id == Booking.request_id)
        .options(selectinload(TripRequest.origin), selectinload(TripRequest.destination))
        .where(Booking.id.in_(booking_ids))).all()
    return {bid: req for bid, req in rows}


def _stop_json(stop, request: TripRequest, on_board: dict[int, TripRequest]) -> dict:
    """One stop of the tour: whose, where (commune) and when."""
    owner = request if stop.booking_id is None else on_board[stop.booking_id]
    commune = owner.origin if stop.kind == "pickup" else owner.destination
    return {"kind": stop.kind, "booking_id": stop.booking_id,
            "passenger_first_name": owner.passenger.first_name, "commune": commune.name,
            "at": _iso(stop.at), "lat": stop.point.lat, "lon": stop.point.lon}


def serving_counts(offers: list[Offer]) -> dict[int, int]:
    """How many open requests each of these trips could serve and nobody is handling yet:
    a request already proposed to a driver (this one or another: a live booking) is not
    counted — the driver sees those proposed to him apart, to answer (issue #14)."""
    found = service().open_requests_for(offers)
    ids = {rid for rids in found.values() for rid in rids}
    handled = set(db.session.scalars(db.select(Booking.request_id).where(
        Booking.request_id.in_(ids), Booking.status.in_(LIVE)))) if ids else set()
    return {offer_id: len([r for r in rids if r not in handled]) for offer_id, rids in found.items()}


def propose_candidate(request: TripRequest, offer_id: int, day, actor_id: int | None):
    """Propose the booking only if that run of that trip is a candidate for the request now:
    decided with the trip locked, on the trip as it is in this transaction (a trip changed,
    paused or cancelled meanwhile is refused). Pickup, drop-off and detour are the
    candidate's, inserted into the run's tour; the run's other passengers' pickup and drop-off
    follow that tour in this transaction (announced when they moved)."""
    offer = lock_offer(offer_id)
    if offer is None:
        raise bookings.BookingError("Trajet inconnu.", "not_found", "offer_id")
    if offer.status != OfferStatus.ACTIVE:
        raise bookings.BookingError("Ce trajet n'est plus actif (annulé ou en pause) : choisissez dans la liste.",
                                    "invalid_state", "offer_id")
    cand = service().evaluate(request, offer, day)
    if cand is None:
        run = db.session.get(OfferDay, (offer_id, day), populate_existing=True)
        if run is not None and run.held + request.seats > run.capacity:
            raise bookings.BookingError("Plus de place libre dans cette voiture ce jour-là.", "no_seat", "offer_id")
        raise bookings.BookingError(
            "Ce trajet ne peut pas (ou plus) prendre ce passager ce jour-là : choisissez dans la liste.",
            "not_a_candidate", "offer_id")
    # the others' new times first, so the driver's proposal SMS lists the whole tour as it will be
    apply_tour(cand, "Un passager de plus sur ce trajet.")
    return bookings.propose(bookings.Proposal(
        request_id=request.id, offer_id=offer_id, day=day, pickup_at=cand.pickup_at,
        dropoff_at=cand.dropoff_at, detour_min=round(cand.detour_min, 1)), actor_id)
