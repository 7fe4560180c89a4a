"""API authentication: bearer tokens for staff only; cookies never authenticate the API.

Role checks run on EVERY endpoint of the OpenAPI document: anonymous, a driver's token (which
the CLI refuses to issue, so it is planted in the database), a driver's cookie session, an
operator's cookie session, an operator's token and an admin's token.
"""
from __future__ import annotations

import hashlib
import re

import pytest

from lotocar.api.models import ApiToken
from lotocar.api.openapi import document
from lotocar.auth.models import Role
from lotocar.auth.operations import create_staff
from lotocar.core.timeutil import utcnow
from lotocar.extensions import db
from tests.conftest import login_as
from tests.api_support import Api

ENDPOINTS = sorted(
    (method.upper(), path.replace("{request_id}", "999999").replace("{booking_id}", "999999"))
    for path, item in document()["paths"].items() for method in item
    if path != "/api/openapi.json"
)


def _call(api: Api, method: str, path: str, **kwargs):
    if method == "GET":
        return api.get(path + ("?q=cahors" if path.endswith("/communes") else ""), **kwargs)
    return api.post(path, {}, **kwargs)


@pytest.fixture
def driver_token(make_driver):
    """A token row for a driver: the CLI never issues one, but the API must refuse it anyway."""
    driver = make_driver()
    raw = "ltc_planted-driver-token"
    db.session.add(ApiToken(user_id=driver.id, token_hash=hashlib.sha256(raw.encode()).hexdigest()))
    db.session.commit()
    return raw


def test_every_endpoint_is_covered():
    assert len(ENDPOINTS) >= 15


def _sweep(api: Api, expect) -> None:
    """Call every endpoint; `expect(response)` is True when the answer is right."""
    wrong = []
    for method, path in ENDPOINTS:
        response = _call(api, method, path)
        if not expect(response):
            wrong.append((method, path, response.status_code, response.get_json()))
    assert not wrong, wrong


def test_anonymous_gets_401_everywhere(client):
    _sweep(Api(client), lambda r: r.status_code == 401
           and r.get_json()["error"]["code"] == "unauthorized"
           and r.headers["WWW-Authenticate"].startswith("Bearer"))


def test_driver_token_gets_403_everywhere(client, driver_token):
    _sweep(Api(client, driver_token), lambda r: r.status_code == 403
           and r.get_json()["error"]["code"] == "forbidden")


def test_driver_cookie_session_never_authenticates(client, make_driver):
    login_as(client, make_driver())
    _sweep(Api(client), lambda r: r.status_code == 401)


def test_operator_cookie_session_never_authenticates(client, staff):
    login_as(client, staff["operator"])  # not even a staff member's browser session
    _sweep(Api(client), lambda r: r.status_code == 401)


@pytest.mark.parametrize("who", ["operator", "admin"])
def test_staff_tokens_get_through_everywhere(client, staff, who):
    # ids 999999 do not exist and bodies are empty: 404 / 422, but never 401 / 403
    _sweep(Api(client, staff[f"{who}_token"]), lambda r: r.status_code in (200, 404, 422))


@pytest.mark.parametrize("header", [
    "Bearer", "Bearer ", "Basic b3A6cGFzcw==", "Token ltc_abc", "Bearer ltc_unknown", "bearer" + " x" * 200,
])
def test_malformed_or_unknown_tokens_get_401(client, staff, header):
    response = Api(client, None).get("/api/v1/communes?q=cahors", headers={"Authorization": header})
    assert response.status_code == 401


def test_scheme_is_case_insensitive(client, staff):
    response = Api(client, None).get("/api/v1/communes?q=cahors",
                                     headers={"Authorization": f"bearer {staff['operator_token']}"})
    assert response.status_code == 200


def test_token_of_deactivated_or_demoted_account_stops_working(client, staff):
    api = Api(client, staff["operator_token"])
    assert api.get("/api/v1/communes?q=cahors").status_code == 200
    staff["operator"].active = False
    db.session.commit()
    assert api.get("/api/v1/communes?q=cahors").status_code == 401
    staff["operator"].active = True
    staff["operator"].role = Role.DRIVER
    db.session.commit()
    assert api.get("/api/v1/communes?q=cahors").status_code == 403


def test_last_used_is_recorded(client, staff):
    token = db.session.scalar(db.select(ApiToken).where(ApiToken.user_id == staff["operator"].id))
    assert token.last_used_at is None
    Api(client, staff["operator_token"]).get("/api/v1/communes?q=cahors")
    db.session.expire_all()
    assert token.last_used_at is not None


def test_csrf_does_not_apply_to_bearer_calls_and_cookies_do_not_bypass_it(app, client, staff):
    assert app.config["WTF_CSRF_ENABLED"]
    body = {"first_name": "Odette", "last_name": "Marty", "phone": "06 98 76 54 32",
            "home_insee": "46088", "has_no_car": True}
    # no CSRF token, bearer token: accepted
    assert Api(client, staff["operator_token"]).post("/api/v1/passengers", body).status_code == 201
    # a logged-in operator's browser (cookie, no token) cannot be used to post: 401, not CSRF 400
    login_as(client, staff["operator"])
    assert Api(client).post("/api/v1/passengers", {**body, "phone": "06 98 76 54 33"}).status_code == 401


# --- the CLI ---------------------------------------------------------------------------------

def test_cli_token_prints_a_token_and_stores_only_its_hash(app, runner, client):
    create_staff("sophie@lotocar.fr", "Sophie", "Martin", Role.OPERATOR, "op-password-46")
    db.session.commit()
    result = runner.invoke(args=["operators", "token", "Sophie@lotocar.fr"])
    assert result.exit_code == 0, result.output
    raw = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"ltc_[A-Za-z0-9_-]{40,}", raw)
    rows = db.session.scalars(db.select(ApiToken)).all()
    assert len(rows) == 1 and rows[0].token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in {getattr(rows[0], c.key) for c in ApiToken.__table__.columns}
    assert Api(client, raw).get("/api/v1/communes?q=cahors").status_code == 200
    # each call issues a different token
    again = runner.invoke(args=["operators", "token", "sophie@lotocar.fr"]).stdout.strip().splitlines()[-1]
    assert again != raw and Api(client, again).get("/api/v1/communes?q=cahors").status_code == 200


def test_cli_token_for_an_admin(app, runner):
    create_staff("chef@lotocar.fr", "Alain", "Vidal", Role.ADMIN, "admin-password-46")
    db.session.commit()
    assert runner.invoke(args=["operators", "token", "chef@lotocar.fr"]).exit_code == 0


def test_cli_refuses_drivers_and_unknown_accounts(app, runner, make_driver):
    driver = make_driver()
    driver.email = "jean@example.fr"
    db.session.commit()
    result = runner.invoke(args=["operators", "token", "jean@example.fr"])
    assert result.exit_code != 0 and "réservés aux opérateurs" in result.output
    result = runner.invoke(args=["operators", "token", "personne@lotocar.fr"])
    assert result.exit_code != 0 and "Aucun compte" in result.output
    assert db.session.scalar(db.select(db.func.count(ApiToken.id))) == 0


def test_cli_revoke(app, runner, client, staff):
    api = Api(client, staff["operator_token"])
    assert api.get("/api/v1/communes?q=cahors").status_code == 200
    result = runner.invoke(args=["operators", "token", "op@lotocar.fr", "--revoke"])
    assert result.exit_code == 0 and "1 API token(s) revoked" in result.output
    assert api.get("/api/v1/communes?q=cahors").status_code == 401
    token = db.session.scalar(db.select(ApiToken).where(ApiToken.user_id == staff["operator"].id))
    assert token.revoked_at is not None and token.revoked_at <= utcnow()


def test_cli_create_then_token(app, runner, client):
    result = runner.invoke(args=["operators", "create", "new@lotocar.fr", "--name", "Nina Bru"])
    assert result.exit_code == 0 and "Password:" in result.output
    raw = runner.invoke(args=["operators", "token", "new@lotocar.fr"]).stdout.strip().splitlines()[-1]
    assert Api(client, raw).get("/api/v1/communes?q=figeac").get_json()["communes"][0]["insee"] == "46102"
