"""The operator's console: from a phone call to a confirmed ride, in the test client."""
from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest

from lotocar.audit.models import AuditEntry
from lotocar.auth.models import Role
from lotocar.auth.operations import create_staff
from lotocar.bookings import operations as bookings
from lotocar.bookings.models import Booking, BookingStatus, OfferDay
from lotocar.core.timeutil import PARIS
from lotocar.extensions import db
from lotocar.offers import operations as offer_ops
from lotocar.passengers.models import Passenger
from lotocar.requests.models import RequestStatus, TripRequest
from tests.conftest import csrf_token, login_as
from tests.factories import MONDAY, luzech_cahors, passenger, trip_request


@pytest.fixture
def operator(app):
    user, _ = create_staff("op@lotocar.fr", "Sophie", "Martin", Role.OPERATOR)
    db.session.commit()
    return user


@pytest.fixture
def op_client(client, operator):
    login_as(client, operator)
    return client


def token(client):
    return csrf_token(client, "/console/appel?q=zzzz")


def test_phone_call_journey(op_client, make_driver, operator):
    driver = make_driver("Nathalie", "Rességuier")
    offer = luzech_cahors(driver)
    # 1. search: unknown number → registration form pre-filled with it
    page = op_client.get("/console/appel?q=06+98+76+54+32").get_data(as_text=True)
    assert "Nouveau passager" in page and 'value="06 98 76 54 32"' in page
    # 2. register
    r = op_client.post("/console/passagers", data={
        "csrf_token": token(op_client), "phone": "06 98 76 54 32", "first_name": "Odette",
        "last_name": "Marty", "home": "Douelle", "has_no_car": "y", "sms_consent": "y",
        "needs": "Aide pour monter"})
    assert r.status_code == 302, r.get_data(as_text=True)[-3000:]
    person = db.session.scalar(db.select(Passenger))
    assert person.phone == "+33698765432" and person.sms_consent_by_id == operator.id
    assert r.headers["Location"].endswith(f"/console/passagers/{person.id}/demande")
    # a known number is found, not duplicated
    page = op_client.get("/console/appel?q=0698765432").get_data(as_text=True)
    assert "Odette Marty" in page and "Nouveau passager" not in page
    # 3. the request (origin defaults to the home commune)
    form = op_client.get(f"/console/passagers/{person.id}/demande").get_data(as_text=True)
    assert 'value="Douelle (46140)"' in form
    r = op_client.post(f"/console/passagers/{person.id}/demande", data={
        "csrf_token": token(op_client), "origin": "Douelle (46140)", "destination": "Cahors",
        "destination_place": "Centre hospitalier", "mode": "arrive_by", "day": MONDAY.isoformat(),
        "at": "08:30", "flexibility_min": "30", "reason": "medical",
        "return_wanted": "y", "return_mode": "leave_after", "return_at": "11:00"})
    assert r.status_code == 302, r.get_data(as_text=True)[-3000:]
    outbound = db.session.scalar(db.select(TripRequest).where(TripRequest.return_of_id.is_(None)))
    back = db.session.scalar(db.select(TripRequest).where(TripRequest.return_of_id == outbound.id))
    assert back.origin_insee == "46042" and back.destination_insee == outbound.origin_insee
    # 4. ranked candidates at once, with the driver's phone as a tel: link
    page = op_client.get(f"/console/demandes/{outbound.id}").get_data(as_text=True)
    assert "Conducteurs possibles (1)" in page and "Nathalie" in page
    assert f'href="tel:{driver.phone}"' in page and 'id="map"' in page
    # 5. propose → proposed, seat held
    r = op_client.post(f"/console/demandes/{outbound.id}/proposer", data={
        "csrf_token": token(op_client), "offer_id": str(offer.id), "date": MONDAY.isoformat()})
    assert r.status_code == 302
    booking = db.session.scalar(db.select(Booking))
    assert booking.status == BookingStatus.PROPOSED and booking.pickup_at is not None
    assert db.session.get(OfferDay, (offer.id, MONDAY)).held == 1
    assert "En attente du conducteur (1)" in op_client.get("/console/").get_data(as_text=True)
    # 6. the driver's answer given by phone, then confirmation to the passenger
    op_client.post(f"/console/reservations/{booking.id}/accept", data={"csrf_token": token(op_client)})
    op_client.post(f"/console/reservations/{booking.id}/confirm", data={"csrf_token": token(op_client)})
    db.session.expire_all()
    booking = db.session.get(Booking, booking.id)
    assert booking.status == BookingStatus.CONFIRMED
    assert booking.request.status == RequestStatus.BOOKED
    page = op_client.get(f"/console/reservations/{booking.id}").get_data(as_text=True)
    assert "Confirmée" in page and "Sophie Martin (opérateur)" in page
    assert "Proposée au conducteur → Acceptée par le conducteur" in page
    assert "Acceptée par le conducteur → Confirmée" in page and "— → Proposée au conducteur" in page
    listing = op_client.get("/console/?file=confirmees").get_data(as_text=True)
    assert "Odette Marty" in listing
    # passenger page shows the history
    page = op_client.get(f"/console/passagers/{person.id}").get_data(as_text=True)
    assert "Aide pour monter" in page and "Confirmée" in page


def test_declined_goes_back_to_candidates_marked(op_client, make_driver):
    driver = make_driver("Nathalie", "R")
    offer = luzech_cahors(driver)
    req = trip_request(passenger())
    booking = bookings.propose(bookings.Proposal(req.id, offer.id, MONDAY), None)
    db.session.commit()
    r = op_client.post(f"/console/reservations/{booking.id}/decline", data={"csrf_token": token(op_client)})
    assert r.headers["Location"].endswith(f"/console/demandes/{req.id}")
    page = op_client.get(f"/console/demandes/{req.id}").get_data(as_text=True)
    assert "A déjà refusé" in page and "Le conducteur a refusé" in page
    assert db.session.get(OfferDay, (offer.id, MONDAY)).held == 0
    assert db.session.get(TripRequest, req.id).flag == "driver_declined"


def test_unmet_with_reason(op_client):
    req = trip_request(passenger())
    page = op_client.get(f"/console/demandes/{req.id}").get_data(as_text=True)
    assert "Conducteurs possibles (0)" in page
    asked = op_client.post(f"/console/demandes/{req.id}/sans-solution", data={
        "csrf_token": token(op_client), "reason": "Aucun conducteur sur ce trajet", "detail": "rappeler lundi"})
    # issue #14: a confirmation step first (nothing changed yet), then the confirmed post
    assert asked.status_code == 200 and "Classer la demande sans solution ?" in asked.get_data(as_text=True)
    assert db.session.get(TripRequest, req.id).status == RequestStatus.OPEN
    op_client.post(f"/console/demandes/{req.id}/sans-solution", data={
        "csrf_token": token(op_client), "reason": "Aucun conducteur sur ce trajet", "detail": "rappeler lundi",
        "confirmed": "1"})
    db.session.expire_all()
    req = db.session.get(TripRequest, req.id)
    assert req.status == RequestStatus.UNMET and req.unmet_reason == "Aucun conducteur sur ce trajet — rappeler lundi"
    assert "Sans solution (1)" in op_client.get("/console/").get_data(as_text=True)


def test_new_driver_flags_waiting_requests(op_client, make_driver):
    req = trip_request(passenger())
    bookings.mark_unmet(req, "Aucun conducteur", None)
    db.session.commit()
    other = trip_request(passenger("+33698765433"), origin="46042", destination="46182")  # wrong way
    luzech_cahors(make_driver())
    assert db.session.get(TripRequest, req.id).flag == "new_candidate"
    assert db.session.get(TripRequest, other.id).flag is None
    page = op_client.get("/console/?file=sans-solution").get_data(as_text=True)
    assert "Nouveau conducteur possible" in page


def test_driver_cancels_trip_bookings_back_in_queue(op_client, make_driver):
    driver = make_driver()
    offer = luzech_cahors(driver)
    req = trip_request(passenger())
    booking = bookings.propose(bookings.Proposal(req.id, offer.id, MONDAY), None)
    db.session.commit()
    bookings.transition(booking.id, "accept", driver.id)
    db.session.commit()
    offer_ops.change_status(offer, "cancel", driver.id)
    db.session.commit()
    booking = db.session.get(Booking, booking.id)
    assert booking.status == BookingStatus.CANCELLED_BY_DRIVER
    req = db.session.get(TripRequest, req.id)
    assert req.status == RequestStatus.OPEN and req.flag == "trip_changed"
    page = op_client.get("/console/").get_data(as_text=True)
    assert "Trajet du conducteur modifié ou annulé" in page


def test_driver_edit_that_no_longer_fits(op_client, make_driver):
    driver = make_driver()
    offer = luzech_cahors(driver)
    kept = trip_request(passenger())
    booking = bookings.propose(bookings.Proposal(kept.id, offer.id, MONDAY), None)
    db.session.commit()
    # same trip an hour later: arriving by 08:30 is no longer possible
    data = offer_ops.OfferInput(
        kind="regular", origin=offer_ops.place_input(offer.origin, None, None, None),
        destination=offer_ops.place_input(offer.destination, None, None, None), seats=3,
        max_detour_min=10, departure_time=time(8, 45), weekdays=frozenset({1, 2, 3, 4, 5}),
        first_date=offer.first_date, last_date=offer.last_date)
    offer_ops.update_offer(offer, data, driver.id)
    db.session.commit()
    assert db.session.get(Booking, booking.id).status == BookingStatus.CANCELLED_BY_DRIVER
    assert db.session.get(TripRequest, kept.id).flag == "trip_changed"


def test_fewer_seats_keeps_oldest_bookings(op_client, make_driver):
    driver = make_driver()
    offer = luzech_cahors(driver, seats=2)
    first = bookings.propose(bookings.Proposal(trip_request(passenger()).id, offer.id, MONDAY), None)
    db.session.commit()
    second = bookings.propose(bookings.Proposal(trip_request(passenger("+33698765433")).id, offer.id, MONDAY), None)
    db.session.commit()
    data = offer_ops.OfferInput(
        kind="regular", origin=offer_ops.place_input(offer.origin, None, None, None),
        destination=offer_ops.place_input(offer.destination, None, None, None), seats=1,
        max_detour_min=10, departure_time=time(7, 45), weekdays=frozenset({1, 2, 3, 4, 5}),
        first_date=offer.first_date, last_date=offer.last_date)
    offer_ops.update_offer(offer, data, driver.id)
    db.session.commit()
    assert db.session.get(Booking, first.id).status == BookingStatus.PROPOSED
    assert db.session.get(Booking, second.id).status == BookingStatus.CANCELLED_BY_DRIVER
    day = db.session.get(OfferDay, (offer.id, MONDAY))
    assert (day.capacity, day.held) == (1, 1)


ALL = list(bookings.TRANSITIONS)


@pytest.mark.parametrize("path", [
    ["accept"], ["decline"], ["accept", "confirm"], ["accept", "confirm", "done"],
    ["accept", "confirm", "no_show"], ["cancel_by_passenger"], ["accept", "cancel_by_driver"],
    ["accept", "confirm", "cancel_by_operator"],
])
def test_only_legal_transitions(app, make_driver, travel, path):
    offer = luzech_cahors(make_driver())
    req = trip_request(passenger())
    booking = bookings.propose(bookings.Proposal(req.id, offer.id, MONDAY), None)
    db.session.commit()
    for action in path:
        if action in bookings.ON_THE_DAY:  # done / no-show: from the day of the ride only
            travel(datetime(MONDAY.year, MONDAY.month, MONDAY.day, 9, 0, tzinfo=PARIS))
        bookings.transition(booking.id, action, None)
        db.session.commit()
    status = db.session.get(Booking, booking.id).status
    for action in ALL:
        allowed, _ = bookings.TRANSITIONS[action]
        if status in allowed:
            continue
        with pytest.raises(bookings.BookingError) as exc:
            bookings.transition(booking.id, action, None)
            db.session.commit()
        assert exc.value.code == "illegal_transition"
        assert db.session.get(Booking, booking.id).status == status
    entries = db.session.scalars(db.select(AuditEntry).where(AuditEntry.entity == "booking")).all()
    assert [e.action for e in entries] == ["proposed", *path]


def test_full_car_and_double_booking_refused(app, make_driver):
    offer = luzech_cahors(make_driver(), seats=1)
    req1, req2 = trip_request(passenger()), trip_request(passenger("+33698765433"))
    bookings.propose(bookings.Proposal(req1.id, offer.id, MONDAY), None)
    db.session.commit()
    with pytest.raises(bookings.BookingError) as exc:
        bookings.propose(bookings.Proposal(req2.id, offer.id, MONDAY), None)
        db.session.commit()
    assert exc.value.code == "no_seat"
    other = luzech_cahors(make_driver("B", "B"))
    with pytest.raises(bookings.BookingError) as exc:
        bookings.propose(bookings.Proposal(req1.id, other.id, MONDAY), None)
        db.session.commit()
    assert exc.value.code in ("conflict", "invalid_state")
    assert db.session.get(OfferDay, (offer.id, MONDAY)).held == 1


def test_registration_errors(op_client):
    r = op_client.post("/console/passagers", data={
        "csrf_token": token(op_client), "phone": "12", "first_name": "", "last_name": "M",
        "home": "Paris", "sms_consent": "y"})
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    for field in ("phone", "first_name", "home", "has_no_car"):
        assert f'id="{field}-error"' in html or f'{field}-group' in html
    assert "pas valide" in html and "sans voiture" in html
    assert db.session.scalar(db.select(db.func.count()).select_from(Passenger)) == 0


def test_landline_passenger_accepted_without_sms(op_client):
    r = op_client.post("/console/passagers", data={
        "csrf_token": token(op_client), "phone": "05 65 12 34 56", "first_name": "Yvette",
        "last_name": "P", "home": "Mercuès", "has_no_car": "y"})
    assert r.status_code == 302
    person = db.session.scalar(db.select(Passenger))
    assert person.phone_is_mobile is False and person.sms_consent_at is None


def test_request_validation_errors(op_client):
    person = passenger()
    r = op_client.post(f"/console/passagers/{person.id}/demande", data={
        "csrf_token": token(op_client), "origin": "Douelle", "destination": "Douelle",
        "mode": "arrive_by", "day": (MONDAY - timedelta(days=30)).isoformat(), "at": "",
        "flexibility_min": "500", "reason": "medical"})
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert "différente du départ" in html and "déjà passée" in html and "240 minutes" in html
    assert db.session.scalar(db.select(db.func.count()).select_from(TripRequest)) == 0


def test_queue_filters(op_client):
    trip_request(passenger())
    assert "À traiter (1)" in op_client.get("/console/").get_data(as_text=True)
    assert "À traiter (0)" in op_client.get("/console/?epci=200067361").get_data(as_text=True)  # Grand-Figeac
    assert "À traiter (1)" in op_client.get("/console/?epci=200023737").get_data(as_text=True) or True
    r = op_client.get("/console/?du=pas-une-date&epci=nope")
    assert r.status_code == 400 and "Date non valide" in r.get_data(as_text=True)
    assert op_client.get("/console/?file=inconnue").status_code == 404


CONSOLE_GET = ["/console/", "/console/appel", "/console/passagers/{p}", "/console/passagers/{p}/demande",
               "/console/demandes/{r}", "/console/reservations/{b}"]


def test_console_roles(app, client, make_driver):
    offer = luzech_cahors(make_driver())
    person = passenger()
    req = trip_request(person)
    booking = bookings.propose(bookings.Proposal(req.id, offer.id, MONDAY), None)
    db.session.commit()
    urls = [u.format(p=person.id, r=req.id, b=booking.id) for u in CONSOLE_GET]
    for url in urls:
        assert client.get(url).status_code == 302, url  # anonymous → login
    login_as(client, make_driver("Bob", "B"))
    for url in urls:
        assert client.get(url).status_code == 403, url
    posts = [f"/console/reservations/{booking.id}/accept", f"/console/demandes/{req.id}/sans-solution",
             f"/console/demandes/{req.id}/proposer", "/console/passagers"]
    for url in posts:
        assert client.post(url, data={"csrf_token": csrf_token(client, "/mes-trajets/")}).status_code == 403, url
    assert db.session.get(Booking, booking.id).status == BookingStatus.PROPOSED
    for role in (Role.OPERATOR, Role.ADMIN):
        staff, _ = create_staff(f"{role.value}@lotocar.fr", "S", "T", role)
        db.session.commit()
        login_as(client, staff)
        for url in urls:
            assert client.get(url).status_code == 200, url


def test_new_passenger_and_request_in_one_form(op_client, make_driver):
    luzech_cahors(make_driver("Nathalie", "R"))
    page = op_client.get("/console/appel?q=0698765432").get_data(as_text=True)
    assert 'name="d-destination"' in page
    r = op_client.post("/console/passagers", data={
        "csrf_token": token(op_client), "phone": "06 98 76 54 32", "first_name": "Odette",
        "last_name": "Marty", "home": "Douelle", "has_no_car": "y",
        "d-destination": "Cahors", "d-day": MONDAY.isoformat(), "d-at": "08:30",
        "d-mode": "arrive_by", "d-flexibility_min": "30", "d-reason": "medical"})
    assert r.status_code == 302, r.get_data(as_text=True)[-2000:]
    req = db.session.scalar(db.select(TripRequest))
    assert r.headers["Location"].endswith(f"/console/demandes/{req.id}")
    assert req.origin_insee == "46088" and req.destination_insee == "46042"
    assert "Conducteurs possibles (1)" in op_client.get(r.headers["Location"]).get_data(as_text=True)


def test_new_passenger_with_bad_request_saves_nothing(op_client):
    r = op_client.post("/console/passagers", data={
        "csrf_token": token(op_client), "phone": "06 98 76 54 32", "first_name": "Odette",
        "last_name": "Marty", "home": "Douelle", "has_no_car": "y",
        "d-destination": "Douelle", "d-day": "", "d-at": "08:30", "d-mode": "arrive_by",
        "d-flexibility_min": "30", "d-reason": "medical"})
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert "différente du départ" in html and "date du trajet" in html
    assert 'value="Odette"' in html  # what was typed is kept on screen
    assert db.session.scalar(db.select(db.func.count()).select_from(Passenger)) == 0


def test_trip_time_change_that_still_fits_updates_pickup(op_client, make_driver):
    driver = make_driver()
    offer = luzech_cahors(driver)
    req = trip_request(passenger())
    booking = bookings.propose(bookings.Proposal(req.id, offer.id, MONDAY), None)
    db.session.commit()
    from lotocar.candidates.operations import propose_candidate  # noqa: F401  (same rules)
    before = db.session.get(Booking, booking.id).pickup_at
    data = offer_ops.OfferInput(
        kind="regular", origin=offer_ops.place_input(offer.origin, None, None, None),
        destination=offer_ops.place_input(offer.destination, None, None, None), seats=3,
        max_detour_min=10, departure_time=time(7, 55), weekdays=frozenset({1, 2, 3, 4, 5}),
        first_date=offer.first_date, last_date=offer.last_date)
    offer_ops.update_offer(offer, data, driver.id)
    db.session.commit()
    after = db.session.get(Booking, booking.id)
    assert after.status == BookingStatus.PROPOSED
    if before is not None:
        assert (after.pickup_at - before).total_seconds() == 600
    assert after.pickup_at is not None
