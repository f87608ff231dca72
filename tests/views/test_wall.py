"""The Wall as a supervisor uses it: which sessions fill the tiles, live messages, a session
that ends fading and then making room, clicks that open a session, a 3x3 grid."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from supervisor_desk.models.filters import SessionFilter
from supervisor_desk.models.markers import format_time
from supervisor_desk.models.wire import Message, SessionDetail, SessionSummary
from supervisor_desk.views.tasks import standalone_scope
from supervisor_desk.views.wall.viewmodel import (
    KEEP_TILE_ROWS,
    MAX_TILE_ROWS,
    REPLACE_AFTER_S,
    WallViewModel,
)
from supervisor_desk.views.wall.window import WallWindow
from tests.helpers import wait_until

NOW = datetime.now(UTC).replace(microsecond=0)


def summary(sid: str, status: str = "active", waited_min: int = 0, channel: str = "web",
            version: int = 1) -> SessionSummary:
    # Now at call time, not at import: a long run collects this module minutes before.
    now = datetime.now(UTC).replace(microsecond=0)
    started = now - timedelta(minutes=waited_min + 1)
    data: dict[str, Any] = {
        "id": sid, "agent": {"id": "bot", "name": "Billing bot"}, "channel": channel,
        "status": status, "user": {"id": f"u-{sid}", "name": f"Customer {sid}"},
        "started_at": started.isoformat(), "version": version,
    }
    if status == "queued":
        data["queued_at"] = started.isoformat()
    if status not in ("queued", "active"):
        data["ended_at"] = now.isoformat()
    return SessionSummary.model_validate(data)


def message(sid: str, n: int) -> Message:
    return Message.model_validate({
        "id": f"{sid}-m{n}", "session_id": sid, "seq": n, "at": NOW.isoformat(),
        "author": {"role": "customer"}, "text": f"hello {n}"})


class World:
    def __init__(self) -> None:
        self.sessions: dict[str, SessionSummary] = {}
        self.loads: list[str] = []

    async def load(self, sid: str) -> SessionDetail:
        self.loads.append(sid)
        return SessionDetail(session=self.sessions[sid], messages=[message(sid, 1)])


def _wall(qtbot: QtBot, world: World) -> tuple[WallViewModel, WallWindow]:
    vm = WallViewModel(standalone_scope("wall-test"))
    vm.sessions = lambda: list(world.sessions.values())
    vm.loader = world.load
    window = WallWindow(vm)
    qtbot.addWidget(window)
    window.show()
    return vm, window


def test_longest_waiting_fill_a_3x3_wall_and_follow_live(
    qtbot: QtBot, qrun: Callable[..., Any]
) -> None:
    world = World()
    for i in range(12):
        s = summary(f"s{i:02d}", "queued" if i < 3 else "active", waited_min=i)
        world.sessions[s.id] = s
    vm, window = _wall(qtbot, world)
    vm.reselect()
    ids = [t.session_id for t in vm.tiles if t is not None]
    assert len(vm.tiles) == 9 and len(window.tiles) == 9 and vm.columns() == 3
    assert ids[:3] == ["s02", "s01", "s00"]  # the longest-waiting customers first
    assert "Customer s02" in window.tiles[0].header.full_text
    assert "waiting 3" in window.tiles[0].header.full_text
    # Long headers are cut to the tile, so nine tiles fit a 1280-pixel screen.
    assert window.minimumSizeHint().width() <= 1280
    window.resize(1280, 696)
    assert window.tiles[2].geometry().right() < window.width()

    async def loaded() -> None:
        await wait_until(lambda: all(t is not None and t.loaded for t in vm.tiles))

    qrun(loaded())
    first = vm.tiles[0]
    assert first is not None and first.model.rowCount() == 1

    async def follow() -> None:
        vm.on_messages([message("s02", 1), message("s02", 2), message("zz", 1)])
        # Each tile takes its messages in a turn of its own.
        await wait_until(lambda: first.model.rowCount() == 2)
        vm.on_messages([message("s02", n) for n in range(3, 3 + MAX_TILE_ROWS)])
        await wait_until(lambda: first.model.rowCount() == KEEP_TILE_ROWS)

    qrun(follow())  # the already-loaded message is not doubled
    rows = first.model.rows()
    assert len(rows) == KEEP_TILE_ROWS  # a busy tile keeps its recent conversation
    assert rows[-1].message is not None and rows[-1].message.id == f"s02-m{2 + MAX_TILE_ROWS}"

    # Times follow the app's time-zone preference, as in the main window's chat.
    honolulu = ZoneInfo("Pacific/Honolulu")
    vm.set_time_zone(honolulu)
    last = first.model.row_at(first.model.rowCount() - 1)
    assert last.message is not None
    footer = window.tiles[0].transcript.chat_delegate.layout(last).footer
    assert footer == format_time(last.message.at, honolulu)

    vm.layout_name = "2x2"
    vm.reselect()
    assert len(window.tiles) == 4 and vm.columns() == 2


def test_an_ended_session_fades_then_makes_room(qtbot: QtBot, qrun: Callable[..., Any]) -> None:
    world = World()
    for sid in ("a", "b"):
        world.sessions[sid] = summary(sid)
    vm, window = _wall(qtbot, world)
    clock = [100.0]
    vm.monotonic = lambda: clock[0]
    vm.layout_name = "2x2"
    vm.reselect()
    assert {t.session_id for t in vm.tiles if t is not None} == {"a", "b"}
    index = next(i for i, t in enumerate(vm.tiles) if t is not None and t.session_id == "a")
    ended = summary("a", "completed", version=2)
    world.sessions["a"] = ended
    world.sessions["c"] = summary("c")
    vm.on_session(ended)
    assert window.tiles[index].faded
    assert "completed" in window.tiles[index].header.full_text
    vm._on_tick_timeout()
    still = vm.tiles[index]
    assert still is not None and still.session_id == "a"  # still fading
    clock[0] += REPLACE_AFTER_S + 0.1
    vm._on_tick_timeout()
    assert "a" not in {t.session_id for t in vm.tiles if t is not None}
    assert "c" in {t.session_id for t in vm.tiles if t is not None}
    assert not window.tiles[index].faded  # its replacement is live

    async def settle() -> None:
        await wait_until(lambda: all(t is None or t.loaded for t in vm.tiles))

    qrun(settle())


def test_pinned_and_filtered_sessions_and_a_click_opens_one(
    qtbot: QtBot, qrun: Callable[..., Any]
) -> None:
    world = World()
    for i, channel in enumerate(("web", "phone", "email")):
        world.sessions[f"p{i}"] = summary(f"p{i}", channel=channel)
    vm, window = _wall(qtbot, world)
    vm.layout_name = "auto"
    vm.pin("p1")
    vm.set_mode("pinned")
    assert [t.session_id for t in vm.tiles if t is not None] == ["p1"]
    vm.set_filter(SessionFilter(channel=("web", "email")))
    vm.set_mode("filter")
    assert sorted(t.session_id for t in vm.tiles if t is not None) == ["p0", "p2"]
    # A saved History view chosen on the wall, then History's filter again.
    window.set_saved_filters({"Phones": SessionFilter(channel=("phone",))})
    window.mode_combo.setCurrentIndex(window.mode_combo.findText("View: Phones"))
    assert [t.session_id for t in vm.tiles if t is not None] == ["p1"]
    vm.set_filter(SessionFilter(channel=("email",)))  # History moves: the saved view holds
    assert [t.session_id for t in vm.tiles if t is not None] == ["p1"]
    window.mode_combo.setCurrentIndex(window.mode_combo.findData("filter"))
    assert [t.session_id for t in vm.tiles if t is not None] == ["p2"]
    # With open alerts: only those sessions, each header saying its alert.
    vm.alerting = lambda: {"p0"}
    vm.alert_state = lambda sid: "critical" if sid == "p0" else None
    window.mode_combo.setCurrentIndex(window.mode_combo.findData("alerts"))
    assert [t.session_id for t in vm.tiles if t is not None] == ["p0"]
    assert window.tiles[0].header.full_text.endswith("· critical alert")

    clicked: list[str] = []
    window.session_clicked.connect(clicked.append)
    tile = window.tiles[0]
    QTest.mouseClick(tile.header, Qt.MouseButton.LeftButton, pos=QPoint(5, 5))
    QTest.mouseClick(tile, Qt.MouseButton.LeftButton, pos=QPoint(3, 3))
    assert clicked and clicked[-1] == tile.session_id

    async def settle() -> None:
        await wait_until(lambda: all(t is None or t.loaded for t in vm.tiles))

    qrun(settle())


def test_a_wall_nobody_sees_chooses_and_loads_nothing_until_it_shows(
    qtbot: QtBot, qrun: Callable[..., Any]
) -> None:
    """Closed (or minimised), the Wall does no work per frame; shown, it is current at once."""
    from supervisor_desk.views.clock import on_screen, screen_clock

    world = World()
    vm = WallViewModel(standalone_scope("wall-test"))
    vm.sessions = lambda: list(world.sessions.values())
    vm.loader = world.load
    window = WallWindow(vm)
    qtbot.addWidget(window)
    vm.on_screen = lambda: on_screen(window)
    screen_clock().subscribe(window, vm.tick)  # as the app does
    for i in range(5):
        s = summary(f"s{i}", "queued", waited_min=i)
        world.sessions[s.id] = s
        vm.on_sessions([s])  # the live frames while the Wall is closed
    assert vm.tiles == [] and world.loads == []

    window.show()  # its first paint already shows the longest-waiting customers
    assert [t.session_id for t in vm.tiles if t is not None][:2] == ["s4", "s3"]

    async def loaded() -> None:
        await wait_until(lambda: sorted(world.loads) == [f"s{i}" for i in range(5)])

    qrun(loaded())
    window.hide()
    screen_clock().unsubscribe(window)
