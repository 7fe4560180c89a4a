"""Cost participation: the amount (router km × rate, rounded, within bounds), shown with each
candidate (console and API), fixed at confirmation (a later rate change never moves it), the
driver's audited choice, the passenger's exemption with its reason, the confirmation SMS and
the driver's page."""
from __future__ import annotations

import html
import math
import re

import pytest

from lotocar.audit.models import AuditEntry
from lotocar.bookings import operations as bookings
from lotocar.candidates import operations as candidates
from lotocar.contributions import operations as contrib
from lotocar.contributions.models import BookingContribution
from lotocar.contributions.pricing import Settings, amount_cents, format_eur
from lotocar.extensions import db
from lotocar.notifications import worker
from lotocar.notifications.gsm import segments
from lotocar.notifications.texts import render
from matching.geo import Point, haversine_km
from tests.conftest import csrf_token, login_as
from tests.factories import MONDAY, commune, luzech_cahors, passenger, trip_request
from tests.test_sms_texts import LONG


def expected_cents(km: float, rate=0.10, step=0.50, low=1.0, high=10.0) -> int:
    """An independent statement of the rule: nearest step (half up), then the bounds."""
    euros = math.floor(km * rate / step + 0.5) * step
    return int(round(min(max(euros, low), high) * 100))


def douelle_cahors_km(app) -> float:
    d, c = commune("46088"), commune("46042")
    return haversine_km(Point(d.lat, d.lon), Point(c.lat, c.lon)) * app.config["ROUTER_CIRCUITY"]


@pytest.mark.parametrize("km,cents", [(22.0, 200), (23.0, 250), (22.5, 250), (3.0, 100), (0.4, 100),
                                      (140.0, 1000), (61.2, 600)])
def test_amount_is_km_times_rate_rounded_within_bounds(km, cents):
    assert amount_cents(km, Settings()) == cents == expected_cents(km)


def test_amount_settings_rate_bounds_rounding_and_off():
    assert amount_cents(22.0, Settings(eur_per_km=0.2)) == 450
    assert amount_cents(22.0, Settings(rounding_eur=0.1)) == 220
    assert amount_cents(22.0, Settings(rounding_eur=0)) == 220
    assert amount_cents(50.0, Settings(max_eur=4.0)) == 400
    assert amount_cents(5.0, Settings(min_eur=2.0)) == 200
    assert amount_cents(22.0, Settings(enabled=False)) == 0
    assert amount_cents(0.0, Settings()) == 0
    assert format_eur(250) == "2,50 €" and format_eur(1000) == "10,00 €"


def _candidate_world(make_driver):
    driver = make_driver()
    offer = luzech_cahors(driver)
    req = trip_request(passenger())  # Douelle → Cahors, Monday 8:30
    return driver, offer, req


def test_candidate_shows_the_amount_to_the_operator(app, client, make_driver, staff):
    driver, offer, req = _candidate_world(make_driver)
    cents = expected_cents(douelle_cahors_km(app))
    [item] = candidates.ranked_candidates(req)["candidates"]
    assert item["contribution_eur"] == cents / 100 and item["contribution_basis"] == "suggested"
    assert item["passenger_km"] == round(douelle_cahors_km(app), 1)
    login_as(client, staff["operator"])
    page = client.get(f"/console/demandes/{req.id}").get_data(as_text=True)
    assert f"Participation : <strong>{format_eur(cents)} (participation suggérée)</strong>" in page


def test_api_candidates_and_bookings_carry_contribution_eur(app, api, make_driver):
    driver, offer, req = _candidate_world(make_driver)
    cents = expected_cents(douelle_cahors_km(app))
    body = api.get(f"/api/v1/requests/{req.id}/candidates").get_json()  # checked against the document
    assert body["candidates"][0]["contribution_eur"] == round(cents / 100, 2)
    created = api.post("/api/v1/bookings", {"request_id": req.id, "offer_id": offer.id,
                                            "date": MONDAY.isoformat()}).get_json()
    assert created["contribution_eur"] == cents / 100 and created["contribution_fixed"] is False
    api.post(f"/api/v1/bookings/{created['id']}/accept", {})
    confirmed = api.post(f"/api/v1/bookings/{created['id']}/confirm", {}).get_json()
    assert confirmed["contribution_eur"] == cents / 100 and confirmed["contribution_fixed"] is True
    doc = api.client.get("/api/openapi.json").get_json()
    for schema in ("Candidate", "Booking"):
        prop = doc["components"]["schemas"][schema]["properties"]["contribution_eur"]
        assert prop["type"] == "number" and "2 decimals" in prop["description"]
    assert "contribution_eur" in doc["components"]["schemas"]["Booking"]["required"]


def _confirm(req, offer, actor=None):
    """Propose, accept, confirm: three actions, each committed at its edge."""
    booking = candidates.propose_candidate(req, offer.id, MONDAY, actor)
    db.session.commit()
    bookings.transition(booking.id, "accept", actor)
    db.session.commit()
    bookings.transition(booking.id, "confirm", actor)
    db.session.commit()
    return booking


def test_fixed_at_confirmation_and_rate_changes_never_move_it(app, make_driver):
    driver, offer, req = _candidate_world(make_driver)
    cents = expected_cents(douelle_cahors_km(app))
    booking = candidates.propose_candidate(req, offer.id, MONDAY, None)
    assert db.session.get(BookingContribution, booking.id) is None  # a proposal fixes nothing
    bookings.transition(booking.id, "accept", None)
    bookings.transition(booking.id, "confirm", None)
    row = db.session.get(BookingContribution, booking.id)
    assert (row.amount_cents, row.basis, row.eur_per_km) == (cents, "suggested", 0.10)
    assert row.km == pytest.approx(douelle_cahors_km(app), abs=0.001)
    old = dict(app.config)
    try:
        app.config.update(CONTRIBUTION_EUR_PER_KM=0.30, CONTRIBUTION_MAX_EUR=20.0)
        assert contrib.for_booking(booking).amount_cents == cents  # confirmed: untouched
        other = trip_request(passenger("+33698765400"))
        [cand] = candidates.ranked_candidates(other)["candidates"]
        assert cand["contribution_eur"] == expected_cents(douelle_cahors_km(app), rate=0.30, high=20.0) / 100
        contrib.set_driver_mode(driver.driver.id, "free", None)
        assert contrib.for_booking(booking).amount_cents == cents  # the driver's later choice neither
    finally:
        app.config.clear()
        app.config.update(old)


def test_driver_choice_on_his_page_and_by_an_operator_is_audited(app, client, make_driver, staff):
    driver, offer, req = _candidate_world(make_driver)
    login_as(client, driver)
    page = client.get("/mes-trajets/").get_data(as_text=True)
    assert "Participation aux frais" in page and "Mon choix : <strong>Participation suggérée</strong>" in page
    response = client.post("/mes-trajets/participation", data={"mode": "free", "csrf_token": csrf_token(client, "/mes-trajets/")})
    assert response.status_code == 302
    assert contrib.driver_mode(driver.driver.id) == "free"
    [cand] = candidates.ranked_candidates(req)["candidates"]
    assert cand["contribution_eur"] == 0 and cand["contribution_label"] == "Gratuit (choix du conducteur)"
    bad = client.post("/mes-trajets/participation", data={"mode": "cher", "csrf_token": csrf_token(client, "/mes-trajets/")},
                      follow_redirects=True)
    assert bad.status_code == 200 and "Choisissez « Gratuit » ou « Participation suggérée »" in html.unescape(bad.get_data(as_text=True))
    assert contrib.driver_mode(driver.driver.id) == "free"
    # an operator sets it back, from the driver's console page
    login_as(client, staff["operator"])
    token = csrf_token(client, f"/console/conducteurs/{driver.driver.id}")
    client.post(f"/console/conducteurs/{driver.driver.id}/participation", data={"mode": "suggested", "csrf_token": token})
    assert contrib.driver_mode(driver.driver.id) == "suggested"
    entries = db.session.scalars(db.select(AuditEntry).where(
        AuditEntry.entity == "driver", AuditEntry.action == "contribution_mode").order_by(AuditEntry.id)).all()
    assert [(e.actor_id, e.changes["mode"]) for e in entries] == [
        (driver.id, ["suggested", "free"]), (staff["operator"].id, ["free", "suggested"])]


def test_exempt_passenger_pays_nothing_and_the_reason_is_recorded(app, client, make_driver, staff):
    driver, offer, req = _candidate_world(make_driver)
    login_as(client, staff["operator"])
    page = f"/console/passagers/{req.passenger_id}"
    no_reason = client.post(f"{page}/exoneration", data={"exempt": "y", "reason": "  ", "csrf_token": csrf_token(client, page)},
                            follow_redirects=True)
    assert "Indiquez le motif de l'exonération" in html.unescape(no_reason.get_data(as_text=True))
    assert contrib.exemption(req.passenger_id) is None
    client.post(f"{page}/exoneration", data={"exempt": "y", "reason": "Critères sociaux (orientation CCAS)",
                                             "csrf_token": csrf_token(client, page)})
    assert contrib.exemption(req.passenger_id).reason == "Critères sociaux (orientation CCAS)"
    assert "Exonéré·e" in client.get(page).get_data(as_text=True)
    [cand] = candidates.ranked_candidates(req)["candidates"]
    assert cand["contribution_eur"] == 0 and cand["contribution_basis"] == "exempt"
    booking = _confirm(req, offer)
    row = db.session.get(BookingContribution, booking.id)
    assert (row.amount_cents, row.basis, row.exempt_reason) == (0, "exempt", "Critères sociaux (orientation CCAS)")
    entry = db.session.scalar(db.select(AuditEntry).where(AuditEntry.action == "contribution_exempt"))
    assert entry.actor_id == staff["operator"].id and entry.reason == "Critères sociaux (orientation CCAS)"
    # lifting it: the confirmed booking keeps its amount (0), a new request is quoted again
    client.post(f"{page}/exoneration", data={"reason": "", "csrf_token": csrf_token(client, page)})
    assert contrib.exemption(req.passenger_id) is None
    assert contrib.for_booking(booking).amount_cents == 0


def test_confirmation_sms_states_the_amount(app, sms, make_driver):
    driver, offer, req = _candidate_world(make_driver)
    db.session.get(type(req.passenger), req.passenger_id).sms_consent_at = req.created_at
    db.session.commit()
    cents = expected_cents(douelle_cahors_km(app))
    _confirm(req, offer)
    worker.run_once(app)
    text = sms.last_to(req.passenger.phone).body
    assert f"Participation suggérée : {format_eur(cents)} au conducteur." in text
    assert segments(text).encoding == "GSM-7" and segments(text).segments <= 2


def test_free_ride_confirmation_says_so_and_long_texts_fit_two_segments():
    from dataclasses import replace

    assert "Trajet gratuit." in render("confirmed", "passenger", LONG)
    longest = render("confirmed", "passenger", replace(LONG, contribution=contrib.sms_phrase(
        contrib.Quote(1000, 100.0, "suggested", 0.1))))
    assert "Participation suggérée : 10,00 € au conducteur." in longest
    info = segments(longest)
    assert info.encoding == "GSM-7" and info.segments <= 2, (len(longest), longest)


def test_driver_page_and_console_booking_show_the_amount(app, client, make_driver, staff):
    driver, offer, req = _candidate_world(make_driver)
    cents = expected_cents(douelle_cahors_km(app))
    booking = _confirm(req, offer)
    login_as(client, driver)
    page = client.get("/mes-trajets/").get_data(as_text=True)
    assert re.search(rf'data-contribution="{cents / 100:.2f}">Participation : <strong>{format_eur(cents)}', page)
    login_as(client, staff["operator"])
    page = client.get(f"/console/reservations/{booking.id}").get_data(as_text=True)
    assert f"{format_eur(cents)} (participation suggérée)</strong>, fixée à la confirmation" in page


def test_service_off_means_free_everywhere(app, make_driver):
    driver, offer, req = _candidate_world(make_driver)
    app.config["CONTRIBUTION_ENABLED"] = False
    try:
        [cand] = candidates.ranked_candidates(req)["candidates"]
        assert cand["contribution_eur"] == 0 and cand["contribution_basis"] == "service_off"
        booking = _confirm(req, offer)
        assert db.session.get(BookingContribution, booking.id).amount_cents == 0
    finally:
        app.config["CONTRIBUTION_ENABLED"] = True


def test_erasure_removes_the_exemption_reason(app, make_driver):
    from lotocar.privacy import operations as privacy

    driver, offer, req = _candidate_world(make_driver)
    contrib.set_exemption(req.passenger_id, True, "Minima sociaux", None)
    db.session.commit()
    booking = _confirm(req, offer)
    assert privacy.export_passenger(req.passenger_id)["contribution_exemption"][0]["reason"] == "Minima sociaux"
    privacy.anonymise_passenger(req.passenger_id, None, "Demande écrite")
    db.session.expire_all()
    assert contrib.exemption(req.passenger_id) is None
    assert db.session.get(BookingContribution, booking.id).exempt_reason is None
    assert all(e.reason is None for e in db.session.scalars(
        db.select(AuditEntry).where(AuditEntry.action == "contribution_exempt")))
