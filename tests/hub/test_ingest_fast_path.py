"""Ingest's fast path in front of FastAPI: the same answers as the route it stands for."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from tests.hub.conftest import Api, assert_error
from tests.hub.factories import message, started


def _through_fastapi(api: Api, role: str | None, content: bytes,
                     headers: dict[str, str] | None = None) -> httpx.Response:
    """The same request to the FastAPI app itself (the route the OpenAPI document shows)."""
    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=api.hub.server.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            return await client.post("/api/v1/ingest", content=content,
                                     headers={**api.headers(role), **(headers or {})})

    return asyncio.run(post())


def test_the_fastapi_route_answers_as_the_hub_does(api: Api) -> None:
    first = json.dumps({"events": [started("fp1"), message("fp1", "m1")]}).encode()
    second = json.dumps({"events": [started("fp2"), message("fp2", "m1")]}).encode()
    served = api.post("/ingest", role="ingest", content=first)
    routed = _through_fastapi(api, "ingest", second)
    assert served.status_code == routed.status_code == 200
    assert served.headers["content-type"] == routed.headers["content-type"] == "application/json"
    assert served.json() == {"accepted": 2, "duplicates": 0, "last_seq": served.json()["last_seq"]}
    assert routed.json() == {"accepted": 2, "duplicates": 0,
                             "last_seq": served.json()["last_seq"] + 2}
    # A resend is counted, not stored twice, on both.
    assert api.post("/ingest", role="ingest", content=second).json()["duplicates"] == 2
    for role, status in ((None, 401), ("viewer", 403)):
        assert_error(api.post("/ingest", role=role, content=first), status)
        assert_error(_through_fastapi(api, role, first), status)
    bad = b'{"events": [{"id": "x"}]}'
    assert (api.post("/ingest", role="ingest", content=bad).json()
            == _through_fastapi(api, "ingest", bad).json())


@pytest.mark.parametrize(("role", "status"), [(None, 401), ("viewer", 403), ("ingest", 413)])
def test_an_oversize_body_hears_about_its_token_first(api: Api, role: str | None,
                                                      status: int) -> None:
    def chunks():  # no Content-Length: the size shows while reading
        yield b'{"events": [' + b" " * (600 * 1024)
        yield b" " * (600 * 1024) + b"]}"

    assert_error(api.post("/ingest", role=role, content=chunks()), status)
    declared = b" " * (1024 * 1024 + 1)
    assert_error(api.post("/ingest", role=role, content=declared), status)


def test_other_methods_on_the_ingest_path_still_reach_the_app(api: Api) -> None:
    assert_error(api.get("/ingest", role="ingest"), 405, "method_not_allowed")
