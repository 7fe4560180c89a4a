"""People records in Chromium (issue #14): the pickup point set by a click on the map (no
tiles needed), the record pages at 1280 and 390 px with no axe violation, and the
request page saying which driver was left out for the passenger's needs."""
from __future__ import annotations

import re

from lotocar.auth.models import Role
from lotocar.auth.operations import create_staff
from lotocar.bookings import operations as bookings
from lotocar.bookings.models import Booking, BookingStatus
from lotocar.core.places import km_between
from lotocar.drivers.models import Driver
from lotocar.extensions import db
from lotocar.passengers.models import Passenger
from tests.browser_support import DESKTOP, PHONE, assert_axe_clean, shot
from tests.factories import MONDAY, commune, luzech_cahors, passenger, trip_request


def test_records_pages_and_pickup_map(live_server, browser, make_driver):
    create_staff("op@lotocar.fr", "Sophie", "Martin", Role.OPERATOR, password="motdepasse-solide")
    db.session.commit()
    jean = make_driver("Jean", "Delmas")
    luzech_cahors(jean)
    person = passenger()
    person.needs_flags = "assistance_dog"
    db.session.commit()
    trip = trip_request(person)
    context = browser.new_context(viewport=DESKTOP, locale="fr-FR")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(live_server + "/connexion/equipe")
    page.fill("#email", "op@lotocar.fr")
    page.fill("#password", "motdepasse-solide")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/console/$"))

    page.goto(live_server + f"/console/passagers/{person.id}")
    page.click("#edit-passenger")
    page.wait_for_url(re.compile(rf"/console/passagers/{person.id}/modifier$"))
    page.wait_for_selector("#pickup-map path.leaflet-interactive", state="attached")  # the town hall, no tiles
    assert page.locator("#pickup-map .leaflet-control-zoom-in").get_attribute("title") == "Zoom avant"
    assert page.locator("#pickup-map .leaflet-control-scale").count() == 1
    assert page.locator("#need_assistance_dog").is_checked()
    page.click("#pickup-map", position={"x": 420, "y": 60})
    lat, lon = page.input_value("#pickup_lat"), page.input_value("#pickup_lon")
    assert re.fullmatch(r"44,\d+", lat) and re.fullmatch(r"1,\d+", lon), (lat, lon)
    page.fill("#pickup_place", "4 chemin du Pech")
    assert_axe_clean(page, "passenger-edit-desktop")
    shot(page, "people-passenger-edit-desktop")
    page.click("button:has-text('Enregistrer la fiche')")
    page.wait_for_url(re.compile(rf"/console/passagers/{person.id}$"))
    assert "4 chemin du Pech" in page.text_content("#pickup")
    db.session.expire_all()
    saved = db.session.get(Passenger, person.id)
    douelle = commune("46088")
    assert saved.pickup_place == "4 chemin du Pech" and saved.has_pickup_point
    assert km_between(saved.pickup_lat, saved.pickup_lon, douelle.lat, douelle.lon) < 15
    assert abs(saved.pickup_lat - float(lat.replace(",", "."))) < 1e-6

    page.goto(live_server + f"/console/demandes/{trip.id}")
    assert "Jean (n'accepte pas de chien d'assistance)" in page.text_content("#excluded-for-needs")
    assert page.locator("#needs-badges [data-need]").count() == 1
    assert_axe_clean(page, "request-excluded-desktop")
    shot(page, "people-request-excluded-desktop")

    page.goto(live_server + f"/console/conducteurs/{jean.driver.id}")
    page.click("#edit-driver")
    page.wait_for_url(re.compile(rf"/console/conducteurs/{jean.driver.id}/modifier$"))
    assert_axe_clean(page, "driver-edit-desktop")
    shot(page, "people-driver-edit-desktop")
    page.check("#accept_assistance_dog", force=True)
    page.click("button:has-text('Enregistrer la fiche')")
    page.wait_for_url(re.compile(rf"/console/conducteurs/{jean.driver.id}$"))
    assert "Un chien guide ou d'assistance" in page.text_content("#driver-accepts")
    page.goto(live_server + f"/console/demandes/{trip.id}")
    assert page.locator(".candidate").count() == 1 and page.locator("#excluded-for-needs").count() == 0

    page.set_viewport_size(PHONE)
    for url, name in ((f"/console/passagers/{person.id}/modifier", "people-passenger-edit-phone"),
                      (f"/console/conducteurs/{jean.driver.id}/modifier", "people-driver-edit-phone"),
                      (f"/console/demandes/{trip.id}", "people-request-phone")):
        page.goto(live_server + url)
        assert_axe_clean(page, name)
        # nothing wider than the screen
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], name
        shot(page, name)
    assert not errors, errors
    context.close()


def test_driver_says_what_he_accepts(live_server, browser, make_driver, sms):
    jean = make_driver("Jean", "Delmas")
    context = browser.new_context(viewport=PHONE, locale="fr-FR")
    page = context.new_page()
    page.goto(live_server + "/connexion")
    page.fill("#phone", "06 12 34 00 01")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/connexion/code"))
    code = re.search(r"\b(\d{6})\b", sms.last_to(jean.phone).body).group(1)
    page.fill("#code", code)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/mes-trajets/$"))
    page.click("#my-accepts")
    page.wait_for_url(re.compile(r"/mes-trajets/ce-que-j-accepte$"))
    assert_axe_clean(page, "driver-accepts-phone")
    shot(page, "people-driver-accepts-phone")
    page.check("#accept_wheelchair", force=True)
    page.check("#accept_front_seat", force=True)
    page.click("button:has-text('Enregistrer')")
    page.wait_for_url(re.compile(r"/mes-trajets/$"))
    db.session.expire_all()
    assert db.session.get(Driver, jean.driver.id).accept_codes == {"wheelchair", "front_seat"}
    context.close()


def test_driver_gives_up_a_passenger_only_from_the_confirmation_page(live_server, browser, make_driver, sms):
    """"Je ne peux plus" on his phone: a page says who is let down and when; "Non" changes
    nothing, "Oui, je ne peux plus" cancels (no browser dialog to rely on)."""
    jean = make_driver("Jean", "Delmas")
    offer = luzech_cahors(jean)
    booking = bookings.propose(bookings.Proposal(trip_request(passenger("+33698765432")).id, offer.id, MONDAY), None)
    bookings.transition(booking.id, "accept", jean.id, "Accepté par le conducteur (test)")
    db.session.commit()
    context = browser.new_context(viewport=PHONE, locale="fr-FR", timezone_id="Europe/Paris")
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(live_server + "/connexion")
    page.fill("#phone", "06 12 34 00 01")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/connexion/code"))
    page.fill("#code", re.search(r"\b(\d{6})\b", sms.last_to(jean.phone).body).group(1))
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/mes-trajets/$"))
    page.click(f"[data-booking='{booking.id}'] a:has-text('Je ne peux plus')")
    page.wait_for_url(re.compile(rf"/reservations/{booking.id}/cancel$"))
    assert page.is_visible("h1:has-text('Vous ne pouvez plus prendre Odette ?')")
    assert "lundi 7 décembre" in page.inner_text("#withdraw-ride")
    assert_axe_clean(page, "driver-withdraw-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "people-driver-withdraw-phone")
    page.click("#confirm-back")  # "Non, je prends toujours Odette"
    page.wait_for_url(re.compile(r"/mes-trajets/$"))
    db.session.expire_all()
    assert db.session.get(Booking, booking.id).status == BookingStatus.ACCEPTED_BY_DRIVER
    page.click(f"[data-booking='{booking.id}'] a:has-text('Je ne peux plus')")
    page.click("#confirm-yes")
    page.wait_for_url(re.compile(r"/mes-trajets/$"))
    assert "l'équipe prévient le passager" in page.inner_text("main")
    db.session.expire_all()
    assert db.session.get(Booking, booking.id).status == BookingStatus.CANCELLED_BY_DRIVER
    assert dialogs == []
    context.close()
