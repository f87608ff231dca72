"""Logs drawer under the chat: Trace Logs and System Logs tabs with search, copy, refresh.

Log text is untrusted (prompts quote customers verbatim), so it lives in read-only
``QPlainTextEdit``s: plain text, no links, no resources. Search highlights every match with
extra selections and steps through them with the arrows (Enter / Shift+Enter).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo
from typing import Any

from PySide6.QtCore import QEvent, QObject, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QGuiApplication,
    QKeyEvent,
    QKeySequence,
    QResizeEvent,
    QTextCursor,
    QTextFormat,
)
from PySide6.QtWidgets import (
    QBoxLayout,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLineEdit,
    QPlainTextEdit,
    QStackedWidget,
    QTabWidget,
    QTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from supervisor_desk.models.logs_text import format_system_logs, format_trace_logs
from supervisor_desk.models.markers import resolve_time_zone
from supervisor_desk.models.wire import SystemLogEntry, TraceLogEntry
from supervisor_desk.views import theme

NO_LOGS = "No logs found"
TAB_TITLES = {"trace": "Trace Logs", "system": "System Logs"}
MAX_MATCHES = 10_000


class _LogPage(QStackedWidget):
    """One tab: the text, or "No logs found" / a loading or error line."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.text_edit = QPlainTextEdit(self)
        self.text_edit.setReadOnly(True)
        self.text_edit.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.text_edit.setUndoRedoEnabled(False)
        font = self.text_edit.font()
        font.setFamily("Monospace")
        self.text_edit.setFont(font)
        self.empty_label = QLabel(NO_LOGS, self)
        self.empty_label.setTextFormat(Qt.TextFormat.PlainText)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setProperty("tone", "muted")
        self.empty_label.setWordWrap(True)
        self.addWidget(self.text_edit)
        self.addWidget(self.empty_label)
        self.show_message(NO_LOGS)

    def show_text(self, text: str) -> None:
        if not text:
            self.show_message(NO_LOGS)
            return
        self.text_edit.setPlainText(text)
        self.setCurrentWidget(self.text_edit)

    def show_message(self, message: str) -> None:
        self.text_edit.clear()
        self.empty_label.setText(message)
        self.setCurrentWidget(self.empty_label)

    @property
    def showing_text(self) -> bool:
        return self.currentWidget() is self.text_edit


class LogsDrawer(QWidget):
    refresh_requested = Signal()
    close_requested = Signal()
    copied = Signal(str)
    search_changed = Signal(int, int)  # current (1-based, 0 = none), total

    def __init__(
        self, parent: QWidget | None = None, *, time_zone: str | tzinfo | None = None
    ) -> None:
        super().__init__(parent)
        self._tz = resolve_time_zone(time_zone)
        self._entries: dict[str, list[Any]] = {"trace": [], "system": []}
        self._matches: list[QTextCursor] = []
        self._match_index = -1

        self.search_edit = QLineEdit(self)
        self.search_edit.setPlaceholderText("Search logs")
        self.search_edit.setClearButtonEnabled(True)
        self.count_label = QLabel("", self)
        self.count_label.setTextFormat(Qt.TextFormat.PlainText)
        self.prev_button = self._tool("↑", "Previous match (Shift+Enter)")
        self.next_button = self._tool("↓", "Next match (Enter)")
        self.copy_button = self._tool("Copy", "Copy the active tab to the clipboard")
        self.refresh_button = self._tool("Refresh", "Reload the logs from the hub")
        self.close_button = self._tool("✕", "Close the logs (Ctrl+L)")
        self.status_label = QLabel("", self)
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        self.status_label.setProperty("tone", "secondary")

        # Search on the left, actions on the right; in a narrow pane the actions move under
        # the search instead of squeezing the search box below a usable width.
        self.bar = QBoxLayout(QBoxLayout.Direction.LeftToRight)
        self.bar.setContentsMargins(6, 4, 6, 2)
        self._search_row = search_row = QHBoxLayout()
        title = QLabel("Logs", self)
        font = title.font()
        font.setBold(True)
        title.setFont(font)
        search_row.addWidget(title)
        search_row.addWidget(self.search_edit, 1)
        search_row.addWidget(self.count_label)
        search_row.addWidget(self.prev_button)
        search_row.addWidget(self.next_button)
        self._action_row = action_row = QHBoxLayout()
        action_row.addStretch(1)
        for button in (self.copy_button, self.refresh_button, self.close_button):
            action_row.addWidget(button)
        self.bar.addLayout(search_row, 1)
        self.bar.addLayout(action_row)
        metrics = self.search_edit.fontMetrics()
        self.search_edit.setMinimumWidth(metrics.horizontalAdvance("Search logs") + 60)
        # "12 of 340" keeps its place while stepping: no jumping buttons.
        self.count_label.setMinimumWidth(metrics.horizontalAdvance("9999 of 9999"))

        self.tabs = QTabWidget(self)
        self.pages = {kind: _LogPage(self.tabs) for kind in ("trace", "system")}
        for kind, page in self.pages.items():
            self.tabs.addTab(page, TAB_TITLES[kind])
            page.text_edit.installEventFilter(self)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        # The minimum is minimumSizeHint (stacked bar), not the side-by-side layout's.
        layout.setSizeConstraint(QLayout.SizeConstraint.SetNoConstraint)
        layout.addLayout(self.bar)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.status_label)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(150)
        self._debounce.timeout.connect(self._run_search)
        self.search_edit.textChanged.connect(lambda _t: self._debounce.start())
        self.search_edit.returnPressed.connect(self._on_search_return_pressed)
        self.search_edit.installEventFilter(self)
        self.prev_button.clicked.connect(self.previous_match)
        self.next_button.clicked.connect(self.next_match)
        self.copy_button.clicked.connect(self.copy_active)
        self.refresh_button.clicked.connect(self._on_refresh_clicked)
        self.close_button.clicked.connect(self.close_requested)
        self.tabs.currentChanged.connect(lambda _i: self._run_search())

    def _tool(self, text: str, tip: str) -> QToolButton:
        button = QToolButton(self)
        button.setText(text)
        button.setToolTip(tip)
        return button

    # --- content ------------------------------------------------------------------------
    def set_time_zone(self, time_zone: str | tzinfo | None) -> None:
        self._tz = resolve_time_zone(time_zone)
        for kind in self.pages:
            self._render(kind)

    def clear(self) -> None:
        for kind in self.pages:
            self._entries[kind] = []
            self.pages[kind].show_message(NO_LOGS)
        self.status_label.clear()
        self._run_search()

    def set_loading(self) -> None:
        self.status_label.setText("Loading logs…")

    def set_error(self, message: str) -> None:
        self.status_label.setText(message)

    def set_logs(
        self, kind: str, entries: Sequence[SystemLogEntry] | Sequence[TraceLogEntry]
    ) -> None:
        if kind not in self.pages:
            return
        self._entries[kind] = list(entries)
        self._render(kind)
        self.status_label.clear()
        if self.tabs.currentWidget() is self.pages[kind]:
            self._run_search()

    def _render(self, kind: str) -> None:
        entries = self._entries[kind]
        text = (
            format_trace_logs(entries, self._tz)
            if kind == "trace"
            else format_system_logs(entries, self._tz)
        )
        self.pages[kind].show_text(text)

    def active_kind(self) -> str:
        return "trace" if self.tabs.currentWidget() is self.pages["trace"] else "system"

    def show_tab(self, kind: str) -> None:
        self.tabs.setCurrentWidget(self.pages[kind])

    def text(self, kind: str | None = None) -> str:
        page = self.pages[kind or self.active_kind()]
        return page.text_edit.toPlainText() if page.showing_text else ""

    def copy_active(self) -> None:
        text = self.text()
        if not text:
            self.status_label.setText("Nothing to copy")
            return
        QGuiApplication.clipboard().setText(text)
        self.status_label.setText(f"{TAB_TITLES[self.active_kind()]} copied to the clipboard")
        self.copied.emit(text)

    def _on_refresh_clicked(self) -> None:
        self.set_loading()
        self.refresh_requested.emit()

    # --- search -------------------------------------------------------------------------
    def focus_search(self) -> None:
        self.search_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search_edit.selectAll()

    def search(self, query: str) -> int:
        self.search_edit.blockSignals(True)
        self.search_edit.setText(query)
        self.search_edit.blockSignals(False)
        self._run_search()
        return len(self._matches)

    @property
    def match_count(self) -> int:
        return len(self._matches)

    @property
    def current_match_index(self) -> int:
        return self._match_index

    def current_match_text(self) -> str:
        if 0 <= self._match_index < len(self._matches):
            return self._matches[self._match_index].selectedText()
        return ""

    def next_match(self) -> None:
        self._step(1)

    def previous_match(self) -> None:
        self._step(-1)

    def _on_search_return_pressed(self) -> None:
        if self._debounce.isActive():
            self._debounce.stop()
            self._run_search()
        elif QGuiApplication.keyboardModifiers() & Qt.KeyboardModifier.ShiftModifier:
            self.previous_match()
        else:
            self.next_match()

    def _run_search(self) -> None:
        self._debounce.stop()
        for page in self.pages.values():
            page.text_edit.setExtraSelections([])
        query = self.search_edit.text()
        self._matches = []
        self._match_index = -1
        page = self.pages[self.active_kind()]
        if query and page.showing_text:
            doc = page.text_edit.document()
            cursor = doc.find(query)
            while not cursor.isNull() and len(self._matches) < MAX_MATCHES:
                self._matches.append(cursor)
                cursor = doc.find(query, cursor)
            if self._matches:
                self._match_index = 0
        self._show_matches()

    def _step(self, step: int) -> None:
        if self._debounce.isActive():
            self._run_search()
            return
        if not self._matches:
            return
        self._match_index = (self._match_index + step) % len(self._matches)
        self._show_matches()

    def _show_matches(self) -> None:
        page = self.pages[self.active_kind()]
        colors = theme.current_theme()
        selections = []
        for i, cursor in enumerate(self._matches):
            selection = QTextEdit.ExtraSelection()
            selection.cursor = cursor
            selection.format.setBackground(
                colors.color("current_match" if i == self._match_index else "match")
            )
            selection.format.setForeground(colors.color("match_text"))
            selection.format.setProperty(QTextFormat.Property.FullWidthSelection, False)
            selections.append(selection)
        page.text_edit.setExtraSelections(selections)
        if 0 <= self._match_index < len(self._matches):
            current = QTextCursor(self._matches[self._match_index])
            current.clearSelection()
            page.text_edit.setTextCursor(current)
            page.text_edit.ensureCursorVisible()
        total = len(self._matches)
        index = self._match_index + 1 if total else 0
        if not self.search_edit.text():
            self.count_label.setText("")
        elif total == 0:
            self.count_label.setText("No matches")
        else:
            self.count_label.setText(f"{index} of {total}")
        self.search_changed.emit(index, total)

    def minimumSizeHint(self) -> QSize:
        # As narrow as the stacked bar: resizeEvent stacks it when the pane gets that narrow.
        hint = super().minimumSizeHint()
        margins = self.bar.contentsMargins()
        stacked = max(
            self._search_row.minimumSize().width(), self._action_row.minimumSize().width()
        )
        return QSize(stacked + margins.left() + margins.right(), hint.height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        margins = self.bar.contentsMargins()
        side_by_side = (
            self._search_row.minimumSize().width()
            + self._action_row.sizeHint().width()
            + self.bar.spacing()
            + margins.left()
            + margins.right()
        )
        direction = (
            QBoxLayout.Direction.LeftToRight
            if event.size().width() >= side_by_side
            else QBoxLayout.Direction.TopToBottom
        )
        if self.bar.direction() != direction:
            self.bar.setDirection(direction)
        super().resizeEvent(event)

    @property
    def stacked(self) -> bool:
        return self.bar.direction() == QBoxLayout.Direction.TopToBottom

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if (
            kind in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress)
            and isinstance(event, QKeyEvent)
            and event.matches(QKeySequence.StandardKey.Find)
        ):
            # Ctrl+F inside the drawer searches the logs, not the window's filters.
            event.accept()
            if kind == QEvent.Type.KeyPress:
                self.focus_search()
            return True
        return super().eventFilter(watched, event)
