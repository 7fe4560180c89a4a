"""Issue 13: the per-process matching state follows the database by applying changes
(change log), never by rebuilding on a write; seats from offer_days; few SQL statements."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import time, timedelta

import pytest
from sqlalchemy import event

from lotocar.auth.models import Role
from lotocar.auth.operations import create_staff
from lotocar.bookings.models import OfferDay
from lotocar.candidates.service import seats_taken, service
from lotocar.core import counters
from lotocar.extensions import db
from lotocar.offers import operations as ops
from lotocar.offers.models import Offer, OfferChange
from tests.conftest import TEST_CONFIG, login_as
from tests.factories import MONDAY, luzech_cahors, passenger, trip_request


@contextmanager
def other_process(app, tmp_path):
    """A second app with its own matching service, as another gunicorn worker."""
    from lotocar import create_app

    other = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]})
    other.instance_path = str(tmp_path)
    with other.app_context():
        yield
        db.session.remove()
        db.engine.dispose()
    db.session.expire_all()


@contextmanager
def statements():
    seen: list[str] = []

    def count(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def test_each_trip_change_writes_its_log_row_in_the_same_transaction(app, make_driver):
    offer = luzech_cahors(make_driver())
    rows = db.session.execute(db.select(OfferChange.seq, OfferChange.offer_id)).all()
    assert rows == [(counters.read("offers"), offer.id)]
    ops.change_status(offer, "pause", None)
    db.session.rollback()  # the change and its log row go together
    assert db.session.scalar(db.select(db.func.count()).select_from(OfferChange)) == 1
    ops.change_status(db.session.get(Offer, offer.id), "pause", None)
    db.session.commit()
    seqs = db.session.scalars(db.select(OfferChange.seq).order_by(OfferChange.seq)).all()
    assert len(seqs) == 2 and seqs[-1] == counters.read("offers") == seqs[0] + 1


def test_writes_of_another_process_are_applied_not_rebuilt(app, make_driver, tmp_path):
    driver = make_driver()
    req = trip_request(passenger())
    assert service().candidates_for(req) == []
    rebuilds, applied = service().rebuilds, service().changes_applied
    with other_process(app, tmp_path):
        offer_id = luzech_cahors(db.session.merge(driver)).id
        luzech_cahors(db.session.merge(driver), seats=2)
    found = service().candidates_for(req)
    assert len(found) == 2
    assert service().rebuilds == rebuilds and service().changes_applied == applied + 2
    with other_process(app, tmp_path):  # paused elsewhere: removed here, again without rebuild
        ops.change_status(db.session.get(Offer, offer_id), "pause", None)
        db.session.commit()
    assert [c.offer_id for c in service().candidates_for(req)] == [o.offer_id for o in found if o.offer_id != offer_id]
    with other_process(app, tmp_path):  # resumed: re-added
        ops.change_status(db.session.get(Offer, offer_id), "resume", None)
        db.session.commit()
    assert len(service().candidates_for(req)) == 2
    assert service().rebuilds == rebuilds


def test_own_writes_follow_the_commit_without_reading_the_log(app, make_driver):
    req = trip_request(passenger())
    assert service().candidates_for(req) == []
    rebuilds, applied = service().rebuilds, service().changes_applied
    luzech_cahors(make_driver())
    assert len(service().candidates_for(req)) == 1
    assert (service().rebuilds, service().changes_applied) == (rebuilds, applied)


def test_a_gap_in_the_log_forces_a_rebuild(app, make_driver, tmp_path):
    driver = make_driver()
    req = trip_request(passenger())
    assert service().candidates_for(req) == []
    rebuilds = service().rebuilds
    with other_process(app, tmp_path):
        luzech_cahors(db.session.merge(driver))
        db.session.execute(db.delete(OfferChange))  # the log lost a row (e.g. pruned)
        db.session.commit()
    assert len(service().candidates_for(req)) == 1
    assert service().rebuilds == rebuilds + 1


def test_a_full_build_reads_the_trips_batch_by_batch_and_misses_none(app, make_driver, monkeypatch):
    from lotocar.candidates import service as matching

    driver = make_driver()
    ids = [luzech_cahors(driver, seats=1 + k % 3).id for k in range(5)]
    ops.change_status(db.session.get(Offer, ids[2]), "pause", None)
    db.session.commit()
    monkeypatch.setattr(matching, "LOAD_BATCH", 2)  # batches of 2, the last one short
    req = trip_request(passenger())
    service().reset()
    with statements() as seen:
        found = service().candidates_for(req)
    assert sorted(c.offer_id for c in found) == [i for i in ids if i != ids[2]]
    assert len(service()._index) == 4
    assert sum("FROM offers" in s and "LIMIT" in s for s in seen) == 3  # 2 + 2 + an empty one


def test_worker_prunes_old_change_log_rows(app, make_driver, travel, tmp_path):
    from datetime import datetime, time

    from lotocar.candidates.service import prune_change_log
    from tests.factories import TODAY

    driver = make_driver()
    req = trip_request(passenger())
    assert service().candidates_for(req) == []
    with other_process(app, tmp_path):
        luzech_cahors(db.session.merge(driver))
    assert ("offer-changes-prune", prune_change_log, 3600.0) in app.extensions["worker_jobs"]
    assert prune_change_log(app) == 0  # fresh rows are kept
    travel(datetime.combine(TODAY + timedelta(days=3), time(10, 0)))
    assert prune_change_log(app) == 1
    assert db.session.scalar(db.select(db.func.count()).select_from(OfferChange)) == 0


def test_seats_read_from_offer_days_for_the_reachable_dates_only(app, make_driver):
    offer = luzech_cahors(make_driver(), seats=2)
    for k in range(-30, 31):  # a long history and future of runs with seats held
        db.session.add(OfferDay(offer_id=offer.id, day=MONDAY + timedelta(days=k), capacity=2, held=1))
    db.session.commit()
    req = trip_request(passenger())
    with statements() as seen:
        (cand,) = service().candidates_for(req)
    assert cand.seats_left == 1
    seat_reads = [s for s in seen if "offer_days" in s]
    assert len(seat_reads) == 1 and "offer_days.day <=" in seat_reads[0]
    assert set(seats_taken(MONDAY - timedelta(days=1), MONDAY + timedelta(days=1))) == {
        (offer.id, MONDAY + timedelta(days=k)) for k in (-1, 0, 1)}


@pytest.fixture
def operator_client(app, client):
    op, _ = create_staff("op@lotocar.fr", "Sophie", "Martin", Role.OPERATOR)
    db.session.commit()
    login_as(client, op)
    return client


def test_candidates_endpoint_statements_do_not_grow_with_candidates(operator_client, make_driver):
    req = trip_request(passenger())
    luzech_cahors(make_driver("A", "A"))
    url = f"/requests/{req.id}/candidates"
    operator_client.get(url)  # warm: index built, session loaded
    with statements() as one:
        assert operator_client.get(url).get_json()["count"] == 1
    for i in range(4):
        luzech_cahors(make_driver(f"D{i}", "D"))
    operator_client.get(url)
    with statements() as five:
        assert operator_client.get(url).get_json()["count"] == 5
    assert len(five) == len(one), "\n\n".join(s[:160] for s in five)
    # one joined load of the trips with their communes, drivers, users and homes
    (load,) = [s for s in five if s.startswith("SELECT offers.id")]
    assert "JOIN drivers" in load and "JOIN users" in load and load.count("JOIN communes") == 3
    assert len(five) <= 14, five


def test_drivers_page_caches_open_requests_behind_their_counter(app, client, make_driver, tmp_path):
    driver = make_driver()
    luzech_cahors(driver)
    trip_request(passenger())
    login_as(client, driver)
    assert 'data-serving="1"' in client.get("/mes-trajets/").get_data(as_text=True)
    reloads = service().open_reloads
    assert 'data-serving="1"' in client.get("/mes-trajets/").get_data(as_text=True)
    assert service().open_reloads == reloads  # nothing changed: no re-read
    with other_process(app, tmp_path):  # a request registered by another worker
        trip_request(passenger("+33698765433"), origin="46191")
    assert 'data-serving="2"' in client.get("/mes-trajets/").get_data(as_text=True)
    assert service().open_reloads == reloads + 1


def test_near_miss_index_follows_the_writes_without_being_rebuilt(app, make_driver, tmp_path):
    """The widened index of near misses is built once, then kept in step change by change
    (own writes and other processes' alike), like the main index."""
    driver = make_driver()
    req = trip_request(passenger(), at=time(7, 40), flex=0)  # before the 07:45 departure: a late miss
    assert service().misses_for(req) == []
    builds, rebuilds = service().wide_builds, service().rebuilds
    own = luzech_cahors(driver)  # this process's write: applied after its commit
    assert [m.offer_id for m in service().misses_for(req)] == [own.id]
    with other_process(app, tmp_path):  # another worker's write: applied from the change log
        other_id = luzech_cahors(db.session.merge(driver), seats=2).id
    assert sorted(m.offer_id for m in service().misses_for(req)) == sorted([own.id, other_id])
    with other_process(app, tmp_path):  # paused elsewhere: gone from the near misses too
        ops.change_status(db.session.get(Offer, own.id), "pause", None)
        db.session.commit()
    assert [m.offer_id for m in service().misses_for(req)] == [other_id]
    assert (service().wide_builds, service().rebuilds) == (builds, rebuilds)
    with other_process(app, tmp_path):  # a gap in the log: both indexes are built again
        db.session.execute(db.delete(OfferChange))
        luzech_cahors(db.session.merge(driver))
        db.session.execute(db.delete(OfferChange))
        db.session.commit()
    assert len(service().misses_for(req)) == 2
    assert (service().wide_builds, service().rebuilds) == (builds + 1, rebuilds + 1)
