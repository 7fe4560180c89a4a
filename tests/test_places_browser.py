"""Real browser at 390 px (Chromium): the place autocomplete is clickable and keyboard-
selectable, says "hors Lot", and the "Vouliez-vous dire" suggestions fill the field."""
from __future__ import annotations

import re
from datetime import timedelta

from lotocar.core.clock import today_local
from lotocar.extensions import db
from lotocar.offers.models import Offer
from tests.browser_support import PHONE, shot
from tests.test_security import _cookie_for


def _page(browser, live_server, app, user):  # noqa: F811
    context = browser.new_context(viewport=PHONE, locale="fr-FR", timezone_id="Europe/Paris")
    context.add_cookies([{"name": "session", "value": _cookie_for(app, user), "url": live_server}])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return context, page, errors


def _fits(page, selector: str) -> bool:
    """The element lies inside the 390 px viewport (no part cut off on the right)."""
    box = page.locator(selector).bounding_box()
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 0.5


def test_autocomplete_keyboard_click_and_suggestions_at_390px(live_server, browser, app, make_driver):  # noqa: F811
    driver = make_driver()
    context, page, errors = _page(browser, live_server, app, driver)
    page.goto(live_server + "/mes-trajets/nouveau")
    page.wait_for_load_state("networkidle")

    # keyboard: what is heard ("vayac") → the former commune, chosen with ↓ and Entrée
    origin = page.locator("#origin")
    origin.fill("")
    origin.press_sequentially("vayac", delay=20)
    page.wait_for_selector("#origin-listbox [role=option]")
    assert origin.get_attribute("aria-expanded") == "true"
    labels = page.eval_on_selector_all("#origin-listbox [role=option]", "els => els.map(e => e.dataset.value)")
    assert "Cœur de Causse — Vaillac" in labels[:3]
    assert _fits(page, "#origin-listbox")
    shot(page, "places-autocomplete-phone")
    for _ in range(labels.index("Cœur de Causse — Vaillac") + 1):
        origin.press("ArrowDown")
    active = origin.get_attribute("aria-activedescendant")
    assert page.get_attribute(f"#{active}", "aria-selected") == "true"
    origin.press("Enter")
    assert origin.input_value() == "Cœur de Causse — Vaillac"
    assert page.is_hidden("#origin-listbox") and origin.get_attribute("aria-expanded") == "false"

    # a tap: a town outside the Lot, shown as such
    destination = page.locator("#destination")
    destination.press_sequentially("brive", delay=20)
    option = page.locator("#destination-listbox [role=option]").first
    option.wait_for()
    assert "Brive-la-Gaillarde (19)" in option.inner_text() and "hors Lot" in option.inner_text()
    option.click()
    assert destination.input_value() == "Brive-la-Gaillarde (19)"
    # Escape closes the list without choosing
    destination.fill("")
    destination.press_sequentially("sarla", delay=20)
    page.wait_for_selector("#destination-listbox [role=option]")
    destination.press("Escape")
    assert page.is_hidden("#destination-listbox") and destination.input_value() == "sarla"

    # without the list: a spoken spelling is not guessed, the suggestions are buttons
    destination.fill("lalbenk")
    destination.press("Escape")
    page.fill("#departure_time", "07:45")
    page.fill("#last_date", (today_local() + timedelta(days=90)).isoformat())
    for day in range(5):
        page.check(f"#weekdays-{day}", force=True)
    page.click("button:has-text('Publier mon trajet')")
    page.wait_for_selector("[data-commune-pick=destination]")
    assert "Vouliez-vous dire" in page.inner_text("#destination-error")
    button = page.locator("[data-commune-pick=destination]").first
    assert button.inner_text().startswith("Lalbenque (46230)")
    assert _fits(page, "[data-commune-pick=destination] >> nth=0")
    shot(page, "places-suggestions-phone")
    button.click()
    assert page.locator("#destination").input_value() == "Lalbenque (46230)"
    assert page.evaluate("document.activeElement.id") == "destination"
    page.click("button:has-text('Publier mon trajet')")
    page.wait_for_url(re.compile(r"/mes-trajets/$"))
    offer = db.session.scalar(db.select(Offer))
    assert offer.origin_place == "Vaillac" and offer.point("origin") == (44.676, 1.531)
    assert offer.destination_insee == "46148"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert errors == []
    context.close()
