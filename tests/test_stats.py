"""Statistics (issue #6): figures on a known data set, exports, virtual lines, access, errors."""
from __future__ import annotations

import csv
import io
import json
import math
from datetime import date

import pytest

from lotocar.audit.models import AuditEntry
from lotocar.auth.models import Role
from lotocar.auth.operations import create_staff
from lotocar.extensions import db
from lotocar.stats import lines as corridors
from lotocar.stats import operations as ops
from lotocar.stats.filters import CAUSE_EXPIRED, FilterError, Scope, parse_scope
from tests.conftest import csrf_token, login_as
from tests.stats_data import (ASSIER, CAHORS, DOUELLE, FIGEAC, GRAND_CAHORS, GRAND_FIGEAC, LACAPELLE,
                              LUZECH, MONTCUQ, commune, dashboard_data, lines_data)

Q1 = Scope(date(2025, 1, 1), date(2025, 3, 31))
Q1_ARGS = "du=2025-01-01&au=2025-03-31"


def road_km(a: str, b: str) -> float:
    """Independent check of the router: haversine (IUGG mean radius) × circuity 1.3."""
    ca, cb = commune(a), commune(b)
    p1, p2 = math.radians(ca.lat), math.radians(cb.lat)
    h = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(cb.lon - ca.lon) / 2) ** 2)
    return 2 * 6371.0088 * math.asin(math.sqrt(h)) * 1.3


@pytest.fixture
def operator(app):
    user, _ = create_staff("op@lotocar.fr", "Sophie", "Martin", Role.OPERATOR)
    db.session.commit()
    return user


@pytest.fixture
def admin(app):
    user, _ = create_staff("admin@lotocar.fr", "Claire", "Admin", Role.ADMIN)
    db.session.commit()
    return user


@pytest.fixture
def staff_client(client, operator):
    login_as(client, operator)
    return client


# --- figures ------------------------------------------------------------------------------

def test_dashboard_figures_on_known_data(app, make_driver):
    dashboard_data(make_driver)
    data = ops.dashboard(Q1)
    s = data.summary
    assert (s.requests, s.served, s.unmet, s.pending, s.cancelled) == (10, 3, 5, 1, 1)
    assert s.served_rate == pytest.approx(3 / 8)
    assert s.rides == 3
    assert (s.passengers, s.passengers_transported) == (5, 2)
    assert s.drivers_active == 2
    assert data.drivers_offering == 2        # the cancelled trip and the May trip do not count
    km = 2 * road_km(LUZECH, CAHORS) + road_km(DOUELLE, CAHORS)
    assert s.km_shared == pytest.approx(km, abs=1e-9)
    assert round(s.km_shared, 1) == 42.1
    assert s.detour_km == pytest.approx(6.0)  # (4 + 0 + 2) min at 60 km/h
    assert s.co2_kg == pytest.approx((km - 6.0) * 0.192, abs=1e-9)
    assert (data.new_passengers, data.returning_passengers) == (4, 1)   # P1 came in December
    assert dict(data.unmet_causes) == {
        "Aucun conducteur à cet horaire": 1, "Aucun conducteur sur ce trajet": 1, "Autre": 1,
        CAUSE_EXPIRED: 1, "Demande trop tardive": 1}
    reasons = {r["reason"]: (r["requests"], r["served"], r["unmet"]) for r in data.reasons}
    assert reasons == {"medical": (4, 2, 1), "job": (2, 1, 1), "shopping": (1, 0, 1),
                       "administration": (1, 0, 1), "training": (1, 0, 0), "other": (1, 0, 1)}
    months = {m["month"]: m for m in data.months}
    assert list(months) == ["2025-01", "2025-02", "2025-03"]
    assert (months["2025-01"]["served"], months["2025-01"]["rides"]) == (3, 3)
    assert months["2025-02"]["unmet"] == 3
    assert (months["2025-03"]["unmet"], months["2025-03"]["pending"], months["2025-03"]["cancelled"]) == (2, 1, 1)
    assert months["2025-01"]["km"] == pytest.approx(km)


def test_period_bounds_are_local_dates(app, make_driver):
    dashboard_data(make_driver)
    # 31 March 23:30 in Paris is 21:30 UTC: in March; 1 April 00:10 is 31 March 22:10 UTC: not.
    march = ops.dashboard(Scope(date(2025, 3, 31), date(2025, 3, 31))).summary
    assert march.requests == 1 and march.unmet == 1
    april = ops.dashboard(Scope(date(2025, 4, 1), date(2025, 4, 1))).summary
    assert april.requests == 1


def test_dashboard_per_epci(app, make_driver):
    dashboard_data(make_driver)
    cahors = ops.dashboard(parse_scope({"du": "2025-01-01", "au": "2025-03-31", "epci": GRAND_CAHORS}))
    s = cahors.summary
    assert cahors.scope.epci_name == "CA du Grand Cahors"
    assert (s.requests, s.served, s.unmet, s.cancelled) == (6, 3, 2, 1)
    assert s.served_rate == pytest.approx(0.6)
    assert (cahors.new_passengers, cahors.returning_passengers) == (2, 1)
    figeac = ops.dashboard(parse_scope({"du": "01/01/2025", "au": "31/03/2025", "epci": GRAND_FIGEAC}))
    assert (figeac.summary.requests, figeac.summary.unmet, figeac.summary.served_rate) == (3, 3, 0.0)
    assert figeac.summary.rides == 0 and figeac.drivers_offering == 0


def test_empty_period(app):
    data = ops.dashboard(Q1)
    assert data.summary.requests == 0 and data.summary.served_rate is None
    assert data.summary.co2_kg == 0


@pytest.mark.parametrize("args, field, message", [
    ({"du": "2025-13-45"}, "du", "Date de début incorrecte"),
    ({"au": "demain"}, "au", "Date de fin incorrecte"),
    ({"du": "2025-03-01", "au": "2025-01-01"}, "au", "après la date de début"),
    ({"du": "2000-01-01", "au": "2025-01-01"}, "au", "dix ans"),
    ({"epci": "123"}, "epci", "Territoire inconnu"),
])
def test_bad_filters_are_refused_in_french(app, args, field, message):
    with pytest.raises(FilterError) as exc:
        parse_scope(args)
    assert message in exc.value.errors[field]


# --- pages ---------------------------------------------------------------------------------

STAFF_PAGES = ["/statistiques/", "/statistiques/carte", "/statistiques/carte.json",
               "/statistiques/lignes-virtuelles", "/statistiques/exports",
               "/statistiques/exports/demandes.csv", "/statistiques/exports/trajets.csv"]


@pytest.mark.parametrize("url", STAFF_PAGES)
def test_anonymous_and_drivers_are_refused(client, make_driver, url):
    response = client.get(url)
    assert response.status_code in (302, 401)
    if response.status_code == 302:
        assert "/connexion" in response.headers["Location"]
    login_as(client, make_driver())
    assert client.get(url).status_code == 403


def test_full_export_refused_to_operators_and_drivers(client, operator, make_driver):
    for user in (operator, make_driver()):
        login_as(client, user)
        token = csrf_token(client, "/chiffres-cles")  # from the logout form in the header
        response = client.post(f"/statistiques/exports/demandes/complet?{Q1_ARGS}",
                               data={"csrf_token": token, "du": "2025-01-01", "au": "2025-03-31",
                                     "motif": "Bilan annuel"})
        assert response.status_code == 403
    assert db.session.scalar(db.select(AuditEntry).where(AuditEntry.entity == "stats_export")) is None


def test_dashboard_page(staff_client, make_driver):
    dashboard_data(make_driver)
    response = staff_client.get(f"/statistiques/?{Q1_ARGS}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Statistiques du service" in html and "Tout le Lot" in html
    assert "37,5\u00a0%" not in html and "38\u00a0%" in html      # 3 / 8, no decimals
    assert "42,1" in html and "0,192 kg CO₂e" in html and "Base Carbone" in html
    assert html.count("<canvas") == 5 and html.count("<table") >= 5   # each chart has its table
    assert "chart.umd.min.js" in html and "stats-charts.js" in html
    assert "<script>" not in html                                        # strict CSP: no inline script
    assert 'href="/statistiques/"' in html                               # staff nav link


def test_dashboard_page_bad_dates(staff_client):
    response = staff_client.get("/statistiques/?du=31/02/2025&epci=999")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Date de début incorrecte" in html and "Territoire inconnu" in html
    assert 'aria-invalid="true"' in html


@pytest.mark.parametrize("url", [
    "/statistiques/carte?du=nope", "/statistiques/carte?cause=inconnue", "/statistiques/carte?motif=peche",
    "/statistiques/lignes-virtuelles?au=2025-02-30", "/statistiques/exports?epci=abc",
])
def test_pages_bad_parameters_are_400(staff_client, url):
    response = staff_client.get(url)
    assert response.status_code == 400
    assert "incorrecte" in response.get_data(as_text=True) or "inconnu" in response.get_data(as_text=True)


def test_map_json(staff_client, make_driver):
    dashboard_data(make_driver)
    data = staff_client.get(f"/statistiques/carte.json?{Q1_ARGS}").get_json()
    assert data["total"] == 5
    per = {c["insee"]: (c["origins"], c["destinations"]) for c in data["communes"]}
    assert per[ASSIER] == (2, 0) and per[FIGEAC] == (0, 3) and per[LACAPELLE] == (1, 0)
    assert per[DOUELLE] == (1, 0) and per[CAHORS] == (1, 1) and per[LUZECH] == (0, 1)
    flows = {(f["from"], f["to"]): f["count"] for f in data["flows"]}
    assert flows[(ASSIER, FIGEAC)] == 2
    assert len(data["background"]) == 312     # every commune: the map reads without tiles
    assert data["bounds"][0][0] < 44.3 and data["bounds"][1][0] > 45.0
    # filters: cause and travel reason
    only_expired = staff_client.get(f"/statistiques/carte.json?{Q1_ARGS}&cause=restee-sans-reponse-date-passee").get_json()
    assert only_expired["total"] == 1 and only_expired["communes"][0]["insee"] in (ASSIER, FIGEAC)
    medical = staff_client.get(f"/statistiques/carte.json?{Q1_ARGS}&motif=medical").get_json()
    assert medical["total"] == 1
    figeac = staff_client.get(f"/statistiques/carte.json?{Q1_ARGS}&epci={GRAND_FIGEAC}").get_json()
    assert figeac["total"] == 3 and figeac["bounds"][1][1] > 2.0
    bad = staff_client.get("/statistiques/carte.json?du=2025-02-30")
    assert bad.status_code == 400 and "Date de début incorrecte" in bad.get_json()["error"]["message"]


def test_map_page(staff_client, make_driver, app):
    dashboard_data(make_driver)
    html = staff_client.get(f"/statistiques/carte?{Q1_ARGS}&motif=medical").get_data(as_text=True)
    assert 'id="stats-map"' in html and "leaflet.js" in html and "leaflet.css" in html
    assert f'data-tile-url="{app.config["MAP_TILE_URL"]}"' in html
    assert "/statistiques/carte.json?du=2025-01-01&amp;au=2025-03-31&amp;motif=medical" in html
    assert "Assier" in html      # the table gives the same figures as the map


def test_public_page_has_aggregates_only(client, make_driver):
    data = dashboard_data(make_driver)
    response = client.get("/chiffres-cles?annee=2025")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Lot'ôcar en chiffres" in html and "0,192" in html
    for p in data["passengers"]:
        assert p.last_name not in html and p.phone not in html
    for d in data["drivers"]:
        assert d.last_name not in html
    figures = ops.public_figures(2025)
    assert figures["summary"]["requests"] == 11 and figures["summary"]["rides"] == 3
    assert [y["year"] for y in figures["years"]] == [2024, 2025]
    assert figures["years"][0]["rides"] == 1
    assert client.get("/chiffres-cles?annee=deux-mille").status_code == 400
    assert "Année incorrecte" in client.get("/chiffres-cles?annee=1999").get_data(as_text=True)


# --- exports ---------------------------------------------------------------------------------

def read_csv(response) -> list[dict[str, str]]:
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf"), "UTF-8 BOM for spreadsheet software"
    text = raw.decode("utf-8-sig")
    assert "\r\n" in text
    return list(csv.DictReader(io.StringIO(text), delimiter=";"))


def test_pseudonymised_exports(staff_client, make_driver):
    data = dashboard_data(make_driver)
    response = staff_client.get(f"/statistiques/exports/demandes.csv?{Q1_ARGS}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "lotocar-demandes-2025-01-01_2025-03-31.csv" in response.headers["Content-Disposition"]
    rows = read_csv(response)
    assert len(rows) == 10
    body = response.get_data(as_text=True)
    for p in data["passengers"]:
        assert p.last_name not in body and p.first_name not in body and p.phone[-8:] not in body
    assert "Cardiologue" not in body                      # free-text notes are left out
    r1 = next(r for r in rows if r["id_demande"] == str(data["requests"]["R1"].id))
    assert r1["depart_commune"] == "Luzech" and r1["arrivee_commune"] == "Cahors"
    assert r1["date_trajet"] == "2025-01-06" and r1["heure"] == "08:30" and r1["issue"] == "servie"
    assert r1["motif"] == "Rendez-vous médical"
    assert float(r1["distance_km"].replace(",", ".")) == pytest.approx(road_km(LUZECH, CAHORS), abs=0.05)
    r7 = next(r for r in rows if r["id_demande"] == str(data["requests"]["R7"].id))
    assert (r7["issue"], r7["cause_sans_solution"]) == ("sans solution", CAUSE_EXPIRED)
    codes = {r["passager"] for r in rows}
    assert len(codes) == 5 and all(c.startswith("P-") and len(c) == 12 for c in codes)

    rides = read_csv(staff_client.get(f"/statistiques/exports/trajets.csv?{Q1_ARGS}"))
    assert len(rides) == 3
    assert {r["passager"] for r in rides} == {r1["passager"], next(
        r["passager"] for r in rows if r["id_demande"] == str(data["requests"]["R3"].id))}
    assert all(r["conducteur"].startswith("C-") for r in rides)
    total_km = sum(float(r["distance_km"].replace(",", ".")) for r in rides)
    assert total_km == pytest.approx(ops.dashboard(Q1).summary.km_shared, abs=0.15)
    co2 = sum(float(r["co2_evite_kg"].replace(",", ".")) for r in rides)
    assert co2 == pytest.approx(ops.dashboard(Q1).summary.co2_kg, abs=0.02)

    bookings = read_csv(staff_client.get(f"/statistiques/exports/reservations.csv?{Q1_ARGS}&epci={GRAND_CAHORS}"))
    assert len(bookings) == 3 and {b["statut"] for b in bookings} == {"Effectuée"}

    bad = staff_client.get("/statistiques/exports/demandes.csv?du=hier")
    assert bad.status_code == 400 and "Date de début incorrecte" in bad.get_data(as_text=True)


def test_full_export_for_admins_is_audited(client, admin, make_driver):
    data = dashboard_data(make_driver)
    login_as(client, admin)
    page = client.get(f"/statistiques/exports?{Q1_ARGS}").get_data(as_text=True)
    assert "Export complet (nominatif)" in page
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    form = {"csrf_token": token, "du": "2025-01-01", "au": "2025-03-31"}
    assert client.post("/statistiques/exports/demandes/complet", data=form).status_code == 400  # no purpose
    response = client.post("/statistiques/exports/demandes/complet", data={**form, "motif": "Contrôle CAF"})
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].endswith('-complet.csv"')
    rows = read_csv(response)
    assert len(rows) == 10
    r1 = next(r for r in rows if r["id_demande"] == str(data["requests"]["R1"].id))
    assert (r1["passager_prenom"], r1["passager_nom"]) == ("Odette", "Marty")
    assert r1["passager_telephone"] == "06 98 00 00 01" and r1["notes"] == "Cardiologue"
    entry = db.session.scalar(db.select(AuditEntry).where(AuditEntry.entity == "stats_export"))
    assert entry.actor_id == admin.id and entry.action == "full_export" and entry.reason == "Contrôle CAF"
    assert entry.changes == {"kind": "demandes", "du": "2025-01-01", "au": "2025-03-31", "rows": 10}
    assert client.get("/statistiques/exports/demandes/complet").status_code == 405


def test_csv_cells_cannot_run_formulas(app, make_driver, admin, client):
    data = dashboard_data(make_driver)
    data["passengers"][0].last_name = "=HYPERLINK(\"http://x\")"
    db.session.commit()
    login_as(client, admin)
    page = client.get("/statistiques/exports").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    rows = read_csv(client.post("/statistiques/exports/demandes/complet",
                                data={"csrf_token": token, "du": "2025-01-01", "au": "2025-03-31",
                                      "motif": "Vérification"}))
    assert {r["passager_nom"] for r in rows} >= {"'=HYPERLINK(\"http://x\")"}


# --- virtual lines ------------------------------------------------------------------------------

def test_virtual_lines_two_corridors(app, make_driver):
    lines_data(make_driver)
    found = ops.virtual_lines(Q1)
    assert [line.label for line in found] == ["Luzech ⇄ Cahors", "Assier ⇄ Figeac"]
    west, east = found
    assert (west.requests, west.served, west.unmet, west.forward, west.backward) == (8, 1, 6, 6, 2)
    assert {(p["from"], p["to"]): p["count"] for p in west.pairs} == {
        ("Luzech", "Cahors"): 3, ("Douelle", "Cahors"): 2, ("Parnac", "Cahors"): 1, ("Cahors", "Luzech"): 2}
    assert west.weekdays == [3, 3, 1, 1, 0, 0, 0]           # Mon Tue Wed Thu
    assert west.hour_bands == [0, 3, 2, 0, 1, 2, 0]          # 8:30×3, 9:00×2, 14:00, 17:00×2
    assert [(s["direction"], s["from"], s["to"], s["count"]) for s in west.slots] == [
        ("Luzech → Cahors", "08:30", "09:00", 5), ("Cahors → Luzech", "17:00", "17:00", 2)]
    assert west.regular_needed == 1
    drivers = {d.name: d for d in west.drivers}
    assert set(drivers) == {"Nathalie R.", "Pierre B."}      # Luc's trip is paused
    assert drivers["Nathalie R."].regular and drivers["Nathalie R."].carries == 6
    assert not drivers["Pierre B."].regular and drivers["Pierre B."].carries == 2
    assert west.regular_drivers == 1
    assert (east.requests, east.unmet, east.forward, east.backward) == (5, 4, 4, 1)
    assert {(p["from"], p["to"]): p["count"] for p in east.pairs} == {
        ("Reyrevignes", "Figeac"): 2, ("Assier", "Figeac"): 2, ("Figeac", "Assier"): 1}
    assert east.regular_needed == 1 and east.drivers == []
    assert [s["count"] for s in east.slots] == [4]


def test_corridor_grouping_is_pure_and_symmetric(app):
    from matching import Point, StraightLineRouter

    points = {i: Point(commune(i).lat, commune(i).lon)
              for i in (LUZECH, CAHORS, DOUELLE, ASSIER, FIGEAC, MONTCUQ)}
    legs = corridors.Legs(StraightLineRouter(1.3, 60), points)
    # Douelle → Cahors is asked most, then Luzech → Cahors extends that corridor upstream;
    # Montcuq → Cahors (9.7 min off the Luzech road) stays a corridor of its own
    trips = [corridors.Trip(1, DOUELLE, CAHORS, 540, 0), corridors.Trip(2, LUZECH, CAHORS, 510, 1),
             corridors.Trip(3, CAHORS, DOUELLE, 1020, 0), corridors.Trip(4, ASSIER, FIGEAC, 480, 2),
             corridors.Trip(5, MONTCUQ, CAHORS, 480, 2)]
    groups = corridors.group_corridors(trips, legs)
    assert [(g.a, g.b, len(g.forward), len(g.backward)) for g in groups] == [
        (LUZECH, CAHORS, 2, 1), (ASSIER, FIGEAC, 1, 0), (MONTCUQ, CAHORS, 1, 0)]
    # a driver Douelle → Cahors cannot carry Luzech → Cahors (upstream), the reverse is fine
    assert legs.detour(DOUELLE, CAHORS, LUZECH, CAHORS) > 10 > legs.detour(LUZECH, CAHORS, DOUELLE, CAHORS)
    assert corridors.recurring_slots([corridors.Trip(i, "a", "b", m, 0) for i, m in
                                      enumerate([420, 450, 530, 545, 900])], True) == [
        corridors.Slot(True, 420, 530, 3, (3, 0, 0, 0, 0, 0, 0))]


def test_virtual_lines_page(staff_client, make_driver):
    lines_data(make_driver)
    html = staff_client.get(f"/statistiques/lignes-virtuelles?{Q1_ARGS}").get_data(as_text=True)
    assert "1. Luzech ⇄ Cahors" in html and "2. Assier ⇄ Figeac" in html
    assert "Nathalie R. (Luzech)" in html and "Gourdon" not in html.split("Lignes virtuelles :")[1]
    assert 'data-mode="lines"' in html
    data = staff_client.get(f"/statistiques/carte.json?{Q1_ARGS}").get_json()
    assert [line["label"] for line in data["lines"]] == ["Luzech ⇄ Cahors", "Assier ⇄ Figeac"]
    assert data["lines"][0]["path"] == [[commune(LUZECH).lat, commune(LUZECH).lon],
                                        [commune(CAHORS).lat, commune(CAHORS).lon]]


# --- CLI -----------------------------------------------------------------------------------------

def test_cli_summary_and_export(runner, make_driver, tmp_path):
    dashboard_data(make_driver)
    result = runner.invoke(args=["stats", "summary", "--du", "2025-01-01", "--au", "2025-03-31"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["summary"]["requests"] == 10 and data["summary"]["rides"] == 3
    assert data["co2_factor"]["kg_per_km"] == 0.192
    out = tmp_path / "trajets.csv"
    result = runner.invoke(args=["stats", "export", "trajets", "--du", "2025-01-01", "--au", "2025-03-31",
                                 "-o", str(out)])
    assert result.exit_code == 0 and "3 lignes" in result.output
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    bad = runner.invoke(args=["stats", "summary", "--du", "32/01/2025"])
    assert bad.exit_code != 0 and "Date de début incorrecte" in bad.output


@pytest.mark.parametrize("url", ["/statistiques/", "/statistiques/carte", "/statistiques/lignes-virtuelles",
                                 "/statistiques/exports", "/statistiques/exports/reservations.csv"])
def test_pages_without_any_data(staff_client, url):
    response = staff_client.get(url)
    assert response.status_code == 200


def test_public_page_without_any_data(client):
    html = client.get("/chiffres-cles").get_data(as_text=True)
    assert "Lot'ôcar en chiffres" in html and "Aucune donnée sur cette période." in html
