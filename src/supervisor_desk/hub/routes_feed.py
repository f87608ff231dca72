"""The live path: ``GET /live`` (the snapshot) and ``WS /feed`` (every event after it, in order)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, WebSocket
from fastapi.responses import JSONResponse, Response

from supervisor_desk.hub import auth
from supervisor_desk.hub.errors import ApiError, error_body
from supervisor_desk.hub.feed_socket import stream_feed
from supervisor_desk.hub.jsontext import dumps
from supervisor_desk.hub.routing import API, Hub, hub_service, raw_json
from supervisor_desk.hub.service import HubService
from supervisor_desk.hub.store.interface import Principal
from supervisor_desk.models.wire import LiveSnapshot

router = APIRouter(prefix=API)


@router.get("/live", response_model=LiveSnapshot)
async def live(principal: Annotated[Principal, Depends(auth.READ)], service: Hub) -> Response:
    seq, docs = await service.read(service.storage.live_snapshot)
    return raw_json(
        f'{{"epoch":{dumps(service.storage.epoch)},"seq":{seq},"sessions":[{",".join(docs)}]}}'
    )


@router.websocket("/feed")
async def feed(websocket: WebSocket) -> None:
    await run_feed(hub_service(websocket), websocket)


def _int_param(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit() or len(value) > 18:
        raise ValueError(value)
    return int(value)


async def run_feed(service: HubService, websocket: WebSocket) -> None:
    try:
        token = auth.bearer_token(websocket.headers) or ""
        await auth.authenticate(service, websocket.headers, "sessions:read")
        after = _int_param(websocket.query_params.get("after"))
    except ApiError as exc:
        await websocket.send_denial_response(
            JSONResponse(error_body(exc.code, exc.message), status_code=exc.status)
        )
        return
    except ValueError:
        await websocket.send_denial_response(
            JSONResponse(error_body("invalid_request", "after must be a non-negative integer"),
                         status_code=422)
        )
        return
    epoch = websocket.query_params.get("epoch") or None
    # Streaming, its byte/frame limits and the 4008 close live with the feed (feed_socket.py).
    await stream_feed(service, websocket, token=token, after=after, epoch=epoch)
