"""The History screen: quick filter bar, chips, metric cards, banner, table, pagination.

Widgets only render the :class:`HistoryViewModel` and forward the user's intent to it; the
table is the shared :class:`SessionTableModel` in its "given order" mode, because the order is
the hub's (or the offline index's) server-side sort.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import Any

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from supervisor_desk.models.filters import SessionFilter
from supervisor_desk.models.wire import Metrics, NamedItem, SessionSummary
from supervisor_desk.views.history.chips import FilterChips
from supervisor_desk.views.history.describe import filter_chips
from supervisor_desk.views.history.filter_bar import QuickFilterBar
from supervisor_desk.views.history.filter_dialog import FilterDialog
from supervisor_desk.views.history.pagination import PaginationBar
from supervisor_desk.views.history.viewmodel import HistoryViewModel
from supervisor_desk.views.metric_cards import MetricCards
from supervisor_desk.views.saved_views_list import SavedViewsList
from supervisor_desk.views.session_table_model import (
    LiveOrder,
    SessionColumn,
    SessionTableModel,
)
from supervisor_desk.views.session_table_view import SessionTableView

# Table columns whose header click sorts on the server, and the PROTOCOL sort key of each.
COLUMN_SORT_KEYS: dict[SessionColumn, str] = {
    SessionColumn.START: "started_at",
    SessionColumn.LAST_MESSAGE: "last_message_at",
    SessionColumn.FINISH: "ended_at",
    SessionColumn.MESSAGES: "message_count",
    SessionColumn.DURATION: "duration",
    SessionColumn.WAIT: "wait",
}
EMPTY_TEXT = "No sessions found — try adjusting your filters"
DEFAULT_SCOPE = "matching the filters"
HISTORY_WIDTHS: dict[SessionColumn, int] = {
    SessionColumn.START: 128,
    SessionColumn.LAST_MESSAGE: 128,
    SessionColumn.FINISH: 128,
    SessionColumn.WAIT: 72,
    SessionColumn.DURATION: 86,
}


class HistoryTable(SessionTableView):
    """The shared sessions table, but a header click asks for a server-side sort."""

    sort_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None, *, settings: QSettings | None = None,
                 settings_key: str = "history_table") -> None:
        super().__init__(parent, settings=settings, settings_key=settings_key)
        self._sort = "-started_at"

    def _apply_default_layout(self) -> None:
        super()._apply_default_layout()
        # History rows are mostly from other days: times show a date, so those columns and
        # the finished sessions' wait/duration need more room than on the live page.
        self._restoring = True
        try:
            for column, width in HISTORY_WIDTHS.items():
                self.setColumnWidth(column, width)
        finally:
            self._restoring = False

    def _on_header_section_clicked(self, section: int) -> None:
        key = COLUMN_SORT_KEYS.get(SessionColumn(section)) if section < len(SessionColumn) \
            else None
        if key is None:
            self._sync_sort_indicator()
            return
        current = self._sort.lstrip("-")
        # A new column starts newest/most first; a second click flips the direction.
        sort = (key if self._sort.startswith("-") else f"-{key}") if current == key \
            else f"-{key}"
        self.sort_requested.emit(sort)

    def show_sort(self, sort: str) -> None:
        self._sort = sort
        self._sync_sort_indicator()

    def _sync_sort_indicator(self) -> None:
        header = self.horizontalHeader()
        key = self._sort.lstrip("-")
        for column, column_key in COLUMN_SORT_KEYS.items():
            if column_key == key:
                header.setSortIndicatorShown(True)
                header.setSortIndicator(
                    column, Qt.SortOrder.DescendingOrder if self._sort.startswith("-")
                    else Qt.SortOrder.AscendingOrder,
                )
                return
        header.setSortIndicatorShown(False)


class ErrorBanner(QFrame):
    retry_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("historyBanner")
        self.setStyleSheet(
            "QFrame#historyBanner { background: #fde8e8; border: 1px solid #f5b5b5;"
            " border-radius: 4px; } QLabel { color: #8a1c1c; }"
        )
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        self.label = QLabel(self)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setWordWrap(True)
        layout.addWidget(self.label, 1)
        self.retry_button = QPushButton("Retry", self)
        self.retry_button.clicked.connect(self.retry_requested)
        layout.addWidget(self.retry_button)
        self.hide()

    def set_error(self, text: str) -> None:
        self.label.setText(text)
        self.setVisible(bool(text))


class HistoryView(QWidget):
    """History (or an offline file) as a filtered, sorted, paged table."""

    session_selected = Signal(object)  # SessionSummary | None

    def __init__(
        self, view_model: HistoryViewModel, parent: QWidget | None = None, *,
        time_zone: tzinfo | None = None, settings: QSettings | None = None,
        settings_key: str = "history_table", scope: str = DEFAULT_SCOPE,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(parent)
        self.vm = view_model
        self._shown_query: tuple[object, ...] | None = None  # filter, sort, offset on screen
        self._tz = time_zone
        self._scope = scope
        self._agent_names: dict[str, str] = {}
        self._operator_names: dict[str, str] = {}
        self._dialog: FilterDialog | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.filter_bar = QuickFilterBar(self)
        layout.addWidget(self.filter_bar)
        # Filled by the saved-views controller; hidden while there is no view (and offline).
        self.saved_views = SavedViewsList(self)
        layout.addWidget(self.saved_views)
        self.chips = FilterChips(self)
        chips_row = QHBoxLayout()
        chips_row.setContentsMargins(8, 0, 8, 0)
        chips_row.addWidget(self.chips)
        layout.addLayout(chips_row)
        self.metric_cards = MetricCards(self)
        cards_row = QHBoxLayout()
        cards_row.setContentsMargins(8, 0, 8, 0)
        cards_row.addWidget(self.metric_cards)
        layout.addLayout(cards_row)
        self.banner = ErrorBanner(self)
        banner_row = QHBoxLayout()
        banner_row.setContentsMargins(8, 0, 8, 0)
        banner_row.addWidget(self.banner)
        layout.addLayout(banner_row)
        self.busy = QProgressBar(self)
        self.busy.setRange(0, 0)
        self.busy.setFixedHeight(3)
        self.busy.setTextVisible(False)
        self.busy.setAccessibleName("Loading sessions")
        self.busy.hide()
        layout.addWidget(self.busy)
        # ``clock``: "now" for live rows' waits and durations (an export's moment offline).
        self.table_model = SessionTableModel(self, time_zone=time_zone, clock=clock)
        self.table_model.set_live_order(LiveOrder.GIVEN)
        self.table = HistoryTable(self, settings=settings, settings_key=settings_key)
        self.table.setModel(self.table_model)
        self.table.set_empty_text(EMPTY_TEXT, "")
        layout.addWidget(self.table, 1)
        self.pagination = PaginationBar(self)
        layout.addWidget(self.pagination)

        vm = self.vm
        vm.rows_changed.connect(self._on_vm_rows_changed)
        vm.range_changed.connect(self._sync_pagination)
        vm.loading_changed.connect(self._on_vm_loading_changed)
        vm.error_changed.connect(self._on_vm_error_changed)
        vm.filter_changed.connect(self._on_vm_filter_changed)
        vm.sort_changed.connect(self._on_vm_sort_changed)
        vm.metrics_changed.connect(self._on_vm_metrics_changed)
        vm.agents_changed.connect(self._on_vm_agents_changed)
        vm.operators_changed.connect(self._on_vm_operators_changed)
        self.filter_bar.filter_edited.connect(vm.set_filter)
        self.filter_bar.sort_selected.connect(vm.set_sort)
        self.filter_bar.filters_dialog_requested.connect(self.open_filter_dialog)
        self.chips.chip_removed.connect(self._on_chips_chip_removed)
        self.chips.reset_requested.connect(self.reset_filters)
        self.banner.retry_requested.connect(vm.reload)
        self.table.sort_requested.connect(vm.set_sort)
        self.table.session_selected.connect(self.session_selected)
        self.pagination.page_requested.connect(vm.go_to_page)
        self.pagination.previous_requested.connect(vm.previous_page)
        self.pagination.next_requested.connect(vm.next_page)
        self.pagination.load_more_requested.connect(vm.load_more)
        self.table.show_sort(vm.sort)
        self.filter_bar.set_sort(vm.sort)
        self._on_vm_filter_changed(vm.filter)
        self._on_vm_metrics_changed(vm.metrics)
        self._sync_pagination()

    # ------------------------------------------------------------------ public

    @property
    def time_zone(self) -> tzinfo | None:
        return self._tz

    def set_time_zone(self, tz: tzinfo | None) -> None:
        self._tz = tz
        self.table_model.set_time_zone(tz)
        if self._dialog is not None:
            self._dialog.set_time_zone(tz)
        self._on_vm_filter_changed(self.vm.filter)

    def open_filter_dialog(self) -> FilterDialog:
        """Open Session Filters window-modally (``open()``: no nested event loop)."""
        if self._dialog is None:
            self._dialog = FilterDialog(self, tz=self._tz)
            self._dialog.applied.connect(self.vm.set_filter)
        self._dialog.set_lookups(self.vm.agents, self.vm.operators)
        self._dialog.set_filter(self.vm.filter)
        self._dialog.open()
        return self._dialog

    def reset_filters(self) -> None:
        self.vm.set_filter(SessionFilter())

    def apply_live_update(self, summary: SessionSummary) -> None:
        """A feed change of a session on screen: status, message count and end update live."""
        if self.table_model.row_of(summary.id) >= 0:
            self.table_model.apply_changes([summary])

    def connect_live(self, live_view_model: Any) -> None:
        """Follow the live feed (``LiveViewModel.session_updated``) for rows on screen."""
        live_view_model.session_updated.connect(self.apply_live_update)

    def shown_sessions(self) -> list[SessionSummary]:
        return self.table_model.sessions()

    # ------------------------------------------------------------------ view-model → widgets

    def _on_vm_rows_changed(self, sessions: list[SessionSummary], appended: bool) -> None:
        if appended:
            fresh = [s for s in sessions if self.table_model.row_of(s.id) < 0]
            self.table_model.apply_changes(fresh)
        else:
            # A refresh of the page on screen (an offline file still loading refreshes it
            # about once a second) keeps where the user scrolled; another page, filter or
            # sort starts at its top.
            query = (self.vm.filter, self.vm.sort, self.vm.offset)
            bar = self.table.verticalScrollBar()
            kept = bar.value() if query == self._shown_query else None
            self._shown_query = query
            self.table_model.set_sessions(sessions)
            if kept is None:
                self.table.scrollToTop()
            else:
                bar.setValue(min(kept, bar.maximum()))

    def _sync_pagination(self) -> None:
        vm = self.vm
        self.pagination.set_state(
            text=vm.range_text(), page=vm.page, page_count=vm.page_count,
            has_previous=vm.has_previous, has_more=vm.has_more, busy=vm.loading,
        )

    def _on_vm_loading_changed(self, loading: bool) -> None:
        self.busy.setVisible(loading)
        self.table_model.set_loading(loading and self.table_model.rowCount() == 0)
        self.table.viewport().update()
        self._sync_pagination()

    def _on_vm_error_changed(self, error: str) -> None:
        self.banner.set_error(error)

    def _on_vm_filter_changed(self, flt: SessionFilter) -> None:
        chips = filter_chips(flt, tz=self._tz, agent_names=self._agent_names,
                             operator_names=self._operator_names)
        self.chips.set_chips(chips)
        self.filter_bar.set_filter(flt, len(chips))

    def _on_vm_sort_changed(self, sort: str) -> None:
        self.table.show_sort(sort)
        self.filter_bar.set_sort(sort)

    def _on_vm_metrics_changed(self, metrics: Metrics | None) -> None:
        scope = self._scope
        if scope == DEFAULT_SCOPE and self.vm.filter.is_empty():
            scope = "all sessions"
        self.metric_cards.set_history_metrics(metrics, scope=scope)

    def _on_vm_agents_changed(self, agents: list[NamedItem]) -> None:
        self._agent_names = {a.id: a.name for a in agents}
        self.filter_bar.set_agents(agents)
        self._on_vm_filter_changed(self.vm.filter)

    def _on_vm_operators_changed(self, operators: list[NamedItem]) -> None:
        self._operator_names = {o.id: o.name for o in operators}
        self._on_vm_filter_changed(self.vm.filter)

    def _on_chips_chip_removed(self, key: str) -> None:
        for chip in filter_chips(self.vm.filter, tz=self._tz):
            if chip.key == key:
                self.vm.set_filter(chip.remove(self.vm.filter))
                return
