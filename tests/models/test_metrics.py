"""The one definition of the session metrics (hub, Live cards, offline review)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from supervisor_desk.models.metrics import live_metrics, session_metrics, top_channel
from supervisor_desk.models.wire import SessionSummary
from supervisor_desk.models.wording import format_ago, plural

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def summary(sid: str, status: str = "active", channel: str = "web", *,
            started: timedelta = timedelta(minutes=-5), **extra: Any) -> SessionSummary:
    data: dict[str, Any] = {
        "id": sid, "agent": {"id": "a1", "name": "Sales bot"}, "channel": channel,
        "status": status, "user": {"id": f"u-{sid}"}, "started_at": NOW + started,
    }
    if status not in ("queued", "active"):
        data["ended_at"] = NOW
    data.update(extra)
    return SessionSummary.model_validate(data)


def test_a_tie_for_top_channel_goes_to_the_channel_id_that_sorts_first() -> None:
    # The four sessions that once read "Phone" on the hub and "Telegram" offline.
    four = [summary("1", channel="telegram"), summary("2", channel="telegram"),
            summary("3", channel="phone"), summary("4", channel="phone")]
    for order in (four, four[::-1], [four[0], four[2], four[1], four[3]]):
        top = session_metrics(order, NOW).top_channel
        assert top is not None and (top.channel, top.count) == ("phone", 2)
    assert top_channel({"web": 3, "email": 3, "sms": 1}).channel == "email"  # type: ignore[union-attr]
    assert top_channel({"web": 0}) is None
    assert top_channel({}) is None


def test_counts_recent_and_longest_wait() -> None:
    sessions = [
        summary("q-old", "queued", queued_at=NOW - timedelta(minutes=7)),
        # A queued session without queue time waits since its start.
        summary("q-no-time", "queued", started=timedelta(minutes=-9)),
        summary("act", "active"),
        summary("done", "completed", started=timedelta(hours=-30)),
        # Exactly 24 h before now still counts; a millisecond earlier does not.
        summary("edge", "completed", started=timedelta(hours=-24)),
        summary("out", "failed", started=timedelta(hours=-24, milliseconds=-1)),
    ]
    m = session_metrics(sessions, NOW)
    assert (m.total, m.live, m.queued, m.active, m.recent_24h) == (6, 3, 2, 1, 4)
    assert m.longest_wait_seconds == 9 * 60
    assert m.by_status == {"active": 1, "completed": 2, "failed": 1, "queued": 2}
    assert m.by_channel == {"web": 6}


def test_no_queue_and_no_sessions() -> None:
    empty = session_metrics([], NOW)
    assert (empty.total, empty.live, empty.top_channel, empty.longest_wait_seconds) == (
        0, 0, None, None)
    # A queue time in the future (clock skew) is never a negative wait.
    ahead = session_metrics([summary("q", "queued", queued_at=NOW + timedelta(seconds=5))], NOW)
    assert ahead.longest_wait_seconds == 0.0


def test_live_cards_count_the_live_sessions_and_take_history_from_the_hub() -> None:
    sessions = [summary("a", "queued", "phone"), summary("b", "active", "web"),
                summary("c", "completed", "web")]
    hub = session_metrics([*sessions, summary("old", "completed", "email",
                                               started=timedelta(days=-3))], NOW)
    cards = live_metrics(sessions, hub, NOW)
    assert (cards.total, cards.recent_24h) == (4, 3)
    assert (cards.live, cards.queued, cards.active) == (2, 1, 1)
    # Ended rows still on screen are not live: the top channel is a tie among live ones.
    assert cards.top_channel is not None and cards.top_channel.channel == "phone"
    unknown = live_metrics(sessions, None, NOW)
    assert unknown.total is None and unknown.recent_24h is None


@pytest.mark.parametrize(("count", "text"), [
    (0, "0 sessions"), (1, "1 session"), (2, "2 sessions"), (1204, "1,204 sessions")])
def test_plurals(count: int, text: str) -> None:
    assert plural(count, "session") == text
    assert plural(1, "match", "matches") == "1 match"
    assert plural(3, "match", "matches") == "3 matches"


@pytest.mark.parametrize(("seconds", "text"), [
    (-5, "just now"), (9.9, "just now"), (10, "10 seconds ago"), (61, "1 minute ago"),
    (300, "5 minutes ago"), (3599, "59 minutes ago"), (3600, "1 hour ago"),
    (86399, "23 hours ago"), (86400 * 2, "2 days ago")])
def test_how_long_ago(seconds: float, text: str) -> None:
    assert format_ago(seconds) == text
