"""schemathesis against the hub's own OpenAPI, with real tokens of the right role per route.

Every operation gets generated valid and invalid requests and every check schemathesis has
(``CHECKS.get_all()``: status codes, content types, headers and bodies as documented, invalid
data refused and valid data accepted, ``ignored_auth`` probing each route without and with a
wrong token, ``unsupported_method``, and the stateful ones, ``use_after_free`` and
``ensure_resource_availability``, in a state machine that creates and deletes webhooks). The
hub must never answer 5xx. A short run by default (``FUZZ_EXAMPLES``, 8 per operation and
mode, under a minute); the long one is behind ``slow``. The document itself must pass a
resolving validator (openapi-spec-validator follows every ``$ref``).
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
from openapi_spec_validator import validate as validate_openapi
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config import SchemathesisConfig

from supervisor_desk.hub.embedded import EmbeddedHub
from tests.reliability.desk import Traffic, auth

load_all_checks()
ALL_CHECKS = list(CHECKS.get_all())

ROLE_FOR = {
    "/api/v1/ingest": "ingest",
    "/api/v1/admin/revoke": "admin",
    "/api/v1/sessions/{session_id}/handover": "supervisor",
    "/api/v1/sessions/{session_id}/files": "ingest",
    "/api/v1/sessions/import-audio": "ingest",
}


def role_for(path: str, method: str) -> str:
    if path.startswith("/api/v1/webhooks"):
        return "admin"
    if path == "/api/v1/sessions/{session_id}/files" and method.upper() == "GET":
        return "viewer"
    if path == "/api/v1/sessions/{session_id}/transcription" and method.upper() == "DELETE":
        return "supervisor"
    return ROLE_FOR.get(path, "viewer")


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


# A schema-valid batch can still be refused by what is stored (an event for a session never
# started, an ended session updated): 422 invalid_event, documented in docs/protocol.md. So
# for ingest alone, 422 counts as a legitimate answer to valid data.
# Likewise an analytics range whose end is not after its start or that holds too many buckets
# (a rule between two parameters), a hand-over to an operator id the hub does not know, and an
# upload whose bytes are no file worth keeping (empty) or no audio the recogniser can read,
# and a `text=` filter with no word in it (only punctuation or symbols; JSON Schema's regex
# dialect cannot say "a Unicode letter or digit" the way the hub's word rule does):
# 415/422 with a code saying so (docs/protocol.md).
_CONTENT_REFUSED = {"positive_data_acceptance": {
    "expected-statuses": ["2xx", "401", "403", "404", "409", "413", "415", "422", "429"]}}
CONFIG = SchemathesisConfig.from_dict({"operations": [
    {"include-name": name, "checks": _CONTENT_REFUSED}
    for name in ("POST /api/v1/ingest", "POST /api/v1/sessions/{session_id}/files",
                 "POST /api/v1/sessions/import-audio", "GET /api/v1/analytics",
                 "POST /api/v1/sessions/{session_id}/handover", "GET /api/v1/sessions",
                 "GET /api/v1/sessions/metrics", "GET /api/v1/sessions/export")
]})


# The stateful run: only the webhook routes (the resources the API creates and deletes).
WEBHOOKS_ONLY = SchemathesisConfig.from_dict({"operations": [
    {"include-path-regex": "^/api/v1/(?!webhooks)", "enabled": False}]})


def _schema(hub: EmbeddedHub, config: SchemathesisConfig = CONFIG) -> Any:
    schema = schemathesis.openapi.from_url(f"{hub.url}/api/v1/openapi.json", config=config)
    tokens = {role: hub.create_token(f"fuzz-{role}", role)
              for role in ("viewer", "supervisor", "admin", "ingest")}

    # The token of the role each route needs, set the way schemathesis knows is deliberate
    # (so ignored_auth probes the route without it and with a wrong one).
    @schema.auth(refresh_interval=None)
    class RoleToken:
        def get(self, case: Any, context: Any) -> str:
            operation = context.operation
            if operation.path == "/api/v1/auth/logout":
                return hub.create_token("fuzz-logout", "viewer")  # logout revokes it
            return tokens[role_for(operation.path, operation.method)]

        def set(self, case: Any, data: str, context: Any) -> None:
            case.headers = {**(case.headers or {}), **auth(data)}

    return schema


def _operations(hub: EmbeddedHub) -> list[Any]:
    return [result.ok() for result in _schema(hub).get_all_operations()]


def _runner(hub: EmbeddedHub, path: str, checks: list[Any]) -> Any:
    def run(case: Any) -> None:
        response = case.call(base_url=hub.url, timeout=30)
        assert response.status_code < 500, (
            f"{case.method} {path} -> {response.status_code}: {response.text[:300]}"
        )
        case.validate_response(response, checks=checks)

    return run


def _fuzz(hub: EmbeddedHub, examples: int) -> list[str]:
    checks = ALL_CHECKS
    covered = []
    for operation in _operations(hub):
        path = operation.path
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            runner = _runner(hub, path, checks)
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


def test_webhooks_stateful_no_use_after_free(fuzz_hub: EmbeddedHub) -> None:
    """Create, read, replay and delete webhooks in generated sequences (links between the
    operations are inferred by schemathesis): a deleted endpoint is 404 everywhere after
    (use_after_free), a created one is there at once (ensure_resource_availability)."""
    schema = _schema(fuzz_hub, WEBHOOKS_ONLY)
    machine = schema.as_state_machine()
    hub_url = fuzz_hub.url

    seen: set[tuple[str, str, int]] = set()

    class Webhooks(machine):  # type: ignore[misc, valid-type]
        def after_call(self, response: Any, case: Any) -> None:
            super().after_call(response, case)
            seen.add((case.method.upper(), case.operation.path, response.status_code))

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": hub_url, "timeout": 30}

        def validate_response(self, response: Any, case: Any,
                              additional_checks: Any = None, **kwargs: Any) -> None:
            assert response.status_code < 500, response.text[:300]
            case.validate_response(response, checks=ALL_CHECKS, recorder=self.recorder)

    Webhooks.run(settings=settings(
        max_examples=int(os.environ.get("FUZZ_EXAMPLES", "8")) * 2, stateful_step_count=6,
        deadline=None, database=None, derandomize=True,
        suppress_health_check=list(HealthCheck)))
    # The sequences did create and delete endpoints (so the stateful checks had work to do).
    assert ("POST", "/api/v1/webhooks", 201) in seen, sorted(seen)
    assert ("DELETE", "/api/v1/webhooks/{webhook_id}", 200) in seen, sorted(seen)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_every_operation_survives_many_generated_requests(fuzz_hub: EmbeddedHub) -> None:
    _fuzz(fuzz_hub, 300)


def test_schema_is_served_and_valid_with_every_reference_resolved(
    fuzz_hub: EmbeddedHub, tmp_path: Path
) -> None:
    answer = httpx.get(f"{fuzz_hub.url}/api/v1/openapi.json")
    assert answer.status_code == 200
    document = answer.json()
    assert document["openapi"].startswith("3.")
    validate_openapi(document)  # raises on any invalid part or dangling $ref
