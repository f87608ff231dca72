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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

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
# The one computation: sessions -> aggregates -> report. The hub computes the same aggregates
# in SQL (hub/store/sqlite/analytics.py) and hands them to the same :func:`report_from_aggregates`.


def percentile_rank(percent: int, count: int) -> int:
    """Nearest rank (1-based) of the ``percent``-th percentile of ``count`` sorted values."""
    return max(1, -(-percent * count // 100))


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


@dataclass(frozen=True, slots=True)
class Picks:
    """A distribution as the charts show it: how many values, p50, p90 and max (ms)."""

    count: int
    p50_ms: int
    p90_ms: int
    max_ms: int

    @classmethod
    def of_sorted(cls, values: Sequence[int]) -> Picks:
        n = len(values)
        return cls(n, values[percentile_rank(50, n) - 1], values[percentile_rank(90, n) - 1],
                   values[-1])


@dataclass(frozen=True, slots=True)
class Named:
    """A key's display name, taken from its most recently started session."""

    name: str
    started_ms: int


@dataclass
class Aggregates:
    """Every chart reduced to small grouped counts (what the hub's SQL returns).

    Buckets are indexes into the range. ``live_in``/``live_out``/``queue_in``/``queue_out``
    count instants (start, end; queued, accepted-or-ended) by :func:`first_counting_bucket`:
    the state at a bucket's end is the running sum of ins minus outs up to it.
    """

    sessions: int = 0
    started: dict[tuple[int, str], int] = field(default_factory=dict)
    outcomes: dict[tuple[int, str], int] = field(default_factory=dict)
    end_reasons: dict[tuple[int, str], int] = field(default_factory=dict)
    live_in: dict[int, int] = field(default_factory=dict)
    live_out: dict[int, int] = field(default_factory=dict)
    queue_in: dict[int, int] = field(default_factory=dict)
    queue_out: dict[int, int] = field(default_factory=dict)
    waits: dict[int, Picks] = field(default_factory=dict)
    sla: dict[int, tuple[int, int]] = field(default_factory=dict)  # (hits, settled)
    agent_names: dict[str, Named] = field(default_factory=dict)
    handover_agent: dict[str, tuple[int, int]] = field(default_factory=dict)  # (total, human)
    handover_team: dict[str, tuple[int, int]] = field(default_factory=dict)
    durations: dict[str, Picks] = field(default_factory=dict)
    message_bins: dict[int, int] = field(default_factory=dict)
    operator_names: dict[str, Named] = field(default_factory=dict)
    handled: dict[str, int] = field(default_factory=dict)
    handle_times: dict[str, tuple[int, int]] = field(default_factory=dict)  # (ended, sum ms)
    active_now: dict[str, int] = field(default_factory=dict)

    def name(self, names: dict[str, Named], key: str, name: str | None, started_ms: int) -> None:
        """Remember ``name`` for ``key`` if its session is the most recently started yet."""
        known = names.get(key)
        if known is None or started_ms > known.started_ms:
            names[key] = Named(name or key, started_ms)


def bucket_of(moment: int | None, time_range: TimeRange) -> int | None:
    """The bucket an instant falls in (``None`` outside the range)."""
    if moment is None or not time_range.start_ms <= moment < time_range.end_ms:
        return None
    return (moment - time_range.start_ms) // time_range.bucket_ms


def first_counting_bucket(moment: int, time_range: TimeRange, now_ms: int) -> int | None:
    """The first bucket whose state (just before its end, or at now for the bucket holding
    now and those after it) has seen ``moment``: 0 before the range, none after now or the
    range."""
    if moment > now_ms or moment >= time_range.end_ms:
        return None
    if moment < time_range.start_ms:
        return 0
    return (moment - time_range.start_ms) // time_range.bucket_ms


def _add(table: dict[Any, int], key: Any, count: int = 1) -> None:
    table[key] = table.get(key, 0) + count


def aggregate(facts: Iterable[SessionFacts], time_range: TimeRange, now_ms: int,
              sla_seconds: int) -> Aggregates:
    """The aggregates of ``facts`` in Python (offline review; the hub's reference)."""
    start, end = time_range.start_ms, time_range.end_ms
    sla_ms = sla_seconds * 1000
    agg = Aggregates()
    waits: dict[int, list[int]] = {}
    durations: dict[str, list[int]] = {}

    def count_in(table: dict[int, int], moment: int) -> None:
        k = first_counting_bucket(moment, time_range, now_ms)
        if k is not None:
            _add(table, k)

    for f in facts:
        if f.operator_id is not None and f.status == "active":
            _add(agg.active_now, f.operator_id)
            agg.name(agg.operator_names, f.operator_id, f.operator_name, f.started_ms)
        if not f.overlaps(start, end):
            continue
        agg.sessions += 1
        count_in(agg.live_in, f.started_ms)
        if f.ended_ms is not None:
            count_in(agg.live_out, max(f.ended_ms, f.started_ms))
        if f.queued_ms is not None:
            count_in(agg.queue_in, f.queued_ms)
            exit_ms = f.accepted_ms if f.accepted_ms is not None else f.ended_ms
            if exit_ms is not None:
                count_in(agg.queue_out, max(exit_ms, f.queued_ms))
            b = bucket_of(f.queued_ms, time_range)
            if b is not None:
                wait = (exit_ms if exit_ms is not None else now_ms) - f.queued_ms
                waits.setdefault(b, []).append(max(0, wait))
                hits, settled = agg.sla.get(b, (0, 0))
                if f.accepted_ms is not None:
                    agg.sla[b] = (hits + (f.accepted_ms - f.queued_ms <= sla_ms), settled + 1)
                else:
                    agg.sla[b] = (hits, settled + (f.ended_ms is not None or wait > sla_ms))
        b = bucket_of(f.ended_ms, time_range)
        if b is not None:
            _add(agg.outcomes, (b, f.status))
            if f.end_reason is not None:
                _add(agg.end_reasons, (b, f.end_reason))
        b = bucket_of(f.started_ms, time_range)
        if b is None:
            continue
        _add(agg.started, (b, f.channel))
        human = 1 if f.responsible_kind == "human" else 0
        agg.name(agg.agent_names, f.agent_id, f.agent_name, f.started_ms)
        total, humans = agg.handover_agent.get(f.agent_id, (0, 0))
        agg.handover_agent[f.agent_id] = (total + 1, humans + human)
        if f.team is not None:
            total, humans = agg.handover_team.get(f.team, (0, 0))
            agg.handover_team[f.team] = (total + 1, humans + human)
        if f.ended_ms is not None:
            durations.setdefault(f.agent_id, []).append(max(0, f.ended_ms - f.started_ms))
        _add(agg.message_bins, _message_bin(f.message_count))
        if f.operator_id is not None:
            agg.name(agg.operator_names, f.operator_id, f.operator_name, f.started_ms)
            _add(agg.handled, f.operator_id)
            if f.ended_ms is not None:
                began = f.accepted_ms if f.accepted_ms is not None else f.started_ms
                ended, total_ms = agg.handle_times.get(f.operator_id, (0, 0))
                agg.handle_times[f.operator_id] = (ended + 1,
                                                   total_ms + max(0, f.ended_ms - began))
    agg.waits = {b: Picks.of_sorted(sorted(v)) for b, v in waits.items()}
    agg.durations = {k: Picks.of_sorted(sorted(v)) for k, v in durations.items()}
    return agg


def report_from_aggregates(agg: Aggregates, time_range: TimeRange, now_ms: int,
                           sla_seconds: int) -> AnalyticsReport:
    """The charts' report from grouped counts, whoever grouped them."""
    n = time_range.buckets

    def per_bucket(table: dict[tuple[int, str], int], keys: Iterable[str],
                   keep_empty: bool) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for key in keys:
            values = [table.get((b, key), 0) for b in range(n)]
            if keep_empty or any((b, key) in table for b in range(n)):
                out[key] = values
        return out

    def running(ins: dict[int, int], outs: dict[int, int]) -> list[int]:
        level, values = 0, []
        for b in range(n):
            level += ins.get(b, 0) - outs.get(b, 0)
            values.append(level)
        return values

    def picks(field_ms: str) -> list[float | None]:
        return [_seconds(getattr(agg.waits[b], field_ms)) if b in agg.waits else None
                for b in range(n)]

    def rates(table: dict[str, tuple[int, int]], names: dict[str, Named]) -> list[RateRow]:
        rows = [RateRow(key=k, name=names[k].name if k in names else k, total=t,
                        handed_over=h) for k, (t, h) in table.items()]
        return sorted(rows, key=lambda r: (-r.total, r.key))

    distribution = sorted((
        DistributionRow(
            key=agent_id,
            name=agg.agent_names[agent_id].name if agent_id in agg.agent_names else agent_id,
            count=p.count, p50_seconds=_seconds(p.p50_ms), p90_seconds=_seconds(p.p90_ms),
            max_seconds=_seconds(p.max_ms),
        ) for agent_id, p in agg.durations.items()), key=lambda r: (-r.count, r.key))

    operators = []
    for operator_id in set(agg.handled) | set(agg.active_now):
        ended, total_ms = agg.handle_times.get(operator_id, (0, 0))
        known = agg.operator_names.get(operator_id)
        operators.append(OperatorRow(
            id=operator_id, name=known.name if known else operator_id,
            handled=agg.handled.get(operator_id, 0),
            active_now=agg.active_now.get(operator_id, 0),
            # Integer ms before dividing, so every caller gets the same float.
            average_handle_seconds=_seconds(total_ms // ended) if ended else None,
        ))
    operators.sort(key=lambda r: (-r.handled, -r.active_now, r.id))

    within: list[float | None] = []
    for b in range(n):
        hits, settled = agg.sla.get(b, (0, 0))
        within.append(hits / settled if settled else None)

    return AnalyticsReport(
        start_ms=time_range.start_ms, end_ms=time_range.end_ms, bucket_ms=time_range.bucket_ms,
        now_ms=now_ms, sla_seconds=sla_seconds, sessions=agg.sessions,
        started_by_channel=per_bucket(agg.started, CHANNELS, keep_empty=False),
        live=running(agg.live_in, agg.live_out),
        queued=running(agg.queue_in, agg.queue_out),
        wait_p50_seconds=picks("p50_ms"), wait_p90_seconds=picks("p90_ms"),
        wait_max_seconds=picks("max_ms"),
        within_sla=within,
        outcomes=per_bucket(agg.outcomes, END_STATUSES, keep_empty=True),
        end_reasons=per_bucket(agg.end_reasons, END_REASONS, keep_empty=False),
        handover_by_agent=rates(agg.handover_agent, agg.agent_names),
        handover_by_team=rates(agg.handover_team, {}),
        duration_by_agent=distribution,
        messages_per_session=[CountBin(label=label, count=agg.message_bins.get(i, 0))
                              for i, label in enumerate(_message_bin_labels())],
        operators=operators,
    )


def analytics_report(
    facts: Iterable[SessionFacts],
    time_range: TimeRange,
    now_ms: int,
    sla_seconds: int = DEFAULT_SLA_SECONDS,
) -> AnalyticsReport:
    """Every chart's figures for the sessions in ``facts`` (others than those overlapping the
    range are ignored, so callers may pass more)."""
    return report_from_aggregates(aggregate(facts, time_range, now_ms, sla_seconds),
                                  time_range, now_ms, sla_seconds)


# --------------------------------------------------------------------------------------------
# Live ranges: the last hour follows the feed


LIVE_TAIL_MS = _HOUR


def tail_range(time_range: TimeRange, now_ms: int) -> TimeRange | None:
    """The buckets a live range re-reads as events arrive: from the bucket holding
    ``now - LIVE_TAIL_MS`` to the range's end, on the range's own bucket edges (``None`` when
    the range ends before now: nothing in it moves)."""
    if time_range.end_ms <= now_ms:
        return None
    size = time_range.bucket_ms
    first = max(time_range.start_ms, now_ms - LIVE_TAIL_MS)
    first -= (first - time_range.start_ms) % size
    return TimeRange(first, time_range.end_ms, size)


def splice_tail(report: AnalyticsReport, tail: AnalyticsReport) -> AnalyticsReport:
    """``report`` with its last buckets replaced by those of ``tail`` (a report of
    :func:`tail_range`), and who is active now taken from ``tail``. The range-wide tables
    (hand-over, durations, messages, sessions handled) stay those of ``report`` until the
    range is read whole again."""
    offset = tail.start_ms - report.start_ms
    if tail.bucket_ms != report.bucket_ms or tail.end_ms != report.end_ms \
            or offset < 0 or offset % report.bucket_ms:
        raise AnalyticsError("the tail is not on the report's buckets")
    keep = (tail.start_ms - report.start_ms) // report.bucket_ms

    def series(old: list[Any], new: list[Any]) -> list[Any]:
        return old[:keep] + new

    def stacks(old: dict[str, list[int]], new: dict[str, list[int]],
               order: Sequence[str]) -> dict[str, list[int]]:
        empty = [0] * len(tail.live)
        return {k: series(old.get(k, [0] * len(report.live)), new.get(k, empty))
                for k in order if k in old or k in new}

    active = {row.id: row for row in tail.operators}
    operators = [row.model_copy(update={"active_now": active[row.id].active_now
                                        if row.id in active else 0})
                 for row in report.operators]
    known = {row.id for row in report.operators}
    operators += [row for row in tail.operators if row.id not in known and row.active_now]
    operators.sort(key=lambda r: (-r.handled, -r.active_now, r.id))
    return report.model_copy(update={
        "now_ms": tail.now_ms,
        "started_by_channel": stacks(report.started_by_channel, tail.started_by_channel,
                                     CHANNELS),
        "live": series(report.live, tail.live),
        "queued": series(report.queued, tail.queued),
        "wait_p50_seconds": series(report.wait_p50_seconds, tail.wait_p50_seconds),
        "wait_p90_seconds": series(report.wait_p90_seconds, tail.wait_p90_seconds),
        "wait_max_seconds": series(report.wait_max_seconds, tail.wait_max_seconds),
        "within_sla": series(report.within_sla, tail.within_sla),
        "outcomes": stacks(report.outcomes, tail.outcomes, END_STATUSES),
        "end_reasons": stacks(report.end_reasons, tail.end_reasons, END_REASONS),
        "operators": operators,
    })


def summaries_report(
    sessions: Iterable[SessionSummary], time_range: TimeRange, now_ms: int,
    sla_seconds: int = DEFAULT_SLA_SECONDS,
) -> AnalyticsReport:
    """Offline review and tests: the report of summaries already filtered."""
    return analytics_report((SessionFacts.of(s) for s in sessions), time_range, now_ms,
                            sla_seconds)
