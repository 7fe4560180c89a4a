"""Issue #14: a request is editable from the console (time, mode, flexibility, places,
seats, notes) and matching is redone; a live booking stays only if its run still serves the
edited request (its new time told), else it is cancelled and both are told. With few
candidates the request page shows the near misses, and "Élargir" fixes the request."""
from __future__ import annotations

from dataclasses import replace
from datetime import time, timedelta

import pytest

from lotocar.audit.models import AuditEntry
from lotocar.auth.models import Role
from lotocar.auth.operations import create_staff
from lotocar.bookings.models import Booking, BookingStatus, OfferDay
from lotocar.core import tx
from lotocar.core.timeutil import format_time_fr, to_local
from lotocar.extensions import db
from lotocar.notifications import worker
from lotocar.notifications.models import SmsMessage
from lotocar.offers import operations as offer_ops
from lotocar.requests.models import RequestMode, RequestStatus, TripRequest
from tests.conftest import csrf_token, login_as
from tests.factories import MONDAY, commune
from tests.promise_world import (
    CAHORS,
    DOUELLE,
    MERCUES,
    assert_promises_true,
    book,
    changed_rows,
    edit_trip,
    make_passenger,
    make_request,
    make_trip,
    trip_input,
)


@pytest.fixture
def op(app, client):
    user, _ = create_staff("op@lotocar.fr", "Sophie", "Martin", Role.OPERATOR)
    db.session.commit()
    login_as(client, user)
    return client


def edit_form(req: TripRequest, **changes) -> dict:
    local = to_local(req.target_at)
    data = {"origin": req.origin.display_name, "origin_place": req.origin_place or "",
            "destination": req.destination.display_name, "destination_place": req.destination_place or "",
            "mode": req.mode.value, "day": local.date().isoformat(), "at": local.strftime("%H:%M"),
            "flexibility_min": str(req.flexibility_min), "seats": str(req.seats), "reason": req.reason.value,
            "notes": req.notes or ""}
    data.update(changes)
    return data


def post_edit(client, req: TripRequest, **changes):
    url = f"/console/demandes/{req.id}/modifier"
    return client.post(url, data={**edit_form(req, **changes),
                                  "csrf_token": csrf_token(client, f"/console/demandes/{req.id}")})


def sms_count() -> int:
    return db.session.scalar(db.select(db.func.count()).select_from(SmsMessage))


def test_edit_page_is_linked_and_prefilled(op, make_driver):
    make_trip(make_driver())
    req = make_request(make_passenger(), flex=45)
    page = op.get(f"/console/demandes/{req.id}").get_data(as_text=True)
    assert f'href="/console/demandes/{req.id}/modifier"' in page and "Modifier la demande" in page
    form = op.get(f"/console/demandes/{req.id}/modifier").get_data(as_text=True)
    assert 'value="08:30"' in form and 'value="45"' in form and f'value="{MONDAY.isoformat()}"' in form
    assert 'value="Douelle (46140)"' in form and 'value="Cahors (46000)"' in form and 'name="seats"' in form


def test_edit_open_request_redoes_matching_and_audits(op, make_driver):
    """Arrive by 07:40 with no flexibility: the 07:45 driver no longer fits; the change is
    audited with before/after; the page then shows him as a near miss."""
    offer = make_trip(make_driver("Jean", "Delmas"), detour=15)
    req = make_request(make_passenger(), flex=90)
    assert "Conducteurs possibles (1)" in op.get(f"/console/demandes/{req.id}").get_data(as_text=True)
    before_sms = sms_count()
    r = post_edit(op, req, at="08:00", flexibility_min="0", notes="Canne", seats="2")
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    db.session.expire_all()
    req = db.session.get(TripRequest, req.id)
    assert to_local(req.target_at).strftime("%H:%M") == "08:00" and req.flexibility_min == 0
    assert req.seats == 2 and req.notes == "Canne"
    entry = db.session.scalar(db.select(AuditEntry).where(AuditEntry.entity == "request",
                                                          AuditEntry.entity_id == req.id,
                                                          AuditEntry.action == "edited"))
    assert entry.changes["flexibility_min"] == [90, 0] and entry.changes["seats"] == [1, 2]
    assert entry.changes["target_at"][0] != entry.changes["target_at"][1]
    page = op.get(r.headers["Location"]).get_data(as_text=True)
    assert "Conducteurs possibles (0)" in page
    assert "Presque possibles (1)" in page and "après le rendez-vous (08:00)" in page
    assert f'data-offer="{offer.id}" data-kind="late"' in page and "Élargir : arriver au plus tard à" in page
    assert sms_count() == before_sms  # nothing was promised: nobody is told


def test_widen_a_window_miss_lists_the_driver(op, make_driver):
    offer = make_trip(make_driver("Jean", "Delmas"), detour=15)
    req = make_request(make_passenger(), at=time(7, 55), flex=0)
    page = op.get(f"/console/demandes/{req.id}").get_data(as_text=True)
    assert "Conducteurs possibles (0)" in page and "Presque possibles" in page
    before_sms = sms_count()
    url = f"/console/demandes/{req.id}/elargir"
    r = op.post(url, data={"csrf_token": csrf_token(op, f"/console/demandes/{req.id}"),
                           "offer_id": str(offer.id), "date": MONDAY.isoformat()})
    assert r.status_code == 302
    page = op.get(r.headers["Location"]).get_data(as_text=True)
    assert "Demande élargie (arriver au plus tard" in page
    assert "Conducteurs possibles (1)" in page and "Proposer à Jean" in page
    db.session.expire_all()
    req = db.session.get(TripRequest, req.id)
    assert to_local(req.target_at).time() > time(7, 55)
    assert db.session.scalar(db.select(AuditEntry.action).where(
        AuditEntry.entity == "request", AuditEntry.entity_id == req.id).order_by(AuditEntry.id.desc())) == "edited"
    assert sms_count() == before_sms
    # a second click (stale page): the run is a candidate now, not a miss — refused, nothing changes
    r = op.post(url, data={"csrf_token": csrf_token(op, f"/console/demandes/{req.id}"),
                           "offer_id": str(offer.id), "date": MONDAY.isoformat()})
    assert "ne peut plus être rattrapé" in op.get(r.headers["Location"]).get_data(as_text=True)


def test_detour_miss_proposes_and_the_booking_page_says_to_ask(op, make_driver):
    """Mercuès → Cahors with a driver accepting no detour from Luzech: a detour miss; its
    button proposes the run and the booking page tells the operator what to ask."""
    offer = make_trip(make_driver("Jean", "Delmas"), detour=0)
    req = make_request(make_passenger(), origin=DOUELLE, flex=120)
    page = op.get(f"/console/demandes/{req.id}").get_data(as_text=True)
    assert "Conducteurs possibles (0)" in page and 'data-kind="detour"' in page
    assert "le conducteur accepte 0" in page
    r = op.post(f"/console/demandes/{req.id}/proposer", data={
        "csrf_token": csrf_token(op, f"/console/demandes/{req.id}"), "offer_id": str(offer.id),
        "date": MONDAY.isoformat(), "ask_detour": "1"})
    assert r.status_code == 302 and "/console/reservations/" in r.headers["Location"]
    page = op.get(r.headers["Location"]).get_data(as_text=True)
    booking = db.session.scalar(db.select(Booking))
    assert booking.status == BookingStatus.PROPOSED and booking.detour_min > 0
    assert f"Demandez-lui s'il accepte un détour de {int(booking.detour_min + 0.5)} min (il en accepte 0)" in page
    assert db.session.scalar(db.select(AuditEntry).where(AuditEntry.action == "detour_to_ask")) is not None
    # without the flag the same run is refused (not a candidate)
    req2 = make_request(make_passenger(), origin=DOUELLE, flex=120)
    r = op.post(f"/console/demandes/{req2.id}/proposer", data={
        "csrf_token": csrf_token(op, f"/console/demandes/{req2.id}"), "offer_id": str(offer.id),
        "date": MONDAY.isoformat()})
    assert "ne peut pas" in op.get(r.headers["Location"]).get_data(as_text=True)


def test_detour_the_driver_was_asked_to_accept_survives_his_trip_edits(app, op, make_driver):
    """A near miss proposed with a larger detour (the driver said yes on the phone) is the
    run's budget while that booking lives: a later edit of his trip that changes nothing on
    the road (seats, then his time by two minutes) keeps her booking, re-checked exactly
    with that budget; his usual detour still applies to everybody else."""
    offer = make_trip(make_driver("Jean", "Delmas"), detour=0)
    req = make_request(make_passenger(), origin=DOUELLE, flex=120)
    r = op.post(f"/console/demandes/{req.id}/proposer", data={
        "csrf_token": csrf_token(op, f"/console/demandes/{req.id}"), "offer_id": str(offer.id),
        "date": MONDAY.isoformat(), "ask_detour": "1"})
    assert r.status_code == 302
    booking = db.session.scalar(db.select(Booking))
    assert booking.detour_allowance_min is not None and booking.detour_allowance_min > 0
    for action in ("accept", "confirm"):
        r = op.post(f"/console/reservations/{booking.id}/{action}",
                    data={"csrf_token": csrf_token(op, f"/console/reservations/{booking.id}")})
        assert r.status_code == 302
    worker.run_once(app)
    db.session.expire_all()
    assert db.session.get(Booking, booking.id).status == BookingStatus.CONFIRMED
    edit_trip(offer, detour=0, seats=4)
    edit_trip(offer, detour=0, seats=4, at=time(7, 47))
    db.session.expire_all()
    booking = db.session.get(Booking, booking.id)
    assert booking.status == BookingStatus.CONFIRMED, booking.status_reason
    assert_promises_true([offer.id])
    # the widened budget re-checks her booking only: a new passenger on the same run, on the
    # same detour, gets the driver's usual one (as in the list) and is refused
    req2 = make_request(make_passenger(), origin=DOUELLE, flex=120)
    r = op.post(f"/console/demandes/{req2.id}/proposer", data={
        "csrf_token": csrf_token(op, f"/console/demandes/{req2.id}"), "offer_id": str(offer.id),
        "date": MONDAY.isoformat()})
    assert "ne peut pas" in op.get(r.headers["Location"]).get_data(as_text=True)


def test_confirmed_booking_kept_and_new_pickup_told(app, op, make_driver):
    """She now leaves from Mercuès (on the driver's way, further on): the booking stays, her
    pickup moves and both are told the new time."""
    offer = make_trip(make_driver(), detour=15)
    booking = book(offer, make_request(make_passenger(), flex=90))
    worker.run_once(app)
    old_pickup = booking.pickup_at
    req = booking.request
    r = post_edit(op, req, origin="Mercuès (46090)")
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    assert "La réservation tient, avec un nouvel horaire" in op.get(r.headers["Location"]).get_data(as_text=True)
    db.session.expire_all()
    booking = db.session.get(Booking, booking.id)
    assert booking.status == BookingStatus.CONFIRMED and booking.request.origin_insee == MERCUES
    assert booking.pickup_at != old_pickup and booking.promise_version == 1
    told = {m.recipient: m for m in changed_rows(booking.id)}
    assert set(told) == {"passenger", "driver"}
    assert format_time_fr(to_local(booking.pickup_at)) in told["passenger"].body
    assert_promises_true([offer.id])


def test_place_change_same_time_is_still_told(app, op, make_driver):
    """A new precise place with the same pickup minute: the promise (where) changed, so it is told."""
    offer = make_trip(make_driver(), detour=15)
    booking = book(offer, make_request(make_passenger(), flex=90))
    worker.run_once(app)
    r = post_edit(op, booking.request, origin_place="Devant la pharmacie")
    assert r.status_code == 302
    db.session.expire_all()
    booking = db.session.get(Booking, booking.id)
    assert booking.status == BookingStatus.CONFIRMED and booking.promise_version == 1
    assert {m.recipient for m in changed_rows(booking.id)} == {"passenger", "driver"}
    assert_promises_true([offer.id])


def test_edit_that_no_longer_fits_cancels_and_tells_both(app, op, make_driver):
    offer = make_trip(make_driver(), detour=15)
    booking = book(offer, make_request(make_passenger(), flex=90))
    worker.run_once(app)  # the confirmations went out: both were told
    r = post_edit(op, booking.request, at="11:00", flexibility_min="15")
    assert r.status_code == 302
    assert "la réservation est annulée" in op.get(r.headers["Location"]).get_data(as_text=True)
    db.session.expire_all()
    booking = db.session.get(Booking, booking.id)
    assert booking.status == BookingStatus.CANCELLED_BY_OPERATOR
    req = db.session.get(TripRequest, booking.request_id)
    assert req.status == RequestStatus.OPEN
    told = db.session.scalars(db.select(SmsMessage).where(SmsMessage.booking_id == booking.id,
                                                          SmsMessage.kind == "cancelled")).all()
    assert {m.recipient for m in told} == {"passenger", "driver"}
    assert db.session.get(OfferDay, (offer.id, MONDAY)).held == 0
    assert_promises_true([offer.id])


def test_seats_growing_past_the_car_cancels(app, op, make_driver):
    offer = make_trip(make_driver(), seats=2, detour=15)
    booking = book(offer, make_request(make_passenger(), flex=90))
    r = post_edit(op, booking.request, seats="2")
    assert r.status_code == 302
    db.session.expire_all()
    booking = db.session.get(Booking, booking.id)
    assert booking.status == BookingStatus.CONFIRMED and booking.seats == 2
    assert db.session.get(OfferDay, (offer.id, MONDAY)).held == 2
    r = post_edit(op, booking.request, seats="3")
    db.session.expire_all()
    assert db.session.get(Booking, booking.id).status == BookingStatus.CANCELLED_BY_OPERATOR
    assert db.session.get(OfferDay, (offer.id, MONDAY)).held == 0
    assert_promises_true([offer.id])


def test_bad_edit_is_refused_in_french_and_closed_requests_are_not_editable(op, make_driver):
    req = make_request(make_passenger())
    r = post_edit(op, req, at="", flexibility_min="500", seats="0", destination="Douelle")
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert "Indiquez l&#39;heure." in html and "De 1 à 8 places." in html and "différente du départ" in html
    db.session.expire_all()
    assert db.session.scalar(db.select(db.func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "edited")) == 0
    req = db.session.get(TripRequest, req.id)
    req.status = RequestStatus.CANCELLED
    db.session.commit()
    r = post_edit(op, req)
    assert r.status_code == 302
    assert "ne peut plus être modifiée" in op.get(r.headers["Location"]).get_data(as_text=True)
    req = db.session.get(TripRequest, req.id)
    assert to_local(req.target_at).time() == time(8, 30)
    assert (req.mode, req.destination_insee) == (RequestMode.ARRIVE_BY, CAHORS)


# --- round trip in one call ------------------------------------------------------------------

def return_trip(driver_user, at: time = time(16, 10)):
    data = replace(trip_input(at=at), origin=offer_ops.place_input(commune(CAHORS), None, None, None),
                   destination=offer_ops.place_input(commune("46182"), None, None, None))
    return tx.atomic(lambda: offer_ops.create_offer(driver_user.driver, data, driver_user.id))


def new_call(client, **request_fields):
    return client.post("/console/passagers", data={
        "csrf_token": csrf_token(client, "/console/appel?q=zzzz"), "phone": "06 98 76 54 32",
        "first_name": "Odette", "last_name": "Marty", "home": "Douelle", "has_no_car": "y",
        "d-destination": "Cahors", "d-day": MONDAY.isoformat(), "d-at": "08:30", "d-mode": "arrive_by",
        "d-flexibility_min": "30", "d-reason": "medical", **request_fields})


def test_new_call_form_has_the_return(op):
    page = op.get("/console/appel?q=0698765432").get_data(as_text=True)
    assert 'name="d-return_at"' in page and 'name="d-return_day"' in page
    assert "Quand le rendez-vous finit, vers" in page


def test_round_trip_in_one_call_then_straight_to_the_return(op, make_driver):
    out_offer = make_trip(make_driver("Jean", "Delmas"), detour=15)
    back_offer = return_trip(make_driver("Paul", "Vidal"))
    r = new_call(op, **{"d-return_mode": "appointment_end", "d-return_at": "16:00"})
    assert r.status_code == 302, r.get_data(as_text=True)[-2000:]
    outbound = db.session.scalar(db.select(TripRequest).where(TripRequest.return_of_id.is_(None)))
    back = db.session.scalar(db.select(TripRequest).where(TripRequest.return_of_id == outbound.id))
    assert back is not None and back.mode == RequestMode.LEAVE_AFTER  # "when it ends, about 16:00"
    assert to_local(back.target_at).strftime("%H:%M") == "16:00" and to_local(back.target_at).date() == MONDAY
    assert (back.origin_insee, back.destination_insee) == (CAHORS, DOUELLE)
    # the outbound proposed: straight on to the return's candidates
    r = op.post(f"/console/demandes/{outbound.id}/proposer", data={
        "csrf_token": csrf_token(op, f"/console/demandes/{outbound.id}"), "offer_id": str(out_offer.id),
        "date": MONDAY.isoformat()})
    assert r.headers["Location"].endswith(f"/console/demandes/{back.id}")
    page = op.get(r.headers["Location"]).get_data(as_text=True)
    assert "Aller proposé à Jean. Maintenant le retour." in page and "Proposer à Paul" in page
    # the return proposed too: its booking page
    r = op.post(f"/console/demandes/{back.id}/proposer", data={
        "csrf_token": csrf_token(op, f"/console/demandes/{back.id}"), "offer_id": str(back_offer.id),
        "date": MONDAY.isoformat()})
    assert "/console/reservations/" in r.headers["Location"]
    assert db.session.scalar(db.select(db.func.count()).select_from(Booking)) == 2


def test_return_another_day_and_errors(op):
    r = new_call(op, **{"d-return_at": "10:00", "d-return_day": (MONDAY + timedelta(days=2)).isoformat()})
    assert r.status_code == 302, r.get_data(as_text=True)[-2000:]
    outbound = db.session.scalar(db.select(TripRequest).where(TripRequest.return_of_id.is_(None)))
    back = db.session.scalar(db.select(TripRequest).where(TripRequest.return_of_id == outbound.id))
    assert (to_local(back.target_at).date() - MONDAY).days == 2
    assert to_local(back.target_at).strftime("%H:%M") == "10:00"  # earlier than the outbound's time: another day
    # known passenger's form: a return before the outbound is refused in French
    person = outbound.passenger
    url = f"/console/passagers/{person.id}/demande"
    r = op.post(url, data={"csrf_token": csrf_token(op, url), "origin": "Douelle (46140)", "destination": "Cahors",
                           "mode": "arrive_by", "day": MONDAY.isoformat(), "at": "08:30", "flexibility_min": "30",
                           "reason": "medical", "return_at": "09:00",
                           "return_day": (MONDAY - timedelta(days=1)).isoformat()})
    assert r.status_code == 400 and "Le retour ne peut pas être avant l" in r.get_data(as_text=True)
    r = op.post(url, data={"csrf_token": csrf_token(op, url), "origin": "Douelle (46140)", "destination": "Cahors",
                           "mode": "arrive_by", "day": MONDAY.isoformat(), "at": "08:30", "flexibility_min": "30",
                           "reason": "medical", "return_at": "08:00"})
    assert r.status_code == 400 and "Le retour doit être après l" in r.get_data(as_text=True)
    # no return time: one-way
    r = op.post(url, data={"csrf_token": csrf_token(op, url), "origin": "Douelle (46140)", "destination": "Cahors",
                           "mode": "arrive_by", "day": MONDAY.isoformat(), "at": "08:30", "flexibility_min": "30",
                           "reason": "medical"})
    assert r.status_code == 302
    assert db.session.scalar(db.select(db.func.count()).select_from(TripRequest)) == 3


# --- in the browser: the near misses, "Élargir", the edit form (screenshots at both widths) ---

def test_browser_near_miss_widen_and_edit(app, live_server, browser, make_driver):
    import re

    from tests.browser_support import DESKTOP, PHONE, assert_axe_clean, shot

    offer = make_trip(make_driver("Jean", "Delmas"), detour=15)
    req = make_request(make_passenger(), at=time(7, 55), flex=0)
    staff, _ = create_staff("op2@lotocar.fr", "Sophie", "Martin", Role.OPERATOR, password="motdepasse-solide")
    db.session.commit()
    ctx = browser.new_context(viewport=DESKTOP, locale="fr-FR", timezone_id="Europe/Paris")
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(live_server + "/connexion/equipe")
    page.fill("#email", "op2@lotocar.fr")
    page.fill("#password", "motdepasse-solide")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/console/$"))
    page.goto(f"{live_server}/console/demandes/{req.id}")
    assert page.locator(f".miss[data-offer='{offer.id}']").count() == 1
    shot(page, "request-near-miss")
    page.set_viewport_size(PHONE)
    shot(page, "request-near-miss-phone")
    page.set_viewport_size(DESKTOP)
    assert_axe_clean(page, "near-miss")
    page.click("button:has-text('Élargir')")
    page.wait_for_selector("text=Demande élargie")
    assert page.locator(".candidate").count() == 1 and "Proposer à Jean" in page.content()
    page.click("#edit-request")
    page.wait_for_url(re.compile(r"/modifier$"))
    shot(page, "request-edit")
    page.set_viewport_size(PHONE)
    shot(page, "request-edit-phone")
    page.set_viewport_size(DESKTOP)
    assert_axe_clean(page, "request-edit")
    page.fill("#flexibility_min", "45")
    page.focus("#flexibility_min")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Demande modifiée")
    db.session.expire_all()
    assert db.session.get(TripRequest, req.id).flexibility_min == 45
    # a detour miss: proposed with the detour to ask, the booking page says what to ask
    other = make_trip(make_driver("Marc", "Lafon"), detour=0)
    req2 = make_request(make_passenger(), origin=DOUELLE, at=time(9, 0), flex=120)
    page.goto(f"{live_server}/console/demandes/{req2.id}")
    page.click(f".miss[data-offer='{other.id}'][data-kind='detour'] button")
    page.wait_for_selector("#detour-ask")
    assert "Demandez-lui s'il accepte un détour de" in page.inner_text("#detour-ask")
    shot(page, "booking-detour-ask")
    page.set_viewport_size(PHONE)
    shot(page, "booking-detour-ask-phone")
    page.set_viewport_size(DESKTOP)
    assert_axe_clean(page, "booking-detour-ask")
    assert errors == []
    ctx.close()
