"""The live window against a real hub: rows appear, tick, end (marked), go on F5; the chat
follows the selected session; alerts appear in-window when there is no tray (offscreen)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QEvent, QPoint, QRect, QSettings, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget

import supervisor_desk.models.wire as wire
from supervisor_desk.client.rest import HubClient
from supervisor_desk.hub.embedded import EmbeddedHub
from supervisor_desk.views.detail_viewmodel import DetailViewModel
from supervisor_desk.views.gc_policy import GarbageCollectionPolicy
from supervisor_desk.views.live_viewmodel import LiveViewModel
from supervisor_desk.views.main_window import MainWindow
from supervisor_desk.views.notifications import Alert, NotificationCoalescer
from supervisor_desk.views.session_table_model import (
    EndedRole,
    SessionColumn,
    SessionTableModel,
)
from supervisor_desk.views.tray import TrayController
from tests.client.hub_events import ended, message, started
from tests.conftest import ingest
from tests.helpers import wait_until
from tests.views.conftest import EventsSeen, events_seen


class Spawner:
    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()

    def __call__(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def aclose(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def post(hub: EmbeddedHub, events: list[dict[str, Any]]) -> None:
    await asyncio.to_thread(ingest, hub, events)


class Desk:
    """The live parts of the app wired as app.py wires them (no sign-in dialog)."""

    def __init__(self, hub: EmbeddedHub, tmp_path: Path, qtbot: Any) -> None:
        self.hub = hub
        self.spawn = Spawner()
        self.model = SessionTableModel()
        self.settings = QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat)
        # Not handed to qtbot: pytest-qt closes its widgets before fixture teardown, and the
        # feed must stop (emitting its last state) while the window still exists.
        self.window = MainWindow(self.model, settings=self.settings)
        self.client = HubClient(hub.url)
        self.detail = DetailViewModel(self.client)
        self.tray = TrayController(self.window.notification_area, spawn=self.spawn,
                                   coalescer=NotificationCoalescer(min_interval=0.0))
        self.live: LiveViewModel | None = None

    async def start(self) -> LiveViewModel:
        await self.client.login("supervisor", "supervisor")
        live = LiveViewModel(self.client, self.model, spawn=self.spawn, frame_ms=30)
        w = self.window
        live.connection_changed.connect(lambda s, r, t: w.set_connection(s, t))
        live.metrics_changed.connect(w.set_metrics)
        live.sessions_started.connect(self.tray.sessions_started)
        live.sessions_ended.connect(self.tray.sessions_ended)
        live.message_received.connect(self.detail.on_message)
        live.session_updated.connect(self.detail.on_session)
        w.refresh_requested.connect(live.refresh)
        w.session_selected.connect(
            lambda s: (live.watch(s.id if s else None), self.detail.select(s.id if s else None))
        )
        self.detail.detail_loaded.connect(w.chat.set_detail)
        self.detail.detail_loaded.connect(
            lambda d: w.results_dock.set_session(d.session if d else None)
        )
        self.detail.message_appended.connect(w.chat.append_message)
        self.tray.start()
        self.window.show()
        live.start()
        self.live = live
        return live

    async def close(self) -> None:
        if self.live is not None:
            await self.live.stop()
        await self.detail.aclose()
        await self.tray.aclose()
        await self.spawn.aclose()
        await self.client.aclose()


@pytest.fixture
def desk(running_hub: EmbeddedHub, tmp_path: Path, qtbot: Any, qrun: Any) -> Iterator[Desk]:
    d = Desk(running_hub, tmp_path, qtbot)
    yield d
    qrun(d.close())
    d.window.allow_close()
    d.window.close()
    # Delete the QObjects here, on the Qt thread: left to Python's cyclic GC they could be
    # collected on an executor thread, where Qt cannot unregister their timers.
    for obj in (d.live, d.detail, d.tray, d.window):
        if obj is not None:
            obj.deleteLater()
    qtbot.wait(10)
    gc.collect()


def cell(model: SessionTableModel, sid: str, column: SessionColumn, role: int = 0) -> Any:
    return model.index(model.row_of(sid), column).data(role or Qt.ItemDataRole.DisplayRole)


def chat_texts(chat: Any) -> list[str]:
    """What the chat shows, one line per row ("who: text")."""
    return [str(chat.model.index(i, 0).data()) for i in range(chat.model.rowCount())]


def test_live_rows_appear_tick_end_and_go_on_refresh(desk: Desk, qrun: Callable[..., Any]) -> None:
    model = desk.model

    async def scenario() -> None:
        await post(desk.hub, [started("early", channel="whatsapp")])
        live = await desk.start()
        # The snapshot brings the session that existed before we connected.
        await wait_until(lambda: model.row_of("early") >= 0)
        await wait_until(lambda: desk.window.connection_pill.text() == "Connected")
        assert cell(model, "early", SessionColumn.CHANNEL) == "WhatsApp"
        # A live session appears without any user action …
        await post(desk.hub, [started("s-new", status="queued",
                                      queued_at="2026-01-01T00:00:00Z"), message("s-new", "hi")])
        await wait_until(lambda: model.row_of("s-new") >= 0)
        await wait_until(lambda: cell(model, "s-new", SessionColumn.MESSAGES) == "1")
        # … queued sessions lead the live order (longest wait first).
        assert model.row_of("s-new") == 0
        # … and its duration ticks: the text changes as seconds pass.
        first = cell(model, "early", SessionColumn.DURATION)
        await wait_until(lambda: cell(model, "early", SessionColumn.DURATION) != first, 5)
        # It ends: still on screen, marked with its end state.
        await post(desk.hub, [ended("s-new", status="failed", reason="error")])
        await wait_until(lambda: cell(model, "s-new", SessionColumn.STATE) == "Failed · error")
        assert cell(model, "s-new", SessionColumn.STATUS, EndedRole) is True
        assert cell(model, "s-new", SessionColumn.FINISH) != "---"
        # The metric cards follow the store.
        await wait_until(lambda: desk.window.metric_cards.cards["live"].value() == "1")
        # F5 (Refresh) removes it; the live one stays.
        QTest.keyClick(desk.window, Qt.Key.Key_F5)
        await wait_until(lambda: model.row_of("s-new") < 0)
        assert model.row_of("early") >= 0
        assert live.store.get("s-new") is None

    qrun(scenario())


def test_selected_session_shows_transcript_and_appends_live(
    desk: Desk, qrun: Callable[..., Any]
) -> None:
    async def scenario() -> None:
        await post(desk.hub, [started("chat-1"), message("chat-1", "Hello there")])
        await desk.start()
        await wait_until(lambda: desk.model.row_of("chat-1") >= 0)
        assert desk.window.table.select_session("chat-1")
        chat = desk.window.chat
        await wait_until(lambda: chat.message_count == 1)
        assert desk.window.results_dock.summary is not None
        assert desk.window.results_dock.summary.id == "chat-1"
        await post(desk.hub, [message("chat-1", "A live reply", role="ai")])
        await wait_until(lambda: chat.message_count == 2)
        # Another session's messages do not land in this chat. Sentinel: a message for this
        # session sent after them; once it is shown, theirs would have been too.
        await post(desk.hub, [started("other"), message("other", "not for you")])
        await post(desk.hub, [message("chat-1", "Still here", role="ai")])
        await wait_until(lambda: any("Still here" in text for text in chat_texts(chat)))
        assert not any("not for you" in text for text in chat_texts(chat))
        assert chat.message_count == 3

    qrun(scenario())


def test_alerts_for_new_sessions_in_window_never_for_the_snapshot(
    desk: Desk, qrun: Callable[..., Any]
) -> None:
    area = desk.window.notification_area

    async def scenario() -> None:
        await post(desk.hub, [started("before-1"), started("before-2")])
        await desk.start()
        await wait_until(lambda: desk.model.rowCount() == 2)
        # Sentinel: a session started now. Its alert comes after any the snapshot could raise,
        # and must be the only one: the snapshot is not news.
        await post(desk.hub, [started("fresh", user={"id": "u9", "name": "<b>Bob</b>"})])
        await wait_until(lambda: any(a.session_id == "fresh" for a in area.banners()))
        assert area.shown_count == 1
        [alert] = area.banners()
        assert alert.title == "New session"
        assert "<b>Bob</b>" in alert.body  # shown as plain text, never as markup
        assert alert.session_id == "fresh"
        # Clicking "Show" on the banner selects the session.
        desk.tray.session_requested.connect(desk.window.reveal_session)
        area.activated.emit("fresh")
        assert desk.window.table.selected_session() is not None
        assert desk.window.table.selected_session().id == "fresh"  # type: ignore[union-attr]

    qrun(scenario())


def test_banners_float_over_the_tables_corner_and_move_nothing(
    tmp_path: Path, qtbot: Any
) -> None:
    """A banner that comes, changes or goes leaves the table where it was (the row under
    the pointer stays under it) and covers only the table's bottom-left corner."""
    window = MainWindow(SessionTableModel(),
                        settings=QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.resize(1280, 720)
    window.show()
    qtbot.waitExposed(window)
    area = window.notification_area

    def in_window(widget: QWidget) -> QRect:
        return QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())

    qtbot.wait(50)  # the splitter's first sizes, once laid out
    table = in_window(window.table)
    area.show_alert(Alert("new", "New session", "Ann on Web with Sales bot", "s1", 1))
    area.show_alert(Alert("rule", "Negative sentiment", "Mei on Telegram: " + "not good " * 20,
                          "s2", 1, group="neg"))
    QApplication.processEvents()
    assert len(area.banners()) == 2 and area.isVisible()
    assert in_window(window.table) == table
    placed, pane = in_window(area), in_window(window.pages)
    assert placed.left() == pane.left() and placed.right() <= pane.right()
    assert pane.bottom() - 40 <= placed.bottom() and placed.top() > pane.top()
    # On top of the table: what shows at the banner's middle is the banner.
    middle = window.childAt(placed.center())
    assert middle is not None and area.isAncestorOf(middle)
    # A long body wraps within the area instead of pushing its buttons out of it.
    banners = area.findChildren(QWidget, "notificationBanner")
    assert len(banners) == 2
    assert all(area.rect().contains(banner.geometry()) for banner in banners)
    # Banners coming, changing and going lay out the area alone, never the window.
    with events_seen(QEvent.Type.LayoutRequest) as requests:
        area.show_alert(Alert("new", "New session", "Bob", "s3", 1))
        area.show_alert(Alert("rule", "Long wait", "Cid " * 40, "s4", 1, group="wait"))
        for _ in range(10):
            QApplication.processEvents()
        area._dismiss(area.findChildren(QWidget, "notificationBanner")[0])
        for _ in range(10):
            QApplication.processEvents()
    assert requests.objects
    assert not any(o is window or o is window.centralWidget() for o in requests.objects)
    assert in_window(window.table) == table
    # The area follows the window, at the table pane's left, never wider than the pane.
    window.resize(900, 600)
    QApplication.processEvents()
    placed, pane = in_window(area), in_window(window.pages)
    assert placed.left() == pane.left()
    assert placed.right() <= max(pane.right(), pane.left() + 320)
    assert placed.bottom() <= in_window(window.centralWidget()).bottom()
    # Gone, it leaves nothing over the table to catch a click.
    for banner in area.findChildren(QWidget, "notificationBanner"):
        area._dismiss(banner)
    QApplication.processEvents()
    assert area.banners() == [] and not area.isVisible()
    holder = area.parentWidget()
    assert holder is not None and holder.isHidden()
    under = window.childAt(placed.center())
    assert under is not None and not area.isAncestorOf(under)
    assert window.table.isAncestorOf(under)


def test_layout_persists_across_windows(tmp_path: Path, qtbot: Any) -> None:
    settings_path = str(tmp_path / "ui.ini")
    model = SessionTableModel()
    window = MainWindow(model, settings=QSettings(settings_path, QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.show()
    window.results_dock.hide()
    qtbot.waitExposed(window)
    window.splitter.setSizes([700, 300])
    window.table.set_column_visible(SessionColumn.USER, False)
    sizes = window.splitter.sizes()
    window.save_state()
    again = MainWindow(SessionTableModel(),
                       settings=QSettings(settings_path, QSettings.Format.IniFormat))
    qtbot.addWidget(again)
    again.show()
    qtbot.waitExposed(again)
    qtbot.waitUntil(lambda: abs(again.split_ratio() - sizes[0] / sum(sizes)) < 0.01)
    assert again.table.isColumnHidden(SessionColumn.USER)
    assert again.results_dock.isHidden()


def test_close_hides_to_tray_or_asks_to_quit(qtbot: Any) -> None:
    window = MainWindow(SessionTableModel())
    qtbot.addWidget(window)
    window.show()
    window.close_to_tray = True
    window.close()
    assert not window.isVisible()
    window.show()
    window.close_to_tray = False
    with qtbot.waitSignal(window.quit_requested, timeout=1000):
        window.close()
    window.allow_close()
    window.close()
    assert not window.isVisible()


def test_history_switch_appears_only_with_a_second_page(qtbot: Any) -> None:
    from PySide6.QtWidgets import QLabel

    window = MainWindow(SessionTableModel())
    qtbot.addWidget(window)
    window.show()
    assert not window.page_switch.isVisible()
    index = window.add_page("History", QLabel("history"))
    assert window.page_switch.isVisible()
    window.show_page(index)
    assert window.pages.currentIndex() == index
    window.reveal_session("nope")
    assert window.pages.currentIndex() == 0


def test_connection_state_shows_reconnecting_with_a_countdown(
    desk: Desk, qrun: Callable[..., Any]
) -> None:
    pill = desk.window.connection_pill

    async def scenario() -> None:
        live = await desk.start()
        live.feed.backoff_base = 2.0  # a countdown long enough to watch it move
        await wait_until(lambda: pill.text() == "Connected")
        await asyncio.to_thread(desk.hub.stop)
        await wait_until(lambda: pill.text().startswith(("Reconnecting in", "Hub unreachable")))
        assert pill.state in ("reconnecting", "unreachable")
        assert live.retry_in() is not None

    qrun(scenario())


def test_connection_texts() -> None:
    from supervisor_desk.client.feed import ConnectionState
    from supervisor_desk.views.live_viewmodel import connection_text

    assert connection_text(ConnectionState.CONNECTED, None, "") == "Connected"
    assert connection_text(ConnectionState.RECONNECTING, 4.2, "") == "Reconnecting in 4 s"
    assert connection_text(ConnectionState.UNREACHABLE, 12.0, "") == (
        "Hub unreachable — retrying in 12 s"
    )
    assert connection_text(ConnectionState.UNAUTHORIZED, None, "") == "Signed out"
    assert connection_text(None, None, "") == "Not connected"


def test_replayed_events_and_snapshots_raise_no_alerts(qtbot: Any) -> None:
    from datetime import UTC, datetime

    from supervisor_desk.models.wire import LiveSnapshot, SessionSummary, StoredEvent

    def summary(sid: str, status: str = "active", version: int = 1) -> dict[str, Any]:
        return SessionSummary.model_validate({
            "id": sid, "agent": {"id": "a", "name": "Bot"}, "channel": "web", "status": status,
            "user": {"id": "u", "name": "Ann"}, "started_at": datetime.now(UTC),
            "version": version, **({"ended_at": datetime.now(UTC)} if status != "active" else {}),
        }).model_dump(mode="json")

    def event(n: int, sid: str, kind: str, status: str = "active", v: int = 1) -> StoredEvent:
        return StoredEvent.model_validate({"id": f"e{n}", "type": kind, "session_id": sid,
                                           "at": datetime.now(UTC).isoformat(),
                                           "data": summary(sid, status, v)})

    model = SessionTableModel()
    live = LiveViewModel(HubClient("http://127.0.0.1:9"), model, spawn=lambda c, n: c.close())
    started: list[list[Any]] = []
    ended: list[list[Any]] = []
    live.sessions_started.connect(started.append)
    live.sessions_ended.connect(ended.append)
    live.on_snapshot(LiveSnapshot.model_validate(
        {"epoch": "e", "seq": 3, "sessions": [summary("snap")]}))
    live.on_event(4, event(4, "old", "session.started"), True)  # happened while we were away
    live.on_event(5, event(5, "snap", "session.ended", "completed", 2), True)
    live.flush()
    assert started == [] and ended == []
    assert model.row_of("old") >= 0  # replayed state still reaches the table
    live.on_event(6, event(6, "new", "session.started"), False)
    live.on_event(7, event(7, "old", "session.ended", "failed", 2), False)
    live.flush()
    assert [s.id for s in started[0]] == ["new"]
    assert [s.id for s in ended[0]] == ["old"]
    live.deleteLater()


def test_snapshot_freezes_long_lived_objects_when_asked(qapp: Any) -> None:
    """The app process freezes the snapshot's objects so full GC passes don't stall frames."""
    model = SessionTableModel()
    policy = GarbageCollectionPolicy()
    live = LiveViewModel(HubClient("http://127.0.0.1:9"), model, spawn=lambda c, n: c.close(),
                         gc_policy=policy)
    gc.unfreeze()
    try:
        live.on_snapshot(wire.LiveSnapshot(epoch="e", seq=0, sessions=[]))
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        live.deleteLater()


def test_frames_refreeze_what_survived_every_few_seconds(qapp: Any) -> None:
    """Session versions kept after the snapshot join the frozen objects every few seconds, so
    a full GC pass never walks minutes of feed (one took 470 ms at 10,000 sessions)."""
    from datetime import UTC, datetime

    def event(n: int, sid: str) -> wire.StoredEvent:
        return wire.StoredEvent.model_validate({
            "id": f"e{n}", "type": "session.started", "session_id": sid,
            "at": datetime.now(UTC).isoformat(),
            "data": {"id": sid, "agent": {"id": "a", "name": "Bot"}, "channel": "web",
                     "status": "active", "user": {"id": "u", "name": "Ann"},
                     "started_at": datetime.now(UTC).isoformat(), "version": 1}})

    now = [100.0]
    policy = GarbageCollectionPolicy(monotonic=lambda: now[0])
    live = LiveViewModel(HubClient("http://127.0.0.1:9"), SessionTableModel(),
                         spawn=lambda c, n: c.close(), gc_policy=policy)
    gc.unfreeze()
    try:
        live.on_snapshot(wire.LiveSnapshot(epoch="e", seq=0, sessions=[]))
        gc.unfreeze()
        live.on_event(1, event(1, "b"), False)
        live.flush()
        assert gc.get_freeze_count() == 0  # not yet: the interval has not passed
        now[0] += policy.refreeze_s
        live.on_event(2, event(2, "c"), False)
        live.flush()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        live.deleteLater()


def test_start_at_login_menu_toggle_writes_and_removes_the_autostart_entry(
        qtbot: Any) -> None:
    from supervisor_desk.client import autostart

    window = MainWindow(SessionTableModel())
    qtbot.addWidget(window)
    action = window.autostart_action
    assert action in window.file_menu.actions()
    assert not action.isChecked() and not autostart.entry_path().exists()
    action.trigger()  # what a click on the menu item does
    assert autostart.is_enabled() and autostart.entry_path().exists()
    again = MainWindow(SessionTableModel())
    qtbot.addWidget(again)
    assert again.autostart_action.isChecked()  # read back on the next start
    action.trigger()
    assert not autostart.entry_path().exists()


def test_open_recent_lists_files_greys_missing_ones_and_clears(
        qtbot: Any, tmp_path: Path) -> None:
    window = MainWindow(SessionTableModel())
    qtbot.addWidget(window)
    present = tmp_path / "week.jsonl"
    present.write_text("")
    missing = tmp_path / "gone.json"
    window.set_recent_files([str(present), str(missing)])
    actions = [a for a in window.recent_menu.actions() if not a.isSeparator()]
    assert [a.text().split("  —  ")[0] for a in actions] == [
        "week.jsonl", "gone.json (missing)", "Clear recent"]
    assert actions[0].isEnabled() and not actions[1].isEnabled()
    with qtbot.waitSignal(window.recent_file_requested) as opened:
        actions[0].trigger()
    assert opened.args == [str(present)]
    with qtbot.waitSignal(window.recent_cleared):
        actions[2].trigger()
    window.set_recent_files([])
    assert [a.text() for a in window.recent_menu.actions()] == ["No recent files"]


def test_selected_ended_session_stays_in_the_chat_after_refresh_marked(
    desk: Desk, qrun: Callable[..., Any]
) -> None:
    model = desk.model

    async def scenario() -> None:
        await post(desk.hub, [started("keep"), message("keep", "Hello from keep"),
                              started("other"), message("other", "Hello from other")])
        await desk.start()
        await wait_until(lambda: model.row_of("keep") >= 0 and model.row_of("other") >= 0)
        window = desk.window
        chat = window.chat
        assert window.table.select_session("keep")
        await wait_until(lambda: chat.message_count == 1 and desk.detail.session_id == "keep")
        await post(desk.hub, [ended("keep")])
        await wait_until(lambda: cell(model, "keep", SessionColumn.STATUS, EndedRole) is True)
        QTest.keyClick(window, Qt.Key.Key_F5)
        await wait_until(lambda: model.row_of("keep") < 0)
        # The chat still shows the session being read, marked; no neighbour was selected.
        assert desk.detail.session_id == "keep" and chat.message_count == 1
        assert chat.list_note_label.isVisible()
        assert chat.list_note_label.text() == "No longer in this list"
        assert window.table.selected_session() is None
        # Choosing another session is a choice again, and the mark goes with the old one.
        assert window.table.select_session("other")
        await wait_until(lambda: desk.detail.session_id == "other" and chat.message_count == 1)
        await wait_until(lambda: not chat.list_note_label.isVisible())

    qrun(scenario())


def test_a_new_count_in_the_status_bar_lays_nothing_out_and_reads_the_same(
    qtbot: Any, qapp: Any
) -> None:
    def shown() -> MainWindow:
        window = MainWindow(SessionTableModel())
        qtbot.addWidget(window)
        window.resize(1400, 800)
        window.show()
        qtbot.waitExposed(window)
        return window

    def settle() -> None:
        for _ in range(10):  # a layout request climbs one widget per turn of the loop
            qapp.processEvents()

    window = shown()
    counts = [f"{n} sessions on screen · {n % 4} ended (F5 to clear)" for n in range(40, 60)]
    for text in counts:  # the widest of them sizes the label
        window.set_status(text, "Live")
    settle()
    requests = EventsSeen(QEvent.Type.LayoutRequest)  # a label's new size asks its bar first
    bar = window.statusBar()
    qapp.installEventFilter(requests)
    try:
        for text in [*counts, "7 sessions on screen"]:
            window.set_status(text, "Live")
            settle()
        assert not any(o is bar for o in requests.objects)
    finally:
        qapp.removeEventFilter(requests)
    fresh = shown()
    fresh.set_status("7 sessions on screen", "Live")
    settle()
    assert window.statusBar().grab().toImage() == fresh.statusBar().grab().toImage()
    # Opaque in the bar's colour: a new count repaints the label alone, not the bar and
    # the window beneath it.
    with events_seen(QEvent.Type.Paint) as paints:
        window.set_status("8 sessions on screen", "Live")
        settle()
    assert paints.names == ["SteadyLabel:"]
