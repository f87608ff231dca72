"""Roles on every route (table-driven over the app's route list), sign-in, tokens, error shape."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
import websockets
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts
from starlette.routing import WebSocketRoute
from websockets.exceptions import InvalidStatus

from supervisor_desk.hub.auth import Authorize
from supervisor_desk.hub.store.tokens import TOKEN_PREFIX
from supervisor_desk.models.wire import PERMISSIONS, ROLES
from tests.hub.conftest import Api, assert_error
from tests.hub.factories import started

PUBLIC = "public"
ANY = "any valid token"
# Every route of the hub and the permission it needs. A route missing here fails the tests.
ROUTE_PERMISSIONS: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/openapi.json"): PUBLIC,
    ("POST", "/api/v1/auth/login"): PUBLIC,
    ("POST", "/api/v1/auth/logout"): ANY,
    ("GET", "/api/v1/me"): ANY,
    ("GET", "/api/v1/health"): ANY,
    ("POST", "/api/v1/ingest"): "events:ingest",
    ("GET", "/api/v1/live"): "sessions:read",
    ("WS", "/api/v1/feed"): "sessions:read",
    ("GET", "/api/v1/sessions"): "sessions:read",
    ("GET", "/api/v1/sessions/metrics"): "sessions:read",
    ("GET", "/api/v1/analytics"): "sessions:read",
    ("GET", "/api/v1/sessions/export"): "sessions:export",
    ("GET", "/api/v1/sessions/{session_id:sid}"): "sessions:read",
    ("GET", "/api/v1/sessions/{session_id:sid}/logs"): "logs:read",
    ("POST", "/api/v1/sessions/{session_id:sid}/handover"): "sessions:handover",
    ("PATCH", "/api/v1/sessions/{session_id:sid}/contact"): "contacts:edit",
    ("GET", "/api/v1/agents"): "sessions:read",
    ("GET", "/api/v1/operators"): "sessions:read",
    ("POST", "/api/v1/admin/revoke"): "tokens:manage",
    ("POST", "/api/v1/sessions/{session_id:sid}/files"): "events:ingest",
    ("GET", "/api/v1/sessions/{session_id:sid}/files"): "sessions:read",
    ("GET", "/api/v1/sessions/{session_id:sid}/files/{file_id}"): "sessions:read",
    ("POST", "/api/v1/sessions/import-audio"): "sessions:import",
    ("GET", "/api/v1/sessions/{session_id:sid}/transcription"): "sessions:read",
    ("DELETE", "/api/v1/sessions/{session_id:sid}/transcription"): "sessions:import",
    ("POST", "/api/v1/webhooks"): "tokens:manage",
    ("GET", "/api/v1/webhooks"): "tokens:manage",
    ("DELETE", "/api/v1/webhooks/{webhook_id}"): "tokens:manage",
    ("GET", "/api/v1/webhooks/{webhook_id}/deliveries"): "tokens:manage",
    ("POST", "/api/v1/webhooks/{webhook_id}/replay"): "tokens:manage",
}


def _routes(api: Api) -> dict[tuple[str, str], Any]:
    """Every (method, full path) of the app, routers included, with its route object."""
    found: dict[tuple[str, str], Any] = {}
    for context in iter_route_contexts(api.hub.server.app.routes):
        route, path = context.original_route, context.path
        assert path is not None, route
        if isinstance(route, (WebSocketRoute, APIWebSocketRoute)):
            found[("WS", path)] = route
        else:
            for method in getattr(route, "methods", None) or {"GET"}:
                if method != "HEAD":
                    found[(method, path)] = route
    return found


def _authorize_permissions(route: APIRoute) -> set[str | None]:
    seen: set[str | None] = set()
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        if isinstance(dependant.call, Authorize):
            seen.add(dependant.call.permission)
        stack.extend(dependant.dependencies)
    return seen


def test_route_table_is_complete_and_every_route_checks_its_role(api: Api) -> None:
    routes = _routes(api)
    assert set(routes) == set(ROUTE_PERMISSIONS), "add new routes to ROUTE_PERMISSIONS"
    for key, route in routes.items():
        expected = ROUTE_PERMISSIONS[key]
        if isinstance(route, APIRoute):
            permissions = _authorize_permissions(route)
            if expected == PUBLIC:
                assert permissions == set(), key
            else:
                assert permissions == {None if expected == ANY else expected}, key


def _request(api: Api, method: str, path: str, role: str | None) -> int:
    url = path.replace("/api/v1", "").replace("{session_id:sid}", "s1")
    kwargs: dict[str, Any] = {}
    if url == "/ingest":
        kwargs["json"] = {"events": []}
    if url == "/auth/logout" and role is not None:
        # Logging out revokes the token: use a throwaway one.
        token = api.hub.create_token("throwaway", role)
        kwargs["headers"] = {"Authorization": f"Bearer {token}"}
        return api.request(method, url, role=None, **kwargs).status_code
    return api.request(method, url, role=role, **kwargs).status_code


def test_every_route_enforces_its_role(api: Api) -> None:
    api.ingest([started("s1")])
    for (method, path), permission in ROUTE_PERMISSIONS.items():
        if permission == PUBLIC or method == "WS":
            continue
        assert _request(api, method, path, None) == 401, (method, path)
        for role in ROLES:
            status = _request(api, method, path, role)
            allowed = permission == ANY or permission in PERMISSIONS[role]
            if allowed:
                assert status not in (401, 403), (method, path, role, status)
            else:
                assert status == 403, (method, path, role, status)


def test_feed_route_enforces_its_role(api: Api) -> None:
    url = api.hub.url.replace("http://", "ws://") + "/api/v1/feed"

    async def status_for(role: str | None) -> int:
        try:
            async with websockets.connect(url, additional_headers=api.headers(role)) as ws:
                await ws.recv()
                return 101
        except InvalidStatus as exc:
            return exc.response.status_code

    for role in (None, *ROLES):
        status = asyncio.run(status_for(role))
        if role is None:
            assert status == 401
        elif "sessions:read" in PERMISSIONS[role]:
            assert status == 101, role
        else:
            assert status == 403, role


def test_login_and_bad_credentials(api: Api) -> None:
    good = api.post("/auth/login", role=None, json={"username": "admin", "password": "admin"})
    assert good.status_code == 200
    body = good.json()
    assert set(body) == {"token", "expires_at", "user", "role"}
    assert body["role"] == "admin" and body["user"]["name"] == "admin"
    assert body["token"].startswith(TOKEN_PREFIX) and body["expires_at"].endswith("Z")
    wrong = api.post("/auth/login", role=None, json={"username": "admin", "password": "nope"})
    unknown = api.post("/auth/login", role=None, json={"username": "ghost", "password": "nope"})
    assert assert_error(wrong, 401, "invalid_credentials") == \
        assert_error(unknown, 401, "invalid_credentials")


def test_failed_logins_are_throttled(api: Api) -> None:
    for _ in range(5):
        answer = api.post("/auth/login", role=None,
                          json={"username": "viewer", "password": "wrong"})
        assert answer.status_code == 401
    blocked = api.post("/auth/login", role=None,
                       json={"username": "viewer", "password": "viewer"})
    assert_error(blocked, 429, "too_many_attempts")
    assert int(blocked.headers["Retry-After"]) > 0
    # Another user is not locked out by someone else's failures.
    other = api.post("/auth/login", role=None,
                     json={"username": "supervisor", "password": "supervisor"})
    assert other.status_code == 200


def test_expired_and_revoked_tokens(api: Api) -> None:
    expired, _ = api.hub.storage.create_token("old", "viewer", ttl=timedelta(seconds=-1))
    assert_error(api.get("/me", role=None, headers={"Authorization": f"Bearer {expired}"}),
                 401, "unauthorized")
    for header in ("Basic abc", "Bearer", "Bearer " + "x" * 600, "token"):
        assert_error(api.get("/me", role=None, headers={"Authorization": header}), 401)


def test_passwords_and_tokens_are_stored_only_as_hashes(api: Api) -> None:
    api.hub.add_user("carol", "viewer", "Tr0ub4dor&3-unique")
    token = api.post("/auth/login", role=None,
                     json={"username": "carol", "password": "Tr0ub4dor&3-unique"}).json()["token"]
    cli_token = api.token("viewer")
    raw = api.hub.db_path.read_bytes()
    wal = api.hub.db_path.with_name(api.hub.db_path.name + "-wal")
    if wal.exists():
        raw += wal.read_bytes()
    assert b"carol" in raw  # the user is there ...
    assert b"Tr0ub4dor" not in raw  # ... but neither the password ...
    assert token.encode() not in raw and cli_token.encode() not in raw  # ... nor any token


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("GET", "/nope", {}, 404, "not_found"),
        ("DELETE", "/live", {}, 405, "method_not_allowed"),
        ("POST", "/auth/login", {"json": {"username": "x"}}, 422, "invalid_request"),
        ("POST", "/auth/login", {"content": b"{oops", "headers": {
            "Content-Type": "application/json"}}, 422, "invalid_request"),
        ("POST", "/auth/login", {"json": {"username": 5, "password": ["x"]}}, 422,
         "invalid_request"),
    ],
)
def test_error_shape_everywhere(
    api: Api, method: str, path: str, kwargs: dict[str, Any], status: int, code: str
) -> None:
    assert_error(api.request(method, path, role="viewer", **kwargs), status, code)


def test_me_for_an_api_token(api: Api) -> None:
    me = api.get("/me", role="ingest").json()
    assert me["role"] == "ingest" and me["permissions"] == ["events:ingest", "sessions:import"]
    assert me["user"]["name"] == "tests"
