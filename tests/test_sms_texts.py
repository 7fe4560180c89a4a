"""SMS texts: French, GSM-7 after normalisation, at most 2 segments with long names."""
from __future__ import annotations

from datetime import datetime

import pytest

from lotocar.core.timeutil import PARIS
from lotocar.notifications.gsm import is_gsm7, normalize, segments
from lotocar.notifications.texts import REPLIES, TEMPLATES, TripFacts, render, render_reply

LONG = TripFacts(
    passenger_first="Marie-Christine", driver_first="Jean-Baptiste",
    commune="Saint-Médard-Nicourby", place="parking de la salle des fêtes",
    destination="Saint-Michel-de-Bannières",
    pickup_local=datetime(2027, 9, 29, 8, 5, tzinfo=PARIS),  # "mercredi 29 septembre"
    operator="05 31 60 09 03", link="https://lotocar.lot.fr/r/AbCdEfGhIj0123456789",
    old_pickup_local=datetime(2027, 9, 29, 7, 50, tzinfo=PARIS),
)


def test_normalize_keeps_gsm_accents_and_replaces_the_rest():
    assert normalize("é è à ù É") == "é è à ù É"
    assert normalize("Lot’ôcar « fête » çà\u00a0et là — œuvre…") == "Lot'ocar \" fete \" cà et là - oeuvre..."
    assert is_gsm7(normalize("Août, Noël, maïs, garçon, Île, À bientôt, Ça"))
    assert segments("a" * 160).segments == 1 and segments("a" * 161).segments == 2
    assert segments("ê" * 70).encoding == "UCS-2" and segments("ê" * 71).segments == 2
    assert segments("€" * 80).units == 160  # extension characters count twice


def test_every_template_fits_two_gsm7_segments_with_long_names(capsys):
    table = []
    for (kind, recipient), _template in sorted(TEMPLATES.items()):
        text = render(kind, recipient, LONG)
        info = segments(text)
        table.append((f"{kind}/{recipient}", len(text), info.encoding, info.segments))
        assert info.encoding == "GSM-7", text
        assert info.segments <= 2, (kind, recipient, len(text), text)
        assert "05 31 60 09 03" in text, text
        assert "Saint-Médard-Nicourby" in text or kind in ("accepted", "declined"), text
    for name in REPLIES:
        text = render_reply(name, "05 31 60 09 03", message="Impossible : la réservation est « Confirmée ».")
        info = segments(text)
        table.append((f"reply/{name}", len(text), info.encoding, info.segments))
        assert info.encoding == "GSM-7" and info.segments <= 2, text
    with capsys.disabled():
        print("\n  SMS template                      chars  encoding  segments")
        for name, chars, enc, segs in table:
            print(f"  {name:32} {chars:5}  {enc:8}  {segs}")


@pytest.mark.parametrize("kind,recipient,expected", [
    ("proposal", "driver", "pouvez-vous prendre Marie-Christine à Saint-Médard-Nicourby, parking de la salle "
                           "des fetes mercredi 29 septembre à 08:05"),
    ("confirmed", "passenger", "Jean-Baptiste vous prend à Saint-Médard-Nicourby"),
    ("reminder_soon", "driver", "Marie-Christine vous attend à 08:05"),
    ("changed", "passenger", "(au lieu de 07:50)"),
])
def test_texts_carry_the_facts(kind, recipient, expected):
    assert expected in render(kind, recipient, LONG)


def test_meeting_point_defaults_to_town_hall():
    facts = TripFacts("Marie", "Jean", "Douelle", None, "Cahors",
                      datetime(2027, 3, 2, 8, 5, tzinfo=PARIS), "05 31 60 09 03")
    text = render("confirmed", "passenger", facts)
    assert "Douelle (mairie)" in text and "mardi 2 mars à 08:05" in text
    assert text.startswith("Lot'ocar : trajet confirmé")
