"""Files of a session (upload, list, download with Range/ETag) and importing a recording.

Session ids travel as one percent-encoded path segment (``{session_id:sid}``, see routing).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.datastructures import Headers

from supervisor_desk.hub import auth
from supervisor_desk.hub.audio import AudioError, check_audible, decode
from supervisor_desk.hub.errors import ApiError
from supervisor_desk.hub.files import PendingBlob, StoredBlob, TooLargeError, is_file_id
from supervisor_desk.hub.routing import API, Hub
from supervisor_desk.hub.store.interface import Principal
from supervisor_desk.hub.transcribe.jobs import (
    ImportParams,
    TranscriptionQueue,
    new_session_id,
    opening_events,
)
from supervisor_desk.models.wire import (
    CHANNELS,
    FileInfo,
    FileList,
    ImportAnswer,
    SessionSummary,
    Transcription,
    format_timestamp,
)

router = APIRouter(prefix=API)

IMPORT = auth.Authorize("sessions:import")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def voice(request: Request) -> TranscriptionQueue:
    queue: TranscriptionQueue = request.app.state.voice
    return queue


Voice = Annotated[TranscriptionQueue, Depends(voice)]


def _check_name(name: str, field: str) -> str:
    if not 1 <= len(name) <= 200 or _CONTROL.search(name):
        raise ApiError(422, "invalid_request",
                       f"invalid {field}: 1 to 200 characters, no control characters",
                       [{"loc": ["query", field], "field": field,
                         "message": "1 to 200 characters, no control characters",
                         "type": "value_error"}])
    return name


async def _session_exists(service: Hub, session_id: str) -> None:
    if await service.read(service.storage.session_doc, session_id) is None:
        raise ApiError(404, "not_found", f"no session {session_id!r}")


async def _receive(request: Request, service: Hub, queue: TranscriptionQueue) -> StoredBlob:
    """Stream the body into the blob store; nothing is kept unless all of it arrived."""
    limit = queue.settings.max_file_bytes
    too_large = ApiError(413, "payload_too_large",
                         f"a file may be at most {limit} bytes ({limit // (1024 * 1024)} MiB)")
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > limit):
        raise too_large
    pending: PendingBlob = await service.read(queue.store.begin, limit)
    try:
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
            pending.write(chunk)  # buffered: the disk sync happens once, in commit
        if received == 0:
            raise ApiError(422, "empty_file", "the file is empty")
        if length is not None and received != int(length):
            raise ApiError(400, "bad_request", "the body is shorter than its Content-Length")
        return await service.read(pending.commit)
    except TooLargeError:
        raise too_large from None
    except BaseException:  # the client went away, a limit, a fault: leave nothing behind
        pending.abort()
        raise


@router.post("/sessions/{session_id:sid}/files", response_model=FileInfo, status_code=201)
async def upload(
    session_id: str, request: Request,
    principal: Annotated[Principal, Depends(auth.INGEST)], service: Hub, queue: Voice,
    name: Annotated[str, Query()] = "file",
) -> Response:
    _check_name(name, "name")
    await _session_exists(service, session_id)
    blob = await _receive(request, service, queue)
    info, created = await service.read(queue.records.add, session_id, blob, name)
    return JSONResponse(info.model_dump(mode="json"), status_code=201 if created else 200)


@router.get("/sessions/{session_id:sid}/files", response_model=FileList)
async def list_files(
    session_id: str, principal: Annotated[Principal, Depends(auth.READ)], service: Hub,
    queue: Voice,
) -> Response:
    await _session_exists(service, session_id)
    items = await service.read(queue.records.of_session, session_id)
    return JSONResponse(FileList(items=items).model_dump(mode="json"))


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(first, last)`` of a single satisfiable range; None to send the whole file."""
    if header is None:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None or match.group(1) == match.group(2) == "":
        return None  # not one byte range: ignored, as RFC 9110 allows
    first_text, last_text = match.groups()
    if first_text == "":
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            raise _unsatisfiable(size)
        return max(0, size - suffix), size - 1
    first = int(first_text)
    last = int(last_text) if last_text else max(first, size - 1)
    if last < first:
        return None  # syntactically invalid: ignored
    if first >= size:
        raise _unsatisfiable(size)
    return first, min(last, size - 1)


def _unsatisfiable(size: int) -> ApiError:
    return ApiError(416, "range_not_satisfiable",
                    f"the range lies outside the file ({size} bytes)",
                    headers={"Content-Range": f"bytes */{size}"})


def _etag_matches(headers: Headers, etag: str) -> bool:
    value = headers.get("if-none-match")
    if value is None:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in value.split(",")]
    return "*" in tags or etag in tags


@router.get("/sessions/{session_id:sid}/files/{file_id}")
async def download(
    session_id: str, file_id: str, request: Request,
    principal: Annotated[Principal, Depends(auth.READ)], service: Hub, queue: Voice,
) -> Response:
    info = await service.read(queue.records.get, session_id, file_id) if is_file_id(
        file_id) else None
    if info is None:
        await _session_exists(service, session_id)
        raise ApiError(404, "not_found", f"no file {file_id!r} in session {session_id!r}")
    etag = f'"{info.id}"'
    disposition = "inline" if info.mime.startswith(("audio/", "image/")) else "attachment"
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Cache-Control": "private, max-age=31536000, immutable",
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(info.name, safe='')}",
    }
    if _etag_matches(request.headers, etag):
        return Response(status_code=304, headers=headers)
    size = info.size
    span = _byte_range(request.headers.get("range"), size)
    first, last = span if span is not None else (0, size - 1)
    headers["Content-Length"] = str(last - first + 1)
    status = 200
    if span is not None:
        status = 206
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    stream = await service.read(queue.store.open, info.id)

    async def body() -> object:
        try:
            left = last - first + 1
            await service.read(stream.seek, first)
            while left > 0:
                data: bytes = await service.read(stream.read, min(256 * 1024, left))
                if not data:
                    return
                left -= len(data)
                yield data
        finally:
            stream.close()

    return StreamingResponse(body(), status_code=status, media_type=info.mime,  # type: ignore[arg-type]
                             headers=headers)


@router.post("/sessions/import-audio", response_model=ImportAnswer, status_code=202)
async def import_audio(
    request: Request, principal: Annotated[Principal, Depends(IMPORT)], service: Hub,
    queue: Voice,
    agent: Annotated[str, Query()],
    channel: Annotated[str, Query()] = "phone",
    customer: Annotated[str, Query()] = "Customer",
    name: Annotated[str, Query()] = "recording",
    agent_role: Annotated[str, Query()] = "ai",
) -> Response:
    _check_name(agent, "agent")
    _check_name(customer, "customer")
    _check_name(name, "name")
    if channel not in CHANNELS:
        raise ApiError(422, "invalid_request",
                       f"invalid channel: {channel[:50]!r}; one of {', '.join(CHANNELS)}")
    if agent_role not in ("ai", "human"):
        raise ApiError(422, "invalid_request", "invalid agent_role: ai or human")
    blob = await _receive(request, service, queue)
    path = queue.store.path(blob.sha256)
    assert path is not None
    try:
        decoded = await service.read(decode, path)
        await service.read(check_audible, decoded)
    except AudioError as exc:
        used = await service.read(queue.records.is_used, blob.sha256)
        if not used:
            await service.read(queue.store.delete, blob.sha256)
        raise ApiError(exc.status, exc.code, exc.message) from None
    session_id = new_session_id()
    started = datetime.now(UTC) - timedelta(milliseconds=decoded.duration_ms)
    params = ImportParams(
        session_id=session_id, file_id=blob.sha256, file_name=name, mime=blob.mime,
        size=blob.size, agent=agent, agent_role=agent_role, customer=customer,
        channel=channel, started_at=format_timestamp(started),
        duration_ms=decoded.duration_ms, layout=decoded.layout,
    )
    del decoded  # the worker decodes again; do not hold the samples meanwhile
    await service.read(queue.jobs.create, params)
    await service.ingest(opening_events(params))
    info, _ = await service.read(queue.records.add, session_id, blob, name)
    queue.schedule(session_id)
    doc = await service.read(service.storage.session_doc, session_id)
    assert doc is not None
    found = await service.read(queue.jobs.get, session_id)
    assert found is not None
    answer = ImportAnswer(session=SessionSummary.model_validate(json.loads(doc)), file=info,
                          transcription=found[0])
    return JSONResponse(answer.model_dump(mode="json"), status_code=202)


async def _job(service: Hub, queue: TranscriptionQueue, session_id: str) -> Transcription:
    found = await service.read(queue.jobs.get, session_id)
    if found is None:
        await _session_exists(service, session_id)
        raise ApiError(404, "not_found", f"session {session_id!r} was not imported from audio")
    return queue.with_live_progress(found[0])


@router.get("/sessions/{session_id:sid}/transcription", response_model=Transcription)
async def transcription(
    session_id: str, principal: Annotated[Principal, Depends(auth.READ)], service: Hub,
    queue: Voice,
) -> Response:
    job = await _job(service, queue, session_id)
    return JSONResponse(job.model_dump(mode="json"))


@router.delete("/sessions/{session_id:sid}/transcription", response_model=Transcription)
async def cancel_transcription(
    session_id: str, principal: Annotated[Principal, Depends(IMPORT)], service: Hub,
    queue: Voice,
) -> Response:
    job = await _job(service, queue, session_id)
    if job.state in ("done", "failed", "cancelled") or not await queue.cancel(session_id):
        raise ApiError(409, "transcription_finished",
                       f"the transcription has already finished ({job.state})")
    job = await _job(service, queue, session_id)
    return JSONResponse(job.model_dump(mode="json"))
