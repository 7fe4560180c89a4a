"""Drivers manage their trips: validation, edit, pause, cancel, ownership, DST expansion."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest

from lotocar.core.clock import today_local
from lotocar.audit.models import AuditEntry
from lotocar.core.timeutil import PARIS
from lotocar.extensions import db
from lotocar.offers import operations as ops
from lotocar.offers.models import Offer, OfferKind, OfferStatus
from lotocar.offers.rules import OfferInput, PlaceInput, validate_offer
from tests.conftest import csrf_token, login_as

TODAY = today_local()


def iso(d: date) -> str:
    return d.isoformat()


def regular_form(**overrides):
    data = {
        "kind": "regular", "origin": "Luzech (46140)", "destination": "Cahors",
        "origin_place": "Place du marché", "destination_place": "",
        "origin_lat": "", "origin_lon": "", "destination_lat": "", "destination_lon": "",
        "departure_time": "07:45", "weekdays": ["1", "2", "3", "4", "5"],
        "first_date": iso(TODAY + timedelta(days=1)), "last_date": iso(TODAY + timedelta(days=60)),
        "departure_date": "", "seats": "3", "max_detour_min": "10", "remark": "Je pars à l'heure.",
    }
    data.update(overrides)
    return data


def oneoff_form(**overrides):
    data = regular_form(kind="one_off", weekdays=[], first_date="", last_date="",
                        departure_date=iso(TODAY + timedelta(days=3)), departure_time="09:30")
    data.update(overrides)
    return data


@pytest.fixture
def driver(make_driver):
    return make_driver()


@pytest.fixture
def logged(client, driver):
    login_as(client, driver)
    return client


def post(client, url, data):
    return client.post(url, data={**data, "csrf_token": csrf_token(client, "/mes-trajets/nouveau")})


def count_offers() -> int:
    return db.session.scalar(db.select(db.func.count()).select_from(Offer))


def test_post_regular_trip(logged, driver):
    r = post(logged, "/mes-trajets/nouveau", regular_form())
    assert r.status_code == 302, r.get_data(as_text=True)[:3000]
    offer = db.session.scalar(db.select(Offer))
    assert offer.kind == OfferKind.REGULAR and offer.driver_id == driver.driver.id
    assert offer.origin_insee == "46182" and offer.destination_insee == "46042"
    assert offer.weekday_set == {1, 2, 3, 4, 5} and offer.local_time == time(7, 45)
    assert offer.seats == 3 and offer.max_detour_min == 10 and offer.status == OfferStatus.ACTIVE
    assert offer.origin_place == "Place du marché" and offer.destination_place is None
    page = logged.get("/mes-trajets/").get_data(as_text=True)
    assert "Luzech → Cahors" in page and "07:45" in page and "Place du marché" in page
    entry = db.session.scalar(db.select(AuditEntry).where(AuditEntry.entity == "offer"))
    assert entry.action == "created" and entry.actor_id == driver.id


def test_post_oneoff_trip_with_precise_point(logged):
    r = post(logged, "/mes-trajets/nouveau", oneoff_form(destination_lat="44.4465", destination_lon="1.4372",
                                                         destination_place="Hôpital"))
    assert r.status_code == 302
    offer = db.session.scalar(db.select(Offer))
    assert offer.kind == OfferKind.ONE_OFF
    local = offer.departure_at.astimezone(PARIS)
    assert (local.date(), local.time()) == (TODAY + timedelta(days=3), time(9, 30))
    assert offer.departure_at.tzinfo is not None and offer.departure_at.utcoffset() == timedelta(0)
    assert offer.point("destination") == (44.4465, 1.4372)
    assert offer.point("origin") == (44.479, 1.287) or offer.point("origin")[0] == offer.origin.lat


@pytest.mark.parametrize("form,overrides,field,message", [
    ("regular", {"destination": "Luzech"}, "destination", "différente du départ"),
    ("regular", {"origin": ""}, "origin", "obligatoire"),
    ("regular", {"destination": "Strasbourg"}, "destination", "Aucune commune du Lot"),
    ("regular", {"first_date": iso(TODAY - timedelta(days=1))}, "first_date", "déjà passée"),
    ("regular", {"last_date": iso(TODAY + timedelta(days=1))}, "last_date", "après la date de début"),
    ("regular", {"last_date": ""}, "last_date", "dernier trajet"),
    ("regular", {"weekdays": []}, "weekdays", "au moins un jour"),
    ("regular", {"seats": "0"}, "seats", "Entre 1 et 8"),
    ("regular", {"seats": "9"}, "seats", "Entre 1 et 8"),
    ("regular", {"seats": "trois"}, "seats", "entier valide"),
    ("regular", {"max_detour_min": "-1"}, "max_detour_min", "0 à 60"),
    ("regular", {"max_detour_min": "61"}, "max_detour_min", "0 à 60"),
    ("regular", {"max_detour_min": ""}, "max_detour_min", "Indiquez le détour"),
    ("regular", {"departure_time": ""}, "departure_time", "heure de départ"),
    ("regular", {"departure_time": "25:00"}, "departure_time", "horaire valide"),
    ("regular", {"first_date": "31/02/2027"}, "first_date", "date valide"),
    ("regular", {"origin_lat": "44.5"}, "origin_lat", "latitude et la longitude"),
    ("regular", {"origin_lat": "48.85", "origin_lon": "2.35"}, "origin_lat", "en dehors du Lot"),
    ("regular", {"origin_lat": "44.61", "origin_lon": "2.03"}, "origin_lat", "trop loin"),
    ("regular", {"remark": "x" * 1001}, "remark", "1000 caractères"),
    ("one_off", {"departure_date": iso(TODAY - timedelta(days=1))}, "departure_date", "déjà passée"),
    ("one_off", {"departure_date": ""}, "departure_date", "date du trajet"),
    ("regular", {"kind": "sometimes"}, "kind", "Not a valid choice"),
])
def test_validation_errors_in_french_next_to_field(logged, form, overrides, field, message):
    data = (regular_form if form == "regular" else oneoff_form)(**overrides)
    r = post(logged, "/mes-trajets/nouveau", data)
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    marker = f'id="{field}-error"'
    assert marker in html, field
    assert message in html.split(marker)[1][:500] or (message == "Not a valid choice")
    assert "rien n&#39;a été enregistré" in html or "rien n'a été enregistré" in html
    assert count_offers() == 0


def test_bad_kind_choice_message_is_french(logged):
    html = post(logged, "/mes-trajets/nouveau", regular_form(kind="sometimes")).get_data(as_text=True)
    error = html.split('id="kind-error"')[1][:200]
    assert "Not a valid" not in error


def test_same_commune_allowed_with_two_precise_points(logged):
    r = post(logged, "/mes-trajets/nouveau", regular_form(
        origin="Cahors", destination="Cahors", origin_lat="44.447", origin_lon="1.441",
        destination_lat="44.43", destination_lon="1.46"))
    assert r.status_code == 302


def test_edit_trip_keeps_data_on_error(logged, driver):
    post(logged, "/mes-trajets/nouveau", regular_form())
    offer = db.session.scalar(db.select(Offer))
    url = f"/mes-trajets/{offer.id}/modifier"
    page = logged.get(url).get_data(as_text=True)
    assert 'value="Luzech (46140)"' in page and 'value="07:45"' in page
    r = post(logged, url, regular_form(seats="12", departure_time="08:00"))
    assert r.status_code == 400
    db.session.expire_all()
    assert db.session.get(Offer, offer.id).seats == 3
    assert db.session.get(Offer, offer.id).local_time == time(7, 45)
    r = post(logged, url, regular_form(seats="2", departure_time="08:00", weekdays=["1", "3"]))
    assert r.status_code == 302
    offer = db.session.get(Offer, offer.id)
    assert (offer.seats, offer.local_time, offer.weekday_set) == (2, time(8, 0), {1, 3})
    entry = db.session.scalars(db.select(AuditEntry).where(AuditEntry.action == "updated")).one()
    assert entry.changes["seats"] == [3, 2] and entry.actor_id == driver.id


def test_switch_regular_to_oneoff(logged):
    post(logged, "/mes-trajets/nouveau", regular_form())
    offer = db.session.scalar(db.select(Offer))
    r = post(logged, f"/mes-trajets/{offer.id}/modifier", oneoff_form())
    assert r.status_code == 302
    offer = db.session.get(Offer, offer.id)
    assert offer.kind == OfferKind.ONE_OFF and offer.weekdays is None and offer.departure_at is not None


def test_pause_resume_cancel(logged):
    """Pause and cancel are two steps (issue #14): the card's POST shows who is booked and
    what they will be told; the confirmation's POST (`confirm=1`) does it. Resume is one."""
    post(logged, "/mes-trajets/nouveau", regular_form())
    offer = db.session.scalar(db.select(Offer))
    base = f"/mes-trajets/{offer.id}"
    r = post(logged, base + "/pause", {})
    assert r.status_code == 200 and "Aucun passager n'est réservé" in r.get_data(as_text=True)
    assert db.session.get(Offer, offer.id).status == OfferStatus.ACTIVE
    assert post(logged, base + "/pause", {"confirm": "1"}).status_code == 302
    assert db.session.get(Offer, offer.id).status == OfferStatus.PAUSED
    page = logged.get("/mes-trajets/").get_data(as_text=True)
    assert "En pause" in page and "Prochains départs" not in page
    r = post(logged, base + "/pause", {"confirm": "1"})  # already paused: refused with a message
    assert r.status_code == 302
    assert "Seul un trajet actif" in logged.get("/mes-trajets/").get_data(as_text=True)
    post(logged, base + "/resume", {})
    assert db.session.get(Offer, offer.id).status == OfferStatus.ACTIVE
    assert post(logged, base + "/cancel", {}).status_code == 200  # the confirmation page
    assert db.session.get(Offer, offer.id).status == OfferStatus.ACTIVE
    post(logged, base + "/cancel", {"confirm": "1"})
    assert db.session.get(Offer, offer.id).status == OfferStatus.CANCELLED
    page = logged.get("/mes-trajets/").get_data(as_text=True)
    assert "Trajets passés ou annulés" in page
    r = post(logged, base + "/modifier", regular_form(seats="2"))
    assert db.session.get(Offer, offer.id).seats == 3  # a cancelled trip stays as it was
    actions = db.session.scalars(db.select(AuditEntry.action).where(AuditEntry.entity == "offer")
                                 .order_by(AuditEntry.id)).all()
    assert actions == ["created", "pause", "resume", "cancel"]


def test_status_change_needs_csrf_and_post(logged):
    post(logged, "/mes-trajets/nouveau", regular_form())
    offer = db.session.scalar(db.select(Offer))
    assert logged.post(f"/mes-trajets/{offer.id}/cancel", data={"confirm": "1"}).status_code == 400
    # a GET only shows the confirmation page; resume has none, so a GET is refused
    assert logged.get(f"/mes-trajets/{offer.id}/cancel").status_code == 200
    assert logged.get(f"/mes-trajets/{offer.id}/resume").status_code == 405
    assert db.session.get(Offer, offer.id).status == OfferStatus.ACTIVE


def test_driver_cannot_see_or_touch_another_drivers_trips(app, client, make_driver):
    alice, bob = make_driver("Alice", "A"), make_driver("Bob", "B")
    login_as(client, alice)
    post(client, "/mes-trajets/nouveau", regular_form(remark="Secret d'Alice"))
    offer = db.session.scalar(db.select(Offer))
    other = app.test_client()
    login_as(other, bob)
    assert "Secret d" not in other.get("/mes-trajets/").get_data(as_text=True)
    assert other.get(f"/mes-trajets/{offer.id}/modifier").status_code == 404
    for action in ("pause", "resume", "cancel"):
        assert post(other, f"/mes-trajets/{offer.id}/{action}", {"confirm": "1"}).status_code == 404
    assert post(other, f"/mes-trajets/{offer.id}/modifier", regular_form(seats="1")).status_code == 404
    db.session.expire_all()
    offer = db.session.get(Offer, offer.id)
    assert offer.seats == 3 and offer.status == OfferStatus.ACTIVE


def test_anonymous_and_staff_cannot_reach_driver_pages(app, client, runner):
    assert client.get("/mes-trajets/").status_code == 302
    assert client.get("/mes-trajets/nouveau").status_code == 302
    from lotocar.auth.models import Role
    from lotocar.auth.operations import create_staff
    operator, _ = create_staff("op@lotocar.fr", "O", "P", Role.OPERATOR)
    db.session.commit()
    login_as(client, operator)
    assert client.get("/mes-trajets/").status_code == 403
    assert client.get("/mes-trajets/nouveau").status_code == 403


# --- rules and schedule as plain functions --------------------------------------------

NOW = datetime(2026, 10, 15, 10, 0, tzinfo=timezone.utc)


def make_input(**kw) -> OfferInput:
    base = dict(kind="regular", origin=PlaceInput("46182", 44.479, 1.287),
                destination=PlaceInput("46042", 44.447, 1.441), seats=3, max_detour_min=10,
                departure_time=time(7, 45), weekdays=frozenset({1}),
                first_date=date(2026, 10, 19), last_date=date(2026, 11, 30))
    base.update(kw)
    return OfferInput(**base)


def test_rules_accept_valid_input():
    assert validate_offer(make_input(), NOW) == {}
    assert validate_offer(make_input(kind="one_off", departure_date=date(2026, 10, 15),
                                     departure_time=time(12, 30)), NOW) == {}


def test_rules_today_in_the_past_hour():
    errors = validate_offer(make_input(kind="one_off", departure_date=date(2026, 10, 15),
                                       departure_time=time(11, 0)), NOW)  # 11:00 local < 12:00 local
    assert errors == {"departure_time": "Cette heure est déjà passée."}


def test_rules_range_limits():
    assert "last_date" in validate_offer(make_input(last_date=date(2027, 12, 1)), NOW)
    errors = validate_offer(make_input(weekdays=frozenset({6}), first_date=date(2026, 10, 19),
                                       last_date=date(2026, 10, 23)), NOW)
    assert errors == {"weekdays": "Aucun de ces jours ne tombe entre les deux dates."}
    assert validate_offer(make_input(weekdays=frozenset({0, 8})), NOW) == {"weekdays": "Jour de la semaine inconnu."}


def test_regular_trip_keeps_local_time_across_dst(app, driver):
    """Monday 07:45 stays 07:45 in Paris the week after the last Sunday of October."""
    data = make_input()
    offer = ops.create_offer(driver.driver, data, driver.id, now=NOW)
    db.session.commit()
    runs = ops.occurrences(offer, date(2026, 10, 19), date(2026, 11, 2))
    assert [r.date() for r in runs] == [date(2026, 10, 19), date(2026, 10, 26), date(2026, 11, 2)]
    assert all((r.hour, r.minute) == (7, 45) for r in runs)
    utc = [r.astimezone(timezone.utc) for r in runs]
    assert [(u.hour, u.minute) for u in utc] == [(5, 45), (6, 45), (6, 45)]  # CEST then CET
    # and in spring: Monday 30 March 2026 after the last Sunday of March
    spring = ops.to_match_offer(offer).__class__(
        id=1, driver_id=1, origin=ops.to_match_offer(offer).origin,
        destination=ops.to_match_offer(offer).destination, seats=3, max_detour_min=10,
        recurrence=ops.Recurrence(frozenset({1}), time(7, 45), date(2026, 3, 23), date(2026, 3, 30)))
    runs = spring.occurrences(date(2026, 3, 23), date(2026, 3, 30))
    assert [r.astimezone(timezone.utc).hour for r in runs] == [6, 5]
    assert all(r.hour == 7 and r.minute == 45 for r in runs)


def test_upcoming_lists_next_departures(app, driver):
    today = today_local()
    data = make_input(first_date=today + timedelta(days=1), last_date=today + timedelta(days=21),
                      weekdays=frozenset({1, 2, 3, 4, 5, 6, 7}))
    ops.create_offer(driver.driver, data, driver.id)
    db.session.commit()
    upcoming = ops.upcoming_for_driver(driver.driver)
    assert len(upcoming) == 1
    assert upcoming[0].remaining == 21
    assert [d.date() for d in upcoming[0].next_departures] == [today + timedelta(days=i) for i in (1, 2, 3)]


def test_driver_answers_and_sees_phone_only_after_accepting(app, client, make_driver):
    from lotocar.bookings import operations as bookings
    from lotocar.bookings.models import Booking, BookingStatus
    from tests.factories import MONDAY, luzech_cahors, passenger, trip_request

    driver = make_driver()
    offer = luzech_cahors(driver)
    pax = passenger("+33698765432")
    booking = bookings.propose(bookings.Proposal(trip_request(pax).id, offer.id, MONDAY), None)
    db.session.commit()
    login_as(client, driver)
    page = client.get("/mes-trajets/").get_data(as_text=True)
    assert "Odette" in page and "J&#39;accepte" in page or "J'accepte" in page
    assert "98 76 54 32" not in page  # no phone before accepting
    # another driver cannot answer for them
    other = app.test_client()
    login_as(other, make_driver("Bob", "B"))
    assert other.post(f"/mes-trajets/reservations/{booking.id}/accept",
                      data={"csrf_token": csrf_token(other, "/mes-trajets/")}).status_code == 404
    r = client.post(f"/mes-trajets/reservations/{booking.id}/accept",
                    data={"csrf_token": csrf_token(client, "/mes-trajets/")})
    assert r.status_code == 302
    assert db.session.get(Booking, booking.id).status == BookingStatus.ACCEPTED_BY_DRIVER
    page = client.get("/mes-trajets/").get_data(as_text=True)
    assert "06 98 76 54 32" in page and "Je ne peux plus" in page
    # "Je ne peux plus" opens a page that says who is let down; only its confirmation cancels
    asked = client.get(f"/mes-trajets/reservations/{booking.id}/cancel")
    assert asked.status_code == 200 and "Vous ne pouvez plus prendre Odette ?" in asked.get_data(as_text=True)
    assert db.session.get(Booking, booking.id).status == BookingStatus.ACCEPTED_BY_DRIVER
    client.post(f"/mes-trajets/reservations/{booking.id}/cancel",
                data={"csrf_token": csrf_token(client, "/mes-trajets/"), "confirm": "1"})
    assert db.session.get(Booking, booking.id).status == BookingStatus.CANCELLED_BY_DRIVER
