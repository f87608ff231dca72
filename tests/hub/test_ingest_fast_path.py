"""Ingest's fast path in front of FastAPI, and commits that wait for batches being validated."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from supervisor_desk.hub import service as service_module
from supervisor_desk.hub.ingest import parse_batch
from supervisor_desk.hub.service import HubService
from supervisor_desk.hub.store.sqlite import SqliteStore
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


def test_a_commit_waits_for_batches_still_being_validated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches whose validation ends while a commit is about to start share that commit."""
    monkeypatch.setattr(service_module, "_SIBLING_WAIT", 60.0)  # the wait ends on arrival
    storage = SqliteStore(tmp_path / "siblings.db")
    service = HubService(storage)
    groups: list[int] = []
    real = storage.ingest_many

    def counted(batches: Any) -> Any:
        groups.append(len(batches))
        return real(batches)

    monkeypatch.setattr(storage, "ingest_many", counted)

    def parsed(sid: str) -> list[Any]:
        return parse_batch(json.dumps({"events": [started(sid)]}).encode())

    async def post() -> list[Any]:
        with service.incoming(), service.incoming():
            first = asyncio.ensure_future(service.ingest(parsed("a")))
            await asyncio.sleep(0)  # the commit starts, and waits for the two validating
            second = asyncio.ensure_future(service.ingest(parsed("b")))
            await asyncio.sleep(0)
        # The third validation failed (left without a batch): nothing more to wait for.
        return await asyncio.gather(first, second)

    try:
        outcomes = asyncio.run(post())
        assert [outcome.last_seq for outcome in outcomes] == [1, 2]
        assert groups == [2]
        groups.clear()
        # A lone platform: nobody is validating, its batch is committed at once.
        alone = asyncio.run(service.ingest(parsed("c")))
        assert alone.last_seq == 3 and groups == [1]
    finally:
        service.close()
