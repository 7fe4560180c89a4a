"""Bad input on the JSON API: schemathesis fuzzes every operation of /api/openapi.json.

In process (WSGI, no server), with a valid operator token, over a database seeded with a
driver and their trip, a passenger with four requests and three bookings (proposed,
accepted, confirmed), so that generated path ids hit real rows now and then. Every
operation gets schemathesis' examples and coverage cases (positive and negative: missing
fields, wrong types, out-of-range values, bad auth, unexpected methods) then
EXAMPLES_PER_OPERATION random ones. Every response must be no 5xx and match the document:
status code declared, content type, body schema. The cases sent are counted: the last test
checks there were at least MIN_CASES and that every operation also reached its success path.

The document fuzzed is the one /api/openapi.json serves (checked below) plus examples: one
valid request body per write operation, made for today's date and the seeded ids, and a path
id each operation can succeed on, so that the 2xx answers are checked too, not only refusals.
"""
from __future__ import annotations

from collections import Counter
from datetime import time, timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

from lotocar.api.openapi import document
from lotocar.offers import operations as offer_ops
from lotocar.offers.rules import OfferInput
from tests.factories import MONDAY, TODAY, commune, luzech_cahors, passenger, trip_request

MIN_CASES = 1000
EXAMPLES_PER_OPERATION = 70  # random cases per operation, on top of the examples and coverage cases
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
CASES: Counter[str] = Counter()  # cases sent per operation
STATUSES: dict[str, Counter[int]] = {}  # operation → status → count

# Seeded rows (ids restart at 1 for every test, see the `app` fixture): the examples use them.
DRIVER_ID = OFFER_ID = PASSENGER_ID = 1
FREE_REQUEST_ID = 4  # an open request with no booking: its example booking can be made
FREE_DAY = MONDAY + timedelta(days=21)
JSON = "application/json"


def _fuzzed_document() -> dict:
    doc = document()
    examples = {
        "/api/v1/drivers": {"first_name": "Jeanne", "last_name": "Delpech", "phone": "06 11 22 33 44",
                            "home_insee": "46182", "consent_contact": True},
        "/api/v1/passengers": {"first_name": "Odile", "last_name": "Cayrou", "phone": "05 65 11 22 33",
                               "home_insee": "46088", "has_no_car": True, "sms_consent": False},
        "/api/v1/offers": {"driver_id": DRIVER_ID, "origin": {"insee": "46182"},
                           "destination": {"insee": "46042", "place": "Hôpital"},
                           "departure": f"{MONDAY + timedelta(days=1)}T09:30", "seats": 2,
                           "max_detour_minutes": 10, "remark": "<b>Je pars à l'heure</b>"},
        "/api/v1/requests": {"passenger_id": PASSENGER_ID, "origin": {"insee": "46088"},
                             "destination": {"insee": "46042"}, "arrive_by": f"{MONDAY}T08:30",
                             "reason": "medical"},
        "/api/v1/bookings": {"request_id": FREE_REQUEST_ID, "offer_id": OFFER_ID,
                             "date": FREE_DAY.isoformat()},
    }
    for path, example in examples.items():
        doc["paths"][path]["post"]["requestBody"]["content"][JSON]["example"] = example
    # a path id each operation can succeed on (booking 1 proposed, 2 accepted, 3 confirmed)
    path_ids = {"accept": 1, "decline": 1, "cancel": 1, "confirm": 2, "done": 3, "no_show": 3}
    for path, item in doc["paths"].items():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    parameter["example"] = path_ids.get(path.rsplit("/", 1)[-1], 1)
    return doc


schema = schemathesis.openapi.from_dict(_fuzzed_document())


class FreshContextApp:
    """Each request in its own app context (own `g` and DB session), as in production,
    although the test holds an app context itself (see FreshContextClient in conftest)."""

    def __init__(self, app) -> None:
        self.app = app

    def __call__(self, environ, start_response):
        with self.app.app_context():
            return self.app(environ, start_response)


@pytest.fixture
def seeded(app, make_driver):
    """The rows above and an operator's API token."""
    from lotocar.api.operations import issue_token
    from lotocar.auth.models import Role
    from lotocar.auth.operations import create_staff
    from lotocar.bookings import operations as bookings
    from lotocar.extensions import db

    create_staff("fuzz-op@lotocar.fr", "Sophie", "Martin", Role.OPERATOR)
    db.session.commit()
    driver = make_driver("Nathalie", "Rességuier")
    offer = luzech_cahors(driver)
    # booking 3 (confirmed) rides this evening: "done" and "no-show" are only possible from
    # the day of the ride, so that is the run they can succeed on
    tonight = offer_ops.create_offer(driver.driver, OfferInput(
        kind="one_off", origin=offer_ops.place_input(commune("46182"), None, None, None),
        destination=offer_ops.place_input(commune("46042"), None, None, None), seats=3, max_detour_min=10,
        departure_date=TODAY, departure_time=time(17, 0)), driver.id)
    db.session.commit()
    person = passenger()
    days = [MONDAY, MONDAY + timedelta(days=7), TODAY, FREE_DAY]
    requests = [trip_request(person, day=day, at=time(17, 45) if day == TODAY else time(8, 30)) for day in days]
    assert (driver.driver.id, offer.id, person.id, requests[-1].id) == (
        DRIVER_ID, OFFER_ID, PASSENGER_ID, FREE_REQUEST_ID)
    made = [bookings.propose(bookings.Proposal(r.id, run.id, r_day), None)
            for r, r_day, run in zip(requests[:3], days[:3], [offer, offer, tonight])]
    db.session.commit()
    bookings.transition(made[1].id, "accept", driver.id)  # 2: accepted by the driver
    db.session.commit()
    bookings.transition(made[2].id, "accept", driver.id)
    db.session.commit()
    bookings.transition(made[2].id, "confirm", None)  # 3: confirmed
    db.session.commit()
    token, _ = issue_token("fuzz-op@lotocar.fr")
    db.session.commit()
    return token


def test_fuzzed_document_is_the_served_one(client):
    served = client.get("/api/openapi.json").get_json()
    assert served == document()
    examples_removed = _fuzzed_document()
    for item in examples_removed["paths"].values():
        for op in item.values():
            op.get("requestBody", {}).get("content", {}).get(JSON, {}).pop("example", None)
            for parameter in op.get("parameters", []):
                if parameter["in"] == "path":
                    parameter.pop("example")
    assert examples_removed == served


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_api_never_fails_and_matches_its_document(case, app, seeded):
    label = case.operation.label
    CASES[label] += 1
    response = case.call_and_validate(app=FreshContextApp(app), checks=CHECKS,
                                      headers={"Authorization": f"Bearer {seeded}"})
    if case.method.upper() == case.operation.method.upper():  # not an unexpected-method probe
        STATUSES.setdefault(label, Counter())[response.status_code] += 1


def test_enough_cases_were_run():
    """Runs after the fuzzing above (same module, file order)."""
    total = sum(CASES.values())
    print(f"\nschemathesis: {total} cases over {len(CASES)} operations")
    for label, statuses in STATUSES.items():
        print(f"  {label}: {dict(sorted(statuses.items()))}")
    assert len(CASES) == len([m for item in document()["paths"].values() for m in item]), CASES
    assert total >= MIN_CASES, CASES
    no_success = [label for label, statuses in STATUSES.items()
                  if not any(200 <= s < 300 for s in statuses)]
    assert not no_success, f"never reached their success path: {no_success}"
