"""Shared helpers and fixtures of the API tests (registered in tests/conftest.py).

`Api` wraps the test client and checks EVERY response it gets against /api/openapi.json
(status declared, body matching the schema), so each API test is a conformance test too.
"""
from __future__ import annotations

import json
from functools import lru_cache

import jsonschema
import pytest
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
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
