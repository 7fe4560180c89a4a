"""RGPD: export everything about one person, erasure on request, retention — commands and
admin actions."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from lotocar.audit.models import AuditEntry
from lotocar.auth.models import PhoneCode, Role, User
from lotocar.auth.operations import create_staff
from lotocar.bookings import operations as bookings
from lotocar.bookings.models import Booking, BookingStatus
from lotocar.core.timeutil import utcnow
from lotocar.extensions import db
from lotocar.offers.models import Offer, OfferStatus
from lotocar.passengers.models import Passenger
from lotocar.privacy import operations as privacy
from lotocar.requests.models import RequestStatus, TripRequest
from tests.conftest import csrf_token, login_as
from tests.factories import MONDAY, luzech_cahors, passenger, trip_request


@pytest.fixture
def world(app, make_driver):
    driver = make_driver("Nathalie", "Rességuier")
    offer = luzech_cahors(driver)
    pax = passenger("+33698765432")
    pax.sms_consent_at = utcnow()
    pax.notes = "Appeler après 10 h"
    db.session.commit()
    req = trip_request(pax)
    req.notes = "Rendez-vous cardiologue"
    db.session.commit()
    booking = bookings.propose(bookings.Proposal(req.id, offer.id, MONDAY), None)
    db.session.commit()
    bookings.transition(booking.id, "accept", driver.id)
    db.session.commit()
    bookings.transition(booking.id, "confirm", None)
    db.session.commit()
    return {"driver": driver, "offer": offer, "pax": pax, "req": req, "booking": booking}


def test_export_passenger_has_everything(world, runner):
    data = privacy.export_passenger(world["pax"].id)
    assert data["person"]["phone"] == "+33698765432" and data["person"]["notes"] == "Appeler après 10 h"
    assert data["requests"][0]["notes"] == "Rendez-vous cardiologue"
    assert data["bookings"][0]["driver_first_name"] == "Nathalie"
    assert data["sms"]["sent"], "the booking SMS to the passenger are part of the export"
    result = runner.invoke(args=["privacy", "export", "passenger", str(world["pax"].id)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["person"]["last_name"] == "Marty"
    assert runner.invoke(args=["privacy", "export", "passenger", "999999"]).exit_code != 0


def test_export_driver_has_everything(world):
    data = privacy.export_driver(world["driver"].driver.id)
    assert data["person"]["phone"] == world["driver"].phone
    assert data["offers"][0]["destination_insee"] == "46042"
    assert data["bookings"][0]["passenger_first_name"] == "Odette"


def test_erase_passenger_keeps_rides_for_statistics(world, runner):
    pax_id, req_id = world["pax"].id, world["req"].id
    result = runner.invoke(args=["privacy", "delete", "passenger", str(pax_id), "--reason", "demande écrite", "--yes"])
    assert result.exit_code == 0, result.output
    person = db.session.get(Passenger, pax_id)
    assert person.first_name == "Anonyme" and person.last_name == "" and person.phone.startswith("anon-")
    assert person.notes is None and person.sms_consent_at is None and person.anonymised_at is not None
    req = db.session.get(TripRequest, req_id)
    assert req.notes is None and req.origin_insee == "46088" and req.destination_insee == "46042"
    assert db.session.get(Booking, world["booking"].id).status == BookingStatus.CANCELLED_BY_PASSENGER
    from lotocar.notifications.models import SmsMessage
    assert not db.session.scalars(db.select(SmsMessage).where(SmsMessage.to_phone == "+33698765432")).all()
    blob = json.dumps(privacy.export_passenger(pax_id), ensure_ascii=False)
    for secret in ("Marty", "98765432", "cardiologue", "Appeler après"):
        assert secret not in blob
    assert db.session.scalar(db.select(AuditEntry).where(AuditEntry.action == "anonymised")).reason == "demande écrite"
    # idempotent
    privacy.anonymise_passenger(pax_id, None, "again")
    db.session.commit()


def test_erase_driver(world):
    driver_id, user_id = world["driver"].driver.id, world["driver"].id
    privacy.anonymise_driver(driver_id, None, "demande orale")
    db.session.commit()
    user = db.session.get(User, user_id)
    assert user.phone is None and user.first_name == "Anonyme" and not user.active
    assert db.session.get(Offer, world["offer"].id).status == OfferStatus.CANCELLED
    # the passenger's booking went back to the operator's queue
    assert db.session.get(TripRequest, world["req"].id).status == RequestStatus.OPEN
    blob = json.dumps(privacy.export_driver(driver_id), ensure_ascii=False)
    assert "Rességuier" not in blob and "+3361234" not in blob


def test_retention_purge(world, runner, make_driver):
    old = passenger("+33698765499")
    old.created_at = utcnow() - timedelta(days=800)
    idle_driver = make_driver("Vieux", "Compte")
    idle_driver.created_at = utcnow() - timedelta(days=800)
    db.session.add(PhoneCode(phone="+33600000000", purpose="login", code_hash="x",
                             created_at=utcnow() - timedelta(days=3), expires_at=utcnow() - timedelta(days=3)))
    db.session.commit()
    dry = runner.invoke(args=["privacy", "purge", "--dry-run"])
    assert "1 passengers and 1 drivers would be anonymised" in dry.output
    assert db.session.get(Passenger, old.id).anonymised_at is None
    done = runner.invoke(args=["privacy", "purge"])
    assert "1 passengers and 1 drivers were anonymised" in done.output, done.output
    assert db.session.get(Passenger, old.id).anonymised_at is not None
    assert db.session.get(User, idle_driver.id).anonymised_at is not None
    assert db.session.get(Passenger, world["pax"].id).anonymised_at is None  # active: kept
    assert db.session.get(User, world["driver"].id).anonymised_at is None
    assert db.session.scalar(db.select(db.func.count()).select_from(PhoneCode)
                             .where(PhoneCode.phone == "+33600000000")) == 0


def test_admin_actions_and_roles(world, client):
    pax_id = world["pax"].id
    operator, _ = create_staff("op@lotocar.fr", "O", "P", Role.OPERATOR)
    db.session.commit()
    login_as(client, operator)
    assert client.get(f"/console/rgpd/passenger/{pax_id}/export").status_code == 403
    page = client.get(f"/console/passagers/{pax_id}").get_data(as_text=True)
    assert "Données personnelles (RGPD)" not in page
    admin, _ = create_staff("admin@lotocar.fr", "A", "D", Role.ADMIN)
    db.session.commit()
    login_as(client, admin)
    r = client.get(f"/console/rgpd/passenger/{pax_id}/export")
    assert r.status_code == 200 and "attachment" in r.headers["Content-Disposition"]
    assert r.get_json()["person"]["phone"] == "+33698765432"
    assert db.session.scalar(db.select(AuditEntry).where(AuditEntry.action == "personal_data_exported")).actor_id == admin.id
    token = csrf_token(client, f"/console/passagers/{pax_id}")
    r = client.post(f"/console/rgpd/passenger/{pax_id}/effacer", data={"csrf_token": token, "reason": ""})
    assert db.session.get(Passenger, pax_id).anonymised_at is None  # a reason is required
    r = client.post(f"/console/rgpd/passenger/{pax_id}/effacer", data={"csrf_token": token, "reason": "courrier"})
    assert r.status_code == 302 and db.session.get(Passenger, pax_id).anonymised_at is not None
    r = client.post(f"/console/rgpd/driver/{world['driver'].driver.id}/effacer",
                    data={"csrf_token": csrf_token(client, '/console/'), "reason": "courriel"})
    assert db.session.get(User, world["driver"].id).anonymised_at is not None
    assert client.get("/console/conducteurs").status_code == 200
