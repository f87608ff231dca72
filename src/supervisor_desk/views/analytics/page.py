"""The Analytics page: range picker and the grid of charts, bound to AnalyticsViewModel.

A click on a time bucket asks for History with the page's filter narrowed to that bucket's
start times (``drill_requested``); every chart exports its picture (PNG) and data (CSV) from
its context menu.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPoint, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from supervisor_desk.models.analytics import MESSAGE_BINS, RANGE_LABELS, AnalyticsReport
from supervisor_desk.models.filters import MessageCountFilter, SessionFilter
from supervisor_desk.models.markers import CHANNEL_LABELS
from supervisor_desk.views.analytics.charts import ChartData, ChartPanel, Series
from supervisor_desk.views.analytics.viewmodel import AnalyticsViewModel
from supervisor_desk.views.icons import channel_color

pg.setConfigOptions(antialias=True)

# Outcome colours match the status dots' meaning: done, failed, dropped, passed on.
OUTCOME_COLORS = {"completed": "#2e9d5b", "failed": "#d64545", "cancelled": "#8a8f98",
                  "transferred": "#3b7dd8"}
SERIES_COLORS = ("#3b7dd8", "#e0a030", "#d64545", "#2e9d5b", "#8e5bd0", "#1aa3a3", "#c25a8f")


# Charts whose bars are agents or teams (a click filters History on that agent or team over
# the range) and charts bucketed by when sessions ended (a click filters on the end).
DRILL_BY_AGENT = frozenset({"handover_agent", "duration_agent"})
DRILL_BY_TEAM = frozenset({"handover_team"})
DRILL_BY_END = frozenset({"outcomes", "end_reasons"})


def _moment(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000).astimezone()


def message_bin_range(index: int) -> tuple[int, int | None]:
    """The message counts of bin ``index`` of the messages-per-session chart: ``(low, high)``
    inclusive, ``high`` ``None`` for the open last bin."""
    low = MESSAGE_BINS[index - 1] + 1 if index > 0 else 0
    return low, MESSAGE_BINS[index] if index < len(MESSAGE_BINS) else None


def _moment_label(ms: int, bucket_ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000).astimezone()
    if bucket_ms >= 86_400_000:
        return moment.strftime("%d %b")
    if bucket_ms >= 3_600_000:
        return moment.strftime("%d %b %Hh")
    return moment.strftime("%H:%M")


def chart_set(report: AnalyticsReport) -> dict[str, ChartData]:
    """Every chart's data from one report (names are the saved-view keys)."""
    starts = report.bucket_starts
    labels = [_moment_label(ms, report.bucket_ms) for ms in starts]

    def timed(title: str, kind: str, series: list[Series], unit: str = "") -> ChartData:
        return ChartData(title, kind, labels, series, starts, report.bucket_ms, unit)  # type: ignore[arg-type]

    def palette(i: int) -> QColor:
        return QColor(SERIES_COLORS[i % len(SERIES_COLORS)])

    agents = report.handover_by_agent
    teams = report.handover_by_team
    durations = report.duration_by_agent
    return {
        "started": timed("Sessions started, by channel", "stacked", [
            Series(CHANNEL_LABELS.get(c, c), v, channel_color(c), c)
            for c, v in report.started_by_channel.items()]),
        "load": timed("Live sessions and queue", "lines", [
            Series("live", report.live, palette(0)), Series("queued", report.queued, palette(1))]),
        "wait": timed("Wait time (s)", "lines", [
            Series("p50", report.wait_p50_seconds, palette(0)),
            Series("p90", report.wait_p90_seconds, palette(1)),
            Series("max", report.wait_max_seconds, palette(2))], " s"),
        "sla": timed(f"Answered within {report.sla_seconds} s (%)", "lines", [
            Series("within SLA", [None if v is None else round(100 * v, 1)
                                  for v in report.within_sla], palette(3))], " %"),
        "outcomes": timed("Outcomes", "stacked", [
            Series(k, v, QColor(OUTCOME_COLORS[k]), k) for k, v in report.outcomes.items()]),
        "end_reasons": timed("End reasons", "stacked", [
            Series(k.replace("_", " "), v, palette(i))
            for i, (k, v) in enumerate(report.end_reasons.items())]),
        "handover_agent": ChartData("Hand-over rate per agent (%)", "categories",
                                    [r.name for r in agents], [Series(
                                        "handed to a human",
                                        [round(100 * r.rate, 1) for r in agents], palette(4))],
                                    unit=" %", category_keys=[r.key for r in agents]),
        "handover_team": ChartData("Hand-over rate per team (%)", "categories",
                                   [r.name for r in teams], [Series(
                                       "handed to a human",
                                       [round(100 * r.rate, 1) for r in teams], palette(5))],
                                   unit=" %", category_keys=[r.key for r in teams]),
        "duration_agent": ChartData("Duration per agent (s)", "categories",
                                    [r.name for r in durations], [
                                        Series("p50", [r.p50_seconds for r in durations],
                                               palette(0)),
                                        Series("p90", [r.p90_seconds for r in durations],
                                               palette(1)),
                                        Series("max", [r.max_seconds for r in durations],
                                               palette(2))], unit=" s",
                                    category_keys=[r.key for r in durations]),
        "messages": ChartData("Messages per session", "categories",
                              [b.label for b in report.messages_per_session],
                              [Series("sessions", [b.count for b in report.messages_per_session],
                                      palette(6))]),
    }


class AnalyticsPage(QWidget):
    drill_requested = Signal(object)  # SessionFilter for History

    def __init__(self, vm: AnalyticsViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("analytics_page")
        self.vm = vm
        self.range_combo = QComboBox(self)
        self.range_combo.setObjectName("analytics_range")
        for name, label in RANGE_LABELS.items():
            if name != "custom":
                self.range_combo.addItem(label, name)
        self.refresh_button = QPushButton("Refresh", self)
        self.status = QLabel(self)
        self.status.setProperty("tone", "muted")
        top = QHBoxLayout()
        top.addWidget(QLabel("Range:", self))
        top.addWidget(self.range_combo)
        top.addWidget(self.refresh_button)
        top.addWidget(self.status, 1)

        self.charts: dict[str, ChartPanel] = {}
        self._drawn: dict[str, ChartData] = {}
        grid_host = QWidget(self)
        grid = QGridLayout(grid_host)
        grid.setContentsMargins(0, 0, 0, 0)
        names = ("started", "load", "wait", "sla", "outcomes", "end_reasons",
                 "handover_agent", "handover_team", "duration_agent", "messages")
        for i, name in enumerate(names):
            panel = ChartPanel("", grid_host)
            panel.setObjectName(f"chart_{name}")
            panel.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
            panel.customContextMenuRequested.connect(
                lambda pos, n=name: self._on_chart_context_menu(n, pos))
            panel.bucket_clicked.connect(
                lambda index, series, n=name: self._on_chart_clicked(n, index, series))
            self.charts[name] = panel
            grid.addWidget(panel, i // 2, i % 2)
        self.operators = QTableWidget(0, 4, grid_host)
        self.operators.setObjectName("analytics_operators")
        self.operators.setHorizontalHeaderLabels(
            ["Operator", "Sessions handled", "Active now", "Average handle time"])
        self.operators.verticalHeader().hide()
        self.operators.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.operators.setMinimumHeight(120)
        self.operators.setToolTip("Double-click an operator for their sessions in History")
        self.operators.cellDoubleClicked.connect(self._on_operators_cell_double_clicked)
        self.operators.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.Stretch)
        grid.addWidget(QLabel("Operator workload", grid_host), len(names) // 2, 0)
        grid.addWidget(self.operators, len(names) // 2 + 1, 0, 1, 2)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setWidget(grid_host)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(scroll, 1)

        index = self.range_combo.findData(vm.range_name)
        self.range_combo.setCurrentIndex(max(0, index))
        self.range_combo.currentIndexChanged.connect(self._on_range_combo_changed)
        self.refresh_button.clicked.connect(vm.refresh)
        vm.report_changed.connect(self._on_vm_report_changed)
        vm.loading_changed.connect(self._on_vm_status)
        vm.error_changed.connect(self._on_vm_status)
        if vm.report is not None:
            self._on_vm_report_changed(vm.report)

    def changeEvent(self, event: QEvent) -> None:
        # A theme switch repaints the plots in its colours (they are drawn, not styled).
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self._drawn.clear()
            if self.vm.report is not None:
                self._on_vm_report_changed(self.vm.report)
        super().changeEvent(event)

    def visible_charts(self) -> list[str]:
        return [name for name, panel in self.charts.items() if not panel.isHidden()]

    def set_visible_charts(self, names: list[str] | tuple[str, ...]) -> None:
        """A saved view's chart set (unknown names are ignored; none known: all shown)."""
        wanted = {n for n in names if n in self.charts} or set(self.charts)
        for name, panel in self.charts.items():
            panel.setVisible(name in wanted)

    def set_range_name(self, name: str) -> None:
        index = self.range_combo.findData(name)
        if index >= 0:
            self.range_combo.setCurrentIndex(index)  # the combo's slot tells the view-model

    def _on_range_combo_changed(self, _index: int) -> None:
        self.vm.set_range(str(self.range_combo.currentData()))

    def _on_vm_status(self, *_args: object) -> None:
        if self.vm.error:
            self.status.setText(f"Could not load: {self.vm.error}")
        elif self.vm.loading:
            self.status.setText("Loading…")
        elif self.vm.report is not None:
            self.status.setText(f"{self.vm.report.sessions} sessions in the range")

    def _on_vm_report_changed(self, report: AnalyticsReport | None) -> None:
        if report is None:
            return
        for name, data in chart_set(report).items():
            if self._drawn.get(name) == data:
                continue  # a live update moves the time charts; the rest stay as drawn
            self._drawn[name] = data
            panel = self.charts[name]
            panel.title.setText(data.title)
            panel.set_data(data)
        self.operators.setRowCount(len(report.operators))
        for row, op in enumerate(report.operators):
            handle = "none ended" if op.average_handle_seconds is None \
                else f"{op.average_handle_seconds / 60:.1f} min"
            for col, text in enumerate((op.name, str(op.handled), str(op.active_now), handle)):
                self.operators.setItem(row, col, QTableWidgetItem(text))
        self._on_vm_status()

    # ------------------------------------------------------------------ drill-down, export

    def drill_filter(self, name: str, index: int, series: str = "") -> SessionFilter | None:
        """History's filter for a click on bar/point ``index`` of chart ``name`` (``series``:
        the stacked segment's key): the page's filter narrowed to that bucket (by start, or by
        end for outcomes and end reasons) and segment, or to that agent, team or message-count
        bin over the range. ``None`` where History has no filter for it (a line chart's point
        without buckets)."""
        data = self.charts[name].data
        report = self.vm.report
        if data is None or report is None or not 0 <= index < len(data.labels):
            return None
        flt = self.vm.filter
        over_range: dict[str, object] = {
            "started_after": _moment(report.start_ms),
            "started_before": _moment(report.end_ms),
        }
        if name in DRILL_BY_AGENT or name in DRILL_BY_TEAM:
            if index >= len(data.category_keys):
                return None
            field = "agent" if name in DRILL_BY_AGENT else "team"
            update: dict[str, object] = {field: (data.category_keys[index],), **over_range}
            if name == "duration_agent":
                update["live"] = False  # durations are of ended sessions
            return flt.model_copy(update=update)
        if name == "messages":
            # The bin's counts replace any count criterion of the page's (the bin lies within it).
            low, high = message_bin_range(index)
            return flt.model_copy(update={
                "messages": MessageCountFilter(op="ge", n=low) if low > 0 else None,
                "messages_max": high, **over_range})
        if not data.bucket_starts:
            return None
        start = _moment(data.bucket_starts[index])
        end = _moment(data.bucket_starts[index] + data.bucket_ms)
        if name in DRILL_BY_END:
            update = {"ended_after": start, "ended_before": end}
            if series:
                update["status"] = (series,)
        else:
            update = {"started_after": start, "started_before": end}
            if series and name == "started":
                update["channel"] = (series,)
        return flt.model_copy(update=update)

    def _on_chart_clicked(self, name: str, index: int, series: str = "") -> None:
        flt = self.drill_filter(name, index, series)
        if flt is not None:
            self.drill_requested.emit(flt)

    def _on_operators_cell_double_clicked(self, row: int, _column: int) -> None:
        report = self.vm.report
        if report is None or not 0 <= row < len(report.operators):
            return
        self.drill_requested.emit(self.vm.filter.model_copy(update={
            "operator": (report.operators[row].id,),
            "started_after": _moment(report.start_ms),
            "started_before": _moment(report.end_ms),
        }))

    def _on_chart_context_menu(self, name: str, pos: QPoint) -> None:
        panel = self.charts[name]
        menu = QMenu(self)
        menu.addAction("Save chart as PNG…", lambda: self._save(panel, name, "png"))
        menu.addAction("Save data as CSV…", lambda: self._save(panel, name, "csv"))
        menu.popup(panel.mapToGlobal(pos))

    def _save(self, panel: ChartPanel, name: str, kind: str) -> None:
        dialog = QFileDialog(self, "Save chart", f"{name}.{kind}",
                             "PNG image (*.png)" if kind == "png" else "CSV (*.csv)")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.fileSelected.connect(
            lambda path: panel.save_png(Path(path)) if kind == "png"
            else panel.save_csv(Path(path)))
        dialog.open()
