"""Validation of an ingest body before it reaches the writer: all or nothing, every fault named."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from supervisor_desk.hub.errors import ApiError, clean_details
from supervisor_desk.models.wire import (
    EVENT_TYPES,
    EventData,
    IngestEvent,
    parse_event_data,
)

MAX_BODY_BYTES = 1024 * 1024
MAX_EVENTS = 1000


def parse_batch(body: bytes) -> list[tuple[IngestEvent, EventData]]:
    """Parse and validate a whole batch; raises :class:`ApiError` 422 listing each bad event."""
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
    parsed: list[tuple[IngestEvent, EventData]] = []
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
