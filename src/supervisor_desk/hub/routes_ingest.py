"""``POST /ingest``: platforms push batches of session events."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from supervisor_desk.hub import auth
from supervisor_desk.hub.errors import ApiError
from supervisor_desk.hub.ingest import MAX_BODY_BYTES, parse_batch
from supervisor_desk.hub.routing import API, Hub
from supervisor_desk.hub.store.interface import EventIdConflictError, IngestRejectedError, Principal
from supervisor_desk.models.wire import IngestResult

router = APIRouter(prefix=API)


@router.post(
    "/ingest",
    response_model=IngestResult,
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/IngestBatch"}}}}},
)
async def ingest(
    request: Request, principal: Annotated[Principal, Depends(auth.INGEST)], service: Hub
) -> Response:
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
        raise ApiError(413, "payload_too_large",
                       f"the body may be at most {MAX_BODY_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise ApiError(413, "payload_too_large",
                           f"the body may be at most {MAX_BODY_BYTES} bytes")
    # Validation is CPU work: keep it off the loop so the feed keeps flowing meanwhile.
    events = await service.read(parse_batch, bytes(body))
    limit = service.ingest_limit
    if limit.shared:  # counted in the database: not on the event loop
        await service.read(limit.check, principal.token_hash, len(events))
    else:
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
    return JSONResponse(
        {"accepted": outcome.accepted, "duplicates": outcome.duplicates,
         "last_seq": outcome.last_seq}
    )
