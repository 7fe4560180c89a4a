"""Nothing speaks for someone else by accident (issue #14, point 1).

- Recording a driver's or a passenger's answer is an explicit, named button, never the
  focused default: after "Proposer" the focus is on the booking's heading, so Enter pressed
  three times records nothing (checked in Chromium).
- Every cancel (by the passenger, the driver, the team; the passenger's whole request), the
  "sans solution" and the done / no-show declarations take a second, explicit step that works
  without JS: the first post changes nothing and says who will be told and how (SMS,
  automatic call, or "à appeler" when neither); the confirmed post changes the status, and
  the people told are exactly those listed.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from lotocar.auth.models import Role
from lotocar.auth.operations import create_staff
from lotocar.bookings import operations as bookings
from lotocar.bookings.models import Booking, BookingStatus
from lotocar.core.timeutil import to_local
from lotocar.extensions import db
from lotocar.notifications import worker
from lotocar.notifications.models import SmsMessage
from lotocar.requests.models import RequestStatus, TripRequest
from tests.browser_support import DESKTOP, PHONE, assert_axe_clean, shot
from tests.conftest import csrf_token, login_as
from tests.factories import MONDAY, luzech_cahors, passenger, trip_request
from tests.sms_factories import confirm, make_world

B = BookingStatus
CANCELS = ["cancel_by_passenger", "cancel_by_driver", "cancel_by_operator"]


@pytest.fixture
def operator(app):
    user, _ = create_staff("op@lotocar.fr", "Sophie", "Martin", Role.OPERATOR, password="motdepasse-solide")
    db.session.commit()
    return user


@pytest.fixture
def op_client(client, operator):
    login_as(client, operator)
    return client


def token(client) -> str:
    return csrf_token(client, "/console/appel?q=zzzz")


def status_of(booking_id: int) -> BookingStatus:
    db.session.expire_all()
    return db.session.get(Booking, booking_id).status


def message_rows(booking_id: int) -> list[SmsMessage]:
    db.session.expire_all()
    return list(db.session.scalars(db.select(SmsMessage).where(SmsMessage.booking_id == booking_id)
                                   .order_by(SmsMessage.id)))


def autofocused(html: str) -> list[str]:
    return re.findall(r"<[^>]*\bautofocus\b[^>]*>", html)


def sent_world(app, confirmed: bool = True, **kwargs):
    """A booking whose proposal (and confirmation) SMS went out: both people know of it."""
    w = make_world(**kwargs)
    worker.run_once(app)
    if confirmed:
        confirm(w)
        worker.run_once(app)
    return w


# --- the booking page: explicit answers, a safe focus -----------------------------------------

def test_after_proposing_the_focus_is_on_the_state_never_on_an_answer(op_client, make_driver):
    driver = make_driver("Nathalie", "Rességuier")
    offer = luzech_cahors(driver)
    req = trip_request(passenger())
    r = op_client.post(f"/console/demandes/{req.id}/proposer", data={
        "csrf_token": token(op_client), "offer_id": str(offer.id), "date": MONDAY.isoformat()},
        follow_redirects=True)
    html = r.get_data(as_text=True)
    booking = db.session.scalar(db.select(Booking))
    assert booking.status == B.PROPOSED
    [focus] = autofocused(html)
    assert focus.startswith("<h1") and 'tabindex="-1"' in focus  # the heading: Enter does nothing
    assert "En attente de la réponse de Nathalie Rességuier" in html
    assert "J&#39;ai appelé Nathalie : c&#39;est oui" in html and "J&#39;ai appelé Nathalie : c&#39;est non" in html
    assert "Il peut aussi répondre par le lien de son SMS" in html
    assert "Retour à la demande" in html
    # once accepted: confirming is a named step, not focused either
    op_client.post(f"/console/reservations/{booking.id}/accept", data={"csrf_token": token(op_client)})
    html = op_client.get(f"/console/reservations/{booking.id}").get_data(as_text=True)
    [focus] = autofocused(html)
    assert focus.startswith("<h1")
    assert "Nathalie a accepté." in html and "confirmer le trajet à Odette Marty" in html
    # Odette has neither SMS nor automatic calls: the operator phones her, and the page says so
    assert "J&#39;ai appelé Odette : je lui confirme le trajet" in html
    assert "À appeler par vous : Odette Marty" in html
    assert "Le conducteur Nathalie Rességuier (SMS) sera prévenu·e." in html


def test_confirm_wording_when_the_passenger_gets_sms(app, op_client):
    w = make_world()
    bookings.transition(w.booking_id, "accept", None)
    db.session.commit()
    html = op_client.get(f"/console/reservations/{w.booking_id}").get_data(as_text=True)
    assert "Confirmer le trajet à Marie" in html
    assert "Marie Dupuy (SMS) et le conducteur Jean Delmas (SMS) seront prévenus." in html
    assert "À appeler par vous" not in html
    op_client.post(f"/console/reservations/{w.booking_id}/confirm", data={"csrf_token": token(op_client)})
    assert status_of(w.booking_id) == B.CONFIRMED
    told = sorted(m.recipient for m in message_rows(w.booking_id) if m.kind == "confirmed")
    assert told == ["driver", "passenger"]


def test_same_day_arrival_is_not_dated_twice(app, op_client):
    w = make_world()
    html = op_client.get(f"/console/reservations/{w.booking_id}").get_data(as_text=True)
    booking = db.session.get(Booking, w.booking_id)
    if booking.dropoff_at is None:  # make_world proposes directly: give it the candidate's drop-off
        booking.dropoff_at = booking.pickup_at + timedelta(minutes=25)
        db.session.commit()
        html = op_client.get(f"/console/reservations/{w.booking_id}").get_data(as_text=True)
    arrival = to_local(booking.dropoff_at)
    line = re.search(r"Prise en charge : .*?</li>", html).group(0)
    assert f"arrivée vers {arrival:%H:%M}</li>" in line
    assert len(re.findall(r"\b20\d\d\b", line)) == 1  # the date once, not repeated for the arrival


# --- every cancel asks first, and says who will be told ---------------------------------------

@pytest.mark.parametrize("action", CANCELS)
def test_each_cancel_needs_the_confirmation_step(app, op_client, action):
    w = sent_world(app)
    before = len(message_rows(w.booking_id))
    url = f"/console/reservations/{w.booking_id}/{action}"
    # the first post: a question, nothing changed, nothing queued
    asked = op_client.post(url, data={"csrf_token": token(op_client)})
    html = asked.get_data(as_text=True)
    assert asked.status_code == 200 and "Annuler la réservation" in html
    assert status_of(w.booking_id) == B.CONFIRMED and len(message_rows(w.booking_id)) == before
    assert "Marie Dupuy (SMS) et le conducteur Jean Delmas (SMS) seront prévenus." in html
    [focus] = autofocused(html)
    assert focus.startswith("<h1")  # not on "Oui, annuler"
    assert 'name="confirmed" value="1"' in html and "Non, revenir à la réservation" in html
    # a post without the confirmation, by hand, again: still nothing
    op_client.post(url, data={"csrf_token": token(op_client), "confirmed": "0"})
    assert status_of(w.booking_id) == B.CONFIRMED
    # confirmed: the status changes and exactly the people listed are told
    op_client.post(url, data={"csrf_token": token(op_client), "confirmed": "1", "reason": "Au téléphone"})
    assert status_of(w.booking_id) == {"cancel_by_passenger": B.CANCELLED_BY_PASSENGER,
                                       "cancel_by_driver": B.CANCELLED_BY_DRIVER,
                                       "cancel_by_operator": B.CANCELLED_BY_OPERATOR}[action]
    cancelled = message_rows(w.booking_id)[before:]
    assert sorted((m.recipient, m.channel.value) for m in cancelled if m.kind == "cancelled") == \
        [("driver", "sms"), ("passenger", "sms")]
    assert db.session.get(Booking, w.booking_id).status_reason == "Au téléphone"


def test_cancel_before_anyone_was_told_says_so(app, op_client):
    """The proposal SMS not sent yet (queued): it is withdrawn, nobody is told — and the page
    says it instead of promising messages."""
    w = make_world()
    url = f"/console/reservations/{w.booking_id}/cancel_by_operator"
    html = op_client.post(url, data={"csrf_token": token(op_client)}).get_data(as_text=True)
    assert "Aucun message automatique ne partira." in html
    op_client.post(url, data={"csrf_token": token(op_client), "confirmed": "1"})
    assert status_of(w.booking_id) == B.CANCELLED_BY_OPERATOR
    assert [m for m in message_rows(w.booking_id) if m.kind == "cancelled"] == []


def test_cancel_of_a_proposal_tells_only_the_driver(app, op_client):
    w = sent_world(app, confirmed=False)  # the driver got the proposal; Marie heard of nothing yet
    url = f"/console/reservations/{w.booking_id}/cancel_by_operator"
    html = op_client.post(url, data={"csrf_token": token(op_client)}).get_data(as_text=True)
    assert "Le conducteur Jean Delmas (SMS) sera prévenu·e." in html and "Marie Dupuy (SMS)" not in html
    op_client.post(url, data={"csrf_token": token(op_client), "confirmed": "1"})
    assert [m.recipient for m in message_rows(w.booking_id) if m.kind == "cancelled"] == ["driver"]


def test_driver_who_accepted_by_phone_is_told_of_the_cancel(app, op_client):
    """He said yes on the phone before his proposal SMS left (withdrawn then): he knows of the
    ride, so he is told when it is cancelled — and the page says so."""
    w = make_world()
    op_client.post(f"/console/reservations/{w.booking_id}/accept", data={"csrf_token": token(op_client)})
    assert status_of(w.booking_id) == B.ACCEPTED_BY_DRIVER
    url = f"/console/reservations/{w.booking_id}/cancel_by_operator"
    html = op_client.post(url, data={"csrf_token": token(op_client)}).get_data(as_text=True)
    assert "Le conducteur Jean Delmas (SMS) sera prévenu·e." in html and "Marie" not in html.split("data-told>")[1][:80]
    op_client.post(url, data={"csrf_token": token(op_client), "confirmed": "1"})
    assert [m.recipient for m in message_rows(w.booking_id) if m.kind == "cancelled"] == ["driver"]


def test_passenger_without_sms_nor_call_is_to_be_phoned(app, op_client):
    w = sent_world(app, passenger_consent=False)  # confirmed to her by phone
    url = f"/console/reservations/{w.booking_id}/cancel_by_driver"
    html = op_client.post(url, data={"csrf_token": token(op_client)}).get_data(as_text=True)
    assert "Le conducteur Jean Delmas (SMS) sera prévenu·e." in html
    assert "À appeler par vous : Marie Dupuy (ni SMS ni appel automatique possible)." in html
    op_client.post(url, data={"csrf_token": token(op_client), "confirmed": "1"})
    assert [m.recipient for m in message_rows(w.booking_id) if m.kind == "cancelled"] == ["driver"]
    request = db.session.get(TripRequest, w.request_id)
    assert request.flag == "call_needed" and "Marie" in request.flag_detail  # on the call list


def test_voice_passenger_is_told_by_automatic_call(app, op_client, monkeypatch):
    monkeypatch.setitem(app.config, "VOICE_ENABLED", True)
    from lotocar.notifications import calls
    if not calls.voice_available():
        pytest.skip("voice gateway not available in this configuration")
    w = sent_world(app, passenger_mobile=False, passenger_consent=False, passenger_call_consent=True)
    html = op_client.post(f"/console/reservations/{w.booking_id}/cancel_by_operator",
                          data={"csrf_token": token(op_client)}).get_data(as_text=True)
    assert "Marie Dupuy (appel automatique)" in html


def test_passenger_cancels_her_request_after_a_confirmation(app, op_client):
    w = sent_world(app)
    url = f"/console/demandes/{w.request_id}/annuler"
    page = op_client.get(f"/console/demandes/{w.request_id}").get_data(as_text=True)
    assert "Le passager annule sa demande" in page and "data-confirm=" not in page  # a real step, not window.confirm
    html = op_client.post(url, data={"csrf_token": token(op_client)}).get_data(as_text=True)
    assert "Le passager annule sa demande ?" in html and "sera annulée" in html
    assert "Marie Dupuy (SMS) et le conducteur Jean Delmas (SMS) seront prévenus." in html
    assert status_of(w.booking_id) == B.CONFIRMED
    assert db.session.get(TripRequest, w.request_id).status == RequestStatus.BOOKED
    op_client.post(url, data={"csrf_token": token(op_client), "confirmed": "1"})
    assert status_of(w.booking_id) == B.CANCELLED_BY_PASSENGER
    assert db.session.get(TripRequest, w.request_id).status == RequestStatus.CANCELLED
    assert sorted(m.recipient for m in message_rows(w.booking_id) if m.kind == "cancelled") == ["driver", "passenger"]


def test_waiting_request_cancel_and_unmet_ask_first(op_client):
    req = trip_request(passenger())
    html = op_client.post(f"/console/demandes/{req.id}/annuler",
                          data={"csrf_token": token(op_client)}).get_data(as_text=True)
    assert "Aucun message automatique ne partira (aucun conducteur n&#39;est concerné)." in html
    assert db.session.get(TripRequest, req.id).status == RequestStatus.OPEN
    data = {"csrf_token": token(op_client), "reason": "Aucun conducteur sur ce trajet", "detail": "rappeler"}
    html = op_client.post(f"/console/demandes/{req.id}/sans-solution", data=data).get_data(as_text=True)
    assert "Classer la demande sans solution ?" in html and "Odette Marty n&#39;est pas prévenu·e automatiquement" in html
    assert 'name="reason" value="Aucun conducteur sur ce trajet"' in html  # carried to the second step
    db.session.expire_all()
    assert db.session.get(TripRequest, req.id).status == RequestStatus.OPEN
    op_client.post(f"/console/demandes/{req.id}/sans-solution", data={**data, "confirmed": "1"})
    db.session.expire_all()
    assert db.session.get(TripRequest, req.id).status == RequestStatus.UNMET


@pytest.mark.parametrize("action, final", [("done", B.DONE), ("no_show", B.NO_SHOW)])
def test_done_and_no_show_ask_first(app, op_client, travel, action, final):
    w = sent_world(app)
    pickup = to_local(db.session.get(Booking, w.booking_id).pickup_at)
    travel(pickup + timedelta(hours=1))
    url = f"/console/reservations/{w.booking_id}/{action}"
    html = op_client.post(url, data={"csrf_token": token(op_client)}).get_data(as_text=True)
    assert "Aucun message automatique ne partira." in html
    assert status_of(w.booking_id) == B.CONFIRMED
    op_client.post(url, data={"csrf_token": token(op_client), "confirmed": "1"})
    assert status_of(w.booking_id) == final


def test_too_early_is_said_at_the_first_step(app, op_client):
    w = sent_world(app)
    r = op_client.post(f"/console/reservations/{w.booking_id}/done", data={"csrf_token": token(op_client)},
                       follow_redirects=True)
    assert "à partir du jour du trajet" in r.get_data(as_text=True)
    assert status_of(w.booking_id) == B.CONFIRMED


# --- in Chromium: Enter pressed three times after "Proposer" -----------------------------------

def _login(page, live_server):
    page.goto(live_server + "/connexion/equipe")
    page.fill("#email", "op@lotocar.fr")
    page.fill("#password", "motdepasse-solide")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/console/$"))


def test_three_enters_after_proposer_never_confirm_a_ride(app, live_server, browser, operator, make_driver):
    luzech_cahors(make_driver("Nathalie", "Rességuier"))
    req = trip_request(passenger())
    ctx = browser.new_context(viewport=DESKTOP, locale="fr-FR", timezone_id="Europe/Paris")
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _login(page, live_server)
    page.goto(f"{live_server}/console/demandes/{req.id}")
    page.wait_for_selector(".candidate")
    assert page.evaluate("document.activeElement.textContent").startswith("Proposer à Nathalie")
    page.keyboard.press("Enter")  # "Proposer à Nathalie" has the focus: the driver is asked
    page.wait_for_url(re.compile(r"/console/reservations/\d+$"))
    booking = db.session.scalar(db.select(Booking).where(Booking.request_id == req.id))
    assert status_of(booking.id) == B.PROPOSED
    assert page.evaluate("document.activeElement.id") == "booking-title"
    for _ in range(3):  # the operator keeps pressing Enter
        page.keyboard.press("Enter")
        page.wait_for_timeout(150)
    page.wait_for_load_state()
    assert page.url.endswith(f"/console/reservations/{booking.id}")
    assert status_of(booking.id) == B.PROPOSED
    shot(page, "safety-booking-proposed-1280")
    assert_axe_clean(page, "reservation")
    # the driver's answer, recorded explicitly; then Enter again: nothing more happens
    page.click("button:has-text(\"J'ai appelé Nathalie : c'est oui\")")
    page.wait_for_selector("text=Nathalie a accepté.")
    assert status_of(booking.id) == B.ACCEPTED_BY_DRIVER
    assert page.evaluate("document.activeElement.id") == "booking-title"
    for _ in range(3):
        page.keyboard.press("Enter")
        page.wait_for_timeout(150)
    assert status_of(booking.id) == B.ACCEPTED_BY_DRIVER  # not confirmed to the passenger
    # a cancel shows its confirmation step; Enter there does nothing either
    page.click("button:has-text(\"Annulation par l'équipe\")")
    page.wait_for_selector("text=Annuler la réservation (décision de l'équipe) ?")
    assert page.evaluate("document.activeElement.id") == "confirm-title"
    assert "Le conducteur Nathalie Rességuier (SMS) sera prévenu·e." in page.inner_text("[data-told]")
    assert page.query_selector("[data-to-call]") is None  # Odette was not confirmed yet: nothing to undo
    assert_axe_clean(page, "confirmation")
    for _ in range(3):
        page.keyboard.press("Enter")
        page.wait_for_timeout(150)
    assert status_of(booking.id) == B.ACCEPTED_BY_DRIVER
    shot(page, "safety-confirm-cancel-1280")
    page.click("button:has-text('Non, revenir à la réservation')") if page.query_selector(
        "button:has-text('Non, revenir')") else page.click("a:has-text('Non, revenir à la réservation')")
    page.wait_for_url(re.compile(rf"/console/reservations/{booking.id}$"))
    assert status_of(booking.id) == B.ACCEPTED_BY_DRIVER
    # the same pages on a phone: the next steps within reach, nothing focused but the heading
    phone = browser.new_context(viewport=PHONE, locale="fr-FR", timezone_id="Europe/Paris")
    small = phone.new_page()
    small.on("pageerror", lambda exc: errors.append(str(exc)))
    _login(small, live_server)
    small.goto(f"{live_server}/console/reservations/{booking.id}")
    assert small.evaluate("document.activeElement.id") == "booking-title"
    shot(small, "safety-booking-accepted-390")
    small.click("button:has-text(\"Annulation par l'équipe\")")
    small.wait_for_selector("[data-told]")
    shot(small, "safety-confirm-cancel-390")
    assert errors == []
    phone.close()
    ctx.close()
