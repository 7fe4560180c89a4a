"""Maps that read with no tiles (issue #14 point 7): the request page's map, in a real browser
(Debian's Chromium via Playwright), every request off the loopback refused as on the test
machines. It shows the communes around the trip (points and names), the focused run with its
stops numbered in order and a text legend saying them, a metric scale, zoom buttons titled
in French, and no point or line under the controls. Screenshots:
test-artifacts/screenshots/maps-request-<width>[-ecran].png.
"""
from __future__ import annotations

import re

import pytest

from lotocar.auth.models import Role
from lotocar.auth.operations import create_staff
from lotocar.communes import nearby
from lotocar.console import maps
from lotocar.extensions import db
from tests.browser_support import DESKTOP_800, PHONE, SHOTS, shot

PASSWORD = "motdepasse-solide"
CAHORS, DOUELLE, CRAYSSAC, LUZECH = "46042", "46088", "46080", "46182"


def test_communes_around_a_trip_are_bounded_biggest_first(app):
    from tests.factories import commune

    douelle, cahors = commune(DOUELLE), commune(CAHORS)
    found = nearby.around([(douelle.lat, douelle.lon), (cahors.lat, cahors.lon)], limit=40)
    assert 6 <= len(found) <= 40
    assert found[0]["name"] == "Cahors"  # the most populous first
    populations = [c["population"] for c in found]
    assert populations == sorted(populations, reverse=True)
    names = {c["name"] for c in found}
    assert {"Douelle", "Mercuès"} <= names
    # all within the trip's box widened by a few kilometres, none far away
    assert all(44.35 < c["lat"] < 44.55 and 1.25 < c["lon"] < 1.55 for c in found), found
    assert "Figeac" not in names and "Gourdon" not in names
    assert len(nearby.around([(douelle.lat, douelle.lon)], limit=5)) == 5
    assert nearby.around([], limit=40) == []


def test_stop_words_in_french():
    assert maps.of("Odette") == "d’Odette" and maps.of("Hélène") == "d’Hélène"
    assert maps.of("Nathalie") == "de Nathalie"
    candidate = {
        "driver_first_name": "Nathalie", "trip": "Luzech → Cahors", "departure_at": "2026-12-07T07:45",
        "route": [[44.48, 1.28], [44.46, 1.35], [44.45, 1.44], [44.45, 1.44]],
        "stops": [{"kind": "pickup", "booking_id": None, "passenger_first_name": "Odette", "commune": "Douelle",
                   "at": "2026-12-07T07:52", "lat": 44.46, "lon": 1.35},
                  {"kind": "dropoff", "booking_id": None, "passenger_first_name": "Odette", "commune": "Cahors",
                   "at": "2026-12-07T08:01", "lat": 44.45, "lon": 1.44}]}
    stops = maps.tour_stops(candidate)
    assert [s["label"] for s in stops] == ["Départ de Nathalie", "Prise en charge d’Odette",
                                           "Dépose d’Odette", "Arrivée de Nathalie"]
    assert [s["place"] for s in stops] == ["Luzech", "Douelle", "Cahors", "Cahors"]
    assert [s["at"] for s in stops] == ["07:45", "07:52", "08:01", None]


def _operator_page(browser, live_server, size):
    create_staff("op@lotocar.fr", "Sophie", "Martin", Role.OPERATOR, password=PASSWORD)
    db.session.commit()
    context = browser.new_context(viewport=size, locale="fr-FR", timezone_id="Europe/Paris")
    page = context.new_page()
    blocked: list[str] = []

    def only_loopback(route):
        if route.request.url.startswith(live_server):
            route.continue_()
        else:  # tiles: no network here, and none needed
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", only_loopback)
    page.goto(live_server + "/connexion/equipe")
    page.fill("#email", "op@lotocar.fr")
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/console/$"))
    return context, page, blocked


BOXES_JS = """() => {
    const box = e => { const r = e.getBoundingClientRect();
                       return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; };
    return {
        zoom: box(document.querySelector('#map .leaflet-control-zoom')),
        scale: box(document.querySelector('#map .leaflet-control-scale')),
        map: box(document.querySelector('#map')),
        // every path drawn (Leaflet leaves "M0 0" for what is off the map; hidden is not drawn)
        paths: [...document.querySelectorAll('#map path')].filter(e => getComputedStyle(e).visibility !== 'hidden')
               .map(box).filter(b => b.right > b.left || b.bottom > b.top),
        stops: [...document.querySelectorAll('#map .console-map__stop')].map(box),
    };
}"""


def _overlap(a, b) -> bool:
    return a["left"] < b["right"] and b["left"] < a["right"] and a["top"] < b["bottom"] and b["top"] < a["bottom"]


@pytest.mark.parametrize("width", ["1280", "390"])
def test_request_map_reads_with_no_tiles(app, live_server, browser, make_driver, width):
    """A run already carrying Marie (Douelle → Cahors); Odette, from Crayssac, is picked up
    first: the map numbers the six stops of the tour in order and the legend says them."""
    from tests.promise_world import book, make_passenger, make_request, make_trip

    offer = make_trip(make_driver("Nathalie", "Rességuier"), seats=3, detour=15)
    marie = make_passenger()
    marie.first_name = "Marie <b>"  # names are text on the map, never markup
    db.session.commit()
    book(offer, make_request(marie))  # Douelle → Cahors
    req = make_request(make_passenger(), origin=CRAYSSAC)
    context, page, blocked = _operator_page(browser, live_server, DESKTOP_800 if width == "1280" else PHONE)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(live_server + f"/console/demandes/{req.id}")
    page.wait_for_selector("#map .console-map__stop", state="attached")
    page.wait_for_selector("#map-legend .console-map__note:has-text('Fond de carte indisponible')")
    assert any("tile.openstreetmap.org" in url for url in blocked)  # tiles were asked, and refused

    # the communes around: grey points and names, Cahors first in the data
    data = page.evaluate("JSON.parse(document.querySelector('#map').dataset.map)")
    names = [c[0] for c in data["communes"]]
    assert names[0] == "Cahors" and {"Douelle", "Crayssac", "Luzech"} <= set(names) and len(names) <= 40
    labels = page.eval_on_selector_all(
        "#map .console-map__commune:not(.console-map__commune--hidden)", "els => els.map(e => e.textContent)")
    assert len(labels) >= 4 and set(labels) <= set(names), labels
    assert page.locator("#map path.console-map__commune-point").count() == len(names)

    # the run's stops in order: numbered markers 1…6 (stops at one place share a marker)
    expected = ["Départ de Nathalie — Luzech, 07:", "Prise en charge d’Odette — Crayssac, ",
                "Prise en charge de Marie <b> — Douelle, ", "Dépose de Marie <b> — Cahors, ",
                "Dépose d’Odette — Cahors, ", "Arrivée de Nathalie — Cahors"]
    legend = page.eval_on_selector_all("#map-legend ol > li", "els => els.map(e => e.textContent)")
    assert len(legend) == len(expected) and all(line.startswith(e) for line, e in zip(legend, expected)), legend
    numbers = page.eval_on_selector_all("#map .console-map__stop", "els => els.map(e => e.textContent)")
    flat = [int(n) for marker in numbers for n in marker.split(", ")]
    assert flat == [1, 2, 3, 4, 5, 6], numbers
    stop_labels = page.eval_on_selector_all("#map .console-map__stop-label", "els => els.map(e => e.textContent)")
    said = "2. Prise en charge d’Odette" + (" (Crayssac)" if width == "1280" else "")
    assert any(label.startswith(said) for label in stop_labels), stop_labels
    assert page.locator("#map b").count() == 0  # "Marie <b>" stayed text
    assert "Marie <b>" in page.inner_text("#map")

    # a metric scale only, zoom buttons in French
    scale = page.eval_on_selector_all("#map .leaflet-control-scale-line", "els => els.map(e => e.textContent)")
    assert len(scale) == 1 and re.fullmatch(r"\d+ (m|km)", scale[0]), scale
    for selector, words in (("#map .leaflet-control-zoom-in", "Zoomer"), ("#map .leaflet-control-zoom-out", "Dézoomer")):
        assert page.get_attribute(selector, "title") == words
        assert page.get_attribute(selector, "aria-label") == words

    # nothing drawn under the controls: no path's box meets the zoom buttons' or the scale's
    boxes = page.evaluate(BOXES_JS)
    assert len(boxes["paths"]) >= 10
    for path in boxes["paths"] + boxes["stops"]:
        assert not _overlap(path, boxes["zoom"]), (path, boxes["zoom"])
        assert not _overlap(path, boxes["scale"]), (path, boxes["scale"])
    assert page.evaluate("getComputedStyle(document.querySelector('#map')).backgroundColor") != "rgba(0, 0, 0, 0)"
    shot(page, f"maps-request-{width}")
    page.locator("#map").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / f"maps-request-{width}-carte.png"))
    assert errors == []
    context.close()


def test_request_map_with_no_tile_url(app, live_server, browser, make_driver, monkeypatch):
    """No tile server configured at all: no tile asked, the map says it draws alone."""
    from tests.factories import luzech_cahors, passenger, trip_request

    monkeypatch.setitem(app.config, "MAP_TILE_URL", "")
    luzech_cahors(make_driver("Nathalie", "Rességuier"))
    req = trip_request(passenger())
    context, page, blocked = _operator_page(browser, live_server, DESKTOP_800)
    page.goto(live_server + f"/console/demandes/{req.id}")
    page.wait_for_selector("#map .console-map__stop", state="attached")
    assert "Pas de fond de carte" in page.inner_text("#map-legend")
    assert page.locator("#map img.leaflet-tile").count() == 0 and blocked == []
    legend = page.eval_on_selector_all("#map-legend ol > li", "els => els.map(e => e.textContent)")
    assert [line.split(" — ")[0] for line in legend] == [
        "Départ de Nathalie", "Prise en charge d’Odette", "Dépose d’Odette", "Arrivée de Nathalie"]

    # no candidate at all (an evening appointment): the request itself, its two ends numbered
    from datetime import time

    late = trip_request(passenger(phone="+33698765400"), at=time(19, 0))
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(live_server + f"/console/demandes/{late.id}")
    page.wait_for_selector("#map .console-map__stop", state="attached")
    assert page.locator(".candidate").count() == 0
    legend = page.eval_on_selector_all("#map-legend ol > li", "els => els.map(e => e.textContent)")
    assert legend == ["Prise en charge d’Odette — Douelle", "Dépose d’Odette — Cahors"], legend
    assert page.eval_on_selector_all("#map .console-map__stop", "els => els.map(e => e.textContent)") == ["1", "2"]
    assert page.locator("#map .console-map__commune").count() >= 4
    shot(page, "maps-request-no-candidate-1280")
    assert errors == []
    context.close()
