"""Validation of an ingest body before it reaches the writer: all or nothing, every fault named."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from supervisor_desk.hub.errors import ApiError, clean_details
from supervisor_desk.hub.routing import RESERVED_SESSION_IDS
from supervisor_desk.hub.store import reducer
from supervisor_desk.hub.store.interface import ParsedEvent
from supervisor_desk.models.wire import (
    EVENT_TYPES,
    Id,
    IngestEvent,
    LogAppendedData,
    MessageBody,
    MessageUpdatedData,
    SessionEndedData,
    SessionStartedData,
    SessionUpdatedData,
    Timestamp,
    parse_event_data,
)

MAX_BODY_BYTES = 1024 * 1024
MAX_EVENTS = 1000


class _Typed(BaseModel):
    """The envelope of one event; each subclass fixes ``type`` and the model of ``data``.

    Together they are the discriminated union the OpenAPI document shows for ``POST /ingest``.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)
    id: Id
    session_id: Id
    at: Timestamp


class SessionStartedEvent(_Typed):
    type: Literal["session.started"]
    data: SessionStartedData


class SessionUpdatedEvent(_Typed):
    type: Literal["session.updated"]
    data: SessionUpdatedData


class MessageCreatedEvent(_Typed):
    type: Literal["message.created"]
    data: MessageBody


class MessageUpdatedEvent(_Typed):
    type: Literal["message.updated"]
    data: MessageUpdatedData


class SessionEndedEvent(_Typed):
    type: Literal["session.ended"]
    data: SessionEndedData


class LogAppendedEvent(_Typed):
    type: Literal["log.appended"]
    data: LogAppendedData


_AnyTyped = Annotated[
    SessionStartedEvent | SessionUpdatedEvent | MessageCreatedEvent | MessageUpdatedEvent
    | SessionEndedEvent | LogAppendedEvent,
    Field(discriminator="type"),
]


class _TypedBatch(BaseModel):
    model_config = ConfigDict(extra="ignore")
    events: list[_AnyTyped] = Field(min_length=1, max_length=MAX_EVENTS)


_FAST: TypeAdapter[_TypedBatch] = TypeAdapter(_TypedBatch)


def batch_json_schema(ref_template: str) -> dict[str, Any]:
    """JSON schemas of the ingest body, by name: ``IngestBatch`` and each event model."""
    schema = _TypedBatch.model_json_schema(ref_template=ref_template)
    definitions: dict[str, Any] = schema.pop("$defs", {})
    schema["title"] = "IngestBatch"
    definitions["IngestBatch"] = schema
    return definitions


def parse_batch(body: bytes) -> list[ParsedEvent]:
    """Parse and validate a whole batch; raises :class:`ApiError` 422 listing each bad event.
    The batch comes back prepared (:func:`reducer.prepare`): on the validating thread, not
    the writer's."""
    events = _parse(body)
    _refuse_reserved_ids(events)
    return reducer.prepare(events)


def _refuse_reserved_ids(events: list[ParsedEvent]) -> None:
    """A session id that names a route under ``/sessions/`` could never be read back: 422."""
    details = [
        {"index": index, "event_id": event.id, "loc": ["events", index, "session_id"],
         "field": f"events.{index}.session_id",
         "message": f"the session id {event.session_id!r} is reserved (it names a route: "
                    f"{', '.join(sorted(RESERVED_SESSION_IDS))})",
         "type": "reserved_id"}
        for index, (event, _) in enumerate(events) if event.session_id in RESERVED_SESSION_IDS
    ]
    if details:
        raise ApiError(422, "invalid_event",
                       f"event {details[0]['index']} is invalid: {details[0]['message']} "
                       "(nothing in this batch was stored)", details[:100])


def _parse(body: bytes) -> list[ParsedEvent]:
    """Parse and validate a whole batch.

    The common case (a valid batch) is parsed and validated in one pass inside pydantic-core,
    straight from the JSON bytes; only a batch that fails there takes the slower path below,
    which names every fault the way the protocol documents.
    """
    try:
        typed = _FAST.validate_json(body)
        out: list[ParsedEvent] = []
        for item in typed.events:
            data = item.data
            if type(data) is LogAppendedData:
                data.typed_entries()
            # The typed event is the envelope: no IngestEvent copy per event (hot path).
            out.append((item, data))
        return out
    except (ValidationError, ValueError, RecursionError):
        return _parse_batch_slowly(body)


def _parse_batch_slowly(body: bytes) -> list[ParsedEvent]:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ApiError(422, "invalid_json", f"the body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
        raise ApiError(
            422,
            "invalid_request",
            'the body must be an object {"events": [...]}',
            [{"loc": ["events"], "field": "events", "message": "a list of events is required",
              "type": "missing"}],
        )
    raw_events: list[Any] = payload["events"]
    if not raw_events:
        raise ApiError(422, "invalid_request", "the batch holds no events", [
            {"loc": ["events"], "field": "events", "message": "1 to 1000 events",
             "type": "too_short"}
        ])
    if len(raw_events) > MAX_EVENTS:
        raise ApiError(
            422,
            "too_many_events",
            f"a batch holds at most {MAX_EVENTS} events, this one {len(raw_events)}",
            [{"loc": ["events"], "field": "events", "message": f"at most {MAX_EVENTS} events",
              "type": "too_long"}],
        )
    parsed: list[ParsedEvent] = []
    details: list[dict[str, Any]] = []
    for index, raw in enumerate(raw_events):
        prefix: list[str | int] = ["events", index]
        event_id = raw.get("id") if isinstance(raw, dict) else None
        try:
            if isinstance(raw, dict) and raw.get("type") not in EVENT_TYPES and "type" in raw:
                raise ApiError(422, "unknown_event_type", "")
            event = IngestEvent.model_validate(raw)
            data = parse_event_data(event.type, event.data)
        except ApiError:
            details.append(
                {"index": index, "event_id": _safe_id(event_id), "loc": [*prefix, "type"],
                 "field": f"events.{index}.type",
                 "message": f"unknown event type {str(raw.get('type'))[:100]!r}; "
                 f"expected one of {', '.join(EVENT_TYPES)}",
                 "type": "unknown_event_type"}
            )
            continue
        except ValidationError as exc:
            inner = prefix if _is_envelope_error(exc) else [*prefix, "data"]
            for item in clean_details(exc.errors()):
                loc = [*inner, *item["loc"]]
                details.append(
                    {"index": index, "event_id": _safe_id(event_id), "loc": loc,
                     "field": ".".join(str(p) for p in loc), "message": item["message"],
                     "type": item["type"]}
                )
            continue
        parsed.append((event, data))
        if len(details) >= 100:
            break
    if details:
        first = details[0]
        raise ApiError(
            422,
            "invalid_event",
            f"event {first['index']} is invalid: {first['field']}: {first['message']} "
            "(nothing in this batch was stored)",
            details[:100],
        )
    return parsed


def _is_envelope_error(exc: ValidationError) -> bool:
    return exc.title == IngestEvent.__name__


def _safe_id(value: Any) -> str | None:
    return value[:200] if isinstance(value, str) else None
