"""Analytics route: the charts' figures over a time range, for the History filters.

The figures are defined once in ``models/analytics.py`` (offline review computes them there
over an exported file); the hub groups and ranks them in SQL (``hub/store/sqlite/analytics.py``,
``hub/store/postgres/analytics.py``) and turns the grouped counts into the report with the same
function.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from supervisor_desk.hub import auth
from supervisor_desk.hub.errors import ApiError
from supervisor_desk.hub.routing import API, Hub, raw_json
from supervisor_desk.hub.store.interface import HubStore, Principal
from supervisor_desk.models.analytics import (
    DEFAULT_SLA_SECONDS,
    AnalyticsError,
    AnalyticsReport,
    TimeRange,
    default_bucket_ms,
)
from supervisor_desk.models.filters import FilterError, SessionFilter, ceil_ms, to_ms
from supervisor_desk.models.wire import parse_timestamp

_OWN_PARAMS = frozenset({"start", "end", "bucket_seconds", "sla_seconds"})
_DOC = (
    "Every chart of the Analytics page over `[start, end)` cut into buckets of "
    "`bucket_seconds` (default: 24 to 120 buckets), for the sessions matching the History "
    "filters (same parameters as `GET /sessions`). Definitions: docs/protocol.md, Analytics."
)

router = APIRouter(prefix=API)


def _instant(name: str, text: str) -> int:
    try:
        return ceil_ms(parse_timestamp(text.replace(" ", "+")))
    except ValueError:
        raise ApiError(422, "invalid_request", f"{name} must be an RFC 3339 timestamp with a "
                       f"time zone, got {text[:50]!r}",
                       [{"loc": ["query", name], "field": name, "type": "value_error",
                         "message": "not an RFC 3339 timestamp"}]) from None


def _report(
    storage: HubStore, flt: SessionFilter, time_range: TimeRange, now_ms: int, sla: int
) -> str:
    report = storage.analytics_report(flt, time_range, now_ms, sla)
    return report.model_dump_json()


@router.get("/analytics", response_model=AnalyticsReport, description=_DOC)
async def analytics(
    request: Request,
    principal: Annotated[Principal, Depends(auth.READ)],
    service: Hub,
    start: Annotated[str, Query(max_length=50)],
    end: Annotated[str, Query(max_length=50)],
    bucket_seconds: Annotated[int | None, Query(ge=60, le=366 * 86400)] = None,
    sla_seconds: Annotated[int, Query(ge=1, le=86400)] = DEFAULT_SLA_SECONDS,
) -> Response:
    pairs = [(k, v) for k, v in request.query_params.multi_items() if k not in _OWN_PARAMS]
    try:
        flt = SessionFilter.from_query(pairs)
    except FilterError as exc:
        raise ApiError(422, "invalid_filter", str(exc), exc.details) from None
    start_ms, end_ms = _instant("start", start), _instant("end", end)
    bucket_ms = bucket_seconds * 1000 if bucket_seconds else default_bucket_ms(end_ms - start_ms)
    try:
        time_range = TimeRange(start_ms, end_ms, bucket_ms).validate()
    except AnalyticsError as exc:
        raise ApiError(422, "invalid_request", str(exc), [
            {"loc": ["query", "end"], "field": "end", "type": "value_error",
             "message": str(exc)}]) from None
    now_ms = to_ms(datetime.now(UTC))
    return raw_json(await service.read(
        _report, service.storage, flt, time_range, now_ms, sla_seconds
    ))
