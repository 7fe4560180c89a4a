"""JSON API: every endpoint's happy path and every class of error (issue #4).

Every response goes through `Api`, which checks it against /api/openapi.json.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest

from lotocar.bookings.models import Booking, OfferDay
from lotocar.communes.models import Commune
from lotocar.core.timeutil import PARIS, local_to_utc
from lotocar.extensions import db
from lotocar.offers import operations as offer_ops
from lotocar.offers.models import Offer
from lotocar.offers.rules import OfferInput
from lotocar.passengers.models import Passenger
from lotocar.requests.models import RequestMode, RequestReason, RequestStatus, TripRequest


from tests.factories import MONDAY, SATURDAY, TODAY, next_weekday  # noqa: F401  (shared dates)
LUZECH, CAHORS, DOUELLE, FIGEAC = "46182", "46042", "46088", "46102"


def offset_iso(value: str) -> datetime:
    """An ISO datetime with a Europe/Paris offset (never naive, never UTC 'Z')."""
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() in (timedelta(hours=1), timedelta(hours=2)), value
    return parsed


# --- builders (straight through the operations, for the error tests) ----------------------

def commune(insee: str) -> Commune:
    return db.session.get(Commune, insee)


def make_offer(driver_user, seats=3, detour=10, origin=LUZECH, destination=CAHORS) -> Offer:
    data = OfferInput(kind="regular", origin=offer_ops.place_input(commune(origin), None, None, None),
                      destination=offer_ops.place_input(commune(destination), None, None, None),
                      seats=seats, max_detour_min=detour, departure_time=time(7, 45),
                      weekdays=frozenset({1, 2, 3, 4, 5}), first_date=TODAY + timedelta(days=1),
                      last_date=TODAY + timedelta(days=90))
    saved = offer_ops.create_offer(driver_user.driver, data, driver_user.id)
    db.session.commit()
    return saved


_phones = iter(range(10_000))


def make_passenger() -> Passenger:
    p = Passenger(first_name="Odette", last_name="Marty", phone=f"+336987{next(_phones):05d}",
                  home_insee=DOUELLE)
    db.session.add(p)
    db.session.commit()
    return p


def make_request(origin=DOUELLE, destination=CAHORS, day=MONDAY, at=time(8, 30)) -> TripRequest:
    r = TripRequest(passenger_id=make_passenger().id, mode=RequestMode.ARRIVE_BY,
                    target_at=local_to_utc(day, at), flexibility_min=30, reason=RequestReason.MEDICAL)
    r.set_place("origin", commune(origin))
    r.set_place("destination", commune(destination))
    db.session.add(r)
    db.session.commit()
    return r


@pytest.fixture
def booked(api, make_driver):
    """A proposed booking made through the API: (booking json, offer, request)."""
    offer = make_offer(make_driver())
    trip = make_request()
    response = api.post("/api/v1/bookings", {"request_id": trip.id, "offer_id": offer.id,
                                             "date": MONDAY.isoformat()})
    assert response.status_code == 201, response.get_json()
    return response.get_json(), offer, trip


def error_of(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, (response.status_code, response.get_json())
    error = response.get_json()["error"]
    if code:
        assert error["code"] == code, error
    assert error["message"]
    return error


# --- happy paths ------------------------------------------------------------------------------

def test_communes_search(api):
    data = api.get("/api/v1/communes?q=cahor").get_json()
    first = data["communes"][0]
    assert first["insee"] == CAHORS and first["name"] == "Cahors" and first["label"] == "Cahors (46000)"
    assert api.get("/api/v1/communes?q=46042").get_json()["communes"][0]["insee"] == CAHORS
    assert len(api.get("/api/v1/communes?q=saint&limit=3").get_json()["communes"]) == 3
    assert api.get("/api/v1/communes?q=zzzzzzzz").get_json() == {"communes": []}


def test_the_whole_journey_through_the_api(api, staff, travel):
    """Register a driver and a passenger, post a trip and a request, book the best candidate,
    and take the booking to the end of its life — all through the API."""
    driver = api.post("/api/v1/drivers", {
        "first_name": "Nathalie", "last_name": "Roques", "phone": "06 12 34 56 78",
        "home_insee": LUZECH, "email": "Nathalie@Example.fr", "consent_contact": True})
    assert driver.status_code == 201
    d = driver.get_json()
    assert d["phone"] == "+33612345678" and d["phone_display"] == "06 12 34 56 78"
    assert d["home_name"] == "Luzech" and d["email"] == "nathalie@example.fr" and not d["phone_verified"]
    offset_iso(d["created_at"])

    pax = api.post("/api/v1/passengers", {
        "first_name": "Odette", "last_name": "Marty", "phone": "05 65 20 00 00",
        "home_insee": DOUELLE, "has_no_car": True, "needs": "Canne"})
    assert pax.status_code == 201
    p = pax.get_json()
    assert p["phone_is_mobile"] is False and p["sms_consent"] is False and p["needs"] == "Canne"

    offer = api.post("/api/v1/offers", {
        "driver_id": d["id"], "origin": {"insee": LUZECH}, "destination": {"insee": CAHORS},
        "recurrence": {"weekdays": [1, 2, 3, 4, 5], "time": "07:45",
                       "start_date": (TODAY + timedelta(days=1)).isoformat(),
                       "end_date": (TODAY + timedelta(days=60)).isoformat()},
        "seats": 3, "max_detour_minutes": 10})
    assert offer.status_code == 201, offer.get_json()
    o = offer.get_json()
    assert o["kind"] == "regular" and o["departure"] is None and o["status"] == "active"
    assert o["recurrence"]["weekdays"] == [1, 2, 3, 4, 5] and o["recurrence"]["time"] == "07:45"
    assert o["origin"] == {"insee": LUZECH, "name": "Luzech", "lat": commune(LUZECH).lat,
                           "lon": commune(LUZECH).lon, "precise": False, "place": None,
                           "departement": "46", "in_lot": True, "former": None}

    req = api.post("/api/v1/requests", {
        "passenger_id": p["id"], "origin": {"insee": DOUELLE}, "destination": {"insee": CAHORS},
        "arrive_by": f"{MONDAY.isoformat()}T08:30", "flexibility_minutes": 30, "reason": "medical"})
    assert req.status_code == 201, req.get_json()
    r = req.get_json()
    assert r["status"] == "open" and r["depart_after"] is None and r["reason"] == "medical"
    arrive_by = offset_iso(r["arrive_by"])
    assert arrive_by.date() == MONDAY and arrive_by.time() == time(8, 30)
    assert api.get(f"/api/v1/requests/{r['id']}").get_json() == r

    cands = api.get(f"/api/v1/requests/{r['id']}/candidates").get_json()
    assert cands["request_id"] == r["id"] and cands["count"] == 1
    c = cands["candidates"][0]
    assert c["offer_id"] == o["id"] and c["driver_id"] == d["id"] and c["date"] == MONDAY.isoformat()
    pickup, dropoff = offset_iso(c["pickup_at"]), offset_iso(c["dropoff_at"])
    assert time(7, 45) < pickup.time() < dropoff.time() <= time(8, 30)
    assert 0 <= c["detour_minutes"] <= 10 and c["detour_km"] >= 0 and c["rank"] == 1

    booking = api.post("/api/v1/bookings", {"request_id": r["id"], "offer_id": o["id"],
                                            "date": c["date"]})
    assert booking.status_code == 201, booking.get_json()
    b = booking.get_json()
    assert booking.headers["Location"].endswith(f"/api/v1/bookings/{b['id']}")
    assert b["status"] == "proposed" and b["status_label"] == "Proposée au conducteur"
    assert (b["pickup_at"], b["dropoff_at"]) == (c["pickup_at"], c["dropoff_at"])
    assert b["detour_minutes"] == c["detour_minutes"]
    assert (b["driver_id"], b["passenger_id"], b["date"]) == (d["id"], p["id"], MONDAY.isoformat())
    assert api.get(f"/api/v1/bookings/{b['id']}").get_json() == b

    for action, status in [("accept", "accepted_by_driver"), ("confirm", "confirmed")]:
        changed = api.post(f"/api/v1/bookings/{b['id']}/{action}")
        assert changed.status_code == 200 and changed.get_json()["status"] == status
    # "done" only from the day of the ride (lotocar.bookings): a clear 409 before it
    early = api.post(f"/api/v1/bookings/{b['id']}/done")
    assert early.status_code == 409 and early.get_json()["error"]["code"] == "too_early"
    travel(datetime(MONDAY.year, MONDAY.month, MONDAY.day, 9, 30, tzinfo=PARIS))
    changed = api.post(f"/api/v1/bookings/{b['id']}/done")
    assert changed.status_code == 200 and changed.get_json()["status"] == "done"
    assert db.session.get(TripRequest, r["id"]).status == RequestStatus.DONE
    assert db.session.get(Booking, b["id"]).created_by_id == staff["operator"].id


def test_one_off_offer_with_precise_points(api, make_driver):
    driver = make_driver()
    # a point in Luzech's streets (nearest town hall: Luzech), and Cahors by code
    response = api.post("/api/v1/offers", {
        "driver_id": driver.driver.id, "origin": {"lat": 44.4790, "lon": 1.2870, "place": "Place du Canal"},
        "destination": {"insee": CAHORS}, "departure": f"{MONDAY.isoformat()}T07:45",
        "seats": 2, "max_detour_minutes": 5, "remark": "Départ à l'heure"})
    assert response.status_code == 201, response.get_json()
    o = response.get_json()
    assert o["kind"] == "one_off" and o["recurrence"] is None
    departure = offset_iso(o["departure"])
    assert departure.date() == MONDAY and departure.time() == time(7, 45)
    assert o["origin"] == {"insee": LUZECH, "name": "Luzech", "lat": 44.479, "lon": 1.287,
                           "precise": True, "place": "Place du Canal", "departement": "46",
                           "in_lot": True, "former": None}
    assert o["destination"]["precise"] is False


def test_request_depart_after_with_point_and_default_flexibility(api):
    p = make_passenger()
    response = api.post("/api/v1/requests", {
        "passenger_id": p.id, "origin": {"lat": 44.4800, "lon": 1.3800},
        "destination": {"insee": CAHORS}, "depart_after": f"{MONDAY.isoformat()}T14:00",
        "reason": "shopping", "notes": "Retour de courses"})
    assert response.status_code == 201, response.get_json()
    r = response.get_json()
    assert r["arrive_by"] is None and offset_iso(r["depart_after"]).time() == time(14, 0)
    assert r["flexibility_minutes"] == 30 and r["origin"]["precise"] is True
    assert r["origin"]["insee"] == DOUELLE  # nearest town hall to that point


def test_explicit_offset_is_converted_to_paris(api):
    p = make_passenger()
    response = api.post("/api/v1/requests", {
        "passenger_id": p.id, "origin": {"insee": DOUELLE}, "destination": {"insee": CAHORS},
        "arrive_by": f"{MONDAY.isoformat()}T06:30:00+00:00", "reason": "job"})
    assert response.status_code == 201, response.get_json()
    local = offset_iso(response.get_json()["arrive_by"])
    assert local == datetime.fromisoformat(f"{MONDAY.isoformat()}T06:30:00+00:00")
    assert local.time() in (time(7, 30), time(8, 30))  # winter or summer time


@pytest.mark.parametrize("action,body,status", [
    ("decline", {"reason": "En vacances"}, "declined"),
    ("cancel", None, "cancelled_by_operator"),
    ("cancel", {"by": "passenger", "reason": "Rendez-vous annulé"}, "cancelled_by_passenger"),
    ("cancel", {"by": "driver"}, "cancelled_by_driver"),
])
def test_decline_and_cancel_free_the_seat(api, booked, action, body, status):
    b, offer, trip = booked
    day = db.session.get(OfferDay, (offer.id, MONDAY))
    assert day.held == 1
    response = api.post(f"/api/v1/bookings/{b['id']}/{action}", body)
    assert response.status_code == 200, response.get_json()
    data = response.get_json()
    assert data["status"] == status
    if body and body.get("reason"):
        assert data["reason"] == body["reason"]
    db.session.expire_all()
    assert db.session.get(OfferDay, (offer.id, MONDAY)).held == 0
    expected = RequestStatus.CANCELLED if status == "cancelled_by_passenger" else RequestStatus.OPEN
    assert db.session.get(TripRequest, trip.id).status == expected


def test_no_show(api, booked, travel):
    b, _, _ = booked
    api.post(f"/api/v1/bookings/{b['id']}/accept")
    api.post(f"/api/v1/bookings/{b['id']}/confirm")
    travel(datetime(MONDAY.year, MONDAY.month, MONDAY.day, 8, 15, tzinfo=PARIS))  # on the day
    assert api.post(f"/api/v1/bookings/{b['id']}/no_show").get_json()["status"] == "no_show"


def test_admin_token_works_too(client, staff, booked):
    from tests.api_support import Api

    admin = Api(client, staff["admin_token"])
    b, _, _ = booked
    assert admin.post(f"/api/v1/bookings/{b['id']}/accept").get_json()["status"] == "accepted_by_driver"


# --- errors: validation (422) --------------------------------------------------------------

def _offer_body(driver, **changes):
    body = {"driver_id": driver, "origin": {"insee": LUZECH}, "destination": {"insee": CAHORS},
            "departure": f"{MONDAY.isoformat()}T07:45", "seats": 3, "max_detour_minutes": 10}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


@pytest.mark.parametrize("changes,field", [
    ({"origin": {"insee": "99999"}}, "origin.insee"),                      # unknown commune
    ({"origin": {"insee": 46182}}, "origin.insee"),                        # wrong type
    ({"origin": {"lat": 47.2, "lon": -1.55}}, "origin"),                   # Nantes: no Lot commune near
    ({"origin": {"lat": 44.48}}, "origin"),                                # half a point
    ({"origin": {"lat": "44.4", "lon": 1.4}}, "origin.lat"),
    ({"origin": {"insee": LUZECH, "lat": 44.92, "lon": 2.02}}, "origin"),  # point 60 km from Luzech
    ({"origin": "Luzech"}, "origin"),
    ({"origin": {"insee": LUZECH, "town": "x"}}, "origin.town"),           # unknown field
    ({"destination": {"insee": LUZECH}}, "destination"),                   # same as origin
    ({"seats": "3"}, "seats"),
    ({"seats": 3.5}, "seats"),
    ({"seats": True}, "seats"),
    ({"seats": 9}, "seats"),
    ({"seats": None}, "seats"),
    ({"max_detour_minutes": 90}, "max_detour_minutes"),
    ({"driver_id": "7"}, "driver_id"),
    ({"driver_id": 999_999}, "driver_id"),                                 # unknown id in the body
    ({"departure": "2020-01-06T07:45"}, "departure"),                      # in the past
    ({"departure": "lundi 7h45"}, "departure"),
    ({"departure": "2026-13-45T07:45"}, "departure"),
    ({"departure": None}, "departure"),                                    # neither kind
    ({"recurrence": {"weekdays": [1], "time": "07:45", "start_date": "2030-01-01",
                     "end_date": "2030-02-01"}}, "departure"),             # both kinds
    ({"remark": "x" * 1001}, "remark"),
    ({"colour": "red"}, "colour"),
])
def test_offer_validation(api, make_driver, changes, field):
    driver = make_driver()
    error = error_of(api.post("/api/v1/offers", _offer_body(driver.driver.id, **changes)), 422,
                     "validation_error")
    assert field in error["fields"], error
    assert db.session.scalar(db.select(db.func.count(Offer.id))) == 0


@pytest.mark.parametrize("recurrence,field", [
    ({"weekdays": [0, 8], "time": "07:45"}, "recurrence.weekdays"),
    ({"weekdays": [1, 1], "time": "07:45"}, "recurrence.weekdays"),
    ({"weekdays": [], "time": "07:45"}, "recurrence.weekdays"),
    ({"weekdays": [1], "time": "7h45"}, "recurrence.time"),
    ({"weekdays": [1], "time": "07:45", "start_date": "2020-01-01"}, "recurrence.start_date"),
    ({"weekdays": [1], "time": "07:45", "end_date": "01/02/2030"}, "recurrence.end_date"),
    ({"weekdays": [1], "time": "07:45", "end_date": (TODAY + timedelta(days=1)).isoformat(),
      "start_date": (TODAY + timedelta(days=5)).isoformat()}, "recurrence.end_date"),
    ({"weekdays": [1], "time": "07:45", "every": 2}, "recurrence.every"),
])
def test_recurrence_validation(api, make_driver, recurrence, field):
    recurrence = {"start_date": (TODAY + timedelta(days=1)).isoformat(),
                  "end_date": (TODAY + timedelta(days=60)).isoformat(), **recurrence}
    body = _offer_body(make_driver().driver.id, departure=None, recurrence=recurrence)
    error = error_of(api.post("/api/v1/offers", body), 422, "validation_error")
    assert field in error["fields"], error


@pytest.mark.parametrize("changes,field", [
    ({"phone": "01 02"}, "phone"),                       # bad phone
    ({"phone": "05 65 20 00 00"}, "phone"),              # a driver needs a mobile
    ({"phone": 612345678}, "phone"),
    ({"home_insee": "99999"}, "home_insee"),
    ({"first_name": "  "}, "first_name"),
    ({"consent_contact": "yes"}, "consent_contact"),
    ({"consent_contact": False}, "consent_contact"),
    ({"email": "pas-un-email"}, "email"),
])
def test_driver_validation(api, changes, field):
    body = {"first_name": "Jean", "last_name": "Delmas", "phone": "06 11 22 33 44",
            "home_insee": LUZECH, "consent_contact": True, **changes}
    error = error_of(api.post("/api/v1/drivers", body), 422, "validation_error")
    assert field in error["fields"], error


@pytest.mark.parametrize("changes,field", [
    ({"phone": "12345"}, "phone"),
    ({"home_insee": "46999"}, "home_insee"),
    ({"has_no_car": False}, "has_no_car"),
    ({"sms_consent": True, "phone": "05 65 20 00 00"}, "sms_consent"),  # a landline gets no SMS
    ({"last_name": None}, "last_name"),
])
def test_passenger_validation(api, changes, field):
    body = {"first_name": "Odette", "last_name": "Marty", "phone": "06 98 76 54 32",
            "home_insee": DOUELLE, "has_no_car": True, **changes}
    body = {k: v for k, v in body.items() if v is not None}
    error = error_of(api.post("/api/v1/passengers", body), 422, "validation_error")
    assert field in error["fields"], error


def test_passenger_phone_already_known_is_a_conflict(api):
    body = {"first_name": "Odette", "last_name": "Marty", "phone": "06 98 76 54 32",
            "home_insee": DOUELLE, "has_no_car": True}
    first = api.post("/api/v1/passengers", body).get_json()
    error = error_of(api.post("/api/v1/passengers", {**body, "phone": "+33 6 98 76 54 32"}), 409, "duplicate")
    assert error["existing_id"] == first["id"] and "phone" in error["fields"]


@pytest.mark.parametrize("changes,field", [
    ({"passenger_id": 999_999}, "passenger_id"),
    ({"arrive_by": "2020-03-02T08:30"}, "arrive_by"),                     # in the past
    ({"arrive_by": (TODAY + timedelta(days=400)).isoformat() + "T08:30"}, "arrive_by"),
    ({"arrive_by": None}, "arrive_by"),                                  # neither
    ({"depart_after": f"{MONDAY.isoformat()}T17:00"}, "arrive_by"),       # both
    ({"reason": "holiday"}, "reason"),
    ({"reason": None}, "reason"),
    ({"flexibility_minutes": 500}, "flexibility_minutes"),
    ({"flexibility_minutes": "30"}, "flexibility_minutes"),
    ({"destination": {"insee": DOUELLE}}, "destination"),
    ({"destination": {"insee": "00000"}}, "destination.insee"),
])
def test_request_validation(api, changes, field):
    p = make_passenger()
    body = {"passenger_id": p.id, "origin": {"insee": DOUELLE}, "destination": {"insee": CAHORS},
            "arrive_by": f"{MONDAY.isoformat()}T08:30", "reason": "medical", **changes}
    body = {k: v for k, v in body.items() if v is not None}
    error = error_of(api.post("/api/v1/requests", body), 422, "validation_error")
    assert field in error["fields"], error


@pytest.mark.parametrize("query,field", [("", "q"), ("q=", "q"), ("q=cahors&limit=0", "limit"),
                                         ("q=cahors&limit=abc", "limit"), ("q=" + "a" * 101, "q")])
def test_communes_validation(api, query, field):
    error = error_of(api.get(f"/api/v1/communes?{query}"), 422, "validation_error")
    assert field in error["fields"]


@pytest.mark.parametrize("body,field", [
    ({"offer_id": 1, "date": "2030-01-07"}, "request_id"),
    ({"request_id": "1", "offer_id": 1, "date": "2030-01-07"}, "request_id"),
    ({"request_id": 1, "offer_id": 1, "date": "07/01/2030"}, "date"),
    ({"request_id": 1, "offer_id": 1, "date": "2030-01-07", "seats": 2}, "seats"),
])
def test_booking_validation(api, body, field):
    error = error_of(api.post("/api/v1/bookings", body), 422, "validation_error")
    assert field in error["fields"]


def test_booking_unknown_ids_in_body(api, make_driver):
    offer = make_offer(make_driver())
    trip = make_request()
    error = error_of(api.post("/api/v1/bookings", {"request_id": 999_999, "offer_id": offer.id,
                                                   "date": MONDAY.isoformat()}), 422)
    assert "request_id" in error["fields"]
    error = error_of(api.post("/api/v1/bookings", {"request_id": trip.id, "offer_id": 999_999,
                                                   "date": MONDAY.isoformat()}), 422)
    assert "offer_id" in error["fields"]


# --- errors: unknown ids in the path (404) -----------------------------------------------------

@pytest.mark.parametrize("method,path", [
    ("GET", "/api/v1/bookings/999999"),
    ("GET", "/api/v1/requests/999999"),
    ("GET", "/api/v1/requests/999999/candidates"),
    ("POST", "/api/v1/bookings/999999/accept"),
    ("POST", "/api/v1/bookings/999999/cancel"),
])
def test_unknown_ids_in_path(api, method, path):
    error_of(api.call(method, path), 404, "not_found")


def test_unknown_address_and_wrong_method_are_json(api):
    error_of(api.get("/api/v1/nowhere"), 404, "not_found")
    error_of(api.get("/api/v2/communes"), 404, "not_found")
    error_of(api.post("/api/v1/bookings/1/teleport"), 404, "not_found")
    response = api.call("DELETE", "/api/v1/communes?q=cahors")
    error_of(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]
    error_of(api.get("/api/v1/bookings"), 405, "method_not_allowed")


# --- errors: the booking rules (409) ---------------------------------------------------------

def test_illegal_transitions(api, booked):
    b, _, _ = booked
    error = error_of(api.post(f"/api/v1/bookings/{b['id']}/confirm"), 409, "illegal_transition")
    assert "Proposée au conducteur" in error["message"]
    error_of(api.post(f"/api/v1/bookings/{b['id']}/done"), 409, "illegal_transition")
    assert api.post(f"/api/v1/bookings/{b['id']}/accept").status_code == 200
    error_of(api.post(f"/api/v1/bookings/{b['id']}/accept"), 409, "illegal_transition")
    error_of(api.post(f"/api/v1/bookings/{b['id']}/decline"), 409, "illegal_transition")
    assert api.post(f"/api/v1/bookings/{b['id']}/cancel", {"by": "driver"}).status_code == 200
    error_of(api.post(f"/api/v1/bookings/{b['id']}/cancel"), 409, "illegal_transition")
    assert api.get(f"/api/v1/bookings/{b['id']}").get_json()["status"] == "cancelled_by_driver"


@pytest.mark.parametrize("body,field", [({"by": "mayor"}, "by"), ({"reason": 12}, "reason"),
                                        ({"reason": "x" * 301}, "reason"), ({"by": "driver"}, "by")])
def test_transition_body_validation(api, booked, body, field):
    b, _, _ = booked
    action = "decline" if body.get("by") == "driver" else "cancel"  # `by` only exists on cancel
    error = error_of(api.post(f"/api/v1/bookings/{b['id']}/{action}", body), 422)
    assert field in error["fields"]
    assert api.get(f"/api/v1/bookings/{b['id']}").get_json()["status"] == "proposed"


def test_request_already_booked(api, booked, make_driver):
    _, offer, trip = booked
    other = make_offer(make_driver(), origin=LUZECH, destination=CAHORS)
    error = error_of(api.post("/api/v1/bookings", {"request_id": trip.id, "offer_id": other.id,
                                                   "date": MONDAY.isoformat()}), 409)
    assert error["code"] in ("conflict", "invalid_state")


def test_offer_that_cannot_serve_the_request_is_refused(api, make_driver):
    offer = make_offer(make_driver())
    figeac = make_request(origin=FIGEAC)
    error = error_of(api.post("/api/v1/bookings", {"request_id": figeac.id, "offer_id": offer.id,
                                                   "date": MONDAY.isoformat()}), 409, "not_a_candidate")
    assert "offer_id" in error["fields"]
    trip = make_request()
    # right trip, wrong day (the trip does not run on Saturdays; the request is on Monday)
    error_of(api.post("/api/v1/bookings", {"request_id": trip.id, "offer_id": offer.id,
                                           "date": SATURDAY.isoformat()}), 409, "not_a_candidate")
    assert db.session.scalar(db.select(db.func.count(Booking.id))) == 0


def test_last_seat_cannot_be_taken_twice(api, make_driver):
    offer = make_offer(make_driver(), seats=1)
    first, second = make_request(), make_request()
    body = {"offer_id": offer.id, "date": MONDAY.isoformat()}
    assert api.post("/api/v1/bookings", {**body, "request_id": first.id}).status_code == 201
    error_of(api.post("/api/v1/bookings", {**body, "request_id": second.id}), 409)
    assert db.session.get(OfferDay, (offer.id, MONDAY)).held == 1


# --- errors: the request itself (400 / 413 / 415) ---------------------------------------------

def test_malformed_json(api):
    response = api.call("POST", "/api/v1/passengers", data='{"first_name": "Odette",',
                        content_type="application/json")
    error_of(response, 400, "malformed_json")
    response = api.call("POST", "/api/v1/passengers", data=b'{"first_name": "\xff"}',
                        content_type="application/json")
    error_of(response, 400, "malformed_json")


def test_body_must_be_an_object(api):
    error_of(api.post("/api/v1/passengers", [1, 2]), 400, "invalid_body")
    error_of(api.call("POST", "/api/v1/bookings", data="null", content_type="application/json"),
             400, "invalid_body")


@pytest.mark.parametrize("kwargs", [
    {"data": '{"first_name": "Odette"}', "content_type": "text/plain"},
    {"data": {"first_name": "Odette"}},  # form-encoded
    {},                                   # no body at all
])
def test_wrong_content_type(api, kwargs):
    error_of(api.call("POST", "/api/v1/passengers", **kwargs), 415, "unsupported_media_type")


def test_transition_with_a_non_json_body(api, booked):
    b, _, _ = booked
    error_of(api.call("POST", f"/api/v1/bookings/{b['id']}/cancel", data="by=driver",
                      content_type="application/x-www-form-urlencoded"), 415)


def test_body_too_large(api):
    error_of(api.post("/api/v1/passengers", {"notes": "x" * 70_000}), 413, "payload_too_large")


# --- never a 500 page ------------------------------------------------------------------------

def test_unexpected_error_is_a_json_500(api, monkeypatch):
    from lotocar.communes import operations as communes

    def boom(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(communes, "find", boom)
    error = error_of(api.get("/api/v1/communes?q=cahors"), 500, "server_error")
    assert "bug" not in error["message"]


def test_busy_database_is_retried_then_a_clean_503(api, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from lotocar.passengers import operations as passengers

    real = passengers.register
    calls = {"n": 0}

    def locked_once(data, operator_id):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OperationalError("INSERT …", {}, Exception("database is locked"))
        return real(data, operator_id)

    monkeypatch.setattr(passengers, "register", locked_once)
    body = {"first_name": "Odette", "last_name": "Marty", "phone": "06 98 76 54 32",
            "home_insee": DOUELLE, "has_no_car": True}
    assert api.post("/api/v1/passengers", body).status_code == 201
    assert calls["n"] == 2

    def always_locked(data, operator_id):
        calls["n"] += 1
        raise OperationalError("INSERT …", {}, Exception("database is locked"))

    calls["n"] = 0
    monkeypatch.setattr(passengers, "register", always_locked)
    response = api.post("/api/v1/passengers", {**body, "phone": "06 98 76 54 33"})
    error = error_of(response, 503, "busy")
    assert "réessayez" in error["message"] and response.headers["Retry-After"]
    assert calls["n"] == 4


def test_html_pages_keep_their_html_errors(client):
    response = client.get("/nulle-part")
    assert response.status_code == 404 and response.mimetype == "text/html"
