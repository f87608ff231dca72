"""Session routes: list, metrics, detail, logs, hand-over, export, agents and operators."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response, StreamingResponse

from supervisor_desk.hub import auth
from supervisor_desk.hub.errors import ApiError
from supervisor_desk.hub.jsontext import dumps
from supervisor_desk.hub.openapi import SORT_VALUES
from supervisor_desk.hub.routing import API, Hub, raw_json
from supervisor_desk.hub.service import HubService
from supervisor_desk.hub.store.interface import (
    ExportRow,
    NotFoundError,
    Principal,
    StoreConflict,
)
from supervisor_desk.models.filters import (
    DEFAULT_SORT,
    FilterError,
    SessionFilter,
    SortSpec,
    to_ms,
)
from supervisor_desk.models.wire import (
    EXPORT_FORMAT,
    EXPORT_VERSION,
    ContactUpdate,
    HandoverAnswer,
    HandoverRequest,
    LogsAnswer,
    Metrics,
    NamedItems,
    SessionDetail,
    SessionPage,
    format_timestamp,
)

log = logging.getLogger(__name__)

_NOT_FILTERS = frozenset({"sort", "offset", "limit", "format"})

# ``:sid`` in the routes: one percent-encoded path segment (ids may hold "/", sent as %2F).
SessionId = Annotated[str, Path(min_length=1, max_length=200)]
# Declared so they appear in the OpenAPI document; parsed by SessionFilter.from_query.
_FILTER_DOC = (
    "Filters (AND; repeatable ones OR): q, text, agent*, channel*, status*, responsible, "
    "operator*, team*, user, country, ip, started_after/before, ended_after/before, "
    "last_message_after/before, messages=OP:N, messages_max, has_attachments, live."
)

# CSV export: one row per session with the session table's columns.
CSV_COLUMNS = (
    "status", "session_id", "agent", "channel", "responsible", "operator", "user", "team",
    "started_at", "wait_seconds", "duration_seconds", "last_message_at", "message_count",
    "country", "ip", "ended_at", "end_reason",
)


def _filter_of(request: Request) -> SessionFilter:
    pairs = [(k, v) for k, v in request.query_params.multi_items() if k not in _NOT_FILTERS]
    try:
        return SessionFilter.from_query(pairs)
    except FilterError as exc:
        raise ApiError(422, "invalid_filter", str(exc), exc.details) from None


def _sort_of(text: str | None) -> SortSpec:
    if text not in SORT_VALUES:
        # Exactly the documented enum: no padding, no "+" (the OpenAPI document lists them).
        raise ApiError(422, "invalid_filter", f"sort must be one of {', '.join(SORT_VALUES)}, "
                       f"got {str(text)[:50]!r}", [
                           {"loc": ["query", "sort"], "field": "sort", "type": "enum",
                            "message": "not one of the sort values"}])
    try:
        return SortSpec.parse(text)
    except FilterError as exc:
        raise ApiError(422, "invalid_filter", str(exc), exc.details) from None


def _now_ms() -> int:
    return to_ms(datetime.now(UTC))


def csv_row(doc: dict[str, Any], now_ms: int) -> list[str]:
    def seconds(value: int | None) -> str:
        return "" if value is None else f"{value / 1000:.3f}"

    def ms(key: str) -> int | None:
        value = doc.get(key)
        return to_ms(datetime.fromisoformat(value)) if value else None

    queued, accepted, ended, started = ms("queued_at"), ms("accepted_at"), ms("ended_at"), \
        ms("started_at")
    wait = None if queued is None else (accepted or ended or now_ms) - queued
    duration = (ended or now_ms) - (started or now_ms)
    responsible = doc["responsible"]
    operator = responsible.get("operator") or {}
    user = doc["user"]
    location = doc.get("location") or {}
    return [
        doc["status"], doc["id"], doc["agent"]["name"], doc["channel"], responsible["kind"],
        operator.get("name") or "", user.get("name") or user.get("external_id") or user["id"],
        doc.get("team") or "", doc["started_at"], seconds(wait), seconds(duration),
        doc.get("last_message_at") or "", str(doc["message_count"]),
        location.get("country_code") or "", location.get("ip") or "", doc.get("ended_at") or "",
        doc.get("end_reason") or "",
    ]


def _csv_line(values: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    # A leading = + - @ makes spreadsheets run the cell as a formula; defuse untrusted text.
    writer.writerow(["'" + v if v[:1] in ("=", "+", "-", "@") and not _is_number(v) else v
                     for v in values])
    return buffer.getvalue()


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


router = APIRouter(prefix=API)


@router.get("/sessions", response_model=SessionPage, description=_FILTER_DOC)
async def sessions(
    request: Request,
    principal: Annotated[Principal, Depends(auth.READ)],
    service: Hub,
    sort: Annotated[str, Query(max_length=50)] = DEFAULT_SORT,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    flt = _filter_of(request)
    spec = _sort_of(sort)
    total, docs = await service.read(
        service.storage.session_page, flt, spec, offset, limit, _now_ms()
    )
    return raw_json(
        f'{{"items":[{",".join(docs)}],"total":{total},"offset":{offset},"limit":{limit}}}'
    )


@router.get("/sessions/metrics", response_model=Metrics, description=_FILTER_DOC)
async def metrics(
    request: Request, principal: Annotated[Principal, Depends(auth.READ)], service: Hub
) -> Response:
    flt = _filter_of(request)
    return raw_json(dumps(await service.read(service.storage.metrics, flt, _now_ms())))


@router.get(
    "/sessions/export",
    description="A streamed export file. " + _FILTER_DOC,
    response_class=StreamingResponse,
)
async def export(
    request: Request,
    principal: Annotated[Principal, Depends(auth.EXPORT)],
    service: Hub,
    format: Annotated[Literal["json", "jsonl", "csv"], Query()] = "json",
    sort: Annotated[str, Query(max_length=50)] = DEFAULT_SORT,
) -> StreamingResponse:
    flt = _filter_of(request)
    spec = _sort_of(sort)
    now = datetime.now(UTC)
    header = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": format_timestamp(now),
        "filters": flt.to_dict(),
        "sort": spec.to_query(),
    }
    stamp = now.strftime("%Y%m%d-%H%M%S")
    media = {"json": "application/json", "jsonl": "application/x-ndjson",
             "csv": "text/csv; charset=utf-8"}[format]
    return StreamingResponse(
        _export_stream(service, flt, spec, to_ms(now), format, header),
        media_type=media,
        headers={"Content-Disposition":
                 f'attachment; filename="sessions-{stamp}.{format}"'},
    )


@router.get("/sessions/{session_id:sid}/logs", response_model=LogsAnswer)
async def session_logs(
    session_id: SessionId,
    principal: Annotated[Principal, Depends(auth.LOGS)],
    service: Hub,
    kind: Annotated[Literal["system", "trace"], Query()] = "system",
) -> Response:
    entries = await service.read(service.storage.session_logs, session_id, kind)
    if entries is None:
        raise ApiError(404, "not_found", f"no session {session_id!r}")
    return raw_json(f'{{"kind":{dumps(kind)},"entries":[{",".join(entries)}]}}')


@router.post("/sessions/{session_id:sid}/handover", response_model=HandoverAnswer)
async def handover(
    session_id: SessionId,
    principal: Annotated[Principal, Depends(auth.HANDOVER)],
    service: Hub,
    body: HandoverRequest | None = None,
) -> Response:
    """To the operator named in the body, else the next available one; never the caller."""
    by = auth.user_ref(principal)
    operator: dict[str, str] | None = None
    wanted = body.operator_id if body is not None else None
    if wanted is not None:
        if wanted == by["id"]:
            raise ApiError(
                422, "own_account", "hand the session to an operator, not to your own account"
            )
        known = dict(await service.read(service.storage.operators))
        if wanted not in known:
            raise ApiError(
                422, "unknown_operator", f"no operator {wanted!r}; GET /api/v1/operators lists them"
            )
        operator = {"id": wanted, "name": known[wanted]}
    try:
        doc = await service.write(service.storage.handover, session_id, operator, by)
    except NotFoundError:
        raise ApiError(404, "not_found", f"no session {session_id!r}") from None
    except StoreConflict as exc:
        raise ApiError(409, exc.code, str(exc)) from None
    return raw_json(f'{{"session":{doc}}}')


@router.patch("/sessions/{session_id:sid}/contact", response_model=HandoverAnswer)
async def edit_contact(
    session_id: SessionId,
    body: ContactUpdate,
    principal: Annotated[Principal, Depends(auth.EDIT_CONTACT)],
    service: Hub,
) -> Response:
    """A supervisor corrects the contact fields; the session's system log records who and what."""
    changes = {key: value or "" for key, value in body.model_dump(exclude_unset=True).items()}
    if not changes:
        raise ApiError(422, "invalid_request", "send at least one contact field to change")
    by = auth.user_ref(principal)
    try:
        doc = await service.write(service.storage.update_contact, session_id, changes, by)
    except NotFoundError:
        raise ApiError(404, "not_found", f"no session {session_id!r}") from None
    log.info(
        "audit: %s edited the contact of session %s (%s)",
        by["name"], session_id, ", ".join(sorted(changes)),
    )
    return raw_json(f'{{"session":{doc}}}')


@router.get("/sessions/{session_id:sid}", response_model=SessionDetail)
async def session_detail(
    session_id: SessionId, principal: Annotated[Principal, Depends(auth.READ)], service: Hub
) -> Response:
    found = await service.read(service.storage.session_detail, session_id)
    if found is None:
        raise ApiError(404, "not_found", f"no session {session_id!r}")
    doc, messages = found
    return raw_json(f'{{"session":{doc},"messages":[{",".join(messages)}]}}')


@router.get("/agents", response_model=NamedItems)
async def agents(principal: Annotated[Principal, Depends(auth.READ)], service: Hub) -> Response:
    rows = await service.read(service.storage.agents)
    return raw_json(dumps({"items": [{"id": i, "name": n} for i, n in rows]}))


@router.get("/operators", response_model=NamedItems)
async def operators(
    principal: Annotated[Principal, Depends(auth.READ)], service: Hub
) -> Response:
    rows = await service.read(service.storage.operators)
    return raw_json(dumps({"items": [{"id": i, "name": n} for i, n in rows]}))


async def _export_stream(
    service: HubService,
    flt: SessionFilter,
    spec: SortSpec,
    now_ms: int,
    fmt: str,
    header: dict[str, Any],
) -> AsyncIterator[bytes]:
    """Yield the export in pieces; one chunk of sessions is in memory at a time."""
    chunks: Iterator[list[ExportRow]] = service.storage.export_rows(flt, spec, now_ms)

    first = True

    def next_piece() -> bytes | None:
        # Fetching and formatting both run on a reader thread; the loop only forwards bytes.
        nonlocal first
        chunk = next(chunks, None)
        if chunk is None:
            return None
        parts: list[str] = []
        for doc, messages, system, trace in chunk:
            if fmt == "csv":
                parts.append(_csv_line(csv_row(json.loads(doc), now_ms)))
                continue
            item = (
                f'{{"session":{doc},"messages":[{",".join(messages)}],'
                f'"logs":{{"system":[{",".join(system)}],"trace":[{",".join(trace)}]}}}}'
            )
            if fmt == "jsonl":
                parts.append(item + "\n")
            else:
                parts.append(item if first else "," + item)
                first = False
        return "".join(parts).encode()

    try:
        if fmt == "json":
            yield (dumps(header)[:-1] + ',"sessions":[').encode()
        elif fmt == "jsonl":
            yield (dumps(header) + "\n").encode()
        else:
            yield _csv_line(list(CSV_COLUMNS)).encode()
        while (piece := await service.read(next_piece)) is not None:
            yield piece
        if fmt == "json":
            yield b"]}\n"
    finally:

        def close() -> None:
            with contextlib.suppress(Exception):
                chunks.close()  # type: ignore[attr-defined]

        try:
            await service.read(close)
        except BaseException:
            close()  # cancelled while closing: finish here rather than leak the connection
            raise
