"""Offline review: an exported file opened in its own window, with no network at all.

The file is read in a worker thread (:class:`OfflineLoader`) batch by batch; each batch is
appended to the :class:`OfflineIndex` on the Qt thread (a cheap append: parsing and text
normalisation happened in the worker) and the table refreshes as rows arrive. The window is
the same History view (filters, chips, paging, sort, metrics) over an offline source, and the
same detail pane, chat, logs drawer and results dock, fed from the file by
:class:`OfflineDetailClient`, which reads one session's transcript only when it is opened.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import tzinfo
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from supervisor_desk.models.export_file import (
    ExportFileError,
    ExportReader,
    IndexedSession,
    ReadReport,
    check_export,
)
from supervisor_desk.models.filters import SessionFilter
from supervisor_desk.models.offline_index import OfflineIndex, prepare_transcripts
from supervisor_desk.models.wire import (
    MeAnswer,
    Metrics,
    NamedItem,
    SessionDetail,
    SessionPage,
    SessionSummary,
    SystemLogEntry,
    TraceLogEntry,
    UserRef,
)
from supervisor_desk.views.history.view import HistoryView
from supervisor_desk.views.history.viewmodel import HistoryViewModel

log = logging.getLogger(__name__)

FIRST_BATCH = 200  # small, so the first rows show within a fraction of a second
BATCH = 1000
REFRESH_MS = 400  # while loading, the table follows the growing file at most this often
OFFLINE_TAG = "offline file"
# Transcripts are read by byte range on this thread: small reads, one at a time.
_READER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="offline-read")


class OfflineSessionSource:
    """History's :class:`SessionSource` over an opened file (queries run on the Qt thread:
    they are list slices over cached orders, well under a frame)."""

    def __init__(self, index: OfflineIndex) -> None:
        self.index = index

    async def page(self, flt: SessionFilter, sort: str, offset: int, limit: int) -> SessionPage:
        return self.index.query(flt, sort, offset, limit)

    async def metrics(self, flt: SessionFilter) -> Metrics | None:
        return self.index.metrics(flt)

    async def agents(self) -> list[NamedItem]:
        return self.index.agents()

    async def operators(self) -> list[NamedItem]:
        return self.index.operators()


class OfflineError(Exception):
    """Raised where the hub would answer something a file cannot (hand-over)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.status = None
        self.code = "offline"


class OfflineDetailClient:
    """The detail pane's hub client, answered from the file: transcripts read on demand."""

    def __init__(self, index: OfflineIndex) -> None:
        self.index = index
        self._cache: tuple[str, Any] | None = None

    async def _record(self, session_id: str) -> Any:
        if self._cache is not None and self._cache[0] == session_id:
            return self._cache[1]
        if self.index.get(session_id) is None:
            raise OfflineError(f"session {session_id!r} is not in this file")
        record = await asyncio.get_running_loop().run_in_executor(
            _READER, self.index.record, session_id)
        self._cache = (session_id, record)
        return record

    async def session(self, session_id: str) -> SessionDetail:
        record = await self._record(session_id)
        return SessionDetail(session=record.session, messages=record.messages)

    async def logs(self, session_id: str, kind: Any) -> list[SystemLogEntry] | list[TraceLogEntry]:
        record = await self._record(session_id)
        return list(record.logs.system if kind == "system" else record.logs.trace)

    async def me(self) -> MeAnswer:
        return MeAnswer(
            user=UserRef(id="offline", name="Offline review"),
            role="viewer",
            permissions=["sessions:read", "logs:read"],
        )

    async def handover(self, session_id: str) -> SessionSummary:
        raise OfflineError("An exported file is read-only: hand-over needs the hub")

    async def sessions(
        self,
        flt: SessionFilter | None = None,
        sort: str = "-started_at",
        offset: int = 0,
        limit: int = 50,
    ) -> SessionPage:
        return self.index.query(flt or SessionFilter(), sort, offset, limit)


class OfflineLoader(QObject):
    """Reads a file in a worker thread; batches land in ``index`` on the Qt thread."""

    batch_loaded = Signal(int)  # sessions in the index so far
    progress_changed = Signal(int, int)  # bytes read, total bytes
    finished = Signal(object)  # ReadReport
    failed = Signal(str)  # the ExportFileError text, naming the file and the problem

    def __init__(self, path: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.path = Path(path)
        self.index: OfflineIndex | None = None
        self.reader: ExportReader | None = None
        self.report = ReadReport()
        self.error = ""
        self.done = False
        self._stop = threading.Event()
        self._task: asyncio.Task[Any] | None = None

    def start(self) -> asyncio.Task[Any]:
        self._task = asyncio.get_event_loop().create_task(self._run(), name="offline-load")
        return self._task

    def cancel(self) -> None:
        self._stop.set()
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def wait(self) -> None:
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=4)

        def post(item: Any) -> None:
            # Back-pressure: the worker waits while the Qt side is 4 batches behind.
            asyncio.run_coroutine_threadsafe(queue.put(item), loop).result()

        def work() -> None:
            try:
                reader = ExportReader(self.path, batch_size=FIRST_BATCH)
                post(("reader", reader))
                for batch in reader.batches():
                    if self._stop.is_set():
                        return
                    post(("batch", batch, prepare_transcripts(batch)))
                    reader.batch_size = BATCH
                post(("done", None))
            except ExportFileError as exc:
                post(("error", str(exc)))
            except Exception as exc:  # a reader bug must still end the load with a message
                log.exception("offline load of %s failed", self.path)
                post(("error", f"{self.path.name}: could not be read ({exc})"))

        # A plain thread of our own (not the loop's default executor, QThreads under qasync):
        # it ends with the load and never outlives the loop that waits for it.
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="offline-load")
        worker = loop.run_in_executor(executor, work)
        try:
            while True:
                item = await queue.get()
                kind = item[0]
                if kind == "reader":
                    self.reader = item[1]
                    self.report = self.reader.report
                elif kind == "batch":
                    batch: list[IndexedSession] = item[1]
                    if self.index is None:
                        assert self.reader is not None
                        header = self.reader.header
                        self.index = OfflineIndex(
                            self.path,
                            has_transcripts=self.reader.has_transcripts,
                            now=header.exported_at if header and header.exported_at else None,
                        )
                    self.index.add(batch, item[2])
                    self.progress_changed.emit(self.report.bytes_read, self.report.total_bytes)
                    self.batch_loaded.emit(len(self.index))
                elif kind == "error":
                    self.error = item[1]
                    self.done = True
                    self.failed.emit(self.error)
                    break
                else:
                    self.done = True
                    self.progress_changed.emit(self.report.total_bytes, self.report.total_bytes)
                    self.finished.emit(self.report)
                    break
        finally:
            self._stop.set()
            # Unblock a worker waiting on a full queue, then let it end.
            while not worker.done():
                while not queue.empty():
                    queue.get_nowait()
                await asyncio.sleep(0.01)
            executor.shutdown(wait=True)


class OfflineWindow(QMainWindow):
    """One opened file: History's table and filters, the chat, logs and results dock."""

    open_file_requested = Signal()

    def __init__(
        self,
        path: Path,
        *,
        time_zone: tzinfo | None = None,
        detail_pane_factory: Callable[[Any], QWidget] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.path = Path(path)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
        self.setWindowTitle(f"{self.path.name} — {OFFLINE_TAG} — Supervisor Desk")
        self.setAcceptDrops(True)
        self._tasks: set[asyncio.Task[Any]] = set()
        self.loader = OfflineLoader(self.path, self)
        self.history_vm = HistoryViewModel(None, self)
        self.history = HistoryView(
            self.history_vm,
            self,
            time_zone=time_zone,
            settings_key="offline_table",
            scope="in this file",
        )
        self.detail_vm: Any = None
        self.detail: QWidget | None = None
        self.results_dock: Any = None
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(self.history)
        self._build_detail(time_zone)
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
        self.statusBar().addWidget(self.offline_label, 1)
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1000)
        self.progress.setFixedWidth(180)
        self.progress.setFormat("Reading… %p%")
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
        if self.results_dock is not None:
            view_menu.addAction(self.results_dock.toggleViewAction())

        self._refresh = QTimer(self)
        self._refresh.setSingleShot(True)
        self._refresh.setInterval(REFRESH_MS)
        self._refresh.timeout.connect(self._on_refresh_timeout)
        self.loader.batch_loaded.connect(self._on_loader_batch_loaded)
        self.loader.progress_changed.connect(self._on_loader_progress_changed)
        self.loader.finished.connect(self._on_loader_finished)
        self.loader.failed.connect(self._on_loader_failed)
        self.history.session_selected.connect(self._on_history_session_selected)
        self.resize(1480, 880)

    # ------------------------------------------------------------------ building

    def _build_detail(self, time_zone: tzinfo | None) -> None:
        from supervisor_desk.views.chat.pane import DetailPane
        from supervisor_desk.views.detail_viewmodel import DetailViewModel
        from supervisor_desk.views.results_dock import ResultsDock

        self.detail_vm = DetailViewModel(None, self)
        self.detail = DetailPane(self.detail_vm, parent=self, time_zone=time_zone)
        self.splitter.addWidget(self.detail)
        self.results_dock = ResultsDock(self, time_zone=time_zone)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.results_dock)
        self.detail.bind_dock(self.results_dock)
        # A file is a record of the past: there is nobody to hand over to, so no button.
        self.detail.handover_button.hide()

    # ------------------------------------------------------------------ loading

    def start(self) -> None:
        self.loader.start()

    @property
    def index(self) -> OfflineIndex | None:
        return self.loader.index

    def _attach(self, index: OfflineIndex) -> None:
        client = OfflineDetailClient(index)
        self.detail_vm.set_client(client)
        handover = getattr(self.detail, "handover", None)
        if handover is not None:
            handover.set_client(client)
            handover.set_permissions(["sessions:read", "logs:read"])
        self.history_vm.set_source(OfflineSessionSource(index))

    def _on_loader_batch_loaded(self, count: int) -> None:
        index = self.loader.index
        if index is None:
            return
        if self.history_vm.source is None:
            self._attach(index)  # first rows: show them now
        elif not self._refresh.isActive():
            self._refresh.start()
        self._show_status(loading=True)

    def _on_refresh_timeout(self) -> None:
        self.history_vm.refresh()
        self.history_vm.load_lookups()

    def _on_loader_progress_changed(self, done: int, total: int) -> None:
        self.progress.setValue(int(1000 * done / total) if total else 1000)

    def _on_loader_finished(self, report: ReadReport) -> None:
        self._refresh.stop()
        if self.loader.index is None:
            self._attach(OfflineIndex(self.path))
        else:
            self.history_vm.refresh()
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

    # ------------------------------------------------------------------ drag and drop

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if dropped_export_paths(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = dropped_export_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.files_dropped.emit(paths)

    files_dropped = Signal(list)

    # ------------------------------------------------------------------ shutdown

    async def aclose(self) -> None:
        self.loader.cancel()
        await self.loader.wait()
        await self.history_vm.aclose()
        closer = getattr(self.detail_vm, "aclose", None)
        if closer is not None:
            await closer()
        handover = getattr(self.detail, "handover", None)
        if handover is not None:
            await handover.aclose()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.loader.cancel()
        self.history_vm.shutdown()
        super().closeEvent(event)


def dropped_export_paths(mime: Any) -> list[Path]:
    if mime is None or not mime.hasUrls():
        return []
    return [
        Path(url.toLocalFile())
        for url in mime.urls()
        if url.isLocalFile()
        and Path(url.toLocalFile()).suffix.lower() in (".json", ".jsonl", ".ndjson", ".csv")
    ]


class OfflineReview(QObject):
    """Opens files into offline windows and remembers them (recent files, error dialogs)."""

    window_opened = Signal(object)  # OfflineWindow

    def __init__(
        self,
        parent_window: QWidget | None = None,
        *,
        time_zone: tzinfo | None = None,
        remember: Callable[[Path], None] | None = None,
    ) -> None:
        super().__init__(parent_window)
        self._parent = parent_window
        self._tz = time_zone
        self._remember = remember
        self.windows: list[OfflineWindow] = []
        self.error_box: QMessageBox | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def open(self, path: Path) -> OfflineWindow | None:
        """Check the file quickly, then open its window and read it in the background."""
        path = Path(path)
        try:
            check_export(path)
        except ExportFileError as exc:
            self._show_error(str(exc))
            return None
        window = OfflineWindow(path, time_zone=self._tz)
        # Destroyed by Qt on close, on this thread (never by Python's GC on another thread).
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        window.files_dropped.connect(self._on_window_files_dropped)
        window.destroyed.connect(lambda *_: self._forget(window))
        self.windows.append(window)
        if self._remember is not None:
            self._remember(path)
        window.show()
        window.start()
        self.window_opened.emit(window)
        return window

    def _on_window_files_dropped(self, paths: list[Path]) -> None:
        for path in paths:
            self.open(path)

    def _forget(self, window: OfflineWindow) -> None:
        if window in self.windows:
            self.windows.remove(window)

    def _show_error(self, text: str) -> None:
        box = QMessageBox(
            QMessageBox.Icon.Critical,
            "Cannot open the file",
            text,
            QMessageBox.StandardButton.Ok,
            self._parent,
        )
        box.setTextFormat(Qt.TextFormat.PlainText)
        self.error_box = box
        box.open()

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        task = asyncio.get_event_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        for window in list(self.windows):
            await window.aclose()
            window.close()


def open_file_command(path: str | Path) -> int:
    """``supervisor-desk open FILE``: check the file, then review it offline until closed.

    A file that cannot be opened prints one line on stderr naming it and the problem, and
    returns 2 before any window appears.
    """
    path = Path(path)
    try:
        check_export(path)
    except ExportFileError as exc:
        sys.stderr.write(f"supervisor-desk: {exc}\n")
        return 2
    import qasync

    app = QApplication.instance() or QApplication([sys.argv[0], str(path)])
    assert isinstance(app, QApplication)
    app.setApplicationName("Supervisor Desk")

    async def review() -> None:
        closed = asyncio.Event()
        window = OfflineWindow(path)
        window.destroyed.connect(closed.set)
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        window.show()
        window.start()
        app.lastWindowClosed.connect(closed.set)
        await closed.wait()
        await window.aclose()

    try:
        asyncio.run(review(), loop_factory=qasync.QEventLoop)
    except KeyboardInterrupt:
        return 130
    return 0
