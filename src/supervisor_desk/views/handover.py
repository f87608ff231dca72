"""Hand a live AI session over to a human operator.

``HandoverController`` (QObject) decides whether the action is possible, from the session the
hub last sent and the permissions ``/me`` answered, and performs it through the hub. It never
changes anything locally: the new Responsible comes back in the hub's answer (``succeeded``)
and the "Transfer to human" marker arrives on the feed. ``HandoverButton`` is the widget:
enabled only when the controller says so, with the reason as its tooltip otherwise.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Protocol

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from supervisor_desk.models.wire import MeAnswer, SessionSummary
from supervisor_desk.views.detail_viewmodel import describe_error
from supervisor_desk.views.tasks import TaskScope, standalone_scope
from supervisor_desk.views.tone import set_tone

PERMISSION = "sessions:handover"
BUTTON_TEXT = "Hand over to the operator"
SUCCESS_TEXT = "Session set to operator"
REASON_FINISHED = "Session is already finished"
REASON_HUMAN = "Session is already handled by an operator"
REASON_FORBIDDEN = "You do not have permission to hand over sessions"
REASON_NO_SESSION = "Select a live session to hand it over"
REASON_CHECKING = "Checking your permissions…"
REASON_OFFLINE = "Not connected to a hub"
REASON_BUSY = "Handing over…"

# Hub error codes (PROTOCOL: 409 session_finished / already_human, 403 forbidden).
ERROR_TEXTS = {
    "session_finished": REASON_FINISHED,
    "already_human": REASON_HUMAN,
    "forbidden": REASON_FORBIDDEN,
}


class HandoverClient(Protocol):
    async def me(self) -> MeAnswer: ...
    async def handover(self, session_id: str) -> SessionSummary: ...


def disabled_reason(
    summary: SessionSummary | None, permissions: Iterable[str] | None
) -> str | None:
    """Why the hand-over is not possible now, or None when it is."""
    if summary is None:
        return REASON_NO_SESSION
    if not summary.is_live:
        return REASON_FINISHED
    if summary.responsible.kind != "ai":
        return REASON_HUMAN
    if permissions is None:
        return REASON_CHECKING
    if PERMISSION not in permissions:
        return REASON_FORBIDDEN
    return None


def handover_error_text(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    status = getattr(exc, "status", None)
    if isinstance(code, str) and code in ERROR_TEXTS:
        return f"Hand-over refused: {ERROR_TEXTS[code]}"
    if status == 403:
        return f"Hand-over refused: {REASON_FORBIDDEN}"
    if status == 404:
        return "Hand-over failed: the hub does not know this session"
    return f"Hand-over failed: {describe_error(exc)}"


class HandoverController(QObject):
    state_changed = Signal()
    succeeded = Signal(object)  # SessionSummary as the hub answered
    failed = Signal(str)

    def __init__(
        self,
        client: HandoverClient | None,
        parent: QObject | None = None,
        *,
        tasks: TaskScope | None = None,
    ) -> None:
        super().__init__(parent)
        # The detail pane passes its view-model's scope, so closing the screen ends ours too.
        self.tasks = tasks or standalone_scope("handover")
        self._client = client
        self._summary: SessionSummary | None = None
        self._permissions: frozenset[str] | None = None
        self._busy = False

    # --- inputs -------------------------------------------------------------------------
    def set_client(self, client: HandoverClient | None) -> None:
        self._client = client
        self._permissions = None
        self.state_changed.emit()

    def set_permissions(self, permissions: Iterable[str] | None) -> None:
        self._permissions = None if permissions is None else frozenset(permissions)
        self.state_changed.emit()

    def set_session(self, summary: SessionSummary | None) -> None:
        self._summary = summary
        self.state_changed.emit()

    def refresh_permissions(self) -> None:
        """Ask the hub (``/me``) what this user may do."""
        if self._client is not None:
            self.tasks.spawn(self._load_permissions(), "handover-permissions")

    async def _load_permissions(self) -> None:
        assert self._client is not None
        try:
            me = await self._client.me()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # permission unknown: stays disabled, reason shown
            self._permissions = frozenset()
            self.state_changed.emit()
            self.failed.emit(f"Could not read your permissions: {describe_error(exc)}")
            return
        self.set_permissions(me.permissions)

    # --- state --------------------------------------------------------------------------
    @property
    def summary(self) -> SessionSummary | None:
        return self._summary

    @property
    def permissions(self) -> frozenset[str] | None:
        return self._permissions

    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def reason(self) -> str | None:
        if self._client is None:
            return REASON_OFFLINE
        if self._busy:
            return REASON_BUSY
        return disabled_reason(self._summary, self._permissions)

    @property
    def enabled(self) -> bool:
        return self.reason is None

    # --- action -------------------------------------------------------------------------
    def request(self) -> None:
        """Hand the current session over (no-op when not enabled)."""
        if not self.enabled or self._summary is None:
            return
        self._busy = True
        self.state_changed.emit()
        self.tasks.spawn(self._handover(self._summary.id), f"handover-{self._summary.id}")

    async def _handover(self, session_id: str) -> None:
        assert self._client is not None
        try:
            answer = await self._client.handover(session_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # every hub refusal is shown to the supervisor
            self._busy = False
            self.state_changed.emit()
            self.failed.emit(handover_error_text(exc))
            return
        self._busy = False
        if self._summary is not None and self._summary.id == answer.id:
            self._summary = answer
        self.state_changed.emit()
        self.succeeded.emit(answer)

    async def aclose(self) -> None:
        await self.tasks.aclose()


class HandoverButton(QWidget):
    """ "Hand over to the operator" with its reason tooltip and the outcome next to it."""

    def __init__(self, controller: HandoverController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.button = QPushButton(BUTTON_TEXT, self)
        self.result_label = QLabel("", self)
        self.result_label.setTextFormat(Qt.TextFormat.PlainText)
        self.result_label.setWordWrap(True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.button)
        layout.addWidget(self.result_label, 1)
        self.button.clicked.connect(self._on_button_clicked)
        controller.state_changed.connect(self._on_controller_state_changed)
        controller.succeeded.connect(self._on_controller_succeeded)
        controller.failed.connect(self._on_controller_failed)
        self._session_id: str | None = None
        self._on_controller_state_changed()

    def _on_button_clicked(self) -> None:
        self.result_label.clear()
        self.controller.request()

    def _on_controller_state_changed(self) -> None:
        reason = self.controller.reason
        self.button.setEnabled(reason is None)
        self.button.setToolTip(
            reason or "Give this session to a human operator; the AI stops replying"
        )
        summary = self.controller.summary
        session_id = summary.id if summary is not None else None
        if session_id != self._session_id:
            # Another session selected: the previous outcome no longer applies.
            self._session_id = session_id
            self.result_label.clear()

    def _on_controller_succeeded(self, _summary: SessionSummary) -> None:
        set_tone(self.result_label, "success")
        self.result_label.setText(SUCCESS_TEXT)

    def _on_controller_failed(self, message: str) -> None:
        set_tone(self.result_label, "error")
        self.result_label.setText(message)
