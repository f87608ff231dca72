"""Composition root: QApplication + one qasync loop, services, window, tray; owns shutdown.

Shutdown is ours, not Qt's (docs/architecture.md, "Platform facts"):
``setQuitOnLastWindowClosed(False)``; Quit (menu, tray, SIGTERM, ``--exit-after``) sets an asyncio
event that :meth:`DeskApp.run` awaits while the loop still runs; it then stops the feed, cancels and
awaits every task, closes HTTP clients and the demo hub, and only then closes the window and
returns, so ``asyncio.Runner`` never sees a loop stopped under a pending future.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import logging.handlers
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import platformdirs
import qasync
from PySide6.QtCore import QModelIndex, QObject, QSocketNotifier, Qt, QTimer
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from supervisor_desk import APP_ID, APP_NAME, __version__
from supervisor_desk.client.redact import RedactingFilter, redact
from supervisor_desk.client.rest import HubClient, HubError
from supervisor_desk.client.settings import Preferences, load_preferences
from supervisor_desk.models.filters import SessionFilter
from supervisor_desk.models.live_order import LIVE_ORDERS, LiveOrder
from supervisor_desk.models.markers import resolve_time_zone
from supervisor_desk.views.detail_viewmodel import DetailViewModel
from supervisor_desk.views.export_dialog import ExportDialog, ExportViewModel
from supervisor_desk.views.history.view import HistoryView
from supervisor_desk.views.history.viewmodel import HistoryViewModel, HubSessionSource
from supervisor_desk.views.icons import app_icon
from supervisor_desk.views.live_viewmodel import LiveViewModel
from supervisor_desk.views.main_window import MainWindow, open_ui_settings
from supervisor_desk.views.notifications import NotificationCoalescer
from supervisor_desk.views.offline import OfflineReview
from supervisor_desk.views.session_table_model import SessionColumn, SessionTableModel
from supervisor_desk.views.sign_in_dialog import SignedIn, SignInFlow
from supervisor_desk.views.theme import apply_theme
from supervisor_desk.views.time_zone_dialog import TimeZoneDialog
from supervisor_desk.views.tray import TrayController

if TYPE_CHECKING:
    from supervisor_desk.client.credentials import CredentialStore

log = logging.getLogger("supervisor_desk")

STATE_FILE_ENV = "SUPERVISOR_DESK_STATE_FILE"


@dataclass(frozen=True, slots=True)
class AppOptions:
    server: str | None = None
    demo: bool = False
    screenshot: Path | None = None
    exit_after: float | None = None
    state_file: Path | None = None
    demo_rate: float = 15.0
    demo_seed: int | None = None
    started_at: float = 0.0  # time.monotonic() at process start, for the cold-start figure
    # Process-wide GC policy: only the real app process opts in (tests share one interpreter).
    freeze_gc: bool = False


# ------------------------------------------------------------------------------------------
# Logging


def log_dir() -> Path:
    home = os.environ.get("SUPERVISOR_DESK_HOME")
    if home:
        return Path(home) / "logs"
    return platformdirs.user_log_path(APP_ID)


def setup_logging(level: int = logging.INFO) -> Path:
    """Log to a rotating file (and warnings to stderr). Tokens are never logged anywhere."""
    directory = log_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "supervisor-desk.log"
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_supervisor_desk", False):
            root.removeHandler(handler)
            handler.close()
    file_handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=2_000_000, backupCount=3, encoding="utf-8"
    )
    file_handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    file_handler._supervisor_desk = True  # type: ignore[attr-defined]
    stderr_handler = logging.StreamHandler(sys.stderr)
    stderr_handler.setLevel(logging.WARNING)
    stderr_handler.setFormatter(logging.Formatter("supervisor-desk: %(levelname)s %(message)s"))
    stderr_handler._supervisor_desk = True  # type: ignore[attr-defined]
    for handler in (file_handler, stderr_handler):
        handler.addFilter(RedactingFilter())  # a token quoted in an error never hits the disk
    root.addHandler(file_handler)
    root.addHandler(stderr_handler)
    root.setLevel(level)
    # Request lines at INFO for every REST call would drown the log; errors still show.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("websockets").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    return path


# ------------------------------------------------------------------------------------------
# Tasks and errors


class Services:
    """Strong references to every long-lived task; the only place that cancels them."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self._on_task_done)
        return task

    def _on_task_done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            loop = asyncio.get_running_loop() if _loop_running() else None
            context = {"message": f"task {task.get_name()} failed", "exception": exc,
                       "task": task}
            if loop is not None:
                loop.call_exception_handler(context)
            else:
                log.error("task %s failed", task.get_name(), exc_info=exc)

    async def aclose(self, grace: float = 5.0) -> None:
        tasks = [t for t in self.tasks if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                log.warning("task %s did not stop within %.0f s", task.get_name(), grace)


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class ErrorReporter(QObject):
    """Logs unexpected errors and shows one non-modal dialog for them (never ``exec()``)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.errors: list[str] = []
        self._dialog: QMessageBox | None = None
        self.show_dialogs = True

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        sys.excepthook = self.excepthook
        loop.set_exception_handler(self.loop_exception_handler)

    def excepthook(
        self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            return
        log.critical("unhandled error", exc_info=(exc_type, exc, tb))
        self.report(f"{exc_type.__name__}: {exc}", "".join(traceback.format_tb(tb)))

    def loop_exception_handler(
        self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]
    ) -> None:
        exc = context.get("exception")
        message = context.get("message", "asyncio error")
        if isinstance(exc, asyncio.CancelledError):
            return
        log.error("asyncio: %s", message, exc_info=exc)
        details = "".join(traceback.format_exception(exc)) if exc is not None else ""
        self.report(f"{message}: {exc}" if exc is not None else message, details)

    def report(self, summary: str, details: str = "") -> None:
        summary, details = redact(summary), redact(details)
        self.errors.append(summary)
        if not self.show_dialogs or QApplication.instance() is None:
            return
        if self._dialog is not None and self._dialog.isVisible():
            self._dialog.setInformativeText(
                f"{len(self.errors)} errors so far; the latest: {summary}"
            )
            return
        dialog = QMessageBox(QMessageBox.Icon.Critical, f"{APP_NAME} — unexpected error",
                             "Something went wrong. The app keeps running; details are in the "
                             f"log folder ({log_dir()}).")
        dialog.setTextFormat(Qt.TextFormat.PlainText)
        dialog.setInformativeText(summary)
        if details:
            dialog.setDetailedText(details)
        dialog.setStandardButtons(QMessageBox.StandardButton.Close)
        self._dialog = dialog
        dialog.open()


# ------------------------------------------------------------------------------------------
# The app


class DeskApp(QObject):
    """Builds and wires services, window and tray; runs until Quit; then closes everything."""

    def __init__(
        self,
        qapp: QApplication,
        options: AppOptions,
        *,
        credentials: CredentialStore | None = None,
        demo_future: concurrent.futures.Future[Any] | None = None,
    ) -> None:
        super().__init__()
        self._demo_future = demo_future
        self.qapp = qapp
        self.options = options
        self.services = Services()
        self.errors = ErrorReporter(self)
        self.quit_requested = asyncio.Event()
        self.exit_code = 0
        self.prefs = Preferences()
        self._credentials = credentials
        self.flow: SignInFlow | None = None
        self.signed: SignedIn | None = None
        self.live: LiveViewModel | None = None
        self.demo: Any = None
        self.first_rows_after: float | None = None
        self.screenshot_saved: Path | None = None
        self.shutdown_clean: bool | None = None
        self._state_timer: QTimer | None = None
        self._status_timer: QTimer | None = None
        self._signal_notifier: QSocketNotifier | None = None
        self._signal_socks: tuple[socket.socket, socket.socket] | None = None
        self._session_flow_task: asyncio.Task[Any] | None = None

        self.model = SessionTableModel()
        self.settings = open_ui_settings()
        self.window = MainWindow(self.model, settings=self.settings)
        self.history_vm = HistoryViewModel(None, self)
        self.history = HistoryView(self.history_vm, settings=self.settings)
        self.history_page = self.window.add_page("History", self.history)
        self.offline = OfflineReview(self.window, remember=self._remember_file)
        self._open_dialog: QFileDialog | None = None
        self._export_dialog: ExportDialog | None = None
        self._export_vm: ExportViewModel | None = None
        self.detail = DetailViewModel(None, self)
        self.coalescer = NotificationCoalescer()
        self.tray = TrayController(
            self.window.notification_area,
            spawn=self.services.spawn,
            coalescer=self.coalescer,
            desktop_notifier=_make_desktop_notifier(),
            parent=self,
        )
        self._wire()

    # ---------------------------------------------------------------- wiring

    def _wire(self) -> None:
        w = self.window
        w.quit_requested.connect(self.request_quit)
        w.refresh_requested.connect(self._on_window_refresh_requested)
        w.sign_out_requested.connect(self._on_window_sign_out_requested)
        w.live_order_requested.connect(self._on_window_live_order_requested)
        w.session_selected.connect(self._on_window_session_selected)
        self.history.session_selected.connect(self._on_window_session_selected)
        w.page_changed.connect(self._on_window_page_changed)
        w.open_file_requested.connect(self._on_window_open_file_requested)
        w.recent_file_requested.connect(self._on_window_recent_file_requested)
        w.recent_cleared.connect(self._on_window_recent_cleared)
        w.time_zone_requested.connect(self._on_window_time_zone_requested)
        w.files_dropped.connect(self._on_window_files_dropped)
        w.export_requested.connect(self._on_window_export_requested)
        w.filters_requested.connect(self._on_window_filters_requested)
        w.user_menu.insertAction(w.sign_out_action, self.tray.pause_action)
        w.view_menu.addAction(self.tray.pause_action)
        self.tray.show_requested.connect(w.bring_to_front)
        self.tray.toggle_requested.connect(w.toggle_visible)
        self.tray.quit_requested.connect(self.request_quit)
        self.tray.session_requested.connect(self._on_tray_session_requested)
        self.tray.paused_changed.connect(self._on_tray_paused_changed)
        self.tray.tray_available_changed.connect(self._on_tray_available_changed)
        self.detail.detail_loaded.connect(self._on_detail_loaded)
        self.detail.message_appended.connect(w.chat.append_message)
        self.detail.message_updated.connect(w.chat.update_message)
        self.detail.session_changed.connect(self._on_detail_session_changed)
        self.detail.error_occurred.connect(self._on_detail_error_occurred)
        # Logs drawer (Ctrl+L), hand-over button and customer view under the chat.
        self.detail_tools = w.chat.attach_detail(self.detail, dock=w.results_dock)
        self.detail_tools.session_activated.connect(self._on_customer_view_session_activated)

    # ---------------------------------------------------------------- run

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        self.errors.install(loop)
        self._install_signal_handlers()
        self.qapp.setQuitOnLastWindowClosed(False)
        self.qapp.aboutToQuit.connect(self._on_qapp_about_to_quit)
        if self.options.exit_after is not None:
            loop.call_later(self.options.exit_after, self.request_quit)
        self.window.set_connection("connecting", "Starting…")
        self.model.set_loading(True)
        self.window.show()
        if self.options.started_at:
            log.info("window shown %.2f s after start", time.monotonic() - self.options.started_at)
        self.tray.start()
        self.window.close_to_tray = self.tray.has_tray
        self._start_timers()
        self._session_flow_task = self.services.spawn(self._session_flow(), "session-flow")
        try:
            await self.quit_requested.wait()
        finally:
            await self.shutdown()
        return self.exit_code

    async def _session_flow(self) -> None:
        """Load preferences, sign in (demo, stored token or dialog), then follow the feed."""
        loop = asyncio.get_running_loop()
        prefs, warning = await loop.run_in_executor(None, load_preferences)
        self.prefs = prefs
        if warning:
            self.window.set_status(warning)
        self.window.set_live_order(LiveOrder(prefs.live_order))
        self.window.set_recent_files(prefs.recent_files)
        self._apply_time_zone(prefs.time_zone)
        self.coalescer.notify_new = prefs.notifications.new_sessions
        self.coalescer.notify_ended = prefs.notifications.ended_sessions
        self.tray.set_paused(prefs.notifications.paused)
        if self._credentials is None:
            self._credentials = await loop.run_in_executor(None, _open_credentials)
        self.flow = SignInFlow(self._credentials, prefs, self.window)
        signed: SignedIn | None
        if self.options.demo:
            signed = await self._demo_sign_in()
        else:
            signed = await self.flow.resume(self.options.server)
            if signed is None:
                self.window.set_connection("unauthorized", "Signed out")
                self.model.set_loading(False)
                self.model.layoutChanged.emit()
                signed = await self.flow.ask(server=self.options.server)
        if signed is None:
            self.request_quit()
            return
        self._start_live(signed)

    async def _demo_sign_in(self) -> SignedIn:
        from supervisor_desk.demo import start_demo_hub

        self.window.set_connection("connecting", "Starting the demo hub…")
        loop = asyncio.get_running_loop()
        if self._demo_future is not None:
            self.demo = await asyncio.wrap_future(self._demo_future)
        else:
            self.demo = await loop.run_in_executor(
                None,
                lambda: start_demo_hub(rate=self.options.demo_rate, seed=self.options.demo_seed),
            )
        client = HubClient(self.demo.url)
        try:
            answer = await client.login(self.demo.username, self.demo.password)
        except BaseException:
            await client.aclose()
            raise
        # The demo account lives as long as this process: never put it in the keyring.
        return SignedIn(client, self.demo.username, answer.user.name, answer.role, False)

    def _start_live(self, signed: SignedIn) -> None:
        self.signed = signed
        live = LiveViewModel(
            signed.client, self.model, spawn=self.services.spawn, parent=self,
            freeze_gc_after_snapshot=self.options.freeze_gc,
        )
        self.live = live
        live.connection_changed.connect(self._on_live_connection_changed)
        live.metrics_changed.connect(self.window.set_metrics)
        live.sessions_started.connect(self.tray.sessions_started)
        live.sessions_ended.connect(self.tray.sessions_ended)
        live.message_received.connect(self.detail.on_message)
        live.session_updated.connect(self.detail.on_session)
        live.logs_appended.connect(self.detail.on_logs_appended)
        live.signed_out.connect(self._on_live_signed_out)
        live.first_rows_shown.connect(self._on_live_first_rows_shown)
        self.detail.set_client(signed.client)
        self.history_vm.set_source(HubSessionSource(signed.client))
        self.history.connect_live(live)
        session_only = not signed.persistent and not self.options.demo
        role = " · ".join(p for p in (signed.role, "session-only sign-in" if session_only else "")
                          if p)
        self.window.set_user(signed.display_name, role, signed.client.base_url)
        if not signed.persistent and not self.options.demo and self._credentials is not None:
            self.window.set_status(self._credentials.note)
        live.start()

    async def _stop_live(self) -> None:
        live, self.live = self.live, None
        if live is not None:
            await live.stop()
            live.deleteLater()
        self.detail.set_client(None)
        self.history_vm.set_source(None)

    # ---------------------------------------------------------------- sign-out / re-sign-in

    def _on_live_signed_out(self, reason: str) -> None:
        self._restart_session_flow(self._sign_in_again(reason, forget=True))

    def _on_window_sign_out_requested(self) -> None:
        self._restart_session_flow(self._sign_in_again("You signed out.", sign_out=True))

    def _restart_session_flow(self, coro: Coroutine[Any, Any, Any]) -> None:
        if self._session_flow_task is not None and not self._session_flow_task.done():
            coro.close()
            return
        self._session_flow_task = self.services.spawn(coro, "session-flow")

    async def _sign_in_again(self, reason: str, *, forget: bool = False,
                             sign_out: bool = False) -> None:
        signed = self.signed
        self.signed = None
        await self._stop_live()
        self.model.set_sessions([])
        self.window.set_user(None)
        self.window.set_connection("unauthorized", "Signed out", reason)
        if signed is not None and self.flow is not None:
            if sign_out:
                await self.flow.sign_out(signed)
            elif forget:
                await self.flow.forget(signed)
            await signed.client.aclose()
        if self.options.demo or self.flow is None:
            self.request_quit()
            return
        server = signed.client.base_url if signed is not None else None
        again = await self.flow.ask(reason=reason, server=server)
        if again is None:
            self.window.set_status("Signed out. Use File → Quit to leave, or restart to sign in.")
            return
        self._start_live(again)

    # ---------------------------------------------------------------- window/tray slots

    def _on_window_refresh_requested(self) -> None:
        if self.window.pages.currentIndex() == self.history_page:
            self.history_vm.refresh()
            return
        if self.live is not None:
            removed = self.live.refresh()
            self.window.set_status(f"Refreshed: {removed} ended session(s) removed.")

    def _on_window_page_changed(self, index: int) -> None:
        # History is a query on the hub: opening the page shows it as of now.
        if index == self.history_page and self.history_vm.source is not None:
            self.history_vm.refresh()

    def _on_window_open_file_requested(self) -> None:
        """File → Open file… (Ctrl+O): a non-modal file dialog, then offline review."""
        if self._open_dialog is not None and self._open_dialog.isVisible():
            self._open_dialog.raise_()
            return
        start = self.prefs.recent_files[0] if self.prefs.recent_files else str(Path.home())
        dialog = QFileDialog(self.window, "Open an exported file", str(Path(start).parent))
        dialog.setNameFilters(["Supervisor Desk exports (*.json *.jsonl *.ndjson *.csv)",
                               "All files (*)"])
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.fileSelected.connect(lambda name: self.offline.open(Path(name)))
        self._open_dialog = dialog
        dialog.open()

    def _on_window_export_requested(self) -> None:
        """Ctrl+E: History exports its filters; Live exports the live sessions."""
        source = self.history_vm.source
        client = getattr(source, "client", None)
        if client is None:
            self.window.set_status("Export needs a hub connection: sign in first.")
            return
        if self._export_dialog is not None and self._export_dialog.isVisible():
            self._export_dialog.raise_()
            return
        on_history = self.window.pages.currentIndex() == self.history_page
        flt = self.history_vm.filter if on_history else SessionFilter(live=True)
        table = self.history.table if on_history else self.window.table
        visible = [c for c in SessionColumn if not table.isColumnHidden(c)]
        if self._export_vm is None:
            self._export_vm = ExportViewModel(client, self)
        self._export_vm.client = client
        dialog = ExportDialog(
            self._export_vm, flt, visible_columns=visible,
            matching=self.history_vm.total if on_history else None,
            last_folder=self.prefs.last_export_dir, parent=self.window,
        )
        dialog.folder_chosen.connect(self._on_export_folder_chosen)
        self._export_dialog = dialog
        dialog.open()

    def _on_export_folder_chosen(self, folder: str) -> None:
        if self.prefs.last_export_dir != folder:
            self.prefs.last_export_dir = folder
            self._save_prefs()

    def _on_window_filters_requested(self) -> None:
        self.window.show_page(self.history_page)
        self.history.open_filter_dialog()

    def _on_window_files_dropped(self, paths: list[Path]) -> None:
        for path in paths:
            self.offline.open(path)

    def _remember_file(self, path: Path) -> None:
        self.prefs.add_recent_file(path)
        self._save_prefs()
        self.window.set_recent_files(self.prefs.recent_files)

    def _on_window_time_zone_requested(self) -> None:
        dialog = TimeZoneDialog(self.prefs.time_zone, self.window)
        dialog.time_zone_chosen.connect(self._on_time_zone_chosen)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    def _on_time_zone_chosen(self, name: str) -> None:
        self.prefs.time_zone = name
        self._save_prefs()
        self._apply_time_zone(name)

    def _apply_time_zone(self, name: str) -> None:
        tz = resolve_time_zone(name)
        self.window.set_time_zone(tz)
        self.history.set_time_zone(tz)

    def _on_window_recent_file_requested(self, name: str) -> None:
        self.offline.open(Path(name))

    def _on_window_recent_cleared(self) -> None:
        self.prefs.recent_files = []
        self._save_prefs()
        self.window.set_recent_files([])

    def _on_window_live_order_requested(self, order: str) -> None:
        self.window.set_live_order(order)
        if order in LIVE_ORDERS and self.prefs.live_order != order:
            self.prefs.live_order = LiveOrder(order)
            self._save_prefs()

    def _on_window_session_selected(self, session: Any) -> None:
        session_id = session.id if session is not None else None
        if session_id == self.detail.session_id:
            return
        if self.live is not None:
            self.live.watch(session_id)
        self.detail.select(session_id)

    def _on_detail_loaded(self, detail: Any) -> None:
        self.window.chat.set_detail(detail)
        self.window.results_dock.set_session(detail.session if detail is not None else None)

    def _on_detail_session_changed(self, summary: Any) -> None:
        self.window.chat.set_session(summary)
        self.window.results_dock.set_session(summary)

    def _on_detail_error_occurred(self, message: str) -> None:
        self.window.set_status(message)

    def _on_tray_session_requested(self, session_id: str) -> None:
        if not self.window.reveal_session(session_id):
            self.window.set_status("That session is no longer in the live list.")

    def _on_customer_view_session_activated(self, session_id: str) -> None:
        """A session header clicked in the customer view: show that session here."""
        if self.window.reveal_session(session_id):
            return  # live: selected in the table, which loads the chat and the dock
        # An ended session is not in the live list: load it into the chat and dock anyway,
        # after dropping the table's selection so a later table event cannot take it back.
        self.window.table.clearSelection()
        self.window.table.setCurrentIndex(QModelIndex())
        if self.live is not None:
            self.live.watch(session_id)
        self.detail.select(session_id)

    def _on_tray_paused_changed(self, paused: bool) -> None:
        if self.prefs.notifications.paused != paused:
            self.prefs.notifications.paused = paused
            self._save_prefs()

    def _on_tray_available_changed(self, available: bool) -> None:
        self.window.close_to_tray = available

    def _save_prefs(self) -> None:
        prefs = self.prefs.model_copy(deep=True)

        async def save() -> None:
            await asyncio.get_running_loop().run_in_executor(None, prefs.save)

        self.services.spawn(save(), "save-preferences")

    def _on_live_connection_changed(self, state: str, retry_in: Any, text: str) -> None:
        detail = self.live.connection_detail if self.live is not None else ""
        self.window.set_connection(state, text, detail)
        self.tray.set_connection_state(state, text)

    def _on_live_first_rows_shown(self) -> None:
        if self.first_rows_after is None and self.options.started_at:
            self.first_rows_after = time.monotonic() - self.options.started_at
            log.info("first live rows shown %.2f s after start", self.first_rows_after)
        if self.options.screenshot is not None and self.screenshot_saved is None:
            self.services.spawn(self._take_screenshot(self.options.screenshot), "screenshot")

    async def _take_screenshot(self, path: Path) -> None:
        """Grab the window once rows show; with a session open when none is, so the picture
        shows the chat and the dock too (the docs' screenshot)."""
        # A few more sessions arrive and the tick runs; wait (briefly) for a chat worth showing.
        await asyncio.sleep(1.5)
        await _poll(lambda: any(s.is_live and s.message_count >= 4 for s in self.model.sessions()),
                    within=12.0)
        if self.detail.session_id is None:
            # Among the rows on screen, so the table is not scrolled away from its top.
            first, last = self.window.table.visible_rows()
            sessions = [s for s in self.model.sessions()[first:last + 1] if s.is_live]
            if sessions:
                busiest = max(sessions, key=lambda s: (s.message_count, s.id))
                self.window.table.select_session(busiest.id)
                await _poll(lambda: self.detail.summary is not None, within=5.0)
                await asyncio.sleep(0.6)  # let the transcript lay out and paint
        if self.quit_requested.is_set():
            return
        image = self.window.grab().toImage()

        def save() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not image.save(str(path)):
                raise OSError(f"could not write {path}")

        await asyncio.get_running_loop().run_in_executor(None, save)
        self.screenshot_saved = path
        log.info("screenshot saved to %s", path)

    # ---------------------------------------------------------------- status and state dump

    def _start_timers(self) -> None:
        self._status_timer = QTimer(self)
        self._status_timer.setInterval(1000)
        self._status_timer.timeout.connect(self._on_status_timer_timeout)
        self._status_timer.start()
        if self.options.state_file is not None:
            self._state_timer = QTimer(self)
            self._state_timer.setInterval(1000)
            self._state_timer.timeout.connect(self._on_state_timer_timeout)
            self._state_timer.start()

    def _on_status_timer_timeout(self) -> None:
        live = self.live
        if live is None:
            return
        rows = self.model.rowCount()
        ended = sum(1 for s in self.model.sessions() if not s.is_live) if rows < 20000 else 0
        left = f"{rows:,} sessions on screen"
        if ended:
            left += f" · {ended} ended (F5 to clear)"
        right = ""
        if live.last_event_at is not None:
            ago = time.monotonic() - live.last_event_at
            right = f"Last event {ago:.0f} s ago" if ago >= 2 else "Live"
        self.window.set_status(left, right)

    def state(self) -> dict[str, Any]:
        """What the app shows, for the e2e tests and smoke checks (no secrets)."""
        from supervisor_desk.views.session_table_model import SessionColumn

        first_rows = []
        for row in range(min(5, self.model.rowCount())):
            index = self.model.index(row, SessionColumn.DURATION)
            s = self.model.session_at(row)
            first_rows.append({"id": s.id if s else None, "duration": index.data(),
                               "status": s.status if s else None})
        live = self.live
        return {
            "pid": os.getpid(),
            "time": time.time(),
            "rows": self.model.rowCount(),
            "first_rows": first_rows,
            "first_rows_after": self.first_rows_after,
            "connection": live.connection_state.value if live and live.connection_state else "",
            "connection_text": self.window.connection_pill.text(),
            "events_applied": live.events_applied if live else 0,
            "window_visible": self.window.isVisible(),
            "tray_visible": self.tray.tray_visible,
            "desktop_notifications": self.tray.desktop_notifications,
            "notifications_sent": self.tray.notifications_sent,
            "alerts": [{"title": a.title, "body": a.body, "session_id": a.session_id}
                       for a in self.tray.last_alerts],
            "in_window_notifications": self.window.notification_area.shown_count,
            "selected": self.detail.session_id,
            "screenshot": str(self.screenshot_saved) if self.screenshot_saved else None,
            "errors": list(self.errors.errors),
            "version": __version__,
        }

    def _on_state_timer_timeout(self) -> None:
        path = self.options.state_file
        if path is None:
            return
        payload = json.dumps(self.state(), indent=1)

        def write() -> None:
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_text(payload, encoding="utf-8")
            os.replace(tmp, path)

        async def write_async() -> None:
            await asyncio.get_running_loop().run_in_executor(None, write)

        self.services.spawn(write_async(), "state-file")

    # ---------------------------------------------------------------- quitting

    def request_quit(self) -> None:
        if not self.quit_requested.is_set():
            log.info("quit requested")
            self.quit_requested.set()

    def _on_qapp_about_to_quit(self) -> None:
        # Fires when the session manager ends us (logout) and again during Runner.close():
        # synchronous best effort only, there may be no running loop any more.
        self.window.save_state()

    def _install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT -> the owned quit. A wakeup socket makes Qt's C++ loop notice."""
        if sys.platform == "win32":
            return
        reader, writer = socket.socketpair()
        reader.setblocking(False)
        writer.setblocking(False)
        self._signal_socks = (reader, writer)
        signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
        notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read, self)
        notifier.activated.connect(self._on_signal_notifier_activated)
        self._signal_notifier = notifier
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda s, f: self._on_signal(s))

    def _on_signal_notifier_activated(self, *args: Any) -> None:
        if self._signal_socks is not None:
            with contextlib.suppress(OSError):
                self._signal_socks[0].recv(64)

    def _on_signal(self, signum: int) -> None:
        log.info("signal %s: quitting", signal.Signals(signum).name)
        self.request_quit()

    def _restore_signal_handlers(self) -> None:
        if self._signal_socks is None:
            return
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        if self._signal_notifier is not None:
            self._signal_notifier.setEnabled(False)
        for sock in self._signal_socks:
            sock.close()
        self._signal_socks = None

    async def shutdown(self) -> None:
        """Stop everything while the loop still runs; idempotent."""
        started = time.monotonic()
        for timer in (self._state_timer, self._status_timer):
            if timer is not None:
                timer.stop()
        if self.options.state_file is not None:
            # One last dump so a test sees the final state.
            with contextlib.suppress(OSError):
                self.options.state_file.write_text(json.dumps(self.state(), indent=1))
        self.window.save_state()
        if self.flow is not None and self.flow.dialog is not None:
            self.flow.dialog.reject()
        await self._stop_live()
        await self.history_vm.aclose()
        await self.offline.aclose()
        if self._export_vm is not None:
            await self._export_vm.aclose()
        await self.detail.aclose()
        await self.tray.aclose()
        await self.services.aclose()
        if self.signed is not None:
            with contextlib.suppress(HubError, OSError):
                await self.signed.client.aclose()
        if self.demo is None and self._demo_future is not None:
            # Quit before the demo hub finished starting: wait for it, then stop it.
            with contextlib.suppress(Exception):
                self.demo = await asyncio.wrap_future(self._demo_future)
        if self.demo is not None:
            demo, self.demo = self.demo, None
            await asyncio.get_running_loop().run_in_executor(None, demo.stop)
        self.window.allow_close()
        self.window.close()
        self._restore_signal_handlers()
        left = sorted(t.get_name() for t in self.services.tasks if not t.done())
        if left:
            log.warning("tasks still running after shutdown: %s", ", ".join(left))
        self.shutdown_clean = not left
        log.info("shut down in %.2f s", time.monotonic() - started)


def _open_credentials() -> CredentialStore:
    # keyring's import and backend discovery take a while: done here, off the Qt thread.
    from supervisor_desk.client.credentials import CredentialStore

    return CredentialStore()


async def _poll(predicate: Callable[[], bool], *, within: float, step: float = 0.05) -> bool:
    """Wait until ``predicate()`` holds (widget state has no event to await); False on timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(step)
    return True


def _make_desktop_notifier() -> Any:
    if not sys.platform.startswith(("linux", "freebsd", "openbsd")):
        return None
    from supervisor_desk.client.desktop_notify import DesktopNotifier

    return DesktopNotifier(APP_NAME, desktop_entry=APP_ID, icon=APP_ID)


def create_qapp(argv: list[str] | None = None) -> QApplication:
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        return existing
    qapp = QApplication(argv if argv is not None else sys.argv[:1])
    qapp.setApplicationName(APP_NAME)
    qapp.setApplicationDisplayName(APP_NAME)
    qapp.setOrganizationName(APP_ID)
    qapp.setApplicationVersion(__version__)
    qapp.setDesktopFileName(APP_ID)
    qapp.setWindowIcon(app_icon())
    apply_theme(qapp)
    return qapp


def run_app(
    options: AppOptions,
    *,
    qapp_factory: Callable[[], QApplication] | None = None,
    demo_future: concurrent.futures.Future[Any] | None = None,
) -> int:
    """Run the desktop app until Quit; returns the process exit code."""
    log_path = setup_logging()
    log.info("Supervisor Desk %s starting (log: %s)", __version__, log_path)
    qapp = qapp_factory() if qapp_factory is not None else create_qapp()
    with asyncio.Runner(loop_factory=qasync.QEventLoop) as runner:
        desk = DeskApp(qapp, options, demo_future=demo_future)
        code = runner.run(desk.run())
    log.info("exit %d", code)
    return code
