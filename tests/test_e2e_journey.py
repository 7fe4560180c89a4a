"""The whole journey in a real browser (Debian's Chromium, Playwright), on the app served
on loopback, with the SMS worker draining the outbox through the development gateway:

driver signs up and posts a regular trip → operator takes a call, registers the passenger
with her request, proposes the best driver (interactions counted from the "new call" page)
→ the driver accepts from the link in his SMS → the operator confirms → the passenger is
confirmed and her SMS goes out. Screenshots of each step in test-artifacts/screenshots/e2e-*,
and an axe-core accessibility check of every page on the way (no serious/critical issue).
"""
from __future__ import annotations

import json
import re
import time
from datetime import timedelta


from lotocar.bookings.models import Booking, BookingStatus
from lotocar.extensions import db
from lotocar.requests.models import RequestStatus, TripRequest
from tests.browser_support import DESKTOP, PHONE, shot
from tests.factories import MONDAY

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


def axe_check(page, name: str, results: dict) -> None:
    page.add_script_tag(url="/assets/axe/axe.min.js")
    report = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length}));
    }""")
    results[name] = report
    serious = [v for v in report if v["impact"] in ("serious", "critical")]
    assert not serious, f"{name}: {serious}"


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
    axe_check(dp, "inscription", axe)
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
    axe_check(dp, "trajet-nouveau", axe)
    dp.fill("#destination", "Cahors (46000)")
    dp.fill("#departure_time", "07:45")
    for day in range(5):
        dp.check(f"#weekdays-{day}", force=True)
    dp.fill("#last_date", (today_local() + timedelta(days=60)).isoformat())
    dp.click("button:has-text('Publier mon trajet')")
    dp.wait_for_url(re.compile(r"/mes-trajets/$"))
    assert "Luzech → Cahors" in dp.content()
    axe_check(dp, "mes-trajets", axe)
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
    axe_check(op, "console-files", axe)

    op.click("a:has-text('Nouvel appel')")  # the phone rings: the clock starts here
    op.wait_for_url(re.compile(r"/console/appel$"))
    started = time.perf_counter()
    ops = Counter(op)
    ops.fill("#q", "06 98 76 54 32")
    ops.press("Enter")
    op.wait_for_selector("text=Nouveau passager")
    axe_check(op, "console-appel", axe)
    ops.fill("#first_name", "Odette")
    ops.fill("#last_name", "Marty")
    ops.fill("#home", "Douelle")
    ops.check("#has_no_car")
    ops.check("#sms_consent")
    ops.fill("#d-destination", "Cahors")
    ops.fill("#d-day", MONDAY.isoformat())
    ops.fill("#d-at", "08:30")
    shot(op, "e2e-03-operator-new-call")
    ops.click("button:has-text('Enregistrer et chercher un conducteur')")
    op.wait_for_url(re.compile(r"/console/demandes/\d+$"))
    op.wait_for_selector(".candidate")
    shot(op, "e2e-04-operator-candidates")
    axe_check(op, "console-demande", axe)
    ops.press("Enter")  # the best driver's "Proposer" button has the focus
    op.wait_for_url(re.compile(r"/console/reservations/\d+$"))
    asked_after = time.perf_counter() - started
    assert "Proposée au conducteur" in op.content()
    shot(op, "e2e-05-operator-driver-asked")
    axe_check(op, "console-reservation", axe)
    assert ops.count <= 12, ops.log

    # --- 3. the driver answers from the link in his SMS ---------------------------------------
    drain_outbox(app)
    proposal = sms.last_to("+33612345678")
    link = re.search(r"https?://\S+/r/\S+", proposal.body)
    assert link, proposal.body
    dp.goto(link.group(0))
    assert "Acceptez-vous de prendre" in dp.content()
    axe_check(dp, "lien-sms", axe)
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
