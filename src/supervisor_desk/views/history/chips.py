"""Active filters as removable chips (8bit's "colored badges with x close buttons")."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, QSize, Qt, Signal
from PySide6.QtWidgets import QLayout, QLayoutItem, QSizePolicy, QToolButton, QWidget

from supervisor_desk.views.history.describe import Chip


class FlowLayout(QLayout):
    """Left-to-right layout that wraps, so many chips never widen the window.

    It reports the height it needs at its current width as its minimum, rather than a
    height-for-width: Qt sizes a top-level window's minimum height for its minimum width,
    where every chip would sit on a line of its own and the window outgrow a small screen.
    """

    def __init__(self, parent: QWidget | None = None, spacing: int = 6) -> None:
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self._spacing = spacing
        self._height = 0  # the wrapped height at the last width laid out
        self.setContentsMargins(0, 0, 0, 0)

    def addItem(self, item: QLayoutItem) -> None:
        self._items.append(item)
        self._height = 0

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:
        self._height = 0
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientation:
        return Qt.Orientation(0)

    def heightForWidth(self, width: int) -> int:
        return self._arrange(QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect: QRect) -> None:
        super().setGeometry(rect)
        height = self._arrange(rect, move=True)
        if height != self._height:
            # Another number of lines: the parent lays out again with the new minimum.
            self._height = height
            self.invalidate()

    def sizeHint(self) -> QSize:
        return self.minimumSize()

    def minimumSize(self) -> QSize:
        size = QSize()
        for item in self._items:
            size = size.expandedTo(item.minimumSize())
        if self._height:
            size.setHeight(max(size.height(), self._height))
        return size

    def _arrange(self, rect: QRect, *, move: bool) -> int:
        x, y, line = rect.x(), rect.y(), 0
        for item in self._items:
            hint = item.sizeHint()
            if x + hint.width() > rect.right() and line > 0:
                x, y, line = rect.x(), y + line + self._spacing, 0
            if move:
                item.setGeometry(QRect(QPoint(x, y), hint))
            x += hint.width() + self._spacing
            line = max(line, hint.height())
        return y + line - rect.y()


class FilterChips(QWidget):
    chip_removed = Signal(str)  # the chip's key
    reset_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self._layout = FlowLayout(self)
        self._chips: dict[str, QToolButton] = {}
        self.hide()

    def set_chips(self, chips: list[Chip]) -> None:
        while self._layout.count():
            item = self._layout.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        self._chips.clear()
        for chip in chips:
            button = QToolButton(self)
            # QToolButton text is never rich text: names and search words stay inert.
            button.setText(f"{chip.label}  \u00d7")
            button.setToolTip(f"Remove this filter: {chip.label}")
            button.setObjectName("filterChip")
            button.setProperty("chipKey", chip.key)
            button.setAccessibleName(f"Remove filter {chip.label}")
            button.setCursor(Qt.CursorShape.PointingHandCursor)
            button.clicked.connect(lambda _checked=False, key=chip.key: self.chip_removed.emit(key))
            self._layout.addWidget(button)
            self._chips[chip.key] = button
        if chips:
            clear = QToolButton(self)
            clear.setText("Reset all")
            clear.setObjectName("filterChipReset")
            clear.setCursor(Qt.CursorShape.PointingHandCursor)
            clear.clicked.connect(self.reset_requested)
            self._layout.addWidget(clear)
        self.setVisible(bool(chips))
        self.updateGeometry()

    def chip_labels(self) -> list[str]:
        return [b.text().removesuffix("  \u00d7") for b in self._chips.values()]

    def chip_button(self, key: str) -> QToolButton:
        return self._chips[key]
