"""The matcher wired into the app: per-process index in step with the database."""
from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest

from lotocar.auth.models import Role
from lotocar.auth.operations import create_staff
from lotocar.bookings.models import Booking, BookingStatus, OfferDay
from lotocar.candidates.service import service
from lotocar.extensions import db
from lotocar.offers import operations as ops
from tests.conftest import TEST_CONFIG, login_as
from tests.factories import MONDAY, SATURDAY, TODAY, commune, luzech_cahors, next_weekday, passenger, trip_request  # noqa: F401

@pytest.fixture
def operator_client(app, client):
    op, _ = create_staff("op@lotocar.fr", "Sophie", "Martin", Role.OPERATOR)
    db.session.commit()
    login_as(client, op)
    return client


def test_candidate_for_douelle_request(operator_client, make_driver):
    driver = make_driver("Nathalie", "R")
    offer = luzech_cahors(driver)
    req = trip_request(passenger())
    data = operator_client.get(f"/requests/{req.id}/candidates").get_json()
    assert data["count"] == 1
    cand = data["candidates"][0]
    assert cand["offer_id"] == offer.id and cand["driver_first_name"] == "Nathalie"
    assert cand["date"] == MONDAY.isoformat()
    assert cand["trip"] == "Luzech → Cahors" and cand["driver_commune"] == "Luzech"
    pickup = datetime.fromisoformat(cand["pickup_at"])
    dropoff = datetime.fromisoformat(cand["dropoff_at"])
    assert pickup.date() == MONDAY and time(7, 45) < pickup.time() < dropoff.time() <= time(8, 30)
    assert cand["band"] in {"green", "orange"} and cand["detour_minutes"] <= 10
    assert cand["seats_left"] == 3 and cand["already_travelled"] is False
    assert cand["driver_phone"] == driver.phone and cand["reasons"]


@pytest.mark.parametrize("kwargs", [
    dict(origin="46042", destination="46182"),                 # wrong direction
    dict(at=time(7, 0)),                                        # before the driver can arrive
    dict(day=SATURDAY),                                         # Monday–Friday trip
    dict(origin="46102", destination="46042"),                  # Figeac: far off the corridor
])
def test_no_candidate(operator_client, make_driver, kwargs):
    luzech_cahors(make_driver())
    req = trip_request(passenger(), **kwargs)
    assert operator_client.get(f"/requests/{req.id}/candidates").get_json()["count"] == 0


def test_full_car_has_no_candidate(operator_client, make_driver):
    offer = luzech_cahors(make_driver(), seats=1)
    pax = passenger()
    req = trip_request(pax)
    other = trip_request(passenger("+33698765433"))
    db.session.add(Booking(request_id=other.id, offer_id=offer.id, occurrence_date=MONDAY,
                           seats=1, status=BookingStatus.CONFIRMED))
    # the run's seat ledger, as `bookings.propose` keeps it (seats are read from offer_days)
    db.session.add(OfferDay(offer_id=offer.id, day=MONDAY, capacity=offer.seats, held=1))
    db.session.commit()
    assert operator_client.get(f"/requests/{req.id}/candidates").get_json()["count"] == 0
    # a declined booking frees the seat
    booking = db.session.scalar(db.select(Booking))
    booking.status = BookingStatus.DECLINED
    db.session.get(OfferDay, (offer.id, MONDAY)).held = 0  # released with it, as `bookings` does
    db.session.commit()
    assert operator_client.get(f"/requests/{req.id}/candidates").get_json()["count"] == 1


def test_already_travelled_together_is_shown(operator_client, make_driver):
    driver = make_driver()
    offer = luzech_cahors(driver)
    pax = passenger()
    past = trip_request(pax, day=MONDAY)
    db.session.add(Booking(request_id=past.id, offer_id=offer.id, occurrence_date=MONDAY - timedelta(days=7),
                           status=BookingStatus.DONE))
    db.session.commit()
    req = trip_request(pax, day=MONDAY)
    cand = operator_client.get(f"/requests/{req.id}/candidates").get_json()["candidates"][0]
    assert cand["already_travelled"] is True


def test_pause_and_cancel_update_the_index(app, operator_client, make_driver):
    driver = make_driver()
    offer = luzech_cahors(driver)
    req = trip_request(passenger())
    url = f"/requests/{req.id}/candidates"
    assert operator_client.get(url).get_json()["count"] == 1
    ops.change_status(offer, "pause", driver.id)
    db.session.commit()
    assert operator_client.get(url).get_json()["count"] == 0
    ops.change_status(offer, "resume", driver.id)
    db.session.commit()
    assert operator_client.get(url).get_json()["count"] == 1
    ops.change_status(offer, "cancel", driver.id)
    db.session.commit()
    assert operator_client.get(url).get_json()["count"] == 0


def test_incremental_update_without_rebuild(app, make_driver):
    driver = make_driver()
    req = trip_request(passenger())
    svc = service()
    assert svc.candidates_for(req) == []  # builds the index
    built = svc._index
    offer = luzech_cahors(driver)
    assert svc._index is built and offer.id in built  # added in place, no rebuild
    assert len(svc.candidates_for(req)) == 1 and svc._index is built


def test_change_written_by_another_process_is_seen(app, make_driver, tmp_path):
    """A second app (its own matching index, as another gunicorn worker) writes a trip."""
    from lotocar import create_app

    driver = make_driver()
    req = trip_request(passenger())
    assert service().candidates_for(req) == []
    other = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]})
    other.instance_path = str(tmp_path)
    with other.app_context():
        luzech_cahors(db.session.merge(driver))
        db.session.remove()
        db.engine.dispose()
    db.session.expire_all()
    assert len(service().candidates_for(req)) == 1


def test_candidates_access(app, client, make_driver):
    luzech_cahors(make_driver())
    req = trip_request(passenger())
    url = f"/requests/{req.id}/candidates"
    assert client.get(url).status_code in (302, 401)
    login_as(client, make_driver("Bob", "B"))
    assert client.get(url).status_code == 403
    admin, _ = create_staff("admin@lotocar.fr", "A", "D", Role.ADMIN)
    db.session.commit()
    login_as(client, admin)
    assert client.get(url).status_code == 200
    assert client.get("/requests/999999/candidates").status_code == 404


def test_driver_sees_how_many_requests_a_trip_could_serve(client, make_driver):
    driver = make_driver()
    luzech_cahors(driver)
    trip_request(passenger())
    trip_request(passenger("+33698765433"), origin="46191")  # Mercuès → Cahors
    trip_request(passenger("+33698765434"), origin="46042", destination="46182")  # wrong way
    login_as(client, driver)
    html = client.get("/mes-trajets/").get_data(as_text=True)
    assert 'data-serving="2"' in html
    assert "2 personnes sans voiture pourraient profiter de ce trajet" in html
