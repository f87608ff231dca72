"""The live view-model with its feed read on a worker thread (``feed_factory``,
views/feed_bridge.py) and applied on the Qt thread: in order, a batch at a time, current the
instant the window shows, and the thread ends with the feed."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

from supervisor_desk.client.feed import ConnectionState
from supervisor_desk.client.rest import HubClient
from supervisor_desk.views.feed_bridge import ThreadedFeed
from supervisor_desk.views.live_viewmodel import LiveViewModel
from supervisor_desk.views.session_table_model import SessionTableModel
from supervisor_desk.views.tasks import standalone_scope
from tests.client.hub_events import message, started, updated
from tests.client.test_feed import live_ids, restart
from tests.conftest import ingest
from tests.helpers import wait_until

FEED_THREAD = "supervisor-desk-feed"


def threaded(client: HubClient, live: LiveViewModel) -> ThreadedFeed:
    return ThreadedFeed(client, live, parent=live)


def feed_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == FEED_THREAD]


def test_a_hidden_burst_read_off_the_qt_thread_is_current_on_show_and_stop_joins_the_thread(
    running_hub: Any, qrun: Any
) -> None:
    async def scenario() -> None:
        client = HubClient(running_hub.url)
        scope = standalone_scope("live")
        model = SessionTableModel()
        live = LiveViewModel(client, model, tasks=scope, metrics_poll_s=600.0,
                             feed_factory=threaded)
        assert isinstance(live.feed, ThreadedFeed)
        applied_on: set[int] = set()
        live.sessions_changed.connect(lambda: applied_on.add(threading.get_ident()))
        hand_overs: list[int] = []
        live.feed.batch_ready.connect(lambda: hand_overs.append(live.feed.seq))
        try:
            await client.login("supervisor", "supervisor")
            live.start()
            await wait_until(lambda: live.feed.state is ConnectionState.CONNECTED)
            assert len(feed_threads()) == 1
            live.set_on_screen(False)  # closed to the tray
            burst = [started(f"s{n}") for n in range(40)]
            burst += [message(f"s{n}", f"hello {k}") for k in range(3) for n in range(40)]
            burst += [updated(f"s{n}", stage="billing") for n in range(0, 40, 2)]
            last = await asyncio.to_thread(ingest, running_hub, burst)
            await wait_until(lambda: live.feed.seq == last["last_seq"])
            assert live.events_applied == len(burst)
            assert len(hand_overs) < len(burst)  # batches, not one wake per event
            assert model.rowCount() == 0  # the hidden table held still

            live.set_on_screen(True)  # current the instant it shows
            hub = live_ids(running_hub, client.token or "")
            assert {s.id: s.version for s in model.sessions()} == {
                sid: live.store.get(sid).version for sid in hub}  # type: ignore[union-attr]
            assert all(live.store.get(f"s{n}").message_count == 3  # type: ignore[union-attr]
                       for n in range(40))
            assert applied_on == {threading.get_ident()}  # applied on the Qt thread only
        finally:
            await live.stop()
            await scope.aclose()
            await client.aclose()
        assert feed_threads() == []  # stopping the feed joined its thread
        assert live.connection_state is ConnectionState.STOPPED  # its last word arrived
        live.deleteLater()

    qrun(scenario())


def test_a_hub_restart_through_the_thread_loses_and_reorders_nothing(
    running_hub: Any, qrun: Any
) -> None:
    async def scenario() -> None:
        client = HubClient(running_hub.url)
        scope = standalone_scope("live")
        live = LiveViewModel(client, SessionTableModel(), tasks=scope, metrics_poll_s=600.0,
                             feed_factory=threaded)
        live.feed.backoff_base = 0.05
        seqs: list[int] = []
        on_event = live.on_event
        live.on_event = lambda seq, event, replayed: (  # type: ignore[method-assign]
            seqs.append(seq), on_event(seq, event, replayed))
        hubs = [running_hub]
        try:
            await client.login("supervisor", "supervisor")
            live.start()
            await wait_until(lambda: live.feed.state is ConnectionState.CONNECTED)
            await asyncio.to_thread(ingest, running_hub, [started("a"), message("a", "one")])
            hubs.append(await asyncio.to_thread(restart, running_hub))
            # Posted while the desk reconnects: it must come back through the resume.
            last = await asyncio.to_thread(
                ingest, hubs[-1], [message("a", "two"), started("b"), updated("a", stage="x")])
            await wait_until(lambda: live.feed.seq == last["last_seq"], 15.0)
            assert live.feed.connections >= 2 and live.feed.snapshots == 1  # resumed
            assert seqs == list(range(seqs[0], last["last_seq"] + 1))  # once each, in order
            a = live.store.get("a")
            assert a is not None and a.message_count == 2 and a.stage == "x"
            assert set(live_ids(hubs[-1], client.token or "")) == {
                s.id for s in live.store if s.is_live}
        finally:
            await live.stop()
            await scope.aclose()
            await client.aclose()
            for hub in hubs:
                hub.stop()
        assert feed_threads() == []
        live.deleteLater()

    qrun(scenario())


def test_a_listener_that_fails_ends_the_feed_task_with_its_error_and_the_thread(
    running_hub: Any, qrun: Any
) -> None:
    async def scenario() -> None:
        client = HubClient(running_hub.url)
        tasks: list[asyncio.Task[Any]] = []

        def spawn(coro: Any, name: str) -> asyncio.Task[Any]:
            task = asyncio.get_running_loop().create_task(coro, name=name)
            tasks.append(task)
            return task

        live = LiveViewModel(client, SessionTableModel(), spawn=spawn, metrics_poll_s=600.0,
                             feed_factory=threaded)

        def broken(*_: Any) -> None:
            raise ValueError("a bug in the listener")

        try:
            await client.login("supervisor", "supervisor")
            live.start()
            await wait_until(lambda: live.feed.state is ConnectionState.CONNECTED)
            live.on_event = broken  # type: ignore[method-assign]
            await asyncio.to_thread(ingest, running_hub, [started("a")])
            feed_task = tasks[0]
            await wait_until(feed_task.done)
            assert isinstance(feed_task.exception(), ValueError)
            assert feed_threads() == []
        finally:
            with contextlib.suppress(ValueError):  # stop() awaits the failed feed task
                await live.stop()
            await client.aclose()
        live.deleteLater()

    qrun(scenario())
