"""Session routes: list, metrics, detail, logs, hand-over, export, agents and operators."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Query
from fastapi.responses import Response

from supervisor_desk.hub import auth
from supervisor_desk.hub.errors import ApiError
from supervisor_desk.hub.service import HubService
from supervisor_desk.hub.storage import Principal, dumps
from supervisor_desk.models.wire import LogsAnswer, NamedItems, SessionDetail

API = "/api/v1"

SessionId = Annotated[str, Path(min_length=1, max_length=200)]


def raw_json(text: str, status_code: int = 200) -> Response:
    return Response(content=text.encode("utf-8"), status_code=status_code,
                    media_type="application/json")


def install(app: FastAPI, service: HubService) -> None:
    router = APIRouter(prefix=API)
    storage = service.storage

    @router.get("/sessions/{session_id}", response_model=SessionDetail)
    async def session_detail(
        session_id: SessionId, principal: Annotated[Principal, Depends(auth.READ)]
    ) -> Response:
        found = await service.read(storage.session_detail, session_id)
        if found is None:
            raise ApiError(404, "not_found", f"no session {session_id!r}")
        doc, messages = found
        return raw_json(f'{{"session":{doc},"messages":[{",".join(messages)}]}}')

    @router.get("/sessions/{session_id}/logs", response_model=LogsAnswer)
    async def session_logs(
        session_id: SessionId,
        principal: Annotated[Principal, Depends(auth.LOGS)],
        kind: Annotated[Literal["system", "trace"], Query()] = "system",
    ) -> Response:
        entries = await service.read(storage.session_logs, session_id, kind)
        if entries is None:
            raise ApiError(404, "not_found", f"no session {session_id!r}")
        return raw_json(f'{{"kind":{dumps(kind)},"entries":[{",".join(entries)}]}}')

    @router.get("/agents", response_model=NamedItems)
    async def agents(principal: Annotated[Principal, Depends(auth.READ)]) -> Response:
        rows = await service.read(storage.agents)
        return raw_json(dumps({"items": [{"id": i, "name": n} for i, n in rows]}))

    @router.get("/operators", response_model=NamedItems)
    async def operators(principal: Annotated[Principal, Depends(auth.READ)]) -> Response:
        rows = await service.read(storage.operators)
        return raw_json(dumps({"items": [{"id": i, "name": n} for i, n in rows]}))

    app.include_router(router)
