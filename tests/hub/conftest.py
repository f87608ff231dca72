"""Hub test helpers: a sync HTTP client per role against the real hub of ``running_hub``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from supervisor_desk.hub.embedded import EmbeddedHub


class Api:
    """Thin wrapper: ``api.get("/sessions", role="viewer", params=...)`` -> httpx.Response."""

    def __init__(self, hub: EmbeddedHub) -> None:
        self.hub = hub
        self.client = httpx.Client(base_url=f"{hub.url}/api/v1", timeout=30.0)
        self.tokens: dict[str, str] = {"ingest": hub.ingest_token}  # type: ignore[attr-defined]

    def token(self, role: str) -> str:
        if role not in self.tokens:
            self.tokens[role] = self.hub.create_token(f"test-{role}", role)
        return self.tokens[role]

    def headers(self, role: str | None) -> dict[str, str]:
        return {} if role is None else {"Authorization": f"Bearer {self.token(role)}"}

    def request(self, method: str, path: str, *, role: str | None = "viewer",
                **kwargs: Any) -> httpx.Response:
        headers = {**self.headers(role), **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def ingest(self, events: list[dict[str, Any]]) -> httpx.Response:
        return self.post("/ingest", role="ingest", json={"events": events})

    def sessions(self, *pairs: tuple[str, str], **params: Any) -> dict[str, Any]:
        answer = self.get("/sessions", params=[*pairs, *params.items()])
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def ids(self, *pairs: tuple[str, str], **params: Any) -> list[str]:
        return [s["id"] for s in self.sessions(*pairs, **params)["items"]]


@pytest.fixture
def api(running_hub: EmbeddedHub) -> Iterator[Api]:
    client = Api(running_hub)
    try:
        yield client
    finally:
        client.client.close()


def assert_error(answer: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The answer has ``status`` and the one error shape; returns the body."""
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert set(body) == {"error", "message", "details"}, body
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["details"], list)
    if code is not None:
        assert body["error"] == code, body
    return body
