"""The ticking cells of the sessions table (Wait, Duration): the style's cell, cheaper text.

Every second each visible live row's duration, and each queued row's wait, is painted again:
~45 cells a second on a busy floor, two thirds of all the cells the shown table paints
(``benchmarks/perf_stacks.py`` on ``idle_bench``'s shown window). Through the style each costs
~28 µs: seven roles through the model's Python ``multiData`` and the text laid out three
times (its size, its elision, its drawing). Here the background is the style's own (the item
drawn without text: selection, an alert's tint, the focus frame), and the text is drawn from a
``QStaticText`` kept per string, at the place and in the colour the style uses — the same
pixels (``tests/views/test_clock_cells.py``, both themes, selected, tinted, coloured waits).

Whatever this does not place as the style would goes to the style: a text wider than its
cell (elided), the current cell (its focus frame is drawn over the text), a right-to-left
layout, a model other than ``SessionTableModel``.
"""

from __future__ import annotations

from typing import cast

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPointF, QRect, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPalette, QRegion, QStaticText
from PySide6.QtWidgets import (
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QWidget,
)

from supervisor_desk.views.delegates import draw_item_background
from supervisor_desk.views.session_table_model import RIGHT_CLOCK_COLUMNS, SessionTableModel

ModelIndex = QModelIndex | QPersistentModelIndex

_SELECTED = QStyle.StateFlag.State_Selected.value
# The current cell's focus frame is drawn over its text: the style paints that cell.
_HAS_FOCUS = QStyle.StateFlag.State_HasFocus.value
_ENABLED = QStyle.StateFlag.State_Enabled.value
_ACTIVE = QStyle.StateFlag.State_Active.value
_NORMAL = QPalette.ColorGroup.Normal
_INACTIVE = QPalette.ColorGroup.Inactive
_DISABLED = QPalette.ColorGroup.Disabled
_TEXT = QPalette.ColorRole.Text
_HIGHLIGHTED_TEXT = QPalette.ColorRole.HighlightedText
_ALTERNATE_BASE = QPalette.ColorRole.AlternateBase
_PLAIN = Qt.TextFormat.PlainText
_LEFT_TO_RIGHT = Qt.LayoutDirection.LeftToRight
_FOCUS_MARGIN = QStyle.PixelMetric.PM_FocusFrameHMargin
# Strings kept: a screen of durations moves on each second; past this the cache starts afresh.
_MAX_TEXTS = 2048


class ClockCellDelegate(QStyledItemDelegate):
    """Paints a right-aligned clock cell of a ``SessionTableModel`` as the style does."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # Per string: its laid-out text, width and height.
        self._texts: dict[str, tuple[QStaticText, float, float]] = {}
        self._margin: int | None = None  # the style's text margin
        self._font: QFont | None = None  # the view's, which every clock cell is drawn in
        self._colors: dict[tuple[QPalette.ColorGroup, QPalette.ColorRole], QColor] = {}
        self.by_style = 0  # cells left to the style (counted for tests)
        self.painted_plain = 0  # cells painted by paint_plain_cells (counted for tests)

    def forget(self) -> None:
        """A new style, font or palette: margins, colours and laid-out texts asked again."""
        self._texts.clear()
        self._margin = None
        self._font = None
        self._colors.clear()

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: ModelIndex) -> None:
        model = index.model()
        widget = option.widget
        cell = model.clock_cell(index.row(), index.column()) if isinstance(
            model, SessionTableModel) else None
        style = widget.style() if widget is not None else None
        state = option.state.value
        if (cell is None or style is None or option.direction != _LEFT_TO_RIGHT
                or state & _HAS_FOCUS):
            self._by_style(painter, option, index)
            return
        text, foreground, tint = cell
        margin = self._margin
        if margin is None:
            margin = self._margin = style.pixelMetric(_FOCUS_MARGIN, None, widget) + 1
        font = self._font
        if font is None:
            font = self._font = QFont(option.font)
        laid_out = self._laid_out(text, painter, font) if text else None
        # One call instead of four (the stubs do not say getRect's tuple).
        x, y, width, height = cast("tuple[int, int, int, int]", option.rect.getRect())
        if laid_out is not None and laid_out[1] > width - 2 * margin:
            self._by_style(painter, option, index)  # the style elides it
            return
        # What the style draws beneath the text (a selection, the tint, a hover), if any.
        draw_item_background(painter, option, tint, widget)
        if laid_out is None:
            return
        if foreground is None or state & _SELECTED:
            group = _color_group(bool(state & _ENABLED), bool(state & _ACTIVE))
            role = _HIGHLIGHTED_TEXT if state & _SELECTED else _TEXT
            foreground = self._colors.get((group, role))
            if foreground is None:
                foreground = self._colors[group, role] = option.palette.color(group, role)
        painter.setPen(foreground)
        painter.setFont(font)
        _draw_right_aligned(painter, laid_out, x, y, width, height, margin)

    def paint_plain_cells(self, view: QTableView, region: QRegion,
                          hovered_row: int = -1) -> QRegion:
        """Paint, in one call, the clock cells of ``region`` that are plain (not selected,
        current or hovered, their text within the cell) on ``view``'s viewport, as the view
        and this delegate would one by one: the alternate row's panel, an alert's tint (the
        item's background), then the text.
        Returns what was painted (the caller leaves it out of the view's own paint); empty
        when nothing could be (before this delegate's first paint, a right-to-left layout).

        Per cell the view's own paint costs more than the delegate's: an index, an option
        filled and converted for Python, the row's panel drawn through the style, a call into
        Python. The tick repaints ~45 such cells a second."""
        painted = QRegion()
        model = view.model()
        margin, font = self._margin, self._font
        if (margin is None or font is None or not isinstance(model, SessionTableModel)
                or view.layoutDirection() != _LEFT_TO_RIGHT):
            return painted
        # As the view's items: active only while the view itself has the focus (Qt clears
        # State_Active from its items' option otherwise, and their text takes that group).
        group = _color_group(view.isEnabled(), view.isActiveWindow() and view.hasFocus())
        text_color = self._colors.get((group, _TEXT))
        if text_color is None:
            return painted
        viewport = view.viewport()
        excluded: set[int] | None = None  # asked once a strip of clock cells is in region
        current = view.currentIndex()
        current_cell = (current.row(), current.column()) if current.isValid() else None
        alternate = view.alternatingRowColors()
        alternate_brush = view.palette().brush(group, _ALTERNATE_BASE)
        clock_cell, row_at = model.clock_cell, view.rowAt
        cells: list[tuple[int, int, int, int, tuple[QStaticText, float, float] | None,
                          QColor, bool, QColor | None]] = []
        painter: QPainter | None = None
        for column in RIGHT_CLOCK_COLUMNS:
            if view.isColumnHidden(column) or view.itemDelegateForColumn(column) is not self:
                continue
            x, width = view.columnViewportPosition(column), view.columnWidth(column)
            strip = region.intersected(QRect(x, 0, width, viewport.height()))
            if strip.isEmpty():
                continue
            bounds = strip.boundingRect()
            first, last = row_at(bounds.top()), row_at(bounds.bottom())
            if first < 0:
                continue
            if last < 0:
                last = model.rowCount() - 1
            if excluded is None:
                excluded = _rows_not_plain(view, hovered_row)
            for row in range(first, last + 1):
                if row in excluded or (row, column) == current_cell:
                    continue
                y, height = view.rowViewportPosition(row), view.rowHeight(row)
                rect = QRect(x, y, width, height)
                if not strip.contains(rect):
                    continue
                cell = clock_cell(row, column)
                if cell is None:
                    continue
                text, foreground, tint = cell
                if tint is not None and not isinstance(tint, QColor):
                    continue  # a brush of another kind: the style places its pattern
                laid_out = None
                if text:
                    if painter is None:
                        painter = QPainter(viewport)
                    laid_out = self._laid_out(text, painter, font)
                    if laid_out[1] > width - 2 * margin:
                        continue  # elided by the style
                cells.append((x, y, width, height, laid_out,
                              text_color if foreground is None else foreground,
                              alternate and row & 1 == 1, tint))
                painted += rect
        if not cells:
            if painter is not None:
                painter.end()
            return painted
        if painter is None:
            painter = QPainter(viewport)
        self.painted_plain += len(cells)
        painter.setFont(font)
        for x, y, width, height, laid_out, color, alternate_row, tint in cells:
            if alternate_row:
                painter.fillRect(x, y, width, height, alternate_brush)
            if tint is not None:  # an alert's: the style fills the item with it
                painter.fillRect(x, y, width, height, tint)
            if laid_out is not None:
                painter.setPen(color)
                _draw_right_aligned(painter, laid_out, x, y, width, height, margin)
        painter.end()
        return painted

    def _laid_out(self, text: str, painter: QPainter,
                  font: QFont) -> tuple[QStaticText, float, float]:
        laid_out = self._texts.get(text)
        if laid_out is None:
            if len(self._texts) >= _MAX_TEXTS:
                self._texts.clear()
            static = QStaticText(text)
            static.setTextFormat(_PLAIN)
            static.prepare(painter.transform(), font)
            size = static.size()
            laid_out = self._texts[text] = (static, size.width(), size.height())
        return laid_out

    def _by_style(self, painter: QPainter, option: QStyleOptionViewItem,
                  index: ModelIndex) -> None:
        self.by_style += 1
        super().paint(painter, option, index)


def _draw_right_aligned(painter: QPainter, laid_out: tuple[QStaticText, float, float],
                        x: int, y: int, width: int, height: int, margin: int) -> None:
    """A laid-out text where the style puts a right-aligned cell's: inside the margin,
    centred on the cell's height."""
    static, text_width, text_height = laid_out
    painter.drawStaticText(QPointF(x + width - margin - text_width,
                                   y + (height - text_height) / 2), static)


def _color_group(enabled: bool, active: bool) -> QPalette.ColorGroup:
    """The palette group the style draws an item's text in."""
    if not enabled:
        return _DISABLED
    return _NORMAL if active else _INACTIVE


def _rows_not_plain(view: QTableView, hovered_row: int) -> set[int]:
    """Rows whose cells the style paints differently: the selected ones, the hovered one."""
    rows: set[int] = {hovered_row} if hovered_row >= 0 else set()
    selection = view.selectionModel()
    if selection is not None and selection.hasSelection():
        rows.update(index.row() for index in selection.selectedIndexes())
    return rows
