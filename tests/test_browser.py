"""Real browser: the app served on loopback, Debian's Chromium driven by Playwright.

A driver signs up, enters the SMS code, posts a regular trip and sees "Mes trajets".
Screenshots at phone and desktop widths go to test-artifacts/screenshots/.
"""
from __future__ import annotations

import json
import re
from datetime import timedelta


from lotocar.offers.models import Offer
from lotocar.extensions import db

from tests.browser_support import CHROMIUM, DESKTOP, PHONE, ROOT, SHOTS, shot  # noqa: F401


def test_driver_signs_up_and_posts_a_trip(live_server, browser, sms):
    from lotocar.core.timeutil import today_local

    context = browser.new_context(viewport=PHONE, locale="fr-FR", timezone_id="Europe/Paris")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(live_server + "/inscription")
    # DSFR stylesheet really applied (not a bare page)
    assert page.evaluate("getComputedStyle(document.querySelector('.fr-header')).display") != "none"
    assert page.evaluate("getComputedStyle(document.querySelector('main button[type=submit].fr-btn')).backgroundColor") == "rgb(0, 0, 145)"
    shot(page, "signup-phone")

    page.fill("#first_name", "Jeanne")
    page.fill("#last_name", "Delpech")
    page.fill("#phone", "06 12 34 56 78")
    page.fill("#home", "luzec")
    # the autocomplete list is filled from the server as the person types
    page.wait_for_selector("#home-listbox [role=option]")
    assert "Luzech (46140)" in page.eval_on_selector_all("#home-listbox [role=option]",
                                                         "els => els.map(e => e.dataset.value)")
    page.fill("#home", "Luzech (46140)")
    page.check("#consent_contact", force=True)
    page.click("button[type=submit]:has-text('Recevoir mon code')")
    page.wait_for_url(re.compile(r"/inscription/code$"))
    code = re.search(r"\d{6}", sms.last_to("+33612345678").body).group(0)
    page.fill("#code", code)
    page.click("button:has-text('Valider')")
    page.wait_for_url(re.compile(r"/mes-trajets/$"))
    assert "Bienvenue" in page.content()

    page.click("a:has-text('Proposer un trajet') >> nth=-1")
    page.wait_for_url(re.compile(r"/mes-trajets/nouveau$"))
    # the one-off fields are hidden for a regular trip
    assert page.is_hidden("#departure_date")
    shot(page, "offer-form-phone")
    page.fill("#destination", "Cahors (46000)")
    page.fill("#departure_time", "07:45")
    for day in range(5):
        page.check(f"#weekdays-{day}", force=True)
    page.fill("#last_date", (today_local() + timedelta(days=90)).isoformat())
    page.click("button:has-text('Publier mon trajet')")
    page.wait_for_url(re.compile(r"/mes-trajets/$"))
    content = page.content()
    assert "Luzech → Cahors" in content and "07:45" in content
    shot(page, "my-trips-phone")

    # no horizontal scrolling on a phone
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.set_viewport_size(DESKTOP)
    shot(page, "my-trips-desktop")
    page.goto(live_server + "/mes-trajets/nouveau")
    shot(page, "offer-form-desktop")
    anonymous = browser.new_context(viewport=DESKTOP, locale="fr-FR").new_page()
    anonymous.goto(live_server + "/inscription")
    assert anonymous.is_visible("h1:has-text('Devenir conducteur bénévole')")
    shot(anonymous, "signup-desktop")
    assert errors == []
    offer = db.session.scalar(db.select(Offer))
    assert offer is not None and offer.weekday_set == {1, 2, 3, 4, 5}
    context.close()


def test_validation_errors_shown_in_browser(live_server, browser, make_driver):
    context = browser.new_context(viewport=DESKTOP, locale="fr-FR")
    page = context.new_page()
    page.goto(live_server + "/inscription")
    page.fill("#first_name", "Jeanne")
    page.fill("#phone", "05 65 12 34 56")
    page.fill("#home", "Paris")
    page.click("button[type=submit]:has-text('Recevoir mon code')")
    assert page.is_visible("#phone-error")
    assert "portable" in page.inner_text("#phone-error")
    assert "Aucune commune du Lot" in page.inner_text("#home-error")
    assert page.get_attribute("#phone", "aria-invalid") == "true"
    shot(page, "signup-errors-desktop")
    context.close()


def test_operator_console_candidates_and_map(live_server, browser, make_driver):
    """The request page lists ranked candidates and draws the map with no tiles reachable."""
    from lotocar.auth.models import Role
    from lotocar.auth.operations import create_staff
    from tests.factories import luzech_cahors, passenger, trip_request

    create_staff("op@lotocar.fr", "Sophie", "Martin", Role.OPERATOR, password="motdepasse-solide")
    db.session.commit()
    luzech_cahors(make_driver("Nathalie", "Rességuier"))
    luzech_cahors(make_driver("Jean", "Delmas", home="46182", phone="+33612349999"), detour=20)
    req = trip_request(passenger())
    context = browser.new_context(viewport=DESKTOP, locale="fr-FR")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(live_server + "/connexion/equipe")
    page.fill("#email", "op@lotocar.fr")
    page.fill("#password", "motdepasse-solide")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/console/$"))
    shot(page, "console-queue-desktop")
    page.goto(live_server + f"/console/demandes/{req.id}")
    assert page.locator(".candidate").count() == 2
    # Leaflet drew the vector layers (points and lines) even without tiles
    page.wait_for_selector("#map path.leaflet-interactive", state="attached")
    assert page.locator("#map path.leaflet-interactive").count() >= 4
    # keyboard-first: the best candidate's "Proposer" button has the focus
    assert page.evaluate("document.activeElement.textContent").startswith("Proposer à")
    shot(page, "console-request-desktop")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/console/reservations/\d+$"))
    assert "Proposée au conducteur" in page.content()
    shot(page, "console-booking-desktop")
    assert errors == []
    context.close()


def test_console_map_draws_the_tour_in_stop_order(live_server, browser, make_driver):
    """Issue #12: a run already carrying a passenger; the map's highlighted line goes through
    the driver's start, every stop of the tour in order, then his destination."""
    from lotocar.auth.models import Role
    from lotocar.auth.operations import create_staff
    from tests.promise_world import book, make_passenger, make_request, make_trip

    create_staff("op@lotocar.fr", "Sophie", "Martin", Role.OPERATOR, password="motdepasse-solide")
    db.session.commit()
    offer = make_trip(make_driver("Nathalie", "Rességuier"), seats=3, detour=15)
    book(offer, make_request(make_passenger()))  # Douelle → Cahors
    req = make_request(make_passenger(), origin="46080")  # Crayssac, picked up first
    context = browser.new_context(viewport=DESKTOP, locale="fr-FR")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(live_server + "/connexion/equipe")
    page.fill("#email", "op@lotocar.fr")
    page.fill("#password", "motdepasse-solide")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/console/$"))
    page.goto(live_server + f"/console/demandes/{req.id}")
    assert page.locator(".candidate").count() == 1
    text = page.inner_text(".candidate")
    assert re.search(r"Détour ajouté \d+ min \(total \d+ / 15\)", text)
    assert re.search(r"Odette : \d\d:\d\d → \d\d:\d\d", text)
    page.wait_for_selector("#map path.leaflet-interactive", state="attached")
    # the focused candidate's tour: Luzech, Crayssac, Douelle, Cahors twice (both drop-offs),
    # Cahors (the driver's destination), every vertex drawn (no simplification)
    (route,) = json.loads(page.get_attribute("#map", "data-routes"))
    assert len(route) == 6 and route[1] == [req.origin.lat, req.origin.lon]
    vertices = page.eval_on_selector_all(
        "#map path.leaflet-interactive[stroke-width='4'][stroke='#000091']",
        "els => els.map(e => (e.getAttribute('d').match(/[ML]/g) || []).length)")
    assert len(route) in vertices, vertices
    shot(page, "console-request-tour-desktop")
    assert errors == []
    context.close()
