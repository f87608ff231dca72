"""schemathesis against the hub's own OpenAPI, with real tokens of the right role per route.

Every operation gets generated valid and invalid requests; the hub must never answer 5xx, and
every documented answer must match its schema and content type. A short run by default
(``FUZZ_EXAMPLES``, 8 per operation and mode); the long one is behind ``slow``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from supervisor_desk.hub.embedded import EmbeddedHub
from tests.reliability.desk import Traffic, auth

not_a_server_error = schemathesis.checks.not_a_server_error  # type: ignore[attr-defined]

ROLE_FOR = {
    "/api/v1/ingest": "ingest",
    "/api/v1/admin/revoke": "admin",
    "/api/v1/sessions/{session_id}/handover": "supervisor",
}


@pytest.fixture(scope="module")
def fuzz_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedHub]:
    hub = EmbeddedHub(tmp_path_factory.mktemp("fuzz") / "hub.db")
    for name in ("viewer", "supervisor", "admin"):
        hub.add_user(name, name, name)
    hub.start()
    token = hub.create_token("fuzz-ingest", "ingest")
    answer = httpx.post(f"{hub.url}/api/v1/ingest", headers=auth(token),
                        json={"events": Traffic(seed=1).batch(300)})
    assert answer.status_code == 200
    try:
        yield hub
    finally:
        hub.stop()


def _operations(hub: EmbeddedHub) -> list[Any]:
    schema = schemathesis.openapi.from_url(f"{hub.url}/api/v1/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


def _runner(hub: EmbeddedHub, token: str, path: str, checks: list[Any]) -> Any:
    def run(case: Any) -> None:
        used = token
        if path == "/api/v1/auth/logout":
            used = hub.create_token("fuzz-logout", "viewer")  # logout revokes it
        headers = {**(case.headers or {}), **auth(used)}
        response = case.call(base_url=hub.url, headers=headers, timeout=30)
        assert response.status_code < 500, (
            f"{case.method} {path} -> {response.status_code}: {response.text[:300]}"
        )
        case.validate_response(response, checks=checks, headers=headers)

    return run


def _fuzz(hub: EmbeddedHub, examples: int) -> list[str]:
    tokens = {role: hub.create_token(f"fuzz-{role}", role)
              for role in ("viewer", "supervisor", "admin", "ingest")}
    checks = [not_a_server_error, response_schema_conformance, content_type_conformance]
    covered = []
    for operation in _operations(hub):
        path = operation.path
        role = ROLE_FOR.get(path, "viewer")
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            runner = _runner(hub, tokens[role], path, checks)
            strategy = operation.as_strategy(generation_mode=mode)
            test = settings(max_examples=examples, deadline=None, database=None,
                            derandomize=True, suppress_health_check=list(HealthCheck))(
                given(case=strategy)(runner)
            )
            try:
                test()
            except Unsatisfiable:
                # Nothing in this operation can be made invalid (no parameters, no body).
                assert mode is GenerationMode.NEGATIVE, f"{path}: no valid request generated"
        covered.append(f"{operation.method.upper()} {path}")
    return covered


def test_every_operation_survives_generated_requests(fuzz_hub: EmbeddedHub) -> None:
    covered = _fuzz(fuzz_hub, int(os.environ.get("FUZZ_EXAMPLES", "8")))
    assert len(covered) >= 12, covered
    assert "POST /api/v1/ingest" in covered and "POST /api/v1/admin/revoke" in covered


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_every_operation_survives_many_generated_requests(fuzz_hub: EmbeddedHub) -> None:
    _fuzz(fuzz_hub, 300)


def test_schema_is_served(fuzz_hub: EmbeddedHub, tmp_path: Path) -> None:
    answer = httpx.get(f"{fuzz_hub.url}/api/v1/openapi.json")
    assert answer.status_code == 200
    assert answer.json()["openapi"].startswith("3.")
