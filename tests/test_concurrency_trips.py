"""Issue #11 races, over real HTTP: a driver changes his trip while operators propose it, or
while he himself answers a proposal from his SMS link.

The app is served on loopback, by a threaded server in this process and, on PostgreSQL, by
gunicorn with 4 worker processes (each its own matching index, kept in step through the
change counter and the after-commit hook); each round fires the driver's request
and the others at the same instant (a barrier), each on its own connection and database
session. After every round: `held` equals the seats of the bookings that hold one and never
exceeds the capacity, no live booking is left on a cancelled trip, every live booking is
still an exact candidate of its run with the pickup it holds, every confirmed passenger was
told her current pickup, and no answer is a 5xx. It matters on PostgreSQL
(`--db=postgres`), where the requests really run in parallel; SQLite serialises writers.

CONCURRENCY_ROUNDS (default 12) and CONCURRENCY_THREADS (default 8) tune the load.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time as _time
from pathlib import Path
from datetime import time, timedelta

import pytest
import requests
from werkzeug.serving import make_server

from lotocar.bookings.models import LIVE, Booking, BookingStatus
from lotocar.extensions import db
from lotocar.notifications.models import SmsMessage
from lotocar.offers.models import Offer, OfferStatus
from tests.conftest import clock_env, csrf_token, login_as
from tests.factories import TODAY
from tests.promise_world import assert_promises_true, book, make_passenger, make_request, make_trip, trip_form

ROUNDS = int(os.environ.get("CONCURRENCY_ROUNDS", "12"))
THREADS = int(os.environ.get("CONCURRENCY_THREADS", "8"))

pytestmark = pytest.mark.timeout(900)


ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _gunicorn(app):
    """gunicorn -w 4 on loopback, on the test's database, secret and pinned clock."""
    port = _free_port()
    env = {**os.environ, "APP_ENV": "testing", "SECRET_KEY": app.config["SECRET_KEY"],
           "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "SMS_GATEWAY": "dev",
           "LOG_LEVEL": "ERROR", "LOTOCAR_LOG_LEVEL": "ERROR", **clock_env()}
    proc = subprocess.Popen([str(ROOT / ".venv" / "bin" / "gunicorn"), "-c", "gunicorn.conf.py", "-w", "4",
                             "-b", f"127.0.0.1:{port}", "app:app"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = _time.monotonic() + 60
    while _time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/api/openapi.json", timeout=2).status_code == 200:
                return proc, url
        except requests.ConnectionError:
            pass
        assert proc.poll() is None, proc.stderr.read()
        _time.sleep(0.2)
    proc.kill()
    raise AssertionError("gunicorn did not start")


@pytest.fixture(params=["threads", "gunicorn"])
def live_server(request, app, db_kind):
    if request.param == "threads":
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{server.server_port}"
        server.shutdown()
        thread.join(timeout=5)
        return
    if db_kind != "postgres":
        pytest.skip("several gunicorn worker processes: the PostgreSQL run (SQLite has one writer)")
    proc, url = _gunicorn(app)
    try:
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def fire(calls: list[dict]) -> list[requests.Response]:
    """Send every call (method, url, data or json, headers, cookies) at the same instant."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def worker(i: int, call: dict) -> None:
        with requests.Session() as session:
            session.cookies.update(call.get("cookies", {}))
            prepared = session.prepare_request(requests.Request(
                call["method"], call["url"], data=call.get("data"), json=call.get("json"),
                headers=call.get("headers", {})))
            try:
                barrier.wait(timeout=30)
                results[i] = session.send(prepared, timeout=120, allow_redirects=False)
            except BaseException as exc:  # reported by the main thread
                results[i] = exc

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    for r in results:
        assert isinstance(r, requests.Response), r
        assert r.status_code < 500, (r.status_code, r.text[:500])
    return results


def driver_session(client, driver_user, offer_id: int) -> tuple[dict, str]:
    """The driver's logged-in cookies and a CSRF token for his trip's forms."""
    login_as(client, driver_user)
    token = csrf_token(client, f"/mes-trajets/{offer_id}/modifier")
    return {"session": client.get_cookie("session").value}, token


def one_run_trip(driver_user, day, seats: int, at: time = time(7, 45)) -> Offer:
    return make_trip(driver_user, seats=seats, at=at, weekdays=frozenset({day.isoweekday()}), first=day,
                     last=day + timedelta(days=6))  # one run: that weekday, once


def proposals(live_server, staff, offer, day, count: int) -> list[dict]:
    tokens = [staff["operator_token"], staff["admin_token"]]
    calls = []
    for i in range(count):
        request = make_request(make_passenger(), day=day)
        calls.append({"method": "POST", "url": f"{live_server}/api/v1/bookings",
                      "json": {"request_id": request.id, "offer_id": offer.id, "date": day.isoformat()},
                      "headers": {"Authorization": f"Bearer {tokens[i % 2]}"}})
    return calls


def days(start_offset: int):
    day = TODAY + timedelta(days=start_offset)
    for _ in range(ROUNDS):
        while day.isoweekday() > 5:
            day += timedelta(days=1)
        yield day
        day += timedelta(days=1)


def test_seats_lowered_while_operators_propose(live_server, app, client, staff, make_driver):
    driver = make_driver()
    outcomes = {"edit_first": 0, "proposal_first": 0}
    for day in days(2):
        offer = one_run_trip(driver, day, seats=2)
        book(offer, make_request(make_passenger(), day=day), day=day)  # one seat held, confirmed
        cookies, token = driver_session(client, driver, offer.id)
        edit = {"method": "POST", "url": f"{live_server}/mes-trajets/{offer.id}/modifier", "cookies": cookies,
                "data": {**trip_form(offer, seats=1), "csrf_token": token}}
        responses = fire([edit, *proposals(live_server, staff, offer, day, THREADS - 1)])
        assert responses[0].status_code == 302, responses[0].text[:500]  # the edit is saved, never a 500
        created = [r for r in responses[1:] if r.status_code == 201]
        assert all(r.status_code in (201, 409) for r in responses[1:])
        assert len(created) <= 1
        outcomes["proposal_first" if created else "edit_first"] += 1
        db.session.expire_all()
        assert db.session.get(Offer, offer.id).seats == 1
        live = db.session.scalars(db.select(Booking).where(Booking.offer_id == offer.id,
                                                           Booking.status.in_(LIVE))).all()
        assert len(live) == 1 and live[0].status == BookingStatus.CONFIRMED  # the oldest stays
        assert_promises_true([offer.id])
    print("seats lowered vs proposals:", outcomes)


def test_trip_cancelled_while_operators_propose(live_server, app, client, staff, make_driver):
    driver = make_driver()
    for day in days(30):
        offer = one_run_trip(driver, day, seats=3)
        cookies, token = driver_session(client, driver, offer.id)
        cancel = {"method": "POST", "url": f"{live_server}/mes-trajets/{offer.id}/cancel", "cookies": cookies,
                  "data": {"csrf_token": token, "confirm": "1"}}  # the confirmation page's POST (issue #14)
        responses = fire([cancel, *proposals(live_server, staff, offer, day, THREADS - 1)])
        assert responses[0].status_code == 302
        assert all(r.status_code in (201, 409) for r in responses[1:])
        for r in responses[1:]:
            if r.status_code == 409:
                assert r.json()["error"]["code"] in {"invalid_state", "no_seat", "not_a_candidate"}, r.json()
        db.session.expire_all()
        assert db.session.get(Offer, offer.id).status == OfferStatus.CANCELLED
        # whoever came first, nobody is left proposed or confirmed on the cancelled trip
        assert db.session.scalar(db.select(db.func.count(Booking.id)).where(
            Booking.offer_id == offer.id, Booking.status.in_(LIVE))) == 0
        for booking in db.session.scalars(db.select(Booking).where(Booking.offer_id == offer.id)):
            assert booking.status == BookingStatus.CANCELLED_BY_DRIVER
            assert booking.request.flag == "trip_changed" and booking.request.status.value == "open"
        assert_promises_true([offer.id])


def _link_token(booking_id: int) -> str:
    row = db.session.scalar(db.select(SmsMessage).where(SmsMessage.booking_id == booking_id,
                                                        SmsMessage.kind == "proposal"))
    return re.search(r"/r/([A-Za-z0-9]{20})", row.body).group(1)


def test_trip_edited_while_the_driver_accepts_from_his_link(live_server, app, client, staff, make_driver):
    """Each round the driver moves his time (half the rounds out of the passenger's window)
    while, on his phone, he says yes to her proposal; an operator confirms at once too."""
    driver = make_driver()
    for n, day in enumerate(days(60)):
        offer = one_run_trip(driver, day, seats=2)
        booking = book(offer, make_request(make_passenger(), day=day), day=day, confirm=False)
        token = _link_token(booking.id)
        with requests.Session() as phone:  # the driver opens the link (its page sets the CSRF cookie)
            page = phone.get(f"{live_server}/r/{token}", timeout=30)
            assert page.status_code == 200, page.text[:300]
            link_csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
            link_cookies = phone.cookies.get_dict()
        cookies, csrf = driver_session(client, driver, offer.id)
        new_time = "06:30" if n % 2 else "07:30"  # 06:30 arrives too early for her: no longer fits
        edit = {"method": "POST", "url": f"{live_server}/mes-trajets/{offer.id}/modifier", "cookies": cookies,
                "data": {**trip_form(offer, at=new_time), "csrf_token": csrf}}
        answer = {"method": "POST", "url": f"{live_server}/r/{token}", "cookies": link_cookies,
                  "data": {"answer": "oui", "csrf_token": link_csrf}}
        responses = fire([edit, answer])
        assert responses[0].status_code == 302, responses[0].text[:300]
        assert responses[1].status_code in (200, 409, 410), responses[1].text[:300]
        db.session.expire_all()
        final = db.session.get(Booking, booking.id)
        if n % 2:
            assert final.status == BookingStatus.CANCELLED_BY_DRIVER
        else:
            assert final.status in (BookingStatus.ACCEPTED_BY_DRIVER, BookingStatus.PROPOSED)
            assert (final.status == BookingStatus.ACCEPTED_BY_DRIVER) == (responses[1].status_code == 200)
        assert_promises_true([offer.id])
