"""The analytics definitions, bucket by bucket, on sessions small enough to count by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from supervisor_desk.models.analytics import (
    AnalyticsError,
    TimeRange,
    default_bucket_ms,
    named_range,
    splice_tail,
    summaries_report,
    tail_range,
)
from supervisor_desk.models.filters import to_ms
from supervisor_desk.models.wire import SessionSummary

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MIN = 60_000


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def session(sid: str, started: float, *, channel: str = "web", status: str = "active",
            queued: float | None = None, accepted: float | None = None,
            ended: float | None = None, agent: str = "bot", team: str | None = None,
            operator: str | None = None, messages: int = 0,
            end_reason: str | None = None) -> SessionSummary:
    data: dict[str, Any] = {
        "id": sid, "agent": {"id": agent, "name": agent.title()}, "channel": channel,
        "status": status, "user": {"id": "u"}, "started_at": at(started),
        "message_count": messages, "team": team, "end_reason": end_reason,
    }
    if queued is not None:
        data["queued_at"] = at(queued)
    if accepted is not None:
        data["accepted_at"] = at(accepted)
    if ended is not None:
        data["ended_at"] = at(ended)
    if operator is not None:
        data["responsible"] = {"kind": "human", "operator": {"id": operator, "name": operator}}
    return SessionSummary.model_validate(data)


RANGE = TimeRange(to_ms(T0), to_ms(T0) + 60 * MIN, 15 * MIN)  # 4 buckets of 15 minutes
NOW = to_ms(T0) + 50 * MIN


def test_started_by_channel_live_and_queue_per_bucket() -> None:
    report = summaries_report([
        session("a", 1, channel="web", ended=20, status="completed"),
        session("b", 2, channel="phone", queued=2, accepted=5),
        session("c", 16, channel="web", queued=16),  # still waiting at "now"
        session("old", -30, ended=-10, status="completed"),  # before the range: ignored
    ], RANGE, NOW)
    assert report.sessions == 3
    assert report.started_by_channel == {"web": [1, 1, 0, 0], "phone": [1, 0, 0, 0]}
    # At the end of each bucket (the last one is clamped to now): a ended at 20.
    assert report.live == [2, 2, 2, 2]
    assert report.queued == [0, 1, 1, 1]


def test_wait_percentiles_and_share_within_the_sla() -> None:
    sessions = [session(f"q{i}", 0, queued=0, accepted=i) for i in range(1, 11)]  # 1..10 min
    sessions.append(session("gave-up", 1, queued=1, ended=3, status="cancelled"))
    sessions.append(session("waiting", 2, queued=2))  # waits 48 min by now: past the SLA
    report = summaries_report(sessions, RANGE, NOW, sla_seconds=3 * 60)
    assert report.wait_p50_seconds[0] == 5 * 60  # nearest rank: 6th of 12
    assert report.wait_p90_seconds[0] == 10 * 60
    assert report.wait_max_seconds[0] == 48 * 60
    # 3 of 12 settled sessions accepted within 3 minutes.
    assert report.within_sla[0] == pytest.approx(3 / 12)
    assert report.wait_p50_seconds[1:] == [None, None, None]


def test_a_wait_shorter_than_the_sla_is_not_yet_judged() -> None:
    report = summaries_report([session("w", 49, queued=49)], RANGE, NOW, sla_seconds=600)
    assert report.within_sla == [None, None, None, None]


def test_outcomes_and_end_reasons_by_the_bucket_they_ended_in() -> None:
    report = summaries_report([
        session("a", 1, ended=5, status="completed", end_reason="resolved"),
        session("b", 1, ended=31, status="failed", end_reason="error"),
        session("c", 1, ended=32, status="transferred", end_reason="transfer"),
    ], RANGE, NOW)
    assert report.outcomes["completed"] == [1, 0, 0, 0]
    assert report.outcomes["failed"] == [0, 0, 1, 0]
    assert report.outcomes["transferred"] == [0, 0, 1, 0]
    assert report.end_reasons == {"transfer": [0, 0, 1, 0], "resolved": [1, 0, 0, 0],
                                  "error": [0, 0, 1, 0]}


def test_handover_duration_messages_and_operator_workload() -> None:
    report = summaries_report([
        session("a", 1, agent="bot", team="north", operator="ann", accepted=3, ended=13,
                status="completed", messages=3),
        session("b", 2, agent="bot", team="north", ended=4, status="completed", messages=12),
        session("c", 3, agent="sales", team="south", operator="ann", messages=0),
        session("d", 4, agent="sales", operator="bob", accepted=5, ended=9,
                status="completed", messages=60),
        session("e", 70, agent="sales", operator="bob"),  # after the range, active now
    ], RANGE, NOW)
    agents = {r.key: (r.total, r.handed_over) for r in report.handover_by_agent}
    assert agents == {"bot": (2, 1), "sales": (2, 2)}
    assert {r.key: (r.total, r.handed_over) for r in report.handover_by_team} == {
        "north": (2, 1), "south": (1, 1)}
    durations = {r.key: (r.count, r.p50_seconds, r.max_seconds) for r in report.duration_by_agent}
    assert durations == {"bot": (2, 120.0, 720.0), "sales": (1, 300.0, 300.0)}
    assert [(b.label, b.count) for b in report.messages_per_session] == [
        ("0", 1), ("1-5", 1), ("6-10", 0), ("11-20", 1), ("21-50", 0), ("51+", 1)]
    operators = {r.id: (r.handled, r.active_now, r.average_handle_seconds)
                 for r in report.operators}
    assert operators == {"ann": (2, 1, 600.0), "bob": (1, 1, 240.0)}


def test_ranges_and_their_errors() -> None:
    now = datetime(2026, 3, 2, 14, 7, 30, tzinfo=UTC)
    hour = named_range("hour", now)
    assert hour.bucket_ms == MIN and hour.end_ms > to_ms(now) >= hour.end_ms - MIN
    today = named_range("today", now, timedelta(hours=2))
    assert today.start_ms == to_ms(datetime(2026, 3, 1, 22, 0, tzinfo=UTC))
    month = named_range("30d", now)
    assert month.buckets <= 121
    assert default_bucket_ms(7 * 86_400_000) == 6 * 3_600_000
    with pytest.raises(AnalyticsError, match="end after it starts"):
        TimeRange(10, 10, MIN).validate()
    with pytest.raises(AnalyticsError, match="at most 2000 buckets"):
        TimeRange(0, 3000 * MIN, MIN).validate()
    with pytest.raises(AnalyticsError, match="unknown range"):
        named_range("year", now)


def test_a_live_range_moves_by_rereading_only_its_last_hour() -> None:
    day = TimeRange(to_ms(T0), to_ms(T0) + 6 * 60 * MIN, 15 * MIN)
    now = to_ms(T0) + 3 * 60 * MIN + 5 * MIN  # 12:05
    older = [session("old", 10, status="completed", ended=20, operator="ann"),
             session("busy", 100, operator="ann")]
    before = summaries_report(older, day, now)
    # Two minutes later: a new session queued and was taken, another ended.
    later = now + 2 * MIN
    newer = [*older, session("new", 185, channel="email", queued=185.5, accepted=186.5,
                             operator="bob")]
    tail = tail_range(day, later)
    assert tail is not None and tail.start_ms == to_ms(T0) + 2 * 60 * MIN  # 11:00, on an edge
    moved = splice_tail(before, summaries_report(newer, tail, later))
    truth = summaries_report(newer, day, later)
    for series in ("started_by_channel", "live", "queued", "wait_p50_seconds", "within_sla",
                   "outcomes", "end_reasons"):
        assert getattr(moved, series) == getattr(truth, series), series
    assert {(r.id, r.active_now) for r in moved.operators} == {("ann", 1), ("bob", 1)}
    assert tail_range(TimeRange(day.start_ms, now - MIN, MIN), now) is None
    with pytest.raises(AnalyticsError):
        splice_tail(before, summaries_report(newer, TimeRange(now, day.end_ms, MIN), later))
