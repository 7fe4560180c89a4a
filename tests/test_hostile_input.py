"""Hostile input on every HTML form, query string and path of the site (issue #7, "bad input").

Table-driven: FORMS lists every form (who may post it, a valid filling); PAYLOADS lists what a
hostile or clumsy client sends: 100 kB of text, HTML/JS, SQL metacharacters, emojis, NUL
characters, huge or non-finite numbers, a field sent twice (wrong type), a missing field; and
invalid UTF-8 bytes in a raw body. Each payload goes into each field in turn (the other fields
valid), then into all of them at once. Whatever happens:

- never a 5xx (the test app propagates exceptions, so a crash fails the test with its traceback);
- refused → a 4xx page in French (errors next to the fields, or the error page), or a redirect
  to a page that says why, and NOTHING in the database changed;
- accepted → rows saved before (outside the tables the form is meant to change) are intact,
  and text stored is stored as typed;
- no page shows the payload's markup unescaped.

Then: stored HTML is shown escaped on every page that shows it; hostile query strings, path
ids past the 32-bit range, CSRF tokens and JSON bodies on the API.
"""
from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from datetime import time, timedelta
from types import SimpleNamespace
from typing import Callable
from urllib.parse import urlencode

import pytest

from lotocar.auth.models import Role, User
from lotocar.auth.operations import create_staff, send_code
from lotocar.bookings import operations as bookings
from lotocar.drivers.models import Driver
from lotocar.extensions import db
from lotocar.notifications.models import SmsMessage
from lotocar.requests.operations import UNMET_REASONS_FR
from tests.conftest import KEEP_TABLES, last_code, login_as
from tests.factories import MONDAY, luzech_cahors, passenger, trip_request
from tests.test_offers import regular_form

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
HOSTILE_TEXT = f"{SCRIPT} {IMG}"  # what a stored field holds in the escaping tests (61 chars)
RAW_MARKUP = ("<script>alert(1)", "<img src=x onerror")
ESCAPED_MARKUP = ("&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=x onerror=alert(1)&gt;")
MISSING = object()

PAYLOADS: dict[str, object] = {
    "long_100kB": "Cahors, " * 12_800,  # 102 400 bytes
    "script": SCRIPT,
    "img_onerror": IMG,
    "sql": "'; DROP TABLE users; --",
    "emoji": "🚗💨 Cahors 👵🏽‍🦯 ❤️",
    "nul": "Cah\x00ors",
    "huge_int": str(10**30),
    "huge_negative_float": "-1e308",
    "nan": "NaN",
    "signalling_nan": "sNaN",
    "infinity": "Infinity",
    "sent_twice": ["1", SCRIPT],  # a list where one value is expected
    "missing": MISSING,
}
VERBATIM = {"script", "img_onerror", "sql", "emoji"}  # accepted free text must be stored as is
MARKUP = {"script", "img_onerror", "sent_twice"}

_addresses = itertools.count(1)


def fresh_address() -> str:
    """A new client address for every post, so the per-address rate limits stay out of the
    way (they are tested in test_security.py). Loopback only: no packet leaves the process."""
    n = next(_addresses)
    return f"127.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


_phones = itertools.count(10)


def fresh_mobile() -> str:
    n = next(_phones)
    return f"06 55 {n // 10_000 % 100:02d} {n // 100 % 100:02d} {n % 100:02d}"


# --- the world every test starts from ------------------------------------------------------

@pytest.fixture
def world(app, make_driver):
    """An operator, an admin, a driver and their regular trip, a passenger with an open
    request (one candidate) and a proposed booking (with its SMS answer link), an
    unverified driver waiting for their code."""
    # staff as plain rows: no password hashing for every test (the login test makes its own)
    operator = User(role=Role.OPERATOR, email="op@lotocar.fr", first_name="Sophie", last_name="Martin")
    admin = User(role=Role.ADMIN, email="admin@lotocar.fr", first_name="Alain", last_name="Vidal")
    db.session.add_all([operator, admin])
    db.session.commit()
    driver = make_driver("Nathalie", "Rességuier")
    offer = luzech_cahors(driver)
    person = passenger()
    person.needs = "Aide pour monter"
    person.notes = "Appeler après 10 h"
    db.session.commit()
    open_request = trip_request(person)
    booked_request = trip_request(person, day=MONDAY + timedelta(days=7), at=time(8, 30))
    booking = bookings.propose(bookings.Proposal(booked_request.id, offer.id, MONDAY + timedelta(days=7)), None)
    db.session.commit()
    proposal = db.session.scalar(db.select(SmsMessage).where(SmsMessage.booking_id == booking.id,
                                                             SmsMessage.kind == "proposal"))
    token = re.search(r"/r/([A-Za-z0-9]{20})", proposal.body).group(1)
    waiting = User(role=Role.DRIVER, first_name="Paul", last_name="Vern", phone="+33611223344")
    waiting.driver = Driver(home_insee="46042", consent_contact=True)
    db.session.add(waiting)
    db.session.commit()
    send_code(waiting.phone, "verify", waiting)
    db.session.commit()
    return SimpleNamespace(
        operator=operator, admin=admin, driver=driver,
        driver_id=driver.driver.id, offer_id=offer.id, passenger_id=person.id,
        open_request_id=open_request.id, booked_request_id=booked_request.id,
        booking_id=booking.id, token=token, waiting=waiting)


def display_pages(w) -> list[tuple[str, str]]:
    """(who, url) of the pages that show what the forms store."""
    return [
        ("operator", "/console/"), ("operator", "/console/?file=attente-conducteur"),
        ("operator", "/console/?file=sans-solution"), ("operator", "/console/?file=annulees"),
        ("operator", f"/console/passagers/{w.passenger_id}"),
        ("operator", f"/console/passagers/{w.passenger_id}/demande"),
        ("operator", f"/console/demandes/{w.open_request_id}"),
        ("operator", f"/console/demandes/{w.booked_request_id}"),
        ("operator", f"/console/reservations/{w.booking_id}"),
        ("operator", "/console/conducteurs"), ("operator", f"/console/conducteurs/{w.driver_id}"),
        ("operator", "/console/appel?q=Marty"), ("operator", "/statistiques/carte"),
        ("driver", "/mes-trajets/"), ("driver", f"/mes-trajets/{w.offer_id}/modifier"),
        ("anon", f"/r/{w.token}"),
    ]


# --- clients -------------------------------------------------------------------------------

CSRF_PAGE = {"anon": "/connexion", "driver": "/mes-trajets/nouveau", "operator": "/console/appel?q=zzzz",
             "admin": "/console/appel?q=zzzz", "verify": "/inscription/code",
             "login_code": "/connexion/code", "link": "/r/{token}"}
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def client_for(app, w, who: str):
    """(a test client for this kind of person, a CSRF token of its session)."""
    client = app.test_client()
    if who in ("driver", "operator", "admin"):
        login_as(client, {"driver": w.driver, "operator": w.operator, "admin": w.admin}[who])
    elif who == "verify":  # a sign-up waiting for its code (what was typed is in the session)
        with client.session_transaction() as sess:
            sess["signup"] = {"first_name": "Paul", "last_name": "Vern", "phone": w.waiting.phone,
                              "email": None, "home_insee": "46042", "consent_contact": True}
    elif who == "login_code":
        with client.session_transaction() as sess:
            sess["login_phone"] = w.driver.phone
    page = CSRF_PAGE[who].format(token=w.token)
    match = _CSRF.search(client.get(page).get_data(as_text=True))
    assert match, f"no CSRF token on {page}"
    return client, match.group(1)


# --- the database, before and after ----------------------------------------------------------

def snapshot() -> dict[str, dict[tuple, tuple]]:
    """Every row of every table (communes and other reference tables aside), by primary key."""
    db.session.expire_all()
    tables = {}
    for table in db.metadata.sorted_tables:
        if table.name in KEEP_TABLES:
            continue
        pk = [c.name for c in table.primary_key.columns]
        tables[table.name] = {tuple(row._mapping[c] for c in pk): tuple(row)
                              for row in db.session.execute(table.select())}
    return tables


def changed_tables(before, after) -> set[str]:
    return {name for name in before if before[name] != after[name]}


def assert_kept(before, after, may_change: frozenset[str], what: str) -> None:
    """Rows saved before are all there, unchanged, outside the tables the form may update."""
    for name, rows in before.items():
        if name in may_change:
            assert set(rows) <= set(after[name]), f"{what}: rows deleted from {name}"
            continue
        for key, row in rows.items():
            assert after[name].get(key) == row, f"{what}: {name} {key} changed or lost"


def new_values(before, after) -> list:
    return [value for name in after for key, row in after[name].items()
            if before[name].get(key) != row for value in row]


# --- judging one answer ----------------------------------------------------------------------

def assert_no_raw_markup(html: str, where: str) -> None:
    for raw in RAW_MARKUP:
        assert raw not in html, f"{where}: unescaped {raw!r}"


def is_french_refusal(html: str) -> bool:
    """The form again with its errors next to the fields or in a banner, or the error page."""
    return 'lang="fr"' in html and any(mark in html for mark in ("fr-error-text", "fr-alert", "Erreur 4"))


def judge(client, response, before, form: "Form", what: str, payload=None):
    """Check one answer (see the module docstring); returns the snapshot after it."""
    status = response.status_code
    assert status < 500, f"{what}: {status}"
    html = response.get_data(as_text=True)
    if response.mimetype == "text/html":
        assert_no_raw_markup(html, what)
    after = snapshot()
    if 400 <= status < 500:
        assert is_french_refusal(html), f"{what}: {status} without a French explanation: {html[:500]}"
        refused = True
    elif 300 <= status < 400:
        landing = client.get(response.headers["Location"])
        assert landing.status_code < 500, what
        landing_html = landing.get_data(as_text=True)
        assert_no_raw_markup(landing_html, f"{what} → {response.headers['Location']}")
        refused = "fr-alert--error" in landing_html or "fr-alert--warning" in landing_html
    else:
        refused = False
    if refused:
        assert changed_tables(before, after) <= form.refusal_may_change, (
            f"{what}: refused, yet {changed_tables(before, after)} changed")
    else:
        assert_kept(before, after, form.may_change, what)
        if isinstance(payload, str) and payload in {PAYLOADS[k] for k in VERBATIM} \
                and form.field in form.verbatim and before != after:
            assert any(isinstance(v, str) and payload.strip() in v for v in new_values(before, after)), (
                f"{what}: accepted but not stored as typed")
    return after


# --- the forms -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Form:
    name: str
    who: str
    url: Callable
    valid: Callable
    may_change: frozenset[str] = frozenset()  # tables whose rows an accepted post may update
    refusal_may_change: frozenset[str] = frozenset()  # e.g. a wrong code counts an attempt
    verbatim: frozenset[str] = frozenset()  # fields stored as typed when accepted
    field: str | None = None  # set while a field is attacked
    # the next step of an accepted post that stores what was typed (the sign-up code)
    complete: Callable | None = None

    def with_field(self, field: str | None) -> "Form":
        return Form(**{**self.__dict__, "field": field})


BOOKING_SIDE_EFFECTS = frozenset({"bookings", "trip_requests", "offer_days", "sms_messages", "sms_links"})
DAY = MONDAY.isoformat()

FORMS = [
    Form("signup", "anon", lambda w: "/inscription", lambda w: {
        "first_name": "Jeanne", "last_name": "Delpech", "phone": fresh_mobile(), "email": "",
        "home": "Luzech (46140)", "consent_contact": "y"},
        verbatim=frozenset({"first_name", "last_name"}), complete=lambda app, c: _enter_signup_code(app, c)),
    Form("signup_code", "verify", lambda w: "/inscription/code", lambda w: {"code": "000000"},
         refusal_may_change=frozenset({"phone_codes"})),
    Form("login", "anon", lambda w: "/connexion", lambda w: {"phone": "06 12 34 00 01"},
         may_change=frozenset({"phone_codes"})),
    Form("login_code", "login_code", lambda w: "/connexion/code", lambda w: {"code": "000000"},
         refusal_may_change=frozenset({"phone_codes"})),
    Form("staff_login", "anon", lambda w: "/connexion/equipe?next=/console/",
         lambda w: {"email": "op@lotocar.fr", "password": "not-the-password"}),
    Form("new_trip", "driver", lambda w: "/mes-trajets/nouveau", lambda w: regular_form(),
         may_change=frozenset({"trip_requests"}),
         verbatim=frozenset({"origin_place", "destination_place", "remark"})),
    Form("edit_trip", "driver", lambda w: f"/mes-trajets/{w.offer_id}/modifier", lambda w: regular_form(
        origin_place="", remark=""), may_change=frozenset({"offers"}) | BOOKING_SIDE_EFFECTS,
        verbatim=frozenset({"origin_place", "destination_place", "remark"})),
    Form("new_passenger_and_request", "operator", lambda w: "/console/passagers", lambda w: {
        "phone": fresh_mobile(), "first_name": "Odile", "last_name": "Cayrou", "home": "Douelle",
        "has_no_car": "y", "sms_consent": "y", "needs": "Fauteuil pliant", "notes": "",
        "d-origin": "", "d-origin_place": "", "d-destination": "Cahors", "d-destination_place": "Hôpital",
        "d-mode": "arrive_by", "d-day": DAY, "d-at": "09:30", "d-flexibility_min": "30",
        "d-reason": "medical", "d-return_wanted": "", "d-return_mode": "leave_after", "d-return_at": "",
        "d-notes": ""},
        verbatim=frozenset({"first_name", "last_name", "needs", "notes", "d-destination_place",
                            "d-origin_place", "d-notes"})),
    Form("new_request", "operator", lambda w: f"/console/passagers/{w.passenger_id}/demande", lambda w: {
        "origin": "Douelle (46140)", "origin_place": "", "destination": "Cahors",
        "destination_place": "Centre hospitalier", "mode": "arrive_by", "day": DAY, "at": "10:00",
        "flexibility_min": "30", "reason": "medical", "return_wanted": "y", "return_mode": "leave_after",
        "return_at": "12:00", "notes": "Rendez-vous cardiologue"},
        verbatim=frozenset({"origin_place", "destination_place", "notes"})),
    Form("passenger_notes", "operator", lambda w: f"/console/passagers/{w.passenger_id}/notes",
         lambda w: {"needs": "Aide pour monter", "notes": "Appeler après 10 h"},
         may_change=frozenset({"passengers"}), verbatim=frozenset({"needs", "notes"})),
    Form("unmet", "operator", lambda w: f"/console/demandes/{w.open_request_id}/sans-solution",
         lambda w: {"reason": UNMET_REASONS_FR[0], "detail": "rappeler lundi", "confirmed": "1"},
         may_change=frozenset({"trip_requests"}), verbatim=frozenset({"detail"})),
    Form("propose", "operator", lambda w: f"/console/demandes/{w.open_request_id}/proposer",
         lambda w: {"offer_id": str(w.offer_id), "date": DAY, "reason": ""},
         may_change=BOOKING_SIDE_EFFECTS),
    Form("cancel_request", "operator", lambda w: f"/console/demandes/{w.booked_request_id}/annuler",
         lambda w: {"reason": "Annulée par le passager", "confirmed": "1"}, may_change=BOOKING_SIDE_EFFECTS,
         verbatim=frozenset({"reason"})),
    Form("clear_flag", "operator", lambda w: f"/console/demandes/{w.open_request_id}/vu",
         lambda w: {"reason": ""}, may_change=frozenset({"trip_requests"})),
    *[Form(f"booking_{action}", "operator", lambda w, a=action: f"/console/reservations/{w.booking_id}/{a}",
           lambda w: {"reason": "Dit au téléphone", "confirmed": "1"}, may_change=BOOKING_SIDE_EFFECTS,
           verbatim=frozenset({"reason"}))
      for action in ("accept", "decline", "cancel_by_passenger")],
    Form("privacy_erase", "admin", lambda w: f"/console/rgpd/passenger/{w.passenger_id}/effacer",
         lambda w: {"reason": "Demande écrite du 12/03"},
         may_change=frozenset({"passengers", "users"}) | BOOKING_SIDE_EFFECTS, verbatim=frozenset({"reason"})),
    Form("stats_full_export", "admin", lambda w: "/statistiques/exports/demandes/complet",
         lambda w: {"du": "", "au": "", "epci": "", "motif": "Bilan annuel du Département"},
         verbatim=frozenset({"motif"})),
    Form("sms_answer", "link", lambda w: f"/r/{w.token}", lambda w: {"answer": "non"},
         may_change=BOOKING_SIDE_EFFECTS),
    Form("driver_answer", "driver", lambda w: f"/mes-trajets/reservations/{w.booking_id}/decline",
         lambda w: {}, may_change=BOOKING_SIDE_EFFECTS),
    Form("trip_pause", "driver", lambda w: f"/mes-trajets/{w.offer_id}/pause", lambda w: {"confirm": "1"},
         may_change=frozenset({"offers"}) | BOOKING_SIDE_EFFECTS),
    Form("trip_skip_date", "driver", lambda w: f"/mes-trajets/{w.offer_id}/annuler-une-date",
         lambda w: {"jour": (MONDAY + timedelta(days=7)).isoformat(), "confirm": "1"},
         may_change=frozenset({"offers", "offer_skips"}) | BOOKING_SIDE_EFFECTS),
    # the operator for a driver who phones in (issue #14)
    Form("console_new_trip", "operator", lambda w: f"/console/conducteurs/{w.driver_id}/trajets/nouveau",
         lambda w: regular_form(), may_change=frozenset({"trip_requests", "sms_messages"}),
         verbatim=frozenset({"origin_place", "destination_place", "remark"})),
    Form("console_trip_skip_date", "operator",
         lambda w: f"/console/conducteurs/{w.driver_id}/trajets/{w.offer_id}/annuler-une-date",
         lambda w: {"jour": (MONDAY + timedelta(days=7)).isoformat(), "confirm": "1"},
         may_change=frozenset({"offers", "offer_skips"}) | BOOKING_SIDE_EFFECTS),
    # logging out gives the account a new session token (ends every session and cookie)
    Form("logout", "operator", lambda w: "/deconnexion", lambda w: {},
         may_change=frozenset({"users"})),
]


def with_payload(data: dict, field: str, payload) -> dict:
    data = dict(data)
    if payload is MISSING:
        data.pop(field, None)
    else:
        data[field] = payload
    return data


@pytest.mark.parametrize("payload_name", list(PAYLOADS))
@pytest.mark.parametrize("form", FORMS, ids=[f.name for f in FORMS])
def test_hostile_payload_in_every_field(app, world, form, payload_name):
    payload = PAYLOADS[payload_name]
    client, token = client_for(app, world, form.who)
    valid = form.valid(world)
    before = snapshot()
    fields = list(valid) or ["extra"]  # forms without fields get an unexpected one
    for field in [*fields, None]:  # each field alone, then all of them at once
        if field is not None:
            data = with_payload(form.valid(world), field, payload)
        else:
            data = {} if payload is MISSING else {name: payload for name in fields}
        response = client.post(form.url(world), data={**data, "csrf_token": token},
                               environ_base={"REMOTE_ADDR": fresh_address()})
        if form.complete is not None and response.status_code == 302:
            response = form.complete(app, client)
        what = f"{form.name}: {payload_name} in {field or 'every field'}"
        before = judge(client, response, before, form.with_field(field), what, payload)
        if form.complete is not None:
            client, token = client_for(app, world, form.who)  # the completed sign-up logged in
        if form.who == "operator" and client.get("/console/").status_code != 200:
            client, token = client_for(app, world, form.who)  # logged out by the logout form
    if payload_name in MARKUP:
        assert_pages_escaped(app, world)


@pytest.mark.parametrize("form", FORMS, ids=[f.name for f in FORMS])
def test_invalid_utf8_in_the_body(app, world, form):
    """Bytes that are not UTF-8 (a form sent as Latin-1, or garbage): refused, or kept as
    their %-escapes (Werkzeug's reading), never a 500."""
    client, token = client_for(app, world, form.who)
    before = snapshot()
    for field in list(form.valid(world)) or ["extra"]:
        valid = form.valid(world)  # a new phone number each time for the sign-up
        body = urlencode({**{k: v for k, v in valid.items() if k != field}, "csrf_token": token,
                          field: "Caf\xe9 \xff\xfe".encode("latin-1")}, doseq=True)
        response = client.post(form.url(world), data=body.encode("ascii"),
                               content_type="application/x-www-form-urlencoded",
                               environ_base={"REMOTE_ADDR": fresh_address()})
        before = judge(client, response, before, form.with_field(field), f"{form.name}: bad UTF-8 in {field}")


@pytest.mark.parametrize("form", FORMS, ids=[f.name for f in FORMS])
@pytest.mark.parametrize("bad_token", ["", "x" * 100_000, SCRIPT, "tok\x00en", "🚗"])
def test_hostile_csrf_token_refused_in_french(app, world, form, bad_token):
    client, _token = client_for(app, world, form.who)
    before = snapshot()
    response = client.post(form.url(world), data={**form.valid(world), "csrf_token": bad_token},
                           environ_base={"REMOTE_ADDR": fresh_address()})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Erreur 400" in html and ("Formulaire expiré" in html or "Caractère interdit" in html)
    assert snapshot() == before


def test_a_body_past_the_size_limit_gets_a_french_413(app, world):
    client, token = client_for(app, world, "operator")
    before = snapshot()
    response = client.post(f"/console/passagers/{world.passenger_id}/notes",
                           data={"csrf_token": token, "notes": "x" * 1_100_000})
    assert response.status_code == 413
    assert "Envoi trop volumineux" in response.get_data(as_text=True)
    assert snapshot() == before


# --- stored text is escaped everywhere it is shown -----------------------------------------------

def _enter_signup_code(app, client):
    """Nothing of a sign-up is saved before its code: enter the code it sent."""
    with client.session_transaction() as sess:
        phone = sess["signup"]["phone"]
    code = last_code(app.extensions["sms_gateway"], phone)
    token = _CSRF.search(client.get("/inscription/code").get_data(as_text=True)).group(1)
    return client.post("/inscription/code", data={"code": code, "csrf_token": token},
                       environ_base={"REMOTE_ADDR": fresh_address()})


def _store(app, w, form_name: str, field: str, value: str):
    form = next(f for f in FORMS if f.name == form_name)
    client, token = client_for(app, w, form.who)
    data = {**form.valid(w), field: value, "csrf_token": token}
    response = client.post(form.url(w), data=data, environ_base={"REMOTE_ADDR": fresh_address()})
    if form.complete is not None and response.status_code == 302:
        response = form.complete(app, client)
    assert response.status_code in (200, 302), (form_name, field, response.status_code,
                                                response.get_data(as_text=True)[-2000:])
    return data


def _new_passenger_id():
    from lotocar.passengers.models import Passenger
    return db.session.scalar(db.select(db.func.max(Passenger.id)))


def _new_request_id():
    from lotocar.requests.models import TripRequest
    return db.session.scalar(db.select(db.func.max(TripRequest.id)).where(TripRequest.return_of_id.is_(None)))


def _new_driver_id():
    return db.session.scalar(db.select(db.func.max(Driver.id)))


# (form, field, pages that must show the stored text, escaped): `who:url`, ids filled in after
STORED = [
    ("new_trip", "remark", ["driver:/mes-trajets/"]),
    ("new_trip", "origin_place", ["driver:/mes-trajets/"]),
    ("edit_trip", "destination_place", ["driver:/mes-trajets/", "driver:/mes-trajets/{offer}/modifier"]),
    ("passenger_notes", "needs", ["operator:/console/passagers/{passenger}",
                                  "operator:/console/passagers/{passenger}/demande",
                                  "operator:/console/demandes/{open_request}", "driver:/mes-trajets/"]),
    ("passenger_notes", "notes", ["operator:/console/passagers/{passenger}"]),
    ("new_request", "notes", ["operator:/console/demandes/{new_request}"]),
    ("new_request", "destination_place", ["operator:/console/demandes/{new_request}"]),
    ("new_passenger_and_request", "first_name", [
        "operator:/console/passagers/{new_passenger}", "operator:/console/",
        "operator:/console/demandes/{new_request}", "operator:/console/appel?q=Cayrou",
        "operator:/console/passagers/{new_passenger}/demande"]),
    ("new_passenger_and_request", "last_name", ["operator:/console/passagers/{new_passenger}",
                                                "operator:/console/"]),
    ("new_passenger_and_request", "d-destination_place", ["operator:/console/demandes/{new_request}"]),
    ("unmet", "detail", ["operator:/console/?file=sans-solution", "operator:/console/demandes/{open_request}"]),
    ("booking_decline", "reason", ["operator:/console/reservations/{booking}",
                                   "operator:/console/demandes/{booked_request}"]),
    ("signup", "first_name", ["operator:/console/conducteurs", "operator:/console/conducteurs/{new_driver}"]),
    ("signup", "last_name", ["operator:/console/conducteurs"]),
]


@pytest.mark.parametrize("form_name,field,pages", STORED, ids=[f"{f}-{x}" for f, x, _ in STORED])
def test_stored_html_is_escaped_on_every_page_showing_it(app, world, form_name, field, pages):
    _store(app, world, form_name, field, HOSTILE_TEXT)
    ids = {"offer": world.offer_id, "passenger": world.passenger_id, "open_request": world.open_request_id,
           "booked_request": world.booked_request_id, "booking": world.booking_id}
    if "{new_passenger}" in " ".join(pages):
        ids["new_passenger"] = _new_passenger_id()
    if "{new_request}" in " ".join(pages):
        ids["new_request"] = _new_request_id()
    if "{new_driver}" in " ".join(pages):
        ids["new_driver"] = _new_driver_id()
    clients = {}
    for spec in pages:
        who, url = spec.split(":", 1)
        url = url.format(**ids)
        if who not in clients:
            clients[who] = client_for(app, world, who)[0]
        response = clients[who].get(url)
        html = response.get_data(as_text=True)
        assert response.status_code == 200, (url, response.status_code)
        assert_no_raw_markup(html, url)
        for escaped in ESCAPED_MARKUP:
            assert escaped in html, f"{form_name}.{field}: {escaped!r} not shown on {url}"
    assert_pages_escaped(app, world)


def test_stored_html_in_an_sms_answer_page_is_escaped(app, world):
    """The driver's answer page shows the passenger's first name and meeting place."""
    from tests.sms_factories import make_world

    w = make_world(passenger_first=SCRIPT[:40], origin_place=HOSTILE_TEXT)
    proposal = db.session.scalar(db.select(SmsMessage).where(SmsMessage.booking_id == w.booking_id,
                                                             SmsMessage.kind == "proposal"))
    token = re.search(r"/r/([A-Za-z0-9]{20})", proposal.body).group(1)
    html = app.test_client().get(f"/r/{token}").get_data(as_text=True)
    assert_no_raw_markup(html, "/r/…")
    assert "&lt;script&gt;alert(1)" in html and ESCAPED_MARKUP[1] in html
    operator_client = client_for(app, world, "operator")[0]
    page = operator_client.get(f"/console/reservations/{w.booking_id}").get_data(as_text=True)
    assert_no_raw_markup(page, "booking with its SMS history")
    assert ESCAPED_MARKUP[1] in page


def assert_pages_escaped(app, w) -> None:
    clients = {}
    for who, url in display_pages(w):
        if who not in clients:
            clients[who] = app.test_client()
            if who != "anon":
                login_as(clients[who], {"driver": w.driver, "operator": w.operator}[who])
        response = clients[who].get(url)
        assert response.status_code < 500, url
        assert_no_raw_markup(response.get_data(as_text=True), url)


# --- query strings and paths -----------------------------------------------------------------------

QUERIES = [
    ("operator", "/console/appel", ["q"]),
    ("operator", "/console/", ["du", "au", "epci", "file"]),
    ("operator", "/console/conducteurs", ["q"]),
    ("operator", "/statistiques/", ["du", "au", "epci"]),
    ("operator", "/statistiques/carte", ["du", "au", "epci", "cause", "motif"]),
    ("operator", "/statistiques/carte.json", ["du", "au", "epci", "cause", "motif"]),
    ("operator", "/statistiques/lignes-virtuelles", ["du", "au", "epci"]),
    ("operator", "/statistiques/exports", ["du", "au", "epci"]),
    ("operator", "/statistiques/exports/demandes.csv", ["du", "au", "epci"]),
    ("anon", "/chiffres-cles", ["annee"]),
    ("anon", "/communes/autocomplete", ["q", "limit"]),
    ("anon", "/communes/lookup", ["q"]),
    ("anon", "/connexion/equipe", ["next"]),
    ("anon", "/inscription", ["next"]),
]


@pytest.mark.parametrize("who,path,params", QUERIES, ids=[q[1] for q in QUERIES])
def test_hostile_query_strings(app, world, who, path, params):
    client = client_for(app, world, who)[0]
    before = snapshot()
    for param in params:
        for name, payload in [*PAYLOADS.items(), ("bad_utf8", None)]:
            if payload is MISSING:
                continue
            if payload is None:
                response = client.get(path, query_string=f"{param}=Caf%E9%FF%FE")
            else:
                response = client.get(path, query_string={param: payload})
            what = f"{path}?{param}={name}"
            assert response.status_code < 500, what
            body = response.get_data(as_text=True)
            if response.mimetype == "text/html":
                assert_no_raw_markup(body, what)
                if 400 <= response.status_code < 500:
                    assert is_french_refusal(body), what
            elif response.status_code >= 400:
                assert response.mimetype == "application/json", what
                assert json.loads(body)["error"]["message"], what
    assert snapshot() == before


def test_next_after_staff_login_stays_on_the_site(app, world):
    _user, password = create_staff("chef@lotocar.fr", "Claire", "Bessières", Role.OPERATOR)
    db.session.commit()
    for nxt in ["//evil.example", "/\\evil.example", "/\t/evil.example", "https://evil.example",
                "javascript:alert(1)", SCRIPT, "/console/\x00", "/" + "a" * 100_000]:
        client, token = client_for(app, world, "anon")
        response = client.post("/connexion/equipe", query_string={"next": nxt},
                               data={"email": "chef@lotocar.fr", "password": password,
                                     "csrf_token": token}, environ_base={"REMOTE_ADDR": fresh_address()})
        assert response.status_code in (302, 400), nxt
        if response.status_code == 302:
            location = response.headers["Location"]
            assert location.startswith("/") and not location.startswith(("//", "/\\")), (nxt, location)
            assert "evil" not in location and "<" not in location


ID_PATHS = [
    ("operator", "GET", "/console/passagers/{id}"), ("operator", "GET", "/console/passagers/{id}/demande"),
    ("operator", "POST", "/console/passagers/{id}/notes"), ("operator", "GET", "/console/demandes/{id}"),
    ("operator", "POST", "/console/demandes/{id}/proposer"), ("operator", "POST", "/console/demandes/{id}/sans-solution"),
    ("operator", "POST", "/console/demandes/{id}/annuler"), ("operator", "POST", "/console/demandes/{id}/vu"),
    ("operator", "GET", "/console/reservations/{id}"), ("operator", "POST", "/console/reservations/{id}/accept"),
    ("operator", "GET", "/console/conducteurs/{id}"), ("admin", "GET", "/console/rgpd/passenger/{id}/export"),
    ("admin", "POST", "/console/rgpd/driver/{id}/effacer"), ("operator", "GET", "/requests/{id}/candidates"),
    ("driver", "GET", "/mes-trajets/{id}/modifier"), ("driver", "POST", "/mes-trajets/{id}/pause"),
    ("driver", "POST", "/mes-trajets/reservations/{id}/accept"),
]


@pytest.mark.parametrize("who,method,path", ID_PATHS, ids=[f"{m} {p}" for _, m, p in ID_PATHS])
def test_ids_past_the_database_range_are_unknown_pages(app, world, who, method, path):
    client, token = client_for(app, world, who)
    for ident in (0, 2**31 - 1, 2**31, 2**63, 10**30, 10**400):
        response = client.open(path.format(id=ident), method=method,
                               data={"csrf_token": token, "reason": "test"})
        assert response.status_code == 404, (path, ident, response.status_code)
        assert "Page introuvable" in response.get_data(as_text=True) or response.is_json


@pytest.mark.parametrize("path", ["/console/reservations/{b}/" + SCRIPT.replace("/", "%2F"),
                                  "/console/reservations/{b}/%00", "/r/" + "É" * 20, "/r/" + "7" * 20,
                                  "/r/%00" + "A" * 19, "/r/" + "A" * 100_000, "/r/" + SCRIPT,
                                  "/mes-trajets/{o}/" + "x" * 10_000])
def test_hostile_path_segments(app, world, path):
    client, token = client_for(app, world, "operator" if "console" in path else "driver")
    before = snapshot()
    for method in ("GET", "POST"):
        url = path.format(b=world.booking_id, o=world.offer_id)
        response = client.open(url, method=method, data={"csrf_token": token, "answer": "oui"})
        assert 400 <= response.status_code < 500, (url, method, response.status_code)
        html = response.get_data(as_text=True)
        assert_no_raw_markup(html, url)
        assert is_french_refusal(html) or "Ce lien n'est pas valide" in html, (url, html[:300])
    assert snapshot() == before


# --- the JSON API: what schemathesis does not generate -------------------------------------------

@pytest.fixture
def api_token(world):
    from lotocar.api.operations import issue_token

    saved = issue_token("op@lotocar.fr")[0]
    db.session.commit()
    return saved


def _request_body(w, **overrides):
    body = {"passenger_id": w.passenger_id, "origin": {"insee": "46088"},
            "destination": {"insee": "46042"}, "arrive_by": f"{DAY}T10:00", "reason": "medical"}
    body.update(overrides)
    return body


API_BODIES = [
    ("nul in a note", lambda w: json.dumps(_request_body(w, notes="a\x00b")), 422),
    ("lone surrogate in a note", lambda w: json.dumps(_request_body(w, notes="a\ud800b")), 422),
    ("lone surrogate as a key", lambda w: json.dumps({**_request_body(w), "\udfff": 1}), 422),
    ("nul in a commune", lambda w: json.dumps(_request_body(w, origin={"insee": "4608\x00"})), 422),
    ("html in a note", lambda w: json.dumps(_request_body(w, notes=HOSTILE_TEXT)), 201),
    ("sql in a place", lambda w: json.dumps(_request_body(
        w, origin={"insee": "46088", "place": "'; DROP TABLE users; --"})), 201),
    ("huge id", lambda w: json.dumps(_request_body(w, passenger_id=10**30)), 422),
    ("huge flexibility", lambda w: json.dumps(_request_body(w, flexibility_minutes=10**30)), 422),
    ("NaN latitude", lambda w: json.dumps(_request_body(w, origin={"lat": float("nan"), "lon": 1.5})), 422),
    ("Infinity longitude", lambda w: json.dumps(_request_body(
        w, origin={"lat": 44.5, "lon": float("inf")})), 422),
    ("1e400 latitude", lambda w: json.dumps(_request_body(w)).replace('"insee": "46088"',
                                                                     '"lat": 1e400, "lon": 1.5', 1), 422),
    ("-1e308 latitude", lambda w: json.dumps(_request_body(w, origin={"lat": -1e308, "lon": 1.5})), 422),
    ("string for an integer", lambda w: json.dumps(_request_body(w, passenger_id="1")), 422),
    ("array for an object", lambda w: json.dumps(_request_body(w, origin=["46088"])), 422),
    ("missing field", lambda w: json.dumps({k: v for k, v in _request_body(w).items() if k != "reason"}), 422),
    ("a body that is a list", lambda w: json.dumps([_request_body(w)]), 400),
    ("invalid UTF-8", lambda w: b'{"notes": "Caf\xe9 \xff"}', 400),
    ("deeply nested", lambda w: "[" * 30_000 + "]" * 30_000, 400),
    ("deeply nested object", lambda w: '{"a":' * 10_000 + "1" + "}" * 10_000, 400),
    ("truncated", lambda w: json.dumps(_request_body(w))[:-5], 400),
    ("empty", lambda w: "", 400),
    ("100 kB note", lambda w: json.dumps(_request_body(w, notes="x" * 60_000)), 422),
    ("past the body limit", lambda w: json.dumps(_request_body(w, notes="x" * 70_000)), 413),
]


@pytest.mark.parametrize("name,body,status", API_BODIES, ids=[b[0] for b in API_BODIES])
def test_hostile_json_bodies(app, world, api_token, name, body, status):
    from tests.api_support import assert_conforms

    client = app.test_client()
    before = snapshot()
    response = client.post("/api/v1/requests", data=body(world), content_type="application/json",
                           headers={"Authorization": f"Bearer {api_token}"})
    assert response.status_code == status, (name, response.status_code, response.get_data(as_text=True)[:500])
    assert_conforms(response)
    if status >= 400:
        assert response.get_json()["error"]["message"]
        assert changed_tables(before, snapshot()) <= {"api_tokens"}, name
    else:
        trip = response.get_json()
        stored = client.get(f"/api/v1/requests/{trip['id']}", headers={"Authorization": f"Bearer {api_token}"})
        assert stored.get_json() == trip
        page = client_for(app, world, "operator")[0].get(f"/console/demandes/{trip['id']}")
        assert_no_raw_markup(page.get_data(as_text=True), name)
