"""Communes: shipped list, idempotent loading, tolerant lookup and autocomplete."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from lotocar.communes import operations as communes
from lotocar.communes.models import Commune, FormerCommune
from lotocar.communes.search import make_entry, normalize, resolve, search
from lotocar.extensions import db

ROOT = Path(__file__).resolve().parent.parent
CSV = ROOT / "data" / "communes" / "communes_lot.csv"


@pytest.fixture(scope="module")
def entries():
    with open(CSV, encoding="utf-8") as fh:
        return [make_entry(r["insee"], r["name"], r["postcode"], int(r["population"]))
                for r in csv.DictReader(fh)]


def test_shipped_list_and_attribution():
    rows = communes.read_csv(CSV)
    assert len(rows) == 312
    assert sum(r.population for r in rows) == 176_473
    cahors = next(r for r in rows if r.insee == "46042")
    assert (cahors.name, cahors.lat, cahors.lon) == ("Cahors", 44.447, 1.441)
    sources = (ROOT / "data" / "communes" / "SOURCES.md").read_text(encoding="utf-8")
    assert "Licence Ouverte" in sources and "INSEE" in sources


@pytest.mark.parametrize("raw,expected", [
    ("Saint-Géry-Vers", "saint gery vers"),
    ("st gery", "saint gery"),
    ("STE-COLOMBE", "sainte colombe"),
    ("L'Hospitalet", "l hospitalet"),
    ("  Mercuès ", "mercues"),
])
def test_normalize(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize("query,expected", [
    ("cahor", "Cahors"),
    ("CAHORS", "Cahors"),
    ("cahros", "Cahors"),  # transposition typo
    ("figeak", "Figeac"),
    ("st gery", "Saint Géry-Vers"),
    ("saint gery", "Saint Géry-Vers"),
    ("montcuq", "Montcuq-en-Quercy-Blanc"),
    ("lhospitalet", "Pern-Lhospitalet"),
    ("l'hospitalet", "Pern-Lhospitalet"),
    ("mercues", "Mercuès"),
    ("st-céré", "Saint-Céré"),
    ("ste colombe", "Sainte-Colombe"),
    ("st medard nicourby", "Saint-Médard-Nicourby"),
    ("46000", "Cahors"),
    ("46042", "Cahors"),
])
def test_search_finds_best_first(entries, query, expected):
    found = search(entries, query)
    assert found, query
    assert found[0].entry.name == expected


def test_ranking_closeness_then_population(entries):
    names = [m.entry.name for m in search(entries, "st medard")]
    # exact name first, then the longer names by population
    assert names[0] == "Saint-Médard"
    rest = [m for m in search(entries, "st medard")[1:] if m.how == "prefix"]
    pops = [m.entry.population for m in rest]
    assert pops == sorted(pops, reverse=True)
    assert search(entries, "xyzzy") == []
    assert search(entries, "") == []


def test_resolve_accepts_labels_and_single_prefix(entries):
    assert resolve(entries, "Cahors (46000)")[0].name == "Cahors"
    assert resolve(entries, "cahor")[0].name == "Cahors"
    entry, suggestions = resolve(entries, "lacapelle")  # several communes start so
    assert entry is None and len(suggestions) >= 2
    entry, suggestions = resolve(entries, "cahros")  # a typo is suggested, never guessed
    assert entry is None and suggestions[0].entry.name == "Cahors"


def test_load_command_idempotent_with_progress(app, runner):
    result = runner.invoke(args=["communes", "load"])
    assert result.exit_code == 0, result.output
    assert "Communes" in result.output and "Former communes" in result.output  # progress bars
    assert "312 communes: 0 added, 0 updated, 312 unchanged." in result.output
    assert "549 communes (549 outside the Lot): 0 added, 0 updated, 549 unchanged." in result.output
    assert "42 former communes: 0 added, 0 updated, 42 unchanged." in result.output
    commune = db.session.get(Commune, "46042")
    commune.population = 1
    vaillac = db.session.get(FormerCommune, "46325")
    vaillac.lat = 0.0
    db.session.commit()
    result = runner.invoke(args=["communes", "load"])
    assert "312 communes: 0 added, 1 updated, 311 unchanged." in result.output
    assert "42 former communes: 0 added, 1 updated, 41 unchanged." in result.output
    db.session.expire_all()
    assert db.session.get(Commune, "46042").population == 20050
    assert db.session.get(FormerCommune, "46325").lat == 44.676
    count = db.session.scalar(db.select(db.func.count()).select_from(Commune))
    in_lot = db.session.scalar(db.select(db.func.count()).select_from(Commune)
                               .where(Commune.departement == "46"))
    assert (count, in_lot) == (312 + 549, 312)
    assert db.session.scalar(db.select(db.func.count()).select_from(FormerCommune)) == 42


def test_load_one_file_and_former_file_errors(runner, tmp_path):
    result = runner.invoke(args=["communes", "load", "--csv", str(CSV)])
    assert result.exit_code == 0 and "312 communes: 0 added" in result.output
    assert "former" not in result.output
    bad = tmp_path / "former.csv"
    bad.write_text("former_insee,former_name\n46325,Vaillac\n", encoding="utf-8")
    result = runner.invoke(args=["communes", "load", "--former", str(bad)])
    assert result.exit_code != 0 and "unexpected columns" in result.output
    orphan = tmp_path / "orphan.csv"
    with open(ROOT / "data" / "communes" / "communes_lot_former.csv", encoding="utf-8") as fh:
        header = fh.readline()
    orphan.write_text(header + "99001,Nulle-Part,99999,Ailleurs,44.5,1.5,x,commune déléguée,2016-01-01\n",
                      encoding="utf-8")
    result = runner.invoke(args=["communes", "load", "--former", str(orphan)])
    assert result.exit_code != 0 and "current communes not loaded: 99999" in result.output
    assert db.session.get(FormerCommune, "99001") is None


def test_load_command_rejects_bad_file(runner, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("code,nom\n46042,Cahors\n", encoding="utf-8")
    result = runner.invoke(args=["communes", "load", "--csv", str(bad)])
    assert result.exit_code != 0
    assert "unexpected columns" in result.output


def test_geometry_stored(app, db_kind):
    commune = db.session.get(Commune, "46102")
    if db_kind == "postgres":
        # a real PostGIS geography: distance Cahors–Figeac about 58 km as the crow flies
        km = db.session.scalar(db.text(
            "SELECT ST_Distance(a.geom, b.geom) / 1000 FROM communes a, communes b "
            "WHERE a.insee = '46042' AND b.insee = '46102'"))
        assert 45 < km < 60
        near = db.session.scalars(db.text(
            "SELECT b.name FROM communes a JOIN communes b ON ST_DWithin(a.geom, b.geom, 8000) "
            "WHERE a.insee = '46042' ORDER BY b.name")).all()
        assert "Arcambal" in near and "Figeac" not in near
    else:
        assert commune.geom == "SRID=4326;POINT(2.035000 44.610000)"


def test_autocomplete_endpoint(client):
    r = client.get("/communes/autocomplete?q=st%20gery")
    assert r.status_code == 200
    data = r.get_json()
    assert data[0]["name"] == "Saint Géry-Vers" and data[0]["insee"] == "46268"
    assert data[0]["label"] == "Saint Géry-Vers (46090)"
    assert client.get("/communes/autocomplete?q=").get_json() == []
    assert client.get("/communes/autocomplete?q=cahor&limit=abc").status_code == 200
    long = client.get("/communes/autocomplete?q=" + "a" * 5000)
    assert long.status_code == 200


def test_lookup_endpoint(client):
    r = client.get("/communes/lookup?q=montcuq")
    assert r.status_code == 200
    assert r.get_json()["commune"]["name"] == "Montcuq-en-Quercy-Blanc"
    r = client.get("/communes/lookup?q=lhospitalet")
    assert r.get_json()["commune"]["name"] == "Pern-Lhospitalet"
    r = client.get("/communes/lookup?q=Strasbourg")
    assert r.status_code == 404
    assert "Aucune commune" in r.get_json()["error"]["message"]
    r = client.get("/communes/lookup")
    assert r.status_code == 400 and r.get_json()["error"]["fields"]["q"]
