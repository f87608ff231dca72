"""Analytics over time, defined once: the hub, the Analytics page and offline review use this.

The input is one :class:`SessionFacts` per session (the few columns the charts need; the hub
reads them from an index, offline review takes them from each :class:`SessionSummary`), a
time range ``[start_ms, end_ms)`` cut into buckets of ``bucket_ms``, *now*, and the SLA in
seconds. :func:`analytics_report` turns them into an :class:`AnalyticsReport`; both sides call
it, so a chart means the same thing everywhere. No Qt here.

Definitions (all instants in ms since the epoch; percentiles are nearest-rank):
- *started*: sessions whose ``started_at`` falls in a bucket, stacked by channel.
- *live* / *queued*: sessions live (started, not ended) / waiting (queued, not yet accepted
  nor ended) at the end of each bucket (or *now* for the bucket holding it).
- *wait*: ``queued_at`` to ``accepted_at`` (or ``ended_at``, or *now* while still waiting) of
  sessions that queued in a bucket; p50, p90 and max in seconds.
- *within SLA*: of the sessions that queued in a bucket and whose wait is settled (accepted,
  ended, or already waiting longer than the SLA), the share accepted within the SLA.
- *outcomes* / *end reasons*: sessions that ended in a bucket, by status / end reason.
- *hand-over*: of the sessions started in the range, the share a human took over
  (``responsible.kind == "human"``), per agent and per team.
- *duration per agent*: ``started_at`` to ``ended_at`` of sessions started in the range that
  ended; count, p50, p90, max.
- *messages per session*: sessions started in the range, by message count bins.
- *operators*: sessions started in the range an operator was responsible for, those active
  now (regardless of range), and the average handle time (accepted, or started, to ended).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict

from supervisor_desk.models.filters import to_ms
from supervisor_desk.models.wire import CHANNELS, END_REASONS, END_STATUSES, SessionSummary

# The preference the alert rules will feed: answered within this many seconds counts as
# "within SLA" until a rule defines the wait threshold.
DEFAULT_SLA_SECONDS = 60
MAX_BUCKETS = 2000
MIN_BUCKET_MS = 60_000

RangeName = Literal["hour", "today", "7d", "30d", "custom"]
RANGE_NAMES: tuple[str, ...] = get_args(RangeName)
RANGE_LABELS: dict[str, str] = {
    "hour": "Last hour", "today": "Today", "7d": "Last 7 days", "30d": "Last 30 days",
    "custom": "Custom…",
}
# Upper bounds of the message-count bins (inclusive); the last bin is open.
MESSAGE_BINS: tuple[int, ...] = (0, 5, 10, 20, 50)
_MINUTE = 60_000
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR


class AnalyticsError(ValueError):
    """A range or bucket size the charts cannot use (the hub answers it as 422)."""


@dataclass(frozen=True, slots=True)
class SessionFacts:
    """What the charts read of one session."""

    id: str
    channel: str
    status: str
    end_reason: str | None
    agent_id: str
    agent_name: str
    team: str | None
    responsible_kind: str
    operator_id: str | None
    operator_name: str | None
    started_ms: int
    queued_ms: int | None
    accepted_ms: int | None
    ended_ms: int | None
    message_count: int

    @classmethod
    def of(cls, s: SessionSummary) -> SessionFacts:
        operator = s.responsible.operator
        return cls(
            id=s.id, channel=s.channel, status=s.status, end_reason=s.end_reason,
            agent_id=s.agent.id, agent_name=s.agent.name, team=s.team,
            responsible_kind=s.responsible.kind,
            operator_id=operator.id if operator else None,
            operator_name=operator.name if operator else None,
            started_ms=to_ms(s.started_at),
            queued_ms=to_ms(s.queued_at) if s.queued_at else None,
            accepted_ms=to_ms(s.accepted_at) if s.accepted_at else None,
            ended_ms=to_ms(s.ended_at) if s.ended_at else None,
            message_count=s.message_count,
        )

    def overlaps(self, start_ms: int, end_ms: int) -> bool:
        """Whether the session lived at some instant of ``[start_ms, end_ms)``."""
        return self.started_ms < end_ms and (self.ended_ms is None or self.ended_ms >= start_ms)


# --------------------------------------------------------------------------------------------
# The report (the hub's JSON answer; the desktop parses it back)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class RateRow(_Model):
    key: str
    name: str
    total: int
    handed_over: int

    @property
    def rate(self) -> float:
        return self.handed_over / self.total if self.total else 0.0


class DistributionRow(_Model):
    key: str
    name: str
    count: int
    p50_seconds: float
    p90_seconds: float
    max_seconds: float


class OperatorRow(_Model):
    id: str
    name: str
    handled: int
    active_now: int
    average_handle_seconds: float | None


class CountBin(_Model):
    label: str
    count: int


class AnalyticsReport(_Model):
    start_ms: int
    end_ms: int
    bucket_ms: int
    now_ms: int
    sla_seconds: int
    sessions: int
    started_by_channel: dict[str, list[int]]
    live: list[int]
    queued: list[int]
    wait_p50_seconds: list[float | None]
    wait_p90_seconds: list[float | None]
    wait_max_seconds: list[float | None]
    within_sla: list[float | None]
    outcomes: dict[str, list[int]]
    end_reasons: dict[str, list[int]]
    handover_by_agent: list[RateRow]
    handover_by_team: list[RateRow]
    duration_by_agent: list[DistributionRow]
    messages_per_session: list[CountBin]
    operators: list[OperatorRow]

    @property
    def bucket_starts(self) -> list[int]:
        return [self.start_ms + i * self.bucket_ms for i in range(len(self.live))]


# --------------------------------------------------------------------------------------------
# Ranges


@dataclass(frozen=True, slots=True)
class TimeRange:
    start_ms: int
    end_ms: int
    bucket_ms: int

    @property
    def buckets(self) -> int:
        return -(-(self.end_ms - self.start_ms) // self.bucket_ms)

    def validate(self) -> TimeRange:
        if self.end_ms <= self.start_ms:
            raise AnalyticsError("the range must end after it starts")
        if self.bucket_ms < MIN_BUCKET_MS:
            raise AnalyticsError("buckets are at least one minute")
        if self.buckets > MAX_BUCKETS:
            raise AnalyticsError(
                f"at most {MAX_BUCKETS} buckets; use a larger bucket or a shorter range"
            )
        return self


def default_bucket_ms(span_ms: int) -> int:
    """A bucket size giving between ~24 and ~120 bars for the span."""
    for size in (_MINUTE, 5 * _MINUTE, 15 * _MINUTE, _HOUR, 6 * _HOUR, _DAY):
        if span_ms // size <= 120:
            return size
    return _DAY


def named_range(name: str, now: datetime, tz: timedelta | None = None) -> TimeRange:
    """The range a preset means at ``now``; "today" starts at local midnight (``tz`` offset)."""
    now_ms = to_ms(now)
    match name:
        case "hour":
            start, size = now_ms - _HOUR, _MINUTE
        case "today":
            offset = tz or timedelta()
            local = now.astimezone(UTC) + offset
            midnight = local.replace(hour=0, minute=0, second=0, microsecond=0) - offset
            start, size = to_ms(midnight), 15 * _MINUTE
        case "7d":
            start, size = now_ms - 7 * _DAY, _HOUR
        case "30d":
            start, size = now_ms - 30 * _DAY, 6 * _HOUR
        case _:
            raise AnalyticsError(f"unknown range {name[:50]!r}; one of hour, today, 7d, 30d")
    # Buckets aligned to whole sizes so that a live update moves bars, not their edges.
    start -= start % size if name != "today" else 0
    end = now_ms - now_ms % size + size
    return TimeRange(start, end, size).validate()


# --------------------------------------------------------------------------------------------
# The one computation


def _percentile(values: Sequence[int], share: float) -> int:
    """Nearest rank of sorted ``values`` (non-empty)."""
    rank = max(1, -(-int(share * 100) * len(values) // 100))
    return values[rank - 1]


def _seconds(ms: int) -> float:
    return ms / 1000.0


def _message_bin_labels() -> list[str]:
    labels: list[str] = []
    low = 0
    for high in MESSAGE_BINS:
        labels.append(str(high) if low == high else f"{low}-{high}")
        low = high + 1
    labels.append(f"{low}+")
    return labels


def _message_bin(count: int) -> int:
    for index, high in enumerate(MESSAGE_BINS):
        if count <= high:
            return index
    return len(MESSAGE_BINS)


def analytics_report(
    facts: Iterable[SessionFacts],
    time_range: TimeRange,
    now_ms: int,
    sla_seconds: int = DEFAULT_SLA_SECONDS,
) -> AnalyticsReport:
    """Every chart's figures for the sessions in ``facts`` (others than those overlapping the
    range are ignored, so callers may pass more)."""
    start, end, size = time_range.start_ms, time_range.end_ms, time_range.bucket_ms
    n = time_range.buckets
    sla_ms = sla_seconds * 1000

    def bucket(moment: int) -> int | None:
        return (moment - start) // size if start <= moment < end else None

    started_by_channel: dict[str, list[int]] = {}
    outcomes = {status: [0] * n for status in END_STATUSES}
    end_reasons: dict[str, list[int]] = {}
    waits: list[list[int]] = [[] for _ in range(n)]
    sla_hits = [0] * n
    sla_settled = [0] * n
    starts: list[int] = []
    stops: list[int] = []
    queue_in: list[int] = []
    queue_out: list[int] = []
    handover_agent: dict[str, list[int]] = {}
    handover_team: dict[str, list[int]] = {}
    agent_names: dict[str, str] = {}
    durations: dict[str, list[int]] = {}
    message_bins = [0] * (len(MESSAGE_BINS) + 1)
    operator_names: dict[str, str] = {}
    handled: dict[str, int] = {}
    active_now: dict[str, int] = {}
    handle_times: dict[str, list[int]] = {}
    total = 0

    for f in facts:
        if f.operator_id is not None and f.status == "active":
            active_now[f.operator_id] = active_now.get(f.operator_id, 0) + 1
            operator_names.setdefault(f.operator_id, f.operator_name or f.operator_id)
        if not f.overlaps(start, end):
            continue
        total += 1
        starts.append(f.started_ms)
        if f.ended_ms is not None:
            stops.append(max(f.ended_ms, f.started_ms))
        if f.queued_ms is not None:
            queue_in.append(f.queued_ms)
            exit_ms = f.accepted_ms if f.accepted_ms is not None else f.ended_ms
            if exit_ms is not None:
                queue_out.append(max(exit_ms, f.queued_ms))
            b = bucket(f.queued_ms)
            if b is not None:
                wait = (exit_ms if exit_ms is not None else now_ms) - f.queued_ms
                waits[b].append(max(0, wait))
                if f.accepted_ms is not None:
                    sla_settled[b] += 1
                    if f.accepted_ms - f.queued_ms <= sla_ms:
                        sla_hits[b] += 1
                elif f.ended_ms is not None or wait > sla_ms:
                    sla_settled[b] += 1
        if f.ended_ms is not None:
            b = bucket(f.ended_ms)
            if b is not None:
                if f.status in outcomes:
                    outcomes[f.status][b] += 1
                if f.end_reason is not None:
                    end_reasons.setdefault(f.end_reason, [0] * n)[b] += 1
        b = bucket(f.started_ms)
        if b is None:
            continue
        started_by_channel.setdefault(f.channel, [0] * n)[b] += 1
        human = 1 if f.responsible_kind == "human" else 0
        agent_names.setdefault(f.agent_id, f.agent_name)
        row = handover_agent.setdefault(f.agent_id, [0, 0])
        row[0] += 1
        row[1] += human
        if f.team is not None:
            row = handover_team.setdefault(f.team, [0, 0])
            row[0] += 1
            row[1] += human
        if f.ended_ms is not None:
            durations.setdefault(f.agent_id, []).append(max(0, f.ended_ms - f.started_ms))
        message_bins[_message_bin(f.message_count)] += 1
        if f.operator_id is not None:
            operator_names.setdefault(f.operator_id, f.operator_name or f.operator_id)
            handled[f.operator_id] = handled.get(f.operator_id, 0) + 1
            if f.ended_ms is not None:
                began = f.accepted_ms if f.accepted_ms is not None else f.started_ms
                handle_times.setdefault(f.operator_id, []).append(max(0, f.ended_ms - began))

    starts.sort()
    stops.sort()
    queue_in.sort()
    queue_out.sort()
    live: list[int] = []
    queued: list[int] = []
    for i in range(n):
        # The state just before the bucket's end (or now): instants are [start, end).
        at = min(start + (i + 1) * size, now_ms + 1) - 1
        live.append(bisect_right(starts, at) - bisect_right(stops, at))
        queued.append(bisect_right(queue_in, at) - bisect_right(queue_out, at))

    p50: list[float | None] = []
    p90: list[float | None] = []
    top: list[float | None] = []
    for values in waits:
        if values:
            values.sort()
            p50.append(_seconds(_percentile(values, 0.5)))
            p90.append(_seconds(_percentile(values, 0.9)))
            top.append(_seconds(values[-1]))
        else:
            p50.append(None)
            p90.append(None)
            top.append(None)

    def rates(table: dict[str, list[int]], names: dict[str, str]) -> list[RateRow]:
        rows = [RateRow(key=k, name=names.get(k, k), total=t, handed_over=h)
                for k, (t, h) in table.items()]
        return sorted(rows, key=lambda r: (-r.total, r.key))

    distribution = []
    for agent_id, values in durations.items():
        values.sort()
        distribution.append(DistributionRow(
            key=agent_id, name=agent_names.get(agent_id, agent_id), count=len(values),
            p50_seconds=_seconds(_percentile(values, 0.5)),
            p90_seconds=_seconds(_percentile(values, 0.9)),
            max_seconds=_seconds(values[-1]),
        ))
    distribution.sort(key=lambda r: (-r.count, r.key))

    operators = []
    for operator_id in set(handled) | set(active_now):
        times = handle_times.get(operator_id, [])
        operators.append(OperatorRow(
            id=operator_id, name=operator_names.get(operator_id, operator_id),
            handled=handled.get(operator_id, 0), active_now=active_now.get(operator_id, 0),
            # Integer ms before dividing, so every caller gets the same float.
            average_handle_seconds=_seconds(sum(times) // len(times)) if times else None,
        ))
    operators.sort(key=lambda r: (-r.handled, -r.active_now, r.id))

    return AnalyticsReport(
        start_ms=start, end_ms=end, bucket_ms=size, now_ms=now_ms, sla_seconds=sla_seconds,
        sessions=total,
        started_by_channel={c: started_by_channel[c] for c in CHANNELS if c in started_by_channel},
        live=live, queued=queued,
        wait_p50_seconds=p50, wait_p90_seconds=p90, wait_max_seconds=top,
        within_sla=[hits / settled if settled else None
                    for hits, settled in zip(sla_hits, sla_settled, strict=True)],
        outcomes=outcomes,
        end_reasons={r: end_reasons[r] for r in END_REASONS if r in end_reasons},
        handover_by_agent=rates(handover_agent, agent_names),
        handover_by_team=rates(handover_team, {}),
        duration_by_agent=distribution,
        messages_per_session=[CountBin(label=label, count=count) for label, count
                              in zip(_message_bin_labels(), message_bins, strict=True)],
        operators=operators,
    )


def summaries_report(
    sessions: Iterable[SessionSummary], time_range: TimeRange, now_ms: int,
    sla_seconds: int = DEFAULT_SLA_SECONDS,
) -> AnalyticsReport:
    """Offline review and tests: the report of summaries already filtered."""
    return analytics_report((SessionFacts.of(s) for s in sessions), time_range, now_ms,
                            sla_seconds)
