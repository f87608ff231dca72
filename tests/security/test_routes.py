"""Role checks on every route: a route without an ``Authorize`` dependency fails here, and every
route really answers 401 without a token and 403 to a role that lacks the right."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.routing import BaseRoute

from supervisor_desk.hub.app import create_app
from supervisor_desk.hub.auth import Authorize
from supervisor_desk.hub.embedded import EmbeddedHub
from supervisor_desk.hub.service import HubService
from supervisor_desk.hub.storage import Storage
from supervisor_desk.models.wire import PERMISSIONS
from tests.reliability.desk import auth

PUBLIC = {("POST", "/api/v1/auth/login"), ("GET", "/api/v1/openapi.json")}


def _authorizers(dependant: Dependant) -> list[Authorize]:
    found = [d.call for d in dependant.dependencies if isinstance(d.call, Authorize)]
    for sub in dependant.dependencies:
        found += _authorizers(sub)
    return found


def _flatten(routes: list[BaseRoute]) -> list[BaseRoute]:
    # Recent FastAPI keeps an included router as one entry wrapping the router's own routes.
    out: list[BaseRoute] = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        out += _flatten(list(inner.routes)) if inner is not None else [route]
    return out


@pytest.fixture
def routes(tmp_path: Path) -> Iterator[list[BaseRoute]]:
    service = HubService(Storage(tmp_path / "hub.db"))
    try:
        yield _flatten(list(create_app(service).routes))
    finally:
        service.close()


def endpoints(routes: list[BaseRoute]) -> list[tuple[str, str, Authorize | None]]:
    out: list[tuple[str, str, Authorize | None]] = []
    for route in routes:
        if isinstance(route, APIRoute):
            checks = _authorizers(route.dependant)
            assert len(checks) <= 1, f"{route.path}: several role checks"
            for method in sorted(route.methods):
                out.append((method, route.path, checks[0] if checks else None))
    return out


def test_every_route_has_a_role_check(routes: list[BaseRoute]) -> None:
    missing = [
        f"{method} {path}" for method, path, check in endpoints(routes)
        if check is None and (method, path) not in PUBLIC
    ]
    assert not missing, f"routes without Depends(Authorize(...)): {missing}"
    # The only non-HTTP route is the feed, which authenticates in its handshake (tested below).
    others = [r for r in routes if not isinstance(r, APIRoute)]
    assert all(isinstance(r, APIWebSocketRoute) or getattr(r, "path", "").startswith(
        "/api/v1/openapi") for r in others), others
    known = {p for perms in PERMISSIONS.values() for p in perms}
    for method, path, check in endpoints(routes):
        if check is not None and check.permission is not None:
            assert check.permission in known, f"{method} {path}: {check.permission}"


def _concrete(path: str) -> str:
    return path.replace("{session_id:path}", "s-1").replace("{session_id}", "s-1")


def test_every_route_refuses_missing_and_unprivileged_tokens(
    running_hub: EmbeddedHub, routes: list[BaseRoute]
) -> None:
    tokens = {role: running_hub.create_token(f"t-{role}", role) for role in PERMISSIONS}
    with httpx.Client(base_url=running_hub.url, timeout=30) as http:
        checked = 0
        for method, path, check in endpoints(routes):
            if check is None:
                continue
            url = _concrete(path)
            body = {"json": {}} if method == "POST" else {}
            answer = http.request(method, url, **body)
            assert answer.status_code == 401, f"{method} {url} without a token: {answer.text}"
            assert answer.json()["error"] == "unauthorized"
            bogus = http.request(method, url, headers=auth("sdh_forged"), **body)
            assert bogus.status_code == 401, f"{method} {url} with a forged token"
            for role, permissions in PERMISSIONS.items():
                if check.permission is None or check.permission in permissions:
                    continue
                answer = http.request(method, url, headers=auth(tokens[role]), **body)
                assert answer.status_code == 403, f"{method} {url} as {role}: {answer.text}"
                assert answer.json()["error"] == "forbidden"
                checked += 1
        assert checked >= 15
        for role in ("ingest",):
            refused = http.get("/api/v1/feed", headers=auth(tokens[role]))
            assert refused.status_code in (403, 404, 426)
