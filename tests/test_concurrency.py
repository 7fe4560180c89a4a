"""Real concurrent requests: the last seat can never be taken twice.

The app is served on loopback by a threaded werkzeug server; N threads released together by
a barrier fire real HTTP calls at it, from two operators' tokens. Many rounds, on SQLite and
on PostgreSQL/PostGIS (`--db=postgres`, where it matters most). Every answer must be a clean
201/200 or a JSON 409 (never a 500, never "database is locked"), and the seat counters in
`offer_days` must match the bookings that hold seats.

CONCURRENCY_ROUNDS (default 12) and CONCURRENCY_THREADS (default 8) tune the load.
"""
from __future__ import annotations

import os
import threading
from datetime import time, timedelta

import pytest
import requests
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from werkzeug.serving import make_server

from lotocar.core.clock import today_local
from lotocar.bookings.models import SEAT_HOLDING, Booking, BookingStatus, OfferDay
from lotocar.communes.models import Commune
from lotocar.core.timeutil import local_to_utc
from lotocar.extensions import db
from lotocar.offers import operations as offer_ops
from lotocar.offers.models import Offer
from lotocar.offers.rules import OfferInput
from lotocar.passengers.models import Passenger
from lotocar.requests.models import RequestMode, RequestReason, TripRequest

from lotocar.api.openapi import document

ROUNDS = int(os.environ.get("CONCURRENCY_ROUNDS", "12"))
THREADS = int(os.environ.get("CONCURRENCY_THREADS", "8"))
TODAY = today_local()
LUZECH, CAHORS, DOUELLE = "46182", "46042", "46088"
REFUSALS = {"no_seat", "not_a_candidate", "conflict", "illegal_transition", "invalid_state"}

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def live_server(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


_openapi = OpenAPI.from_dict(document())


def fire(calls: list[tuple[str, str, dict | None, str]]) -> list[requests.Response]:
    """Send every (method, url, json, token) at the same instant, each from its own thread
    and connection; returns the responses in order."""
    barrier = threading.Barrier(len(calls))
    results: list[requests.Response | BaseException | None] = [None] * len(calls)

    def worker(i: int, method: str, url: str, body: dict | None, token: str) -> None:
        with requests.Session() as session:
            prepared = session.prepare_request(requests.Request(
                method, url, json=body, headers={"Authorization": f"Bearer {token}"}))
            try:
                barrier.wait(timeout=30)
                results[i] = session.send(prepared, timeout=60)
            except BaseException as exc:  # reported by the main thread
                results[i] = exc

    threads = [threading.Thread(target=worker, args=(i, *call)) for i, call in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for r in results:
        assert isinstance(r, requests.Response), r
    for r in results:  # every answer is a documented one
        assert r.headers["Content-Type"].startswith("application/json"), (r.status_code, r.text[:300])
        _openapi.validate_response(RequestsOpenAPIRequest(r.request), RequestsOpenAPIResponse(r))
    return results  # type: ignore[return-value]


def one_winner(responses: list[requests.Response], success: int) -> requests.Response:
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [success] + [409] * (len(responses) - 1), \
        [(r.status_code, r.json()) for r in responses]
    for r in responses:
        if r.status_code == 409:
            assert r.json()["error"]["code"] in REFUSALS, r.json()
    return next(r for r in responses if r.status_code == success)


def commune(insee: str) -> Commune:
    return db.session.get(Commune, insee)


def one_off(driver, day, seats=1) -> Offer:
    data = OfferInput(kind="one_off", origin=offer_ops.place_input(commune(LUZECH), None, None, None),
                      destination=offer_ops.place_input(commune(CAHORS), None, None, None),
                      seats=seats, max_detour_min=10, departure_date=day, departure_time=time(7, 45))
    saved = offer_ops.create_offer(driver.driver, data, driver.id)
    db.session.commit()
    return saved


_phones = iter(range(100_000))


def requests_for(day, count: int) -> list[TripRequest]:
    made = []
    for _ in range(count):
        p = Passenger(first_name="Odette", last_name="Marty", phone=f"+336988{next(_phones):05d}",
                      home_insee=DOUELLE)
        db.session.add(p)
        db.session.flush()
        r = TripRequest(passenger_id=p.id, mode=RequestMode.ARRIVE_BY, target_at=local_to_utc(day, time(8, 30)),
                        flexibility_min=30, reason=RequestReason.MEDICAL)
        r.set_place("origin", commune(DOUELLE))
        r.set_place("destination", commune(CAHORS))
        db.session.add(r)
        made.append(r)
    db.session.commit()
    return made


def seats_consistent(offer_id: int, day) -> int:
    """offer_days.held equals the seats of the bookings that hold one; returns it."""
    db.session.expire_all()
    held_row = db.session.get(OfferDay, (offer_id, day))
    holding = db.session.scalar(
        db.select(db.func.coalesce(db.func.sum(Booking.seats), 0))
        .where(Booking.offer_id == offer_id, Booking.occurrence_date == day,
               Booking.status.in_(SEAT_HOLDING))) or 0
    held = held_row.held if held_row else 0
    assert held == holding, (held, holding)
    if held_row:
        assert held_row.held <= held_row.capacity
    return held


def tokens_of(staff) -> list[str]:
    return [staff["operator_token"], staff["admin_token"]]


def test_last_seat_many_rounds(live_server, staff, make_driver):
    """N operators propose N different requests on the last (only) seat of one run, at once."""
    driver = make_driver()
    tokens = tokens_of(staff)
    for rnd in range(ROUNDS):
        day = TODAY + timedelta(days=2 + rnd)
        offer = one_off(driver, day, seats=1)
        trips = requests_for(day, THREADS)
        calls = [("POST", f"{live_server}/api/v1/bookings",
                  {"request_id": t.id, "offer_id": offer.id, "date": day.isoformat()}, tokens[i % 2])
                 for i, t in enumerate(trips)]
        winner = one_winner(fire(calls), 201)
        assert winner.json()["status"] == "proposed"
        assert seats_consistent(offer.id, day) == 1
        assert db.session.scalar(db.select(db.func.count(Booking.id)).where(Booking.offer_id == offer.id)) == 1


def test_two_seats_two_winners(live_server, staff, make_driver):
    driver = make_driver()
    for rnd in range(max(2, ROUNDS // 3)):
        day = TODAY + timedelta(days=40 + rnd)
        offer = one_off(driver, day, seats=2)
        trips = requests_for(day, THREADS)
        calls = [("POST", f"{live_server}/api/v1/bookings",
                  {"request_id": t.id, "offer_id": offer.id, "date": day.isoformat()},
                  tokens_of(staff)[i % 2]) for i, t in enumerate(trips)]
        statuses = sorted(r.status_code for r in fire(calls))
        assert statuses == [201, 201] + [409] * (THREADS - 2)
        assert seats_consistent(offer.id, day) == 2


def test_one_request_on_many_offers_at_once(live_server, staff, make_driver):
    """The same request proposed to N drivers at once: one live booking only, no seat leaked."""
    for rnd in range(max(2, ROUNDS // 3)):
        day = TODAY + timedelta(days=60 + rnd)
        offers = [one_off(make_driver(), day, seats=1) for _ in range(THREADS)]
        trip = requests_for(day, 1)[0]
        calls = [("POST", f"{live_server}/api/v1/bookings",
                  {"request_id": trip.id, "offer_id": o.id, "date": day.isoformat()},
                  tokens_of(staff)[i % 2]) for i, o in enumerate(offers)]
        winner = one_winner(fire(calls), 201)
        assert sum(seats_consistent(o.id, day) for o in offers) == 1
        assert winner.json()["offer_id"] in {o.id for o in offers}


@pytest.mark.parametrize("actions", [
    [("accept", None), ("decline", None)],                                  # driver: yes or no
    [("cancel", "passenger"), ("cancel", "driver"), ("cancel", "operator")],  # who cancels
])
def test_racing_answers_on_one_booking(live_server, staff, make_driver, actions):
    """Operators record exclusive answers for the same proposal at once (the driver said yes
    on the phone while their SMS said no; the passenger and the driver both cancel): exactly
    one wins, and the seat count follows the winner."""
    driver = make_driver()
    for rnd in range(max(2, ROUNDS // 2)):
        day = TODAY + timedelta(days=80 + rnd)
        offer = one_off(driver, day, seats=1)
        trip = requests_for(day, 1)[0]
        created = requests.post(f"{live_server}/api/v1/bookings",
                                json={"request_id": trip.id, "offer_id": offer.id, "date": day.isoformat()},
                                headers={"Authorization": f"Bearer {staff['operator_token']}"}, timeout=30)
        assert created.status_code == 201, created.text
        booking_id = created.json()["id"]
        calls = []
        for i in range(THREADS):
            action, by = actions[i % len(actions)]
            body = {"reason": f"appel {i}", **({"by": by} if by else {})}
            calls.append(("POST", f"{live_server}/api/v1/bookings/{booking_id}/{action}", body,
                          tokens_of(staff)[i % 2]))
        winner = one_winner(fire(calls), 200)
        final = winner.json()["status"]
        db.session.expire_all()
        assert db.session.get(Booking, booking_id).status == BookingStatus(final)
        expected_held = 1 if final == "accepted_by_driver" else 0
        assert seats_consistent(offer.id, day) == expected_held


# --- one-time codes: the attempts counter (issue #16) ---------------------------------------------

GUESSES = int(os.environ.get("CONCURRENCY_GUESSES", "48"))


def test_parallel_wrong_codes_are_compared_at_most_max_attempts(app, live_server, make_driver, monkeypatch):
    """48 wrong guesses at one login code, all at once from one session: the atomic
    `attempts + 1 WHERE attempts < N RETURNING` lets exactly OTP_MAX_ATTEMPTS of them be
    compared; every other answer is "Trop d'essais", and the right code is then burnt."""
    import re as _re

    from lotocar.auth.models import PhoneCode

    monkeypatch.setitem(app.config, "LOGIN_LIMIT", "10000 per minute")
    limit = app.config["OTP_MAX_ATTEMPTS"]
    user = make_driver(phone="+33612349999")
    sms = app.extensions["sms_gateway"]
    browser = requests.Session()
    page = browser.get(f"{live_server}/connexion").text
    token = _re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    r = browser.post(f"{live_server}/connexion", data={"phone": user.phone, "csrf_token": token},
                     allow_redirects=False)
    assert r.status_code == 302
    code = _re.search(r"\b(\d{6})\b", sms.last_to(user.phone).body).group(1)
    wrong = "000000" if code != "000000" else "111111"
    cookies = browser.cookies.get_dict()
    barrier = threading.Barrier(GUESSES)
    answers: list[requests.Response | BaseException | None] = [None] * GUESSES

    def guess(i: int) -> None:
        with requests.Session() as s:
            s.cookies.update(cookies)
            try:
                barrier.wait(timeout=30)
                answers[i] = s.post(f"{live_server}/connexion/code", data={"code": wrong, "csrf_token": token},
                                    allow_redirects=False, timeout=60)
            except BaseException as exc:  # reported below
                answers[i] = exc

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(GUESSES)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(isinstance(a, requests.Response) for a in answers), answers
    assert all(a.status_code == 400 for a in answers), [a.status_code for a in answers]
    compared = sum("pas le bon" in a.text for a in answers)
    refused = sum("Trop d&#39;essais" in a.text or "Trop d'essais" in a.text for a in answers)
    assert (compared, refused) == (limit, GUESSES - limit)
    db.session.expire_all()
    row = db.session.scalar(db.select(PhoneCode).where(PhoneCode.phone == user.phone))
    assert row.attempts == limit and row.used_at is None
    last = browser.post(f"{live_server}/connexion/code", data={"code": code, "csrf_token": token},
                        allow_redirects=False)
    assert last.status_code == 400 and browser.get(f"{live_server}/mes-trajets/", allow_redirects=False).status_code == 302
