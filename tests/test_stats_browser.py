"""The statistics pages in a real browser (Debian's Chromium via Playwright, app on loopback).

A year of made-up activity along the 2019 lines; the dashboard's charts are drawn, the maps
show their vector layers with every tile request refused (no network), nothing breaks the
CSP. Screenshots go to test-artifacts/screenshots/stats-*.png.
"""
from __future__ import annotations

import random
from datetime import date, time, timedelta

from lotocar.auth.models import Role
from lotocar.auth.operations import create_staff
from lotocar.extensions import db
from lotocar.requests.models import RequestReason, RequestStatus
from tests import stats_data as sd
from tests.browser_support import SHOTS, DESKTOP, PHONE, shot

YEAR = "du=2025-01-01&au=2025-12-31"
PASSWORD = "stats-browser-46"

# (origin, destination, weight): the 2019 lines and their returns, plus scattered demand
FLOWS = [
    (sd.LUZECH, sd.CAHORS, 8), (sd.DOUELLE, sd.CAHORS, 5), (sd.CAHORS, sd.LUZECH, 5),
    ("46007", sd.CAHORS, 4), ("46080", sd.CAHORS, 3), ("46095", sd.CAHORS, 3),   # Arcambal, Crayssac, Espère
    (sd.GOURDON, sd.CAHORS, 4), ("46201", sd.CAHORS, 4), (sd.CAHORS, "46201", 2),  # Montcuq
    (sd.ASSIER, sd.FIGEAC, 5), (sd.LACAPELLE, sd.FIGEAC, 4), (sd.FIGEAC, sd.ASSIER, 2),
    ("46128", sd.FIGEAC, 2), (sd.SOUILLAC, sd.GOURDON, 2), ("46251", "46128", 2),  # Gramat, Saint-Céré
    (sd.GOURDON, sd.SOUILLAC, 1), ("46148", sd.CAHORS, 2),                          # Lalbenque
]


def year_of_activity(make_driver) -> None:
    rng = random.Random(46)
    passengers = [sd.passenger(i, "Passager", f"N{i}") for i in range(1, 41)]
    drivers = [make_driver("Conducteur", f"C{i}", home=home) for i, home in
               enumerate([sd.LUZECH, sd.CAHORS, sd.FIGEAC, sd.GOURDON], start=1)]
    offers = [sd.offer(drivers[0], sd.LUZECH, sd.CAHORS, date(2025, 1, 1), date(2025, 12, 31)),
              sd.offer(drivers[1], sd.CAHORS, sd.LUZECH, date(2025, 1, 1), date(2025, 12, 31), at=time(17, 0)),
              sd.offer(drivers[2], sd.LACAPELLE, sd.FIGEAC, date(2025, 3, 1), date(2025, 12, 31)),
              sd.offer(drivers[3], sd.GOURDON, sd.CAHORS, date(2025, 6, 1), date(2025, 12, 31))]
    weighted = [f for f in FLOWS for _ in range(f[2])]
    causes = ["Aucun conducteur sur ce trajet", "Aucun conducteur à cet horaire",
              "Conducteurs contactés indisponibles", "Demande trop tardive"]
    for n in range(160):
        origin, destination, _ = rng.choice(weighted)
        day = date(2025, 1, 2) + timedelta(days=rng.randrange(360))
        while day.weekday() > 4:
            day += timedelta(days=1)
        at = time(rng.choice([8, 8, 9, 10, 14, 16, 17]), rng.choice([0, 15, 30]))
        roll = rng.random()
        served_offer = next((o for o in offers if (o.origin_insee, o.destination_insee) == (origin, destination)
                             or (o.destination_insee == destination and origin in (sd.DOUELLE, sd.PARNAC))), None)
        if served_offer and roll < 0.55 and served_offer.first_date <= day:
            status = RequestStatus.DONE
        elif roll < 0.93:
            status = RequestStatus.UNMET
        else:
            status = RequestStatus.CANCELLED
        reason = rng.choice([RequestReason.MEDICAL] * 4 + [RequestReason.JOB] * 2 + list(RequestReason))
        req = sd.trip_request(passengers[rng.randrange(40)], origin, destination, day, at, status, reason,
                              rng.choice(causes) if status == RequestStatus.UNMET else None)
        if status == RequestStatus.DONE:
            sd.ride(req, served_offer, rng.choice([0, 2, 3, 5]))
    db.session.commit()


def _staff_page(browser, live_server, viewport):  # noqa: F811
    create_staff("stats@lotocar.fr", "Sophie", "Martin", Role.OPERATOR, password=PASSWORD)
    db.session.commit()
    context = browser.new_context(viewport=viewport, locale="fr-FR", timezone_id="Europe/Paris")
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda msg: problems.append(msg.text)
            if msg.type == "error" and "net::ERR_FAILED" not in msg.text else None)
    blocked: list[str] = []

    def only_loopback(route):
        if route.request.url.startswith(live_server):
            route.continue_()
        else:                                   # tiles: no network here, and none needed
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", only_loopback)
    page.goto(live_server + "/connexion/equipe")
    page.fill("#email", "stats@lotocar.fr")
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    return context, page, problems, blocked


def test_dashboard_and_maps_in_browser(live_server, browser, make_driver):  # noqa: F811
    year_of_activity(make_driver)
    context, page, problems, blocked = _staff_page(browser, live_server, DESKTOP)

    page.goto(f"{live_server}/statistiques/?{YEAR}")
    page.wait_for_selector("canvas[data-drawn=true]")
    assert page.locator("canvas[data-drawn=true]").count() == 5
    assert page.is_visible("text=Chiffres clés") and page.is_visible("text=Base Carbone")
    assert page.evaluate("Chart.getChart(document.getElementById('chart-demandes-par-mois')).data.datasets.length") == 4
    page.click("#chart-trajets-par-mois >> xpath=../.. >> summary")       # the table behind a chart
    assert page.is_visible("#chart-trajets-par-mois >> xpath=../.. >> table")
    shot(page, "stats-dashboard-desktop")

    page.goto(f"{live_server}/statistiques/carte?{YEAR}")
    page.wait_for_selector("#stats-map[data-ready=true]")
    circles = page.locator("#stats-map path.leaflet-interactive").count()
    assert circles > 20                                  # proportional circles and flows, as SVG
    assert page.locator("#stats-map .stats-map__town").count() == 7    # towns over 3,000 people, named
    assert any("tile.openstreetmap.org" in url for url in blocked)      # tiles were asked, refused
    shot(page, "stats-map-desktop")

    page.goto(f"{live_server}/statistiques/lignes-virtuelles?{YEAR}")
    page.wait_for_selector("#stats-map[data-ready=true]")
    assert page.locator("#stats-map .stats-map__rank").count() >= 2
    assert page.is_visible("h2:has-text('1. ')")
    shot(page, "stats-lines-desktop")
    page.locator("#ligne-1").screenshot(path=str(SHOTS / "stats-line-1-desktop.png"))

    page.set_viewport_size(PHONE)
    page.goto(f"{live_server}/statistiques/?{YEAR}")
    page.wait_for_selector("canvas[data-drawn=true]")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, "stats-dashboard-phone")
    page.locator("#chiffres-cles").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "stats-dashboard-phone-figures.png"))   # the key figures, legible
    assert problems == []
    context.close()

    public = browser.new_context(viewport=DESKTOP, locale="fr-FR").new_page()
    public.route("**/*", lambda route: route.continue_() if route.request.url.startswith(live_server)
                 else route.abort())
    public.goto(f"{live_server}/chiffres-cles?annee=2025")
    public.wait_for_selector("canvas[data-drawn=true]")
    assert "N1" not in public.content()                 # no passenger appears
    shot(public, "stats-public-desktop")
