"""The API against its own OpenAPI 3.1 document.

Also the shared helpers of the API tests: `Api` wraps the test client and checks EVERY
response it gets against /api/openapi.json (status declared, body matching the schema),
so each test of test_api*.py is a conformance test too.
"""
from __future__ import annotations

import json
from functools import lru_cache

import jsonschema
import pytest
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
from openapi_spec_validator import validate as validate_spec
from referencing import Registry, Resource

from lotocar.api.openapi import document


class _SentRequest(WerkzeugOpenAPIRequest):
    """The request as sent; its body was already read by the app (not needed to check a response)."""

    @property
    def body(self):
        return None


@lru_cache(maxsize=1)
def _openapi() -> OpenAPI:
    return OpenAPI.from_dict(document())


def error_validator() -> jsonschema.Draft202012Validator:
    """The `Error` component as a plain JSON Schema (for answers outside the documented paths)."""
    doc = document()
    registry = Registry().with_resource("urn:lotocar-api", Resource.from_contents(
        {**doc, "$schema": "https://json-schema.org/draft/2020-12/schema"}))
    return jsonschema.Draft202012Validator({"$ref": "urn:lotocar-api#/components/schemas/Error"},
                                           registry=registry)


def assert_conforms(response) -> None:
    """The response is JSON and matches the OpenAPI document for its path, method and status."""
    assert response.mimetype == "application/json", (response.status, response.data[:200])
    body = json.loads(response.data)
    openapi = _openapi()
    try:
        openapi.validate_response(_SentRequest(response.request),
                                  WerkzeugOpenAPIResponse(response))
    except (PathNotFound, OperationNotFound):
        # an address or method the API does not have: only a JSON 404/405 error is fine
        assert response.status_code in (404, 405), response.status
        error_validator().validate(body)


class Api:
    """Test client for /api: bearer token, JSON bodies, every response schema-checked."""

    def __init__(self, client, token: str | None = None) -> None:
        self.client = client
        self.token = token

    def as_(self, token: str | None) -> "Api":
        return Api(self.client, token)

    def call(self, method: str, path: str, json_body=None, *, token: str | None | bool = True,
             headers: dict | None = None, **kwargs):
        headers = dict(headers or {})
        use = self.token if token is True else token
        if use:
            headers["Authorization"] = f"Bearer {use}"
        if json_body is not None:
            kwargs["json"] = json_body
        response = self.client.open(path, method=method, headers=headers, **kwargs)
        assert_conforms(response)
        return response

    def get(self, path: str, **kwargs):
        return self.call("GET", path, **kwargs)

    def post(self, path: str, body=None, **kwargs):
        return self.call("POST", path, body, **kwargs)


# --- the document itself -------------------------------------------------------------------

def test_document_is_valid_openapi_31(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    doc = response.get_json()
    assert doc["openapi"] == "3.1.0"
    validate_spec(doc)  # raises on an invalid OpenAPI 3.1 document
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_document_is_public_and_lists_every_endpoint(app, client):
    doc = client.get("/api/openapi.json").get_json()  # no token needed
    documented = {(m.upper(), path) for path, item in doc["paths"].items() for m in item}
    served = set()
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api."):
            continue
        path = rule.rule.replace("<int:", "{").replace(">", "}")
        if "<any(" in path:
            head, _, rest = rule.rule.partition("<any(")
            choices, _, _ = rest.partition("):")
            head = head.replace("<int:", "{").replace(">", "}")
            for choice in choices.split(", "):
                for method in rule.methods - {"HEAD", "OPTIONS"}:
                    served.add((method, head + choice))
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            served.add((method, path))
    assert served == documented


def test_error_schema_rejects_a_wrong_shape():
    with pytest.raises(jsonschema.ValidationError):
        error_validator().validate({"error": {"code": 404, "message": "x"}})
    error_validator().validate({"error": {"code": "not_found", "message": "x", "fields": {}}})


def test_conformance_helper_catches_a_bad_response(app, client):
    """The helper is not a rubber stamp: a body off the schema fails it."""
    from flask import jsonify

    with app.test_request_context("/api/v1/bookings/1", method="GET") as ctx:
        bad = jsonify({"id": 1, "status": "flying"})
        bad.request = ctx.request
        with pytest.raises(Exception):
            assert_conforms(bad)


# --- shared fixtures (imported by the other test_api*.py modules) ---------------------------

@pytest.fixture
def staff(app):
    """An operator and an admin, each with an API token."""
    from lotocar.api.operations import issue_token
    from lotocar.auth.models import Role, User
    from lotocar.extensions import db

    # straight rows (no password hashing: the API never uses passwords)
    operator = User(role=Role.OPERATOR, email="op@lotocar.fr", first_name="Sophie", last_name="Martin")
    admin = User(role=Role.ADMIN, email="admin@lotocar.fr", first_name="Alain", last_name="Vidal")
    db.session.add_all([operator, admin])
    db.session.commit()
    tokens = {"operator_token": issue_token("op@lotocar.fr")[0], "admin_token": issue_token("admin@lotocar.fr")[0]}
    db.session.commit()
    return {"operator": operator, "admin": admin, **tokens}


@pytest.fixture
def api(client, staff) -> Api:
    """The API as an operator."""
    return Api(client, staff["operator_token"])
