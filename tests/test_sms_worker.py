"""The worker process (`flask sms worker`, APScheduler) against the fake Twilio API:
SIGKILL in the middle of batches loses nothing and sends nothing twice; SIGTERM stops
gracefully; on PostgreSQL two workers share the outbox (FOR UPDATE SKIP LOCKED)."""
from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from lotocar.extensions import db
from lotocar.notifications import outbox
from lotocar.notifications.models import SmsMessage, SmsStatus
from tests.conftest import process_env
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

ROOT = Path(__file__).resolve().parent.parent
S = SmsStatus


@pytest.fixture
def fake():
    server = FakeTwilio().start()
    yield server
    server.stop()


def worker_env(app, fake: FakeTwilio) -> dict[str, str]:
    return process_env(**{
        "FLASK_APP": "app", "APP_ENV": "testing", "SECRET_KEY": "test-secret",
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "SMS_GATEWAY": "twilio",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_API_BASE_URL": fake.url,
        "TWILIO_TIMEOUT_S": "2", "SMS_SENDING_LEASE_S": "3", "SMS_RETRY_BASE_S": "1",
        "SMS_WORKER_INTERVAL_S": "0.2", "SMS_WORKER_BATCH": "8",
        "PUBLIC_BASE_URL": "", "LOG_LEVEL": "ERROR", "LOTOCAR_LOG_LEVEL": "ERROR",
    })  # the worker runs on the test's pinned clock, quiet hours included


def start_worker(env, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "flask", "sms", "worker", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def queue_many(n: int, prefix: str) -> list[int]:
    ids = [outbox.enqueue(outbox.Draft(kind="test", to_phone=f"+336{i % 5:02d}000000", key=f"{prefix}:{i}",
                                       body=f"Lot'ôcar : message {prefix} n°{i}", urgent=True))
           for i in range(n)]
    db.session.commit()
    db.session.remove()
    return ids


def wait_for(predicate, timeout: float, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def drain(env) -> None:
    done = subprocess.run([sys.executable, "-m", "flask", "sms", "worker", "--until-idle", "--max-seconds", "60"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stdout + done.stderr


def all_rows() -> list[SmsMessage]:
    db.session.remove()
    return list(db.session.scalars(db.select(SmsMessage).order_by(SmsMessage.id)))


def test_sigkill_mid_batch_loses_nothing_and_sends_nothing_twice(app, fake):
    """Kill the worker (SIGKILL) right after Twilio accepted a message and before the worker
    could write it down, many times; restart; every message is sent exactly once."""
    rng = random.Random(46)
    fake.delay_after = 0.08  # the message exists at Twilio while the worker waits for the answer
    total = 36
    queue_many(total, "crash")
    env = worker_env(app, fake)
    kills = 0
    for _ in range(7):
        before = fake.posts
        proc = start_worker(env)
        target = before + rng.randint(1, 4)
        reached = wait_for(lambda: fake.posts >= target, timeout=15)
        time.sleep(rng.uniform(0.0, 0.05))  # inside the answer's pause, mid-batch
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        kills += 1
        if not reached or fake.count() >= total:
            break
    drain(env)

    rows = all_rows()
    bodies = Counter(m["body"] for m in fake.messages)
    assert len(rows) == total and all(r.status == S.SENT for r in rows), Counter(r.status for r in rows)
    assert all(bodies[r.body] == 1 for r in rows), [b for b, n in bodies.items() if n > 1]
    assert sum(bodies.values()) == total  # nothing lost, nothing twice
    checked = [r for r in rows if r.checks]
    assert checked, "some sends must have been interrupted and checked"
    assert all(r.provider_id == next(m["sid"] for m in fake.messages if m["body"] == r.body) for r in rows)
    print(f"\n  crash test: {kills} SIGKILLs, {total} messages, {len(checked)} outcome(s) unknown "
          f"and resolved by the check, {fake.posts} POSTs, {fake.lists} look-ups, 0 duplicates")


def test_sigterm_finishes_the_current_message_and_releases_the_rest(app, fake):
    fake.delay_after = 0.15
    total = 12
    queue_many(total, "term")
    env = worker_env(app, fake)
    proc = start_worker(env)
    assert wait_for(lambda: fake.posts >= 2, timeout=15)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0 and "stopped" in out, out
    rows = all_rows()
    states = Counter(r.status for r in rows)
    assert set(states) <= {S.SENT, S.PENDING} and states[S.SENT] == fake.count() < total, states
    drain(env)
    assert Counter(r.status for r in all_rows()) == {S.SENT: total}
    assert fake.count() == total and fake.posts == total


def test_two_workers_share_the_outbox_on_postgresql(app, fake, db_kind):
    if db_kind != "postgres":
        pytest.skip("SQLite is documented as single-worker (one writer at a time)")
    fake.delay_after = 0.1  # ≥ 3 s of sending: both workers are up long before the end
    total = 30
    queue_many(total, "pair")
    env = worker_env(app, fake)
    procs = [start_worker(env, "--worker-id", f"w{i}") for i in (1, 2)]
    try:
        assert wait_for(lambda: fake.count() >= total, timeout=40)
        # both workers record their last outcome before they are stopped
        assert wait_for(lambda: all(r.status == S.SENT for r in all_rows()), timeout=20)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=15)
    rows = all_rows()
    assert all(r.status == S.SENT for r in rows)
    assert fake.posts == total and len({m["body"] for m in fake.messages}) == total
    assert {r.claimed_by for r in rows} == {"w1", "w2"}  # both took a share
