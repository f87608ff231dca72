"""The OpenAPI document tells the truth a client needs: auth and roles per route, the one error
model on every error status, typed filters and sort, export media types, the ingest union; and
a body that is not UTF-8 gets the documented error on every route that reads one."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate

from supervisor_desk.hub.openapi import SORT_VALUES
from supervisor_desk.models.filters import FILTER_PARAMS
from supervisor_desk.models.wire import EVENT_TYPES, PERMISSIONS
from tests.hub.conftest import Api, assert_error

METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture
def document(api: Api) -> dict[str, Any]:
    answer = api.get("/openapi.json", role=None)
    assert answer.status_code == 200
    doc: dict[str, Any] = answer.json()
    return doc


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, item in doc["paths"].items()
            for method, op in item.items() if method in METHODS]


def test_the_document_is_valid_with_every_reference_resolved(document: dict[str, Any]) -> None:
    validate(document)
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_every_route_declares_its_auth_and_roles(document: dict[str, Any]) -> None:
    scheme = document["components"]["securitySchemes"]["bearerToken"]
    assert scheme == {**scheme, "type": "http", "scheme": "bearer"}
    for method, path, op in _operations(document):
        if (method, path) == ("post", "/api/v1/auth/login"):
            assert op["security"] == [], path
            assert "401" in op["responses"] and "429" in op["responses"]
            continue
        assert op["security"] == [{"bearerToken": []}], (method, path)
        assert "401" in op["responses"], (method, path)
        permission = op["x-required-permission"]
        roles = {r for r, perms in PERMISSIONS.items() if permission is None or permission in perms}
        assert set(op["x-required-roles"]) == roles, (method, path)
        if permission is not None:
            assert "403" in op["responses"], (method, path)
            assert permission in op["description"]


def test_every_error_status_has_the_error_model(document: dict[str, Any]) -> None:
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error", "message", "details"]
    for method, path, op in _operations(document):
        assert "422" in op["responses"] and "503" in op["responses"], (method, path)
        for status, answer in op["responses"].items():
            if status.startswith(("4", "5")):
                schema = answer["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)


@pytest.mark.parametrize("path", ["/api/v1/sessions", "/api/v1/sessions/metrics",
                                  "/api/v1/sessions/export"])
def test_filters_and_sort_are_typed_query_parameters(
    document: dict[str, Any], path: str,
) -> None:
    params = {p["name"]: p for p in document["paths"][path]["get"]["parameters"]}
    assert set(FILTER_PARAMS) <= set(params)
    assert params["channel"]["schema"]["type"] == "array"
    assert params["has_attachments"]["schema"]["pattern"]
    if path != "/api/v1/sessions/metrics":
        assert params["sort"]["schema"]["enum"] == list(SORT_VALUES)


def test_export_declares_its_media_types(document: dict[str, Any]) -> None:
    ok = document["paths"]["/api/v1/sessions/export"]["get"]["responses"]["200"]
    assert set(ok["content"]) == {"application/json", "application/x-ndjson", "text/csv"}


def test_ingest_body_is_a_discriminated_union_of_every_event_type(
    document: dict[str, Any],
) -> None:
    body = document["paths"]["/api/v1/ingest"]["post"]["requestBody"]
    assert body["required"] is True
    ref = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    items = document["components"]["schemas"][ref]["properties"]["events"]["items"]
    assert items["discriminator"]["propertyName"] == "type"
    assert set(items["discriminator"]["mapping"]) == set(EVENT_TYPES)


@pytest.mark.parametrize(("path", "role"), [
    ("/auth/login", None), ("/admin/revoke", "admin"), ("/ingest", "ingest"),
    ("/webhooks", "admin"),
])
def test_a_body_that_is_not_utf8_gets_the_error_model(api: Api, path: str,
                                                      role: str | None) -> None:
    answer = api.post(path, role=role, content=b'{"username": "\xff\xfe"}',
                      headers={"Content-Type": "application/json"})
    body = assert_error(answer, 422, "invalid_json")
    assert body["message"]
