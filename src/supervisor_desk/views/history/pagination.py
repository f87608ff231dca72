"""8bit's pagination ("Showing 1 to 50 of 234 sessions", up to five page buttons, Previous and
Next disabled at the ends) and Flametree's Load more, in one bar."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

MAX_PAGE_BUTTONS = 5


def page_window(current: int, count: int, size: int = MAX_PAGE_BUTTONS) -> range:
    """The page indexes (0-based) to show as buttons, centred on ``current`` where possible."""
    count = max(1, count)
    start = max(0, min(current - size // 2, count - size))
    return range(start, min(count, start + size))


class PaginationBar(QWidget):
    page_requested = Signal(int)  # 0-based page index
    previous_requested = Signal()
    next_requested = Signal()
    load_more_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        self.range_label = QLabel("No sessions", self)
        self.range_label.setTextFormat(Qt.TextFormat.PlainText)
        self.range_label.setObjectName("historyRange")
        layout.addWidget(self.range_label)
        layout.addStretch(1)
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
            button.setFixedWidth(44)
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
        self.range_label.setText(text)
        pages = page_window(page, page_count)
        for button, index in zip(self.page_buttons, [*pages] + [None] * MAX_PAGE_BUTTONS,
                                 strict=False):
            if index is None or (page_count <= 1 and not has_more):
                button.hide()
                continue
            button.setText(str(index + 1))
            button.setProperty("page", index)
            button.setChecked(index == page)
            button.setEnabled(not busy)
            button.setAccessibleName(f"Page {index + 1}")
            button.show()
        self.previous_button.setEnabled(has_previous and not busy)
        self.next_button.setEnabled(has_more and not busy)
        self.load_more_button.setEnabled(has_more and not busy)

    def visible_pages(self) -> list[int]:
        return [int(b.text()) for b in self.page_buttons if not b.isHidden()]

    def _on_page_button_clicked(self) -> None:
        button = self.sender()
        if isinstance(button, QPushButton):
            self.page_requested.emit(int(button.property("page")))
