"""Issue #16, point by point: nobody gets in sideways.

1 sign-up cannot rewrite a driver the team registered · 2 limits behind the proxy, on the
real client and on the target, real attempts only · 3 no enumeration of phones and e-mails ·
4 SMS pumping caps and alert · 5 wrong codes per day (the race itself: test_concurrency.py) ·
6 "remember me" ends with logout · 7 erasure erases (other party's texts, unknown sends) ·
8 status callbacks must match the SID · 9 codes masked in the console · 10 DST gap refused ·
11 cap of trips per driver and creation rate limit · 12 accept-then-withdraw recorded,
shown and limited.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from twilio.request_validator import RequestValidator

from lotocar.api.operations import issue_token
from lotocar.audit.models import AuditEntry
from lotocar.auth.models import Role, User
from lotocar.auth.operations import create_staff
from lotocar.bookings import operations as bookings
from lotocar.bookings.models import BookingStatus
from lotocar.core.clock import PARIS
from lotocar.core.phones import format_phone
from lotocar.core.timeutil import utcnow
from lotocar.drivers import operations as drivers_ops
from lotocar.extensions import db
from lotocar.notifications import outbox, worker
from lotocar.notifications.models import SmsMessage, SmsStatus
from lotocar.offers.models import Offer
from lotocar.privacy import operations as privacy
from tests.conftest import csrf_token, last_code, login_as
from tests.factories import MONDAY, luzech_cahors, passenger, trip_request
from tests.fake_twilio import AUTH_TOKEN
from tests.test_offers import regular_form

PHONE = "+33612345678"
PASSWORD = "motdepasse-solide-46"


def signup_form(client, phone="06 12 34 56 78", environ=None, **overrides):
    data = {"first_name": "Jeanne", "last_name": "Delpech", "phone": phone, "email": "",
            "home": "Luzech (46140)", "consent_contact": "y"}
    data.update(overrides)
    data["csrf_token"] = csrf_token(client, "/inscription")
    return client.post("/inscription", data=data, environ_base=environ or {})


def enter_code(client, path, code, environ=None):
    return client.post(path, data={"code": code, "csrf_token": csrf_token(client, path)},
                       environ_base=environ or {})


def staff_registered_driver(phone=PHONE, email="marie@example.fr"):
    driver = drivers_ops.register_by_staff(drivers_ops.DriverInput(
        first_name="Marie", last_name="Lacoste", phone=phone, home_insee="46042", email=email,
        consent_contact=True), None)
    db.session.commit()  # the console's edge commits the registration
    return driver.user


def page_text(response) -> str:
    """The page without what differs between any two answers (CSRF token, the number typed)."""
    html = response.get_data(as_text=True)
    html = re.sub(r'name="csrf_token"[^>]*value="[^"]+"', "", html)
    return re.sub(r"0[67](?:\s?\d\d){4}|\+33\d{9}", "<phone>", html)


# --- 1. sign-up cannot rewrite a driver registered by the team -------------------------------------

def test_signup_on_a_staff_registered_phone_changes_nothing_before_the_code(client, sms):
    user = staff_registered_driver()
    r = signup_form(client, first_name="Appelez le 08 99 12 34 56", last_name="Arnaque",
                    email="pirate@example.fr", home="Figeac")
    assert r.status_code == 302 and r.headers["Location"].endswith("/inscription/code")
    db.session.expire_all()
    user = db.session.get(User, user.id)
    assert (user.first_name, user.last_name, user.email, user.driver.home_insee) == \
        ("Marie", "Lacoste", "marie@example.fr", "46042")
    assert user.phone_verified_at is None
    # a wrong code changes nothing either
    assert enter_code(client, "/inscription/code", "000000").status_code == 400
    db.session.expire_all()
    assert db.session.get(User, user.id).first_name == "Marie"


@pytest.mark.parametrize("choice,expected", [("team", ("Marie", "46042")), ("typed", ("Jeanne", "46182"))])
def test_after_the_code_the_person_confirms_what_the_team_entered(client, sms, choice, expected):
    user = staff_registered_driver()
    signup_form(client)
    r = enter_code(client, "/inscription/code", last_code(sms, PHONE))
    assert r.status_code == 302 and r.headers["Location"].endswith("/inscription/confirmer")
    page = client.get("/inscription/confirmer")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Marie" in html and "Jeanne" in html and "Cahors" in html
    assert db.session.get(User, user.id).first_name == "Marie"  # not until she chooses
    r = client.post("/inscription/confirmer", data={"choice": choice,
                                                    "csrf_token": csrf_token(client, "/inscription/confirmer")})
    assert r.status_code == 302 and r.headers["Location"].endswith("/mes-trajets/")
    db.session.expire_all()
    user = db.session.get(User, user.id)
    assert (user.first_name, user.driver.home_insee) == expected
    assert user.phone_verified_at is not None
    action = {"team": "signup_details_kept", "typed": "signup_details_replaced"}[choice]
    assert db.session.scalar(db.select(AuditEntry).where(AuditEntry.action == action)) is not None


# --- 2. limits behind the proxy ------------------------------------------------------------------

def xff(address: str) -> dict:
    return {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": address}


def test_behind_one_proxy_each_client_has_its_own_limit(app, client, sms, monkeypatch, make_driver):
    """PROXY_HOPS=1 (nginx in front of gunicorn on 127.0.0.1): six drivers asking for a code
    within 15 minutes, each from their own address, all get one."""
    monkeypatch.setitem(app.config, "PROXY_HOPS", 1)
    for i in range(6):
        user = make_driver(phone=f"+3361234{i:04d}")
        other = app.test_client()
        r = other.post("/connexion", data={"phone": user.phone, "csrf_token": csrf_token(other)},
                       environ_base=xff(f"203.0.113.{i + 1}"))
        assert r.status_code == 302, (i, r.status_code)
    assert len(sms.sent) == 6
    # one client, whatever number it tries: the sixth code request is refused
    statuses = [client.post("/connexion", data={"phone": f"06 98 76 54 {i:02d}", "csrf_token": csrf_token(client)},
                            environ_base=xff("198.51.100.9")).status_code for i in range(6)]
    assert statuses == [302] * 5 + [429]


def test_forwarded_for_is_ignored_without_a_configured_proxy(app, client):
    """PROXY_HOPS=0 (the default): a client cannot pick its own address with the header."""
    statuses = [client.post("/connexion", data={"phone": f"06 98 76 54 {i:02d}", "csrf_token": csrf_token(client)},
                            environ_base=xff(f"203.0.113.{i + 1}")).status_code for i in range(6)]
    assert statuses[-1] == 429


def test_an_invalid_form_is_not_a_code_sent(app, client, sms, make_driver):
    user = make_driver(phone=PHONE)
    token = csrf_token(client)
    for _ in range(8):
        assert client.post("/connexion", data={"phone": "06 12", "csrf_token": token}).status_code == 400
    r = client.post("/connexion", data={"phone": user.phone, "csrf_token": token})
    assert r.status_code == 302 and len(sms.sent) == 1


def test_wrong_passwords_from_one_client_do_not_lock_out_the_operator(app, monkeypatch):
    monkeypatch.setitem(app.config, "PROXY_HOPS", 1)
    create_staff("op@lotocar.fr", "Sophie", "Martin", Role.OPERATOR, password=PASSWORD)
    db.session.commit()  # the CLI's edge commits the account
    attacker = app.test_client()
    token = csrf_token(attacker, "/connexion/equipe")
    for i in range(12):
        attacker.post("/connexion/equipe", data={"email": "op@lotocar.fr", "password": f"devine-{i}",
                                                 "csrf_token": token}, environ_base=xff("198.51.100.66"))
    operator = app.test_client()
    r = operator.post("/connexion/equipe", data={"email": "op@lotocar.fr", "password": PASSWORD,
                                                 "csrf_token": csrf_token(operator, "/connexion/equipe")},
                      environ_base=xff("192.0.2.10"))
    assert r.status_code == 302


def test_wrong_passwords_on_one_account_are_limited_across_addresses(app, monkeypatch):
    monkeypatch.setitem(app.config, "PROXY_HOPS", 1)
    monkeypatch.setitem(app.config, "LOGIN_ACCOUNT_LIMIT", "6 per hour")
    create_staff("op@lotocar.fr", "Sophie", "Martin", Role.OPERATOR, password=PASSWORD)
    db.session.commit()  # the CLI's edge commits the account
    statuses = []
    for i in range(7):
        c = app.test_client()
        statuses.append(c.post("/connexion/equipe", data={
            "email": "op@lotocar.fr", "password": f"devine-{i}", "csrf_token": csrf_token(c, "/connexion/equipe")},
            environ_base=xff(f"203.0.113.{i + 1}")).status_code)
    assert statuses == [400] * 6 + [429]


# --- 3. enumeration --------------------------------------------------------------------------------

def test_signup_answers_the_same_for_new_and_registered_phones(app, make_driver, sms):
    make_driver(phone="+33612340001")
    answers = []
    for phone in ("06 12 34 00 01", "06 12 34 00 02"):
        c = app.test_client()
        r = signup_form(c, phone=phone)
        assert r.status_code == 302 and r.headers["Location"].endswith("/inscription/code")
        answers.append(page_text(c.get("/inscription/code")))
        # the wrong code: same answer too
        answers.append(page_text(enter_code(c, "/inscription/code", "000000")))
    assert answers[0] == answers[2] and answers[1] == answers[3]


@pytest.mark.parametrize("registered", [True, False])
def test_login_limits_say_the_same_whether_the_phone_exists(app, client, sms, make_driver, registered):
    if registered:
        make_driver(phone=PHONE)
    statuses = [client.post("/connexion", data={"phone": PHONE, "csrf_token": csrf_token(client)}).status_code
                for _ in range(app.config["OTP_MAX_PER_PHONE"])]
    assert statuses == [302] * app.config["OTP_MAX_PER_PHONE"]
    r = client.post("/connexion", data={"phone": PHONE, "csrf_token": csrf_token(client)})
    assert r.status_code == 400 and "Trop de codes" in r.get_data(as_text=True)
    other = app.test_client()
    with other.session_transaction() as sess:
        sess["login_phone"] = PHONE
    texts = [enter_code(other, "/connexion/code", "000000").get_data(as_text=True)
             for _ in range(app.config["OTP_MAX_ATTEMPTS"] + 1)]
    assert all("pas le bon" in t for t in texts[:-1])
    assert "Trop d&#39;essais" in texts[-1] or "Trop d'essais" in texts[-1]


def test_staff_registration_does_not_reveal_an_existing_email(app):
    create_staff("admin@lotocar.fr", "Ada", "Min", Role.ADMIN, password=PASSWORD)
    driver = drivers_ops.register_by_staff(drivers_ops.DriverInput(
        first_name="Paul", last_name="Bru", phone="+33612340077", home_insee="46042",
        email="admin@lotocar.fr", consent_contact=True), None)
    fresh = drivers_ops.register_by_staff(drivers_ops.DriverInput(
        first_name="Lou", last_name="Bru", phone="+33612340078", home_insee="46042",
        email="lou@example.fr", consent_contact=True), None)
    assert driver.id and fresh.id  # both registered, no error either way
    assert driver.user.email is None and fresh.user.email == "lou@example.fr"


# --- 4. SMS pumping ---------------------------------------------------------------------------------

def test_daily_cap_per_number(app, sms, travel):
    cap = app.config["OTP_MAX_PER_PHONE_DAY"]
    start = datetime(2026, 12, 1, 9, 0, tzinfo=PARIS)
    answers = []
    for i in range(cap + 1):
        travel(start + timedelta(minutes=16 * i))  # always under the 15-minute cap
        c = app.test_client()
        answers.append(signup_form(c).status_code)
        if answers[-1] == 400:
            answers.append(signup_form(c).get_data(as_text=True))
    assert answers[:cap] == [302] * cap
    assert answers[cap] == 400 and "aujourd" in answers[cap + 1]
    assert len(sms.sent) == cap
    travel(start + timedelta(hours=25))
    assert signup_form(app.test_client()).status_code == 302


def test_hourly_budget_stops_codes_and_alerts_operators(app, client, sms, monkeypatch):
    monkeypatch.setitem(app.config, "SMS_CODE_BUDGET_PER_HOUR", 3)
    monkeypatch.setitem(app.config, "PROXY_HOPS", 1)
    for i in range(3):
        c = app.test_client()
        assert signup_form(c, phone=f"06 12 34 11 {i:02d}", environ=xff(f"203.0.113.{i + 1}")).status_code == 302
    c = app.test_client()
    r = signup_form(c, phone="06 12 34 11 99", environ=xff("203.0.113.99"))
    assert r.status_code == 400 and "suspendu" in r.get_data(as_text=True)
    assert len(sms.sent) == 3
    alert = db.session.scalar(db.select(AuditEntry).where(AuditEntry.action == "sms_code_budget_reached"))
    assert alert is not None and alert.changes["budget"] == 3
    operator, _ = create_staff("op@lotocar.fr", "O", "P", Role.OPERATOR)
    db.session.commit()  # the CLI's edge commits the account
    login_as(client, operator)
    page = client.get("/console/").get_data(as_text=True)
    assert 'id="sms-budget-alert"' in page and "3 codes par heure" in page


# --- 5. wrong codes per day (the atomic counter is raced in tests/test_concurrency.py) -------------

def test_daily_cap_of_wrong_codes_per_phone(app, sms, make_driver, travel):
    make_driver(phone=PHONE)
    cap = app.config["OTP_MAX_WRONG_PER_DAY"]
    start = datetime(2026, 12, 1, 9, 0, tzinfo=PARIS)
    wrong, i = 0, 0
    while wrong < cap:
        travel(start + timedelta(minutes=16 * i))
        i += 1
        c = app.test_client()
        c.post("/connexion", data={"phone": PHONE, "csrf_token": csrf_token(c)})
        code = last_code(sms, PHONE)
        bad = "000000" if code != "000000" else "111111"
        for _ in range(min(app.config["OTP_MAX_ATTEMPTS"], cap - wrong)):
            assert "pas le bon" in enter_code(c, "/connexion/code", bad).get_data(as_text=True)
            wrong += 1
    travel(start + timedelta(minutes=16 * i))
    c = app.test_client()
    c.post("/connexion", data={"phone": PHONE, "csrf_token": csrf_token(c)})
    r = enter_code(c, "/connexion/code", last_code(sms, PHONE))  # even the right code
    assert r.status_code == 400 and "aujourd" in r.get_data(as_text=True)
    assert c.get("/mes-trajets/").status_code == 302


# --- 6. "remember me" ------------------------------------------------------------------------------

def _login_by_code(app, phone):
    c = app.test_client()
    c.post("/connexion", data={"phone": phone, "csrf_token": csrf_token(c)})
    r = enter_code(c, "/connexion/code", last_code(app.extensions["sms_gateway"], phone))
    assert r.status_code == 302
    return c, r


def test_remember_me_lasts_30_days_and_a_copied_cookie_dies_with_logout(app, sms, make_driver):
    make_driver(phone=PHONE)
    c, r = _login_by_code(app, PHONE)
    header = next(h for h in r.headers.getlist("Set-Cookie") if h.startswith("remember_token="))
    expires = re.search(r"Expires=([^;]+)", header).group(1)
    from email.utils import parsedate_to_datetime
    lasts = parsedate_to_datetime(expires) - utcnow()
    assert timedelta(days=29) < lasts <= timedelta(days=30, minutes=1)
    stolen = c.get_cookie("remember_token").value
    thief = app.test_client()
    thief.set_cookie("remember_token", stolen)
    assert thief.get("/mes-trajets/").status_code == 200  # the copy works while the session lives
    assert c.post("/deconnexion", data={"csrf_token": csrf_token(c, "/mes-trajets/")}).status_code == 302
    thief2 = app.test_client()
    thief2.set_cookie("remember_token", stolen)
    assert thief2.get("/mes-trajets/").status_code == 302  # logout ended it
    assert thief.get("/mes-trajets/").status_code == 302  # and the thief's session too


def test_a_role_change_and_log_out_everywhere_end_sessions(app, client, sms, make_driver):
    user = make_driver(phone=PHONE)
    c, _ = _login_by_code(app, PHONE)
    assert c.get("/mes-trajets/").status_code == 200
    user = db.session.get(User, user.id)
    user.role = Role.OPERATOR
    db.session.commit()
    assert c.get("/console/").status_code == 302  # the old session does not carry the new role
    user.role = Role.DRIVER
    db.session.commit()
    c, _ = _login_by_code(app, PHONE)
    operator, _ = create_staff("op@lotocar.fr", "O", "P", Role.OPERATOR)
    db.session.commit()  # the CLI's edge commits the account
    login_as(client, operator)
    r = client.post(f"/console/conducteurs/{user.driver.id}/deconnecter",
                    data={"csrf_token": csrf_token(client, "/console/")})
    assert r.status_code == 302
    assert c.get("/mes-trajets/").status_code == 302


# --- 7. erasure erases -------------------------------------------------------------------------------

@pytest.fixture
def booked(app, make_driver):
    driver = make_driver("Nathalie", "Rességuier")
    offer = luzech_cahors(driver)
    pax = passenger("+33698765432")
    pax.first_name = "Odette"
    pax.sms_consent_at = utcnow()
    db.session.commit()
    req = trip_request(pax)
    booking = bookings.propose(bookings.Proposal(req.id, offer.id, MONDAY), None)
    db.session.commit()  # each action commits at its edge (console, driver's page)
    bookings.transition(booking.id, "accept", driver.id)
    db.session.commit()
    bookings.transition(booking.id, "confirm", None)
    db.session.commit()
    worker.run_once(app)  # the proposal and confirmations go out: both parties are informed
    return driver, pax, booking


def test_erasing_a_passenger_removes_her_name_from_the_drivers_sms(booked):
    driver, pax, booking = booked
    to_driver = db.session.scalars(db.select(SmsMessage).where(SmsMessage.to_phone == driver.phone)).all()
    assert any("Odette" in m.body for m in to_driver)
    privacy.anonymise_passenger(pax.id, None, "demande écrite")
    db.session.commit()  # the console's edge commits the erasure
    db.session.expire_all()
    to_driver = db.session.scalars(db.select(SmsMessage).where(SmsMessage.to_phone == driver.phone)).all()
    assert to_driver and not any("Odette" in m.body for m in to_driver)
    # the driver is told the trip is off (a promise is sacred), without the name
    cancelled = [m for m in to_driver if m.kind == "cancelled"]
    assert cancelled and "la personne" in cancelled[0].body and cancelled[0].status == SmsStatus.PENDING


def test_erasing_a_driver_removes_his_name_from_the_passengers_sms(booked):
    driver, pax, booking = booked
    privacy.anonymise_driver(driver.driver.id, None, "demande orale")
    db.session.commit()  # the console's edge commits the erasure
    db.session.expire_all()
    to_pax = db.session.scalars(db.select(SmsMessage).where(SmsMessage.to_phone == "+33698765432")).all()
    assert to_pax and not any("Nathalie" in m.body for m in to_pax)


def test_an_unknown_send_is_never_resent_after_erasure(app, booked):
    driver, pax, booking = booked
    msg = db.session.scalar(db.select(SmsMessage).where(SmsMessage.to_phone == pax.phone,
                                                        SmsMessage.kind == "confirmed"))
    assert msg is not None
    db.session.execute(db.update(SmsMessage).where(SmsMessage.id == msg.id)
                       .values(status=SmsStatus.UNKNOWN, send_after=utcnow() - timedelta(minutes=1)))
    db.session.commit()
    privacy.anonymise_passenger(pax.id, None, "demande écrite")
    db.session.commit()  # the console's edge commits the erasure
    db.session.expire_all()
    row = db.session.get(SmsMessage, msg.id)
    assert row.status == SmsStatus.CANCELLED and row.to_phone == f"anon-p{pax.id}"
    app.extensions["sms_gateway"].sent.clear()
    worker.run_once(app)
    assert not [m for m in app.extensions["sms_gateway"].sent if m.to.startswith("anon-")]


def test_cancel_pending_for_respects_compare_and_set(app):
    ids = {}
    for status in (SmsStatus.PENDING, SmsStatus.UNKNOWN, SmsStatus.SENDING, SmsStatus.SENT):
        ids[status] = outbox.enqueue(outbox.Draft(kind="test", to_phone="+33622222222", body=status.value))
        db.session.execute(db.update(SmsMessage).where(SmsMessage.id == ids[status]).values(status=status))
    db.session.commit()
    assert outbox.cancel_pending_for("+33622222222", "test") == 2
    db.session.commit()
    db.session.expire_all()
    assert {s: db.session.get(SmsMessage, i).status for s, i in ids.items()} == {
        SmsStatus.PENDING: SmsStatus.CANCELLED, SmsStatus.UNKNOWN: SmsStatus.CANCELLED,
        SmsStatus.SENDING: SmsStatus.SENDING, SmsStatus.SENT: SmsStatus.SENT}


def test_privacy_edits_no_other_feature_table_itself():
    """Each feature erases and exports its own rows: the privacy module imports no model of
    the features it erases, only the registry and what it needs to find people."""
    import inspect

    from lotocar.core import personal_data
    from lotocar.privacy import operations

    source = inspect.getsource(operations)
    for forbidden in ("SmsMessage", "ApiToken", "AuditEntry", "PhoneCode", "_scrub", "set_place", ".phone = "):
        assert forbidden not in source, forbidden
    features = {h.feature for h in personal_data.hooks()}
    assert {"auth", "drivers", "passengers", "offers", "requests", "bookings", "notifications",
            "audit", "api"} <= features


# --- 8. status callbacks ----------------------------------------------------------------------------

def test_status_callback_for_a_pending_row_needs_its_own_sid(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", "")
    msg_id = outbox.enqueue(outbox.Draft(kind="test", to_phone="+33622222222", body="essai"))
    db.session.commit()
    path = f"/sms/webhooks/status?m={msg_id}"
    params = {"MessageSid": "SMforged", "MessageStatus": "delivered"}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(f"http://localhost{path}", params)
    assert client.post(path, data=params, headers={"X-Twilio-Signature": signature}).status_code == 204
    db.session.expire_all()
    row = db.session.get(SmsMessage, msg_id)
    assert row.status == SmsStatus.PENDING and row.provider_id is None  # still to be sent


# --- 9. codes masked in the console -------------------------------------------------------------------

def test_a_queued_login_code_is_masked_on_the_drivers_console_page(app, client, sms, make_driver, monkeypatch):
    user = make_driver(phone=PHONE)
    monkeypatch.setattr(outbox, "claim", lambda *a, **k: False)  # Twilio down: the code waits
    c = app.test_client()
    c.post("/connexion", data={"phone": PHONE, "csrf_token": csrf_token(c)})
    row = db.session.scalar(db.select(SmsMessage).where(SmsMessage.kind == "code_login"))
    code = re.search(r"\b(\d{6})\b", row.body).group(1)
    assert row.status == SmsStatus.PENDING
    operator, _ = create_staff("op@lotocar.fr", "O", "P", Role.OPERATOR)
    db.session.commit()  # the CLI's edge commits the account
    login_as(client, operator)
    page = client.get(f"/console/conducteurs/{user.driver.id}").get_data(as_text=True)
    assert "Code de connexion" in page and code not in page and "******" in page


# --- 10. the spring-forward gap ---------------------------------------------------------------------

SPRING = datetime(2027, 3, 28).date()  # clocks go from 02:00 to 03:00


def test_a_request_at_a_time_that_does_not_exist_is_refused_in_the_form(app, client):
    pax = passenger()
    operator, _ = create_staff("op@lotocar.fr", "O", "P", Role.OPERATOR)
    db.session.commit()  # the CLI's edge commits the account
    login_as(client, operator)
    path = f"/console/passagers/{pax.id}/demande"
    r = client.post(path, data={"origin": "Douelle (46140)", "destination": "Cahors", "mode": "leave_after",
                                "day": SPRING.isoformat(), "at": "02:15", "flexibility_min": "30",
                                "reason": "medical", "csrf_token": csrf_token(client, path)})
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and ("n&#39;existe pas" in html or "n'existe pas" in html)
    assert "de 02:00 à 03:00" in html


def test_a_request_at_a_time_that_does_not_exist_is_refused_by_the_api(app, client):
    pax = passenger()
    create_staff("op@lotocar.fr", "O", "P", Role.OPERATOR)
    raw, _ = issue_token("op@lotocar.fr")
    db.session.commit()  # the CLI's edge commits the account and its token
    r = client.post("/api/v1/requests", json={
        "passenger_id": pax.id, "origin": {"insee": "46088"}, "destination": {"insee": "46042"},
        "depart_after": f"{SPRING.isoformat()}T02:15", "flexibility_minutes": 30, "reason": "medical"},
        headers={"Authorization": f"Bearer {raw}"})
    assert r.status_code == 422
    assert "n'existe pas" in r.get_json()["error"]["fields"]["depart_after"]
    ok = client.post("/api/v1/requests", json={
        "passenger_id": pax.id, "origin": {"insee": "46088"}, "destination": {"insee": "46042"},
        "depart_after": f"{SPRING.isoformat()}T03:15", "flexibility_minutes": 30, "reason": "medical"},
        headers={"Authorization": f"Bearer {raw}"})
    assert ok.status_code == 201


# --- 11. trips per driver --------------------------------------------------------------------------

def test_a_driver_cannot_flood_the_matching_with_trips(app, client, make_driver, monkeypatch):
    monkeypatch.setitem(app.config, "OFFER_MAX_ACTIVE_PER_DRIVER", 4)
    monkeypatch.setitem(app.config, "OFFER_CREATE_LIMIT", "100 per hour")
    user = make_driver()
    login_as(client, user)
    token = csrf_token(client, "/mes-trajets/nouveau")
    statuses = [client.post("/mes-trajets/nouveau", data={**regular_form(departure_time=f"0{i}:30"),
                                                          "csrf_token": token}).status_code for i in range(5)]
    assert statuses == [302] * 4 + [400]
    last = client.post("/mes-trajets/nouveau", data={**regular_form(), "csrf_token": token})
    assert "c&#39;est le maximum" in last.get_data(as_text=True) or "c'est le maximum" in last.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count(Offer.id))) == 4


def test_trip_creation_is_rate_limited_per_account(app, client, make_driver, monkeypatch):
    monkeypatch.setitem(app.config, "OFFER_CREATE_LIMIT", "3 per hour")
    user = make_driver()
    login_as(client, user)
    token = csrf_token(client, "/mes-trajets/nouveau")
    # an invalid form does not count
    assert client.post("/mes-trajets/nouveau", data={**regular_form(seats="0"), "csrf_token": token}).status_code == 400
    statuses = [client.post("/mes-trajets/nouveau", data={**regular_form(), "csrf_token": token}).status_code
                for _ in range(4)]
    assert statuses == [302, 302, 302, 429]


# --- 12. accept, read the phone, withdraw ---------------------------------------------------------

def test_withdrawals_after_accepting_are_recorded_shown_and_limited(app, client, make_driver, monkeypatch):
    monkeypatch.setitem(app.config, "DRIVER_WITHDRAW_MAX_30D", 2)
    driver = make_driver("Paul", "Rivière")
    offer = luzech_cahors(driver)
    driver_client = app.test_client()
    login_as(driver_client, driver)
    results = []
    for i in range(3):
        pax = passenger(f"+3369876{i:04d}")
        req = trip_request(pax, day=MONDAY + timedelta(days=i))
        booking = bookings.propose(bookings.Proposal(req.id, offer.id, MONDAY + timedelta(days=i)), None)
        db.session.commit()  # the console's edge commits the proposal
        token = csrf_token(driver_client, "/mes-trajets/")
        driver_client.post(f"/mes-trajets/reservations/{booking.id}/accept", data={"csrf_token": token})
        assert format_phone(pax.phone) in driver_client.get("/mes-trajets/").get_data(as_text=True)
        answer = driver_client.post(f"/mes-trajets/reservations/{booking.id}/cancel",
                                    data={"csrf_token": token, "confirm": "1"},
                                    follow_redirects=True).get_data(as_text=True)
        db.session.expire_all()
        results.append(db.session.get(type(booking), booking.id).status)
    assert results == [BookingStatus.CANCELLED_BY_DRIVER, BookingStatus.CANCELLED_BY_DRIVER,
                       BookingStatus.ACCEPTED_BY_DRIVER]
    assert "appelez l" in answer and app.config["OPERATOR_PHONE"] in answer
    entries = db.session.scalars(db.select(AuditEntry).where(AuditEntry.action == "withdrew_after_accept")).all()
    assert len(entries) == 2 and all(e.entity_id == driver.id for e in entries)
    operator, _ = create_staff("op@lotocar.fr", "O", "P", Role.OPERATOR)
    db.session.commit()  # the CLI's edge commits the account
    login_as(client, operator)
    page = client.get(f"/console/conducteurs/{driver.driver.id}").get_data(as_text=True)
    assert 'id="withdrawals"' in page and "2 retraits après acceptation" in page


def test_declining_a_proposal_is_not_a_withdrawal(app, make_driver):
    driver = make_driver()
    offer = luzech_cahors(driver)
    req = trip_request(passenger())
    booking = bookings.propose(bookings.Proposal(req.id, offer.id, MONDAY), None)
    db.session.commit()  # the console's edge commits the proposal
    c = app.test_client()
    login_as(c, driver)
    c.post(f"/mes-trajets/reservations/{booking.id}/cancel",
           data={"csrf_token": csrf_token(c, "/mes-trajets/"), "confirm": "1"})
    assert db.session.scalar(db.select(AuditEntry).where(AuditEntry.action == "withdrew_after_accept")) is None
    assert db.session.get(type(booking), booking.id).status == BookingStatus.CANCELLED_BY_DRIVER


def _accepted_booking(app, make_driver):
    driver = make_driver("Paul", "Rivière")
    offer = luzech_cahors(driver)
    req = trip_request(passenger("+33698765400"))
    booking = bookings.propose(bookings.Proposal(req.id, offer.id, MONDAY), None)
    db.session.commit()  # the console's edge commits the proposal
    c = app.test_client()
    login_as(c, driver)
    c.post(f"/mes-trajets/reservations/{booking.id}/accept", data={"csrf_token": csrf_token(c, "/mes-trajets/")})
    assert db.session.get(type(booking), booking.id).status == BookingStatus.ACCEPTED_BY_DRIVER
    return c, booking, req


def test_je_ne_peux_plus_asks_on_a_page_before_letting_a_passenger_down(app, make_driver):
    """A stray tap, or a phone without JavaScript, never cancels: "Je ne peux plus" is a link
    to a page saying who is let down, when and what follows; only its confirmation acts."""
    c, booking, req = _accepted_booking(app, make_driver)
    url = f"/mes-trajets/reservations/{booking.id}/cancel"
    mine = c.get("/mes-trajets/").get_data(as_text=True)
    assert f'href="{url}"' in mine and "data-confirm" not in mine  # no window.confirm to rely on
    sms_before = db.session.scalar(db.select(db.func.count(SmsMessage.id)))
    page = c.get(url).get_data(as_text=True)
    assert "Vous ne pouvez plus prendre Odette ?" in page
    assert "lundi 7 décembre" in page and "Douelle" in page and "Cahors" in page  # the ride in words
    assert "l&#39;équipe prévient Odette" in page or "l'équipe prévient Odette" in page
    assert "ce retrait est noté sur votre compte" in page  # he had read her phone number
    assert 'name="confirm" value="1"' in page and 'id="confirm-yes"' in page and 'id="confirm-back"' in page
    # the card's old one-step POST (no confirm) only shows the page again
    token = csrf_token(c, "/mes-trajets/")
    again = c.post(url, data={"csrf_token": token})
    assert again.status_code == 200 and "Vous ne pouvez plus prendre Odette ?" in again.get_data(as_text=True)
    # the confirmation without its CSRF token is refused
    assert c.post(url, data={"confirm": "1"}).status_code == 400
    db.session.expire_all()
    assert db.session.get(type(booking), booking.id).status == BookingStatus.ACCEPTED_BY_DRIVER
    assert db.session.scalar(db.select(AuditEntry).where(AuditEntry.action == "withdrew_after_accept")) is None
    assert db.session.scalar(db.select(db.func.count(SmsMessage.id))) == sms_before
    done = c.post(url, data={"csrf_token": token, "confirm": "1"}, follow_redirects=True).get_data(as_text=True)
    assert "l&#39;équipe prévient le passager" in done or "l'équipe prévient le passager" in done
    db.session.expire_all()
    assert db.session.get(type(booking), booking.id).status == BookingStatus.CANCELLED_BY_DRIVER
    assert db.session.scalar(db.select(db.func.count(AuditEntry.id))
                             .where(AuditEntry.action == "withdrew_after_accept")) == 1
    # once cancelled, the page is not offered again (nothing left to cancel, nothing recorded twice)
    later = c.get(url, follow_redirects=True).get_data(as_text=True)
    assert "plus en cours" in later and "Vous ne pouvez plus prendre Odette ?" not in later
    assert c.post(url, data={"csrf_token": token, "confirm": "1"}).status_code == 302
    assert db.session.scalar(db.select(db.func.count(AuditEntry.id))
                             .where(AuditEntry.action == "withdrew_after_accept")) == 1


def test_past_the_withdrawal_limit_the_page_says_so_before_he_confirms(app, make_driver, monkeypatch):
    c, booking, _ = _accepted_booking(app, make_driver)
    monkeypatch.setitem(app.config, "DRIVER_WITHDRAW_MAX_30D", 0)
    url = f"/mes-trajets/reservations/{booking.id}/cancel"
    page = c.get(url).get_data(as_text=True)
    assert 'id="withdraw-refused"' in page and app.config["OPERATOR_PHONE"] in page
    assert 'id="confirm-yes"' not in page and 'name="confirm"' not in page  # nothing to confirm
    forced = c.post(url, data={"csrf_token": csrf_token(c, "/mes-trajets/"), "confirm": "1"},
                    follow_redirects=True).get_data(as_text=True)
    assert "appelez l" in forced
    db.session.expire_all()
    assert db.session.get(type(booking), booking.id).status == BookingStatus.ACCEPTED_BY_DRIVER
    assert db.session.scalar(db.select(AuditEntry).where(AuditEntry.action == "withdrew_after_accept")) is None
