"""The session detail pane: chat, action bar (Logs, Hand over), logs drawer; wired to a VM.

``DetailPane(view_model)`` is what the main window puts in its centre: it binds a
:class:`DetailViewModel` to the chat, the logs drawer (Ctrl+L) and the hand-over button, and
``bind_dock(dock)`` binds the results dock to the same session. "Open customer view" opens
a :class:`CustomerView` window with the view-model's hub client.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSplitter, QToolButton, QVBoxLayout, QWidget

from supervisor_desk.models.wire import Message, SessionDetail, SessionSummary
from supervisor_desk.views.chat.view import ChatView
from supervisor_desk.views.customer_view import CustomerView
from supervisor_desk.views.detail_viewmodel import DetailViewModel
from supervisor_desk.views.handover import HandoverButton, HandoverController
from supervisor_desk.views.logs_drawer import LogsDrawer
from supervisor_desk.views.results_dock import ResultsDock


class DetailPane(QWidget):
    session_activated = Signal(str)  # from a customer view's header: select this session

    def __init__(
        self,
        view_model: DetailViewModel,
        handover: HandoverController | None = None,
        parent: QWidget | None = None,
        *,
        time_zone: str | tzinfo | None = None,
    ) -> None:
        super().__init__(parent)
        self.view_model = view_model
        self.handover = handover or HandoverController(view_model.client, self)
        self._time_zone = time_zone
        self._docks: list[ResultsDock] = []
        self.customer_windows: list[CustomerView] = []

        self.chat = ChatView(self, time_zone=time_zone)
        self.logs = LogsDrawer(self, time_zone=time_zone)
        self.logs.hide()
        self.error_label = QLabel("", self)
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b3261e; padding: 2px 8px;")
        self.error_label.hide()

        self.logs_action = QAction("Logs", self)
        self.logs_action.setShortcut(QKeySequence("Ctrl+L"))
        self.logs_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.logs_action.setCheckable(True)
        self.logs_action.setToolTip("Show the trace and system logs under the chat (Ctrl+L)")
        self.logs_action.toggled.connect(self.set_logs_visible)
        self.addAction(self.logs_action)
        self.logs_button = QToolButton(self)
        self.logs_button.setDefaultAction(self.logs_action)
        self.logs_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.handover_button = HandoverButton(self.handover, self)

        bar = QHBoxLayout()
        bar.setContentsMargins(8, 4, 8, 4)
        bar.addWidget(self.logs_button)
        bar.addWidget(self.handover_button, 1)
        top = QWidget(self)
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.setSpacing(0)
        top_layout.addWidget(self.chat, 1)
        top_layout.addWidget(self.error_label)
        top_layout.addLayout(bar)
        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.addWidget(top)
        self.splitter.addWidget(self.logs)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)

        vm = view_model
        vm.detail_loaded.connect(self._on_vm_detail_loaded)
        vm.message_appended.connect(self._on_vm_message_appended)
        vm.message_updated.connect(self._on_vm_message_updated)
        vm.session_changed.connect(self._on_vm_session_changed)
        vm.logs_loaded.connect(self.logs.set_logs)
        vm.logs_failed.connect(self.logs.set_error)
        vm.error_occurred.connect(self._on_vm_error_occurred)
        vm.loading_changed.connect(self._on_vm_loading_changed)
        self.logs.refresh_requested.connect(vm.load_logs)
        self.logs.close_requested.connect(lambda: self.logs_action.setChecked(False))
        self.handover.succeeded.connect(self._on_handover_succeeded)
        vm.client_changed.connect(self._on_vm_client_changed)
        if self.handover.permissions is None:
            self.handover.refresh_permissions()

    # --- public API ---------------------------------------------------------------------
    def bind_dock(self, dock: ResultsDock) -> None:
        """Keep ``dock`` on the selected session; its button opens the customer view."""
        self._docks.append(dock)
        dock.customer_view_requested.connect(self.open_customer_view)
        dock.set_session(self.view_model.summary)

    def set_time_zone(self, time_zone: str | tzinfo | None) -> None:
        self._time_zone = time_zone
        self.chat.set_time_zone(time_zone)
        self.logs.set_time_zone(time_zone)
        for dock in self._docks:
            dock.set_time_zone(time_zone)

    def set_logs_visible(self, visible: bool) -> None:
        if self.logs_action.isChecked() != visible:
            self.logs_action.setChecked(visible)
            return
        self.logs.setVisible(visible)
        if visible:
            total = sum(self.splitter.sizes())
            self.splitter.setSizes([total * 3 // 5, total - total * 3 // 5])
            self.logs.set_loading()
            self.view_model.load_logs()
            self.logs.focus_search()

    def open_customer_view(self, summary: SessionSummary) -> CustomerView | None:
        client = self.view_model.client
        if client is None:
            self.chat.status_label.setText("The customer view needs a hub connection")
            return None
        window = CustomerView(client, summary, time_zone=self._time_zone)  # type: ignore[arg-type]
        window.session_activated.connect(self.session_activated)
        window.destroyed.connect(lambda *_: self._forget_window(window))
        self.customer_windows.append(window)
        window.show()
        return window

    def _forget_window(self, window: CustomerView) -> None:
        if window in self.customer_windows:
            self.customer_windows.remove(window)

    # --- view-model slots ---------------------------------------------------------------
    def _on_vm_detail_loaded(self, detail: SessionDetail | None) -> None:
        self.error_label.hide()
        self.chat.set_detail(detail)
        summary = detail.session if detail is not None else None
        self.handover.set_session(summary)
        for dock in self._docks:
            dock.set_session(summary)
        self.logs.clear()
        if self.logs.isVisible() and detail is not None:
            self.logs.set_loading()
            self.view_model.load_logs()

    def _on_vm_message_appended(self, message: Message) -> None:
        self.chat.append_message(message)

    def _on_vm_message_updated(self, message: Message) -> None:
        self.chat.update_message(message)

    def _on_vm_session_changed(self, summary: SessionSummary) -> None:
        self.chat.set_session(summary)
        self.handover.set_session(summary)
        for dock in self._docks:
            dock.set_session(summary)

    def _on_vm_client_changed(self, client: object) -> None:
        # Signed in to another hub (or out): permissions come from that hub's /me.
        self.handover.set_client(client)  # type: ignore[arg-type]
        self.handover.refresh_permissions()

    def _on_vm_error_occurred(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.show()

    def _on_vm_loading_changed(self, loading: bool) -> None:
        if loading:
            self.chat.status_label.setText("Loading…")

    def _on_handover_succeeded(self, summary: SessionSummary) -> None:
        # The hub's answer is the truth: feed it through the VM like a feed update, then
        # fetch what the feed may not have delivered yet (the transfer marker).
        self.view_model.on_session(summary)
        self.view_model.catch_up()

    def closeEvent(self, event: Any) -> None:
        for window in list(self.customer_windows):
            window.close()
        super().closeEvent(event)
