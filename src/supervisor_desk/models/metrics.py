"""The session metrics, defined once: the hub, the Live cards and offline review all use this.

``total``, ``live`` (queued + active), ``queued``, ``active``, ``recent_24h`` (sessions that
started in the 24 hours before *now*, to the millisecond), ``top_channel`` (the channel with
the most sessions; a tie goes to the channel id that sorts first) and
``longest_wait_seconds`` (now minus ``queued_at``, or ``started_at`` when the platform did not
send one, of the longest-waiting queued session, never negative). The hub aggregates in SQL
and hands its counts to :func:`assemble_metrics`; Python callers use :func:`session_metrics`,
which counts the same way and goes through the same function.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from supervisor_desk.models.filters import to_ms
from supervisor_desk.models.live_order import waiting_since
from supervisor_desk.models.wire import LIVE_STATUSES, ChannelCount, Metrics, SessionSummary

RECENT_WINDOW = timedelta(hours=24)
RECENT_WINDOW_MS = RECENT_WINDOW // timedelta(milliseconds=1)


def recent_cutoff_ms(now_ms: int) -> int:
    """Sessions whose ``started_at`` in ms is at or after this count as "last 24 h"."""
    return now_ms - RECENT_WINDOW_MS


def top_channel(by_channel: Mapping[str, int]) -> ChannelCount | None:
    """The channel with the most sessions; ties go to the channel id that sorts first."""
    counted = [(channel, count) for channel, count in by_channel.items() if count > 0]
    if not counted:
        return None
    channel, count = min(counted, key=lambda kv: (-kv[1], kv[0]))
    return ChannelCount.model_validate({"channel": channel, "count": count})


def longest_wait_seconds(oldest_waiting_since_ms: int | None, now_ms: int) -> float | None:
    if oldest_waiting_since_ms is None:
        return None
    return max(0.0, (now_ms - oldest_waiting_since_ms) / 1000.0)


def assemble_metrics(
    *,
    total: int,
    recent_24h: int,
    by_channel: Mapping[str, int],
    by_status: Mapping[str, int],
    oldest_waiting_since_ms: int | None,
    now_ms: int,
) -> Metrics:
    """The metrics from counts (the hub's SQL aggregates or :func:`session_metrics`)."""
    queued = by_status.get("queued", 0)
    active = by_status.get("active", 0)
    return Metrics(
        total=total,
        live=sum(by_status.get(status, 0) for status in LIVE_STATUSES),
        queued=queued,
        active=active,
        recent_24h=recent_24h,
        top_channel=top_channel(by_channel),
        by_channel=dict(sorted(by_channel.items())),
        by_status=dict(sorted(by_status.items())),
        longest_wait_seconds=longest_wait_seconds(oldest_waiting_since_ms, now_ms),
    )


def session_metrics(sessions: Iterable[SessionSummary], now: datetime | None = None) -> Metrics:
    """The metrics of ``sessions`` as of ``now`` (default: the current time)."""
    now_ms = to_ms(now if now is not None else datetime.now(UTC))
    cutoff = recent_cutoff_ms(now_ms)
    by_channel: Counter[str] = Counter()
    by_status: Counter[str] = Counter()
    total = recent = 0
    oldest: int | None = None
    for s in sessions:
        total += 1
        by_channel[s.channel] += 1
        by_status[s.status] += 1
        if to_ms(s.started_at) >= cutoff:
            recent += 1
        if s.status == "queued":
            since = to_ms(waiting_since(s))
            if oldest is None or since < oldest:
                oldest = since
    return assemble_metrics(
        total=total, recent_24h=recent, by_channel=by_channel, by_status=by_status,
        oldest_waiting_since_ms=oldest, now_ms=now_ms,
    )


@dataclass(frozen=True, slots=True)
class LiveMetrics:
    """The Live page's cards: the table's live sessions, plus the hub's history counts.

    ``total`` and ``recent_24h`` need the whole history, which only the hub holds (``None``
    until it answers); the other figures are the live sessions on screen, so they agree with
    the table at every frame. ``top_channel`` counts live sessions, by the same rule as the hub.
    """

    total: int | None
    live: int
    queued: int
    active: int
    recent_24h: int | None
    top_channel: ChannelCount | None
    longest_wait_seconds: float | None


def live_metrics(
    live_sessions: Iterable[SessionSummary], hub: Metrics | None, now: datetime | None = None
) -> LiveMetrics:
    figures = session_metrics((s for s in live_sessions if s.status in LIVE_STATUSES), now)
    return _live_cards(figures, hub)


def live_metrics_of_counts(
    by_status: Mapping[str, int],
    by_channel: Mapping[str, int],
    oldest_waiting_since_ms: int | None,
    hub: Metrics | None,
    now: datetime | None = None,
) -> LiveMetrics:
    """:func:`live_metrics` from counts of the live sessions kept as they change (the live
    view's store), instead of counting every session each time."""
    figures = assemble_metrics(
        total=sum(by_status.values()), recent_24h=0, by_channel=by_channel,
        by_status=by_status, oldest_waiting_since_ms=oldest_waiting_since_ms,
        now_ms=to_ms(now if now is not None else datetime.now(UTC)),
    )
    return _live_cards(figures, hub)


def _live_cards(figures: Metrics, hub: Metrics | None) -> LiveMetrics:
    return LiveMetrics(
        total=hub.total if hub is not None else None,
        live=figures.live,
        queued=figures.queued,
        active=figures.active,
        recent_24h=hub.recent_24h if hub is not None else None,
        top_channel=figures.top_channel,
        longest_wait_seconds=figures.longest_wait_seconds,
    )
