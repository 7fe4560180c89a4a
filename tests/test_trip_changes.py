"""Issue #14, trips: a driver (or an operator on his behalf, audited) cancels or restores one
date of a regular trip, pauses or cancels with a warning listing the booked passengers and
what they will be told, and the "Proposer un trajet" form never saves hidden stale fields."""
from __future__ import annotations

import dataclasses
import re
from datetime import date, time, timedelta

import pytest

from lotocar.audit.models import AuditEntry
from lotocar.auth.models import Role
from lotocar.auth.operations import create_staff
from lotocar.bookings.models import Booking, BookingStatus
from lotocar.candidates.service import service, to_match_request
from lotocar.core import tx
from lotocar.extensions import db
from lotocar.notifications import worker
from lotocar.notifications.models import SmsMessage
from lotocar.offers import operations as ops
from lotocar.offers.models import Offer, OfferChange, OfferKind, OfferSkip, OfferStatus
from lotocar.requests.models import TripRequest
from matching import Matcher, brute_force_candidates
from matching.index import CorridorIndex
from tests.browser_support import DESKTOP, axe_violations, shot
from tests.conftest import csrf_token, login_as
from tests.factories import MONDAY, TODAY
from tests.promise_world import (
    assert_promises_true,
    book,
    make_passenger,
    make_request,
    make_trip,
)
from tests.test_offers import oneoff_form, regular_form

NEXT_MONDAY = MONDAY + timedelta(days=7)
SATURDAY = MONDAY + timedelta(days=5)


def esc(text: str) -> str:
    """As the page escapes it (Jinja writes ' as &#39;)."""
    return text.replace("'", "&#39;")


def booking(bid: int) -> Booking:
    db.session.expire_all()
    return db.session.get(Booking, bid)


def offer_audit(offer_id: int) -> list[AuditEntry]:
    return list(db.session.scalars(db.select(AuditEntry).where(
        AuditEntry.entity == "offer", AuditEntry.entity_id == offer_id).order_by(AuditEntry.id)))


def sms_to(phone: str) -> list[SmsMessage]:
    return list(db.session.scalars(db.select(SmsMessage).where(SmsMessage.to_phone == phone)
                                   .order_by(SmsMessage.id)))


def candidate_offers(request: TripRequest) -> set[tuple[int, date]]:
    return {(c.offer_id, c.date) for c in service().candidates_for(request)}


def oracle_offers(request: TripRequest) -> set[tuple[int, date]]:
    offers = [ops.to_match_offer(o) for o in db.session.scalars(
        db.select(Offer).where(Offer.status == OfferStatus.ACTIVE))]
    return {(c.offer_id, c.date) for c in brute_force_candidates(offers, to_match_request(request),
                                                                 service().router)}


@pytest.fixture
def world(app, make_driver):
    """A driver's weekday trip Luzech → Cahors 07:45, Odette booked (confirmed) on Monday and
    on the Monday after."""
    driver = make_driver()
    offer = make_trip(driver)
    pax = make_passenger()
    monday = book(offer, make_request(pax))
    later = book(offer, make_request(make_passenger(), day=NEXT_MONDAY), day=NEXT_MONDAY)
    worker.run_once(app)  # both confirmations sent: the passengers know their ride
    return driver, offer, monday, later


# --- the matching library: a skipped date is no run ----------------------------------------

def test_model_runs_leave_out_skipped_dates_and_index_agrees_with_oracle(app, make_driver):
    driver = make_driver()
    offer = make_trip(driver)
    request = to_match_request(make_request(make_passenger()))
    plain = ops.to_match_offer(db.session.get(Offer, offer.id))
    assert MONDAY in plain.occurrence_dates(MONDAY, MONDAY)
    skipping = dataclasses.replace(plain, skip_dates={MONDAY})
    assert skipping.skip_dates == frozenset({MONDAY})
    assert skipping.occurrence_dates(MONDAY, NEXT_MONDAY) == [d for d in plain.occurrence_dates(MONDAY, NEXT_MONDAY)
                                                            if d != MONDAY]
    assert [t.date() for t in skipping.occurrences(MONDAY, MONDAY)] == []
    router = service().router
    for match_offer, expected in ((plain, {MONDAY}), (skipping, set())):
        index = CorridorIndex(router)
        index.bulk_load([match_offer])
        indexed = {c.date for c in Matcher(router, index).candidates(request)}
        oracle = {c.date for c in brute_force_candidates([match_offer], request, router)}
        assert indexed == oracle == expected
        # reverse matching (from the trip's side) agrees too
        pairs = Matcher(router, index).requests_for_offer(match_offer, [request], {})
        assert {c.date for _r, c in pairs} == oracle


# --- operations -----------------------------------------------------------------------------

def test_skip_cancels_that_days_bookings_and_restore_proposes_the_date_again(world):
    driver, offer, monday, later = world
    request_id = monday.request_id
    changes_before = db.session.scalar(db.select(db.func.count()).select_from(OfferChange))

    tx.atomic(lambda: ops.skip_date(db.session.get(Offer, offer.id), MONDAY, driver.id))

    assert booking(monday.id).status == BookingStatus.CANCELLED_BY_DRIVER
    assert booking(later.id).status == BookingStatus.CONFIRMED  # the other Mondays stand
    request = db.session.get(TripRequest, request_id)
    assert request.flag == "trip_changed" and request.status.value in ("open", "unmet", "new")
    told = [m for m in db.session.scalars(db.select(SmsMessage).where(
        SmsMessage.booking_id == monday.id, SmsMessage.kind == "cancelled", SmsMessage.recipient == "passenger"))]
    assert len(told) == 1 and "ne peut plus vous prendre" in told[0].body and "lundi 7 décembre" in told[0].body
    assert db.session.scalar(db.select(db.func.count()).select_from(OfferChange)) == changes_before + 1
    entry = offer_audit(offer.id)[-1]
    assert (entry.action, entry.actor_id, entry.changes) == ("date_skipped", driver.id, {"day": MONDAY.isoformat()})
    events = db.session.scalars(db.select(AuditEntry.reason).where(
        AuditEntry.entity == "booking", AuditEntry.entity_id == monday.id)).all()
    assert "Le conducteur ne fait pas ce trajet ce jour-là." in events
    # the matcher proposes neither the index's nor the oracle's run on that date
    assert (offer.id, MONDAY) not in candidate_offers(request)
    assert (offer.id, MONDAY) not in oracle_offers(request)
    assert_promises_true([offer.id])

    tx.atomic(lambda: ops.restore_date(db.session.get(Offer, offer.id), MONDAY, driver.id))
    assert booking(monday.id).status == BookingStatus.CANCELLED_BY_DRIVER  # not resurrected
    assert db.session.scalars(db.select(OfferSkip)).all() == []
    request = db.session.get(TripRequest, request_id)
    assert (offer.id, MONDAY) in candidate_offers(request) and (offer.id, MONDAY) in oracle_offers(request)
    entry = offer_audit(offer.id)[-1]
    assert (entry.action, entry.actor_id) == ("date_restored", driver.id)
    assert db.session.scalar(db.select(db.func.count()).select_from(OfferChange)) == changes_before + 2


@pytest.mark.parametrize("day, message", [
    (None, "Date inconnue"),
    (SATURDAY, "ne roule pas ce jour-là"),
    (TODAY, "déjà passé"),  # Tuesday 07:45, and it is 10:00
    (TODAY + timedelta(days=400), "ne roule pas ce jour-là"),
])
def test_skip_refuses_a_date_that_is_not_a_run_to_come(app, make_driver, day, message):
    driver = make_driver()
    offer = make_trip(driver, first=TODAY)
    with pytest.raises(ops.OfferStateError, match=message):
        tx.atomic(lambda: ops.skip_date(db.session.get(Offer, offer.id), day, driver.id))
    assert db.session.scalars(db.select(OfferSkip)).all() == []


def test_skip_twice_restore_unskipped_and_one_off_are_refused(app, make_driver):
    driver = make_driver()
    offer = make_trip(driver)
    tx.atomic(lambda: ops.skip_date(db.session.get(Offer, offer.id), MONDAY, driver.id))
    with pytest.raises(ops.OfferStateError, match="déjà annulé"):
        tx.atomic(lambda: ops.skip_date(db.session.get(Offer, offer.id), MONDAY, driver.id))
    with pytest.raises(ops.OfferStateError, match="n'est pas annulé"):
        tx.atomic(lambda: ops.restore_date(db.session.get(Offer, offer.id), NEXT_MONDAY, driver.id))
    client_offer = db.session.get(Offer, offer.id)
    client_offer.kind = OfferKind.ONE_OFF  # a one-off trip has its one date: cancel the trip
    with pytest.raises(ops.OfferStateError, match="ponctuel"):
        ops.check_skip_day(client_offer, MONDAY)
    db.session.rollback()


def test_upcoming_runs_leave_out_skipped_dates(app, make_driver):
    driver = make_driver()
    offer = make_trip(driver)
    first = ops.upcoming_for_driver(driver.driver)[0].next_departures[0].date()
    tx.atomic(lambda: ops.skip_date(db.session.get(Offer, offer.id), first, driver.id))
    item = ops.upcoming_for_driver(driver.driver)[0]
    assert first not in [t.date() for t in item.next_departures]
    assert [t.date() for t in item.skipped] == [first]


# --- the driver's pages ------------------------------------------------------------------------

def _post(client, url, data=None):
    """A form POST with the session's CSRF token (read once: reading a page shows and
    consumes the flashed messages)."""
    token = getattr(client, "_csrf", None) or csrf_token(client, "/mes-trajets/nouveau")
    client._csrf = token
    return client.post(url, data={**(data or {}), "csrf_token": token})


def test_driver_cancels_one_date_after_seeing_who_is_booked(client, world):
    driver, offer, monday, later = world
    login_as(client, driver)
    page = client.get("/mes-trajets/").text
    assert "annuler ce jour-là" in page
    url = f"/mes-trajets/{offer.id}/annuler-une-date"
    confirm = client.get(f"{url}?jour={MONDAY.isoformat()}")
    html = confirm.text
    assert confirm.status_code == 200 and 'id="affected"' in html
    assert "Odette" in html and "Douelle" in html
    assert esc("sera prévenu·e par SMS que vous ne pouvez plus l'emmener le lundi 7 décembre") in html
    assert booking(monday.id).status == BookingStatus.CONFIRMED  # nothing done yet
    # the first POST (no confirm) only shows the page again
    assert _post(client, url, {"jour": MONDAY.isoformat()}).status_code == 200
    assert db.session.scalars(db.select(OfferSkip)).all() == []
    r = _post(client, url, {"jour": MONDAY.isoformat(), "confirm": "1"})
    assert r.status_code == 302
    assert booking(monday.id).status == BookingStatus.CANCELLED_BY_DRIVER
    assert booking(later.id).status == BookingStatus.CONFIRMED
    page = client.get("/mes-trajets/").text
    assert "Départ du lundi 7 décembre annulé." in page
    assert f'data-skipped="{MONDAY.isoformat()}"' in page and "annulé ce jour-là" in page and "rétablir" in page
    assert f'data-run="{MONDAY.isoformat()}"' not in page
    r = _post(client, f"/mes-trajets/{offer.id}/retablir-une-date", {"jour": MONDAY.isoformat()})
    assert r.status_code == 302
    page = client.get("/mes-trajets/").text
    assert "Départ du lundi 7 décembre rétabli." in page, re.findall(r"fr-alert[^<]*<[^<]*<[^<]*", page)
    assert booking(monday.id).status == BookingStatus.CANCELLED_BY_DRIVER
    assert [e.action for e in offer_audit(offer.id)][-2:] == ["date_skipped", "date_restored"]


def test_skip_date_needs_csrf(client, world):
    driver, offer, monday, _ = world
    login_as(client, driver)
    r = client.post(f"/mes-trajets/{offer.id}/annuler-une-date", data={"jour": MONDAY.isoformat(), "confirm": "1"})
    assert r.status_code == 400
    r = client.post(f"/mes-trajets/{offer.id}/retablir-une-date", data={"jour": MONDAY.isoformat()})
    assert r.status_code == 400
    assert booking(monday.id).status == BookingStatus.CONFIRMED


@pytest.mark.parametrize("raw, message", [
    ("pas-une-date", "Date inconnue"), ("", "Date inconnue"), ("2026-13-45", "Date inconnue"),
    (SATURDAY.isoformat(), "Ce trajet ne roule pas ce jour-là."),
    ((TODAY - timedelta(days=7)).isoformat(), "Ce trajet ne roule pas ce jour-là."),
])
def test_skip_date_bad_input_is_a_french_message(client, app, make_driver, raw, message):
    driver = make_driver()
    offer = make_trip(driver)
    login_as(client, driver)
    for call in (lambda: client.get(f"/mes-trajets/{offer.id}/annuler-une-date?jour={raw}"),
                 lambda: _post(client, f"/mes-trajets/{offer.id}/annuler-une-date", {"jour": raw, "confirm": "1"}),
                 lambda: _post(client, f"/mes-trajets/{offer.id}/retablir-une-date", {"jour": raw})):
        r = call()
        assert r.status_code == 302
        assert message in client.get("/mes-trajets/").text
    assert db.session.scalars(db.select(OfferSkip)).all() == []


def test_skip_date_hostile_values_never_500(client, app, make_driver, operator):
    driver = make_driver()
    offer = make_trip(driver)
    values = ["2026-12-07'--", "<script>x</script>", "\x00", "9" * 5000, "9999-12-31", "0001-01-01",
              "2026-12-07T07:45", " 2026-12-07 ", "２０２６-１２-０７"]
    login_as(client, driver)
    for raw in values:
        for r in (client.get(f"/mes-trajets/{offer.id}/annuler-une-date", query_string={"jour": raw}),
                  _post(client, f"/mes-trajets/{offer.id}/annuler-une-date", {"jour": raw, "confirm": "1"})):
            assert r.status_code in (200, 302, 400), (raw, r.status_code)  # NUL: refused by the app
    login_as(client, operator)
    client._csrf = None
    base = f"/console/conducteurs/{driver.driver.id}/trajets/{offer.id}"
    for raw in values:
        r = _op_post(client, f"{base}/retablir-une-date", {"jour": raw})
        assert r.status_code in (302, 400), (raw, r.status_code)
    # " 2026-12-07 " is read as the Monday (spaces trimmed): the only accepted value
    assert db.session.scalars(db.select(OfferSkip.day)).all() in ([], [MONDAY])


def test_skip_date_past_run_is_refused(client, app, make_driver):
    driver = make_driver()
    offer = make_trip(driver, first=TODAY)
    login_as(client, driver)
    r = _post(client, f"/mes-trajets/{offer.id}/annuler-une-date", {"jour": TODAY.isoformat(), "confirm": "1"})
    assert r.status_code == 302
    assert "Ce départ est déjà passé" in client.get("/mes-trajets/").text


def test_another_drivers_trip_dates_are_not_found(app, client, world, make_driver):
    _driver, offer, monday, _ = world
    login_as(client, make_driver("Bob", "B"))
    assert client.get(f"/mes-trajets/{offer.id}/annuler-une-date?jour={MONDAY.isoformat()}").status_code == 404
    r = _post(client, f"/mes-trajets/{offer.id}/annuler-une-date", {"jour": MONDAY.isoformat(), "confirm": "1"})
    assert r.status_code == 404
    assert booking(monday.id).status == BookingStatus.CONFIRMED


def test_pause_warns_with_the_booked_passengers_then_hides_upcoming_runs(client, world):
    driver, offer, monday, later = world
    login_as(client, driver)
    r = _post(client, f"/mes-trajets/{offer.id}/pause")  # the card's button
    html = r.text
    assert r.status_code == 200 and "Mettre le trajet en pause" in html
    assert html.count("<li data-booking=") == 2
    assert esc("que vous ne pouvez plus l'emmener le lundi 7 décembre") in html
    assert esc("que vous ne pouvez plus l'emmener le lundi 14 décembre") in html
    assert db.session.get(Offer, offer.id).status == OfferStatus.ACTIVE
    # the page's safe default goes back
    assert re.search(r'<a class="fr-btn" href="/mes-trajets/" id="confirm-back">Non, revenir</a>', html)
    r = _post(client, f"/mes-trajets/{offer.id}/pause", {"confirm": "1"})
    assert r.status_code == 302
    db.session.expire_all()
    assert db.session.get(Offer, offer.id).status == OfferStatus.PAUSED
    assert booking(monday.id).status == booking(later.id).status == BookingStatus.CANCELLED_BY_DRIVER
    page = client.get("/mes-trajets/").text
    assert "En pause" in page and "Prochains départs" not in page and "annuler ce jour-là" not in page
    _post(client, f"/mes-trajets/{offer.id}/resume")  # resume needs no confirmation
    assert db.session.get(Offer, offer.id).status == OfferStatus.ACTIVE
    assert "Prochains départs" in client.get("/mes-trajets/").text
    assert_promises_true([offer.id])


def test_pause_and_cancel_with_nobody_booked_still_confirm(client, app, make_driver):
    driver = make_driver()
    offer = make_trip(driver)
    login_as(client, driver)
    for action in ("pause", "cancel"):
        r = client.get(f"/mes-trajets/{offer.id}/{action}")
        html = r.text
        assert r.status_code == 200 and "Aucun passager n'est réservé : personne n'est prévenu." in html
        assert db.session.get(Offer, offer.id).status == OfferStatus.ACTIVE
    r = _post(client, f"/mes-trajets/{offer.id}/cancel", {"confirm": "1"})
    assert r.status_code == 302 and db.session.get(Offer, offer.id).status == OfferStatus.CANCELLED


# --- the form never saves hidden stale fields ----------------------------------------------

def _form_post(client, data):
    return client.post("/mes-trajets/nouveau", data={**data, "csrf_token": csrf_token(client, "/mes-trajets/nouveau")})


def test_one_off_ignores_stale_regular_fields_and_regular_ignores_stale_date(client, app, make_driver):
    driver = make_driver()
    login_as(client, driver)
    # a one-off trip with the regular fields left over (even invalid ones): saved as one-off
    r = _form_post(client, oneoff_form(weekdays=["1", "9"], first_date=(TODAY - timedelta(days=3)).isoformat(),
                                       last_date="n'importe"))
    assert r.status_code == 302, r.text[:2000]
    one = db.session.scalars(db.select(Offer).order_by(Offer.id.desc())).first()
    assert one.kind == OfferKind.ONE_OFF and one.weekdays is None
    assert one.first_date == one.last_date == TODAY + timedelta(days=3)
    # a regular trip with a stale (past, even garbled) one-off date: saved as regular
    r = _form_post(client, regular_form(departure_date="2020-01-01"))
    assert r.status_code == 302, r.text[:2000]
    r = _form_post(client, regular_form(departure_date="pas une date"))
    assert r.status_code == 302, r.text[:2000]
    reg = db.session.scalars(db.select(Offer).order_by(Offer.id.desc())).first()
    assert reg.kind == OfferKind.REGULAR and reg.departure_at is None and reg.weekday_set == {1, 2, 3, 4, 5}
    # the chosen kind's own fields are still checked
    r = _form_post(client, oneoff_form(departure_date=""))
    assert r.status_code == 400 and "Indiquez la date du trajet." in r.text


# --- the operator on the driver's behalf --------------------------------------------------------

@pytest.fixture
def operator(app):
    user, _ = create_staff("sophie@lotocar.fr", "Sophie", "Martin", Role.OPERATOR)
    db.session.commit()
    return user


def _op_post(client, url, data=None, page="/console/"):
    token = getattr(client, "_csrf", None) or csrf_token(client, page)
    client._csrf = token
    return client.post(url, data={**(data or {}), "csrf_token": token})


def test_operator_posts_a_trip_for_a_driver_who_phones(client, app, make_driver, operator):
    driver = make_driver()
    login_as(client, operator)
    page = client.get(f"/console/conducteurs/{driver.driver.id}").text
    assert "Proposer un trajet pour lui" in page
    url = f"/console/conducteurs/{driver.driver.id}/trajets/nouveau"
    form = client.get(url).text
    assert "Proposer un trajet pour Jean Delmas" in form
    r = _op_post(client, url, regular_form(), page=url)
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/console/conducteurs/{driver.driver.id}")
    offer = db.session.scalar(db.select(Offer))
    assert offer.driver_id == driver.driver.id and offer.kind == OfferKind.REGULAR
    entry = offer_audit(offer.id)[0]
    assert (entry.action, entry.actor_id) == ("created", operator.id)
    told = sms_to(driver.phone)
    assert [m.kind for m in told] == ["trip_by_team"]
    assert told[0].body == ("Lot'ocar : à votre demande, l'équipe a enregistré votre trajet de Luzech à Cahors. "
                            "Une erreur ? Appelez le 05 31 60 09 03")
    assert told[0].segments == 1 and told[0].recipient == "driver"  # GSM-7, one SMS
    # bad input: French errors, nothing saved, no 500
    r = _op_post(client, url, regular_form(seats="12"), page=url)
    assert r.status_code == 400 and "Entre 1 et 8 places." in r.text
    r = _op_post(client, url, regular_form(weekdays=[]), page=url)
    assert r.status_code == 400 and "Cochez au moins un jour" in r.text
    assert db.session.scalar(db.select(db.func.count()).select_from(Offer)) == 1


def test_operator_edits_pauses_skips_a_date_resumes_and_cancels(client, world, operator):
    driver, offer, monday, later = world
    base = f"/console/conducteurs/{driver.driver.id}"
    login_as(client, operator)
    page = client.get(base).text
    assert f'data-run="{MONDAY.isoformat()}"' in page and "Mettre en pause" in page and "Modifier" in page

    # one date, after the warning that names the passenger
    skip = f"{base}/trajets/{offer.id}/annuler-une-date"
    html = client.get(f"{skip}?jour={MONDAY.isoformat()}").text
    assert "Odette" in html and esc("que Jean ne peut plus l'emmener le lundi 7 décembre") in html
    r = _op_post(client, skip, {"jour": MONDAY.isoformat(), "confirm": "1"})
    assert r.status_code == 302
    assert booking(monday.id).status == BookingStatus.CANCELLED_BY_DRIVER
    entry = offer_audit(offer.id)[-1]
    assert (entry.action, entry.actor_id) == ("date_skipped", operator.id) and "équipe" in entry.reason
    assert "annule le lundi 7 decembre" in sms_to(driver.phone)[-1].body.lower().replace("é", "e")
    page = client.get(base).text
    assert f'data-skipped="{MONDAY.isoformat()}"' in page
    r = _op_post(client, f"{base}/trajets/{offer.id}/retablir-une-date", {"jour": MONDAY.isoformat()})
    assert r.status_code == 302 and db.session.scalars(db.select(OfferSkip)).all() == []

    # edit through the driver's own form
    edit = f"{base}/trajets/{offer.id}/modifier"
    assert "Modifier le trajet de Jean Delmas" in client.get(edit).text
    r = _op_post(client, edit, {**regular_form(seats="2", origin_place="", remark=""),
                                "first_date": (TODAY + timedelta(days=1)).isoformat()}, page=edit)
    assert r.status_code == 302
    db.session.expire_all()
    assert db.session.get(Offer, offer.id).seats == 2
    assert (offer_audit(offer.id)[-1].action, offer_audit(offer.id)[-1].actor_id) == ("updated", operator.id)

    # pause: warning first, then done, audited with the operator
    status = f"{base}/trajets/{offer.id}/pause"
    html = _op_post(client, status).text
    assert "lundi 14 décembre" in html and db.session.get(Offer, offer.id).status == OfferStatus.ACTIVE
    assert _op_post(client, status, {"confirm": "1"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Offer, offer.id).status == OfferStatus.PAUSED
    assert booking(later.id).status == BookingStatus.CANCELLED_BY_DRIVER
    assert "En pause" in client.get(base).text
    _op_post(client, f"{base}/trajets/{offer.id}/resume")
    _op_post(client, f"{base}/trajets/{offer.id}/cancel", {"confirm": "1"})
    db.session.expire_all()
    assert db.session.get(Offer, offer.id).status == OfferStatus.CANCELLED
    actions = [(e.action, e.actor_id) for e in offer_audit(offer.id)]
    assert actions[-3:] == [("pause", operator.id), ("resume", operator.id), ("cancel", operator.id)]
    kinds = [m.body for m in sms_to(driver.phone) if m.kind == "trip_by_team"]
    assert len(kinds) == 6  # skip, restore, edit, pause, resume, cancel: each told once
    assert_promises_true([offer.id])


def test_operator_paths_need_csrf_and_the_right_driver(client, world, operator, make_driver):
    driver, offer, monday, _ = world
    other = make_driver("Bob", "B")
    login_as(client, operator)
    base = f"/console/conducteurs/{driver.driver.id}/trajets/{offer.id}"
    assert client.post(f"{base}/pause", data={"confirm": "1"}).status_code == 400
    assert client.post(f"{base}/annuler-une-date", data={"jour": MONDAY.isoformat(), "confirm": "1"}).status_code == 400
    wrong = f"/console/conducteurs/{other.driver.id}/trajets/{offer.id}"
    assert client.get(f"{wrong}/modifier").status_code == 404
    assert _op_post(client, f"{wrong}/cancel", {"confirm": "1"}).status_code == 404
    assert client.get("/console/conducteurs/999999/trajets/nouveau").status_code == 404
    r = _op_post(client, f"{base}/annuler-une-date", {"jour": "31/02", "confirm": "1"})
    assert r.status_code == 302 and "Date inconnue" in client.get(r.headers["Location"]).text
    db.session.expire_all()
    assert db.session.get(Offer, offer.id).status == OfferStatus.ACTIVE
    assert booking(monday.id).status == BookingStatus.CONFIRMED
    # a driver cannot use the console's routes
    login_as(client, driver)
    assert client.get(f"{base}/modifier").status_code == 403


# --- a real browser: the form after Back ----------------------------------------------------

def _shown_matches_checked(page) -> bool:
    regular = page.is_checked("#kind-0")
    return page.is_checked("#kind-1") != regular and page.is_visible("#regular-fields") == regular \
        and page.is_visible("#oneoff-fields") == (not regular)


def test_form_state_survives_back_in_chromium(live_server, browser, app, make_driver):
    """Issue #14 point 4: after Back the browser restores the checked radio; the fields shown
    must be those of that radio, and what is saved follows the submitted kind only."""
    from tests.test_security import _cookie_for

    driver = make_driver()
    context = browser.new_context(viewport=DESKTOP, locale="fr-FR", timezone_id="Europe/Paris")
    context.add_cookies([{"name": "session", "value": _cookie_for(app, driver), "url": live_server}])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    publish = "button:has-text('Publier mon trajet')"

    # 1. a one-off trip saved, then Back: "Ponctuel" is restored checked, its date shown
    page.goto(live_server + "/mes-trajets/nouveau")
    assert page.is_checked("#kind-0") and _shown_matches_checked(page)
    page.check("#kind-1", force=True)
    assert _shown_matches_checked(page)
    page.fill("#destination", "Cahors")
    page.fill("#departure_time", "09:30")
    page.fill("#departure_date", (TODAY + timedelta(days=5)).isoformat())
    page.click(publish)
    page.wait_for_url(re.compile(r"/mes-trajets/$"))
    page.go_back()
    page.wait_for_load_state("load")
    assert _shown_matches_checked(page), "fields shown do not match the checked kind after Back"
    shot(page, "offer-form-after-back-desktop")

    # 2. the driver now makes it a regular trip: the stale one-off date is neither shown nor saved
    page.check("#kind-0", force=True)
    assert _shown_matches_checked(page) and page.is_hidden("#departure_date")
    page.fill("#destination", "Cahors")
    page.fill("#departure_time", "07:45")
    for wd in (0, 1):
        page.check(f"#weekdays-{wd}", force=True)
    page.fill("#first_date", (TODAY + timedelta(days=1)).isoformat())
    page.fill("#last_date", (TODAY + timedelta(days=30)).isoformat())
    page.click(publish)
    page.wait_for_url(re.compile(r"/mes-trajets/$"))

    # 3. Back again (from a regular trip), and save as shown
    page.go_back()
    page.wait_for_load_state("load")
    assert _shown_matches_checked(page)
    for _ in range(2):  # toggling keeps them in step
        page.check("#kind-1" if page.is_checked("#kind-0") else "#kind-0", force=True)
        assert _shown_matches_checked(page)
    page.check("#kind-0", force=True)
    page.fill("#destination", "Cahors")
    page.fill("#departure_time", "08:15")
    for wd in (0, 1):
        page.check(f"#weekdays-{wd}", force=True)
    page.fill("#first_date", (TODAY + timedelta(days=1)).isoformat())
    page.fill("#last_date", (TODAY + timedelta(days=30)).isoformat())
    page.click(publish)
    page.wait_for_url(re.compile(r"/mes-trajets/$"))

    offers = db.session.scalars(db.select(Offer).order_by(Offer.id)).all()
    assert [(o.kind, o.local_time) for o in offers] == [
        (OfferKind.ONE_OFF, time(9, 30)), (OfferKind.REGULAR, time(7, 45)), (OfferKind.REGULAR, time(8, 15))]
    assert offers[0].first_date == TODAY + timedelta(days=5)
    assert all(o.departure_at is None and o.weekday_set == {1, 2} for o in offers[1:])
    assert errors == []
    context.close()


def test_trip_pages_in_chromium_at_both_widths_with_axe(live_server, browser, app, world, operator):
    """Screenshots of every page touched (driver and operator) at 390 and 1280 px, and axe."""
    from tests.browser_support import PHONE
    from tests.test_security import _cookie_for

    driver, offer, _monday, _later = world
    tx.atomic(lambda: ops.skip_date(db.session.get(Offer, offer.id), NEXT_MONDAY, driver.id))
    pages = {
        "driver": [("my-trips", "/mes-trajets/"),
                   ("skip-confirm", f"/mes-trajets/{offer.id}/annuler-une-date?jour={MONDAY.isoformat()}"),
                   ("pause-confirm", f"/mes-trajets/{offer.id}/pause")],
        "operator": [("console-driver", f"/console/conducteurs/{driver.driver.id}"),
                     ("console-trip-new", f"/console/conducteurs/{driver.driver.id}/trajets/nouveau"),
                     ("console-trip-edit", f"/console/conducteurs/{driver.driver.id}/trajets/{offer.id}/modifier"),
                     ("console-pause-confirm", f"/console/conducteurs/{driver.driver.id}/trajets/{offer.id}/pause"),
                     ("console-skip-confirm", (f"/console/conducteurs/{driver.driver.id}/trajets/{offer.id}"
                                               f"/annuler-une-date?jour={MONDAY.isoformat()}"))],
    }
    found: dict[str, list] = {}
    for who, user in (("driver", driver), ("operator", operator)):
        for label, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
            context = browser.new_context(viewport=viewport, locale="fr-FR", timezone_id="Europe/Paris")
            context.add_cookies([{"name": "session", "value": _cookie_for(app, user), "url": live_server}])
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
            for name, url in pages[who]:
                page.goto(live_server + url)
                page.wait_for_load_state("load")
                wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
                    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
                    .map(e => e.tagName + '#' + e.id + '.' + e.className).slice(0, 8)""")
                # (the driver's console page also holds the SMS table, wider than a phone: not ours)
                assert name == "console-driver" or page.evaluate(
                    "document.documentElement.scrollWidth <= window.innerWidth + 1"), (name, label, wide)
                shot(page, f"trips-{name}-{label}")
                if "confirm" in name and label == "desktop":  # the answer is visible without scrolling
                    box = page.locator("#confirm-yes").bounding_box()
                    assert box is not None and box["y"] + box["height"] <= viewport["height"], (name, label, box)
                found[f"{name}-{label}"] = axe_violations(page)
            assert errors == [], errors
            context.close()
    violations = {k: v for k, v in found.items() if v}
    assert not violations, violations
