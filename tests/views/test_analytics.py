"""The Analytics page as a supervisor uses it: charts drawn from a report, exact values on
hover, a click that drills into History, PNG/CSV export, and a feed that refreshes live ranges.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from pytestqt.qtbot import QtBot

from supervisor_desk.models.analytics import AnalyticsReport, TimeRange, summaries_report
from supervisor_desk.models.filters import SessionFilter, to_ms
from supervisor_desk.models.wire import SessionSummary
from supervisor_desk.views.analytics.page import AnalyticsPage
from supervisor_desk.views.analytics.viewmodel import AnalyticsViewModel
from supervisor_desk.views.tasks import standalone_scope
from tests.helpers import wait_until

NOW = datetime(2026, 3, 2, 12, 0, 30, tzinfo=UTC)


def _session(sid: str, minutes_ago: int, channel: str, ended: bool, team: str | None = None,
             messages: int = 4) -> SessionSummary:
    started = NOW - timedelta(minutes=minutes_ago)
    data: dict[str, Any] = {
        "id": sid, "agent": {"id": "bot", "name": "Bot"}, "channel": channel,
        "status": "completed" if ended else "active", "user": {"id": "u"},
        "started_at": started.isoformat(), "message_count": messages, "team": team,
    }
    if ended:
        data["ended_at"] = (started + timedelta(minutes=2)).isoformat()
    return SessionSummary.model_validate(data)


SESSIONS = [_session("a", 50, "web", True, "billing"),
            _session("b", 49, "phone", True, "sales", messages=7),
            _session("c", 10, "web", False)]


class Source:
    """Offline-style source: the report of the sessions it holds, counting the calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[SessionFilter, TimeRange]] = []
        self.sessions = list(SESSIONS)

    async def __call__(self, flt: SessionFilter, rng: TimeRange, sla: int) -> AnalyticsReport:
        self.calls.append((flt, rng))
        kept = [s for s in self.sessions if flt.matches(s)]
        return summaries_report(kept, rng, to_ms(NOW), sla)


def _page(qtbot: QtBot) -> tuple[AnalyticsViewModel, AnalyticsPage, Source]:
    vm = AnalyticsViewModel(standalone_scope("analytics-test"))
    vm.clock = lambda: NOW
    vm.range_name = "hour"
    page = AnalyticsPage(vm)
    qtbot.addWidget(page)
    page.resize(1100, 800)
    page.show()
    source = Source()
    vm.set_source(source)
    return vm, page, source


def test_charts_show_exact_values_and_drill_into_history(
    qtbot: QtBot, qrun: Callable[..., Any], tmp_path: Path
) -> None:
    vm, page, _source = _page(qtbot)

    async def scenario() -> None:
        await wait_until(lambda: vm.report is not None)

    qrun(scenario())
    assert page.status.text() == "3 sessions in the range"
    started = page.charts["started"]
    assert started.data is not None and [s.name for s in started.data.series] == ["Web", "Phone"]
    # The minute "a" started in (50 minutes ago) says so on hover, exactly.
    index = next(i for i, v in enumerate(started.data.series[0].values) if v)
    assert started.describe(index).splitlines()[1:] == ["Web: 1", "Phone: 0"]

    # The x labels fit side by side: time labels spaced out, every category named.
    labels = [text for _x, text in started.ticks()]
    metrics = started.plot.fontMetrics()
    assert 2 <= len(labels) < len(started.data.labels)
    assert sum(metrics.horizontalAdvance(t) for t in labels) \
        < started.plot.getPlotItem().vb.width()
    agents = page.charts["handover_agent"]
    assert [t for _x, t in agents.ticks()] == ["Bot"]

    drilled: list[SessionFilter] = []
    page.drill_requested.connect(drilled.append)
    page._on_chart_clicked("started", index)
    assert len(drilled) == 1
    flt = drilled[0]
    assert flt.started_after is not None and flt.started_before is not None
    assert flt.started_before - flt.started_after == timedelta(minutes=1)
    assert [s.id for s in SESSIONS if flt.matches(s)] == ["a"]
    # Every chart where a bar names something drills on it: a channel's segment, an outcome
    # (by when it ended), an agent over the whole range.
    phone = next(i for i, v in enumerate(started.data.series[1].values) if v)
    assert started.series_at(phone, 0.5) == "phone"
    page._on_chart_clicked("started", phone, "phone")
    assert [s.id for s in SESSIONS if drilled[-1].matches(s)] == ["b"]
    assert drilled[-1].channel == ("phone",)
    outcomes = page.charts["outcomes"].data
    assert outcomes is not None
    ended = next(i for i, v in enumerate(outcomes.series[0].values) if v)
    page._on_chart_clicked("outcomes", ended, "completed")
    assert drilled[-1].status == ("completed",) and drilled[-1].ended_after is not None
    assert [s.id for s in SESSIONS if drilled[-1].matches(s)] == ["a"]
    page._on_chart_clicked("handover_agent", 0)
    assert drilled[-1].agent == ("bot",)
    assert {s.id for s in SESSIONS if drilled[-1].matches(s)} == {"a", "b", "c"}
    page._on_chart_clicked("duration_agent", 0)
    assert {s.id for s in SESSIONS if drilled[-1].matches(s)} == {"a", "b"}
    teams = page.charts["handover_team"].data
    assert teams is not None
    page._on_chart_clicked("handover_team", list(teams.labels).index("sales"))
    assert drilled[-1].team == ("sales",)
    assert [s.id for s in SESSIONS if drilled[-1].matches(s)] == ["b"]
    # A messages-per-session bin is a closed range of counts: "6-10" holds b's 7 only.
    bins = page.charts["messages"].data
    assert bins is not None
    page._on_chart_clicked("messages", list(bins.labels).index("6-10"))
    assert [s.id for s in SESSIONS if drilled[-1].matches(s)] == ["b"]
    page._on_chart_clicked("messages", list(bins.labels).index("1-5"))
    assert [s.id for s in SESSIONS if drilled[-1].matches(s)] == ["a", "c"]
    page._on_chart_clicked("messages", list(bins.labels).index("51+"))
    assert drilled[-1].messages_max is None and not any(
        drilled[-1].matches(s) for s in SESSIONS)

    png, table = tmp_path / "started.png", tmp_path / "started.csv"
    assert started.save_png(png) and not QImage(str(png)).isNull()
    started.save_csv(table)
    rows = list(csv.reader(table.open(encoding="utf-8")))
    assert rows[0] == ["bucket_start", "Web", "Phone"]
    assert sum(int(r[1]) for r in rows[1:]) == 2
    operators = page.operators.rowCount()
    assert operators == 0  # nobody handed over in this data
    assert page.charts["handover_agent"].data is not None


def test_the_history_filter_narrows_the_charts(
    qtbot: QtBot, qrun: Callable[..., Any]
) -> None:
    vm, page, _source = _page(qtbot)

    async def scenario() -> None:
        await wait_until(lambda: vm.report is not None)
        vm.set_filter(SessionFilter(channel=("phone",)))
        await wait_until(lambda: vm.report is not None and vm.report.sessions == 1)

    qrun(scenario())
    assert page.charts["started"].data is not None
    assert [s.name for s in page.charts["started"].data.series] == ["Phone"]


def test_a_live_range_follows_the_feed_reading_only_its_last_hour(
    qtbot: QtBot, qrun: Callable[..., Any]
) -> None:
    vm, page, source = _page(qtbot)
    vm.set_range("today")

    async def scenario() -> None:
        await wait_until(lambda: vm.report is not None and vm.report.start_ms
                         == vm.time_range().start_ms and not vm.loading)
        calls = len(source.calls)
        # A phone call starts now; the feed says so.
        source.sessions.append(_session("d", 0, "phone", False))
        vm.note_feed_activity()
        vm.note_feed_activity()  # one burst, one read
        await wait_until(lambda: len(source.calls) == calls + 1
                         and sum(vm.report.live[-1:]) == 2 if vm.report else False)
        _flt, tail = source.calls[-1]
        whole = vm.time_range()
        assert whole.start_ms < tail.start_ms <= to_ms(NOW) - 3_600_000
        assert tail.end_ms == whole.end_ms

    qrun(scenario())
    started = page.charts["started"].data
    assert started is not None
    assert [s.name for s in started.series] == ["Web", "Phone"]
    assert sum(v or 0 for v in started.series[1].values) == 2  # "b" 49 min ago and "d" now



def test_saved_views_restore_history_and_analytics(
    qtbot: QtBot, qrun: Callable[..., Any], tmp_path: Path
) -> None:
    from PySide6.QtWidgets import QWidget

    from supervisor_desk.views.history.view import HistoryView
    from supervisor_desk.views.history.viewmodel import HistoryViewModel
    from supervisor_desk.views.saved_views import SavedViewsController
    from supervisor_desk.views.session_table_model import SessionColumn

    vm, page, _source = _page(qtbot)
    history_vm = HistoryViewModel(None, tasks=standalone_scope("history-test"))
    history = HistoryView(history_vm)
    host = QWidget()
    qtbot.addWidget(host)
    qtbot.addWidget(history)
    on_analytics = [False]
    views = SavedViewsController(history, page, lambda: on_analytics[0], host,
                                 path=tmp_path / "views.json")

    async def scenario() -> None:
        await wait_until(lambda: vm.report is not None)
        history_vm.set_filter(SessionFilter(channel=("phone",)))
        history.table.setColumnHidden(SessionColumn.IP, True)
        history_vm.set_sort("-message_count")
        views.save_as("Phone calls")
        on_analytics[0] = True
        page.set_visible_charts(["started", "wait"])
        views.save_as("Two charts")
        # Change everything, then apply the saved views back.
        history_vm.set_filter(SessionFilter())
        history_vm.set_sort("started_at")
        history.table.setColumnHidden(SessionColumn.IP, False)
        page.set_visible_charts([])
        views.apply(views.views[0])
        views.apply(views.views[1])
        await wait_until(lambda: not vm.loading)

    qrun(scenario())
    assert history_vm.filter == SessionFilter(channel=("phone",))
    assert history.table.isColumnHidden(SessionColumn.IP)
    assert history_vm.sort == "-message_count"
    assert page.visible_charts() == ["started", "wait"]
    shared = tmp_path / "shared.json"
    views.export_file(shared)
    other = SavedViewsController(history, page, lambda: False, host, path=tmp_path / "b.json")
    assert other.import_file(shared) == 2
    assert [v.name for v in other.views] == ["Phone calls", "Two charts"]
    bad = tmp_path / "bad.json"
    bad.write_text("{}", encoding="utf-8")
    messages: list[str] = []
    other.status.connect(messages.append)
    assert other.import_file(bad) == 0 and "not a views file" in messages[-1]


def test_history_lists_the_saved_views_like_the_menu(
    qtbot: QtBot, qrun: Callable[..., Any], tmp_path: Path
) -> None:
    from PySide6.QtWidgets import QInputDialog, QWidget

    from supervisor_desk.views.history.view import HistoryView
    from supervisor_desk.views.history.viewmodel import HistoryViewModel
    from supervisor_desk.views.saved_views import SavedViewsController

    _vm, page, _source = _page(qtbot)
    history_vm = HistoryViewModel(None, tasks=standalone_scope("history-list-test"))
    history = HistoryView(history_vm)
    host = QWidget()
    qtbot.addWidget(host)
    qtbot.addWidget(history)
    history.resize(1000, 600)
    history.show()
    views = SavedViewsController(history, page, lambda: False, host, path=tmp_path / "v.json")
    strip = history.saved_views
    assert strip.isHidden()  # no views yet: no room taken

    def menu_names() -> list[str]:
        views.menu.aboutToShow.emit()
        # The views' entries: not the sections, separators, submenu or "…" commands.
        return [a.text() for a in views.menu.actions() if a.isEnabled() and not a.isSeparator()
                and a.menu() is None and not a.text().endswith("\u2026")]

    history_vm.set_filter(SessionFilter(team=("billing",)))
    views.save_as("Billing team")
    history_vm.set_filter(SessionFilter(channel=("phone",)))
    views.save_as("Phone")
    assert strip.isVisible()
    assert [strip.list.item(i).text() for i in range(strip.list.count())] \
        == ["Billing team", "Phone"] == menu_names()

    # A click applies the view.
    rect = strip.list.visualItemRect(strip.list.item(0))
    qtbot.mouseClick(strip.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert history_vm.filter == SessionFilter(team=("billing",))

    # From the keyboard: F2 renames (a taken name is refused), Delete deletes.
    strip.list.setFocus()
    strip.list.setCurrentRow(1)
    qtbot.keyClick(strip.list, Qt.Key.Key_F2)
    dialog = views._dialog
    assert isinstance(dialog, QInputDialog) and dialog.textValue() == "Phone"
    messages: list[str] = []
    views.status.connect(messages.append)
    dialog.textValueSelected.emit("Billing team")
    assert "already named" in messages[-1] and menu_names() == ["Billing team", "Phone"]
    dialog.textValueSelected.emit("Phone calls")
    dialog.reject()
    assert [strip.list.item(i).text() for i in range(strip.list.count())] \
        == ["Billing team", "Phone calls"] == menu_names()
    strip.list.setCurrentRow(0)
    qtbot.keyClick(strip.list, Qt.Key.Key_Delete)
    assert menu_names() == ["Phone calls"] and strip.list.count() == 1
    # Both are one list, kept in the file.
    assert [v.name for v in SavedViewsController(history, page, lambda: False, host,
                                                 path=tmp_path / "v.json").views] \
        == ["Phone calls"]
