"""Issue #12, end to end through the API on the real lines: Luzech → Cahors (3 seats, 15 min),
Douelle → Cahors booked and confirmed. A second passenger whose detour fits alone but not
with the first one gets no candidate from that run; one that fits gets it with the first
passenger's shift, and once booked the first passenger's SMS states her new pickup."""
from __future__ import annotations

import re
from datetime import datetime

from lotocar.bookings.models import Booking
from lotocar.core.timeutil import format_time_fr, to_local
from lotocar.extensions import db
from lotocar.notifications.gsm import normalize
from lotocar.notifications.models import SmsMessage
from tests.conftest import login_as
from tests.api_support import assert_conforms
from tests.factories import MONDAY
from tests.promise_world import (LUZECH, assert_promises_true, book, changed_rows, last_promise_sms,
                                 make_passenger, make_request, make_trip, states)

BOISSIERES, CRAYSSAC = "46032", "46080"


def _minute(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%H:%M")


def test_second_passenger_is_inserted_into_the_tour(app, api, client, staff, make_driver):
    driver = make_driver()
    offer = make_trip(driver, seats=3, detour=15)
    # Boissières alone: 13 min of detour, within 15 ...
    lone = make_request(make_passenger(), origin=BOISSIERES)
    alone = api.get(f"/api/v1/requests/{lone.id}/candidates").get_json()["candidates"]
    assert [(c["offer_id"], c["shifts"], c["total_detour_minutes"] == c["added_detour_minutes"]) for c in alone] \
        == [(offer.id, [], True)] and 12 < alone[0]["detour_minutes"] <= 15

    marie = make_passenger()
    marie.first_name = "Marie"
    db.session.commit()
    first = book(offer, make_request(marie))  # Douelle → Cahors, confirmed
    marie_before = to_local(first.pickup_at)

    # ... but with the Douelle stop the whole tour is 17 min over the bare route: no candidate
    got = api.get(f"/api/v1/requests/{lone.id}/candidates")
    assert_conforms(got)
    assert [c for c in got.get_json()["candidates"] if c["offer_id"] == offer.id] == []

    # Crayssac fits: picked up before Douelle, Douelle's pickup moves (within 10 min)
    second = make_request(make_passenger(), origin=CRAYSSAC)
    got = api.get(f"/api/v1/requests/{second.id}/candidates")
    assert_conforms(got)
    (cand,) = [c for c in got.get_json()["candidates"] if c["offer_id"] == offer.id]
    assert 4 <= cand["added_detour_minutes"] <= 7 and cand["added_detour_minutes"] == cand["detour_minutes"]
    assert cand["added_detour_minutes"] < cand["total_detour_minutes"] + 1e-9 <= 15 + 1e-9
    assert [(s["kind"], s["booking_id"], s["commune"]) for s in cand["stops"]] == [
        ("pickup", None, "Crayssac"), ("pickup", first.id, "Douelle"),
        ("dropoff", first.id, "Cahors"), ("dropoff", None, "Cahors")]
    times = [s["at"] for s in cand["stops"]]
    assert times == sorted(times)
    (shift,) = cand["shifts"]
    assert shift["booking_id"] == first.id
    assert _minute(shift["pickup_before"]) == format_time_fr(marie_before)
    moved = datetime.fromisoformat(shift["pickup_after"]) - datetime.fromisoformat(shift["pickup_before"])
    assert 4 * 60 <= moved.total_seconds() <= 10 * 60
    assert any(r.startswith("Détour ajouté ") and "/ 15)" in r for r in cand["reasons"])
    assert cand["route"][0] == list(offer.point("origin")) and len(cand["route"]) == 6
    assert [s["lat"] for s in cand["stops"]] == [p[0] for p in cand["route"][1:-1]]  # the map: stop order

    # the operator's candidates list says the same
    login_as(client, staff["operator"])
    page = client.get(f"/console/demandes/{second.id}").get_data(as_text=True)
    total = round(cand["total_detour_minutes"])
    assert f"Détour ajouté {round(cand['added_detour_minutes'])} min (total {total} / 15)" in page
    assert f"Marie : {_minute(shift['pickup_before'])} → {_minute(shift['pickup_after'])}" in page
    listed = re.findall(r"<li>(\d\d:\d\d) (prise en charge|dépose) de (?:<strong>)?(\w+)(?:</strong>)? \((\w+)\)</li>", page)
    assert listed == [(_minute(s["at"]), "prise en charge" if s["kind"] == "pickup" else "dépose",
                       s["passenger_first_name"], s["commune"]) for s in cand["stops"]]

    made = api.post("/api/v1/bookings", {"request_id": second.id, "offer_id": offer.id, "date": MONDAY.isoformat()})
    assert made.status_code == 201, made.get_json()
    assert (made.get_json()["pickup_at"][:16], made.get_json()["detour_minutes"]) == \
        (cand["pickup_at"][:16], cand["detour_minutes"])

    db.session.expire_all()
    first = db.session.get(Booking, first.id)
    assert _minute(shift["pickup_after"]) == format_time_fr(to_local(first.pickup_at)) != format_time_fr(marie_before)
    assert first.promise_version == 1
    told = {m.recipient: m for m in changed_rows(first.id)}
    assert set(told) == {"passenger", "driver"}
    assert format_time_fr(to_local(first.pickup_at)) in told["passenger"].body
    assert states(last_promise_sms(first), first)
    assert_promises_true([offer.id])
    # the driver's SMS and page list the run's stops in order with their times
    proposal = db.session.scalar(db.select(SmsMessage).where(
        SmsMessage.booking_id == made.get_json()["id"], SmsMessage.recipient == "driver",
        SmsMessage.kind == "proposal"))
    stops_text = ", ".join(f"{_minute(s['at'])} {'prendre' if s['kind'] == 'pickup' else 'déposer'} "
                           f"{s['passenger_first_name']} à {s['commune']}" for s in cand["stops"][:2])
    assert normalize(" Arrêts : " + stops_text) in proposal.body, proposal.body
    assert normalize("déposer Marie et Odette à Cahors.") in proposal.body
    login_as(client, driver)
    page = client.get("/mes-trajets/").get_data(as_text=True)
    listed = re.findall(r"<strong>(\d\d:\d\d)</strong> (prendre|déposer) (\w+) à (\w+)", page)
    assert listed == [(_minute(s["at"]), "prendre" if s["kind"] == "pickup" else "déposer",
                       s["passenger_first_name"], s["commune"]) for s in cand["stops"]]

    # the Crayssac passenger's proposal is declined: the tour shrinks, Douelle is told 07:4x again
    declined = api.post(f"/api/v1/bookings/{made.get_json()['id']}/decline")
    assert declined.status_code == 200, declined.get_json()
    db.session.expire_all()
    first = db.session.get(Booking, first.id)
    assert format_time_fr(to_local(first.pickup_at)) == format_time_fr(marie_before)
    assert first.promise_version == 2 and states(last_promise_sms(first), first)
    assert_promises_true([offer.id])
    assert offer.origin_insee == LUZECH


def test_a_passenger_cancelling_shrinks_the_tour_and_done_moves_nobody(app, api, travel, make_driver):
    """Two confirmed on one run (Crayssac picked up before Douelle): the Crayssac passenger
    cancels, the tour is recomputed and the Douelle passenger is told her earlier pickup; on
    the day, marking a ride done never moves the others."""
    driver = make_driver()
    offer = make_trip(driver, seats=3, detour=15)
    first = book(offer, make_request(make_passenger()))
    alone_at = to_local(first.pickup_at)
    second = book(offer, make_request(make_passenger(), origin=CRAYSSAC))
    db.session.expire_all()
    first = db.session.get(Booking, first.id)
    moved_at = to_local(first.pickup_at)
    assert moved_at > alone_at and first.promise_version == 1
    assert to_local(second.pickup_at) < moved_at
    assert_promises_true([offer.id])

    cancelled = api.post(f"/api/v1/bookings/{second.id}/cancel", {"reason": "Rendez-vous annulé"})
    assert cancelled.status_code == 200, cancelled.get_json()
    db.session.expire_all()
    first = db.session.get(Booking, first.id)
    assert format_time_fr(to_local(first.pickup_at)) == format_time_fr(alone_at)
    assert first.promise_version == 2 and states(last_promise_sms(first), first)
    assert_promises_true([offer.id])

    third = book(offer, make_request(make_passenger(), origin=CRAYSSAC))
    db.session.expire_all()
    first = db.session.get(Booking, first.id)
    version = first.promise_version
    travel(datetime.combine(MONDAY, datetime.min.time()).replace(hour=9, tzinfo=to_local(first.pickup_at).tzinfo))
    done = api.post(f"/api/v1/bookings/{third.id}/done")
    assert done.status_code == 200, done.get_json()
    db.session.expire_all()
    assert db.session.get(Booking, first.id).promise_version == version
