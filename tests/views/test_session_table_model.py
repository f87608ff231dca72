"""SessionTableModel: what a supervisor sees in each cell, the live orders, sorting, ticking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from PySide6.QtCore import QSettings, Qt

from supervisor_desk.models.wire import SessionSummary
from supervisor_desk.views.session_table_model import (
    EndedRole,
    LiveOrder,
    ObjectRole,
    SessionColumn,
    SessionTableModel,
    SortRole,
)
from supervisor_desk.views.session_table_view import SessionTableView

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def make(
    sid: str,
    *,
    status: str = "active",
    started: int = 0,
    queued: int | None = None,
    accepted: int | None = None,
    ended: int | None = None,
    version: int = 1,
    channel: str = "web",
    messages: int = 0,
    **extra: Any,
) -> SessionSummary:
    data: dict[str, Any] = {
        "id": sid,
        "agent": {"id": "a1", "name": "Sales bot"},
        "channel": channel,
        "modality": "chat",
        "status": status,
        "user": {"id": f"u-{sid}", "name": f"User {sid}"},
        "started_at": T0 + timedelta(seconds=started),
        "message_count": messages,
        "version": version,
    }
    if queued is not None:
        data["queued_at"] = T0 + timedelta(seconds=queued)
    if accepted is not None:
        data["accepted_at"] = T0 + timedelta(seconds=accepted)
    if ended is not None:
        data["ended_at"] = T0 + timedelta(seconds=ended)
        data.setdefault("end_reason", "user_disconnect")
    data.update(extra)
    return SessionSummary.model_validate(data)


def ids(model: SessionTableModel) -> list[str]:
    return [model.session_at(r).id for r in range(model.rowCount())]  # type: ignore[union-attr]


def cell(model: SessionTableModel, row: int, column: SessionColumn, role: int = 0) -> Any:
    return model.data(model.index(row, column), role or Qt.ItemDataRole.DisplayRole)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def model(clock: Clock) -> SessionTableModel:
    return SessionTableModel(clock=clock, time_zone=UTC)



def test_cells_show_what_the_design_lists(model: SessionTableModel, clock: Clock) -> None:
    s = make(
        "0123456789abcdef",
        channel="whatsapp",
        status="queued",
        queued=0,
        messages=7,
        team="Billing",
        location={"ip": "10.0.0.7", "country_code": "DE", "country": "Germany", "city": "Berlin"},
        responsible={"kind": "unassigned"},
        last_message_at=T0 + timedelta(seconds=30),
    )
    model.set_sessions([s])
    clock.now = T0 + timedelta(minutes=3, seconds=45)
    assert cell(model, 0, SessionColumn.ID) == "01234567…"
    assert cell(model, 0, SessionColumn.ID, Qt.ItemDataRole.ToolTipRole) == s.id
    assert cell(model, 0, SessionColumn.ID, Qt.ItemDataRole.FontRole).fixedPitch()
    assert cell(model, 0, SessionColumn.AGENT) == "Sales bot"
    assert cell(model, 0, SessionColumn.AGENT, Qt.ItemDataRole.ToolTipRole) == "Sales bot · chat"
    assert not cell(model, 0, SessionColumn.AGENT, Qt.ItemDataRole.DecorationRole).isNull()
    assert cell(model, 0, SessionColumn.CHANNEL) == "WhatsApp"
    assert not cell(model, 0, SessionColumn.CHANNEL, Qt.ItemDataRole.DecorationRole).isNull()
    assert cell(model, 0, SessionColumn.RESPONSIBLE) == "Unassigned"
    assert cell(model, 0, SessionColumn.USER) == "User 0123456789abcdef"
    assert cell(model, 0, SessionColumn.TEAM) == "Billing"
    assert cell(model, 0, SessionColumn.START) == "12:00:00"
    assert cell(model, 0, SessionColumn.WAIT) == "3m 45s"
    assert cell(model, 0, SessionColumn.DURATION) == "3m 45s"
    assert cell(model, 0, SessionColumn.LAST_MESSAGE) == "12:00:30"
    assert cell(model, 0, SessionColumn.MESSAGES) == "7"
    assert cell(model, 0, SessionColumn.COUNTRY) == "DE"
    assert cell(model, 0, SessionColumn.COUNTRY, Qt.ItemDataRole.ToolTipRole) == (
        "Germany, Berlin (DE)")
    flag = cell(model, 0, SessionColumn.COUNTRY, Qt.ItemDataRole.DecorationRole)
    assert flag is not None and not flag.isNull()
    assert cell(model, 0, SessionColumn.IP) == "10.0.0.7"
    assert cell(model, 0, SessionColumn.FINISH) == "---"
    assert cell(model, 0, SessionColumn.STATE) == "Live · queued"
    assert cell(model, 0, SessionColumn.STATUS, ObjectRole) is s
    assert cell(model, 0, SessionColumn.STATUS, EndedRole) is False
    # Every cell can be selected (a row at a time, by the view), none edited or expanded.
    flags = model.flags(model.index(0, SessionColumn.USER))
    assert flags & Qt.ItemFlag.ItemIsSelectable and flags & Qt.ItemFlag.ItemIsEnabled
    assert not flags & Qt.ItemFlag.ItemIsEditable
    assert model.flags(model.index(0, 0).parent()) == Qt.ItemFlag.NoItemFlags


def test_header_data(model: SessionTableModel) -> None:
    headers = [
        model.headerData(c, Qt.Orientation.Horizontal, Qt.ItemDataRole.DisplayRole)
        for c in SessionColumn
    ]
    assert headers[SessionColumn.ID] == "Session"
    assert headers[SessionColumn.DURATION] == "Wait / talk"
    assert headers[SessionColumn.FINISH] == "Finish time"
    assert model.headerData(0, Qt.Orientation.Vertical, Qt.ItemDataRole.DisplayRole) is None
    assert model.columnCount() == len(SessionColumn)


def test_responsible_names_ai_operator_or_unassigned(model: SessionTableModel) -> None:
    model.set_sessions([
        make("a", started=1),
        make("b", started=2, responsible={"kind": "human", "operator": {"id": "o", "name": "Ann"}}),
    ])
    by_id = {model.session_at(r).id: r for r in range(2)}  # type: ignore[union-attr]
    assert cell(model, by_id["a"], SessionColumn.RESPONSIBLE) == "AI"
    assert cell(model, by_id["a"], SessionColumn.WAIT) == ""  # never queued
    assert cell(model, by_id["b"], SessionColumn.RESPONSIBLE) == "Ann"


def test_priority_order_queued_by_longest_wait_then_active_by_longest_duration(
    model: SessionTableModel,
) -> None:
    model.set_sessions([
        make("act-new", started=50),
        make("q-new", status="queued", started=40, queued=40),
        make("act-old", started=10),
        make("q-old", status="queued", started=20, queued=20),
    ])
    assert ids(model) == ["q-old", "q-new", "act-old", "act-new"]
    # A new queued session joins the end of the queued group, a new active one the end.
    model.apply_changes([
        make("q-newest", status="queued", started=60, queued=60),
        make("act-newest", started=61),
    ])
    assert ids(model) == ["q-old", "q-new", "q-newest", "act-old", "act-new", "act-newest"]
    # Accepting a queued session moves it into the active group by its acceptance time.
    model.apply_changes([make("q-old", status="active", started=20, queued=20, accepted=55,
                              version=2)])
    assert ids(model) == ["q-new", "q-newest", "act-old", "act-new", "q-old", "act-newest"]


def test_arrival_order_puts_new_sessions_at_the_bottom(model: SessionTableModel) -> None:
    model.set_live_order(LiveOrder.ARRIVAL)
    model.set_sessions([make("b", started=2), make("a", status="queued", started=1, queued=1)])
    assert ids(model) == ["a", "b"]
    model.apply_changes([make("c", status="queued", started=3, queued=3), make("d", started=4)])
    assert ids(model) == ["a", "b", "c", "d"]
    # A status change does not move anything in arrival order.
    model.apply_changes([make("a", status="active", started=1, queued=1, accepted=5, version=2)])
    assert ids(model) == ["a", "b", "c", "d"]


def test_ended_sessions_stay_marked_until_refresh(model: SessionTableModel) -> None:
    model.set_sessions([make("a", started=1), make("b", started=2), make("c", started=3)])
    model.apply_changes([make("b", status="completed", started=2, ended=30, version=2)])
    assert ids(model) == ["a", "c", "b"]  # below every live row
    row = model.row_of("b")
    assert cell(model, row, SessionColumn.STATE) == "Completed · user disconnect"
    assert cell(model, row, SessionColumn.FINISH) == "12:00:30"
    assert cell(model, row, SessionColumn.STATUS, EndedRole) is True
    assert cell(model, row, SessionColumn.DURATION) == "28s"
    assert cell(model, row, SessionColumn.AGENT, Qt.ItemDataRole.ForegroundRole) is not None
    assert model.remove_ended() == 1
    assert ids(model) == ["a", "c"]
    assert model.row_of("b") == -1
    assert model.remove_ended() == 0


def test_stale_versions_are_ignored(model: SessionTableModel) -> None:
    model.set_sessions([make("a", messages=5, version=3)])
    model.apply_changes([make("a", messages=1, version=2)])
    assert cell(model, 0, SessionColumn.MESSAGES) == "5"
    model.apply_changes([make("a", messages=9, version=4)])
    assert cell(model, 0, SessionColumn.MESSAGES) == "9"


def test_tick_updates_duration_text_of_visible_rows(
    model: SessionTableModel, clock: Clock, qtbot: Any
) -> None:
    model.set_sessions([make("a", started=0), make("b", started=30)])
    assert cell(model, model.row_of("a"), SessionColumn.DURATION) == "0s"
    clock.now = T0 + timedelta(hours=3, minutes=16, seconds=1)
    with qtbot.waitSignal(model.dataChanged) as blocker:
        model.tick(0, 1)
    top, bottom, roles = blocker.args
    assert (top.row(), bottom.row()) == (0, 1)
    assert top.column() == SessionColumn.START and bottom.column() == SessionColumn.DURATION
    assert roles == [Qt.ItemDataRole.DisplayRole]
    assert cell(model, model.row_of("a"), SessionColumn.DURATION) == "3h 16m 1s"
    assert cell(model, model.row_of("b"), SessionColumn.DURATION) == "3h 15m 31s"


def test_column_sort_and_duration_sorts_by_start(model: SessionTableModel) -> None:
    model.set_sessions([
        make("a", started=10, messages=3),
        make("b", started=5, messages=9),
        make("c", started=20, messages=1),
    ])
    model.sort(SessionColumn.MESSAGES, Qt.SortOrder.DescendingOrder)
    assert ids(model) == ["b", "a", "c"]
    model.sort(SessionColumn.DURATION, Qt.SortOrder.DescendingOrder)
    assert ids(model) == ["b", "a", "c"]  # longest first = earliest start
    model.sort(SessionColumn.DURATION, Qt.SortOrder.AscendingOrder)
    assert ids(model) == ["c", "a", "b"]
    assert cell(model, 0, SessionColumn.DURATION, SortRole) == (0, -(T0.timestamp() + 20))
    # New rows land in sorted position while a column sort is active.
    model.apply_changes([make("d", started=15)])
    assert ids(model) == ["c", "d", "a", "b"]
    model.sort(-1)
    assert ids(model) == ["b", "a", "d", "c"]  # back to the live order


def test_sort_keeps_selection(model: SessionTableModel, qtbot: Any) -> None:
    view = SessionTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    model.set_sessions([make("a", started=1, messages=2), make("b", started=2, messages=1)])
    assert view.select_session("a")
    model.sort(SessionColumn.MESSAGES, Qt.SortOrder.AscendingOrder)
    assert view.selected_session().id == "a"  # type: ignore[union-attr]
    assert view.currentIndex().row() == model.row_of("a") == 1


def test_model_passes_qtmodeltester_while_mutating(
    model: SessionTableModel, clock: Clock, qtmodeltester: Any
) -> None:
    # One tester, connected before the mutations: it re-checks the model on every signal.
    qtmodeltester.check(model, force_py=True)
    model.set_sessions([make(f"s{i}", started=i, status="queued" if i % 3 == 0 else "active",
                             queued=i if i % 3 == 0 else None) for i in range(40)])
    # Small batches: moves and inserts one by one.
    model.apply_changes([
        make("s3", status="active", started=3, queued=3, accepted=70, version=2),
        make("s5", status="failed", started=5, ended=80, version=2),
        make("new1", status="queued", started=90, queued=90),
    ])
    # A big batch takes the bulk path (one insert block + a layoutChanged).
    model.apply_changes([make(f"n{i}", started=100 + i) for i in range(100)])
    assert model.rowCount() == 141
    model.sort(SessionColumn.USER, Qt.SortOrder.DescendingOrder)
    model.remove_ended()
    clock.now = T0 + timedelta(minutes=5)
    model.tick(0, 10)
    assert model.rowCount() == 140
    # Scattered removals (expired or hidden rows), a time-column sort, relative start times.
    model.sort(SessionColumn.DURATION, Qt.SortOrder.DescendingOrder)
    model.remove_sessions(["s0", "n7", "n50", "n51", "ghost", "s39"])
    assert model.rowCount() == 135 and model.row_of("n50") < 0
    model.set_started_display("relative")
    model.sort(-1)
    model.apply_changes([make("n8", status="completed", started=108, ended=200, version=2)])
    assert model.row_of("n8") == model.rowCount() - 1  # ended: below every live row


def test_bulk_path_matches_incremental_order(clock: Clock) -> None:
    incremental = SessionTableModel(clock=clock)
    bulk = SessionTableModel(clock=clock)
    base = [make(f"s{i}", started=i) for i in range(10)]
    incremental.set_sessions(base)
    bulk.set_sessions(base)
    fresh = [
        make(f"x{i}", status="queued" if i % 2 else "active", started=20 + i,
             queued=20 + i if i % 2 else None)
        for i in range(70)
    ]
    for s in fresh:
        incremental.apply_changes([s])
    bulk.apply_changes(fresh)
    assert ids(incremental) == ids(bulk)


def test_header_layout_persists(model: SessionTableModel, qtbot: Any, tmp_path: Any) -> None:
    settings = QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat)
    view = SessionTableView(settings=settings)
    qtbot.addWidget(view)
    view.setModel(model)
    view.set_column_visible(SessionColumn.COUNTRY, False)
    view.setColumnWidth(SessionColumn.AGENT, 233)
    view.horizontalHeader().moveSection(
        view.horizontalHeader().visualIndex(SessionColumn.STATE), 1
    )
    view.save_layout()
    again = SessionTableView(settings=QSettings(str(tmp_path / "ui.ini"),
                                                QSettings.Format.IniFormat))
    qtbot.addWidget(again)
    again.setModel(SessionTableModel())
    assert again.isColumnHidden(SessionColumn.COUNTRY)
    assert again.columnWidth(SessionColumn.AGENT) == 233
    assert again.horizontalHeader().visualIndex(SessionColumn.STATE) == 1
    menu = again.build_header_menu()
    titles = {a.text(): a.isChecked() for a in menu.actions() if a.isCheckable()}
    assert titles["Country"] is False and titles["Agent"] is True


def test_header_click_cycles_sort_then_live_order(model: SessionTableModel, qtbot: Any) -> None:
    view = SessionTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    model.set_sessions([make("a", started=1, messages=2), make("b", started=2, messages=1)])
    view._on_header_section_clicked(SessionColumn.MESSAGES)
    assert ids(model) == ["b", "a"] and view.horizontalHeader().isSortIndicatorShown()
    view._on_header_section_clicked(SessionColumn.MESSAGES)
    assert ids(model) == ["a", "b"]
    view._on_header_section_clicked(SessionColumn.MESSAGES)
    assert model.sort_column == -1 and not view.horizontalHeader().isSortIndicatorShown()


def _seconds(text: str) -> int:
    total = 0
    for part in text.split():
        value, unit = int(part[:-1]), part[-1]
        total += value * {"h": 3600, "m": 60, "s": 1}[unit]
    return total


def test_wait_talk_column_is_monotonic_in_the_default_order(
    model: SessionTableModel, clock: Clock
) -> None:
    import random

    rng = random.Random(7)
    sessions = []
    for i in range(120):
        start = rng.randint(-7200, 0)
        kind = rng.choice(("queued", "active", "accepted", "ended"))
        if kind == "queued":
            sessions.append(make(f"q{i}", status="queued", started=start,
                                 queued=start + rng.randint(0, 30)))
        elif kind == "active":
            sessions.append(make(f"a{i}", started=start))
        elif kind == "accepted":
            sessions.append(make(f"w{i}", started=start, queued=start,
                                 accepted=start + rng.randint(0, 600)))
        else:
            sessions.append(make(f"e{i}", status="completed", started=start,
                                 ended=start + rng.randint(1, 900)))
    clock.now = T0 + timedelta(minutes=15)
    model.set_sessions(sessions)
    rows = [model.session_at(r) for r in range(model.rowCount())]
    shown = [_seconds(cell(model, r, SessionColumn.DURATION)) for r in range(len(rows))]
    groups = ["queued" if s.status == "queued" else "live" if s.is_live else "ended"
              for s in rows if s is not None]
    # Queued (longest wait first), then active (longest conversation first), then ended.
    assert groups == sorted(groups, key=("queued", "live", "ended").index)
    for group in ("queued", "live"):
        column = [v for v, g in zip(shown, groups, strict=True) if g == group]
        assert column == sorted(column, reverse=True), group
    # The tooltip carries the total time since the session started.
    accepted = next(r for r, s in enumerate(rows) if s is not None and s.id.startswith("w"))
    tip = cell(model, accepted, SessionColumn.DURATION, Qt.ItemDataRole.ToolTipRole)
    assert tip.startswith("Conversation (since accepted): ")
    assert "Total since the session started: " in tip


def test_started_reads_relative_or_clock_time_and_both_tick(
    model: SessionTableModel, clock: Clock, qtbot: Any
) -> None:
    model.set_sessions([make("a", started=0)])
    clock.now = T0 + timedelta(minutes=5, seconds=3)
    assert cell(model, 0, SessionColumn.START) == "12:00:00"
    with qtbot.waitSignal(model.dataChanged):
        model.set_started_display("relative")
    assert cell(model, 0, SessionColumn.START) == "5 minutes ago"
    assert cell(model, 0, SessionColumn.START, Qt.ItemDataRole.ToolTipRole).startswith(
        "2026-03-01 12:00:00")
    clock.now = T0 + timedelta(hours=2)
    with qtbot.waitSignal(model.dataChanged) as blocker:
        model.tick(0, 0)
    assert blocker.args[0].column() <= SessionColumn.START
    assert cell(model, 0, SessionColumn.START) == "2 hours ago"


def test_flow_and_stage_columns(model: SessionTableModel, qtbot: Any) -> None:
    model.set_sessions([
        make("a", stage="PROD", metadata={"flow": "billing", "flow_version": "v21"}),
        make("b"),
    ])
    row = model.row_of("a")
    assert cell(model, row, SessionColumn.FLOW) == "billing"
    assert cell(model, row, SessionColumn.FLOW, Qt.ItemDataRole.ToolTipRole) == "billing (v21)"
    assert cell(model, row, SessionColumn.STAGE) == "PROD"
    assert cell(model, model.row_of("b"), SessionColumn.FLOW) == ""
    view = SessionTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    # Off by default, offered in the Columns menu.
    assert view.isColumnHidden(SessionColumn.FLOW) and view.isColumnHidden(SessionColumn.STAGE)
    menu = view.build_header_menu()
    titles = {a.text(): a for a in menu.actions() if a.isCheckable()}
    titles["Flow"].setChecked(True)
    assert not view.isColumnHidden(SessionColumn.FLOW)
    assert "Stage" in titles


def test_country_flag_renders_and_unknown_codes_have_none(
    model: SessionTableModel, qtbot: Any
) -> None:
    model.set_sessions([
        make("de", location={"country_code": "DE", "country": "Germany", "city": "Berlin"}),
        make("xx", location={"country_code": "ZZ"}),
        make("none"),
    ])
    flag = cell(model, model.row_of("de"), SessionColumn.COUNTRY, Qt.ItemDataRole.DecorationRole)
    assert not flag.pixmap(32, 24).isNull()
    assert cell(model, model.row_of("xx"), SessionColumn.COUNTRY,
                Qt.ItemDataRole.DecorationRole) is None
    assert cell(model, model.row_of("none"), SessionColumn.COUNTRY,
                Qt.ItemDataRole.DecorationRole) is None
    assert cell(model, model.row_of("de"), SessionColumn.COUNTRY,
                Qt.ItemDataRole.AccessibleTextRole) == "Germany, Berlin (DE)"


def test_time_columns_never_elide_and_headers_say_their_full_name(
    model: SessionTableModel, qtbot: Any, tmp_path: Any
) -> None:
    settings = QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat)
    view = SessionTableView(settings=settings)
    qtbot.addWidget(view)
    view.setModel(model)
    model.set_sessions([make("a", started=-(99 * 3600 + 59 * 60 + 58))])
    metrics = view.fontMetrics()
    for column in (SessionColumn.WAIT, SessionColumn.DURATION, SessionColumn.START):
        width = view.columnWidth(column)
        assert width >= view.fitted_width(column)
        text = cell(model, 0, column) or ""
        assert metrics.horizontalAdvance(text) < width, column
        # A user cannot drag them narrower than their widest value.
        view.setColumnWidth(column, 20)
        assert view.columnWidth(column) == view.fitted_width(column)
    for column in SessionColumn:
        tip = model.headerData(column, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
        assert tip, column
        name = model.headerData(column, Qt.Orientation.Horizontal)
        assert not name or name.split()[0].lower() in tip.lower()


def test_history_shows_the_whole_duration_as_the_hub_sorts_it(
    model: SessionTableModel, clock: Clock, qtbot: Any
) -> None:
    accepted_late = make("a", started=0, queued=0, accepted=600)
    model.set_sessions([accepted_late])
    clock.now = T0 + timedelta(minutes=15)
    assert cell(model, 0, SessionColumn.DURATION) == "5m 0s"  # Live: the conversation
    with qtbot.waitSignal(model.headerDataChanged):
        model.set_live_order(LiveOrder.GIVEN)
    assert model.headerData(SessionColumn.DURATION, Qt.Orientation.Horizontal) == "Duration"
    assert cell(model, 0, SessionColumn.DURATION) == "15m 0s"  # History: since the start
    model.set_live_order(LiveOrder.LONGEST_WAIT)
    assert model.headerData(SessionColumn.DURATION, Qt.Orientation.Horizontal) == "Wait / talk"


@pytest.mark.parametrize("live_order", [LiveOrder.LONGEST_WAIT, LiveOrder.GIVEN])
def test_every_column_sort_orders_rows_by_the_sort_role_then_arrival(
    clock: Clock, live_order: LiveOrder
) -> None:
    # Ties on purpose (names, counts, starts repeat): they must fall back to arrival order,
    # as the per-row keys do that later inserts and moves bisect into.
    rows = [
        make(f"s{i:02d}", status=("queued", "active", "completed", "failed")[i % 4],
             started=i % 5, queued=(i % 5) if i % 4 == 0 else None,
             accepted=(i % 7) if i % 4 == 1 else None,
             ended=30 + i % 3 if i % 4 > 1 else None, messages=i % 3,
             user={"id": f"u{i}", "name": ("Ana", "ben", "Çelik", None)[i % 4]},
             location={"ip": f"10.0.0.{i % 6}", "country_code": ("DE", "FR", None)[i % 3]},
             last_message_at=(T0 + timedelta(seconds=i % 4)) if i % 5 else None)
        for i in range(24)
    ]
    model = SessionTableModel(clock=clock, time_zone=UTC)
    model.set_live_order(live_order)
    model.set_sessions(rows)
    arrival = {sid: n for n, sid in enumerate(ids(model))} if live_order is LiveOrder.GIVEN \
        else {s.id: n for n, s in enumerate(sorted(rows, key=lambda s: (s.started_at, s.id)))}
    for column in SessionColumn:
        for order in (Qt.SortOrder.AscendingOrder, Qt.SortOrder.DescendingOrder):
            model.sort(column, order)
            shown = ids(model)
            keyed = sorted(shown, key=lambda sid: (
                cell(model, model.row_of(sid), column, SortRole), arrival[sid]),
                reverse=order == Qt.SortOrder.DescendingOrder)
            assert shown == keyed, (column.name, order)
        # A frame after the sort bisects into the rebuilt keys: same order as a fresh sort.
        model.apply_changes([make("late", started=2, messages=1)])
        after = ids(model)
        model.sort(column, Qt.SortOrder.DescendingOrder)
        assert ids(model) == after, column.name
        model.remove_sessions(["late"])


@pytest.mark.parametrize("sort_column", [-1, SessionColumn.WAIT, SessionColumn.MESSAGES])
def test_every_frame_leaves_each_session_once_at_its_latest_version(
    clock: Clock, sort_column: int
) -> None:
    # Rows are found by their sort key, not an id index; a clock-dependent column sort ages
    # the keys, which must fall back to the index and still update the right row.
    import random

    rng = random.Random(4)
    model = SessionTableModel(clock=clock, time_zone=UTC)
    latest = {f"s{i}": make(f"s{i}", started=i, status="queued" if i % 4 == 0 else "active",
                            queued=i if i % 4 == 0 else None) for i in range(120)}
    model.set_sessions(latest.values())
    if sort_column >= 0:
        model.sort(sort_column, Qt.SortOrder.DescendingOrder)
    for frame in range(25):
        clock.now = T0 + timedelta(seconds=200 + 10 * frame)
        batch: dict[str, SessionSummary] = {}
        for _ in range(rng.randrange(1, 12)):
            roll = rng.random()
            if roll < 0.2:
                sid = f"n{frame}-{len(batch)}"
                batch[sid] = make(sid, started=150 + frame)
                continue
            sid = rng.choice(sorted(latest))
            old = latest[sid]
            if old.status not in ("queued", "active"):
                continue
            if roll < 0.35:
                update: dict[str, Any] = {"status": "completed", "ended_at": clock.now,
                                          "end_reason": "resolved"}
            elif roll < 0.5 and old.status == "queued":
                update = {"status": "active", "accepted_at": clock.now}
            else:
                update = {"message_count": old.message_count + 1}
            batch[sid] = old.model_copy(update={**update, "version": old.version + 1})
        model.apply_changes(list(batch.values()))
        latest.update(batch)
        shown = [model.session_at(r) for r in range(model.rowCount())]
        assert sorted(s.id for s in shown if s) == sorted(latest)
        assert all(s is not None and s is latest[s.id] for s in shown)
        assert all(model.row_of(s.id) == r for r, s in enumerate(shown) if s)


def test_an_event_signals_only_the_columns_it_changed(model: SessionTableModel) -> None:
    model.set_sessions([make("a", started=0), make("b", started=30, messages=2)])
    row = model.row_of("b")
    model.data(model.index(row, SessionColumn.MESSAGES))  # the view painted the row
    spans: list[tuple[int, int, int, int]] = []
    model.dataChanged.connect(
        lambda top, bottom, _roles: spans.append(
            (top.row(), top.column(), bottom.row(), bottom.column())))

    model.apply_changes([make("b", started=30, messages=3, version=2)])
    assert spans == [(row, SessionColumn.MESSAGES, row, SessionColumn.MESSAGES)]
    assert cell(model, row, SessionColumn.MESSAGES) == "3"

    # A message: its count and time, two neighbouring columns, one span.
    spans.clear()
    model.apply_changes([make("b", started=30, messages=4, version=3,
                              last_message_at=T0 + timedelta(seconds=40))])
    assert spans == [(row, SessionColumn.LAST_MESSAGE, row, SessionColumn.MESSAGES)]

    # Nothing a column shows: no signal, the row still holds the new version.
    spans.clear()
    model.apply_changes([make("b", started=30, messages=4, version=4,
                              last_message_at=T0 + timedelta(seconds=40),
                              parameters={"topic": "billing"})])
    assert spans == []
    assert model.session_at(row).version == 4  # type: ignore[union-attr]

    # Separate columns: one span each; a status change repaints the whole row.
    spans.clear()
    model.apply_changes([make("b", started=30, messages=4, version=5,
                              last_message_at=T0 + timedelta(seconds=40),
                              team="Billing", stage="PROD")])
    assert spans == [(row, SessionColumn.TEAM, row, SessionColumn.TEAM),
                     (row, SessionColumn.STAGE, row, SessionColumn.STAGE)]
    assert cell(model, row, SessionColumn.TEAM) == "Billing"
    spans.clear()
    model.apply_changes([make("b", status="queued", started=30, queued=30, messages=4,
                              version=6, last_message_at=T0 + timedelta(seconds=40))])
    assert (0, len(SessionColumn) - 1) in [(first, last) for _, first, _, last in spans]
