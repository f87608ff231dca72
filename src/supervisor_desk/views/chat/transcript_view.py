"""A virtualised, variable-height list of chat rows where appending costs O(1) layout.

Why not ``QListView``: in list mode it lays out every row again after each insert (its batched
layout restarts at row 0), so each live message on a 10,000-message transcript re-asks
10,000 sizes. Here each row's height is measured once per width, kept in a list with prefix
sums, and only the rows on screen are painted:

- rows not measured yet count with an estimate; they are measured in the background in
  slices of a few milliseconds (from the end first when the reader follows a live
  session), and always before they are painted;
- when measured heights replace estimates above the viewport, the first visible row keeps
  its place on screen (or the view stays at the bottom when it follows);
- an appended row is measured at once: the layout cost of a live message does not depend on
  the length of the transcript.

It offers the part of the item-view API the chat uses (``visualRect``, ``indexAt``,
``scrollTo``, ``scrollToBottom`` …) and paints through :class:`ChatDelegate`.
"""

from __future__ import annotations

import bisect
import itertools
import time
from typing import Any

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QRect,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QHelpEvent, QPainter, QPaintEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractScrollArea,
    QFrame,
    QStyleOptionViewItem,
    QToolTip,
    QWidget,
)

from supervisor_desk.views.chat.delegate import ChatDelegate, escape_tooltip
from supervisor_desk.views.chat.model import ChatModel, ObjectRole
from supervisor_desk.views.chat.styles import current_palette

ESTIMATED_ROW_HEIGHT = 56
MEASURE_SLICE_S = 0.006
RELAYOUT_EVERY_S = 0.1


class TranscriptView(QAbstractScrollArea):
    layout_finished = Signal()  # every row measured for the current width

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._model: ChatModel | None = None
        self.chat_delegate = ChatDelegate(self)
        self.chat_delegate.set_font(self.font())
        self._heights: list[int] = []  # 0: not measured yet
        self._tops: list[int] = [0]  # prefix sums, len(rows) + 1
        self._unmeasured = 0
        self._from_end = False
        self._scan = -1
        self._stick_to_bottom = False
        # Background slices change heights without re-summing at once (that is O(rows)):
        # positions are refreshed at most every RELAYOUT_EVERY_S, and before any use.
        self._dirty = False
        self._quiet = False
        self._last_relayout = 0.0
        self._measure_timer = QTimer(self)
        self._measure_timer.setInterval(0)
        self._measure_timer.timeout.connect(self._measure_slice)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # A scroll bar that comes and goes changes the width, and so every row's height.
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.viewport().setMouseTracking(True)
        self.viewport().setAutoFillBackground(True)
        self._apply_chat_palette()
        bar = self.verticalScrollBar()
        bar.setSingleStep(24)

    def _apply_chat_palette(self) -> None:
        """The colours of the theme applied now: bubbles, pills and the page behind them."""
        chat_palette = current_palette()
        if chat_palette is not self.chat_delegate.palette:
            self.chat_delegate.set_palette(chat_palette)
        palette = self.viewport().palette()
        palette.setColor(self.viewport().backgroundRole(), QColor(chat_palette.background))
        self.viewport().setPalette(palette)
        self.viewport().update()

    def changeEvent(self, event: QEvent) -> None:
        # The theme controller sets the application palette after switching chat colours.
        palette_event = event.type() in (
            QEvent.Type.PaletteChange,
            QEvent.Type.ApplicationPaletteChange,
        )
        if palette_event and current_palette() is not self.chat_delegate.palette:
            self._apply_chat_palette()
        super().changeEvent(event)

    # --- model --------------------------------------------------------------------------
    def setModel(self, model: ChatModel) -> None:
        self._model = model
        model.modelReset.connect(self._on_model_reset)
        model.rowsInserted.connect(self._on_model_rows_inserted)
        model.rowsRemoved.connect(self._on_model_rows_removed)
        model.dataChanged.connect(self._on_model_data_changed)
        self._on_model_reset()

    def model(self) -> ChatModel | None:
        return self._model

    def set_stick_to_bottom(self, stick: bool) -> None:
        """Keep the newest row in view while heights settle and rows arrive."""
        self._stick_to_bottom = stick
        if stick != self._from_end:
            self._from_end = stick
            self._scan = -1

    # --- geometry -----------------------------------------------------------------------
    def _row_count(self) -> int:
        return len(self._heights)

    def _relayout(self, anchor_row: int | None = None, *, repaint: bool = True) -> None:
        """Recompute prefix sums and the scroll range, keeping the reader's place.

        ``repaint=False`` when what is on screen cannot have moved (heights changed only
        off screen, the anchor row or the bottom kept in place): repainting a dozen bubbles
        ten times a second while a long transcript is measured was most of its cost.
        """
        bar = self.verticalScrollBar()
        offset = 0
        if anchor_row is None and not self._stick_to_bottom and self._heights:
            anchor_row = self._row_at_y(bar.value())
        if anchor_row is not None and 0 <= anchor_row < len(self._heights):
            offset = bar.value() - self._tops[anchor_row]
        self._tops = [0, *itertools.accumulate(h or ESTIMATED_ROW_HEIGHT for h in self._heights)]
        self._dirty = False
        self._last_relayout = time.perf_counter()
        viewport_h = self.viewport().height()
        self._quiet = not repaint
        try:
            bar.setPageStep(max(1, viewport_h))
            bar.setRange(0, max(0, self._tops[-1] - viewport_h))
            if self._stick_to_bottom:
                bar.setValue(bar.maximum())
            elif anchor_row is not None and 0 <= anchor_row < len(self._heights):
                bar.setValue(self._tops[anchor_row] + offset)
        finally:
            self._quiet = False
        if repaint:
            self.viewport().update()

    def _row_at_y(self, y: int) -> int:
        row = bisect.bisect_right(self._tops, y) - 1
        return max(0, min(row, len(self._heights) - 1))

    def _measure(self, row: int) -> bool:
        """Measure ``row`` if needed; True when its height changed."""
        if self._heights[row] or self._model is None:
            return False
        chat_row = self._model.row_at(row)
        self._heights[row] = max(1, self.chat_delegate.layout(chat_row).height)
        self._unmeasured -= 1
        return True

    def _ensure_visible_measured(self) -> None:
        # Called from paintEvent: never schedule another paint from here.
        self._sync(repaint=False)
        for _ in range(4):
            if not self._heights:
                return
            value = self.verticalScrollBar().value()
            first = self._row_at_y(value)
            bottom = value + self.viewport().height()
            changed = False
            row = first
            while row < len(self._heights) and self._tops[row] < bottom:
                changed |= self._measure(row)
                row += 1
            if not changed:
                return
            self._relayout(anchor_row=None if self._stick_to_bottom else first, repaint=False)

    def _measure_slice(self) -> None:
        if not self._unmeasured or not self.isVisible():
            self._measure_timer.stop()  # off screen: resumed by showEvent
            return
        deadline = time.perf_counter() + MEASURE_SLICE_S
        self._sync(repaint=False)
        value = self.verticalScrollBar().value()
        first_visible = self._row_at_y(value)
        last_visible = self._row_at_y(value + self.viewport().height())
        on_screen = False
        rows = self._heights
        count = len(rows)
        step = -1 if self._from_end else 1
        start = count - 1 if self._from_end else 0
        # A cursor that persists across slices: scanning stays O(rows) over the whole job.
        row = self._scan if 0 <= self._scan < count else start
        changed = False
        scanned = 0
        while self._unmeasured and scanned < count:
            if not rows[row]:
                changed |= self._measure(row)
                on_screen |= first_visible <= row <= last_visible
                if time.perf_counter() > deadline:
                    break
            row += step
            scanned += 1
            if not 0 <= row < count:
                row = start
        self._scan = row
        if changed:
            self._dirty = True
            if on_screen:
                self._relayout()
            elif (
                not self._unmeasured or time.perf_counter() - self._last_relayout > RELAYOUT_EVERY_S
            ):
                self._relayout(repaint=False)
        if not self._unmeasured:
            self._measure_timer.stop()
            self.layout_finished.emit()

    def _sync(self, *, repaint: bool = True) -> None:
        if self._dirty:
            self._relayout(repaint=repaint)

    def _start_measuring(self) -> None:
        # Background measuring is layout work: only for a transcript on screen.
        if self._unmeasured and self.isVisible() and not self._measure_timer.isActive():
            self._measure_timer.start()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._start_measuring()

    @property
    def fully_measured(self) -> bool:
        return self._unmeasured == 0

    def measure_all(self) -> None:
        """Measure every row now (tests, benchmarks)."""
        for row in range(len(self._heights)):
            self._measure(row)
        self._relayout()

    # --- model signals ------------------------------------------------------------------
    def _on_model_reset(self) -> None:
        count = self._model.rowCount() if self._model is not None else 0
        self._heights = [0] * count
        self._unmeasured = count
        self.verticalScrollBar().setValue(0)
        self._relayout(anchor_row=0)
        self._start_measuring()

    def _on_model_rows_inserted(self, _parent: Any, first: int, last: int) -> None:
        count = last - first + 1
        anchor = None
        if not self._stick_to_bottom and self._heights:
            top_row = self._row_at_y(self.verticalScrollBar().value())
            anchor = top_row + count if first <= top_row else top_row
        self._heights[first:first] = [0] * count
        self._unmeasured += count
        for row in range(first, last + 1):
            self._measure(row)
        self._relayout(anchor_row=anchor)

    def _on_model_rows_removed(self, _parent: Any, first: int, last: int) -> None:
        removed = self._heights[first : last + 1]
        self._unmeasured -= removed.count(0)
        del self._heights[first : last + 1]
        self._relayout()

    def _on_model_data_changed(
        self, top_left: QModelIndex, bottom_right: QModelIndex, _roles: Any = None
    ) -> None:
        changed = False
        for row in range(top_left.row(), bottom_right.row() + 1):
            if 0 <= row < len(self._heights):
                old = self._heights[row]
                if old:
                    self._heights[row] = 0
                    self._unmeasured += 1
                self._measure(row)
                changed |= self._heights[row] != old
        if changed:
            self._relayout()
        else:
            self.viewport().update()

    # --- item-view API the chat uses ----------------------------------------------------
    def visualRect(self, index: QModelIndex | QPersistentModelIndex) -> QRect:
        self._sync()
        row = index.row() if index.isValid() else -1
        if not 0 <= row < len(self._heights):
            return QRect()
        top = self._tops[row] - self.verticalScrollBar().value()
        height = self._heights[row] or ESTIMATED_ROW_HEIGHT
        return QRect(0, top, self.viewport().width(), height)

    def indexAt(self, pos: QPoint) -> QModelIndex:
        self._sync()
        if self._model is None or not self._heights:
            return QModelIndex()
        y = pos.y() + self.verticalScrollBar().value()
        if y < 0 or y >= self._tops[-1]:
            return QModelIndex()
        return self._model.index(self._row_at_y(y), 0)

    def scrollTo(
        self,
        index: QModelIndex | QPersistentModelIndex,
        hint: QAbstractItemView.ScrollHint = QAbstractItemView.ScrollHint.EnsureVisible,
    ) -> None:
        self._sync()
        row = index.row() if index.isValid() else -1
        if not 0 <= row < len(self._heights):
            return
        if self._measure(row):
            self._relayout()
        bar = self.verticalScrollBar()
        top = self._tops[row]
        height = self._heights[row]
        viewport_h = self.viewport().height()
        if hint == QAbstractItemView.ScrollHint.PositionAtTop:
            value = top
        elif hint == QAbstractItemView.ScrollHint.PositionAtBottom:
            value = top + height - viewport_h
        elif hint == QAbstractItemView.ScrollHint.PositionAtCenter:
            value = top - (viewport_h - height) // 2
        elif top < bar.value():
            value = top
        elif top + height > bar.value() + viewport_h:
            value = top + height - viewport_h
        else:
            return
        bar.setValue(value)
        self._ensure_visible_measured()
        self.viewport().update()

    def scrollToBottom(self) -> None:
        self._sync()
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    def scrollToTop(self) -> None:
        self.verticalScrollBar().setValue(0)

    # --- Qt events ----------------------------------------------------------------------
    def scrollContentsBy(self, dx: int, dy: int) -> None:
        if not self._quiet:
            self.viewport().update()

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        if self.chat_delegate.set_width(self.viewport().width()):
            anchor = (
                None
                if self._stick_to_bottom or not self._heights
                else self._row_at_y(self.verticalScrollBar().value())
            )
            self._heights = [0] * len(self._heights)
            self._unmeasured = len(self._heights)
            self._relayout(anchor_row=anchor)
            self._start_measuring()
        else:
            self._relayout()

    def paintEvent(self, event: QPaintEvent) -> None:
        if self._model is None or not self._heights:
            return
        self._ensure_visible_measured()
        self._start_measuring()
        painter = QPainter(self.viewport())
        value = self.verticalScrollBar().value()
        width = self.viewport().width()
        bottom = self.viewport().height()
        option = QStyleOptionViewItem()
        option.initFrom(self)
        row = self._row_at_y(value)
        while row < len(self._heights):
            top = self._tops[row] - value
            if top >= bottom:
                break
            option.rect = QRect(0, top, width, self._heights[row] or ESTIMATED_ROW_HEIGHT)
            self.chat_delegate.paint(painter, option, self._model.index(row, 0))
            row += 1
        painter.end()

    def viewportEvent(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            index = self.indexAt(event.pos())
            chat_row = index.data(ObjectRole) if index.isValid() else None
            text = ""
            if chat_row is not None:
                text = self.chat_delegate.tooltip_at(
                    chat_row, event.pos() - self.visualRect(index).topLeft()
                )
            if text:
                QToolTip.showText(event.globalPos(), escape_tooltip(text), self.viewport())
            else:
                QToolTip.hideText()
            return True
        return super().viewportEvent(event)
