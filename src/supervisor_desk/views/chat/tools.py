"""What sits under the chat once it is bound to a detail view-model: the action bar (Logs,
Hand over to an operator…), the logs drawer (Ctrl+L) and the customer view windows.

``ChatView.attach_detail(view_model, dock=...)`` builds these; it does not route the
transcript itself (the caller already connects ``detail_loaded``/``message_appended`` …).
"""

from __future__ import annotations

from datetime import tzinfo
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QWidget

from supervisor_desk.models.wire import SessionDetail, SessionSummary
from supervisor_desk.views.clock import on_screen, screen_clock
from supervisor_desk.views.customer_view import CustomerView
from supervisor_desk.views.detail_viewmodel import DetailViewModel
from supervisor_desk.views.handover import HandoverButton, HandoverController
from supervisor_desk.views.logs_drawer import LogsDrawer
from supervisor_desk.views.results_dock import ResultsDock

if TYPE_CHECKING:
    from supervisor_desk.views.chat.view import ChatView


class DetailTools(QObject):
    session_activated = Signal(str)  # from a customer view's header: select this session

    def __init__(
        self,
        chat: ChatView,
        view_model: DetailViewModel,
        handover: HandoverController | None,
        time_zone: str | tzinfo | None,
    ) -> None:
        super().__init__(chat)
        self.chat = chat
        self.view_model = view_model
        self.handover = handover or HandoverController(
            view_model.client, self, tasks=view_model.tasks
        )
        self._time_zone = time_zone
        self.docks: list[ResultsDock] = []
        self.customer_windows: list[CustomerView] = []

        self.logs = LogsDrawer(chat, time_zone=time_zone)
        self.logs.hide()
        self.error_label = QLabel("", chat)
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.setWordWrap(True)
        self.error_label.setProperty("tone", "error")
        self.error_label.setContentsMargins(8, 2, 8, 2)
        self.error_label.hide()

        self.logs_action = QAction("Logs", chat)
        self.logs_action.setShortcut(QKeySequence("Ctrl+L"))
        self.logs_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.logs_action.setCheckable(True)
        self.logs_action.setToolTip("Show the trace and system logs under the chat (Ctrl+L)")
        self.logs_action.toggled.connect(self.set_logs_visible)
        chat.addAction(self.logs_action)
        self.bar = QWidget(chat)
        bar_layout = QHBoxLayout(self.bar)
        bar_layout.setContentsMargins(8, 4, 8, 4)
        self.logs_button = QToolButton(self.bar)
        self.logs_button.setDefaultAction(self.logs_action)
        self.logs_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.handover_button = HandoverButton(self.handover, self.bar)
        bar_layout.addWidget(self.logs_button)
        bar_layout.addWidget(self.handover_button, 1)

        vm = view_model
        vm.detail_loaded.connect(self._on_vm_detail_loaded)
        vm.session_changed.connect(self._on_vm_session_changed)
        vm.logs_loaded.connect(self.logs.set_logs)
        vm.logs_failed.connect(self.logs.set_error)
        vm.error_occurred.connect(self._on_vm_error_occurred)
        vm.find_requested.connect(chat.find_text)
        vm.client_changed.connect(self._on_vm_client_changed)
        self.logs.refresh_requested.connect(vm.load_logs)
        # An AI turn appends trace entries every few seconds: fetch at most twice a second.
        self._logs_refetch = QTimer(self)
        self._logs_refetch.setSingleShot(True)
        self._logs_refetch.setInterval(500)
        self._logs_refetch.timeout.connect(self._on_logs_refetch_timeout)
        vm.logs_stale.connect(self._on_vm_logs_stale)
        # Logs that grew while the drawer was off screen are fetched as it comes back.
        self._logs_stale = False
        screen_clock().subscribe(self.logs, self._on_clock_logs)
        self.logs.close_requested.connect(lambda: self.logs_action.setChecked(False))
        self.handover.succeeded.connect(self._on_handover_succeeded)
        if self.handover.permissions is None:
            self.handover.refresh_permissions()
        self.handover.set_session(vm.summary)

    # --- public API ---------------------------------------------------------------------
    def bind_dock(self, dock: ResultsDock) -> None:
        """Keep ``dock`` on the selected session; its button opens the customer view."""
        self.docks.append(dock)
        dock.customer_view_requested.connect(self.open_customer_view)
        dock.set_session(self.view_model.summary)

    def set_time_zone(self, time_zone: str | tzinfo | None) -> None:
        self._time_zone = time_zone
        self.logs.set_time_zone(time_zone)
        for dock in self.docks:
            dock.set_time_zone(time_zone)

    def set_logs_visible(self, visible: bool) -> None:
        if self.logs_action.isChecked() != visible:
            self.logs_action.setChecked(visible)
            return
        if visible:
            self._logs_stale = False  # loaded whole just below
        self.logs.setVisible(visible)
        if visible:
            splitter = self.chat.body_splitter
            total = sum(splitter.sizes())
            splitter.setSizes([total * 3 // 5, total - total * 3 // 5])
            self.logs.set_loading()
            self.view_model.load_logs()
            self.logs.focus_search()

    def open_customer_view(self, summary: SessionSummary) -> CustomerView | None:
        client = self.view_model.client
        if client is None:
            self.chat.status_label.setText("The customer view needs a hub connection")
            return None
        window = CustomerView(
            client,  # type: ignore[arg-type]
            summary,
            time_zone=self._time_zone,
            tasks=self.view_model.tasks.owner.scope("customer-view"),
        )
        window.session_activated.connect(self.session_activated)
        window.destroyed.connect(lambda *_: self._forget_window(window))
        self.customer_windows.append(window)
        window.show()
        return window

    def close_windows(self) -> None:
        for window in list(self.customer_windows):
            window.close()

    def _forget_window(self, window: CustomerView) -> None:
        if window in self.customer_windows:
            self.customer_windows.remove(window)

    # --- view-model slots ---------------------------------------------------------------
    def _on_vm_detail_loaded(self, detail: SessionDetail | None) -> None:
        self.error_label.hide()
        summary = detail.session if detail is not None else None
        self.handover.set_session(summary)
        for dock in self.docks:
            dock.set_session(summary)
        self.logs.clear()
        self._logs_stale = False
        if self.logs.isVisible() and detail is not None:
            self.logs.set_loading()
            self.view_model.load_logs()

    def _on_vm_logs_stale(self) -> None:
        if on_screen(self.logs):
            self._logs_refetch.start()
        else:
            self._logs_stale = True  # no wake-up for a drawer nobody sees

    def _on_clock_logs(self) -> None:
        if self._logs_stale:
            self._logs_stale = False
            self._logs_refetch.start()

    def _on_logs_refetch_timeout(self) -> None:
        if self.logs.isVisible():
            self.view_model.load_logs()

    def _on_vm_session_changed(self, summary: SessionSummary) -> None:
        self.handover.set_session(summary)
        for dock in self.docks:
            dock.set_session(summary)

    def _on_vm_client_changed(self, client: Any) -> None:
        # Signed in to another hub (or out): permissions come from that hub's /me.
        self.handover.set_client(client)
        self.handover.refresh_permissions()

    def _on_vm_error_occurred(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.show()

    def _on_handover_succeeded(self, summary: SessionSummary) -> None:
        # The hub's answer is the truth: feed it through the VM like a feed update, then
        # fetch what the feed may not have delivered yet (the transfer marker).
        self.view_model.on_session(summary)
        self.view_model.catch_up()
