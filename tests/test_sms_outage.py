"""Twilio unreachable for 10 minutes: messages wait (nothing lost, nothing failed), then go
out once each, in the order they were queued, when Twilio is back. Simulated clock; the
real SDK against a refused port, then against the fake Twilio on loopback."""
from __future__ import annotations

import socket
from datetime import timedelta

from lotocar.core.timeutil import utcnow
from lotocar.extensions import db
from lotocar.notifications import outbox, worker
from lotocar.notifications.models import SmsStatus
from tests.fake_twilio import FakeTwilio
from tests.sms_factories import rows
from tests.test_sms_twilio import use_twilio

S = SmsStatus


def test_ten_minute_outage_then_in_order(app, monkeypatch):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()  # nobody listens there: Twilio is "down"
    use_twilio(app, monkeypatch, dead)
    numbers = [f"+3361111110{i}" for i in range(6)]
    t0 = utcnow()
    ids = []
    for i, to in enumerate(numbers):
        ids.append(outbox.enqueue(outbox.Draft(kind="test", to_phone=to, body=f"Lot'ôcar : message {i}",
                                               urgent=True)))
        db.session.commit()
    # ten minutes of outage, the worker ticking every 15 s
    for k in range(0, 601, 15):
        worker.run_once(app, now=t0 + timedelta(seconds=k))
    db.session.expire_all()
    waiting = [r for r in rows() if r.id in ids]
    assert all(r.status == S.PENDING for r in waiting), [(r.id, r.status, r.last_error) for r in waiting]
    assert all(r.attempts >= 3 for r in waiting)  # it kept trying, with backoff
    # Twilio is back
    fake = FakeTwilio().start()
    try:
        use_twilio(app, monkeypatch, fake.url)
        k = 600
        while k < 4 * 3600:
            k += 30
            worker.run_once(app, now=t0 + timedelta(seconds=k))
            db.session.expire_all()
            if all(r.status == S.SENT for r in rows() if r.id in ids):
                break
        done = [r for r in rows() if r.id in ids]
        assert all(r.status == S.SENT for r in done), [(r.id, r.status) for r in done]
        assert fake.count() == len(numbers)  # once each: nothing lost, nothing twice
        assert [m["to"] for m in fake.messages] == numbers  # in the order they were queued
        print(f"\noutage: back after 10 min, all {len(numbers)} sent by t+{k // 60} min")
    finally:
        fake.stop()
