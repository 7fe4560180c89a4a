"""The API against its own OpenAPI 3.1 document (helpers and fixtures: tests/api_support.py)."""
from __future__ import annotations


import jsonschema
import pytest
from openapi_spec_validator import validate as validate_spec

from tests.api_support import Api, _openapi, assert_conforms, error_validator  # noqa: F401


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
