"""Hand a live AI session over to a human operator, deliberately and visibly.

``HandoverController`` (QObject) decides whether the action is possible, from the session the
hub last sent and the permissions ``/me`` answered, loads the operators the hub knows
(``/operators``) and performs the hand-over through the hub. It never changes anything
locally: the new Responsible (the chosen operator, or *Unassigned* for the next available one)
comes back in the hub's answer (``succeeded``) and the "Transfer to human agent" marker
arrives on the feed.

``HandoverButton`` is the widget: enabled only when the controller says so, with the reason
as its tooltip otherwise. A click asks first (``HandoverDialog``): who takes the session, the
next available operator by default, never the supervisor's own account.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Protocol

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from supervisor_desk.models.wire import MeAnswer, NamedItem, SessionSummary
from supervisor_desk.views.detail_viewmodel import describe_error
from supervisor_desk.views.tasks import TaskScope, standalone_scope
from supervisor_desk.views.tone import set_tone

PERMISSION = "sessions:handover"
BUTTON_TEXT = "Hand over to an operator…"
NEXT_AVAILABLE = "Next available operator"
REASON_FINISHED = "Session is already finished"
REASON_HUMAN = "Session is already handled by an operator"
REASON_FORBIDDEN = "You do not have permission to hand over sessions"
REASON_NO_SESSION = "Select a live session to hand it over"
REASON_CHECKING = "Checking your permissions…"
REASON_OFFLINE = "Not connected to a hub"
REASON_BUSY = "Handing over…"

# Hub error codes: 409 session_finished / already_human, 403 forbidden, 422 unknown_operator
# and own_account.
ERROR_TEXTS = {
    "session_finished": REASON_FINISHED,
    "already_human": REASON_HUMAN,
    "forbidden": REASON_FORBIDDEN,
    "unknown_operator": "the hub does not know that operator (the list was out of date)",
    "own_account": "a session goes to an operator, not to your own account",
}


class HandoverClient(Protocol):
    async def me(self) -> MeAnswer: ...
    async def operators(self) -> list[NamedItem]: ...
    async def handover(self, session_id: str, operator_id: str | None = None) -> SessionSummary: ...


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


def success_text(summary: SessionSummary) -> str:
    """What the supervisor sees after the hub accepted: who has the session now."""
    operator = summary.responsible.operator
    if summary.responsible.kind == "human" and operator is not None:
        return f"Handed over to {operator.name}"
    return "Handed over: waiting for the next available operator"


class HandoverController(QObject):
    state_changed = Signal()
    operators_changed = Signal(object)  # list[NamedItem] the supervisor may pick from
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
        self._me_id: str | None = None
        self._operators: list[NamedItem] | None = None
        self._busy = False

    # --- inputs -------------------------------------------------------------------------
    def set_client(self, client: HandoverClient | None) -> None:
        self._client = client
        self._permissions = None
        self._me_id = None
        self._operators = None
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
        self._me_id = me.user.id
        self.set_permissions(me.permissions)

    def load_operators(self) -> None:
        """Fetch the operators the hub knows (the dialog shows "loading" until they come)."""
        if self._client is not None:
            self.tasks.spawn(self._load_operators(), "handover-operators")

    async def _load_operators(self) -> None:
        assert self._client is not None
        try:
            operators = await self._client.operators()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the next available operator still works
            self._operators = []
            self.operators_changed.emit([])
            self.failed.emit(f"Could not load the operators: {describe_error(exc)}")
            return
        self._operators = [o for o in operators if o.id != self._me_id]
        self.operators_changed.emit(list(self._operators))

    # --- state --------------------------------------------------------------------------
    @property
    def summary(self) -> SessionSummary | None:
        return self._summary

    @property
    def permissions(self) -> frozenset[str] | None:
        return self._permissions

    @property
    def operators(self) -> list[NamedItem] | None:
        """Operators to pick from (never the signed-in account); None until loaded."""
        return None if self._operators is None else list(self._operators)

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
    def request(self, operator_id: str | None = None) -> None:
        """Hand the current session to ``operator_id`` or the next available operator."""
        if not self.enabled or self._summary is None:
            return
        self._busy = True
        self.state_changed.emit()
        self.tasks.spawn(
            self._handover(self._summary.id, operator_id), f"handover-{self._summary.id}"
        )

    async def _handover(self, session_id: str, operator_id: str | None) -> None:
        assert self._client is not None
        try:
            answer = await self._client.handover(session_id, operator_id)
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


class HandoverDialog(QDialog):
    """Asks before handing over: which operator takes the session (next available by default)."""

    chosen = Signal(object)  # operator id, or None for the next available operator

    def __init__(
        self, controller: HandoverController, summary: SessionSummary, parent: QWidget | None
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.setWindowTitle("Hand over to a human operator")
        customer = summary.user.name or summary.user.id
        question = QLabel(
            f"Hand the session with {customer} over to a human operator? "
            "The AI agent stops replying.",
            self,
        )
        question.setTextFormat(Qt.TextFormat.PlainText)
        question.setWordWrap(True)
        self.operator_combo = QComboBox(self)
        self.operator_combo.setAccessibleName("Operator")
        self.status_label = QLabel("", self)
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        self.status_label.setProperty("tone", "secondary")
        self.buttons = QDialogButtonBox(self)
        self.confirm_button = self.buttons.addButton(
            "Hand over", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.confirm_button.setDefault(True)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(question)
        row = QHBoxLayout()
        row.addWidget(QLabel("Operator:", self))
        row.addWidget(self.operator_combo, 1)
        layout.addLayout(row)
        layout.addWidget(self.status_label)
        layout.addWidget(self.buttons)
        self._set_operators(controller.operators)
        controller.operators_changed.connect(self._set_operators)
        if controller.operators is None:
            controller.load_operators()
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def _set_operators(self, operators: Sequence[NamedItem] | None) -> None:
        current = self.operator_combo.currentData()
        self.operator_combo.clear()
        self.operator_combo.addItem(NEXT_AVAILABLE, None)
        for operator in operators or ():
            self.operator_combo.addItem(operator.name, operator.id)
        index = self.operator_combo.findData(current)
        self.operator_combo.setCurrentIndex(max(0, index))
        self.status_label.setText("Loading operators…" if operators is None else "")

    def select_operator(self, operator_id: str | None) -> None:
        index = self.operator_combo.findData(operator_id)
        if index < 0:
            raise ValueError(f"no operator {operator_id!r} in the list")
        self.operator_combo.setCurrentIndex(index)

    def accept(self) -> None:
        self.chosen.emit(self.operator_combo.currentData())
        super().accept()


class HandoverButton(QWidget):
    """ "Hand over to an operator…" with its reason tooltip and the outcome next to it."""

    def __init__(self, controller: HandoverController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.button = QPushButton(BUTTON_TEXT, self)
        self.result_label = QLabel("", self)
        self.result_label.setTextFormat(Qt.TextFormat.PlainText)
        self.result_label.setWordWrap(True)
        self.dialog: HandoverDialog | None = None
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
        summary = self.controller.summary
        if not self.controller.enabled or summary is None:
            return
        self.result_label.clear()
        # open(), not exec(): a nested loop would re-enter the app's coroutines (qasync).
        self.dialog = HandoverDialog(self.controller, summary, self)
        self.dialog.chosen.connect(self.controller.request)
        self.dialog.finished.connect(self._on_dialog_finished)
        self.dialog.open()

    def _on_dialog_finished(self, _result: int) -> None:
        self.dialog = None

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
            if self.dialog is not None:
                self.dialog.reject()

    def _on_controller_succeeded(self, summary: SessionSummary) -> None:
        set_tone(self.result_label, "success")
        self.result_label.setText(success_text(summary))

    def _on_controller_failed(self, message: str) -> None:
        set_tone(self.result_label, "error")
        self.result_label.setText(message)
