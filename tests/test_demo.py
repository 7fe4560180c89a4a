"""The demo data set: realistic, on the 2019 lines, idempotent."""
from __future__ import annotations

from lotocar.auth.models import Role, User
from lotocar.extensions import db
from lotocar.offers.models import Offer, OfferKind
from lotocar.passengers.models import Passenger
from lotocar.requests.models import TripRequest


def test_demo_load_twice(runner):
    first = runner.invoke(args=["demo", "load"])
    assert first.exit_code == 0, first.output
    assert "9 drivers" in first.output and "operatrice@lotocar.example" in first.output
    second = runner.invoke(args=["demo", "load"])
    assert "0 drivers, 0 offers, 0 passengers, 0 requests, 0 operators" in second.output
    assert db.session.scalar(db.select(db.func.count()).select_from(Offer)) == 14
    origins = set(db.session.scalars(db.select(Offer.origin_insee)))
    # Montcuq, Crayssac, Espère, Mercuès, Arcambal, Gourdon, Luzech, Douelle, Assier
    assert {"46201", "46080", "46095", "46191", "46007", "46127", "46182", "46088", "46009"} <= origins
    destinations = set(db.session.scalars(db.select(Offer.destination_insee)))
    assert {"46042", "46102"} <= destinations
    kinds = set(db.session.scalars(db.select(Offer.kind)))
    assert kinds == {OfferKind.ONE_OFF, OfferKind.REGULAR}
    operator = db.session.scalar(db.select(User).where(User.role == Role.OPERATOR))
    assert operator.email == "operatrice@lotocar.example"
    assert db.session.scalar(db.select(db.func.count()).select_from(Passenger)) == 3
    assert db.session.scalar(db.select(db.func.count()).select_from(TripRequest)) == 3


def test_demo_operator_can_log_in(client, runner):
    from tests.conftest import csrf_token

    runner.invoke(args=["demo", "load"])
    r = client.post("/connexion/equipe", data={
        "email": "operatrice@lotocar.example", "password": "demo-lotocar-46",
        "csrf_token": csrf_token(client, "/connexion/equipe")})
    assert r.status_code == 302
