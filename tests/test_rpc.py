"""Carpool proofs (RPC API v3, class A): a ride marked done becomes one journey, valid against
the JSON Schema kept in the repo; the worker's sender against a local fake register over HTTP:
accepted, refused with a reason (shown to operators), timeout then retry without duplicate,
the 24 h rule, the 2 km and too-close checks; the console warning about rides not marked done
20 h after their start; `flask rpc export` when no register is configured."""
from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest

from lotocar.contributions.models import BookingContribution
from lotocar.core.timeutil import PARIS, utcnow
from lotocar.extensions import db
from lotocar.rpc import journeys
from lotocar.rpc import operations as rpc
from lotocar.rpc import worker as rpc_worker
from lotocar.rpc.client import RegisterClient
from lotocar.rpc.models import JourneyStatus, RpcJourney
from tests.conftest import login_as
from tests.factories import commune
from tests.fake_rpc import FakeRegister
from tests.money_factories import (
    CAHORS,
    DOUELLE,
    MERCUES,
    Pax,
    driver,
    get,
    mark_done,
    run,
)

J = JourneyStatus
DEC2 = date(2026, 12, 2)
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture
def register(app):
    with FakeRegister() as fake:
        old = {k: app.config.get(k) for k in ("RPC_API_URL", "RPC_TOKEN", "RPC_TIMEOUT_S")}
        app.config.update(RPC_API_URL=fake.url, RPC_TOKEN=fake.token, RPC_TIMEOUT_S=2.0)
        yield fake
        app.config.update(old)


def _odette(pickup=time(7, 55), dropoff=time(8, 15), **kw) -> Pax:
    return Pax("Odette", "Marty", DOUELLE, CAHORS, pickup, dropoff, phone="+33698765432", **kw)


def _done_ride(travel, riders=None, day=DEC2, done_at=None, user=None):
    user = user or driver()
    ids = run(user, day, time(7, 45), riders or [_odette()])
    travel(done_at or datetime.combine(day, time(9, 0), tzinfo=PARIS))
    mark_done(ids)
    return user, ids


def _row(booking_id: int) -> RpcJourney:
    db.session.expire_all()
    return db.session.scalar(db.select(RpcJourney).where(RpcJourney.booking_id == booking_id))


def test_done_ride_becomes_a_class_a_journey_valid_against_the_schema(app, travel):
    jean, ids = _done_ride(travel, [_odette(), Pax("Paul", "Bessières", MERCUES, CAHORS, time(8, 2), time(8, 16))])
    odette, paul = (_row(i) for i in ids)
    assert odette.status == paul.status == J.PENDING
    payload = odette.payload
    assert journeys.schema_errors(payload) == []
    assert payload["operator_class"] == "A" and payload["incentives"] == []
    assert payload["operator_journey_id"] == f"lotocar-j{ids[0]}"
    assert payload["operator_trip_id"] == paul.payload["operator_trip_id"]  # one per run, shared by the tour
    assert payload["operator_journey_id"] != paul.payload["operator_journey_id"]
    assert payload["start"]["datetime"] == "2026-12-02T07:55:00+01:00"
    assert payload["end"]["datetime"] == "2026-12-02T08:15:00+01:00"
    d = commune(DOUELLE)
    assert (payload["start"]["lat"], payload["start"]["lon"]) == (round(d.lat, 6), round(d.lon, 6))
    fixed = db.session.get(BookingContribution, ids[0])
    assert payload["distance"] == round(fixed.km * 1000)
    assert payload["passenger"]["contribution"] == payload["driver"]["revenue"] == fixed.amount_cents > 0
    assert payload["passenger"]["seats"] == 1
    identity = payload["passenger"]["identity"]
    assert identity["identity_key"] == hashlib.sha256(b"+33698765432-MARTY").hexdigest()
    assert paul.payload["passenger"]["identity"]["identity_key"] == journeys.identity_key(
        get(ids[1]).request.passenger.phone, "BESSIERES")
    assert identity["phone_trunc"] == "+336987654"
    assert identity["operator_user_id"].startswith("ltc-") and "Marty" not in json.dumps(payload)
    assert payload["driver"]["identity"]["operator_user_id"] == journeys.operator_user_id("driver", jean.id)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "rpc-journey-example.json").write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")


def test_schema_refuses_what_the_register_would(app):
    good = {"operator_journey_id": "j1", "operator_trip_id": "t1", "operator_class": "A", "incentives": [],
            "start": {"datetime": "2026-12-02T07:55:00+01:00", "lat": 44.47, "lon": 1.36},
            "end": {"datetime": "2026-12-02T08:15:00+01:00", "lat": 44.45, "lon": 1.44}, "distance": 9000,
            "driver": {"identity": {"identity_key": "a" * 64, "operator_user_id": "u1", "phone_trunc": "+336123456"},
                       "revenue": 100},
            "passenger": {"identity": {"identity_key": "b" * 64, "operator_user_id": "u2", "phone_trunc": "+336987654"},
                          "contribution": 100, "seats": 1}}
    assert journeys.schema_errors(good) == []
    for broken in ({"operator_class": "C"}, {"distance": 0}, {"incentives": [{"amount": 1}]},
                   {"start": {"datetime": "2026-12-02 07:55", "lat": 44.47, "lon": 1.36}}, {"extra": 1}):
        assert journeys.schema_errors({**good, **broken}), broken
    bad_identity = json.loads(json.dumps(good))
    bad_identity["driver"]["identity"]["identity_key"] = "XYZ"
    assert journeys.schema_errors(bad_identity)


def test_accepted_by_the_register_and_sent_once(app, travel, register):
    _user, [booking_id] = _done_ride(travel)
    assert rpc_worker.send_due(app) == {"accepted": 1}
    row = _row(booking_id)
    assert row.status == J.ACCEPTED and row.attempts == 1 and row.sent_at is not None
    assert list(register.journeys) == [row.operator_journey_id]
    travel(datetime(2026, 12, 2, 12, 0, tzinfo=PARIS))
    assert rpc_worker.send_due(app) == {}  # nothing left
    rpc.record_done(get(booking_id))  # a replayed event adds nothing
    db.session.commit()
    assert db.session.scalar(db.select(db.func.count(RpcJourney.id))) == 1
    assert register.posts == [row.operator_journey_id]


def test_refused_with_a_reason_shown_to_operators(app, client, travel, register, staff):
    _user, [booking_id] = _done_ride(travel)
    register.refuse_next = (400, {"error": {"code": -32602, "message": "Invalid params",
                                            "data": "passenger/identity/phone_trunc must match format"}})
    assert rpc_worker.send_due(app) == {"refused": 1}
    row = _row(booking_id)
    assert row.status == J.REFUSED
    assert row.last_error == "Invalid params : passenger/identity/phone_trunc must match format"
    assert rpc_worker.send_due(app) == {}  # a refusal is final: never resent
    assert not rpc._move(row, J.PENDING, utcnow()) and not rpc._move(row, J.ACCEPTED, utcnow())
    login_as(client, staff["operator"])
    page = client.get("/console/preuves/").get_data(as_text=True)
    assert "Refusé par le registre" in page and "phone_trunc must match format" in page
    assert "Preuves (1 refus)" in client.get("/console/").get_data(as_text=True)


def test_terms_violation_labels_from_the_register_are_translated(app, travel, register):
    _user, [booking_id] = _done_ride(travel)
    register.refuse_next = (422, {"error": {"code": -32422, "message": "Unprocessable Entity",
                                            "data": {"terms_violation_labels": ["too_many_trips_by_day"]}}})
    rpc_worker.send_due(app)
    row = _row(booking_id)
    assert row.status == J.REFUSED and row.refusal_labels == ["too_many_trips_by_day"]
    assert "plus de 4 trajets le même jour pour la même personne" in row.last_error


@pytest.mark.parametrize("recorded", [True, False], ids=["register-got-it", "request-lost"])
def test_timeout_then_retry_without_duplicate(app, travel, register, recorded):
    _user, [booking_id] = _done_ride(travel)
    app.config["RPC_TIMEOUT_S"] = 0.3
    register.slow_posts, register.slow_seconds, register.slow_records = 1, 1.5, recorded
    assert rpc_worker.send_due(app) == {"unknown": 1}
    row = _row(booking_id)
    assert row.status == J.UNKNOWN and row.attempts == 1 and "délai dépassé" in row.last_error
    assert rpc_worker.send_due(app) == {}  # not due again before its backoff
    app.config["RPC_TIMEOUT_S"] = 2.0
    later = utcnow() + timedelta(minutes=5)
    assert rpc_worker.send_due(app, now=later) == {"accepted": 1}
    row = _row(booking_id)
    assert row.status == J.ACCEPTED
    assert register.lookups == [row.operator_journey_id]  # asked before any resend
    assert list(register.journeys) == [row.operator_journey_id]  # held once
    assert register.posts == [row.operator_journey_id] * (1 if recorded else 2)


def test_24h_rule_a_ride_marked_done_too_late_is_never_sent(app, client, travel, register, staff):
    _user, [booking_id] = _done_ride(travel, done_at=datetime(2026, 12, 3, 8, 0, tzinfo=PARIS))  # 24 h 05 after
    row = _row(booking_id)
    assert row.status == J.BLOCKED and row.refusal_labels == ["expired"]
    assert rpc_worker.send_due(app) == {} and register.posts == []
    login_as(client, staff["operator"])
    page = client.get("/console/preuves/").get_data(as_text=True)
    assert "envoyé plus de 24 h après le départ" in page and "Non envoyé (refus certain)" in page


def test_24h_rule_when_the_register_stays_unreachable(app, travel):
    _user, [booking_id] = _done_ride(travel)
    app.config.update(RPC_API_URL="http://127.0.0.1:9", RPC_TOKEN="t", RPC_TIMEOUT_S=0.5)  # nothing listens
    try:
        assert rpc_worker.send_due(app) == {"retry": 1}
        row = _row(booking_id)
        assert row.status == J.PENDING and "injoignable" in row.last_error
        travel(datetime(2026, 12, 3, 8, 0, tzinfo=PARIS))  # 24 h after the start, still not through
        assert rpc_worker.send_due(app) == {"blocked": 1}
        assert _row(booking_id).refusal_labels == ["expired"]
    finally:
        app.config.update(RPC_API_URL="", RPC_TOKEN="")


def test_the_register_itself_refuses_late_journeys(app, travel, register):
    _user, [booking_id] = _done_ride(travel)
    payload = _row(booking_id).payload
    travel(datetime(2026, 12, 3, 9, 0, tzinfo=PARIS))
    outcome = RegisterClient(register.url, register.token, 2.0).send(payload)  # our checks bypassed
    assert (outcome.kind, outcome.labels) == ("refused", ["expired"])


def test_short_rides_and_too_close_journeys_are_blocked_before_sending(app, travel, register):
    c = commune(CAHORS)
    short = Pax("Odette", "Marty", MERCUES, CAHORS, time(7, 55), time(8, 0), phone="+33698765432",
                origin_point=(c.lat + 0.006, c.lon))
    user, [short_id] = _done_ride(travel, [short])
    assert _row(short_id).status == J.BLOCKED and _row(short_id).refusal_labels == ["distance_too_short"]
    # the same driver and passenger: a journey inside another one (30 min margins)
    day = date(2026, 12, 4)
    first = run(user, day, time(7, 45), [_odette(time(8, 0), time(8, 20))])
    second = run(user, day, time(7, 40), [_odette(time(7, 50), time(8, 30))], origin="46214")
    travel(datetime(2026, 12, 4, 9, 0, tzinfo=PARIS))
    mark_done(first)
    mark_done(second)
    assert _row(first[0]).status == J.PENDING
    blocked = _row(second[0])
    assert blocked.status == J.BLOCKED and blocked.refusal_labels == ["too_close_trips"]
    assert rpc_worker.send_due(app) == {"accepted": 1}
    assert list(register.journeys) == [_row(first[0]).operator_journey_id]


def test_console_warns_about_rides_not_marked_done_20h_after_start(app, client, travel, staff):
    user = driver()
    [booking_id] = run(user, DEC2, time(7, 45), [_odette()])  # confirmed, pickup 07:55
    login_as(client, staff["operator"])
    travel(datetime(2026, 12, 3, 3, 0, tzinfo=PARIS))  # 19 h after
    assert "data-overdue-rides" not in client.get("/console/").get_data(as_text=True)
    travel(datetime(2026, 12, 3, 4, 30, tzinfo=PARIS))  # 20 h 35 after
    page = client.get("/console/").get_data(as_text=True)
    assert 'data-overdue-rides="1"' in page and "non marqué « effectué » 20 h après le départ" in page
    assert f"/console/reservations/{booking_id}" in client.get("/console/preuves/").get_data(as_text=True)
    mark_done([booking_id])
    assert "data-overdue-rides" not in client.get("/console/").get_data(as_text=True)


def test_export_when_no_register_is_configured(app, runner, travel, tmp_path):
    assert not rpc.configured()
    user, ids = _done_ride(travel, [_odette(), Pax("Paul", "Bessières", MERCUES, CAHORS, time(8, 2), time(8, 16))])
    _late, [late_id] = _done_ride(travel, day=date(2026, 12, 4), done_at=datetime(2026, 12, 5, 9, 0, tzinfo=PARIS))
    assert rpc_worker.send_due(app) == {}  # the worker sends nothing
    out = tmp_path / "journeys.json"
    result = runner.invoke(args=["rpc", "export", "--du", "2026-12-01", "--au", "2026-12-31", "-o", str(out)])
    assert result.exit_code == 0, result.output
    exported = json.loads(out.read_text())
    assert [j["operator_journey_id"] for j in exported] == [f"lotocar-j{i}" for i in ids]
    assert all(journeys.schema_errors(j) == [] for j in exported)
    assert f"non exporté lotocar-j{late_id}" in result.output and "2 trajet(s) exporté(s), 1 écarté(s)" in result.output
    narrow = runner.invoke(args=["rpc", "export", "--du", "2026-12-03", "--au", "2026-12-03"])
    assert narrow.exit_code == 0 and json.loads(narrow.stdout.split("\n0 trajet")[0]) == []
    assert runner.invoke(args=["rpc", "export", "--du", "hier", "--au", "2026-12-31"]).exit_code == 2
    assert "RPC_API_URL et RPC_TOKEN" in runner.invoke(args=["rpc", "send"]).output


def test_the_worker_runs_the_sender(app):
    assert ("rpc-journeys", rpc_worker.worker_job, app.config["RPC_INTERVAL_S"]) in [
        (name, job, seconds) for name, job, seconds in app.extensions["worker_jobs"]]
