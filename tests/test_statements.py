"""Drivers' monthly statements: rides done with first names only, km with passengers, detour
km, contributions due, totals; `flask statements month`, the "Mon relevé" page, the PDF looked
at as an image (poppler's pdftoppm) and as text, the CSV; operators print any driver's."""
from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from datetime import date, datetime, time
from pathlib import Path

import pytest

from lotocar.contributions.models import BookingContribution
from lotocar.contributions.pricing import format_eur
from lotocar.core.timeutil import PARIS
from lotocar.extensions import db
from lotocar.statements import operations as st_ops
from matching import Point, StraightLineRouter
from tests.conftest import login_as
from tests.factories import commune
from tests.money_factories import (
    CAHORS,
    DOUELLE,
    LUZECH,
    MERCUES,
    Pax,
    driver,
    mark_done,
    run,
)

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
NOV3, NOV10 = date(2026, 11, 3), date(2026, 11, 10)


def _pt(insee: str) -> Point:
    c = commune(insee)
    return Point(c.lat, c.lon)


@pytest.fixture
def november(app, travel):
    """Jean's November: a tour with Odette and Paul on the 3rd, Odette alone on the 10th,
    each confirmed the day before and marked done the same day; then back to December 1st."""
    travel(datetime(2026, 11, 2, 9, 0, tzinfo=PARIS))
    jean = driver()
    other = driver("Alice", "Bouyssou", CAHORS)
    tour = run(jean, NOV3, time(7, 45), [Pax("Odette", "Marty", DOUELLE, CAHORS, time(7, 55), time(8, 15)),
                                        Pax("Paul", "Bessières", MERCUES, CAHORS, time(8, 2), time(8, 16))])
    travel(datetime(2026, 11, 3, 12, 0, tzinfo=PARIS))
    mark_done(tour)
    travel(datetime(2026, 11, 9, 9, 0, tzinfo=PARIS))
    alone = run(jean, NOV10, time(7, 45), [Pax("Odette", "Marty", DOUELLE, CAHORS, time(7, 55), time(8, 15))])
    cancelled = run(jean, NOV10, time(17, 0), [Pax("Lucien", "Garrigues", DOUELLE, CAHORS, time(17, 10),
                                                   time(17, 30))], origin=CAHORS, destination=LUZECH)
    from lotocar.bookings import operations as bookings

    bookings.transition(cancelled[0], "cancel_by_passenger", None, "Rendez-vous annulé")
    elsewhere = run(other, NOV10, time(9, 0), [Pax("Rose", "Lafon", MERCUES, CAHORS, time(9, 5), time(9, 15))],
                    origin=LUZECH, destination=CAHORS)
    travel(datetime(2026, 11, 10, 12, 0, tzinfo=PARIS))
    mark_done(alone + elsewhere)
    travel(datetime(2026, 12, 1, 10, 0, tzinfo=PARIS))
    return {"jean": jean, "other": other, "tour": tour, "alone": alone}


def _expected(app):
    road = StraightLineRouter(app.config["ROUTER_CIRCUITY"], app.config["ROUTER_SPEED_KMH"])
    leg = lambda a, b: road.leg(_pt(a), _pt(b)).km
    bare = leg(LUZECH, CAHORS)
    tour_with = leg(DOUELLE, MERCUES) + leg(MERCUES, CAHORS)
    tour_detour = leg(LUZECH, DOUELLE) + leg(DOUELLE, MERCUES) + leg(MERCUES, CAHORS) - bare
    alone_with = leg(DOUELLE, CAHORS)
    alone_detour = leg(LUZECH, DOUELLE) + leg(DOUELLE, CAHORS) - bare
    return round(tour_with, 1), round(tour_detour, 1), round(alone_with, 1), round(alone_detour, 1)


def test_statement_figures(app, november):
    jean = november["jean"]
    statement = st_ops.statement(jean.driver, st_ops.Month.parse("2026-11"))
    tour_with, tour_detour, alone_with, alone_detour = _expected(app)
    assert [(r.day, r.passengers) for r in statement.rides] == [(NOV3, ("Odette", "Paul")), (NOV10, ("Odette",))]
    assert [r.km_with_passengers for r in statement.rides] == [tour_with, alone_with]
    assert [r.detour_km for r in statement.rides] == [tour_detour, alone_detour]
    fixed = {b: db.session.get(BookingContribution, b).amount_cents for b in november["tour"] + november["alone"]}
    assert all(v > 0 for v in fixed.values())
    assert statement.rides[0].contribution_cents == fixed[november["tour"][0]] + fixed[november["tour"][1]]
    assert statement.contributions_cents == sum(fixed.values())
    assert statement.passengers == 3 and statement.km_with_passengers == round(tour_with + alone_with, 1)
    assert statement.rides[0].departure.strftime("%H:%M") == "07:55"
    # a month without rides, and another driver's rides are not his
    assert st_ops.statement(jean.driver, st_ops.Month.parse("2026-10")).rides == []
    assert [r.passengers for r in st_ops.statement(november["other"].driver, st_ops.Month(2026, 11)).rides] == [("Rose",)]


def test_cli_month_for_one_driver_and_for_all(app, runner, november, tmp_path):
    jean = november["jean"]
    out = runner.invoke(args=["statements", "month", "2026-11", "--driver", str(jean.driver.id)])
    assert out.exit_code == 0, out.output
    assert "Relevé de novembre 2026 - Jean Delmas (Luzech)" in out.output
    assert "[Odette, Paul]" in out.output and "Marty" not in out.output and "Bessières" not in out.output
    assert "Total : 2 trajet(s), 3 passager(s)" in out.output
    everyone = runner.invoke(args=["statements", "month", "2026-11", "--out", str(tmp_path)])
    assert everyone.exit_code == 0 and "Alice Bouyssou" in everyone.output and "Jean Delmas" in everyone.output
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".csv", ".csv", ".pdf", ".pdf"]
    bad = runner.invoke(args=["statements", "month", "novembre"])
    assert bad.exit_code == 2 and "Mois non valide : écrivez-le AAAA-MM" in bad.output
    empty = runner.invoke(args=["statements", "month", "2026-10"])
    assert empty.exit_code == 0 and "Aucun trajet effectué en octobre 2026." in empty.output


def test_my_statement_page_csv_and_pdf_as_an_image(app, client, november):
    jean = november["jean"]
    login_as(client, jean)
    page = client.get("/mon-releve/?mois=2026-11")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Mon relevé — novembre 2026" in html
    assert "Odette, Paul" in html and "Marty" not in html and "Bessières" not in html
    statement = st_ops.statement(jean.driver, st_ops.Month(2026, 11))
    assert f'data-total-cents="{statement.contributions_cents}">{format_eur(statement.contributions_cents)}' in html
    assert client.get("/mon-releve/?mois=2026-13").status_code == 400
    assert "Mois non valide" in client.get("/mon-releve/?mois=abc").get_data(as_text=True)
    assert client.get("/mon-releve/2026-13.pdf").status_code == 404

    csv_response = client.get("/mon-releve/2026-11.csv")
    assert csv_response.mimetype == "text/csv" and csv_response.data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(csv_response.get_data(as_text=True).lstrip("\ufeff")), delimiter=";"))
    assert rows[0] == ["date", "depart", "de", "a", "passagers", "km_avec_passagers", "km_detour", "participation_eur"]
    assert rows[1][:5] == ["2026-11-03", "07:55", "Luzech", "Cahors", "Odette, Paul"]
    total = rows[-1]
    assert total[0] == "total" and total[4] == "3"
    assert total[7] == f"{statement.contributions_cents // 100},{statement.contributions_cents % 100:02d}"

    pdf = client.get("/mon-releve/2026-11.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    _look_at_pdf(pdf.data, statement)


def _look_at_pdf(data: bytes, statement) -> None:
    if shutil.which("pdftoppm") is None:
        pytest.skip("poppler-utils (pdftoppm) is not installed: .ci/run installs it")
    from PIL import Image

    ARTIFACTS.mkdir(exist_ok=True)
    pdf_path = ARTIFACTS / "statement-example.pdf"
    pdf_path.write_bytes(data)
    subprocess.run(["pdftoppm", "-png", "-r", "100", "-f", "1", "-l", "1", "-singlefile", str(pdf_path),
                    str(ARTIFACTS / "statement-example")], check=True, timeout=60)
    png = ARTIFACTS / "statement-example.png"
    with Image.open(png) as image:
        width, height = image.size
        assert (width, height) == (827, 1170)  # A4 at 100 dpi
        gray = image.convert("L")
        dark = sum(1 for v in gray.tobytes() if v < 128)
        assert dark > 0.01 * width * height, "the page looks blank"
        top = gray.crop((0, 0, width, height // 8))  # the blue title band is drawn at the top
        assert min(top.tobytes()) < 100
        rgb = image.convert("RGB").crop((0, 0, width, height // 8)).tobytes()
        pixels = zip(rgb[0::3], rgb[1::3], rgb[2::3])
        assert any(b > 100 and r < 60 and g < 60 for r, g, b in pixels), "no blue title"
    text = subprocess.run(["pdftotext", "-layout", str(pdf_path), "-"], check=True, capture_output=True,
                          text=True, timeout=60).stdout
    assert "Relevé de trajets" in text and "novembre 2026" in text and "Jean Delmas (Luzech)" in text
    assert "Odette, Paul" in text and "Marty" not in text and "Bessières" not in text
    assert format_eur(statement.contributions_cents).replace("\u00a0", " ") in text
    assert "Luzech - Cahors" in text and "page 1/1" in text


def test_operators_print_any_drivers_statement(app, client, november, staff):
    jean = november["jean"]
    login_as(client, staff["operator"])
    page = client.get(f"/console/conducteurs/{jean.driver.id}/releve?mois=2026-11").get_data(as_text=True)
    assert "Relevé de Jean Delmas — novembre 2026" in page and "Télécharger le PDF (à imprimer)" in page
    pdf = client.get(f"/console/conducteurs/{jean.driver.id}/releve/2026-11.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert "lotocar-releve-2026-11-conducteur-" in pdf.headers["Content-Disposition"]
    assert client.get("/console/conducteurs/999999/releve/2026-11.pdf").status_code == 404
    link = client.get(f"/console/conducteurs/{jean.driver.id}").get_data(as_text=True)
    assert f"/console/conducteurs/{jean.driver.id}/releve" in link


def test_a_driver_only_ever_sees_his_own_statement(app, client, november):
    login_as(client, november["other"])
    html = client.get("/mon-releve/?mois=2026-11").get_data(as_text=True)
    assert "Rose" in html and "Odette" not in html
    assert client.get(f"/console/conducteurs/{november['jean'].driver.id}/releve").status_code == 403


def test_month_parsing():
    assert st_ops.Month.parse("2026-11").last == date(2026, 11, 30)
    assert st_ops.Month.parse("2026-12").next() == st_ops.Month(2027, 1)
    assert st_ops.Month(2027, 1).previous() == st_ops.Month(2026, 12)
    for bad in ("2026-00", "2026-13", "26-11", "", "2026/11", "1999-01"):
        with pytest.raises(st_ops.StatementError):
            st_ops.Month.parse(bad)


def test_statistics_show_contributions_per_month_and_per_epci_and_exports_carry_them(app, runner, client,
                                                                                     november, staff, tmp_path):
    from lotocar.stats import operations as stats
    from lotocar.stats.filters import parse_scope

    fixed = {b: db.session.get(BookingContribution, b).amount_cents for b in november["tour"] + november["alone"]}
    rose = db.session.scalar(db.select(BookingContribution.amount_cents).order_by(BookingContribution.booking_id.desc()))
    data = stats.dashboard(parse_scope({"du": "2026-11-01", "au": "2026-11-30", "epci": ""}))
    [month] = [m for m in data.months if m["month"] == "2026-11"]
    total = sum(fixed.values()) + rose
    assert month["contributions_eur"] == round(total / 100, 2) == data.summary.contributions_eur
    by_epci = {row["epci"]: row for row in data.contributions_by_epci}
    douelle, mercues = commune(DOUELLE).epci_siren, commune(MERCUES).epci_siren
    assert douelle == mercues  # both in the CA du Grand Cahors: Odette ×2, Paul and Rose
    assert by_epci[douelle]["rides"] == 4 and by_epci[douelle]["contributions_eur"] == round(total / 100, 2)
    cli = runner.invoke(args=["stats", "summary", "--du", "2026-11-01", "--au", "2026-11-30"])
    assert json.loads(cli.output)["summary"]["contributions_eur"] == round(total / 100, 2)
    login_as(client, staff["operator"])
    page = client.get("/statistiques/?du=2026-11-01&au=2026-11-30").get_data(as_text=True)
    assert "Participations aux frais" in page and 'id="participations-epci"' in page
    assert f"{total // 100},{total % 100:02d} €" in page
    out = tmp_path / "trajets.csv"
    runner.invoke(args=["stats", "export", "trajets", "--du", "2026-11-01", "--au", "2026-11-30", "-o", str(out)])
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8").lstrip("\ufeff")), delimiter=";"))
    assert rows[0][-1] == "participation_eur"
    assert sorted(r[-1] for r in rows[1:]) == sorted(
        f"{c // 100},{c % 100:02d}" for c in [*fixed.values(), rose])
    out = tmp_path / "reservations.csv"
    runner.invoke(args=["stats", "export", "reservations", "--du", "2026-11-01", "--au", "2026-11-30", "-o", str(out)])
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8").lstrip("\ufeff")), delimiter=";"))
    assert rows[0][-1] == "participation_eur" and len(rows) == 6  # 5 bookings, the cancelled one with its amount
