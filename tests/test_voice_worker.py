"""The worker process placing calls, killed with SIGKILL in the middle of a call's POST
(Twilio created the call, the worker never heard back): the next worker checks at Twilio
and adopts the call — the person is never called a second time for it."""
from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lotocar.extensions import db
from lotocar.notifications import outbox
from lotocar.notifications.models import Channel, SmsMessage, SmsStatus
from tests.fake_twilio import FakeTwilio
from tests.test_sms_worker import start_worker, wait_for, worker_env

ROOT = Path(__file__).resolve().parent.parent
S = SmsStatus
PHONES = ["+33565000101", "+33565000102", "+33565000103"]


@pytest.fixture
def fake():
    server = FakeTwilio().start()
    yield server
    server.stop()


def voice_env(app, fake: FakeTwilio) -> dict[str, str]:
    return {**worker_env(app, fake), "VOICE_GATEWAY": "twilio", "VOICE_FROM": "+33564000000",
            "PUBLIC_BASE_URL": "https://lotocar.example", "SMS_SENDING_LEASE_S": "1"}


def queue_calls() -> list[int]:
    ids = [outbox.enqueue(outbox.Draft(
        kind="confirmed", to_phone=phone, key=f"kill:{phone}", urgent=True, channel=Channel.VOICE,
        body=f"Bonjour. Ici Lot'ôcar. Votre trajet est confirmé (appel {n}).")) for n, phone in enumerate(PHONES)]
    db.session.commit()
    db.session.remove()
    return ids


def all_calls() -> list[SmsMessage]:
    db.session.remove()
    return list(db.session.scalars(db.select(SmsMessage).where(SmsMessage.channel == Channel.VOICE)
                                   .order_by(SmsMessage.id)))


def test_sigkill_mid_call_never_calls_twice(app, fake):
    fake.delay_after = 1.5  # Twilio created the call; its answer takes 1.5 s: the kill lands there
    queue_calls()
    proc = start_worker(voice_env(app, fake))
    assert wait_for(lambda: len(fake.calls) >= 1, timeout=20)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    [first, *_] = all_calls()
    assert first.status == S.SENDING and first.provider_id is None  # outcome unknown

    done = subprocess.run([sys.executable, "-m", "flask", "sms", "worker", "--until-idle", "--max-seconds", "60"],
                          cwd=ROOT, env=voice_env(app, fake), capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = all_calls()
    assert [r.status for r in rows] == [S.SENT] * 3
    assert [len(fake.calls_to(p)) for p in PHONES] == [1, 1, 1]  # nobody called twice
    assert fake.call_posts == 3 and fake.call_lists >= 1
    assert rows[0].checks == 1 and rows[0].provider_id == fake.calls_to(PHONES[0])[0]["sid"]
    # the two calls the dead worker had claimed but not placed were checked too, then placed once
    assert [r.checks for r in rows] == [1, 1, 1]
    print(f"\n  voice crash test: 1 SIGKILL mid-call, {fake.call_posts} calls placed for 3 rows, "
          f"{fake.call_lists} look-up(s), 0 duplicates")


def test_refused_call_with_unknown_outcome_is_checked_then_placed_once(app, fake):
    """A 500 from Twilio (created or not?): looked up first, found absent, placed once."""
    fake.script(PHONES[0], "500")
    queue_calls()
    done = subprocess.run([sys.executable, "-m", "flask", "sms", "worker", "--until-idle", "--max-seconds", "60"],
                          cwd=ROOT, env=voice_env(app, fake), capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = all_calls()
    assert [r.status for r in rows] == [S.SENT] * 3
    assert [len(fake.calls_to(p)) for p in PHONES] == [1, 1, 1]
    assert rows[0].checks == 1 and fake.call_posts == 4  # the 500, the check, one real call
