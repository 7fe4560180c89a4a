"""One clock for the whole app (lotocar/core/clock.py), pinned by the suite, moved on purpose.

Every business "now" goes through the clock module; the suite starts each test at a fixed
daytime instant and travels explicitly to the instants that matter: quiet hours (22:30,
07:59, 08:00), the daylight-saving nights at 02:30, expiry of codes and answer links. A
real worker process gets the pinned instant through LOTOCAR_CLOCK_START.
"""
from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime, time, timedelta, timezone
from pathlib import Path

import pytest

from lotocar.auth import operations as auth_ops
from lotocar.auth.operations import AuthError
from lotocar.core import clock
from lotocar.core.clock import PARIS
from lotocar.extensions import db
from lotocar.notifications import outbox, worker
from lotocar.notifications.models import SmsLink, SmsMessage, SmsStatus
from tests.conftest import DEFAULT_NOW, csrf_token, process_env
from tests.sms_factories import make_world, rows

ROOT = Path(__file__).resolve().parent.parent
UTC = timezone.utc
S = SmsStatus

# Reading the system clock for business time: only lotocar/core/clock.py may.
FORBIDDEN = re.compile(
    r"datetime\.now\(|datetime\.utcnow\(|date\.today\(|datetime\.today\(|"
    r"\btime\.time\(|\btime\.time_ns\(|\btime\.localtime\(|\btime\.gmtime\(|"
    r"\b_time\.time\(|\bnow\(\)\s*$"
)


def test_nothing_in_lotocar_reads_the_system_clock_but_the_clock_module():
    offenders = []
    for path in sorted((ROOT / "lotocar").rglob("*.py")):
        if path == ROOT / "lotocar" / "core" / "clock.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if FORBIDDEN.search(code):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == [], "use lotocar.core.clock:\n" + "\n".join(offenders)


def test_the_grep_of_the_issue_finds_only_the_clock_module():
    found = subprocess.run(["grep", "-rln", r"datetime.now\|date.today\|time.time()", "lotocar/"],
                           cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert found == ["lotocar/core/clock.py"], found


def test_every_test_starts_at_the_pinned_daytime_instant():
    now = clock.now_local()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(hours=1)
    assert DEFAULT_NOW <= now < DEFAULT_NOW + timedelta(minutes=5)  # it ticks from there
    assert clock.today_local() == DEFAULT_NOW.date()
    assert clock.now_utc().tzinfo is not None and clock.now_utc().utcoffset() == timedelta(0)


def test_travel_moves_the_app_clock(travel):
    travel(datetime(2026, 12, 2, 22, 30, tzinfo=PARIS), tick=False)
    assert clock.now_local() == datetime(2026, 12, 2, 22, 30, tzinfo=PARIS)
    assert clock.now_utc() == datetime(2026, 12, 2, 21, 30, tzinfo=UTC)
    assert clock.today_local() == datetime(2026, 12, 2).date()
    # the local date, not the machine's: 00:30 in Paris is still the previous day in UTC
    travel(datetime(2026, 12, 3, 0, 30, tzinfo=PARIS), tick=False)
    assert clock.today_local().day == 3 and clock.now_utc().day == 2


def test_start_instant_only_under_testing():
    start = "2026-12-02T22:30:00+01:00"
    try:
        assert clock.install_from_env("testing", {clock.ENV_START: start})
        assert abs(clock.now_local() - datetime(2026, 12, 2, 22, 30, tzinfo=PARIS)) < timedelta(seconds=5)
        clock.install_start(None)
        with pytest.raises(RuntimeError):
            clock.install_from_env("production", {clock.ENV_START: start})
        with pytest.raises(ValueError):
            clock.install_start(datetime(2026, 12, 2, 22, 30))  # naive: refused
        assert not clock.install_from_env("production", {})
    finally:
        clock.install_start(None)
    assert clock.now_local().date() == DEFAULT_NOW.date()


# --- quiet hours, through the app's own "now" (no instant passed in) -------------------

def _queue(body: str, urgent: bool = False) -> int:
    row_id = outbox.enqueue(outbox.Draft(kind="test", to_phone="+33600000009", body=body, urgent=urgent))
    db.session.commit()
    return row_id


@pytest.mark.parametrize("at, expect_sent", [
    (time(22, 30), False), (time(7, 59), False), (time(8, 0), True), (time(20, 59), True), (time(21, 0), False),
])
def test_quiet_hours_at_chosen_instants(app, sms, travel, at, expect_sent):
    travel(datetime(2026, 12, 2, at.hour, at.minute, tzinfo=PARIS), tick=False)
    _queue("pas urgent")
    worker.run_once(app)
    assert [m.body for m in sms.sent] == (["pas urgent"] if expect_sent else [])


def test_a_message_queued_at_night_goes_out_at_eight_and_urgent_at_once(app, sms, travel):
    travel(datetime(2026, 12, 2, 22, 30, tzinfo=PARIS), tick=False)
    held = _queue("confirmation de demain")
    _queue("changement dans 1 heure", urgent=True)
    [row] = [r for r in rows() if r.id == held]
    assert row.send_after == datetime(2026, 12, 3, 8, 0, tzinfo=PARIS).astimezone(UTC)
    worker.run_once(app)
    assert [m.body for m in sms.sent] == ["changement dans 1 heure"]
    travel(datetime(2026, 12, 3, 7, 59, tzinfo=PARIS), tick=False)
    worker.run_once(app)
    assert len(sms.sent) == 1
    travel(datetime(2026, 12, 3, 8, 0, tzinfo=PARIS), tick=False)
    worker.run_once(app)
    assert [m.body for m in sms.sent] == ["changement dans 1 heure", "confirmation de demain"]


def test_booking_proposed_at_night_the_driver_is_texted_in_the_morning(app, sms, travel):
    travel(datetime(2026, 12, 1, 22, 30, tzinfo=PARIS), tick=False)
    w = make_world(datetime(2026, 12, 8, 10, 5, tzinfo=PARIS))  # a ride next week: not urgent
    worker.run_once(app)
    assert sms.last_to(w.driver_phone) is None
    travel(datetime(2026, 12, 2, 8, 0, tzinfo=PARIS), tick=False)
    worker.run_once(app)
    assert "Marie" in sms.last_to(w.driver_phone).body


def test_booking_for_a_pickup_within_the_urgent_window_is_texted_at_night(app, sms, travel):
    travel(datetime(2026, 12, 1, 22, 30, tzinfo=PARIS), tick=False)
    w = make_world(datetime(2026, 12, 2, 7, 45, tzinfo=PARIS))  # in 9 h 15: urgent
    worker.run_once(app)
    assert sms.last_to(w.driver_phone) is not None


@pytest.mark.parametrize("night, offset_after", [
    # spring forward: 02:30 does not exist (03:30 CEST), the morning is 08:00 CEST = 06:00 UTC
    (datetime(2027, 3, 28, 2, 30, tzinfo=PARIS), timedelta(hours=2)),
    # fall back: 02:30 happens twice (the first, CEST, is taken), 08:00 CET = 07:00 UTC
    (datetime(2026, 10, 25, 2, 30, tzinfo=PARIS), timedelta(hours=1)),
])
def test_dst_nights_at_half_past_two(app, sms, travel, night, offset_after):
    travel(night, tick=False)
    local = clock.now_local()
    assert local.utcoffset() in (timedelta(hours=1), timedelta(hours=2))
    held = _queue("la nuit du changement d'heure")
    morning = datetime.combine(night.date(), time(8, 0), tzinfo=PARIS)
    assert morning.utcoffset() == offset_after
    [row] = [r for r in rows() if r.id == held]
    assert row.send_after == morning.astimezone(UTC)
    worker.run_once(app)
    assert sms.sent == []
    travel(morning - timedelta(minutes=1), tick=False)
    worker.run_once(app)
    assert sms.sent == []
    travel(morning, tick=False)
    worker.run_once(app)
    assert [m.body for m in sms.sent] == ["la nuit du changement d'heure"]


# --- expiry -----------------------------------------------------------------------------

def _code(sms) -> str:
    """The edge commits the code, then the SMS text carrying it goes out."""
    db.session.commit()
    return re.search(r"\b(\d{6})\b", sms.body).group(1)


def test_one_time_code_expires_after_its_ttl(app, sms, travel):
    start = travel(datetime(2026, 12, 1, 10, 0, tzinfo=PARIS), tick=False)
    code = _code(auth_ops.send_code("+33611112222", "login", None))
    travel(start + timedelta(minutes=9, seconds=59), tick=False)
    auth_ops.check_code("+33611112222", "login", code)  # still valid, consumed
    db.session.commit()
    code = _code(auth_ops.send_code("+33611112222", "login", None))
    travel(clock.now_local() + timedelta(minutes=10, seconds=1), tick=False)
    with pytest.raises(AuthError, match="expiré"):
        auth_ops.check_code("+33611112222", "login", code)


def test_answer_link_expires_after_48_hours(app, client, travel):
    start = travel(datetime(2026, 12, 1, 10, 0, tzinfo=PARIS), tick=False)
    w = make_world(datetime(2026, 12, 10, 10, 5, tzinfo=PARIS))
    [proposal] = [r for r in rows(w.booking_id) if r.kind == "proposal"]
    token = re.search(r"/r/([A-Za-z0-9]{20})\b", proposal.body).group(1)
    link = db.session.get(SmsLink, token[:10])
    assert link.expires_at == start.astimezone(UTC) + timedelta(hours=48)
    travel(start + timedelta(hours=47, minutes=59), tick=False)
    assert client.get(f"/r/{token}").status_code == 200
    travel(start + timedelta(hours=48, minutes=1), tick=False)
    r = client.get(f"/r/{token}")
    assert r.status_code == 410 and "expiré" in r.get_data(as_text=True)
    csrf_token(client, "/connexion")  # the rest of the site still answers at that instant


# --- a real worker process on the pinned clock ---------------------------------------------

def _worker_env(app, when: datetime) -> dict[str, str]:
    return process_env(**{"FLASK_APP": "app", "SECRET_KEY": "test-secret",
                          "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "SMS_GATEWAY": "dev",
                          "LOG_LEVEL": "ERROR", "LOTOCAR_LOG_LEVEL": "ERROR", clock.ENV_START: when.isoformat()})


def test_worker_process_honours_the_pinned_night(app, travel):
    travel(datetime(2026, 12, 2, 22, 30, tzinfo=PARIS), tick=False)
    held = _queue("pas urgent, la nuit")
    db.session.remove()
    night = subprocess.run([sys.executable, "-m", "flask", "sms", "worker", "--until-idle", "--max-seconds", "3"],
                           cwd=ROOT, env=_worker_env(app, datetime(2026, 12, 2, 22, 31, tzinfo=PARIS)),
                           capture_output=True, text=True, timeout=90)
    # nothing due at night: the worker goes idle without sending
    assert night.returncode == 0, night.stdout + night.stderr
    assert db.session.get(SmsMessage, held).status == S.PENDING
    morning = subprocess.run([sys.executable, "-m", "flask", "sms", "worker", "--until-idle", "--max-seconds", "30"],
                             cwd=ROOT, env=_worker_env(app, datetime(2026, 12, 3, 8, 0, 5, tzinfo=PARIS)),
                             capture_output=True, text=True, timeout=90)
    assert morning.returncode == 0, morning.stdout + morning.stderr
    db.session.expire_all()
    assert db.session.get(SmsMessage, held).status == S.SENT


def test_start_instant_refused_outside_testing(app):
    env = process_env(**{"FLASK_APP": "app", "APP_ENV": "production", "SECRET_KEY": "x" * 40,
                         "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
                         clock.ENV_START: "2026-12-02T22:30:00+01:00"})
    done = subprocess.run([sys.executable, "-m", "flask", "sms", "worker", "--until-idle", "--max-seconds", "1"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=90)
    assert done.returncode != 0 and clock.ENV_START in (done.stdout + done.stderr)
