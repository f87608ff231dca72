"""A text box's caret stops blinking after a while without typing, as GNOME's and Windows'
carets do, and blinks again at the next key or click.

A focused ``QLineEdit`` blinks its caret for as long as it keeps the focus: History's search box
(Ctrl+K puts the focus there) woke the app and repainted the window twice a second for as long
as the supervisor read the page (docs/performance.md, "Sixth pass: shown"). After ``rest_ms``
without a key, a click or a new focus the caret stays drawn, steady.

Qt has one blink rate for the whole application (``QStyleHints.cursorFlashTime``, which every
line edit follows at once): it is set to 0 (steady) only while the watched box has the focus
and put back the moment the box loses it, so any other text box blinks as the desktop says.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLineEdit

# GNOME's cursor-blink-timeout is 10 s; Windows stops its caret after 5 s.
REST_MS = 10_000

# What counts as the user still working in the box.
_WAKING_EVENTS = frozenset({
    QEvent.Type.FocusIn, QEvent.Type.KeyPress, QEvent.Type.MouseButtonPress,
    QEvent.Type.MouseButtonDblClick, QEvent.Type.InputMethod,
})


class CaretRest(QObject):
    """Rests ``edit``'s caret (steady, drawn) after ``rest_ms`` of no input while it has focus."""

    def __init__(self, edit: QLineEdit, rest_ms: int = REST_MS) -> None:
        super().__init__(edit)
        self._edit = edit
        self._flash_ms: int | None = None  # the blink rate put aside while resting
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(rest_ms)
        self._timer.timeout.connect(self._on_timer_timeout)
        edit.installEventFilter(self)
        if edit.hasFocus():
            self._timer.start()

    @property
    def resting(self) -> bool:
        return self._flash_ms is not None

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind in _WAKING_EVENTS:
            self._wake()
            if self._edit.hasFocus() or kind == QEvent.Type.FocusIn:
                self._timer.start()
        elif kind in (QEvent.Type.FocusOut, QEvent.Type.Hide):
            self._timer.stop()
            self._wake()
        return False

    def _on_timer_timeout(self) -> None:
        if not self._edit.hasFocus() or self.resting:
            return
        hints = QGuiApplication.styleHints()
        self._flash_ms = hints.cursorFlashTime()
        hints.setCursorFlashTime(0)  # 0: no blinking, the caret drawn

    def _wake(self) -> None:
        if self._flash_ms is not None:
            flash, self._flash_ms = self._flash_ms, None
            QGuiApplication.styleHints().setCursorFlashTime(flash)
