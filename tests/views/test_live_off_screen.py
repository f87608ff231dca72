"""Off screen the live view-model follows the feed in the feed's own batches: every event is
applied, in order, alerts are told at once, and no frame timer is left to wake the app; on
screen the hub may gather the table's changes into each second's tick."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from PySide6.QtCore import QTimer

from supervisor_desk.client.feed import ConnectionState
from supervisor_desk.client.rest import HubClient
from supervisor_desk.models.alerts.defaults import default_rules
from supervisor_desk.models.alerts.rules import Rule, RuleSet, WaitCondition
from supervisor_desk.views.alerts.viewmodel import AlertsViewModel
from supervisor_desk.views.live_viewmodel import (
    CALM_BATCH_EVENTS,
    EACH_SECOND_HOLD_MS,
    HIDDEN_HOLD_MS,
    FeedHold,
    LiveViewModel,
)
from supervisor_desk.views.session_table_model import SessionTableModel
from supervisor_desk.views.tasks import standalone_scope
from tests.client.hub_events import ended, message, started, updated
from tests.conftest import ingest
from tests.helpers import wait_until


@contextlib.asynccontextmanager
async def _live_on(hub: Any, alerts: AlertsViewModel | None = None,
                   **options: Any) -> AsyncIterator[LiveViewModel]:
    """A signed-in live view-model on ``hub`` (its alert rules ``alerts``), the feed
    connected and session "a" on screen."""
    client = HubClient(hub.url)
    scope = standalone_scope("live")
    live = LiveViewModel(client, SessionTableModel(), tasks=scope, metrics_poll_s=600.0,
                         **options)
    if alerts is not None:
        live.attach_alerts(alerts)
    try:
        await client.login("supervisor", "supervisor")
        await asyncio.to_thread(ingest, hub, [started("a")])
        live.start()
        await wait_until(lambda: live.model.rowCount() == 1
                         and live.feed.state is ConnectionState.CONNECTED)
        yield live
    finally:
        await live.stop()
        await scope.aclose()
        await client.aclose()
        live.deleteLater()
        if alerts is not None:
            alerts.deleteLater()


def test_off_screen_a_burst_is_applied_in_order_told_at_once_and_no_timer_is_left(
    running_hub: Any, qrun: Any
) -> None:
    async def scenario() -> None:
        alerts = AlertsViewModel(default_rules())
        told: list[str] = []  # session ids of the alerts told, in the order told
        alerts.subscribe(alerts, lambda update: told.extend(
            a.session_id for n in update.notices for a in n.alerts))
        versions: dict[str, list[int]] = {}
        async with _live_on(running_hub, alerts) as live:
            model = live.model
            live.session_updated.connect(
                lambda s: versions.setdefault(s.id, []).append(s.version))
            live.set_on_screen(False)  # closed to the tray
            burst = [started("b"), message("a", "one"), updated("b", stage="billing"),
                     message("a", "two"), ended("a"), started("c")]
            for event in burst:  # one post each: the feed gets them one frame at a time
                last = await asyncio.to_thread(ingest, running_hub, [event])
            await wait_until(lambda: live.feed.seq == last["last_seq"])
            # Applied, in order, as each batch came (no frame timer to wait for) …
            assert set(told) >= {"b", "a", "c"}  # new b, a ended, new c
            assert told.index("b") < told.index("c")
            for sid in ("a", "b"):
                assert versions[sid] == sorted(versions[sid])
            a, b = live.store.get("a"), live.store.get("b")
            assert a is not None and not a.is_live and a.message_count == 2
            assert b is not None and b.stage == "billing"
            # … while the hidden table held still …
            assert [s.id for s in model.sessions()] == ["a"]
            # … and once the socket's rest is over, nothing is left to wake the app.
            await wait_until(lambda: not live.feed.resting)
            timers = live.findChildren(QTimer) + alerts.findChildren(QTimer)
            assert [t.objectName() or t.interval() for t in timers if t.isActive()] == []

            live.set_on_screen(True)  # current the instant it shows
            assert {s.id for s in model.sessions()} == {"a", "b", "c"}
            assert not live.feed.resting and live.feed.read_interval == 0

    qrun(scenario())



def test_on_screen_a_lone_event_shows_in_the_turn_that_read_it_and_a_busy_feed_keeps_frames(
    running_hub: Any, qrun: Any
) -> None:
    async def scenario() -> None:
        clock = [1000.0]
        # A frame far longer than the test waits: a row that shows came without its timer.
        async with _live_on(running_hub, frame_ms=5_000, monotonic=lambda: clock[0]) as live:

            async def post(sid: str) -> None:
                last = await asyncio.to_thread(ingest, running_hub, [started(sid)])
                await wait_until(lambda: live.feed.seq == last["last_seq"])

            def rows() -> set[str]:
                return {s.id for s in live.model.sessions()}

            await post("b")  # nothing read before it: the lone event is its own frame
            assert rows() == {"a", "b"}
            await post("c")  # right behind it, as a busy feed's batches come: its frame waits
            assert rows() == {"a", "b"}
            clock[0] += 5.0  # a calm spell of a frame's length
            await post("d")  # the frame: c and d together
            assert rows() == {"a", "b", "c", "d"}
            # A platform's burst after a calm spell is read whole and waits for its frame.
            clock[0] += 5.0
            burst = [started(f"e{n}") for n in range(CALM_BATCH_EVENTS + 1)]
            last = await asyncio.to_thread(ingest, running_hub, burst)
            await wait_until(lambda: live.feed.seq == last["last_seq"])
            # (Read whole as a rule; split, only a few first events may be a frame.)
            assert len(rows()) < 4 + len(burst)
            live.flush()
            assert len(rows()) == 4 + len(burst)

    qrun(scenario())


def test_with_nothing_on_screen_the_hub_holds_events_but_never_an_alert_or_a_deadline(
    running_hub: Any, qrun: Any
) -> None:
    """Held delivery: the hub gathers a hidden desktop's events (a new session's too), sends
    at once what could open an alert other than the routine notices, and a deadline is judged
    on everything held before it."""
    async def scenario() -> None:
        quick_wait = Rule(id="wait-2", name="Waiting 2 s", severity="warning",
                          condition=WaitCondition(seconds=2))
        alerts = AlertsViewModel(RuleSet(rules=(*default_rules().rules, quick_wait)))
        told: list[tuple[str, str]] = []  # (rule, session) of each alert told
        alerts.subscribe(alerts, lambda update: told.extend(
            (n.rule.id, a.session_id) for n in update.notices for a in n.alerts))
        async with _live_on(running_hub, alerts) as live:
            alerts.before_deadline = live.flush_feed
            live.set_on_screen(False)
            live.hold_feed(FeedHold.HIDDEN)
            feed = live.feed
            await wait_until(lambda: feed.held_ms == HIDDEN_HOLD_MS)

            # An answer is held; a complaint goes at once, and takes the answer with it.
            seen = feed.seq
            await asyncio.to_thread(ingest, running_hub, [message("a", "Sure", role="ai")])
            await asyncio.sleep(HIDDEN_HOLD_MS / 1000 / 3)
            assert feed.seq == seen
            last = await asyncio.to_thread(
                ingest, running_hub, [message("a", "I will cancel my account")])
            await wait_until(lambda: ("complaint", "a") in told,
                             timeout=HIDDEN_HOLD_MS / 1000 / 2)
            assert feed.seq == last["last_seq"]

            # A new session is held too: its routine "New session" notice can wait for the
            # release (the tray tells those at most once a minute).
            await asyncio.to_thread(ingest, running_hub, [started("q", status="queued")])
            await asyncio.sleep(HIDDEN_HOLD_MS / 1000 / 3)
            assert live.store.get("q") is None
            await wait_until(lambda: live.store.get("q") is not None,
                             timeout=HIDDEN_HOLD_MS / 1000 * 2)
            # Queued, it is accepted before its 2 s are up: the acceptance is held, the
            # deadline asks for it first and no wait alert opens.
            feed.hold(5000, alerts.rules.rules)  # held past the deadline unless flushed
            await wait_until(lambda: feed.held_ms == 5000)
            await asyncio.to_thread(ingest, running_hub, [updated("q", status="active")])
            await wait_until(lambda: alerts.deadline_waits >= 1, timeout=4)
            await wait_until(lambda: (q := live.store.get("q")) is not None
                             and q.status == "active", timeout=1)
            await asyncio.sleep(0.2)
            assert ("wait-2", "q") not in told and ("wait-60", "q") not in told
            assert feed.flushes >= 1

            live.hold_feed(FeedHold.NONE)  # on screen again: each event at once
            await wait_until(lambda: feed.held_ms == 0)
            live.set_on_screen(True)

    qrun(scenario())


def test_on_screen_each_second_the_table_changes_with_the_tick_the_open_chat_and_alerts_at_once(
    running_hub: Any, qrun: Any
) -> None:
    """"Update once a second": the hub sends the Live list's changes just before each second
    of the clock (the tick that paints them), while the session open in the chat and what
    could open an alert (but the routine "New session") come at once."""
    async def scenario() -> None:
        alerts = AlertsViewModel(default_rules())
        told: list[tuple[str, str]] = []
        alerts.subscribe(alerts, lambda update: told.extend(
            (n.rule.id, a.session_id) for n in update.notices for a in n.alerts))
        async with _live_on(running_hub, alerts) as live:
            alerts.before_deadline = live.flush_feed
            chat: list[str] = []
            live.message_received.connect(lambda m: chat.append(m.text))
            live.watch("a")
            live.hold_feed(FeedHold.EACH_SECOND)
            feed = live.feed
            await wait_until(lambda: feed.held_ms == EACH_SECOND_HOLD_MS)

            async def settled_after_a_second() -> None:
                # Just after a second: a whole step before the hub's next send.
                phase = time.time() % 1.0
                await asyncio.sleep(0.0 if 0.05 <= phase < 0.3 else (1.1 - phase) % 1.0)

            # Another session's start (routine) waits for the second; it shows just before it.
            await settled_after_a_second()
            await asyncio.to_thread(ingest, running_hub, [started("b")])
            await asyncio.sleep(0.2)
            assert live.store.get("b") is None
            await wait_until(lambda: live.store.get("b") is not None, timeout=3)
            phase = time.time() % 1.0
            assert phase >= 0.85 or phase < 0.25, phase
            await wait_until(lambda: {s.id for s in live.model.sessions()} == {"a", "b"},
                             timeout=1)

            # The open chat's messages come at once.
            await settled_after_a_second()
            await asyncio.to_thread(ingest, running_hub, [message("a", "Hello?")])
            await wait_until(lambda: chat == ["Hello?"], timeout=0.4)

            # A complaint elsewhere opens its alert at once.
            await settled_after_a_second()
            await asyncio.to_thread(ingest, running_hub,
                                    [message("b", "I will cancel my account")])
            await wait_until(lambda: ("complaint", "b") in told, timeout=0.4)

            # Watching another session moves the exemption with it.
            live.watch("b")
            await settled_after_a_second()
            await asyncio.to_thread(ingest, running_hub, [message("b", "Still there?")])
            await wait_until(lambda: chat[-1:] == ["Still there?"], timeout=0.4)

            live.hold_feed(FeedHold.NONE)
            await wait_until(lambda: feed.held_ms == 0)

    qrun(scenario())
