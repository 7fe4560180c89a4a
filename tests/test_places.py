"""Places as callers say them (issue 15): towns beyond the Lot, former communes, names heard
on the phone — lookup, forms, API, matching and statistics."""
from __future__ import annotations

import csv
import io
from datetime import date, time, timedelta
from pathlib import Path

import pytest

from lotocar.communes import operations as communes
from lotocar.communes.models import Commune, FormerCommune
from lotocar.communes.search import normalize, resolve, search, sound_key
from lotocar.extensions import db
from lotocar.offers.models import Offer
from lotocar.passengers.models import Passenger
from lotocar.requests.models import TripRequest
from tests.conftest import csrf_token, login_as
from tests.factories import MONDAY, TODAY, passenger, trip_request
from tests.spoken_places import SPOKEN_FORMS

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "communes"
COEUR_DE_CAUSSE, VAILLAC, BRIVE, VILLEFRANCHE, SOUILLAC = "46138", "46325", "19031", "12300", "46309"


@pytest.fixture(scope="module")
def index():
    return communes.index_from_files([DATA / "communes_lot.csv", DATA / "communes_neighbours.csv"],
                                     DATA / "communes_lot_former.csv")


# --- data -------------------------------------------------------------------------------------

def test_shipped_files_and_attribution():
    around = communes.read_csv(DATA / "communes_neighbours.csv")
    assert len(around) == 549 and {r.departement for r in around} == {"12", "15", "19", "24", "31", "47", "82"}
    brive = next(r for r in around if r.insee == BRIVE)
    assert (brive.name, brive.lat, brive.lon, brive.departement) == ("Brive-la-Gaillarde", 45.160, 1.534, "19")
    former = communes.read_former_csv(DATA / "communes_lot_former.csv")
    assert len(former) == 42 and len({f.commune_insee for f in former}) == 14
    vaillac = next(f for f in former if f.former_insee == VAILLAC)
    assert (vaillac.name, vaillac.commune_insee, vaillac.lat, vaillac.lon) == ("Vaillac", COEUR_DE_CAUSSE, 44.676, 1.531)
    sources = (DATA / "SOURCES.md").read_text(encoding="utf-8")
    for needle in ("communes_neighbours.csv", "communes_lot_former.csv", "ComHisto", "Licence Ouverte",
                   "CC BY-SA"):
        assert needle in sources


def test_loaded_places(app):
    assert db.session.get(Commune, BRIVE).departement == "19"
    assert db.session.get(Commune, BRIVE).label() == "Brive-la-Gaillarde (19)"
    assert db.session.get(Commune, "46042").in_lot
    cdc = db.session.get(Commune, COEUR_DE_CAUSSE)
    assert [f.name for f in cdc.former_communes] == ["Beaumat", "Fontanes-du-Causse", "Labastide-Murat",
                                                     "Saint-Sauveur-la-Vallée", "Vaillac"]
    assert db.session.get(FormerCommune, VAILLAC).label() == "Cœur de Causse — Vaillac"


# --- the phonetic key and the table of spoken forms ----------------------------------------

@pytest.mark.parametrize("spelt,heard", [
    ("Lalbenque", "lalbenk"),                 # -que / -k
    ("Bretenoux", "bretenou"),                # -oux, silent final x
    ("Figeac", "figeak"),                     # c / k
    ("Saint-Céré", "sen sere"),               # c before e = s; "sen" for Saint
    ("Cahors", "cahor"),                      # silent final s
    ("Vayrac", "vérac"),                      # ai / é
    ("Souillac", "souyac"),                   # ill / y
    ("Saint-Cirq-Lapopie", "sen cirk lapopi"),
])
def test_sound_key_hears_what_is_said(spelt, heard):
    assert sound_key(normalize(spelt))[0] == sound_key(normalize(heard))[0]


def test_spoken_forms_table(index):
    """Every form heard on the phone is in the first three suggestions; the top one for ≥ 90 %."""
    assert len(SPOKEN_FORMS) >= 60
    top = 0
    misses = []
    for typed, insee, place in SPOKEN_FORMS:
        found = search(index, typed, limit=3)
        hits = [m.entry.insee == insee and (place is None or m.entry.place == place) for m in found]
        if not any(hits):
            misses.append((typed, insee, [m.entry.label for m in found]))
        top += bool(hits and hits[0])
    assert misses == []
    rate = top / len(SPOKEN_FORMS)
    print(f"\nspoken forms: {len(SPOKEN_FORMS)}, in the first three: {len(SPOKEN_FORMS)}, "
          f"first: {top} ({rate:.0%})")
    assert rate >= 0.90


def test_the_six_of_the_issue(index):
    assert resolve(index, "Labastide-Murat")[0].label == "Cœur de Causse — Labastide-Murat"
    vaillac = resolve(index, "Vaillac")[0]
    assert (vaillac.insee, vaillac.place, vaillac.label) == (COEUR_DE_CAUSSE, "Vaillac", "Cœur de Causse — Vaillac")
    # what is heard is suggested first, never silently chosen
    for typed, insee in (("lalbenk", "46148"), ("sen cirk lapopi", "46256")):
        entry, found = resolve(index, typed)
        assert entry is None and found[0].entry.insee == insee
    assert resolve(index, "Brive")[0].insee == BRIVE
    assert resolve(index, "villefranche de rouergue")[0].insee == VILLEFRANCHE


def test_ranking_lot_first_then_population(index):
    # same closeness (exact name): the Lot's Rignac (250 people) before Aveyron's (2,000)
    rignac = search(index, "rignac", limit=2)
    assert [m.entry.departement for m in rignac] == ["46", "12"]
    assert rignac[0].entry.population < rignac[1].entry.population
    # closeness first: an exact out-of-Lot name beats a fuzzy Lot one
    assert search(index, "toulouse")[0].entry.insee == "31555"
    # equal closeness among neighbours: by population
    villefranche = search(index, "villefranche", limit=2)
    assert [m.entry.insee for m in villefranche] == [VILLEFRANCHE, "24585"]


def test_resolve_never_guesses(index):
    for ambiguous in ("Cazals", "Sainte-Croix", "Saint-Cyprien"):  # in the Lot and next door
        entry, found = resolve(index, ambiguous)
        assert entry is None and len(found) >= 2 and found[0].entry.in_lot
    assert resolve(index, "Paris")[0] is None  # not silently Parisot (82)
    assert resolve(index, "cahros")[0] is None and resolve(index, "cahros")[1][0].entry.name == "Cahors"
    # the labels the autocomplete writes resolve exactly
    assert resolve(index, "Cazals (82)")[0].departement == "82"
    assert resolve(index, "Cazals (46250)")[0].in_lot
    assert resolve(index, "Brive-la-Gaillarde (19)")[0].insee == BRIVE
    assert resolve(index, "Sousceyrac-en-Quercy — Lacam-d'Ourcet")[0].place_insee == "46141"
    # codes: a former commune's own code, a postcode outside the Lot
    assert resolve(index, "46325")[0].place == "Vaillac"
    assert resolve(index, "19100")[0].insee == BRIVE


# --- the database lookup and the autocomplete ---------------------------------------------------

def test_resolve_place_and_home_stays_in_the_lot(app):
    place, _ = communes.resolve_place("Vaillac")
    assert place.commune.insee == COEUR_DE_CAUSSE and place.former.name == "Vaillac"
    assert (place.lat, place.lon) == (44.676, 1.531) != (place.commune.lat, place.commune.lon)
    assert place.meeting_point(None, None, None) == ("Vaillac", 44.676, 1.531)
    assert place.meeting_point("Église", 44.68, 1.53) == ("Église", 44.68, 1.53)
    assert communes.resolve_place("Brive")[0].commune.insee == BRIVE
    assert communes.resolve_place("Brive", lot_only=True)[0] is None
    assert communes.resolve_commune("Vaillac", lot_only=True)[0].insee == COEUR_DE_CAUSSE  # a home is a commune
    assert communes.resolve_commune("Souillac", lot_only=True)[0].insee == SOUILLAC
    assert communes.get_place(VAILLAC).former.name == "Vaillac"
    assert communes.get_place(COEUR_DE_CAUSSE).former is None


def test_autocomplete_says_hors_lot_and_former(client):
    data = client.get("/communes/autocomplete?q=brive").get_json()
    assert data[0]["label"] == "Brive-la-Gaillarde (19)" and data[0]["in_lot"] is False
    assert data[0]["detail"] == "hors Lot · Corrèze" and data[0]["departement"] == "19"
    data = client.get("/communes/autocomplete?q=vaillac").get_json()
    assert data[0]["label"] == "Cœur de Causse — Vaillac" and data[0]["insee"] == COEUR_DE_CAUSSE
    assert data[0]["former"] == {"insee": VAILLAC, "name": "Vaillac"} and data[0]["lat"] == 44.676
    assert data[0]["detail"] == "ancienne commune, Cœur de Causse"
    assert all(c["in_lot"] for c in client.get("/communes/autocomplete?q=brive&scope=lot").get_json())
    lot = client.get("/communes/autocomplete?q=saint%20cyprien&scope=lot").get_json()
    assert [c["label"] for c in lot][:1] == ["Lendou-en-Quercy — Saint-Cyprien"]
    assert all(c["in_lot"] for c in lot)
    assert client.get("/communes/lookup?q=lalbenk").get_json()["commune"]["insee"] == "46148"


# --- forms -----------------------------------------------------------------------------------

def _offer_form(**overrides):
    data = {"kind": "regular", "origin": "Cœur de Causse — Vaillac", "destination": "Brive",
            "origin_place": "", "destination_place": "", "origin_lat": "", "origin_lon": "",
            "destination_lat": "", "destination_lon": "", "departure_time": "07:45",
            "weekdays": ["1", "2", "3", "4", "5"], "first_date": (TODAY + timedelta(days=1)).isoformat(),
            "last_date": (TODAY + timedelta(days=60)).isoformat(), "departure_date": "", "seats": "3",
            "max_detour_min": "10", "remark": ""}
    data.update(overrides)
    return data


def test_offer_from_a_former_commune_to_brive(client, make_driver):
    driver = make_driver()
    login_as(client, driver)
    token = csrf_token(client, "/mes-trajets/nouveau")
    r = client.post("/mes-trajets/nouveau", data={**_offer_form(), "csrf_token": token})
    assert r.status_code == 302, r.get_data(as_text=True)[-2000:]
    offer = db.session.scalar(db.select(Offer))
    assert offer.origin_insee == COEUR_DE_CAUSSE and offer.origin_place == "Vaillac"
    assert offer.point("origin") == (44.676, 1.531)  # the driver is sent to Vaillac
    assert offer.destination_insee == BRIVE and offer.destination_lat is None
    page = client.get("/mes-trajets/").get_data(as_text=True)
    assert "Cœur de Causse → Brive-la-Gaillarde (19)" in page  # the département shown outside the Lot
    # editing shows the place as chosen, and keeps its point
    form = client.get(f"/mes-trajets/{offer.id}/modifier").get_data(as_text=True)
    assert 'value="Cœur de Causse — Vaillac"' in form and 'value="Brive-la-Gaillarde (19)"' in form
    r = client.post(f"/mes-trajets/{offer.id}/modifier",
                    data={**_offer_form(origin="Cœur de Causse — Vaillac", destination="Brive-la-Gaillarde (19)",
                                        seats="2"), "csrf_token": token})
    assert r.status_code == 302
    db.session.expire_all()
    offer = db.session.get(Offer, offer.id)
    assert offer.seats == 2 and offer.point("origin") == (44.676, 1.531)


def test_misspelt_place_offers_clickable_suggestions(client, make_driver):
    login_as(client, make_driver())
    token = csrf_token(client, "/mes-trajets/nouveau")
    r = client.post("/mes-trajets/nouveau", data={**_offer_form(destination="lalbenk"), "csrf_token": token})
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert "Vouliez-vous dire : Lalbenque (46230)" in html
    assert 'data-commune-pick="destination" data-value="Lalbenque (46230)"' in html
    assert db.session.scalar(db.select(db.func.count()).select_from(Offer)) == 0
    r = client.post("/mes-trajets/nouveau", data={**_offer_form(destination="Cazals"), "csrf_token": token})
    html = r.get_data(as_text=True)
    assert 'data-value="Cazals (46250)"' in html and 'data-value="Cazals (82)"' in html
    assert "hors Lot (82)" in html


@pytest.fixture
def op_client(client):
    from lotocar.auth.models import Role
    from lotocar.auth.operations import create_staff

    user, _ = create_staff("op@lotocar.fr", "Sophie", "Martin", Role.OPERATOR)
    db.session.commit()  # as `flask operators create` does
    login_as(client, user)
    return client


def test_console_request_to_brive_from_vaillac_and_home_in_the_lot(op_client):
    token = csrf_token(op_client, "/console/appel?q=zzzz")
    r = op_client.post("/console/passagers", data={
        "csrf_token": token, "phone": "06 98 76 54 32", "first_name": "Odette", "last_name": "Marty",
        "home": "Brive-la-Gaillarde (19)", "has_no_car": "y"})
    assert r.status_code == 400 and "Aucune commune du Lot" in r.get_data(as_text=True)
    r = op_client.post("/console/passagers", data={
        "csrf_token": token, "phone": "06 98 76 54 33", "first_name": "Marcel", "last_name": "Bru",
        "home": "Vaillac", "has_no_car": "y"})  # she says her village: home in its commune
    assert r.status_code == 302, r.get_data(as_text=True)[-2000:]
    assert db.session.scalar(db.select(Passenger).where(Passenger.first_name == "Marcel")).home_insee == COEUR_DE_CAUSSE
    person = passenger()
    r = op_client.post(f"/console/passagers/{person.id}/demande", data={
        "csrf_token": token, "origin": "vaillac", "destination": "Brive-la-Gaillarde (19)",
        "destination_place": "Centre hospitalier", "mode": "arrive_by", "day": MONDAY.isoformat(),
        "at": "09:30", "flexibility_min": "30", "reason": "medical"})
    assert r.status_code == 302, r.get_data(as_text=True)[-2000:]
    req = db.session.scalar(db.select(TripRequest))
    assert (req.origin_insee, req.origin_place, req.point("origin")) == (COEUR_DE_CAUSSE, "Vaillac", (44.676, 1.531))
    assert req.destination_insee == BRIVE and req.destination_place == "Centre hospitalier"
    page = op_client.get(f"/console/demandes/{req.id}").get_data(as_text=True)
    assert "Cœur de Causse → Brive-la-Gaillarde (19)" in page and "Vaillac" in page


# --- API and matching ------------------------------------------------------------------------

def test_api_former_commune_and_out_of_lot(api, make_driver):  # noqa: F811
    found = api.get("/api/v1/communes?q=vaillac").get_json()["communes"][0]
    assert found["former"] == {"insee": VAILLAC, "name": "Vaillac"} and found["insee"] == COEUR_DE_CAUSSE
    assert api.get("/api/v1/communes?q=brive").get_json()["communes"][0]["departement"] == "19"
    pax = api.post("/api/v1/passengers", {"first_name": "Odette", "last_name": "Marty",
                                          "phone": "06 98 76 54 32", "home_insee": BRIVE, "has_no_car": True})
    assert pax.status_code == 422 and "home_insee" in pax.get_json()["error"]["fields"]
    drv = api.post("/api/v1/drivers", {"first_name": "Jean", "last_name": "Lafon", "phone": "06 11 22 33 44",
                                       "home_insee": BRIVE, "consent_contact": True})
    assert drv.status_code == 422 and "Lot" in drv.get_json()["error"]["fields"]["home_insee"]
    pax = api.post("/api/v1/passengers", {"first_name": "Odette", "last_name": "Marty",
                                          "phone": "06 98 76 54 32", "home_insee": COEUR_DE_CAUSSE,
                                          "has_no_car": True}).get_json()
    driver = make_driver()
    offer = api.post("/api/v1/offers", {
        "driver_id": driver.driver.id, "origin": {"insee": "46128"}, "destination": {"insee": "46042"},
        "recurrence": {"weekdays": [1, 2, 3, 4, 5], "time": "07:30",
                       "start_date": (TODAY + timedelta(days=1)).isoformat(),
                       "end_date": (TODAY + timedelta(days=60)).isoformat()}, "seats": 3,
        "max_detour_minutes": 15})
    assert offer.status_code == 201, offer.get_json()
    at_vaillac = api.post("/api/v1/requests", {
        "passenger_id": pax["id"], "origin": {"insee": VAILLAC}, "destination": {"insee": "46042"},
        "arrive_by": f"{MONDAY.isoformat()}T08:45", "reason": "medical"})
    assert at_vaillac.status_code == 201, at_vaillac.get_json()
    body = at_vaillac.get_json()
    assert body["origin"]["insee"] == COEUR_DE_CAUSSE and body["origin"]["place"] == "Vaillac"
    assert (body["origin"]["lat"], body["origin"]["lon"]) == (44.676, 1.531)
    assert body["origin"]["former"] == {"insee": VAILLAC, "name": "Vaillac"}
    at_town_hall = api.post("/api/v1/requests", {
        "passenger_id": pax["id"], "origin": {"insee": COEUR_DE_CAUSSE}, "destination": {"insee": "46042"},
        "arrive_by": f"{(MONDAY + timedelta(days=1)).isoformat()}T08:45", "reason": "medical"}).get_json()
    assert at_town_hall["origin"]["former"] is None
    # the matcher meets her in Vaillac: another pickup, another detour than at the town hall
    c1 = api.get(f"/api/v1/requests/{body['id']}/candidates").get_json()["candidates"]
    c2 = api.get(f"/api/v1/requests/{at_town_hall['id']}/candidates").get_json()["candidates"]
    assert c1 and c2
    assert c1[0]["detour_minutes"] != c2[0]["detour_minutes"]
    # what the driver is told: the old village, not the town hall 8 km away
    booking = api.post("/api/v1/bookings", {"request_id": body["id"], "offer_id": c1[0]["offer_id"],
                                            "date": c1[0]["date"]})
    assert booking.status_code == 201, booking.get_json()
    from lotocar.notifications.models import SmsMessage

    to_driver = db.session.scalar(db.select(SmsMessage).where(SmsMessage.recipient == "driver"))
    assert "Coeur de Causse, Vaillac" in to_driver.body  # GSM-7: œ written oe
    out = api.post("/api/v1/requests", {
        "passenger_id": pax["id"], "origin": {"insee": "46042"}, "destination": {"insee": BRIVE},
        "arrive_by": f"{MONDAY.isoformat()}T10:00", "reason": "medical"}).get_json()
    assert out["destination"]["departement"] == "19" and out["destination"]["in_lot"] is False


# --- statistics --------------------------------------------------------------------------------

def _unmet_to(pax, origin, destination, day):
    from lotocar.requests.models import RequestStatus

    r = trip_request(pax, origin=origin, destination=destination, day=day, at=time(9, 0))
    r.status = RequestStatus.UNMET
    r.unmet_reason = "Aucun conducteur disponible"
    db.session.commit()
    return r


def test_statistics_show_flows_out_of_the_lot(op_client):
    from lotocar.stats import operations as ops
    from lotocar.stats.filters import Scope, epci_options

    pax = passenger()
    days = [date(2025, 3, 3) + timedelta(days=7 * i) for i in range(4)]
    for day in days:
        _unmet_to(pax, SOUILLAC, BRIVE, day)
    _unmet_to(pax, "46102", VILLEFRANCHE, days[0])  # Figeac → Villefranche-de-Rouergue
    args = "du=2025-01-01&au=2025-12-31"
    data = op_client.get(f"/statistiques/carte.json?{args}").get_json()
    per = {c["insee"]: c for c in data["communes"]}
    assert per[BRIVE]["destinations"] == 4 and per[BRIVE]["name"] == "Brive-la-Gaillarde (19)"
    assert per[BRIVE]["in_lot"] is False
    flows = {(f["from"], f["to"]): f for f in data["flows"]}
    assert flows[(SOUILLAC, BRIVE)]["count"] == 4
    assert flows[(SOUILLAC, BRIVE)]["to_name"] == "Brive-la-Gaillarde (19)"
    # the background: the Lot's 312 communes and the two towns reached, not the 549 around
    assert len(data["background"]) == 314
    assert data["bounds"][1][0] >= 45.160  # Brive is in view
    assert any(line["label"] == "Souillac ⇄ Brive-la-Gaillarde (19)" for line in data["lines"])
    lines_page = op_client.get(f"/statistiques/lignes-virtuelles?{args}").get_data(as_text=True)
    assert "Brive-la-Gaillarde (19)" in lines_page
    # the territory filter: the Lot's EPCIs only; a trip belongs where it starts or ends
    options = dict(epci_options())
    assert len(options) == 10 and all(
        db.session.scalar(db.select(db.func.count()).select_from(Commune).where(
            Commune.epci_siren == siren, Commune.departement == "46")) for siren in options)
    brive_epci = db.session.get(Commune, BRIVE).epci_siren
    assert brive_epci not in options
    assert op_client.get(f"/statistiques/carte.json?{args}&epci={brive_epci}").status_code == 400
    souillac_epci = db.session.get(Commune, SOUILLAC).epci_siren
    figeac_epci = db.session.get(Commune, "46102").epci_siren
    assert ops.unmet_map(Scope(date(2025, 1, 1), date(2025, 12, 31), souillac_epci, "x"))["total"] == 4
    assert ops.unmet_map(Scope(date(2025, 1, 1), date(2025, 12, 31), figeac_epci, "x"))["total"] == 1
    # exports carry the département of both ends
    csv_text = op_client.get(f"/statistiques/exports/demandes.csv?{args}").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(csv_text.lstrip("\ufeff")), delimiter=";"))
    assert len(rows) == 5
    to_brive = [r for r in rows if r["arrivee_insee"] == BRIVE]
    assert len(to_brive) == 4 and all(r["arrivee_departement"] == "19" and r["depart_departement"] == "46"
                                      for r in to_brive)
    assert to_brive[0]["arrivee_commune"] == "Brive-la-Gaillarde"
