"""The live path: ``GET /live`` (the snapshot) and ``WS /feed`` (every event after it, in order)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, WebSocket
from fastapi.responses import JSONResponse, Response
from starlette.websockets import WebSocketDisconnect

from supervisor_desk.hub import auth, revocation
from supervisor_desk.hub.errors import ApiError, error_body
from supervisor_desk.hub.feed import event_frame
from supervisor_desk.hub.routing import API, Hub, hub_service, raw_json
from supervisor_desk.hub.service import HubService
from supervisor_desk.hub.storage import Principal, dumps
from supervisor_desk.models.wire import FEED_CLOSE_RESYNC, FEED_CLOSE_TOO_SLOW, LiveSnapshot

# A client closed for being too slow that still has not read its close frame after this long
# is disconnected outright.
STUCK_ABORT_SECONDS = 60.0

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
    storage = service.storage
    broadcaster = service.broadcaster
    await websocket.accept()
    # A commit is published on the loop just after it is durable; a client holding a seq from
    # a /live read that raced ahead of that hand-off must not be told to resync.
    for _ in range(100):
        if after is None or broadcaster.last_seq >= min(after, storage.last_seq):
            break
        await asyncio.sleep(0.01)
    subscriber, live_from = broadcaster.subscribe()
    closed = asyncio.Event()

    async def watch_disconnect() -> None:
        # The client sends nothing; a receive only ever returns its disconnect.
        with contextlib.suppress(Exception):
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
        closed.set()
        subscriber.wakeup.set()

    async def pump() -> None:
        first = await service.read(storage.first_seq)
        start = live_from if after is None else after
        resumable = (epoch is None or epoch == storage.epoch) and first - 1 <= start <= live_from
        await websocket.send_text(
            json.dumps({"type": "hello", "epoch": storage.epoch, "seq": live_from,
                        "resumed": resumable})
        )
        if not resumable:
            await websocket.close(FEED_CLOSE_RESYNC, "resync: reload /live and reconnect")
            return
        cursor = start
        while cursor < live_from:
            rows = await service.read(storage.events_between, cursor, live_from, 1000)
            if not rows:
                break
            for seq, body in rows:
                await websocket.send_text(event_frame(seq, body))
            cursor = rows[-1][0]
        frames = subscriber.frames
        while True:
            if frames:
                _, frame = frames.popleft()
                await websocket.send_text(frame)
            else:
                subscriber.wakeup.clear()
                await subscriber.wakeup.wait()

    watcher = asyncio.create_task(watch_disconnect())
    pumping = asyncio.create_task(pump())
    stopping = asyncio.create_task(subscriber.stop.wait())
    revoked = asyncio.create_task(revocation.watch_token(service, token))
    try:
        await asyncio.wait(
            {watcher, pumping, stopping, revoked}, return_when=asyncio.FIRST_COMPLETED
        )
        if pumping.done() and not pumping.cancelled():
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
                pumping.result()  # a send to a client that went away
        elif revoked.done() and not revoked.cancelled() and not closed.is_set():
            pumping.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    websocket.close(revocation.CLOSE_CODE, revocation.CLOSE_REASON), 5
                )
        elif stopping.done() and not closed.is_set():
            pumping.cancel()
            code, reason = (
                (FEED_CLOSE_TOO_SLOW, "too slow: resume with after")
                if subscriber.overflowed
                else (1001, "hub shutting down")
            )
            await _close_stuck(websocket, code, reason)
    finally:
        broadcaster.unsubscribe(subscriber)
        for task in (watcher, pumping, stopping, revoked):
            task.cancel()
        for task in (watcher, pumping, stopping, revoked):
            with contextlib.suppress(BaseException):
                await task


async def _close_stuck(websocket: WebSocket, code: int, reason: str) -> None:
    """Close a feed socket even when the client has stopped reading.

    uvicorn's websocket protocol makes every ASGI send, the close included, wait until its
    transport is writable, which never happens for a client that does not read. The close frame
    is tiny, so let it past that gate (it queues behind the unsent data and the client sees it
    when it drains), and drop the connection outright if it is still stuck later.
    """
    protocol = _server_protocol(getattr(websocket, "_send", None))
    writable = getattr(protocol, "writable", None)
    if isinstance(writable, asyncio.Event):
        writable.set()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(websocket.close(code, reason), 5)
    transport = getattr(protocol, "transport", None)
    if isinstance(transport, asyncio.WriteTransport):

        def abort_if_stuck() -> None:
            if transport.get_write_buffer_size() > 0:
                transport.abort()

        asyncio.get_running_loop().call_later(STUCK_ABORT_SECONDS, abort_if_stuck)


def _server_protocol(send: Any, depth: int = 4) -> Any:
    """The server's protocol object behind an ASGI ``send`` (Starlette wraps it in closures)."""
    owner = getattr(send, "__self__", None)
    if owner is not None and hasattr(owner, "writable"):
        return owner
    if depth == 0:
        return None
    for cell in getattr(send, "__closure__", None) or ():
        with contextlib.suppress(ValueError):
            found = _server_protocol(cell.cell_contents, depth - 1)
            if found is not None:
                return found
    return None
