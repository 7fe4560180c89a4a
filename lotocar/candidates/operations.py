"""Candidates for a request, as plain data for the operator console and the API."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from sqlalchemy.orm import joinedload, selectinload

from matching.misses import DETOUR_SLACK_MIN

from lotocar.audit.operations import record as audit_record
from lotocar.bookings import operations as bookings
from lotocar.bookings.models import LIVE, Booking, OfferDay
from lotocar.candidates.reactions import apply_tour
from lotocar.candidates.service import service
from lotocar.contributions import operations as contributions
from lotocar.core import clock
from lotocar.core import needs as need_codes
from lotocar.core.phones import format_phone
from lotocar.core.timeutil import to_local
from lotocar.drivers.models import Driver
from lotocar.extensions import db
from lotocar.offers.models import Offer, OfferStatus
from lotocar.offers.operations import lock_offer
from lotocar.requests import operations as requests_ops
from lotocar.requests.models import TripRequest

EDIT_CAUSE = "Demande du passager modifiée."
EDIT_CANCEL_REASON = "Demande du passager modifiée : ce trajet ne convient plus."


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
    return {"request_id": request.id, "count": len(items), "candidates": items,
            "excluded_for_needs": excluded_for_needs(request, found)}


def excluded_for_needs(request: TripRequest, found: list) -> list[dict]:
    """The drivers whose trip would serve the request but for the passenger's needs, one line
    per driver (his best run), with why: "n'accepte pas de chien d'assistance"."""
    wanted = request.passenger.need_codes
    if not wanted:
        return []
    kept = {c.offer_id for c in found}
    relaxed = [c for c in service().candidates_for(request, ignore_needs=True) if c.offer_id not in kept]
    if not relaxed:
        return []
    offers = {o.id: o for o in db.session.scalars(
        db.select(Offer).options(joinedload(Offer.origin), joinedload(Offer.destination),
                                 joinedload(Offer.driver).joinedload(Driver.user))
        .where(Offer.id.in_({c.offer_id for c in relaxed}))).unique()}
    out: list[dict] = []
    seen: set[int] = set()
    for cand in relaxed:
        offer = offers[cand.offer_id]
        missing = wanted - offer.driver.accept_codes
        if not missing or cand.driver_id in seen:
            continue
        seen.add(cand.driver_id)
        out.append({"driver_id": cand.driver_id, "driver_first_name": offer.driver.user.first_name,
                    "offer_id": offer.id, "trip": f"{offer.origin.name} → {offer.destination.name}",
                    "date": cand.date.isoformat(), "missing": sorted(missing),
                    "reason": need_codes.refusal(missing)})
    return out


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


def propose_candidate(request: TripRequest, offer_id: int, day, actor_id: int | None,
                      ask_detour: bool = False):
    """Propose the booking only if that run of that trip is a candidate for the request now:
    decided with the trip locked, on the trip as it is in this transaction (a trip changed,
    paused or cancelled meanwhile is refused). Pickup, drop-off and detour are the
    candidate's, inserted into the run's tour; the run's other passengers' pickup and drop-off
    follow that tour in this transaction (announced when they moved).
    `ask_detour`: a detour near miss — the run is proposed with a detour beyond the one the
    driver accepts (at most DETOUR_SLACK_MIN more), recorded so the operator asks him."""
    offer = lock_offer(offer_id)
    if offer is None:
        raise bookings.BookingError("Trajet inconnu.", "not_found", "offer_id")
    if offer.status != OfferStatus.ACTIVE:
        raise bookings.BookingError("Ce trajet n'est plus actif (annulé ou en pause) : choisissez dans la liste.",
                                    "invalid_state", "offer_id")
    cand = service().evaluate(request, offer, day, extra_detour_min=DETOUR_SLACK_MIN if ask_detour else 0.0)
    if cand is not None and ask_detour and cand.total_detour_min <= offer.max_detour_min + 1e-9:
        ask_detour = False  # it fits the driver's own detour now: an ordinary proposal
    if cand is None:
        run = db.session.get(OfferDay, (offer_id, day), populate_existing=True)
        if run is not None and run.held + request.seats > run.capacity:
            raise bookings.BookingError("Plus de place libre dans cette voiture ce jour-là.", "no_seat", "offer_id")
        raise bookings.BookingError(
            "Ce trajet ne peut pas (ou plus) prendre ce passager ce jour-là : choisissez dans la liste.",
            "not_a_candidate", "offer_id")
    # the others' new times first, so the driver's proposal SMS lists the whole tour as it will be
    apply_tour(cand, "Un passager de plus sur ce trajet.")
    booking = bookings.propose(bookings.Proposal(
        request_id=request.id, offer_id=offer_id, day=day, pickup_at=cand.pickup_at,
        dropoff_at=cand.dropoff_at, detour_min=round(cand.detour_min, 1),
        detour_allowance_min=cand.total_detour_min if ask_detour else None), actor_id)
    if ask_detour:
        audit_record(actor_id, "booking", booking.id, "detour_to_ask",
                     {"detour_min": round(cand.total_detour_min, 1), "max_detour_min": offer.max_detour_min})
    return booking



@dataclass(frozen=True)
class EditOutcome:
    """What an edit did: the changed fields, and the fate of the live booking if any."""

    changes: dict
    booking_id: int | None = None
    kept: bool = False            # the booking stays (its times follow the new tour)
    cancelled: bool = False       # the run no longer serves the request: cancelled, both told
    promise_changed: bool = False  # kept, but the pickup / drop-off told changed (announced)


def edit_request(request: TripRequest, data: requests_ops.RequestInput, actor_id: int | None) -> EditOutcome:
    """Edit the request (`requests.operations.update_request`) and redo the matching: the
    candidates list is recomputed at the next view; a live booking is kept only if its run,
    with its tour, still serves the edited request (the matcher's exact check, the trip
    locked), its pickup and drop-off following the new tour (a changed time or place is
    told through `bookings.keep_promise`); otherwise it is cancelled by the operator, and
    whoever was told about it is told so. Flushes only."""
    live = bookings.live_booking(request.id)
    if live is not None:
        lock_offer(live.offer_id)
        db.session.refresh(live)
    told = bookings.promise_of(live) if live is not None else None
    changes = requests_ops.update_request(request, data, actor_id)
    if not changes or live is None:
        return EditOutcome(changes, live.id if live else None, kept=live is not None)
    offer = db.session.get(Offer, live.offer_id)
    cand = service().evaluate(request, offer, live.occurrence_date, free_seats_of=[live])
    if cand is None or cand.pickup_at <= clock.now_local():
        bookings.transition(live.id, "cancel_by_operator", actor_id, EDIT_CANCEL_REASON)
        return EditOutcome(changes, live.id, cancelled=True)
    apply_tour(cand, "Un autre passager de ce trajet a modifié sa demande.")
    bookings.change_seats(live, request.seats)
    moved = bookings.keep_promise(live, cand.pickup_at, cand.dropoff_at, cand.detour_min, EDIT_CAUSE,
                                  actor_id, before=told)
    return EditOutcome(changes, live.id, kept=True, promise_changed=moved)


FEW_CANDIDATES = 3  # below this many candidates, the request page shows the near misses


def near_misses(request: TripRequest, found: dict) -> list[dict]:
    """The closest misses (`matching.misses`) with the driver and what would make each work,
    for the request page when there are few candidates."""
    if found["count"] >= FEW_CANDIDATES:
        return []
    exclude = {(c["offer_id"], date.fromisoformat(c["date"])) for c in found["candidates"]}
    misses = service().misses_for(request, exclude)
    if not misses:
        return []
    offers = {o.id: o for o in db.session.scalars(
        db.select(Offer).options(joinedload(Offer.origin), joinedload(Offer.destination),
                                 joinedload(Offer.driver).joinedload(Driver.user),
                                 joinedload(Offer.driver).joinedload(Driver.home))
        .where(Offer.id.in_({m.offer_id for m in misses}))).unique()}
    out = []
    for miss in misses:
        offer = offers.get(miss.offer_id)
        if offer is None:
            continue
        out.append({
            "offer_id": miss.offer_id, "date": miss.date.isoformat(), "kind": miss.kind,
            "driver_first_name": offer.driver.user.first_name, "driver_commune": offer.driver.home.name,
            "trip": f"{offer.origin.name} → {offer.destination.name}",
            "reason": miss.reason, "amount_minutes": round(miss.amount_min, 1),
            "pickup_at": _iso(miss.pickup_at), "dropoff_at": _iso(miss.dropoff_at),
            "detour_minutes": round(miss.detour_min, 1), "max_detour_minutes": miss.max_detour_min,
            "new_target_at": _iso(miss.new_target) if miss.new_target else None,
            "new_flexibility_min": miss.new_flexibility_min,
            "widen_label": _widen_label(request, miss),
        })
    return out


def _widen_label(request: TripRequest, miss) -> str | None:
    """The button's words: what the request becomes, e.g. "arriver au plus tard à 09:17"."""
    if miss.new_target is None:
        return None
    parts = []
    target = to_local(request.target_at)
    new_target = miss.new_target.astimezone(target.tzinfo)
    if new_target.replace(second=0, microsecond=0) != target.replace(second=0, microsecond=0):
        word = "arriver au plus tard à" if request.mode.value == "arrive_by" else "partir à partir de"
        day = "" if new_target.date() == target.date() else f" le {new_target:%d/%m}"
        parts.append(f"{word} {new_target:%H:%M}{day}")
    if miss.new_flexibility_min != request.flexibility_min:
        parts.append(f"souplesse {miss.new_flexibility_min} min")
    return ", ".join(parts) or None


def widen_for(request: TripRequest, offer_id: int, day: date, actor_id: int | None) -> EditOutcome:
    """"Élargir" a window miss: the request's time or flexibility change (audited, through
    `edit_request`) so that this run of this trip fits. Refused when that run is no longer a
    window miss of the request (the page was stale). Nobody is told: nothing was promised."""
    if bookings.live_booking(request.id) is not None:
        raise bookings.BookingError("Cette demande a déjà une réservation en cours.", "conflict", "request_id")
    miss = next((m for m in service().misses_for(request, limit=50)
                 if m.offer_id == offer_id and m.date == day and m.new_target is not None), None)
    if miss is None:
        raise bookings.BookingError("Ce trajet ne peut plus être rattrapé en élargissant l'horaire : "
                                    "choisissez dans la liste.", "not_a_candidate", "offer_id")
    target = miss.new_target.astimezone(to_local(request.target_at).tzinfo)
    data = replace(requests_ops.input_of(request), day=target.date(),
                   at=target.time().replace(tzinfo=None, second=0, microsecond=0),
                   flexibility_min=miss.new_flexibility_min)
    return edit_request(request, data, actor_id)
