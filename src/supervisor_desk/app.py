"""Composition root: QApplication + one qasync loop, the task owner, window, tray; owns shutdown.

Everything with a job of its own lives beside it: ``logging_setup`` (the log file),
``views/error_reporter`` (unexpected errors), ``views/tasks`` (the one ``TaskOwner``),
``account`` (signing in and out), ``posix_signals`` (SIGTERM/SIGINT), ``app_probe`` (state
dump and screenshot for tests). This module builds them, wires their signals, and runs.

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
import logging
import os
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from PySide6.QtCore import QModelIndex, QObject, Qt
from PySide6.QtWidgets import QApplication, QFileDialog

from supervisor_desk import APP_ID, APP_NAME, __version__
from supervisor_desk.account import WAITING_NOTE, Account
from supervisor_desk.app_probe import StateFile, app_state, take_screenshot
from supervisor_desk.client.alert_rules_store import load_rules, save_rules
from supervisor_desk.client.rest import HubClient, HubError
from supervisor_desk.client.settings import NotificationPrefs, Preferences, load_preferences
from supervisor_desk.logging_setup import setup_logging
from supervisor_desk.models.alerts.defaults import ROUTINE_ENDED_ID, ROUTINE_NEW_ID, default_rules
from supervisor_desk.models.alerts.engine import AlertUpdate
from supervisor_desk.models.alerts.rules import RuleSet
from supervisor_desk.models.analytics import DEFAULT_SLA_SECONDS
from supervisor_desk.models.filters import SessionFilter
from supervisor_desk.models.live_order import LIVE_ORDERS, LiveOrder
from supervisor_desk.models.markers import resolve_time_zone
from supervisor_desk.models.wire import ImportAnswer
from supervisor_desk.posix_signals import QuitOnSignal
from supervisor_desk.views.alerts.highlight import tint_rows
from supervisor_desk.views.alerts.notify import AlertNotifier
from supervisor_desk.views.alerts.panel import AlertsPanel
from supervisor_desk.views.alerts.viewmodel import AlertsViewModel
from supervisor_desk.views.analytics.viewmodel import AnalyticsViewModel, hub_analytics_source
from supervisor_desk.views.clock import on_screen, screen_clock
from supervisor_desk.views.detail_viewmodel import DetailViewModel
from supervisor_desk.views.error_reporter import ErrorReporter
from supervisor_desk.views.gc_policy import GarbageCollectionPolicy, hold_policy, release_policy
from supervisor_desk.views.history.view import HistoryView
from supervisor_desk.views.history.viewmodel import HistoryViewModel, HubSessionSource
from supervisor_desk.views.icons import app_icon
from supervisor_desk.views.lazy_page import LazyPage
from supervisor_desk.views.live_viewmodel import FeedHold, LiveViewModel
from supervisor_desk.views.main_window import MainWindow, open_ui_settings
from supervisor_desk.views.notifications import NotificationCoalescer
from supervisor_desk.views.offline import OfflineReview
from supervisor_desk.views.qt_loop import DeskEventLoop
from supervisor_desk.views.saved_views import SavedViewsController
from supervisor_desk.views.session_table_model import SessionColumn, SessionTableModel
from supervisor_desk.views.tasks import TaskOwner
from supervisor_desk.views.theme import ThemeChoice, apply_theme, theme_controller
from supervisor_desk.views.tray import TrayController
from supervisor_desk.views.wall.viewmodel import WallViewModel

if TYPE_CHECKING:
    from supervisor_desk.client.credentials import CredentialStore

    # Dialogs and windows that are not on screen at start: imported when first opened.
    from supervisor_desk.views.alerts.editor import AlertRulesDialog
    from supervisor_desk.views.analytics.page import AnalyticsPage
    from supervisor_desk.views.export_dialog import ExportDialog, ExportViewModel
    from supervisor_desk.views.help_dialogs import AboutDialog
    from supervisor_desk.views.import_audio_dialog import ImportAudioDialog, ImportAudioViewModel
    from supervisor_desk.views.preferences_dialog import PreferencesDialog
    from supervisor_desk.views.sign_in_dialog import SignedIn, SignInFlow
    from supervisor_desk.views.wall.window import WallWindow

__all__ = ["AppOptions", "DeskApp", "ErrorReporter", "create_qapp", "run_app", "setup_logging"]

log = logging.getLogger("supervisor_desk")

STATE_FILE_ENV = "SUPERVISOR_DESK_STATE_FILE"


@dataclass(frozen=True, slots=True)
class AppOptions:
    server: str | None = None
    ca_file: Path | None = None  # --ca-file: a CA the server's certificate may chain to
    demo: bool = False
    screenshot: Path | None = None
    exit_after: float | None = None
    state_file: Path | None = None
    demo_rate: float = 15.0
    demo_seed: int | None = None
    started_at: float = 0.0  # time.monotonic() at process start, for the cold-start figure
    # Process-wide GC policy: only the real app process opts in (tests share one interpreter).
    freeze_gc: bool = False


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
        self.qapp = qapp
        self.options = options
        self.errors = ErrorReporter(self)
        # The one owner of every background task; a failure anywhere reaches the reporter.
        self.tasks = TaskOwner(self.errors.task_failed)
        self._app_tasks = self.tasks.scope("app")
        self.quit_requested = asyncio.Event()
        self.exit_code = 0
        self.prefs = Preferences()
        self.signed: SignedIn | None = None
        self.live: LiveViewModel | None = None
        self.first_rows_after: float | None = None
        self.screenshot_saved: Path | None = None
        self.shutdown_clean: bool | None = None
        self._session_flow_task: asyncio.Task[Any] | None = None
        # Garbage collected on the Qt thread between frames, for the app's lifetime (gc_policy).
        self._gc_policy: GarbageCollectionPolicy | None = (
            hold_policy() if options.freeze_gc else None)

        self.model = SessionTableModel()
        self.settings = open_ui_settings()
        self.window = MainWindow(self.model, settings=self.settings)
        if self._gc_policy is not None:
            # Off screen the collector's coarse timer and watchdog wake seldom (gc_policy).
            self._gc_policy.set_on_screen(self.window.on_screen)
            self.window.on_screen_changed.connect(self._gc_policy.set_on_screen)
        self.account = Account(
            self.window, demo=options.demo, demo_rate=options.demo_rate,
            demo_seed=options.demo_seed, credentials=credentials, demo_future=demo_future,
            ca_file=options.ca_file, tasks=self.tasks.scope("account"),
        )
        self.history_vm = HistoryViewModel(None, self, tasks=self.tasks.scope("history"))
        self.history = HistoryView(self.history_vm, settings=self.settings)
        self.history_page = self.window.add_page("History", self.history)
        self.analytics_vm = AnalyticsViewModel(self.tasks.scope("analytics"), self)
        # Built on its first show (ten charts and pyqtgraph are not on screen at start).
        self.analytics_holder = LazyPage(self._build_analytics_page)
        self.analytics_page = self.window.add_page("Analytics", self.analytics_holder)
        # Charts follow History's filters; a click on a bucket opens History on it.
        self.history_vm.filter_changed.connect(self.analytics_vm.set_filter)
        self.wall_vm = WallViewModel(self.tasks.scope("wall"), self)
        self.wall_window: WallWindow | None = None
        self.wall_vm.on_screen = lambda: (self.wall_window is not None
                                          and on_screen(self.wall_window))
        self.history_vm.filter_changed.connect(self.wall_vm.set_filter)
        self.window.wall_action.triggered.connect(self._on_window_wall_requested)
        self.saved_views = SavedViewsController(
            self.history, cast("AnalyticsPage", _OnFirstUse(lambda: self.analytics)),
            lambda: self.window.pages.currentIndex() == self.analytics_page, self.window)
        self.window.menuBar().insertMenu(self.window.window_menu.menuAction(),
                                         self.saved_views.menu)
        self.saved_views.status.connect(self.window.set_status)
        self.saved_views.view_applied.connect(self._on_saved_views_view_applied)
        self.offline = OfflineReview(self.window, remember=self._remember_file,
                                     tasks=self.tasks.scope("offline"))
        self._open_dialog: QFileDialog | None = None
        self._export_dialog: ExportDialog | None = None
        self._export_vm: ExportViewModel | None = None
        self._import_audio_dialog: ImportAudioDialog | None = None
        self._import_audio_vm: ImportAudioViewModel | None = None
        self.preferences_dialog: PreferencesDialog | None = None
        self.about_dialog: AboutDialog | None = None
        self.detail = DetailViewModel(None, self, tasks=self.tasks.scope("detail"))
        self.coalescer = NotificationCoalescer()
        self.tray = TrayController(
            self.window.notification_area,
            tasks=self.tasks.scope("tray"),
            coalescer=self.coalescer,
            desktop_notifier=_make_desktop_notifier(),
            parent=self,
        )
        # Alert rules: the engine's view-model (fed by the live view-model), what tells the
        # user (notifications, banners, sounds) and the Alerts panel (View → Alerts).
        self.alerts = AlertsViewModel(default_rules(), parent=self)
        self.alert_notifier = AlertNotifier(self.tray, self.window.notification_area,
                                            tasks=self.tasks.scope("alert-sound"), parent=self)
        self.alerts_panel = AlertsPanel(self.alerts, self.window)
        # The Wall shows each session's alert and can show only sessions with open alerts;
        # Analytics counts "within SLA" by the first wait rule.
        self.wall_vm.alert_state = self.alerts.highlight
        self.wall_vm.alerting = lambda: {
            a.session_id for a in self.alerts.alerts() if a.state == "open"}
        self.alerts.subscribe(self, self._on_alerts_changed)
        self.alerts.rules_changed.connect(self._on_alerts_rules_changed)
        self._on_alerts_rules_changed(self.alerts.rules)
        self.alert_rules_dialog: AlertRulesDialog | None = None
        self._quit_on_signal = QuitOnSignal(self.request_quit, self)
        self._state_file = (
            StateFile(options.state_file, self.state, self.tasks.scope("state-file"), self)
            if options.state_file is not None else None
        )
        self._wire()

    @property
    def analytics(self) -> AnalyticsPage:
        """The Analytics page (built now if it has not been shown yet)."""
        return cast("AnalyticsPage", self.analytics_holder.content())

    def _build_analytics_page(self) -> AnalyticsPage:
        from supervisor_desk.views.analytics.page import AnalyticsPage

        page = AnalyticsPage(self.analytics_vm)
        page.drill_requested.connect(self._on_analytics_drill_requested)
        return page

    @property
    def flow(self) -> SignInFlow | None:
        """The sign-in flow (its dialog, while one is open)."""
        return self.account.flow

    # ---------------------------------------------------------------- wiring

    def _wire(self) -> None:
        w = self.window
        w.quit_requested.connect(self.request_quit)
        w.refresh_requested.connect(self._on_window_refresh_requested)
        w.sign_out_requested.connect(self._on_window_sign_out_requested)
        w.sign_in_requested.connect(self._on_window_sign_in_requested)
        w.live_order_requested.connect(self._on_window_live_order_requested)
        w.on_screen_changed.connect(self._update_feed_hold)
        w.session_selected.connect(self._on_window_session_selected)
        self.history.session_selected.connect(self._on_history_session_selected)
        self.history.table.selection_left.connect(w.mark_left_list)
        w.live_options.preferences_changed.connect(self._on_live_options_changed)
        controller = theme_controller()
        if controller is not None:
            controller.choice_changed.connect(self._on_theme_choice_changed)
        w.page_changed.connect(self._on_window_page_changed)
        w.open_file_requested.connect(self._on_window_open_file_requested)
        w.recent_file_requested.connect(self._on_window_recent_file_requested)
        w.recent_cleared.connect(self._on_window_recent_cleared)
        w.time_zone_requested.connect(self._on_window_time_zone_requested)
        w.preferences_requested.connect(self._on_window_preferences_requested)
        w.handover_requested.connect(self._on_window_handover_requested)
        w.customer_view_requested.connect(self._on_window_customer_view_requested)
        w.search_requested.connect(self._on_window_search_requested)
        w.about_requested.connect(self._on_window_about_requested)
        w.files_dropped.connect(self._on_window_files_dropped)
        w.export_requested.connect(self._on_window_export_requested)
        w.import_audio_requested.connect(self._on_window_import_audio_requested)
        w.filters_requested.connect(self._on_window_filters_requested)
        w.user_menu.insertAction(w.sign_out_action, self.tray.pause_action)
        w.view_menu.addAction(self.tray.pause_action)
        self.tray.show_requested.connect(w.bring_to_front)
        self.tray.toggle_requested.connect(w.toggle_visible)
        self.tray.quit_requested.connect(self.request_quit)
        self.tray.session_requested.connect(self._on_tray_session_requested)
        self.tray.paused_changed.connect(self._on_tray_paused_changed)
        self.tray.tray_available_changed.connect(self._on_tray_available_changed)
        self.alerts.subscribe(self.alert_notifier, self.alert_notifier.on_alerts_changed)
        self.tray.acknowledge_requested.connect(self.alerts.acknowledge_session)
        self.alerts_panel.session_requested.connect(self._on_tray_session_requested)
        self.alerts_panel.rules_requested.connect(self._on_alerts_rules_requested)
        w.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.alerts_panel)
        self.alerts_panel.hide()
        w.view_menu.addAction(self.alerts_panel.toggleViewAction())
        self._apply_alert_rules(self.alerts.rules)
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
        self._quit_on_signal.install()
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
        self._session_flow_task = self._app_tasks.spawn(self._session_flow(), "session-flow")
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
        self.window.live_options.apply_preferences(prefs)
        self.window.set_recent_files(prefs.recent_files)
        self._apply_time_zone(prefs.time_zone)
        controller = theme_controller()
        if controller is not None:
            controller.set_choice(prefs.theme)
        self._apply_notification_prefs()
        rules, rules_warning = await loop.run_in_executor(None, load_rules)
        if rules_warning:
            self.window.set_status(rules_warning)
        self._apply_alert_rules(rules)
        self.tray.set_paused(prefs.notifications.paused)
        await self.account.open(prefs)
        if self.options.demo:
            self.window.set_connection("connecting", "Starting the demo hub…")
        signed = await self.account.sign_in_at_start(self.options.server)
        if signed is None:
            if self.account.waiting_for_keyring:
                self.window.set_connection("connecting", "Waiting for the system keyring…",
                                           WAITING_NOTE)
                self.window.set_status("Waiting for the system keyring: you can sign in "
                                       "meanwhile (kept for this session, stored when the "
                                       "keyring answers).")
                self._app_tasks.spawn(self._store_when_keyring_answers(), "keyring-answer")
            else:
                self.window.set_connection("unauthorized", "Signed out")
            self.model.set_loading(False)
            self.model.layoutChanged.emit()
            signed = await self.account.ask(server=self.options.server, startup=True)
        if signed is None:
            self.request_quit()
            return
        self._start_live(signed)

    async def _store_when_keyring_answers(self) -> None:
        """The keyring answered late: keep the session-only sign-in there from now on."""
        kept = await self.account.keyring_answered(lambda: self.signed)
        signed = self.signed
        if kept and signed is not None:
            self.window.set_user(signed.display_name, signed.role, signed.client.base_url)
            self.window.statusBar().showMessage(
                "Your sign-in is now stored in the system keyring.", 15_000)

    def _start_live(self, signed: SignedIn) -> None:
        self.signed = signed
        self.window.set_signed_in()
        live = LiveViewModel(
            signed.client, self.model, tasks=self.tasks.scope("live"), parent=self,
            gc_policy=self._gc_policy,
        )
        self.live = live
        self.window.live_options.bind(live)
        live.connection_changed.connect(self._on_live_connection_changed)
        live.metrics_changed.connect(self.window.set_metrics)
        # New/ended notifications are the alert engine's two built-in rules now.
        self.alerts.user = signed.display_name
        live.attach_alerts(self.alerts)
        live.message_received.connect(self.detail.on_message)
        live.session_updated.connect(self.detail.on_session)
        live.logs_appended.connect(self.detail.on_logs_appended)
        live.signed_out.connect(self._on_live_signed_out)
        live.first_rows_shown.connect(self._on_live_first_rows_shown)
        # Closed to the tray or minimised: the table holds still, the rest follows the feed.
        live.set_on_screen(self.window.on_screen)
        self.window.on_screen_changed.connect(live.set_on_screen)
        # The hub may hold events back (what could open an alert still goes at once): a
        # deadline's judgement asks for what it holds first.
        self.alerts.before_deadline = live.flush_feed
        self._update_feed_hold()
        self.detail.set_client(signed.client)
        self.history_vm.set_source(HubSessionSource(signed.client))
        self.history.connect_live(live)
        self.analytics_vm.set_source(hub_analytics_source(signed.client))
        for moved in (live.sessions_started, live.sessions_ended, live.session_updated):
            moved.connect(self.analytics_vm.note_feed_activity)
        self.wall_vm.loader = signed.client.session
        self.wall_vm.sessions = lambda: list(live.store)
        live.session_updated.connect(self.wall_vm.on_session)
        live.messages_received.connect(self.wall_vm.on_messages)
        session_only = not signed.persistent and not self.options.demo
        role = " · ".join(p for p in (signed.role, "session-only sign-in" if session_only else "")
                          if p)
        self.window.set_user(signed.display_name, role, signed.client.base_url)
        if session_only and self.account.note:
            self.window.set_status(self.account.note)
        live.start()

    async def _stop_live(self) -> None:
        live, self.live = self.live, None
        self.alerts.before_deadline = None
        self.window.live_options.bind(None)
        if live is not None:
            await live.stop()
            live.deleteLater()
        self.alerts.reset([])
        self.detail.set_client(None)
        self.history_vm.set_source(None)
        self.analytics_vm.set_source(None)
        self.wall_vm.loader = None
        self.wall_vm.sessions = list
        self.wall_vm.reselect(replace_all=True)

    # ---------------------------------------------------------------- sign-out / re-sign-in

    def _on_live_signed_out(self, reason: str) -> None:
        self._restart_session_flow(self._sign_in_again(reason, forget=True))

    def _on_window_sign_out_requested(self) -> None:
        """Sign out, confirmed in the window's question."""
        self._restart_session_flow(self._sign_in_again("You signed out.", sign_out=True))

    def _on_window_sign_in_requested(self) -> None:
        """File → Sign in…, the account button or the empty Live page, after a cancel."""
        if self.signed is None:
            self._restart_session_flow(self._ask_sign_in(""))

    def _restart_session_flow(self, coro: Coroutine[Any, Any, Any]) -> None:
        if self._session_flow_task is not None and not self._session_flow_task.done():
            coro.close()
            if self.account.flow is not None and self.account.flow.dialog is not None:
                self.account.flow.dialog.raise_()
            return
        self._session_flow_task = self._app_tasks.spawn(coro, "session-flow")

    async def _sign_in_again(self, reason: str, *, forget: bool = False,
                             sign_out: bool = False) -> None:
        signed = self.signed
        self.signed = None
        await self._stop_live()
        self._show_signed_out(reason)
        if signed is not None:
            await self.account.end(signed, revoke=sign_out, forget=forget)
        if self.options.demo or self.account.flow is None:
            self.request_quit()
            return
        await self._ask_sign_in(reason, signed.client.base_url if signed is not None else None)

    async def _ask_sign_in(self, reason: str, server: str | None = None) -> None:
        again = await self.account.ask(reason=reason, server=server)
        if again is None:
            self.window.set_status("Signed out. Sign in again with File → Sign in…")
            return
        self.window.set_status("")
        self._start_live(again)

    def _show_signed_out(self, reason: str) -> None:
        """Nothing of the previous account stays on screen: table, cards, chat, dock."""
        self.model.set_sessions([])
        self.window.table.clearSelection()
        self.detail.select(None)
        self.window.results_dock.set_session(None)
        self.window.set_signed_out(reason)
        self.window.set_connection("unauthorized", "Signed out", reason)
        self.tray.set_connection_state("unauthorized", "Signed out")

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
        self._on_clock_status_bar()  # the status bar speaks of the page on screen

    def _on_window_open_file_requested(self) -> None:
        """File → Open file… (Ctrl+O): a non-modal file dialog, then offline review."""
        if self._open_dialog is not None and self._open_dialog.isVisible():
            self._open_dialog.raise_()
            return
        start = self.prefs.recent_files[0] if self.prefs.recent_files else str(Path.home())
        dialog = QFileDialog(self.window, "Open an exported file", str(Path(start).parent))
        dialog.setNameFilters(["Supervisor Desk exports (*.json *.jsonl *.ndjson *.csv *.gz *.zip)",
                               "All files (*)"])
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.fileSelected.connect(lambda name: self.offline.open(Path(name)))
        self._open_dialog = dialog
        dialog.open()

    def _on_window_export_requested(self) -> None:
        """Ctrl+E: History exports its filters; Live exports the live sessions."""
        from supervisor_desk.views.export_dialog import ExportDialog, ExportViewModel

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
            self._export_vm = ExportViewModel(client, self, tasks=self.tasks.scope("export"))
        self._export_vm.client = client
        dialog = ExportDialog(
            self._export_vm, flt, visible_columns=visible,
            matching=self.history_vm.total if on_history else None,
            last_folder=self.prefs.last_export_dir, parent=self.window,
        )
        dialog.folder_chosen.connect(self._on_export_folder_chosen)
        self._export_dialog = dialog
        dialog.open()

    def _on_window_import_audio_requested(self) -> None:
        """File → Import session from audio…: the new session is then selected in Live."""
        from supervisor_desk.views.import_audio_dialog import (
            ImportAudioDialog,
            ImportAudioViewModel,
        )

        client = getattr(self.history_vm.source, "client", None)
        if client is None:
            self.window.set_status("Importing needs a hub connection: sign in first.")
            return
        if self._import_audio_dialog is not None and self._import_audio_dialog.isVisible():
            self._import_audio_dialog.raise_()
            return
        if self._import_audio_vm is None:
            self._import_audio_vm = ImportAudioViewModel(
                client, self, tasks=self.tasks.scope("import-audio"))
            self._import_audio_vm.imported.connect(self._on_import_audio_imported)
        self._import_audio_vm.client = client
        if self._import_audio_dialog is not None:
            self._import_audio_dialog.deleteLater()  # its connections to the VM go with it
        dialog = ImportAudioDialog(self._import_audio_vm, self.window,
                                   start_folder=str(Path.home()))
        self._import_audio_dialog = dialog
        dialog.open()

    def _on_import_audio_imported(self, answer: ImportAnswer) -> None:
        self.window.set_status(f"Imported {answer.file.name}: transcribing")
        self.window.show_page(0)
        self._on_customer_view_session_activated(answer.session.id)

    def _on_export_folder_chosen(self, folder: str) -> None:
        if self.prefs.last_export_dir != folder:
            self.prefs.last_export_dir = folder
            self._save_prefs()

    def _on_alerts_changed(self, update: AlertUpdate) -> None:
        """The rows' highlights and the Wall follow the alerts (not a frame's notices alone)."""
        if tint_rows(self.model, update):
            self.wall_vm.on_alerts_changed()

    def _update_feed_hold(self, *_changed: object) -> None:
        """What the hub may hold of the feed: with a Wall on screen nothing (its tiles follow
        each message); with the main window on screen what the Live list shows with the
        second's tick (its View option, on by default); with no window on screen (the tray,
        minimised) up to a second of everything."""
        live = self.live
        if live is None:
            return
        wall = self.wall_window
        if wall is not None and on_screen(wall):
            hold = FeedHold.NONE
        elif self.window.on_screen:
            hold = FeedHold.EACH_SECOND if self.window.live_options.each_second else FeedHold.NONE
        else:
            hold = FeedHold.HIDDEN
        live.hold_feed(hold)

    def _on_alerts_rules_changed(self, rules: Any) -> None:
        self._update_feed_hold()  # the hub judges what to send at once by the rules
        thresholds = rules.wait_thresholds()
        self.analytics_vm.set_sla_seconds(
            thresholds[0][0] if thresholds else DEFAULT_SLA_SECONDS)

    def _on_saved_views_view_applied(self, kind: str) -> None:
        self.window.show_page(self.analytics_page if kind == "analytics" else self.history_page)

    def _on_window_wall_requested(self) -> None:
        """Window → Wall: one Wall window, opened or raised."""
        from supervisor_desk.views.wall.window import WallWindow

        if self.wall_window is None:
            self.wall_window = WallWindow(self.wall_vm, self.window)
            self.wall_window.session_clicked.connect(self._on_wall_session_clicked)
            self.wall_window.pin_requested.connect(self._on_wall_pin_requested)
            self.wall_window.on_screen_watch.changed.connect(self._update_feed_hold)
            # The tiles' waits move (and ended tiles give way) only while the Wall shows.
            screen_clock().subscribe(self.wall_window, self.wall_vm.tick)
        saved: dict[str, SessionFilter] = {}
        for view in self.saved_views.views:
            if view.kind == "history":
                with contextlib.suppress(ValueError):  # a bad one is left out
                    saved[view.name] = view.session_filter()
        self.wall_window.set_saved_filters(saved)
        self.wall_vm.reselect()
        self.wall_window.show()
        self.wall_window.raise_()

    def _on_wall_session_clicked(self, session_id: str) -> None:
        self._on_customer_view_session_activated(session_id)
        self.window.show_page(0)
        self.window.show()
        self.window.raise_()
        self.window.activateWindow()

    def _on_wall_pin_requested(self) -> None:
        if self.detail.session_id is None:
            self.window.set_status("Select a session in the main window to pin it to the Wall.")
            return
        self.wall_vm.pin(self.detail.session_id)

    def _on_analytics_drill_requested(self, flt: SessionFilter) -> None:
        self.history_vm.set_filter(flt)
        self.window.show_page(self.history_page)

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
        from supervisor_desk.views.time_zone_dialog import TimeZoneDialog

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
        self.offline.set_time_zone(tz)
        self.wall_vm.set_time_zone(tz)

    def _on_window_recent_file_requested(self, name: str) -> None:
        self.offline.open(Path(name))

    def _on_window_recent_cleared(self) -> None:
        self.prefs.recent_files = []
        self._save_prefs()
        self.window.set_recent_files([])

    def _on_live_options_changed(self) -> None:
        self.window.live_options.write_preferences(self.prefs)
        self._save_prefs()
        self._update_feed_hold()  # "Update once a second" is the hold asked on screen

    def _on_window_live_order_requested(self, order: str) -> None:
        self.window.set_live_order(order)
        if order in LIVE_ORDERS and self.prefs.live_order != order:
            self.prefs.live_order = LiveOrder(order)
            self._save_prefs()

    def _on_window_session_selected(self, session: Any, find: str = "") -> None:
        session_id = session.id if session is not None else None
        if session_id == self.detail.session_id:
            return
        if self.live is not None:
            self.live.watch(session_id)
        self.detail.select(session_id, find=find)

    def _on_history_session_selected(self, session: Any) -> None:
        # Listed by a full-text search: the chat opens on the first match of those words.
        self._on_window_session_selected(session, find=self.history_vm.filter.text or "")

    def _on_theme_choice_changed(self, choice: str) -> None:
        if self.prefs.theme != choice:
            self.prefs.theme = cast(ThemeChoice, choice)
            self._save_prefs()

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

    def _on_window_handover_requested(self) -> None:
        """Ctrl+Shift+H: the chat's hand-over button, as if clicked (it asks to confirm)."""
        button = self.detail_tools.handover_button.button
        if self.detail.summary is None:
            self.window.set_status("Select a session to hand over.")
        elif not button.isEnabled():
            reason = button.toolTip() or "not available for this session"
            self.window.set_status(f"Hand-over: {reason}")
        else:
            button.click()

    def _on_window_customer_view_requested(self) -> None:
        """Ctrl+U: the customer view of the session in the chat."""
        summary = self.detail.summary
        if summary is None:
            self.window.set_status("Select a session to see its customer.")
            return
        self.detail_tools.open_customer_view(summary)

    def _on_window_search_requested(self) -> None:
        """Ctrl+K: History's search box, focused with its words selected."""
        self.window.show_page(self.history_page)
        search = self.history.filter_bar.search
        search.setFocus()
        search.selectAll()

    def _on_window_about_requested(self) -> None:
        from supervisor_desk.views.help_dialogs import AboutDialog

        if self.about_dialog is not None:
            self.about_dialog.raise_()
            return
        dialog = AboutDialog(__version__, self.window)
        dialog.finished.connect(self._on_about_dialog_finished)
        self.about_dialog = dialog
        signed = self.signed
        if signed is not None:
            dialog.set_hub(f"Hub: {signed.client.base_url} — asking for its version…")
            self._app_tasks.spawn(self._show_hub_version(dialog, signed.client),
                                  "about-hub-version")
        dialog.open()

    def _on_about_dialog_finished(self, _result: int) -> None:
        dialog, self.about_dialog = self.about_dialog, None
        if dialog is not None:
            dialog.deleteLater()

    async def _show_hub_version(self, dialog: AboutDialog, client: HubClient) -> None:
        try:
            health = await client.health()
        except HubError as exc:  # an older hub without /health, or the hub is away
            text = f"Hub: {client.base_url} — version unknown ({exc.message or exc.code})"
        else:
            text = f"Hub: {client.base_url} — version {health.version}"
        if self.about_dialog is dialog:
            dialog.set_hub(text)

    def _on_window_preferences_requested(self) -> None:
        from supervisor_desk.views.preferences_dialog import PreferencesDialog

        dialog = PreferencesDialog(self.prefs.notifications, self.window)
        dialog.notifications_chosen.connect(self._on_notifications_chosen)
        dialog.alert_rules_requested.connect(self._on_alerts_rules_requested)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.preferences_dialog = dialog
        dialog.open()

    def _on_notifications_chosen(self, chosen: NotificationPrefs) -> None:
        # The pause toggle may have changed while the dialog was open: it stays as it is.
        self.prefs.notifications = chosen.model_copy(
            update={"paused": self.prefs.notifications.paused})
        self._apply_notification_prefs()
        self._save_prefs()
        # The three switches are the built-in new/ended rules and the failed-session rule.
        switches = {ROUTINE_NEW_ID: chosen.new_sessions, ROUTINE_ENDED_ID: chosen.ended_sessions,
                    "failed": chosen.failed_sessions}
        rules = self.alerts.rules
        changed = tuple(r.model_copy(update={"enabled": switches[r.id]})
                        if r.id in switches and r.enabled != switches[r.id] else r
                        for r in rules.rules)
        if changed != rules.rules:
            self._on_alert_rules_chosen(rules.model_copy(update={"rules": changed}))

    def _on_alerts_rules_requested(self) -> None:
        from supervisor_desk.views.alerts.editor import AlertRulesDialog

        if self.alert_rules_dialog is not None:
            self.alert_rules_dialog.raise_()
            return
        live = self.live
        test = (lambda rule: self.alerts.matching(rule, [s for s in live.store if s.is_live])) \
            if live is not None else None
        dialog = AlertRulesDialog(self.alerts.rules, test=test, parent=self.window)
        dialog.rules_chosen.connect(self._on_alert_rules_chosen)
        dialog.finished.connect(self._on_alert_rules_dialog_finished)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.alert_rules_dialog = dialog
        dialog.open()

    def _on_alert_rules_dialog_finished(self, _result: int) -> None:
        self.alert_rules_dialog = None

    def _on_alert_rules_chosen(self, rules: RuleSet) -> None:
        self._apply_alert_rules(rules)
        notes = self.prefs.notifications
        for rule_id, field in ((ROUTINE_NEW_ID, "new_sessions"),
                               (ROUTINE_ENDED_ID, "ended_sessions"), ("failed", "failed_sessions")):
            rule = rules.rule(rule_id)
            if rule is not None:
                setattr(notes, field, rule.enabled)
        self._save_prefs()
        self._app_tasks.spawn(self._save_alert_rules(rules), "save-alert-rules")

    async def _save_alert_rules(self, rules: RuleSet) -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(None, save_rules, rules)
        except OSError as exc:
            self.window.set_status(f"Could not save the alert rules: {exc}")

    def _apply_alert_rules(self, rules: RuleSet) -> None:
        self.alerts.set_rules(rules)
        self.alert_notifier.set_rules(rules)
        thresholds: list[tuple[int, str]] = list(rules.wait_thresholds())
        self.model.set_alerts(self.alerts.highlight, thresholds)
        self.window.metric_cards.wait_thresholds = thresholds

    def _apply_notification_prefs(self) -> None:
        notes = self.prefs.notifications
        self.coalescer.notify_new = notes.new_sessions
        self.coalescer.notify_ended = notes.ended_sessions
        self.coalescer.notify_failed = notes.failed_sessions
        self.coalescer.min_interval = notes.min_interval_s
        self.alert_notifier.set_rules(self.alerts.rules)  # the rules own the per-kind switches

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

        self._app_tasks.spawn(save(), "save-preferences")

    def _on_live_connection_changed(self, state: str, retry_in: Any, text: str) -> None:
        detail = self.live.connection_detail if self.live is not None else ""
        self.window.set_connection(state, text, detail)
        self.tray.set_connection_state(state, text)

    def _on_live_first_rows_shown(self) -> None:
        if self.first_rows_after is None and self.options.started_at:
            self.first_rows_after = time.monotonic() - self.options.started_at
            # CPU of every thread so far (hub, imports, window): what a loaded machine hides.
            log.info("first live rows shown %.2f s after start (%.2f s of CPU)",
                     self.first_rows_after, time.process_time())
        if self.options.screenshot is not None and self.screenshot_saved is None:
            self._app_tasks.spawn(self._screenshot(self.options.screenshot), "screenshot")

    async def _screenshot(self, path: Path) -> None:
        self.screenshot_saved = await take_screenshot(self, path)

    # ---------------------------------------------------------------- status and state dump

    def _start_timers(self) -> None:
        # On the app's one clock: each second while on screen, never while in the tray.
        clock = screen_clock()
        clock.subscribe(self.window.statusBar(), self._on_clock_status_bar)
        clock.subscribe(self.window.metric_cards, self._on_clock_metric_cards)
        # Analytics reads the hub only while its page shows; coming back reads what moved.
        # (The page's holder: asking for the page itself would build it before it shows.)
        self.analytics_vm.on_screen = lambda: on_screen(self.analytics_holder)
        clock.subscribe(self.analytics_holder, self.analytics_vm.catch_up)
        if self._state_file is not None:
            self._state_file.start()

    def _on_clock_metric_cards(self) -> None:
        if self.live is not None:
            self.live.tick()

    def _on_clock_status_bar(self) -> None:
        live = self.live
        if live is None:
            return
        if self.window.pages.currentIndex() == self.history_page:
            # History's own words: what the query shows, not the live list's counts.
            vm = self.history_vm
            right = "Loading…" if vm.loading else "F5 reloads History"
            self.window.set_status(f"History: {vm.range_text()}", right)
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
        return app_state(self)

    # ---------------------------------------------------------------- quitting

    def request_quit(self) -> None:
        if not self.quit_requested.is_set():
            log.info("quit requested")
            self.quit_requested.set()

    def _on_qapp_about_to_quit(self) -> None:
        # Fires when the session manager ends us (logout) and again during Runner.close():
        # synchronous best effort only, there may be no running loop any more.
        self.window.save_state()

    async def shutdown(self) -> None:
        """Stop everything while the loop still runs; idempotent."""
        started = time.monotonic()
        clock = screen_clock()
        clock.unsubscribe(self.window.statusBar())
        clock.unsubscribe(self.window.metric_cards)
        if self._state_file is not None:
            self._state_file.stop()  # one last dump so a test sees the final state
        self.window.save_state()
        self.account.close_dialog()
        await self._stop_live()
        await self.history_vm.aclose()
        await self.offline.aclose()
        if self._export_vm is not None:
            await self._export_vm.aclose()
        await self.detail.aclose()
        await self.tray.aclose()
        self.alert_notifier.close()
        await self.tasks.aclose()
        if self.signed is not None:
            signed, self.signed = self.signed, None
            await self.account.end(signed)
        await self.account.aclose()
        self.window.allow_close()
        self.window.close()
        self._quit_on_signal.restore()
        left = sorted(t.get_name() for t in self.tasks.tasks if not t.done())
        if left:
            log.warning("tasks still running after shutdown: %s", ", ".join(left))
        self.shutdown_clean = not left
        if self._gc_policy is not None:
            self._gc_policy = None
            release_policy()
        log.info("shut down in %.2f s", time.monotonic() - started)


class _OnFirstUse:
    """Stands for an object built on first use: any attribute asked for builds it."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build

    def __getattr__(self, name: str) -> Any:
        return getattr(self._build(), name)


def _make_desktop_notifier() -> Any:
    if not sys.platform.startswith(("linux", "freebsd", "openbsd")):
        return None
    from supervisor_desk.client.desktop_notify import DesktopNotifier

    return DesktopNotifier(APP_NAME, desktop_entry=APP_ID, icon=APP_ID)


def create_qapp(argv: list[str] | None = None) -> QApplication:
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        return existing
    # Qt's raster engine hands large fills and image conversions to a pool of threads and
    # waits for them: for a table's cells on a supervisor's laptop that is more wake-ups and
    # CPU than doing them here (idle_bench, shown at 5 events/s: Qt-thread wake-ups 24-40 ->
    # 9.5 a second). Qt reads it once, at the first paint.
    os.environ.setdefault("QT_NO_GUI_THREADPOOL", "1")
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
    with asyncio.Runner(loop_factory=DeskEventLoop) as runner:
        desk = DeskApp(qapp, options, demo_future=demo_future)
        code = runner.run(desk.run())
    log.info("exit %d", code)
    return code
