"""The session detail pane: the chat with its action bar and logs drawer, fed by a VM.

``DetailPane(view_model)`` routes a :class:`DetailViewModel` to a :class:`ChatView` and
attaches the detail tools (Logs drawer on Ctrl+L, hand-over button, customer view);
``bind_dock(dock)`` keeps a results dock on the same session. A window that already routes
the view-model to its own ``ChatView`` calls ``chat.attach_detail(view_model, dock=dock)``
instead.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from supervisor_desk.views.chat.view import ChatView
from supervisor_desk.views.customer_view import CustomerView
from supervisor_desk.views.detail_viewmodel import DetailViewModel
from supervisor_desk.views.handover import HandoverController
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
        self.chat = ChatView(self, time_zone=time_zone)
        self.tools = self.chat.attach_detail(view_model, handover)
        self.handover = self.tools.handover
        self.handover_button = self.tools.handover_button
        self.logs = self.tools.logs
        self.logs_action = self.tools.logs_action
        self.error_label = self.tools.error_label
        self.splitter = self.chat.body_splitter
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.chat)

        view_model.detail_loaded.connect(self.chat.set_detail)
        view_model.message_appended.connect(self.chat.append_message)
        view_model.message_updated.connect(self.chat.update_message)
        view_model.session_changed.connect(self.chat.set_session)
        view_model.loading_changed.connect(self._on_vm_loading_changed)
        self.tools.session_activated.connect(self.session_activated)

    @property
    def customer_windows(self) -> list[CustomerView]:
        return self.tools.customer_windows

    def bind_dock(self, dock: ResultsDock) -> None:
        self.tools.bind_dock(dock)

    def set_time_zone(self, time_zone: str | tzinfo | None) -> None:
        self.chat.set_time_zone(time_zone)

    def set_logs_visible(self, visible: bool) -> None:
        self.tools.set_logs_visible(visible)

    def open_customer_view(self, summary: Any) -> CustomerView | None:
        return self.tools.open_customer_view(summary)

    def _on_vm_loading_changed(self, loading: bool) -> None:
        if loading:
            self.chat.status_label.setText("Loading…")
