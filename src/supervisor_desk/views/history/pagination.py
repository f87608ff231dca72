"""8bit's pagination ("Showing 1 to 50 of 234 sessions", up to five page buttons, Previous and
Next disabled at the ends) and Flametree's Load more, in one bar.

On a narrow window the bar never widens it: page buttons go first (Previous and Next stay),
and the range text elides (in full in its tooltip).
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QWidget

MAX_PAGE_BUTTONS = 5
PAGE_BUTTON_WIDTH = 44
RANGE_MIN_WIDTH = 90  # the range text elides below its full width, never below this


def page_window(current: int, count: int, size: int = MAX_PAGE_BUTTONS) -> range:
    """The page indexes (0-based) to show as buttons, centred on ``current`` where possible."""
    count = max(1, count)
    start = max(0, min(current - size // 2, count - size))
    return range(start, min(count, start + size))


class ElidedLabel(QLabel):
    """Plain text that elides to the width it is given (in full in the tooltip)."""

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.full_text = ""
        self.set_full_text(text)

    def set_full_text(self, text: str) -> None:
        self.full_text = text
        self._elide()

    def sizeHint(self) -> QSize:
        return QSize(self.fontMetrics().horizontalAdvance(self.full_text) + 4,
                     super().sizeHint().height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        shown = self.fontMetrics().elidedText(self.full_text, Qt.TextElideMode.ElideRight,
                                              max(0, self.width() - 2))
        if self.text() != shown:
            self.setText(shown)
        self.setToolTip(self.full_text if shown != self.full_text else "")


class PaginationBar(QWidget):
    page_requested = Signal(int)  # 0-based page index
    previous_requested = Signal()
    next_requested = Signal()
    load_more_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        self._layout = layout
        self._text = "No sessions"
        self._page, self._page_count, self._has_more, self._busy = 0, 1, False, False
        self.range_label = ElidedLabel("No sessions", self)
        self.range_label.setObjectName("historyRange")
        self.range_label.setMinimumWidth(RANGE_MIN_WIDTH)
        layout.addWidget(self.range_label, 1)
        self.load_more_button = QPushButton("Load more", self)
        self.load_more_button.setToolTip("Append the next page below the rows shown")
        self.load_more_button.clicked.connect(self.load_more_requested)
        layout.addWidget(self.load_more_button)
        layout.addSpacing(12)
        self.previous_button = QPushButton("Previous", self)
        self.previous_button.clicked.connect(self.previous_requested)
        layout.addWidget(self.previous_button)
        self.page_buttons: list[QPushButton] = []
        for _ in range(MAX_PAGE_BUTTONS):
            button = QPushButton(self)
            button.setCheckable(True)
            button.setAutoExclusive(False)
            button.setFixedWidth(PAGE_BUTTON_WIDTH)
            button.clicked.connect(self._on_page_button_clicked)
            self.page_buttons.append(button)
            layout.addWidget(button)
        self.next_button = QPushButton("Next", self)
        self.next_button.clicked.connect(self.next_requested)
        layout.addWidget(self.next_button)
        self.set_state(text="No sessions", page=0, page_count=1, has_previous=False,
                       has_more=False)

    def set_state(self, *, text: str, page: int, page_count: int, has_previous: bool,
                  has_more: bool, busy: bool = False) -> None:
        self._text = text
        self._page, self._page_count, self._has_more, self._busy = \
            page, page_count, has_more, busy
        self.previous_button.setEnabled(has_previous and not busy)
        self.next_button.setEnabled(has_more and not busy)
        self.load_more_button.setEnabled(has_more and not busy)
        self._fit(self.width())

    def minimumSizeHint(self) -> QSize:
        """The elided range text, Load more, Previous and Next; page buttons fold away."""
        margins = self._layout.contentsMargins()
        kept = (self.load_more_button, self.previous_button, self.next_button)
        width = (margins.left() + margins.right() + RANGE_MIN_WIDTH + 12
                 + sum(b.sizeHint().width() for b in kept)
                 + self._layout.spacing() * (len(kept) + 1))
        return QSize(width, super().minimumSizeHint().height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit(event.size().width())

    def _fit(self, width: int) -> None:
        full = self.range_label.fontMetrics().horizontalAdvance(self._text)
        room = width - self.minimumSizeHint().width() - (full - RANGE_MIN_WIDTH)
        fits = max(0, min(MAX_PAGE_BUTTONS,
                          room // (PAGE_BUTTON_WIDTH + self._layout.spacing())))
        shown = self._page_count > 1 or self._has_more
        pages = list(page_window(self._page, self._page_count, fits)) if shown and fits else []
        for button, index in zip(self.page_buttons, [*pages] + [None] * MAX_PAGE_BUTTONS,
                                 strict=False):
            if index is None:
                button.hide()
                continue
            button.setText(str(index + 1))
            button.setProperty("page", index)
            button.setChecked(index == self._page)
            button.setEnabled(not self._busy)
            button.setAccessibleName(f"Page {index + 1}")
            button.show()
        self.range_label.set_full_text(self._text)

    def visible_pages(self) -> list[int]:
        return [int(b.text()) for b in self.page_buttons if not b.isHidden()]

    def _on_page_button_clicked(self) -> None:
        button = self.sender()
        if isinstance(button, QPushButton):
            self.page_requested.emit(int(button.property("page")))
