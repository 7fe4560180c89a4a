"""People records (issue #14): operators correct passengers' and drivers' records (audited),
a passenger's pickup place is where the matcher picks her up, accessibility needs are data
the matcher checks against what each driver accepts, and the console says who was left out."""
from __future__ import annotations

import json
from datetime import datetime

import pytest

from lotocar.audit.models import AuditEntry
from lotocar.auth.models import Role, User
from lotocar.auth.operations import create_staff
from lotocar.bookings import operations as bookings
from lotocar.candidates import operations as candidates
from lotocar.candidates.service import service
from lotocar.core.timeutil import utcnow
from lotocar.drivers.models import Driver
from lotocar.extensions import db
from lotocar.notifications import outbox
from lotocar.notifications.models import SmsMessage, SmsOptOut, SmsStatus
from lotocar.passengers.models import Passenger
from lotocar.privacy import operations as privacy
from lotocar.requests.models import TripRequest
from matching import Point
from tests.conftest import csrf_token, login_as
from tests.factories import MONDAY, commune, luzech_cahors, passenger, trip_request

PICKUP = (44.4752, 1.3751)  # a house about 1.3 km east of Douelle's town hall


@pytest.fixture
def operator(app):
    user, _ = create_staff("ops@lotocar.fr", "Sophie", "Martin", Role.OPERATOR)
    db.session.commit()
    return user


@pytest.fixture
def op_client(client, operator):
    login_as(client, operator)
    return client


def token(client):
    return csrf_token(client, "/console/appel?q=zzzz")


def passenger_form(client, person: Passenger, **changes) -> dict:
    data = {"csrf_token": token(client), "first_name": person.first_name, "last_name": person.last_name,
            "phone": person.phone, "home": person.home.name, "has_no_car": "y", "needs": person.needs or "",
            "notes": person.notes or "", "pickup_place": "", "pickup_lat": "", "pickup_lon": ""}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def entries(entity: str, entity_id: int, action: str) -> list[AuditEntry]:
    return list(db.session.scalars(db.select(AuditEntry).where(
        AuditEntry.entity == entity, AuditEntry.entity_id == entity_id, AuditEntry.action == action)))


# --- passenger record ---------------------------------------------------------------------

def test_operator_edits_passenger_record_audited(op_client, operator):
    person = passenger()
    page = op_client.get(f"/console/passagers/{person.id}").get_data(as_text=True)
    assert f'href="/console/passagers/{person.id}/modifier"' in page and "mairie de Douelle" in page
    form = op_client.get(f"/console/passagers/{person.id}/modifier")
    assert form.status_code == 200
    html = form.get_data(as_text=True)
    assert 'value="Odette"' in html and "Chien guide ou d&#39;assistance" in html and 'id="pickup-map"' in html
    r = op_client.post(f"/console/passagers/{person.id}/modifier", data=passenger_form(
        op_client, person, first_name="Odile", last_name="Marty-Lafon", phone="06 11 22 33 44", home="Luzech",
        sms_consent="y", need_assistance_dog="y", need_front_seat="y", needs="Canne", notes="Sonner deux fois",
        pickup_place="12 rue des Tilleuls", pickup_lat="44,48", pickup_lon="1,30"))
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/console/passagers/{person.id}")
    db.session.expire_all()
    person = db.session.get(Passenger, person.id)
    assert (person.first_name, person.last_name, person.phone, person.home_insee) == (
        "Odile", "Marty-Lafon", "+33611223344", "46182")
    assert person.phone_is_mobile and person.sms_consent_at is not None and person.sms_consent_by_id == operator.id
    assert person.need_codes == {"assistance_dog", "front_seat"} and person.needs_flags == "assistance_dog,front_seat"
    assert (person.needs, person.notes, person.pickup_place) == ("Canne", "Sonner deux fois", "12 rue des Tilleuls")
    assert (person.pickup_lat, person.pickup_lon) == (44.48, 1.30)
    [entry] = entries("passenger", person.id, "record_updated")
    assert entry.actor_id == operator.id
    assert entry.changes["first_name"] == ["Odette", "Odile"]
    assert entry.changes["phone"] == ["+33698765432", "+33611223344"]
    assert entry.changes["home_insee"] == ["46088", "46182"]
    assert entry.changes["needs_flags"] == [None, "assistance_dog,front_seat"]
    assert entry.changes["pickup_lat"] == [None, 44.48] and entry.changes["sms_consent"] == [False, True]
    assert "last_name" in entry.changes and "call_consent" not in entry.changes
    page = op_client.get(f"/console/passagers/{person.id}").get_data(as_text=True)
    assert "Chien guide ou d&#39;assistance" in page and "12 rue des Tilleuls" in page and "44,48" in page
    # the form comes back filled in, French decimals
    html = op_client.get(f"/console/passagers/{person.id}/modifier").get_data(as_text=True)
    assert 'value="44,48"' in html and 'id="need_assistance_dog"' in html and "checked" in html
    # saving again unchanged writes no audit row
    r = op_client.post(f"/console/passagers/{person.id}/modifier", data=passenger_form(
        op_client, person, sms_consent="y", need_assistance_dog="y", need_front_seat="y",
        pickup_place="12 rue des Tilleuls", pickup_lat="44.48", pickup_lon="1.3"))
    assert r.status_code == 302
    assert len(entries("passenger", person.id, "record_updated")) == 1


@pytest.mark.parametrize("changes, message", [
    ({"phone": "12"}, "numéro"),
    ({"first_name": ""}, "Ce champ est obligatoire."),
    ({"home": "Toulouse"}, "Aucune commune du Lot"),
    ({"has_no_car": None}, "réservé aux personnes sans voiture"),
    ({"pickup_lat": "quarante-quatre", "pickup_lon": "1,36"}, "La latitude doit être un nombre"),
    ({"pickup_lat": "nan", "pickup_lon": "inf"}, "La longitude doit être un nombre"),
    ({"pickup_lat": "44,47"}, "la latitude et la longitude"),
    ({"pickup_lat": "44,65", "pickup_lon": "1,36"}, "à plus de 15 km de Douelle"),
    ({"pickup_place": "x" * 201}, "200 caractères au plus."),
    ({"phone": "05 65 12 34 56", "sms_consent": "y"}, "Un numéro fixe ne reçoit pas de SMS"),
])
def test_passenger_edit_errors_in_french(op_client, changes, message):
    person = passenger()
    r = op_client.post(f"/console/passagers/{person.id}/modifier", data=passenger_form(op_client, person, **changes))
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert message.replace("'", "&#39;") in html, html[:3000]
    assert "rien n'a été enregistré" in html
    db.session.expire_all()
    assert db.session.get(Passenger, person.id).first_name == "Odette"
    assert not entries("passenger", person.id, "record_updated")


def test_passenger_phone_already_someone_elses(op_client):
    person = passenger()
    other = passenger("+33677889900")
    r = op_client.post(f"/console/passagers/{person.id}/modifier",
                       data=passenger_form(op_client, person, phone="06 77 88 99 00"))
    assert r.status_code == 400
    assert f"Ce numéro est déjà celui de {other.first_name} {other.last_name}." in r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Passenger, person.id).phone == "+33698765432"


def test_phone_change_keeps_opt_out_and_pending_messages(op_client, app):
    person = passenger()
    person.sms_consent_at = utcnow()
    outbox.set_opt_out(person.phone, True, "STOP", "sms")
    pending = SmsMessage(kind="reminder_eve", recipient="passenger", to_phone=person.phone, body="Rappel",
                         status=SmsStatus.PENDING)
    sent = SmsMessage(kind="confirmed", recipient="passenger", to_phone=person.phone, body="Confirmé",
                      status=SmsStatus.SENT)
    db.session.add_all([pending, sent])
    db.session.commit()
    r = op_client.post(f"/console/passagers/{person.id}/modifier",
                       data=passenger_form(op_client, person, phone="06 11 22 33 44", sms_consent="y"))
    assert r.status_code == 302
    db.session.expire_all()
    assert outbox.is_opted_out("+33611223344")  # her STOP follows her
    assert db.session.get(SmsOptOut, "+33611223344").source == "number_change"
    assert outbox.is_opted_out("+33698765432")  # and the old number's stays
    assert db.session.get(SmsMessage, pending.id).to_phone == "+33611223344"
    assert db.session.get(SmsMessage, sent.id).to_phone == "+33698765432"  # history untouched
    # now a landline: pending SMS can no longer reach her and are withdrawn
    person = db.session.get(Passenger, person.id)
    r = op_client.post(f"/console/passagers/{person.id}/modifier",
                       data=passenger_form(op_client, person, phone="05 65 12 34 56"))
    assert r.status_code == 302
    db.session.expire_all()
    row = db.session.get(SmsMessage, pending.id)
    assert row.status == SmsStatus.CANCELLED and row.to_phone == "+33611223344"
    assert db.session.get(Passenger, person.id).sms_consent_at is None


def test_edit_needs_csrf(op_client):
    person = passenger()
    data = passenger_form(op_client, person, first_name="Odile")
    del data["csrf_token"]
    r = op_client.post(f"/console/passagers/{person.id}/modifier", data=data)
    assert r.status_code == 400
    db.session.expire_all()
    assert db.session.get(Passenger, person.id).first_name == "Odette"


def test_a_driver_cannot_edit_records(client, make_driver):
    person = passenger()
    bob = make_driver("Bob", "B")
    login_as(client, bob)
    for url in (f"/console/passagers/{person.id}/modifier", f"/console/conducteurs/{bob.driver.id}/modifier"):
        assert client.get(url).status_code == 403, url
        r = client.post(url, data={"csrf_token": csrf_token(client, "/mes-trajets/"), "first_name": "X",
                                   "last_name": "Y", "phone": "06 11 22 33 44", "home": "Douelle",
                                   "has_no_car": "y", "accept_assistance_dog": "y"})
        assert r.status_code == 403, url
    db.session.expire_all()
    assert db.session.get(Passenger, person.id).first_name == "Odette"
    assert db.session.get(User, bob.id).first_name == "Bob"
    assert db.session.get(Driver, bob.driver.id).accepts_flags is None


def test_new_call_registers_needs(op_client):
    page = op_client.get("/console/appel?q=Odette+Marty").get_data(as_text=True)
    assert 'name="need_wheelchair"' in page and 'name="need_assistance_dog"' in page
    r = op_client.post("/console/passagers", data={
        "csrf_token": token(op_client), "phone": "06 98 76 54 32", "first_name": "Odette", "last_name": "Marty",
        "home": "Douelle", "has_no_car": "y", "need_wheelchair": "y", "need_boarding_help": "y"})
    assert r.status_code == 302
    person = db.session.scalar(db.select(Passenger))
    assert person.need_codes == {"wheelchair", "boarding_help"}


# --- pickup place ---------------------------------------------------------------------------

def test_pickup_place_is_where_the_matcher_picks_her_up(op_client, make_driver):
    offer = luzech_cahors(make_driver("Nathalie", "R"))
    person = passenger()
    person.pickup_place, (person.pickup_lat, person.pickup_lon) = "12 rue des Tilleuls", PICKUP
    db.session.commit()
    r = op_client.post(f"/console/passagers/{person.id}/demande", data={
        "csrf_token": token(op_client), "origin": "Douelle", "destination": "Cahors", "mode": "arrive_by",
        "day": MONDAY.isoformat(), "at": "08:30", "flexibility_min": "30", "reason": "medical"})
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    trip = db.session.scalar(db.select(TripRequest))
    assert trip.origin_insee == "46088" and trip.origin_place == "12 rue des Tilleuls"
    assert trip.point("origin") == PICKUP
    found = candidates.ranked_candidates(trip)
    [cand] = found["candidates"]
    assert [cand["stops"][0]["lat"], cand["stops"][0]["lon"]] == list(PICKUP)
    # the pickup time is the driver's departure plus his drive to her door, not to the town hall
    router = service().router
    leg = router.leg(Point(*offer.point("origin")), Point(*PICKUP))
    douelle = commune("46088")
    town_hall = router.leg(Point(*offer.point("origin")), Point(douelle.lat, douelle.lon))
    departure, pickup = datetime.fromisoformat(cand["departure_at"]), datetime.fromisoformat(cand["pickup_at"])
    assert abs((pickup - departure).total_seconds() - leg.minutes * 60) < 60  # (times to the minute)
    assert abs(leg.minutes - town_hall.minutes) > 0.5
    # the pages and the driver's SMS say where, not "(mairie)"
    page = op_client.get(f"/console/demandes/{trip.id}").get_data(as_text=True)
    assert "Départ : 12 rue des Tilleuls." in page
    r = op_client.post(f"/console/demandes/{trip.id}/proposer", data={
        "csrf_token": token(op_client), "offer_id": str(offer.id), "date": MONDAY.isoformat()})
    assert r.status_code == 302
    bodies = [m.body for m in db.session.scalars(db.select(SmsMessage).where(SmsMessage.recipient == "driver"))]
    assert bodies and any("Douelle, 12 rue des Tilleuls" in b for b in bodies), bodies
    assert not any("Douelle (mairie)" in b for b in bodies)


def test_request_elsewhere_keeps_its_own_place(op_client):
    person = passenger()
    person.pickup_place, (person.pickup_lat, person.pickup_lon) = "12 rue des Tilleuls", PICKUP
    db.session.commit()
    # from Luzech (not home): the town hall; back home to Douelle: her door
    r = op_client.post(f"/console/passagers/{person.id}/demande", data={
        "csrf_token": token(op_client), "origin": "Luzech", "destination": "Douelle", "mode": "leave_after",
        "day": MONDAY.isoformat(), "at": "15:00", "flexibility_min": "30", "reason": "shopping"})
    assert r.status_code == 302
    trip = db.session.scalar(db.select(TripRequest))
    assert trip.origin_place is None and trip.origin_lat is None
    assert trip.destination_place == "12 rue des Tilleuls" and trip.point("destination") == PICKUP


# --- accessibility needs --------------------------------------------------------------------

def test_driver_who_does_not_accept_the_dog_is_left_out_and_said_why(op_client, make_driver, api):
    jean = make_driver("Jean", "Delmas")
    luzech_cahors(jean)
    person = passenger()
    person.needs_flags = "assistance_dog"
    db.session.commit()
    trip = trip_request(person)
    found = candidates.ranked_candidates(trip)
    assert found["count"] == 0 and found["candidates"] == []
    [out] = found["excluded_for_needs"]
    assert out["driver_first_name"] == "Jean" and out["missing"] == ["assistance_dog"]
    assert out["reason"] == "n'accepte pas de chien d'assistance"
    page = op_client.get(f"/console/demandes/{trip.id}").get_data(as_text=True)
    assert "Conducteurs écartés :" in page and "Jean (n&#39;accepte pas de chien d&#39;assistance)" in page
    assert "Chien guide ou d&#39;assistance" in page  # her need as a badge
    assert "Proposer à Jean" not in page
    # the API does not list him as a candidate
    body = api.get(f"/api/v1/requests/{trip.id}/candidates").get_json()
    assert body["count"] == 0 and body["candidates"] == []
    # the operator records that Jean accepts dogs: he becomes a candidate (index kept in step)
    r = op_client.post(f"/console/conducteurs/{jean.driver.id}/modifier", data={
        "csrf_token": token(op_client), "first_name": "Jean", "last_name": "Delmas",
        "phone": "06 12 34 00 01", "home": "Luzech", "accept_assistance_dog": "y"})
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    db.session.expire_all()
    found = candidates.ranked_candidates(db.session.get(TripRequest, trip.id))
    assert found["count"] == 1 and found["excluded_for_needs"] == []
    assert found["candidates"][0]["driver_first_name"] == "Jean"
    body = api.get(f"/api/v1/requests/{trip.id}/candidates").get_json()
    assert body["count"] == 1 and body["candidates"][0]["driver_id"] == jean.driver.id
    page = op_client.get(f"/console/demandes/{trip.id}").get_data(as_text=True)
    assert "Proposer à Jean" in page and "Conducteurs écartés" not in page


def test_all_needs_must_be_accepted(app, make_driver):
    jean, marie = make_driver("Jean", "D"), make_driver("Marie", "C")
    jean.driver.accepts_flags = "assistance_dog"
    marie.driver.accepts_flags = "assistance_dog,wheelchair"
    db.session.commit()
    luzech_cahors(jean), luzech_cahors(marie)
    person = passenger()
    person.needs_flags = "assistance_dog,wheelchair"
    db.session.commit()
    found = candidates.ranked_candidates(trip_request(person))
    assert [c["driver_first_name"] for c in found["candidates"]] == ["Marie"]
    assert [(x["driver_first_name"], x["reason"]) for x in found["excluded_for_needs"]] == [
        ("Jean", "n'accepte pas de fauteuil roulant pliant")]


def test_no_needs_no_exclusion(app, make_driver):
    luzech_cahors(make_driver("Jean", "D"))
    found = candidates.ranked_candidates(trip_request(passenger()))
    assert found["count"] == 1 and found["excluded_for_needs"] == []


def test_driver_withdrawing_an_accept_loses_the_booking_it_needed(op_client, make_driver):
    jean = make_driver("Jean", "Delmas")
    jean.driver.accepts_flags = "assistance_dog"
    db.session.commit()
    offer = luzech_cahors(jean)
    person = passenger()
    person.needs_flags = "assistance_dog"
    db.session.commit()
    trip = trip_request(person)
    r = op_client.post(f"/console/demandes/{trip.id}/proposer", data={
        "csrf_token": token(op_client), "offer_id": str(offer.id), "date": MONDAY.isoformat()})
    assert r.status_code == 302
    assert bookings.live_booking(trip.id) is not None
    r = op_client.post(f"/console/conducteurs/{jean.driver.id}/modifier", data={
        "csrf_token": token(op_client), "first_name": "Jean", "last_name": "Delmas",
        "phone": jean.phone, "home": "Luzech"})
    assert r.status_code == 302
    db.session.expire_all()
    assert bookings.live_booking(trip.id) is None  # reconciled like any trip change
    assert db.session.get(TripRequest, trip.id).flag == "trip_changed"


# --- driver record --------------------------------------------------------------------------

def test_operator_edits_driver_record_audited(op_client, operator, make_driver):
    jean = make_driver("Jean", "Delmas")
    old_phone = jean.phone
    page = op_client.get(f"/console/conducteurs/{jean.driver.id}").get_data(as_text=True)
    assert f'href="/console/conducteurs/{jean.driver.id}/modifier"' in page
    assert "aucun besoin particulier indiqué" in page
    html = op_client.get(f"/console/conducteurs/{jean.driver.id}/modifier").get_data(as_text=True)
    assert 'value="Jean"' in html and "Un chien guide ou d&#39;assistance" in html
    r = op_client.post(f"/console/conducteurs/{jean.driver.id}/modifier", data={
        "csrf_token": token(op_client), "first_name": "Jean-Pierre", "last_name": "Delmas",
        "phone": "06 55 44 33 22", "home": "Douelle", "accept_wheelchair": "y", "accept_front_seat": "y"})
    assert r.status_code == 302
    db.session.expire_all()
    user = db.session.get(User, jean.id)
    assert (user.first_name, user.phone, user.driver.home_insee) == ("Jean-Pierre", "+33655443322", "46088")
    assert user.phone_verified_at is None  # the new number is checked at his next login
    assert user.driver.accept_codes == {"wheelchair", "front_seat"}
    [entry] = entries("user", jean.id, "driver_record_updated")
    assert entry.actor_id == operator.id and entry.changes["first_name"] == ["Jean", "Jean-Pierre"]
    assert entry.changes["accepts_flags"] == [None, "front_seat,wheelchair"]
    assert entry.changes["phone"] == [old_phone, "+33655443322"]
    page = op_client.get(f"/console/conducteurs/{jean.driver.id}").get_data(as_text=True)
    assert "Un fauteuil roulant pliant dans le coffre, Laisser la place à l&#39;avant" in page


@pytest.mark.parametrize("changes, message", [
    ({"phone": "05 65 12 34 56"}, "portable"),
    ({"last_name": ""}, "Ce champ est obligatoire."),
    ({"home": "Brive"}, "Aucune commune du Lot"),
    ({"phone": "DUP"}, "Ce numéro est déjà celui d&#39;un autre compte."),
])
def test_driver_edit_errors_in_french(op_client, make_driver, changes, message):
    jean = make_driver("Jean", "Delmas")
    other = make_driver("Marie", "C")
    data = {"csrf_token": token(op_client), "first_name": "Jean", "last_name": "Delmas", "phone": jean.phone,
            "home": "Luzech", **changes}
    if data["phone"] == "DUP":
        data["phone"] = other.phone
    r = op_client.post(f"/console/conducteurs/{jean.driver.id}/modifier", data=data)
    assert r.status_code == 400
    assert message in r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, jean.id).phone == jean.phone
    assert not entries("user", jean.id, "driver_record_updated")


# --- personal data --------------------------------------------------------------------------

def test_export_and_erase_cover_needs_and_pickup(app, make_driver):
    person = passenger()
    person.needs_flags, person.pickup_place = "assistance_dog", "12 rue des Tilleuls"
    person.pickup_lat, person.pickup_lon = PICKUP
    jean = make_driver("Jean", "Delmas")
    jean.driver.accepts_flags = "wheelchair"
    db.session.commit()
    data = privacy.export_passenger(person.id)
    assert data["person"]["needs_flags"] == "assistance_dog"
    assert data["person"]["pickup_place"] == "12 rue des Tilleuls"
    assert (data["person"]["pickup_lat"], data["person"]["pickup_lon"]) == PICKUP
    assert privacy.export_driver(jean.driver.id)["person"]["accepts_flags"] == "wheelchair"
    privacy.anonymise_passenger(person.id, None, "demande orale")
    privacy.anonymise_driver(jean.driver.id, None, "demande orale")
    db.session.commit()
    db.session.expire_all()
    person = db.session.get(Passenger, person.id)
    assert person.needs_flags is None and person.pickup_place is None
    assert person.pickup_lat is None and person.pickup_lon is None
    assert db.session.get(Driver, jean.driver.id).accepts_flags is None
    blob = json.dumps(privacy.export_passenger(person.id), ensure_ascii=False)
    assert "Tilleuls" not in blob and "assistance_dog" not in blob


def test_audit_of_record_changes_is_scrubbed_on_erasure(op_client):
    person = passenger()
    r = op_client.post(f"/console/passagers/{person.id}/modifier", data=passenger_form(
        op_client, person, need_assistance_dog="y", pickup_place="12 rue des Tilleuls",
        pickup_lat="44,4752", pickup_lon="1,3751", phone="06 11 22 33 44"))
    assert r.status_code == 302
    privacy.anonymise_passenger(person.id, None, "demande orale")
    db.session.commit()
    blob = json.dumps([e.changes for e in entries("passenger", person.id, "record_updated")], ensure_ascii=False)
    assert "Tilleuls" not in blob and "44.4752" not in blob and "+33611223344" not in blob
    assert "assistance_dog" not in blob


def test_demo_shows_needs(app, runner):
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(db.select(db.func.count()).select_from(Passenger)
                             .where(Passenger.needs_flags.is_not(None))) >= 1
    assert db.session.scalar(db.select(db.func.count()).select_from(Driver)
                             .where(Driver.accepts_flags.is_not(None))) >= 1
    assert db.session.scalar(db.select(db.func.count()).select_from(Passenger)
                             .where(Passenger.pickup_place.is_not(None))) >= 1


def test_opted_out_row_untouched_when_phone_unchanged(op_client):
    person = passenger()
    outbox.set_opt_out(person.phone, True, "STOP", "sms")
    db.session.commit()
    r = op_client.post(f"/console/passagers/{person.id}/modifier",
                       data=passenger_form(op_client, person, notes="Rappeler le matin"))
    assert r.status_code == 302
    assert db.session.scalar(db.select(db.func.count()).select_from(SmsOptOut)) == 1


def test_driver_sets_his_own_accepts(client, make_driver):
    jean = make_driver("Jean", "Delmas")
    luzech_cahors(jean)
    person = passenger()
    person.needs_flags = "front_seat"
    db.session.commit()
    trip = trip_request(person)
    assert candidates.ranked_candidates(trip)["count"] == 0
    login_as(client, jean)
    assert 'id="my-accepts"' in client.get("/mes-trajets/").get_data(as_text=True)
    page = client.get("/mes-trajets/ce-que-j-accepte")
    assert page.status_code == 200 and "Laisser la place à l&#39;avant" in page.get_data(as_text=True)
    r = client.post("/mes-trajets/ce-que-j-accepte", data={"accept_front_seat": "y"})
    assert r.status_code == 400  # no CSRF token: nothing saved
    assert db.session.get(Driver, jean.driver.id).accepts_flags is None
    r = client.post("/mes-trajets/ce-que-j-accepte", data={
        "csrf_token": csrf_token(client, "/mes-trajets/ce-que-j-accepte"), "accept_front_seat": "y"})
    assert r.status_code == 302
    db.session.expire_all()
    assert db.session.get(Driver, jean.driver.id).accept_codes == {"front_seat"}
    [entry] = entries("user", jean.id, "driver_accepts_updated")
    assert entry.actor_id == jean.id and entry.changes == {"accepts_flags": [None, "front_seat"]}
    assert candidates.ranked_candidates(db.session.get(TripRequest, trip.id))["count"] == 1


def test_new_need_flags_rides_to_review(op_client, make_driver):
    jean = make_driver("Jean", "Delmas")
    offer = luzech_cahors(jean)
    person = passenger()
    trip = trip_request(person)
    r = op_client.post(f"/console/demandes/{trip.id}/proposer", data={
        "csrf_token": token(op_client), "offer_id": str(offer.id), "date": MONDAY.isoformat()})
    assert r.status_code == 302
    r = op_client.post(f"/console/passagers/{person.id}/modifier",
                       data=passenger_form(op_client, person, need_assistance_dog="y"), follow_redirects=True)
    html = r.get_data(as_text=True)
    assert "Réservations à revoir avec le conducteur : Jean le" in html
    assert "(n&#39;accepte pas de chien d&#39;assistance)" in html
    assert bookings.live_booking(trip.id) is not None  # kept: the operator calls them
