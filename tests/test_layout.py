"""Layout in a real browser (Debian's Chromium via Playwright, the app on loopback), issue #14
point 8: at 1280×800 and 390×844 the primary action of each working page is visible without
scrolling (its bottom edge within the viewport, the page scrolled to the top), nothing
scrolls sideways, and axe-core finds no violation at all (any impact).

Primary actions are found by a stable attribute, `data-primary`, on the element that holds
each page's main next step (the first one is measured):
- new call, after a search with no result: the register form's submit;
- the request form: its submit;
- the request page with candidates: the first "Proposer à …" button;
- the booking page: the group of "record the answer" actions;
- a driver's "Mes trajets": "Proposer un trajet"; the trip form: "Publier mon trajet".
Screenshots: test-artifacts/screenshots/layout-<page>-<width>.png (whole page) and
layout-<page>-<width>-ecran.png (the screen before any scrolling).
"""
from __future__ import annotations

import json
import re

import pytest

from lotocar.auth.models import Role
from lotocar.auth.operations import create_staff
from lotocar.extensions import db
from tests.browser_support import DESKTOP_800, PHONE, ROOT, SHOTS, axe_violations, shot

SIZES = {"1280": DESKTOP_800, "390": PHONE}
PASSWORD = "motdepasse-solide"
MEASURES = ROOT / "test-artifacts" / "layout-measures.json"

MEASURE_JS = """(selector) => {
    window.scrollTo({top: 0, left: 0, behavior: 'instant'});
    const el = document.querySelector(selector);
    if (!el) { return null; }
    const r = el.getBoundingClientRect();
    const doc = document.documentElement;
    return {top: Math.round(r.top + window.scrollY), bottom: Math.round(r.bottom + window.scrollY),
            viewport: window.innerHeight, scrollWidth: doc.scrollWidth, innerWidth: window.innerWidth,
            header: Math.round(document.querySelector('header').getBoundingClientRect().height),
            visible: r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden',
            // what sticks out sideways, if anything (the message of a failure)
            wider: [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
                   .slice(0, 4).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + '.' + [...e.classList].join('.'))};
}"""

# a select shows any chosen option whole: its longest option's text fits the box (less its arrow)
SELECT_FITS_JS = """(selector) => {
    const s = document.querySelector(selector);
    const style = getComputedStyle(s);
    const probe = document.createElement('span');
    probe.style.font = style.font; probe.style.whiteSpace = 'pre'; probe.style.position = 'absolute';
    document.body.appendChild(probe);
    let need = 0;
    for (const option of s.options) {
        probe.textContent = option.text; need = Math.max(need, probe.getBoundingClientRect().width);
    }
    probe.remove();
    const room = s.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    return need <= room;
}"""
INSIDE_JS = """(selector) => {
    const r = document.querySelector(selector).getBoundingClientRect();
    const main = document.querySelector('main').getBoundingClientRect();
    return r.right <= Math.min(document.documentElement.clientWidth, main.right) + 0.5;
}"""

# the focused field, if the sticky action bar covers it (else null)
FOCUS_UNDER_BAR_JS = """() => {
    const f = document.activeElement;
    const bar = document.querySelector('[data-primary=sticky]');
    if (!f || !bar || bar.contains(f) || f.closest('.fr-btns-group:has([data-primary=sticky])')) { return null; }
    const r = f.getBoundingClientRect(), b = bar.getBoundingClientRect();
    return r.bottom > b.top - 4 && r.top < b.bottom ? f.id || f.tagName : null;
}"""


def _record(name: str, width: str, measure: dict) -> None:
    data = json.loads(MEASURES.read_text(encoding="utf-8")) if MEASURES.exists() else {}
    data[f"{name}-{width}"] = measure
    MEASURES.parent.mkdir(parents=True, exist_ok=True)
    MEASURES.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")


def check_page(page, name: str, width: str, problems: list[str]) -> dict:
    """The page as it is now: primary action above the fold, no sideways scroll, axe clean.
    Problems are collected (every page is visited and shot) and asserted at the end."""
    page.wait_for_load_state("load")
    measure = page.evaluate(MEASURE_JS, "[data-primary]")
    assert measure is not None, f"{name}: no [data-primary] element"
    _record(name, width, measure)
    shot(page, f"layout-{name}-{width}")
    # and what the screen shows before any scrolling
    page.screenshot(path=str(SHOTS / f"layout-{name}-{width}-ecran.png"))
    if not measure["visible"]:
        problems.append(f"{name}@{width}: primary action hidden")
    if measure["bottom"] > measure["viewport"]:
        problems.append(f"{name}@{width}: primary action below the fold {measure}")
    if measure["scrollWidth"] > measure["innerWidth"]:
        problems.append(f"{name}@{width}: horizontal overflow {measure}")
    violations = axe_violations(page)
    if violations:
        problems.append(f"{name}@{width}: axe {violations}")
    return measure


def no_network(page, live_server: str) -> None:
    """Tiles and anything else off the loopback are refused, as on the test machines."""
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(live_server)
               else route.abort())


def staff_page(browser, live_server: str, size: dict):
    create_staff("op@lotocar.fr", "Sophie", "Martin", Role.OPERATOR, password=PASSWORD)
    db.session.commit()
    context = browser.new_context(viewport=size, locale="fr-FR", timezone_id="Europe/Paris")
    page = context.new_page()
    no_network(page, live_server)
    page.goto(live_server + "/connexion/equipe")
    page.fill("#email", "op@lotocar.fr")
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/console/$"))
    return context, page


@pytest.mark.parametrize("width", list(SIZES))
def test_console_primary_actions_above_the_fold(live_server, browser, make_driver, width):
    from tests.factories import luzech_cahors, passenger, trip_request

    luzech_cahors(make_driver("Nathalie", "Rességuier"))
    luzech_cahors(make_driver("Jean", "Delmas", home="46182", phone="+33612349999"), detour=20)
    pax = passenger()
    req = trip_request(pax)
    context, page = staff_page(browser, live_server, SIZES[width])
    errors: list[str] = []
    problems: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # a call from an unknown number: the register form with its request
    page.goto(live_server + "/console/appel?q=06+11+22+33+44")
    assert page.is_visible("text=Nouveau passager")
    measure = check_page(page, "nouvel-appel", width, problems)
    # the staff header is slim (it took 172 px at 1280), the service name and logout still there
    assert measure["header"] <= (104 if width == "1280" else 64), measure
    assert page.locator("header .fr-header__service-title").is_visible()
    if width == "1280":
        assert page.locator(".fr-header__body button:has-text('Se déconnecter')").is_visible()
    else:  # in the menu, as DSFR does on a phone
        page.click("#bouton-menu")
        assert page.locator("#menu-principal button:has-text('Se déconnecter')").is_visible()
        page.click("#menu-principal .fr-btn--close")
    assert page.locator(".fr-skiplinks a[href='#contenu']").count() == 1
    # the "Motif" select shows its whole label (no "Rendez-vous mé…")
    if not page.evaluate(SELECT_FITS_JS, "#d-reason"):
        problems.append(f"nouvel-appel@{width}: the Motif select is cut")
    page.click("summary:has-text('Besoins particuliers')")
    for field in ("#needs", "#notes"):
        if not page.evaluate(INSIDE_JS, field):
            problems.append(f"nouvel-appel@{width}: {field} overflows")

    page.goto(live_server + f"/console/passagers/{pax.id}/demande")
    check_page(page, "demande-formulaire", width, problems)
    if not page.evaluate(SELECT_FITS_JS, "#reason"):
        problems.append(f"demande-formulaire@{width}: the Motif select is cut")

    page.goto(live_server + f"/console/demandes/{req.id}")
    assert page.locator(".candidate").count() == 2
    page.wait_for_selector("#map path.leaflet-interactive", state="attached")
    measure = check_page(page, "demande-candidats", width, problems)
    assert page.evaluate("document.querySelector('[data-primary]').textContent").startswith("Proposer à")
    assert measure["top"] > 0

    page.click("[data-primary]")
    page.wait_for_url(re.compile(r"/console/reservations/\d+$"))
    check_page(page, "reservation", width, problems)
    assert problems == [], "\n".join(problems)
    assert errors == []
    context.close()


@pytest.mark.parametrize("width", list(SIZES))
def test_driver_pages_primary_actions_above_the_fold(live_server, browser, make_driver, sms, width):
    from tests.factories import luzech_cahors

    driver = make_driver("Nathalie", "Rességuier", phone="+33612345678")
    luzech_cahors(driver)
    context = browser.new_context(viewport=SIZES[width], locale="fr-FR", timezone_id="Europe/Paris")
    page = context.new_page()
    no_network(page, live_server)
    errors: list[str] = []
    problems: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(live_server + "/connexion")
    page.fill("#phone", "06 12 34 56 78")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/connexion/code$"))
    page.fill("#code", re.search(r"\d{6}", sms.last_to("+33612345678").body).group(0))
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/mes-trajets/$"))
    check_page(page, "mes-trajets", width, problems)
    page.goto(live_server + "/mes-trajets/nouveau")
    check_page(page, "trajet-formulaire", width, problems)
    # the sticky actions never hide the field being typed in (WCAG 2.4.11): Tab down the form
    page.focus("#departure_time")
    for _ in range(12):
        page.keyboard.press("Tab")
        hidden = page.evaluate(FOCUS_UNDER_BAR_JS)
        if hidden:
            problems.append(f"trajet-formulaire@{width}: focused field under the sticky actions {hidden}")
    assert problems == [], "\n".join(problems)
    assert errors == []
    context.close()
