"""What a call says, written for the ear; the development gateway prints it and, under
LOTOCAR_SPEAK_DIR, speaks it into a WAV file with Debian's espeak-ng.

`pytest tests/test_voice_texts.py -s` prints one full call (the README's example)."""
from __future__ import annotations

import os
import shutil
import wave
from datetime import datetime

import pytest

from lotocar.core.timeutil import PARIS
from lotocar.notifications import speech, worker
from lotocar.notifications.models import Channel
from lotocar.notifications.voice_gateway import DevVoiceGateway
from tests.sms_factories import confirm, make_world, rows


@pytest.mark.parametrize("hour,minute,spoken", [
    (8, 52, "8 heures 52"), (8, 0, "8 heures"), (1, 5, "1 heure 5"), (12, 0, "midi"), (12, 30, "midi 30"),
    (0, 15, "minuit 15"), (17, 45, "17 heures 45")])
def test_times_are_spelt_as_spoken(hour, minute, spoken):
    assert speech.time_spoken(datetime(2026, 12, 8, hour, minute, tzinfo=PARIS)) == spoken


def test_dates_and_numbers_for_the_ear():
    assert speech.day_spoken(datetime(2026, 12, 8, tzinfo=PARIS)) == "mardi 8 décembre"
    assert speech.day_spoken(datetime(2026, 12, 1, tzinfo=PARIS)) == "mardi 1er décembre"
    assert speech.phone_spoken("05 31 60 09 03") == "zéro 5, 31, 60, zéro 9, zéro 3"
    assert speech.phone_spoken("+33531600903") == "zéro 5, 31, 60, zéro 9, zéro 3"


def test_every_call_text_has_no_abbreviation_nor_digits_clock():
    for kind in speech.TEMPLATES:
        text = speech.message(kind, passenger="Marie", driver="Jean", commune="Saint-Médard-Nicourby",
                              place="place de l'église", destination="Figeac",
                              pickup_local=datetime(2026, 12, 8, 8, 52, tzinfo=PARIS),
                              old_pickup_local=datetime(2026, 12, 8, 8, 30, tzinfo=PARIS))
        assert "08:52" not in text and ":" not in text, text
        assert "(" not in text and "mairie)" not in text
        assert text[0].isupper() and "Marie" not in text  # the greeting names her, once


def test_development_gateway_prints_and_speaks(app, monkeypatch, tmp_path, capsys):
    if shutil.which("espeak-ng") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("espeak-ng is required under CI=true (apt-get install espeak-ng; see .ci/run)")
        pytest.skip("espeak-ng not installed: WAV files not checked (apt-get install espeak-ng)")
    gw = DevVoiceGateway(speak_dir=str(tmp_path))
    monkeypatch.setitem(app.extensions, "voice_gateway", gw)
    w = make_world(passenger_mobile=False, passenger_consent=False, passenger_call_consent=True,
                   pickup_local=datetime(2026, 12, 8, 8, 52, tzinfo=PARIS))
    confirm(w)
    worker.run_once(app)
    [placed] = [c for c in gw.calls if c.to == w.passenger_phone]
    printed = capsys.readouterr().out
    assert f"[Appel dev] to {w.passenger_phone} [confirmed]: Bonjour Marie." in printed
    assert "mardi 8 décembre, à 8 heures 52" in placed.speech and "Je répète." in placed.speech
    assert "Tapez 1 pour confirmer" in printed
    with wave.open(placed.wav) as wav:
        seconds = wav.getnframes() / wav.getframerate()
    assert seconds > 5
    [row] = [r for r in rows(w.booking_id) if r.channel == Channel.VOICE and r.kind == "confirmed"]
    assert row.provider_id.startswith("DEVCA")


def test_one_full_call(capsys):
    body = speech.message("confirmed", passenger="Marie", driver="Jean", commune="Douelle", place=None,
                          destination="Cahors", pickup_local=datetime(2026, 12, 8, 8, 52, tzinfo=PARIS))
    full = speech.full_call_text(body, "confirmed", "05 31 60 09 03", "Marie")
    assert full.startswith("Bonjour Marie. Ici Lot'ôcar") and full.count("Bonjour") == 1
    assert full.count("Jean vous prendra à Douelle, devant la mairie") == 2
    assert "mardi 8 décembre, à 8 heures 52" in full
    with capsys.disabled():
        print("\n  one full call (confirmation, nobody presses a key):\n  " + full)


def test_one_call_at_a_time_to_a_number(app, monkeypatch):
    """Two calls due for one number: the second waits until the first is over (Twilio side),
    but simulated calls of the development gateway never hold the next one."""
    from lotocar.extensions import db
    from lotocar.notifications import outbox
    from lotocar.notifications.models import SmsMessage, SmsStatus

    gw = DevVoiceGateway()
    monkeypatch.setitem(app.extensions, "voice_gateway", gw)
    ids = [outbox.enqueue(outbox.Draft(kind="test", to_phone="+33565000999", body=f"Message {n}.", urgent=True,
                                       channel=Channel.VOICE)) for n in (1, 2)]
    db.session.commit()
    worker.run_once(app)
    assert [c.speech.split("Lot. ")[1][:9] for c in gw.calls] == ["Message 1"]  # one per batch
    worker.run_once(app)
    assert [c.speech.split("Lot. ")[1][:9] for c in gw.calls] == ["Message 1", "Message 2"]
    first = db.session.get(SmsMessage, ids[0])
    first.provider_id, first.status = "CAreal0001", SmsStatus.SENT  # as if Twilio were ringing it
    third = outbox.enqueue(outbox.Draft(kind="test", to_phone="+33565000999", body="Message 3.", urgent=True,
                                        channel=Channel.VOICE))
    db.session.commit()
    worker.run_once(app)
    db.session.expire_all()
    assert db.session.get(SmsMessage, third).status == SmsStatus.PENDING and len(gw.calls) == 2
