"""The Live list stays a live list: ended rows leave, Pause holds it still, the selection
never jumps to another customer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from supervisor_desk.client.rest import HubClient
from supervisor_desk.models.wire import LiveSnapshot, SessionSummary, StoredEvent
from supervisor_desk.views.live_viewmodel import LiveViewModel
from supervisor_desk.views.session_table_model import SessionColumn, SessionTableModel
from supervisor_desk.views.session_table_view import SessionTableView
from supervisor_desk.views.tasks import standalone_scope

NOW = datetime.now(UTC).replace(microsecond=0)


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def summary(sid: str, status: str = "active", version: int = 1, *, started: int = -60,
            queued: int | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": sid, "agent": {"id": "a", "name": "Bot"}, "channel": "web", "status": status,
        "user": {"id": f"u-{sid}", "name": f"Customer {sid}"},
        "started_at": NOW + timedelta(seconds=started), "version": version,
    }
    if queued is not None:
        data["queued_at"] = NOW + timedelta(seconds=queued)
    if status not in ("queued", "active"):
        data["ended_at"] = NOW
        data["end_reason"] = "resolved"
    return SessionSummary.model_validate(data).model_dump(mode="json")


class Feed:
    """Feeds the view-model as FeedClient does (no network: the hub is not asked)."""

    def __init__(self, live: LiveViewModel) -> None:
        self.live = live
        self.seq = 0

    def snapshot(self, *sessions: dict[str, Any]) -> None:
        self.live.on_snapshot(LiveSnapshot.model_validate(
            {"epoch": "e", "seq": self.seq, "sessions": list(sessions)}))

    def send(self, kind: str, data: dict[str, Any]) -> None:
        self.seq += 1
        self.live.on_event(self.seq, StoredEvent.model_validate({
            "id": f"e{self.seq}", "type": kind, "session_id": data["id"],
            "at": NOW.isoformat(), "data": data}), False)

    def end(self, sid: str, version: int = 2, status: str = "completed") -> None:
        self.send("session.ended", summary(sid, status, version))


@pytest.fixture
def clock() -> Monotonic:
    return Monotonic()


@pytest.fixture
def live(qapp: Any, clock: Monotonic) -> Any:
    model = SessionTableModel()
    vm = LiveViewModel(HubClient("http://127.0.0.1:9"), model,
                       tasks=standalone_scope("live"), monotonic=clock)
    yield vm
    vm.deleteLater()


def ids(model: SessionTableModel) -> list[str]:
    return [s.id for s in model.sessions()]


def test_ended_rows_leave_after_the_chosen_minutes(live: LiveViewModel, clock: Monotonic
                                                   ) -> None:
    feed = Feed(live)
    feed.snapshot(summary("a"), summary("b"), summary("q", "queued", queued=-5))
    feed.end("a")
    live.flush()
    assert ids(live.model) == ["q", "b", "a"]  # ended: below the live rows
    assert live.keep_ended_minutes == 2
    clock.now += 119
    live._expire_ended()
    assert "a" in ids(live.model)
    clock.now += 2
    live._expire_ended()
    assert ids(live.model) == ["q", "b"] and live.store.get("a") is None
    # A late replay of the dropped session does not bring it back.
    feed.end("a")
    live.flush()
    assert "a" not in ids(live.model)


def test_zero_minutes_keeps_ended_rows_until_refresh(live: LiveViewModel, clock: Monotonic
                                                     ) -> None:
    feed = Feed(live)
    feed.snapshot(summary("a"), summary("b"))
    with_signal: list[int] = []
    live.keep_ended_minutes_changed.connect(with_signal.append)
    live.set_keep_ended_minutes(0)
    assert with_signal == [0]
    feed.end("a")
    live.flush()
    clock.now += 24 * 3600
    live._expire_ended()
    assert "a" in ids(live.model)
    assert live.refresh() == 1
    assert ids(live.model) == ["b"]


def test_hide_ended_takes_ended_rows_out_and_back(live: LiveViewModel) -> None:
    feed = Feed(live)
    feed.snapshot(summary("a"), summary("b"))
    feed.end("a")
    live.flush()
    live.set_hide_ended(True)
    assert ids(live.model) == ["b"]
    feed.end("b")
    live.flush()
    assert ids(live.model) == []
    live.set_hide_ended(False)
    assert sorted(ids(live.model)) == ["a", "b"]


def test_pause_holds_the_table_and_resume_applies_what_arrived(live: LiveViewModel) -> None:
    feed = Feed(live)
    feed.snapshot(summary("a"), summary("b"))
    waiting: list[int] = []
    live.waiting_changes_changed.connect(waiting.append)
    updated: list[str] = []
    live.session_updated.connect(lambda s: updated.append(s.id))
    live.set_paused(True)
    assert live.paused
    feed.send("session.started", summary("c", "queued", queued=0))
    feed.end("a")
    feed.send("session.updated", summary("b", version=2) | {"team": "Billing"})
    live.flush()
    assert ids(live.model) == ["a", "b"]  # nothing moved
    assert live.waiting_changes == 3 and waiting[-1] == 3
    # The store, the cards and an open chat still follow the feed.
    assert live.metrics().queued == 1 and "a" in updated
    live.set_paused(False)
    assert live.waiting_changes == 0
    assert ids(live.model) == ["c", "b", "a"]
    assert live.model.session_at(live.model.row_of("b")).team == "Billing"  # type: ignore[union-attr]


def test_a_reload_while_paused_waits_for_resume(live: LiveViewModel) -> None:
    feed = Feed(live)
    feed.snapshot(summary("a"))
    live.set_paused(True)
    feed.snapshot(summary("a"), summary("z"))
    assert ids(live.model) == ["a"] and live.waiting_changes == 2
    live.set_hide_ended(True)  # an option changed while paused applies on resume
    live.set_paused(False)
    assert sorted(ids(live.model)) == ["a", "z"]


def test_refresh_while_paused_shows_what_waited(live: LiveViewModel) -> None:
    feed = Feed(live)
    feed.snapshot(summary("a"), summary("b"))
    live.set_paused(True)
    feed.end("a")
    feed.send("session.started", summary("n"))
    live.flush()
    live.refresh()
    assert live.paused and live.waiting_changes == 0
    assert sorted(ids(live.model)) == ["b", "n"]


def test_nothing_expires_while_paused(live: LiveViewModel, clock: Monotonic) -> None:
    feed = Feed(live)
    feed.snapshot(summary("a"), summary("b"))
    feed.end("a")
    live.flush()
    live.set_paused(True)
    clock.now += 3600
    live._expire_ended()
    assert "a" in ids(live.model)
    live.set_paused(False)
    assert "a" not in ids(live.model)


def test_selected_session_that_leaves_the_table_stays_selected_elsewhere(
    live: LiveViewModel, qtbot: Any
) -> None:
    view = SessionTableView()
    qtbot.addWidget(view)
    view.setModel(live.model)
    feed = Feed(live)
    feed.snapshot(summary("a", started=-300), summary("b", started=-200),
                  summary("c", started=-100))
    chosen: list[Any] = []
    left: list[Any] = []
    view.session_selected.connect(chosen.append)
    view.selection_left.connect(left.append)
    assert view.select_session("b")
    assert [s.id for s in chosen] == ["b"]
    # A re-sort and a reload keep it.
    live.model.sort(SessionColumn.USER, view.horizontalHeader().sortIndicatorOrder())
    feed.snapshot(summary("a", started=-300), summary("b", started=-200),
                  summary("c", started=-100), summary("d"))
    live.flush()
    assert view.selected_session().id == "b"  # type: ignore[union-attr]
    # It ends and F5 removes it: no neighbour takes its place.
    feed.end("b", version=3)
    live.flush()
    live.refresh()
    assert [s.id for s in chosen] == ["b"]
    assert [s.id for s in left] == ["b"]
    assert view.selected_session() is None and not view.selectionModel().hasSelection()
    # The next click is a choice again.
    assert view.select_session("c")
    assert [s.id for s in chosen] == ["b", "c"]


def test_view_options_drive_the_list_and_persist(live: LiveViewModel, qtbot: Any) -> None:
    from PySide6.QtWidgets import QMainWindow, QMenu

    from supervisor_desk.client.settings import Preferences
    from supervisor_desk.views.live_options import PAUSE_SHORTCUT, LiveListOptions

    window = QMainWindow()
    qtbot.addWidget(window)
    options = LiveListOptions(live.model, window)
    menu = QMenu(window)
    options.add_to_menu(menu)
    titles = [a.text() for a in menu.actions()]
    assert "Pause live updates" in titles and "Hide ended sessions" in titles
    assert options.pause_action.shortcut().toString() == PAUSE_SHORTCUT
    assert "Update once a second (saves power)" in titles
    assert options.each_second  # on by default
    prefs = Preferences.model_validate({"live_keep_ended_minutes": 0, "live_hide_ended": True,
                                        "live_started_display": "relative",
                                        "live_each_second": False})
    saved: list[bool] = []
    options.preferences_changed.connect(lambda: saved.append(True))
    options.apply_preferences(prefs)
    assert saved == []  # reading preferences back is not a change
    assert options.keep_ended_actions[0].isChecked()
    assert not options.each_second
    assert live.model.started_display == "relative"
    options.bind(live)
    assert live.keep_ended_minutes == 0 and live.hide_ended
    feed = Feed(live)
    feed.snapshot(summary("a"), summary("b"))
    # Pause from the menu (or its shortcut): the banner says what waits; Resume applies it.
    options.pause_action.trigger()
    assert live.paused and not options.banner.isHidden()
    feed.send("session.started", summary("c"))
    live.flush()
    assert options.banner.text() == "Live updates paused — 1 change waiting"
    feed.send("session.started", summary("d"))
    live.flush()
    assert options.banner.text() == "Live updates paused — 2 changes waiting"
    options.banner.resume_button.click()
    assert not live.paused and options.banner.isHidden()
    assert not options.pause_action.isChecked()
    assert sorted(ids(live.model)) == ["a", "b", "c", "d"]
    options.keep_ended_actions[5].trigger()
    options.started_actions["clock"].trigger()
    options.hide_ended_action.trigger()
    assert saved and live.keep_ended_minutes == 5 and not live.hide_ended
    saved.clear()
    options.each_second_action.trigger()
    assert saved and options.each_second
    mine = Preferences(live_each_second=False)
    options.write_preferences(mine)
    assert (mine.live_keep_ended_minutes, mine.live_hide_ended, mine.live_started_display,
            mine.live_each_second) == (5, False, "clock", True)
    again = Preferences.model_validate_json(mine.model_dump_json())
    assert again.live_keep_ended_minutes == 5
    options.bind(None)  # signed out
    assert not options.pause_action.isChecked()


def test_total_card_follows_new_sessions_without_waiting_for_the_poll(
    running_hub: Any, qrun: Any
) -> None:
    import asyncio

    from tests.client.hub_events import started
    from tests.conftest import ingest
    from tests.helpers import wait_until

    async def scenario() -> None:
        client = HubClient(running_hub.url)
        scope = standalone_scope("live")
        live = LiveViewModel(client, SessionTableModel(), tasks=scope, metrics_poll_s=600.0)
        cards: list[Any] = []
        live.metrics_changed.connect(cards.append)
        asked = 0
        ask_hub = client.metrics

        async def counted_metrics() -> Any:
            nonlocal asked
            asked += 1
            return await ask_hub()

        client.metrics = counted_metrics  # type: ignore[method-assign]
        try:
            await client.login("supervisor", "supervisor")
            await asyncio.to_thread(ingest, running_hub, [started("first")])
            live.start()
            await wait_until(lambda: live.metrics().total == 1 and live.model.rowCount() == 1)
            await asyncio.to_thread(ingest, running_hub, [started("second"), started("third")])
            # The poll is 10 minutes away: the feed's new sessions count at once, and the hub
            # is not asked again for them (one request a second on a busy floor).
            await wait_until(lambda: live.model.rowCount() == 3 and cards[-1].total == 3,
                             timeout=8.0)
            assert live.metrics().live == 3
            assert cards[-1].recent_24h == 3
            assert asked == 1
        finally:
            await live.stop()
            await scope.aclose()
            await client.aclose()
            live.deleteLater()

    qrun(scenario())


def test_cards_move_with_the_clock_tick_and_need_no_timer_of_their_own_while_it_ticks(
        live: LiveViewModel, clock: Monotonic) -> None:
    from PySide6.QtCore import QTimer

    feed = Feed(live)
    cards: list[Any] = []
    live.metrics_changed.connect(cards.append)
    feed.snapshot(summary("a"))
    live.tick()  # the app's clock ticks the cards on screen
    shown = len(cards)
    clock.now += 0.3
    feed.send("session.started", summary("b"))
    live.flush()
    # Within the second: the next tick shows it; nothing else is armed to wake the app.
    assert len(cards) == shown
    assert [t for t in live.findChildren(QTimer) if t.isActive()] == []
    clock.now += 0.7
    live.tick()
    assert cards[-1].live == 2

    # The cards' clock stopped (their page left the screen): a frame's one shot shows them.
    clock.now += 2.0
    feed.end("b")
    live.flush()
    assert cards[-1].live == 1
    clock.now += 0.2
    feed.send("session.started", summary("c"))
    live.flush()
    assert [t for t in live.findChildren(QTimer) if t.isActive()] != []
