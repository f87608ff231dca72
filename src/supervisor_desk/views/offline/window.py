"""The offline review window: an exported file, read-only, with no network at all.

The same History view (filters, chips, paging, sort, metrics) over an offline source, and the
same detail pane, chat, logs drawer and results dock, fed from the file by
:class:`OfflineDetailClient`, which reads one session's transcript only when it is opened.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

import shiboken6
from PySide6.QtCore import QEvent, QPoint, QRect, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QPixmap, QRegion
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from supervisor_desk.models.export import ExportFileError, ReadReport, format_of
from supervisor_desk.models.filters import SessionFilter
from supervisor_desk.models.lock_slices import foreground
from supervisor_desk.models.offline_index import OfflineIndex
from supervisor_desk.models.offline_source import (
    OFFLINE_PERMISSIONS,
    OfflineDetailClient,
    OfflineSessionSource,
)
from supervisor_desk.models.wire import SessionSummary
from supervisor_desk.views.analytics.viewmodel import AnalyticsViewModel, offline_analytics_source
from supervisor_desk.views.chat.pane import DetailPane
from supervisor_desk.views.detail_viewmodel import DetailViewModel
from supervisor_desk.views.file_drop import ExportFileDrop
from supervisor_desk.views.gc_policy import PolicyHold
from supervisor_desk.views.history.view import HistoryView
from supervisor_desk.views.history.viewmodel import HistoryViewModel
from supervisor_desk.views.offline.icon_warmup import warm_table_icons
from supervisor_desk.views.offline.loader import OfflineLoader
from supervisor_desk.views.results_dock import ResultsDock
from supervisor_desk.views.tasks import TaskScope, standalone_scope

if TYPE_CHECKING:
    from supervisor_desk.views.analytics.page import AnalyticsPage

log = logging.getLogger(__name__)

# While loading, the table follows the growing file at most this often, and rarer as it grows
# (100,000 rows read: every 5 s): each refresh sorts and counts everything read so far on the
# index's thread and repaints, work taken from the reading (the status line counts every batch).
REFRESH_MS = 1000
ROWS_PER_REFRESH_MS = 20
# The progress bar follows the batches at most this often, in a loop turn of its own: a new
# value repaints the bar at once (QProgressBar.setValue calls repaint(), which paints every
# pending region of the window with it: the first rows' table too), so set from the batch's
# own turn it stacked a whole window paint onto that turn's collection and status line.
PROGRESS_MS = 100
# The table's icons are drawn this long after the read starts (icon_warmup.py): past the
# window's first paint, well before a big file's first rows (~0.4 s: the child's start).
ICONS_AFTER_S = 0.05
# The first page is drawn ahead in this many bands of the table, a loop turn each, before it
# is shown: drawn at once, the first rows' paint was the window's longest stall while a big
# file loads (18-26 ms of the Qt thread, things drawn for the first time); a band takes
# 2-9 ms, and the page's real paint then 9-10.
FIRST_PAGE_BANDS = 8
OFFLINE_TAG = "offline file"
LIVE_AT_EXPORT = "Live at export"
STATUS_MIN_WIDTH = 160
CSV_TRANSCRIPT_NOTE = "transcript not in CSV files — open the JSON/JSONL export"


def has_transcripts(path: Path) -> bool:
    """Whether the file's format carries transcripts (a CSV holds one row per session)."""
    try:
        return format_of(path) != "csv"
    except ExportFileError:
        return True  # not an export at all: the load says so


class OfflineWindow(QMainWindow):
    """One opened file: History's table and filters, the chat, logs and results dock."""

    open_file_requested = Signal()
    files_dropped = Signal(list)  # [Path] of export files dropped on the window

    def __init__(
        self,
        path: Path,
        *,
        time_zone: tzinfo | None = None,
        tasks: TaskScope | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.path = Path(path)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
        self.setWindowTitle(f"{self.path.name} — {OFFLINE_TAG} — Supervisor Desk")
        self._opened_at = datetime.now(UTC)
        self._closed = False
        self._collection_hold: PolicyHold | None = None
        self._icons_warming: asyncio.Task[None] | None = None
        self._first_page_drawing: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None
        self.tasks = tasks or standalone_scope("offline-window")
        self._file_drop = ExportFileDrop(self)
        self._file_drop.files_dropped.connect(self.files_dropped)
        # The index is appended to and queried on this thread, never on Qt's: sorting a
        # quarter of a million rows would freeze the window for a good part of a second.
        self._index_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="offline-index")
        self.loader = OfflineLoader(self.path, self, tasks=self.tasks,
                                    index_executor=self._index_thread)
        self._detail_client: OfflineDetailClient | None = None
        owner = self.tasks.owner
        self.history_vm = HistoryViewModel(None, self, tasks=owner.scope("offline-history"))
        self.history = HistoryView(
            self.history_vm,
            self,
            time_zone=time_zone,
            settings_key="offline_table",
            scope="in this file",
            clock=self.export_moment,
        )
        # A file is a record: what was live then is "live at export", not live now.
        self.history.metric_cards.cards["live"].set_title(LIVE_AT_EXPORT)
        self.history.table.set_live(False)
        self.detail_vm = DetailViewModel(None, self, tasks=owner.scope("offline-detail"))
        self.detail = DetailPane(self.detail_vm, parent=self, time_zone=time_zone)
        if not has_transcripts(self.path):
            self.detail.chat.set_missing_transcript_note(CSV_TRANSCRIPT_NOTE)
        # A file is a record of the past: there is nobody to hand over to, so no button.
        self.detail.handover_button.hide()
        self.results_dock = ResultsDock(self, time_zone=time_zone, clock=self.export_moment)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.results_dock)
        self.detail.bind_dock(self.results_dock)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(self.history)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        # Visible in the window itself, not only in the title: this is not live data.
        self.banner = QLabel(
            f"Offline file — {self.path.name} · read-only review, no hub connection", central)
        self.banner.setTextFormat(Qt.TextFormat.PlainText)
        self.banner.setWordWrap(True)  # a long file name wraps instead of widening the window
        self.banner.setObjectName("offlineBanner")
        self.banner.setStyleSheet(
            "QLabel#offlineBanner { background: #fff4d6; color: #6b4e00; padding: 5px 12px;"
            " border-bottom: 1px solid #f0d48a; font-weight: 600; }")
        layout.addWidget(self.banner)
        layout.addWidget(self.splitter, 1)
        self.setCentralWidget(central)

        self.offline_label = QLabel(f"Offline file · {self.path}", self)
        self.offline_label.setTextFormat(Qt.TextFormat.PlainText)
        self.offline_label.setObjectName("offlineStatus")
        # The path can be longer than any screen: the label is cut, the tooltip has it all.
        self.offline_label.setMinimumWidth(STATUS_MIN_WIDTH)
        self.offline_label.setToolTip(str(self.path))
        self.statusBar().addWidget(self.offline_label, 1)
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1000)
        self.progress.setFixedWidth(180)
        self.progress.setFormat("Reading… %p%")
        self._progress_value = 0
        self._progress_timer = QTimer(self)
        self._progress_timer.setSingleShot(True)
        self._progress_timer.setInterval(PROGRESS_MS)
        self._progress_timer.timeout.connect(self._on_progress_timer_timeout)
        self.statusBar().addPermanentWidget(self.progress)
        self.cancel_button = QPushButton("Stop reading", self)
        self.cancel_button.clicked.connect(self.loader.cancel)
        self.statusBar().addPermanentWidget(self.cancel_button)
        self.error_box: QMessageBox | None = None

        self.open_action = QAction("Open file…", self)
        self.open_action.setShortcut(QKeySequence.StandardKey.Open)
        self.open_action.triggered.connect(self.open_file_requested)
        self.close_action = QAction("Close", self)
        self.close_action.setShortcut(QKeySequence.StandardKey.Close)
        self.close_action.triggered.connect(self.close)
        self.filters_action = QAction("Filters…", self)
        self.filters_action.setShortcut(QKeySequence("Ctrl+F"))
        self.filters_action.triggered.connect(self.history.open_filter_dialog)
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction(self.open_action)
        file_menu.addAction(self.close_action)
        view_menu = self.menuBar().addMenu("&View")
        view_menu.addAction(self.filters_action)
        view_menu.addAction(self.results_dock.toggleViewAction())
        # The Analytics charts of the file, computed by the same function the hub runs.
        self.analytics_vm = AnalyticsViewModel(owner.scope("offline-analytics"), self)
        self.analytics_vm.clock = self.export_moment
        self.analytics_vm.range_name = "30d"
        self.analytics_page: AnalyticsPage | None = None
        self.history_vm.filter_changed.connect(self.analytics_vm.set_filter)
        self.analytics_action = QAction("Analytics…", self)
        self.analytics_action.setShortcut(QKeySequence("Ctrl+Shift+A"))
        self.analytics_action.triggered.connect(self._on_analytics_action_triggered)
        view_menu.addAction(self.analytics_action)

        self._refresh = QTimer(self)
        self._refresh.setSingleShot(True)
        self._refresh.setInterval(REFRESH_MS)
        self._refresh.timeout.connect(self._on_refresh_timeout)
        self.loader.batch_loaded.connect(self._on_loader_batch_loaded)
        self.loader.progress_changed.connect(self._on_loader_progress_changed)
        self.loader.finished.connect(self._on_loader_finished)
        self.loader.failed.connect(self._on_loader_failed)
        self.history.session_selected.connect(self._on_history_session_selected)
        self.history.table.selection_left.connect(self._on_history_table_selection_left)
        # After the HistoryView's own slot (connected when it was built): the page is in the
        # table's model when this one runs.
        self.history_vm.rows_changed.connect(self._on_history_vm_rows_changed)
        self.resize(1480, 880)

    # ------------------------------------------------------------------ the file's moment

    def export_moment(self) -> datetime:
        """"Now" for this file: when it was exported (opened, for a CSV), never the clock."""
        index = self.loader.index
        if index is not None:
            return index.now
        return self._opened_at

    def set_time_zone(self, tz: tzinfo | None) -> None:
        self.history.set_time_zone(tz)
        self.detail.set_time_zone(tz)
        self.results_dock.set_time_zone(tz)

    def _on_analytics_action_triggered(self) -> None:
        index = self.index
        if index is None:
            self.statusBar().showMessage("Analytics opens once the file is read.", 5000)
            return
        if self.analytics_page is None:
            # Imported on first use: the charts' library is not needed to review a file.
            from supervisor_desk.views.analytics.page import AnalyticsPage

            self.analytics_page = AnalyticsPage(self.analytics_vm, self)
            self.analytics_page.setWindowFlag(Qt.WindowType.Window)
            self.analytics_page.setWindowTitle(
                f"Analytics — {self.path.name} — {OFFLINE_TAG} — Supervisor Desk")
            self.analytics_page.resize(1300, 900)
            self.analytics_page.drill_requested.connect(self._on_analytics_drill_requested)
        self.analytics_vm.filter = self.history_vm.filter
        self.analytics_vm.set_source(
            offline_analytics_source(index, self.export_moment(), self._index_thread))
        self.analytics_page.show()
        self.analytics_page.raise_()

    def _on_analytics_drill_requested(self, flt: SessionFilter) -> None:
        self.history_vm.set_filter(flt)
        self.raise_()
        self.activateWindow()

    # ------------------------------------------------------------------ loading

    def start(self) -> asyncio.Task[None]:
        """Read the file; the task ends when it is read (or stopped)."""
        if self._collection_hold is None and not self._closed:
            # The index's thread allocates for the table, the chat and the charts: garbage (Qt
            # objects in cycles included) is collected on the Qt thread while the window is.
            hold = self._collection_hold = PolicyHold()
            self.destroyed.connect(hold.release)  # not through self: it is being destroyed
        if self._icons_warming is None:
            self._icons_warming = self.tasks.spawn(self._warm_table_icons(), "offline-icons")
        return self.loader.start()

    async def _warm_table_icons(self) -> None:
        """While the first rows are read: the table's icons drawn once, a loop turn each, so
        the first paint of rows (the longest the window is busy while a file loads) does not
        parse and render them (icon_warmup.py)."""
        # After the window's own first paint (the loop turns just after show()), not in it.
        await asyncio.sleep(ICONS_AFTER_S)
        table = self.history.table
        size = table.iconSize()
        side = (size.height() if size.isValid() else table.style().pixelMetric(
            QStyle.PixelMetric.PM_SmallIconSize, None, table))
        for _ in warm_table_icons(side, self.devicePixelRatioF()):
            await asyncio.sleep(0)

    @property
    def index(self) -> OfflineIndex | None:
        return self.loader.index

    def _attach(self, index: OfflineIndex) -> None:
        source = OfflineSessionSource(index, self._index_thread)
        client = OfflineDetailClient(index, source)
        self._detail_client = client
        self.detail_vm.set_client(client)
        if self.detail.handover is not None:
            self.detail.handover.set_client(client)
            self.detail.handover.set_permissions(list(OFFLINE_PERMISSIONS))
        self.history_vm.set_source(source)

    def _on_loader_batch_loaded(self, count: int) -> None:
        index = self.loader.index
        if index is None:
            return
        if self.history_vm.source is None:
            self._attach(index)  # first rows: show them now
            log.info("offline review of %s: first %d sessions shown", self.path.name, count)
        elif not self._refresh.isActive():
            # Each refresh sorts and counts everything read so far: the bigger the index, the
            # rarer the refresh, so a big file costs the reading (and the GIL) little.
            self._refresh.start(max(REFRESH_MS, count // ROWS_PER_REFRESH_MS))
        self._show_status(loading=True)

    def _on_refresh_timeout(self) -> None:
        self.history_vm.refresh(quiet=True)  # the status line says it is reading
        self.history_vm.load_lookups()

    def _on_history_vm_rows_changed(self, rows: list[SessionSummary], appended: bool) -> None:
        if self._first_page_drawing is not None or not rows:
            return
        # The first rows: the table holds its paint while they are drawn ahead, band by band.
        viewport = self.history.table.viewport()
        viewport.setUpdatesEnabled(False)
        self._first_page_drawing = self.tasks.spawn(
            self._draw_first_page_ahead(viewport), "offline-first-page")

    async def _draw_first_page_ahead(self, viewport: QWidget) -> None:
        """Draw the table's first page off screen a band a loop turn, then let it paint: what
        is drawn for the first time (cells, badges, the style's item rules) is spread over
        the bands, and the page's paint on screen finds it drawn. Nothing on screen changes
        meanwhile; the page shows a few loop turns later."""
        try:
            width, height = viewport.width(), viewport.height()
            step = -(-height // FIRST_PAGE_BANDS)
            canvas = QPixmap(max(1, round(width * viewport.devicePixelRatioF())),
                             max(1, round(step * viewport.devicePixelRatioF())))
            canvas.setDevicePixelRatio(viewport.devicePixelRatioF())
            for top in range(0, height, step):
                await asyncio.sleep(0)
                viewport.render(canvas, QPoint(), QRegion(QRect(0, top, width, step)))
        finally:
            if shiboken6.isValid(viewport):
                viewport.setUpdatesEnabled(True)  # and a paint of the whole page

    def _on_loader_progress_changed(self, done: int, total: int) -> None:
        self._progress_value = int(1000 * done / total) if total else 1000
        if not self._progress_timer.isActive():
            self._progress_timer.start()

    def _on_progress_timer_timeout(self) -> None:
        self.progress.setValue(self._progress_value)

    def _on_loader_finished(self, report: ReadReport) -> None:
        self._refresh.stop()
        self._progress_timer.stop()
        log.info("offline review of %s: %d sessions read, %d skipped", self.path.name,
                 report.sessions, report.skipped)
        if self.loader.index is None:
            self._attach(OfflineIndex(self.path))
        else:
            self.history_vm.refresh(quiet=True)
            self.history_vm.load_lookups()
        self.progress.hide()
        self.cancel_button.hide()
        self._show_status(loading=False)
        if report.skipped:
            self._show_error(
                "Some records were skipped",
                f"{self.path.name}: {report.skipped:,} record"
                f"{'s' if report.skipped != 1 else ''} could not be read and "
                f"{'were' if report.skipped != 1 else 'was'} skipped; the other "
                f"{report.sessions:,} are shown.\n\n" + "\n".join(report.problems[:5]),
                QMessageBox.Icon.Warning,
            )

    def _on_loader_failed(self, message: str) -> None:
        self._refresh.stop()
        self._progress_timer.stop()
        self.progress.hide()
        self.cancel_button.hide()
        if self.loader.index is not None:
            self.history_vm.refresh()
        elif self.history_vm.source is None:
            self._attach(OfflineIndex(self.path))
        self._show_status(loading=False)
        self._show_error("Cannot open the file", message, QMessageBox.Icon.Critical)

    def _show_status(self, *, loading: bool) -> None:
        count = len(self.loader.index) if self.loader.index is not None else 0
        parts = [f"Offline file · {self.path}", f"{count:,} sessions"]
        if self.loader.report.skipped:
            parts.append(f"{self.loader.report.skipped:,} skipped")
        if loading:
            parts.append("reading…")
        elif self.loader.reader is not None and not self.loader.reader.has_transcripts:
            parts.append("CSV: no transcripts (in-transcripts search not applied)")
        self.offline_label.setText(" · ".join(parts))

    def _show_error(self, title: str, text: str, icon: QMessageBox.Icon) -> None:
        # open(), never exec(): no nested event loop under qasync.
        box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, self)
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        self.error_box = box
        box.open()

    # ------------------------------------------------------------------ selection

    def _on_history_session_selected(self, summary: SessionSummary | None) -> None:
        self.detail_vm.select(summary.id if summary is not None else None)

    def _on_history_table_selection_left(self, summary: SessionSummary) -> None:
        # A filter or page change took the session out of the table: the chat keeps it.
        self.detail.chat.set_list_note("No longer in this list")

    # ------------------------------------------------------------------ shutdown

    async def aclose(self) -> None:
        """Stop reading, end every task and thread of this window (then close() accepts)."""
        if self._closed:
            return
        try:
            self.loader.cancel()
            for task in (self._icons_warming, self._first_page_drawing):
                if task is not None:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
            # A drawing cancelled before its first step never let the table paint again.
            self.history.table.viewport().setUpdatesEnabled(True)
            await self.loader.wait()
            await self.history_vm.aclose()
            await self.detail_vm.aclose()
            if self.detail.handover is not None:
                await self.detail.handover.aclose()
            if self._detail_client is not None:
                self._detail_client.close()
            if self.loader.reader is not None:
                self.loader.reader.close()  # a .gz file's decompressed copy
            self._index_thread.shutdown(wait=True, cancel_futures=True)
            self._closed = True
        finally:
            # Even when the shutdown is cancelled: the collector must not stay off for good.
            if self._collection_hold is not None:
                self._collection_hold.release()

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.UpdateRequest:
            # The window's whole repaint runs in this event (the table and every widget
            # around it, their layouts first): the threads reading the file stand aside for
            # all of it (lock_slices.py), not only for the table's own paint, so the paint
            # has the interpreter lock and a core to itself.
            with foreground:
                return super().event(event)
        return super().event(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._closed:
            super().closeEvent(event)
            return
        # Closed by the user: hide now, end the tasks and threads, then close for real (a
        # window deleted on close must not be deleted under its own shutdown).
        event.ignore()
        self.hide()
        self.loader.cancel()
        if self._closing is None:
            self._closing = self.tasks.spawn(self._close_after_shutdown(), "offline-close")

    async def _close_after_shutdown(self) -> None:
        await self.aclose()
        self.close()
