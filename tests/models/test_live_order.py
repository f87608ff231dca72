"""The live table's order without Qt: what a supervisor sees from top to bottom."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from supervisor_desk.models.live_order import LiveOrder, LiveOrdering, order_seconds
from supervisor_desk.models.wire import SessionSummary

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def summary(sid: str, status: str = "active", *, started: int = 0, queued: int | None = None,
            accepted: int | None = None, ended: int | None = None) -> SessionSummary:
    data: dict[str, Any] = {
        "id": sid, "agent": {"id": "a1", "name": "Sales bot"}, "channel": "web",
        "status": status, "user": {"id": f"u-{sid}"},
        "started_at": T0 + timedelta(seconds=started),
    }
    for field, value in (("queued_at", queued), ("accepted_at", accepted), ("ended_at", ended)):
        if value is not None:
            data[field] = T0 + timedelta(seconds=value)
    return SessionSummary.model_validate(data)


def ordered(ordering: LiveOrdering, sessions: list[SessionSummary]) -> list[str]:
    for s in sessions:
        ordering.note(s)
    return [s.id for s in sorted(sessions, key=ordering.key)]


def test_longest_wait_puts_queued_first_then_active_by_conversation_length() -> None:
    sessions = [
        summary("active-new", started=300),
        summary("queued-new", "queued", started=240, queued=240),
        summary("active-old", started=-1800),
        summary("queued-old", "queued", started=60, queued=60),
        # Accepted after a wait: its conversation started at acceptance, not at the start.
        summary("accepted", started=-3600, queued=-3600, accepted=200),
    ]
    assert ordered(LiveOrdering(), sessions) == [
        "queued-old", "queued-new", "active-old", "accepted", "active-new"]


def test_arrival_order_is_first_sight_whatever_the_times() -> None:
    ordering = LiveOrdering(LiveOrder.ARRIVAL)
    late_starter = summary("z", started=-86400)
    assert ordered(ordering, [summary("a"), summary("b", started=60), late_starter]) == [
        "a", "b", "z"]
    # Seeing a session again (an update) does not move it.
    ordering.note(summary("a", "queued", queued=5))
    assert ordering.key(summary("a")) == ordering.key(summary("a", "queued", queued=5))
    ordering.forget("a")
    ordering.note(summary("a"))
    assert ordering.key(summary("a")) > ordering.key(late_starter)
    # An ended session goes below the live ones, whatever its arrival.
    sessions = [summary("old", "completed", ended=30), summary("new", "queued", queued=40)]
    assert ordered(LiveOrdering(LiveOrder.ARRIVAL), sessions) == ["new", "old"]
    # History's order is the one given, ended or not.
    assert ordered(LiveOrdering(LiveOrder.GIVEN), sessions) == ["old", "new"]


def test_keys_are_unique_so_rows_can_be_bisected() -> None:
    ordering = LiveOrdering()
    same_time = [summary(f"s{i}") for i in range(5)]
    keys = [ordering.key(s) for s in same_time]
    assert len(set(keys)) == 5


def test_ended_rows_never_sort_above_live_ones() -> None:
    sessions = [
        summary("queued", "queued", started=100, queued=100),
        summary("active", started=50),
        # Abandoned in the queue long ago, and a conversation that ended: both below.
        summary("abandoned", "cancelled", started=-600, queued=-600, ended=10),
        summary("done", "completed", started=-900, ended=5),
    ]
    assert ordered(LiveOrdering(), sessions) == ["queued", "active", "done", "abandoned"]


def test_order_seconds_is_what_the_order_ranks_by() -> None:
    now = T0 + timedelta(minutes=10)
    assert order_seconds(summary("q", "queued", queued=60), now) == 540  # the wait
    # Active after a wait: the conversation since acceptance, not the time since start.
    assert order_seconds(summary("a", started=0, queued=0, accepted=300), now) == 300
    assert order_seconds(summary("c", "completed", started=0, accepted=120, ended=420),
                         now) == 300
    assert order_seconds(summary("x", "cancelled", started=0, queued=0, ended=90), now) == 90
    # A start in the future (clock skew) never shows a negative time.
    assert order_seconds(summary("f", started=900), now) == 0
