"""``POST /ingest``: platforms push batches of session events.

The route is declared to FastAPI (the OpenAPI document, the role check every route carries),
but the hub serves it through :class:`IngestFastPath`, a plain ASGI handler in front of the
app: at 100 events a request, FastAPI's middleware, routing and dependency solving and a
thread hand-off for the token lookup were about a fifth of the hub's CPU per event. The fast
path looks the token up, validates the body and checks a shared rate limit in one job on a
reader thread, then hands the batch to the writer; its answers (and every error, rendered by
the app's own exception handlers) are the route's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response
from starlette.requests import ClientDisconnect
from starlette.types import Message, Receive, Scope, Send

from supervisor_desk.hub import auth
from supervisor_desk.hub.errors import ApiError
from supervisor_desk.hub.ingest import MAX_BODY_BYTES, parse_batch
from supervisor_desk.hub.ratelimit import IngestRateLimit
from supervisor_desk.hub.routing import API, Hub
from supervisor_desk.hub.service import HubService
from supervisor_desk.hub.store.interface import (
    EventIdConflictError,
    HubStore,
    IngestRejectedError,
    ParsedEvent,
    Principal,
)
from supervisor_desk.models.wire import IngestResult

router = APIRouter(prefix=API)

PATH = f"{API}/ingest"
PERMISSION = "events:ingest"
_TOO_LARGE = f"the body may be at most {MAX_BODY_BYTES} bytes"
_JSON_HEADERS = [(b"content-type", b"application/json")]


@router.post(
    "/ingest",
    response_model=IngestResult,
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/IngestBatch"}}}}},
)
async def ingest(
    request: Request, principal: Annotated[Principal, Depends(auth.INGEST)], service: Hub
) -> Response:
    # Served by IngestFastPath in the hub; this is the same request through FastAPI.
    body = await _read_body(request.stream(), request.headers.get("content-length"))
    events = await service.read(_parse_checked, service.ingest_limit, principal, body)
    return Response(await _stored(service, principal, events), media_type="application/json")


class IngestFastPath:
    """ASGI: ``POST /api/v1/ingest`` answered here, every other request passed to ``app``."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        try:
            answer = await self._answer(scope, receive)
        except Exception as exc:  # rendered by the app's handler for its type
            await self._render(exc, scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [*_JSON_HEADERS, (b"content-length", b"%d" % len(answer))]})
        await send({"type": "http.response.body", "body": answer})

    async def _answer(self, scope: Scope, receive: Receive) -> bytes:
        service: HubService = self.app.state.hub
        authorization = length = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"content-length":
                length = value.decode("latin-1")
        token = auth.bearer_token({"authorization": authorization} if authorization else {})
        if token is None:
            raise ApiError(401, "unauthorized",
                           "a bearer token is required (Authorization header)")
        try:
            body = await _read_body(_received(receive), length)
        except ApiError:
            # Too large: a caller without the right hears 401/403 first, as on every route.
            await service.read(_admitted, service.storage, token)
            raise
        principal, events = await service.read(
            _admitted_batch, service.storage, service.ingest_limit, token, body)
        return await _stored(service, principal, events)

    async def _render(self, exc: Exception, scope: Scope, receive: Receive, send: Send) -> None:
        handlers: dict[Any, Any] = self.app.exception_handlers
        handler = next((handlers[kind] for kind in type(exc).__mro__ if kind in handlers), None)
        if handler is None:  # pragma: no cover - errors.install registers one for Exception
            raise exc
        response = await handler(Request(scope, receive), exc)
        await response(scope, receive, send)


async def _received(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


async def _read_body(chunks: AsyncIterator[bytes], length: str | None) -> bytes:
    """The request body, at most ``MAX_BODY_BYTES`` (413 beyond, before reading if declared)."""
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
        raise ApiError(413, "payload_too_large", _TOO_LARGE)
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiError(413, "payload_too_large", _TOO_LARGE)
        parts.append(chunk)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _admitted(storage: HubStore, token: str) -> Principal:
    """On a reader thread: the token's principal if it may ingest (401/403 otherwise)."""
    return auth.admitted(storage.principal(token), PERMISSION)


def _admitted_batch(storage: HubStore, limit: IngestRateLimit, token: str,
                    body: bytes) -> tuple[Principal, list[ParsedEvent]]:
    """On a reader thread, one hand-off for all three: the token, the batch, a shared limit."""
    principal = _admitted(storage, token)
    return principal, _parse_checked(limit, principal, body)


def _parse_checked(limit: IngestRateLimit, principal: Principal,
                   body: bytes) -> list[ParsedEvent]:
    """The validated batch (422 otherwise); a limit the replicas share is counted here, in
    the database, off the event loop (429 when over)."""
    events = parse_batch(body)
    if limit.shared:
        limit.check(principal.token_hash, len(events))
    return events


async def _stored(service: HubService, principal: Principal,
                  events: list[ParsedEvent]) -> bytes:
    """Store the batch (durable when this returns); the 200 answer's JSON."""
    limit = service.ingest_limit
    if not limit.shared:  # counted in memory, on the loop
        limit.check(principal.token_hash, len(events))
    try:
        outcome = await service.ingest(events)
    except EventIdConflictError as exc:
        raise ApiError(
            409, "event_id_conflict",
            f"{exc.details[0]['message']} (nothing in this batch was stored)", exc.details,
        ) from None
    except IngestRejectedError as exc:
        first = exc.details[0]
        raise ApiError(
            422, "invalid_event",
            f"event {first['index']} was refused: {first['message']} "
            "(nothing in this batch was stored)",
            exc.details,
        ) from None
    return (b'{"accepted":%d,"duplicates":%d,"last_seq":%d}'
            % (outcome.accepted, outcome.duplicates, outcome.last_seq))
