"""The whole journey in a real browser (Debian's Chromium, Playwright), on the app served
on loopback, with the SMS worker draining the outbox through the development gateway:

driver signs up and posts a regular trip → operator takes a call, registers the passenger
with her request, proposes the best driver (interactions counted from the "new call" page)
→ the driver accepts from the link in his SMS → the operator confirms → the passenger is
confirmed and her SMS goes out. Screenshots of each step in test-artifacts/screenshots/e2e-*,
and an axe-core accessibility check of every page on the way (no violation at all).
"""
from __future__ import annotations

import json
import re
import time
from datetime import time as dtime
from datetime import timedelta


from lotocar.bookings.models import Booking, BookingStatus
from lotocar.extensions import db
from lotocar.requests.models import RequestStatus, TripRequest
from tests.browser_support import DESKTOP, PHONE, assert_axe_clean, shot

ARTIFACTS = "test-artifacts"


class Counter:
    """Counts the operator's interactions: every click and every field filled or key pressed."""

    def __init__(self, page):
        self.page = page
        self.count = 0
        self.log: list[str] = []

    def click(self, selector: str) -> None:
        self.page.click(selector)
        self._note(f"click {selector}")

    def fill(self, selector: str, value: str) -> None:
        self.page.fill(selector, value)
        self._note(f"fill {selector}")

    def check(self, selector: str) -> None:
        self.page.check(selector, force=True)
        self._note(f"check {selector}")

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)
        self._note(f"key {key}")

    def _note(self, what: str) -> None:
        self.count += 1
        self.log.append(what)


def drain_outbox(app) -> None:
    from lotocar.notifications.worker import run_until_idle

    run_until_idle(app, worker_id="e2e", max_seconds=30)


def test_full_journey(app, live_server, browser, sms, tmp_path, monkeypatch):  # noqa: F811
    from pathlib import Path

    from lotocar.core.timeutil import today_local

    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", live_server)
    monkeypatch.setitem(app.config, "SMS_QUIET_HOURS", "off")
    axe: dict = {}
    errors: list[str] = []

    # --- 1. a driver signs up on his phone and posts a regular trip ---------------------------
    driver_ctx = browser.new_context(viewport=PHONE, locale="fr-FR", timezone_id="Europe/Paris")
    dp = driver_ctx.new_page()
    dp.on("pageerror", lambda exc: errors.append(str(exc)))
    dp.goto(live_server + "/inscription")
    assert_axe_clean(dp, "inscription", axe)
    dp.fill("#first_name", "Nathalie")
    dp.fill("#last_name", "Rességuier")
    dp.fill("#phone", "06 12 34 56 78")
    dp.fill("#home", "Luzech (46140)")
    dp.check("#consent_contact", force=True)
    shot(dp, "e2e-01-driver-signup")
    dp.click("button:has-text('Recevoir mon code')")
    dp.wait_for_url(re.compile(r"/inscription/code$"))
    code = re.search(r"\d{6}", sms.last_to("+33612345678").body).group(0)
    dp.fill("#code", code)
    dp.click("button:has-text('Valider')")
    dp.wait_for_url(re.compile(r"/mes-trajets/$"))
    dp.goto(live_server + "/mes-trajets/nouveau")
    assert_axe_clean(dp, "trajet-nouveau", axe)
    dp.fill("#destination", "Cahors (46000)")
    dp.fill("#departure_time", "07:45")
    for day in range(5):
        dp.check(f"#weekdays-{day}", force=True)
    dp.fill("#last_date", (today_local() + timedelta(days=60)).isoformat())
    dp.click("button:has-text('Publier mon trajet')")
    dp.wait_for_url(re.compile(r"/mes-trajets/$"))
    assert "Luzech → Cahors" in dp.content()
    assert_axe_clean(dp, "mes-trajets", axe)
    shot(dp, "e2e-02-driver-trip-posted")

    # --- 2. an operator takes the call --------------------------------------------------------
    from lotocar.auth.models import Role
    from lotocar.auth.operations import create_staff

    create_staff("sophie@lotocar.fr", "Sophie", "Martin", Role.OPERATOR, password="motdepasse-solide")
    db.session.commit()
    op_ctx = browser.new_context(viewport=DESKTOP, locale="fr-FR", timezone_id="Europe/Paris")
    op = op_ctx.new_page()
    op.on("pageerror", lambda exc: errors.append(str(exc)))
    op.goto(live_server + "/connexion/equipe")
    op.fill("#email", "sophie@lotocar.fr")
    op.fill("#password", "motdepasse-solide")
    op.keyboard.press("Enter")
    op.wait_for_url(re.compile(r"/console/$"))
    assert_axe_clean(op, "console-files", axe)

    op.click("a:has-text('Nouvel appel')")  # the phone rings: the clock starts here
    op.wait_for_url(re.compile(r"/console/appel$"))
    started = time.perf_counter()
    ops = Counter(op)
    ops.fill("#q", "06 98 76 54 32")
    ops.press("Enter")
    op.wait_for_selector("text=Nouveau passager")
    assert_axe_clean(op, "console-appel", axe)
    ops.fill("#first_name", "Odette")
    ops.fill("#last_name", "Marty")
    ops.fill("#home", "Douelle")
    ops.check("#has_no_car")
    ops.check("#sms_consent")
    ops.fill("#d-destination", "Cahors")
    # the date defaults to tomorrow (a Wednesday: the driver's weekdays), "arrive by" is the default
    assert op.input_value("#d-day") == (today_local() + timedelta(days=1)).isoformat()
    ops.fill("#d-at", "08:30")
    shot(op, "e2e-03-operator-new-call")
    ops.press("Enter")  # submits the form from the time field (no return time: one-way)
    op.wait_for_url(re.compile(r"/console/demandes/\d+$"))
    op.wait_for_selector(".candidate")
    shot(op, "e2e-04-operator-candidates")
    assert_axe_clean(op, "console-demande", axe)
    ops.press("Enter")  # the best driver's "Proposer" button has the focus
    op.wait_for_url(re.compile(r"/console/reservations/\d+$"))
    asked_after = time.perf_counter() - started
    assert "Proposée au conducteur" in op.content()
    shot(op, "e2e-05-operator-driver-asked")
    assert_axe_clean(op, "console-reservation", axe)
    assert ops.count <= 12, ops.log  # issue #14: one-way <= 12 (11 today: the date is the default)
    assert db.session.scalar(db.select(db.func.count()).select_from(TripRequest)) == 1  # no return asked

    # --- 3. the driver answers from the link in his SMS ---------------------------------------
    drain_outbox(app)
    proposal = sms.last_to("+33612345678")
    link = re.search(r"https?://\S+/r/\S+", proposal.body)
    assert link, proposal.body
    dp.goto(link.group(0))
    assert "Acceptez-vous de prendre" in dp.content()
    assert_axe_clean(dp, "lien-sms", axe)
    shot(dp, "e2e-06-driver-sms-link")
    dp.click("button:has-text('Oui')")
    dp.wait_for_load_state()
    shot(dp, "e2e-07-driver-accepted")
    booking = db.session.scalar(db.select(Booking))
    assert booking.status == BookingStatus.ACCEPTED_BY_DRIVER

    # --- 4. the operator confirms to the passenger --------------------------------------------
    op.reload()
    assert op.evaluate("document.activeElement.id") == "booking-title"  # never the confirm button (issue #14)
    op.click("button:has-text('Confirmer le trajet à Odette')")
    op.wait_for_selector("text=Confirmée")
    shot(op, "e2e-08-operator-confirmed")
    db.session.expire_all()
    booking = db.session.get(Booking, booking.id)
    assert booking.status == BookingStatus.CONFIRMED
    assert db.session.get(TripRequest, booking.request_id).status == RequestStatus.BOOKED
    drain_outbox(app)
    to_passenger = sms.last_to("+33698765432")
    assert to_passenger is not None and "Nathalie" in to_passenger.body
    # and the driver now sees his passenger, with her phone
    dp.goto(live_server + "/mes-trajets/")
    assert "Odette" in dp.content() and "06 98 76 54 32" in dp.content()
    shot(dp, "e2e-09-driver-sees-passenger")

    assert errors == []
    out = Path(__file__).resolve().parent.parent / ARTIFACTS
    out.mkdir(exist_ok=True)
    (out / "e2e-journey.json").write_text(json.dumps({
        "operator_interactions": ops.count, "operator_steps": ops.log,
        "seconds_new_call_to_driver_asked": round(asked_after, 2), "axe": axe,
    }, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"\nE2E operator: {ops.count} interactions, {asked_after:.1f} s from 'new call' to 'driver asked'")
    driver_ctx.close()
    op_ctx.close()


def test_round_trip_journey(app, live_server, browser, sms, monkeypatch):
    """A new passenger's round trip, from "Nouvel appel" to both drivers asked: one form
    (the return time in it), the outbound proposed, then straight on to the return's
    candidates and its driver proposed — every click, fill and key press counted."""
    from pathlib import Path

    from lotocar.auth.models import Role, User
    from lotocar.auth.operations import create_staff
    from lotocar.core import tx
    from lotocar.core.timeutil import today_local, utcnow
    from lotocar.drivers.models import Driver
    from lotocar.offers import operations as offer_ops
    from lotocar.offers.rules import OfferInput
    from tests.factories import commune

    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", live_server)
    monkeypatch.setitem(app.config, "SMS_QUIET_HOURS", "off")
    errors: list[str] = []
    axe: dict = {}
    today = today_local()

    def regular(first: str, phone: str, origin: str, destination: str, at):
        user = User(role=Role.DRIVER, first_name=first, last_name="Conducteur", phone=phone,
                    phone_verified_at=utcnow())
        user.driver = Driver(home_insee=origin, consent_contact=True, consent_at=utcnow())
        db.session.add(user)
        db.session.commit()
        data = OfferInput(kind="regular", origin=offer_ops.place_input(commune(origin), None, None, None),
                          destination=offer_ops.place_input(commune(destination), None, None, None),
                          seats=3, max_detour_min=10, departure_time=at, weekdays=frozenset({1, 2, 3, 4, 5}),
                          first_date=today, last_date=today + timedelta(days=60))
        tx.atomic(lambda: offer_ops.create_offer(user.driver, data, user.id))
        return user

    there = regular("Nathalie", "+33612345678", "46182", "46042", dtime(7, 45))  # Luzech → Cahors
    back = regular("Paul", "+33612345679", "46042", "46182", dtime(16, 10))  # Cahors → Luzech
    create_staff("sophie@lotocar.fr", "Sophie", "Martin", Role.OPERATOR, password="motdepasse-solide")
    db.session.commit()

    op_ctx = browser.new_context(viewport=DESKTOP, locale="fr-FR", timezone_id="Europe/Paris")
    op = op_ctx.new_page()
    op.on("pageerror", lambda exc: errors.append(str(exc)))
    op.goto(live_server + "/connexion/equipe")
    op.fill("#email", "sophie@lotocar.fr")
    op.fill("#password", "motdepasse-solide")
    op.keyboard.press("Enter")
    op.wait_for_url(re.compile(r"/console/$"))
    op.click("a:has-text('Nouvel appel')")  # the phone rings: the count starts here
    op.wait_for_url(re.compile(r"/console/appel$"))
    started = time.perf_counter()
    ops = Counter(op)
    ops.fill("#q", "06 98 76 54 32")
    ops.press("Enter")
    op.wait_for_selector("text=Nouveau passager")
    ops.fill("#first_name", "Odette")
    ops.fill("#last_name", "Marty")
    ops.fill("#home", "Douelle")
    ops.check("#has_no_car")
    ops.check("#sms_consent")
    ops.fill("#d-destination", "Cahors")
    # the date defaults to tomorrow (a weekday: both drivers run), "arrive by" is the default
    assert op.input_value("#d-day") == (today + timedelta(days=1)).isoformat()
    ops.fill("#d-at", "08:30")
    ops.check("#d-return_mode-1")  # "when the appointment ends, about"
    ops.fill("#d-return_at", "16:00")
    shot(op, "e2e-rt-01-new-call-with-return")
    op.set_viewport_size(PHONE)
    shot(op, "e2e-rt-01-new-call-with-return-phone")
    op.set_viewport_size(DESKTOP)
    assert_axe_clean(op, "appel-aller-retour", axe)
    ops.press("Enter")  # submits from the return time field
    op.wait_for_url(re.compile(r"/console/demandes/\d+$"))
    op.wait_for_selector(".candidate")
    shot(op, "e2e-rt-02-outbound-candidates")
    ops.press("Enter")  # the best driver's "Proposer" has the focus
    op.wait_for_selector("text=Maintenant le retour")
    assert "Proposer à Paul" in op.content()
    shot(op, "e2e-rt-03-return-candidates")
    op.set_viewport_size(PHONE)
    shot(op, "e2e-rt-03-return-candidates-phone")
    op.set_viewport_size(DESKTOP)
    assert_axe_clean(op, "demande-retour", axe)
    ops.press("Enter")  # the return's best driver
    op.wait_for_url(re.compile(r"/console/reservations/\d+$"))
    asked_after = time.perf_counter() - started
    shot(op, "e2e-rt-04-return-driver-asked")
    assert ops.count <= 16, ops.log

    db.session.expire_all()
    outbound = db.session.scalar(db.select(TripRequest).where(TripRequest.return_of_id.is_(None)))
    ret = db.session.scalar(db.select(TripRequest).where(TripRequest.return_of_id == outbound.id))
    assert ret is not None and ret.origin_insee == "46042" and ret.destination_insee == "46088"
    proposals = {b.request_id: b for b in db.session.scalars(db.select(Booking))}
    assert set(proposals) == {outbound.id, ret.id}
    assert all(b.status == BookingStatus.PROPOSED for b in proposals.values())
    assert proposals[outbound.id].offer.driver.user_id == there.id
    assert proposals[ret.id].offer.driver.user_id == back.id
    drain_outbox(app)
    for driver in (there, back):  # both drivers asked, each with his link
        msg = sms.last_to(driver.phone)
        assert msg is not None and re.search(r"https?://\S+/r/\S+", msg.body), driver.phone
    assert errors == []
    out = Path(__file__).resolve().parent.parent / ARTIFACTS
    out.mkdir(exist_ok=True)
    (out / "e2e-round-trip.json").write_text(json.dumps({
        "operator_interactions": ops.count, "operator_steps": ops.log,
        "seconds_new_call_to_both_drivers_asked": round(asked_after, 2), "axe": axe,
    }, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"\nE2E round trip: {ops.count} interactions, {asked_after:.1f} s from 'new call' to both drivers asked")
    op_ctx.close()
