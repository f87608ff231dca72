"""The sessions table view: fixed row heights, interactive column widths, a ticking clock.

Never ``ResizeToContents`` (1.4 s first paint / 0.5 s per tick at 110k rows, docs/architecture.md).
The one-second tick asks the model to repaint only the visible rows' time columns; the active-dot
pulse is a clipped viewport update of the status column.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from PySide6.QtCore import (
    QByteArray,
    QEvent,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QSettings,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QAccessible,
    QAction,
    QActionGroup,
    QHoverEvent,
    QPainter,
    QPaintEvent,
    QRegion,
)
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QMenu, QTableView, QWidget

from supervisor_desk.models.live_order import LIVE_ORDER_TITLES, LIVE_ORDERS, LiveOrder
from supervisor_desk.models.lock_slices import foreground
from supervisor_desk.models.markers import format_duration
from supervisor_desk.models.wire import SessionSummary
from supervisor_desk.models.wording import WIDEST_AGO, StartedDisplay
from supervisor_desk.views.clock import screen_clock
from supervisor_desk.views.clock_cells import ClockCellDelegate
from supervisor_desk.views.delegates import ChannelBadgeDelegate, StatusDotDelegate
from supervisor_desk.views.filled_viewport import FilledViewport
from supervisor_desk.views.session_table_model import (
    HEADERS,
    RIGHT_CLOCK_COLUMNS,
    TICK_COLUMNS,
    SessionColumn,
    SessionTableModel,
)
from supervisor_desk.views.theme import theme_color

ModelIndex = QModelIndex | QPersistentModelIndex

ROW_HEIGHT = 28
# Held for the tick: a few changed cells (an event or two), not a busy frame's many (under
# feed load a tick painting them all was a longer paint: feed_bench's longest stall).
_MOST_HELD_RECTS = 4
# _first_changed_row after a model reset or layout change: every row may have moved.
_WHOLE_VIEW = -1

DEFAULT_WIDTHS: dict[SessionColumn, int] = {
    SessionColumn.STATUS: 26,
    SessionColumn.ID: 86,
    SessionColumn.AGENT: 138,
    SessionColumn.CHANNEL: 114,
    SessionColumn.RESPONSIBLE: 98,
    SessionColumn.USER: 110,
    SessionColumn.TEAM: 96,
    SessionColumn.START: 78,
    SessionColumn.WAIT: 54,
    SessionColumn.DURATION: 76,
    SessionColumn.LAST_MESSAGE: 96,
    SessionColumn.MESSAGES: 48,
    SessionColumn.COUNTRY: 62,
    SessionColumn.IP: 110,
    SessionColumn.FINISH: 80,
    SessionColumn.STATE: 170,
    SessionColumn.FLOW: 110,
    SessionColumn.STAGE: 64,
}
DEFAULT_HIDDEN: frozenset[SessionColumn] = frozenset(
    {SessionColumn.IP, SessionColumn.TEAM, SessionColumn.FLOW, SessionColumn.STAGE}
)
# The widest text each time column can show: these columns are never narrower, so they
# never elide ("3h 1…" reads as anything). Digits are drawn at the font's widest digit.
WIDEST_VALUES: dict[SessionColumn, tuple[str, ...]] = {
    SessionColumn.WAIT: (format_duration(99 * 3600 + 59 * 60 + 59),),
    SessionColumn.DURATION: (format_duration(99 * 3600 + 59 * 60 + 59),),
    SessionColumn.START: (WIDEST_AGO, "2026-12-31 23:59", "23:59:59"),
}
_CELL_PADDING = 14  # the style's text margins on both sides, plus a little air
_SORT_INDICATOR = 16
# Visual order on first run: what a supervisor scans first (who, where, how long) leads;
# the time stamps and location follow. Users can drag columns; the layout persists.
DEFAULT_ORDER: tuple[SessionColumn, ...] = (
    SessionColumn.STATUS, SessionColumn.ID, SessionColumn.AGENT, SessionColumn.CHANNEL,
    SessionColumn.RESPONSIBLE, SessionColumn.USER, SessionColumn.WAIT, SessionColumn.DURATION,
    SessionColumn.STATE, SessionColumn.START, SessionColumn.LAST_MESSAGE,
    SessionColumn.MESSAGES, SessionColumn.COUNTRY, SessionColumn.FINISH, SessionColumn.TEAM,
    SessionColumn.IP, SessionColumn.FLOW, SessionColumn.STAGE,
)


class SessionTableView(FilledViewport, QTableView):
    """Table of sessions; emits the selected session and persists its column layout."""

    session_selected = Signal(object)  # SessionSummary | None
    # The selected session left the table (Refresh, expiry, a filter, a reload): the detail
    # keeps showing it; the table selects nothing rather than a neighbour.
    selection_left = Signal(object)  # SessionSummary
    live_order_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None, *, settings: QSettings | None = None,
                 settings_key: str = "live_table") -> None:
        super().__init__(parent)
        self._settings = settings
        self._settings_key = settings_key
        self._empty_text = "No live sessions right now"
        self._empty_hint = "New sessions appear here as they start."
        self._loading_text = "Loading sessions…"
        self._selected_id: str | None = None
        self._selected: SessionSummary | None = None
        # Set while the selected row is being removed: Qt moves the current index to a
        # neighbour before the row goes, which must not read as the user's choice.
        self._leaving: SessionSummary | None = None
        self._quiet = False
        self._was_empty = True
        # The first row that any insert, move or removal since the last items layout touched
        # (rows above it are as they were), _WHOLE_VIEW after a reset or layout change, None
        # when none happened: see doItemsLayout.
        self._first_changed_row: int | None = None
        # The last row they touched when only moves happened (rows below it are as they were);
        # None once an insert or removal shifted every row below it.
        self._last_changed_row: int | None = None
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setWordWrap(False)
        self.setAlternatingRowColors(True)
        self.setShowGrid(False)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        vheader = self.verticalHeader()
        vheader.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vheader.setDefaultSectionSize(ROW_HEIGHT)
        vheader.hide()
        header = self.horizontalHeader()
        header.setSectionsMovable(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        header.setHighlightSections(False)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setSortIndicatorShown(False)
        header.setSectionsClickable(True)
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(self._on_header_context_menu)
        header.sectionClicked.connect(self._on_header_section_clicked)
        header.sectionMoved.connect(self._save_layout)
        header.sectionResized.connect(self._on_header_section_resized)
        self._status_delegate = StatusDotDelegate(self)
        self._channel_delegate = ChannelBadgeDelegate(self)
        self.setItemDelegateForColumn(SessionColumn.STATUS, self._status_delegate)
        self.setItemDelegateForColumn(SessionColumn.CHANNEL, self._channel_delegate)
        self._clock_delegate = ClockCellDelegate(self)
        for column in RIGHT_CLOCK_COLUMNS:
            self.setItemDelegateForColumn(column, self._clock_delegate)
        # Times and the breathing dot move on the app's one-second clock, only on screen.
        self._ticking = False
        # What each clock cell on screen showed at the last tick, by (session id, column):
        # the tick repaints only the cells whose text moved.
        self._tick_texts: dict[tuple[str, int], str | None] = {}
        self._ticked_at: datetime | None = None  # the model's time at the last tick
        # Changed cells waiting for the tick due in a moment (_hold_for_tick).
        self._held = QRegion()
        # The rows shown at the last paint: a change elsewhere is never held.
        self._shown_rows = (0, -1)
        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(400)
        self._save_timer.timeout.connect(self._save_layout)
        self._restoring = False
        self._live = True
        # Where the mouse hovers the viewport (its hover events, as Qt's own hover index):
        # that row's cells show the hover, so the view's one-call clock paint leaves them.
        self._hover_y: int | None = None

    # ---------------------------------------------------------------- model wiring

    def session_model(self) -> SessionTableModel:
        model = self.model()
        assert isinstance(model, SessionTableModel)
        return model

    def setModel(self, model: Any) -> None:
        super().setModel(model)
        if isinstance(model, SessionTableModel):
            self.selectionModel().currentRowChanged.connect(self._on_selection_current_row_changed)
            model.modelReset.connect(self._on_model_structure_changed)
            model.rowsInserted.connect(self._on_model_structure_changed)
            model.rowsRemoved.connect(self._on_model_structure_changed)
            model.layoutChanged.connect(self._on_model_structure_changed)
            model.rowsAboutToBeInserted.connect(self._on_model_rows_about_to_be_inserted)
            model.rowsAboutToBeMoved.connect(self._on_model_rows_about_to_be_moved)
            model.modelAboutToBeReset.connect(self._on_model_layout_about_to_change)
            model.layoutAboutToBeChanged.connect(self._on_model_layout_about_to_change)
            self._was_empty = model.rowCount() == 0
            self._apply_default_layout()
            self.restore_layout()
            self._sync_sort_indicator()
            self._set_ticking(self._live)

    def set_live(self, live: bool) -> None:
        """``False`` for a record (offline review): no ticking clock."""
        self._live = live
        self._set_ticking(live and self.model() is not None)

    def set_empty_text(self, text: str, hint: str = "") -> None:
        self._empty_text = text
        self._empty_hint = hint
        self.viewport().update()

    # ---------------------------------------------------------------- selection

    def selected_session(self) -> SessionSummary | None:
        index = self.currentIndex()
        if not index.isValid():
            return None
        return self.session_model().session_at(index.row())

    def select_session(self, session_id: str) -> bool:
        """Select and reveal ``session_id``; False when it is not in the table."""
        row = self.session_model().row_of(session_id)
        if row < 0:
            return False
        index = self.session_model().index(row, SessionColumn.ID)
        self.setCurrentIndex(index)
        self.selectRow(row)
        self.scrollTo(index, QAbstractItemView.ScrollHint.EnsureVisible)
        return True

    def _on_selection_current_row_changed(self, current: Any, previous: Any) -> None:
        if self._quiet or self._leaving is not None:
            return
        session = self.session_model().session_at(current.row()) if current.isValid() else None
        new_id = session.id if session else None
        self._selected = session
        if new_id != self._selected_id:
            self._selected_id = new_id
            self.session_selected.emit(session)

    def rowsAboutToBeRemoved(self, parent: ModelIndex, start: int, end: int) -> None:
        self._note_structure_change(start)
        # Runs before the selection model moves the current index off the removed rows.
        current = self.currentIndex()
        if current.isValid() and start <= current.row() <= end and self._selected is not None:
            self._leaving = self._selected
        super().rowsAboutToBeRemoved(parent, start, end)

    # ---------------------------------------------------------------- repaints of the rows

    def _note_structure_change(self, first_row: int, last_row: int | None = None) -> None:
        """Rows change from ``first_row`` down (in the numbering before the change), to
        ``last_row`` (a move: the rows below it stay) or to the end (None: an insert or a
        removal). Each change leaves the rows above its first row where they were, so after
        several the rows above the smallest first row are unchanged; and when all of them
        were moves, the rows below the largest last row too (a move keeps the row count)."""
        noted = self._first_changed_row
        if noted is None:
            self._last_changed_row = last_row
        elif last_row is None or self._last_changed_row is None:
            self._last_changed_row = None
        else:
            self._last_changed_row = max(self._last_changed_row, last_row)
        self._first_changed_row = first_row if noted is None else min(noted, first_row)

    def _on_model_rows_about_to_be_inserted(self, parent: Any, first: int, last: int) -> None:
        self._note_structure_change(first)

    def _on_model_rows_about_to_be_moved(self, source_parent: Any, first: int, last: int,
                                         destination_parent: Any, destination: int) -> None:
        # Rows first..destination-1 move up (moving down), or destination..last move down.
        self._note_structure_change(min(first, destination), max(last, destination - 1))

    def _on_model_layout_about_to_change(self, *args: Any) -> None:
        self._first_changed_row = _WHOLE_VIEW
        self._last_changed_row = None

    def doItemsLayout(self) -> None:
        """Qt lays the items out again after any insert, move or removal of rows, and then
        repaints the whole viewport (~20 ms of Qt-thread CPU at 1400x900), wherever the rows
        were. Under feed load a session starts or ends in nearly every 80 ms frame, mostly far
        below the rows on screen: then only the scroll range needs updating. A change among
        the rows on screen repaints them from the first changed row down: the rows above it
        show what they showed (a full repaint right after a frame was the Qt thread's longest
        busy stretch under feed load, docs/performance.md)."""
        first_changed, self._first_changed_row = self._first_changed_row, None
        last_changed, self._last_changed_row = self._last_changed_row, None
        first_shown = self.rowAt(0)
        if first_changed is None or first_changed <= first_shown or first_shown < 0:
            super().doItemsLayout()
            return
        self.updateGeometries()
        # As QTableView's own layout does: it holds the row header's updates while rows go.
        self.verticalHeader().setUpdatesEnabled(True)
        viewport = self.viewport()
        last_shown = self.rowAt(viewport.height() - 1)
        if 0 <= last_shown < first_changed:
            return  # every change was below the screen
        rows = self.model().rowCount()
        if first_changed < rows:
            top = self.rowViewportPosition(first_changed)
        else:  # only the last rows went: clear what is below the rows left
            top = self.rowViewportPosition(rows - 1) + self.rowHeight(rows - 1)
        bottom = viewport.height()
        if last_changed is not None and last_changed < rows:
            # Only moves: a queued session accepted, an ended one going down, swap places
            # with the rows between; the rows below them are as they were.
            bottom = min(bottom, self.rowViewportPosition(last_changed)
                         + self.rowHeight(last_changed))
        viewport.update(QRect(0, top, viewport.width(), bottom - top))

    def dataChanged(self, top_left: ModelIndex, bottom_right: ModelIndex,
                    roles: Any = ()) -> None:
        """Qt repaints the whole viewport for any change of more than 200 cells, wherever they
        are: a frame with many changed rows far below the screen (one span of rows) repainted
        every row on screen. Only the part of a range that is on screen is passed on."""
        first, last = top_left.row(), bottom_right.row()
        if first != last and top_left.isValid() and bottom_right.isValid():
            first_shown, last_shown = self.visible_rows()
            first, last = max(first, first_shown), min(last, last_shown)
            if first > last:
                return  # nothing on screen changed
            model = self.model()
            top_left = model.index(first, top_left.column())
            bottom_right = model.index(last, bottom_right.column())
        # Cheap tests first: under feed load this runs for every changed cell of a frame.
        if (self._ticking and first <= self._shown_rows[1] and last >= self._shown_rows[0]
                and screen_clock().holds_for_tick()
                and self._hold_for_tick(top_left, bottom_right)):
            return
        super().dataChanged(top_left, bottom_right, list(roles))

    def _hold_for_tick(self, top_left: ModelIndex, bottom_right: ModelIndex) -> bool:
        """Keep these cells' repaint for the tick due within ~100 ms (the clock's
        ``HOLD_FOR_TICK_MS``): one paint and one flush for both.

        Qt's own ``dataChanged`` does nothing else this view needs (no editors, no size
        hints); only an active screen reader is told at once. A few cells are held, not a
        busy frame's many: those paint as they come (a tick with all of them would be one
        long paint)."""
        if (not (top_left.isValid() and bottom_right.isValid()) or not self.isVisible()
                or QAccessible.isActive() or self._held.rectCount() >= _MOST_HELD_RECTS):
            return False
        top = self.rowViewportPosition(top_left.row())
        bottom = self.rowViewportPosition(bottom_right.row()) + self.rowHeight(
            bottom_right.row())
        first, last = top_left.column(), bottom_right.column()
        if first == 0 and last == len(SessionColumn) - 1:
            self._held += QRect(0, top, self.viewport().width(), bottom - top)
            return True
        for column in range(first, last + 1):
            if not self.isColumnHidden(column):
                self._held += QRect(self.columnViewportPosition(column), top,
                                    self.columnWidth(column), bottom - top)
        return True

    def viewportEvent(self, event: QEvent) -> bool:
        kind = event.type()
        if kind in (QEvent.Type.HoverEnter, QEvent.Type.HoverMove):
            self._hover_y = int(cast("QHoverEvent", event).position().y())
        elif kind == QEvent.Type.HoverLeave:
            self._hover_y = None
        return super().viewportEvent(event)

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        # Held cells show their old pixels: wherever a scroll carries them, they repaint now.
        held, self._held = self._held, QRegion()
        super().scrollContentsBy(dx, dy)
        if not held.isEmpty():
            self.viewport().update(held + held.translated(dx, dy))

    def _on_model_structure_changed(self, *args: Any) -> None:
        self._keep_selection()
        # Qt repaints the rows it changed by itself; an extra full repaint is needed only when
        # the empty/loading overlay appears or goes (a second full paint per insert measured
        # 44% of the desktop's time under feed load).
        empty = self.model().rowCount() == 0
        if empty != self._was_empty:
            self._was_empty = empty
            self.viewport().update()

    def _keep_selection(self) -> None:
        """After rows moved, went or were reloaded: the same session stays selected, or none."""
        leaving, self._leaving = self._leaving, None
        if self._selected_id is None:
            return
        model = self.session_model()
        current = self.currentIndex()
        at_current = model.session_at(current.row()) if current.isValid() else None
        if leaving is None and at_current is not None and at_current.id == self._selected_id:
            # Still where Qt's persistent index put it: no id lookup (that would rebuild the
            # model's row index after every insert of a busy frame).
            self._selected = at_current
            return
        row = model.row_of(self._selected_id)
        if row >= 0:
            self._selected = model.session_at(row)
            if self.currentIndex().row() != row:
                self._quiet = True
                try:
                    self.select_session(self._selected_id)
                finally:
                    self._quiet = False
            return
        left = leaving or self._selected
        self._selected_id = None
        self._selected = None
        self._quiet = True
        try:
            self.selectionModel().clear()
        finally:
            self._quiet = False
        if left is not None:
            self.selection_left.emit(left)

    # ---------------------------------------------------------------- ticking

    def visible_rows(self) -> tuple[int, int]:
        rows = self.model().rowCount() if self.model() is not None else 0
        if rows == 0:
            return (0, -1)
        first = self.rowAt(0)
        last = self.rowAt(self.viewport().height() - 1)
        if first < 0:
            first = 0
        if last < 0:
            last = rows - 1
        return (first, last)

    def _set_ticking(self, ticking: bool) -> None:
        if ticking == self._ticking:
            return
        self._ticking = ticking
        if ticking:
            screen_clock().subscribe(self, self._on_clock_tick)
        else:
            screen_clock().unsubscribe(self, self._on_clock_tick)

    def _on_clock_tick(self) -> None:
        """Each second on screen: repaint only the visible cells whose text moved on.

        The cells that follow the clock (a live row's duration, a queued row's wait, relative
        start times) are asked what they show now and compared with what they showed at the
        last tick: "12m 5s" moves every second, "5 minutes ago" once a minute, a clock-time
        start or an ended row never. Durations and waits show whole seconds, so when a whole
        second or more passed since the last tick every one of them moved: they are not
        asked then (asking ~35 cells cost 90 µs a tick); a tick sooner than that (the window
        shown again right after one) compares them. The cells that moved, and any changed
        cells held for this tick, are one update of the viewport: one paint, one flush."""
        model = self.session_model()
        model.tick(0, -1)  # only the day turning over (dates of cached cells) emits here
        region, self._held = self._held, QRegion()
        now = model.now()
        whole_second = self._ticked_at is not None and (
            now - self._ticked_at).total_seconds() >= 1.0
        self._ticked_at = now
        texts: dict[tuple[str, int], str | None] = {}
        first, last = self.visible_rows()
        spans = {c: (self.columnViewportPosition(c), self.columnWidth(c))
                 for c in TICK_COLUMNS if not self.isColumnHidden(c)}
        if last >= first and spans:
            start = SessionColumn.START if (
                model.started_display is StartedDisplay.RELATIVE
                and SessionColumn.START in spans) else None
            duration = SessionColumn.DURATION if SessionColumn.DURATION in spans else None
            wait = SessionColumn.WAIT if SessionColumn.WAIT in spans else None
            before = self._tick_texts
            text_of, session_at, follows_clock = (
                model.clock_text, model.session_at, model.follows_clock)
            for row in range(first, last + 1):
                s = session_at(row)
                if s is None:
                    continue
                moving: tuple[SessionColumn | None, ...] = (start,)
                if follows_clock(s):
                    moving = (start, duration, wait if s.status == "queued" else None)
                y = height = -1
                for column in moving:
                    if column is None:
                        continue
                    if not (whole_second and column is not start):
                        key = (s.id, column)
                        text = texts[key] = text_of(s, column)
                        if key in before and before[key] == text:
                            continue
                    if y < 0:
                        y, height = self.rowViewportPosition(row), self.rowHeight(row)
                    x, width = spans[column]
                    region += QRect(x, y, width, height)
        # Only the cells on screen now: the dictionary never outgrows one screen.
        self._tick_texts = texts
        if not region.isEmpty():
            self.viewport().update(region)

    # ---------------------------------------------------------------- sorting

    def _on_header_section_clicked(self, section: int) -> None:
        model = self.session_model()
        if model.sort_column != section:
            model.sort(section, Qt.SortOrder.AscendingOrder)
        elif model.sort_order == Qt.SortOrder.AscendingOrder:
            model.sort(section, Qt.SortOrder.DescendingOrder)
        else:
            # Third click: back to the live order, like a clearable sort indicator.
            model.sort(-1)
        self._sync_sort_indicator()

    def _sync_sort_indicator(self) -> None:
        model = self.session_model()
        header = self.horizontalHeader()
        if model.sort_column >= 0:
            header.setSortIndicatorShown(True)
            header.setSortIndicator(model.sort_column, model.sort_order)
        else:
            header.setSortIndicatorShown(False)

    def set_live_order(self, order: LiveOrder | str) -> None:
        self.session_model().set_live_order(order)
        self._sync_sort_indicator()

    # ---------------------------------------------------------------- column layout

    def fitted_width(self, column: SessionColumn) -> int:
        """The narrowest width that shows this column's widest value and its header whole."""
        model = self.model()
        header_text = str(model.headerData(column, Qt.Orientation.Horizontal) or "") if (
            model is not None) else HEADERS[column]
        needed = 0
        if header_text:
            needed = (self.horizontalHeader().fontMetrics().horizontalAdvance(header_text)
                      + _CELL_PADDING + _SORT_INDICATOR)
        samples = WIDEST_VALUES.get(column)
        if samples:
            metrics = self.fontMetrics()
            widest_digit = max("0123456789", key=metrics.horizontalAdvance)
            for text in samples:
                wide = "".join(widest_digit if c.isdigit() else c for c in text)
                needed = max(needed, metrics.horizontalAdvance(wide) + _CELL_PADDING)
        return needed

    def _widen_unelided_columns(self) -> None:
        header = self.horizontalHeader()
        for column in WIDEST_VALUES:
            fitted = self.fitted_width(column)
            if header.sectionSize(column) < fitted:
                header.resizeSection(column, fitted)

    def _apply_default_layout(self) -> None:
        header = self.horizontalHeader()
        self._restoring = True
        try:
            for visual, logical in enumerate(DEFAULT_ORDER):
                header.moveSection(header.visualIndex(logical), visual)
            for column, width in DEFAULT_WIDTHS.items():
                self.setColumnWidth(column, width)
                self.setColumnHidden(column, column in DEFAULT_HIDDEN)
                header.setMinimumSectionSize(24)
            header.resizeSection(SessionColumn.STATUS, DEFAULT_WIDTHS[SessionColumn.STATUS])
            self._widen_unelided_columns()
        finally:
            self._restoring = False

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        kind = event.type()
        if kind in (QEvent.Type.StyleChange, QEvent.Type.FontChange,
                    QEvent.Type.PaletteChange):
            self._clock_delegate.forget()
        if kind == QEvent.Type.FontChange:
            self._widen_unelided_columns()

    def restore_layout(self) -> bool:
        if self._settings is None:
            return False
        state = self._settings.value(f"{self._settings_key}/header")
        if not isinstance(state, QByteArray) or state.isEmpty():
            return False
        self._restoring = True
        try:
            ok = self.horizontalHeader().restoreState(state)
            self._widen_unelided_columns()
        finally:
            self._restoring = False
        return bool(ok)

    def _on_header_section_resized(self, logical: int, old: int, new: int) -> None:
        if logical in WIDEST_VALUES and 0 < new < (fitted := self.fitted_width(
                SessionColumn(logical))):
            self.horizontalHeader().resizeSection(logical, fitted)  # never elide these
            return
        if not self._restoring:
            self._save_timer.start()

    def _save_layout(self, *args: Any) -> None:
        if self._settings is None or self._restoring:
            return
        self._settings.setValue(f"{self._settings_key}/header", self.horizontalHeader().saveState())
        self._settings.sync()

    def save_layout(self) -> None:
        self._save_timer.stop()
        self._save_layout()

    def reset_layout(self) -> None:
        self._apply_default_layout()
        self._save_layout()

    def _on_header_context_menu(self, pos: QPoint) -> None:
        menu = self.build_header_menu()
        menu.exec(self.horizontalHeader().mapToGlobal(pos))

    def build_header_menu(self) -> QMenu:
        """Column visibility toggles, layout reset and the live order choice."""
        menu = QMenu(self)
        menu.setObjectName("columnsMenu")
        for column in SessionColumn:
            title = HEADERS[column] or "Status"
            action = QAction(title, menu)
            action.setCheckable(True)
            action.setChecked(not self.isColumnHidden(column))
            action.toggled.connect(lambda checked, c=column: self.set_column_visible(c, checked))
            menu.addAction(action)
        menu.addSeparator()
        order_group = QActionGroup(menu)
        model = self.session_model()
        for order in LIVE_ORDERS:
            action = QAction(f"Live order: {LIVE_ORDER_TITLES[order].lower()}", menu)
            action.setCheckable(True)
            action.setChecked(model.sort_column < 0 and model.live_order == order)
            action.triggered.connect(
                lambda _=False, o=order: self.live_order_requested.emit(o.value)
            )
            order_group.addAction(action)
            menu.addAction(action)
        menu.addSeparator()
        reset = QAction("Reset columns", menu)
        reset.triggered.connect(self.reset_layout)
        menu.addAction(reset)
        return menu

    def set_column_visible(self, column: SessionColumn, visible: bool) -> None:
        visible_count = sum(
            not self.isColumnHidden(c) for c in range(self.horizontalHeader().count())
        )
        if not visible and visible_count <= 1:
            return  # keep at least one column, or the header (and its menu) vanishes
        self.setColumnHidden(column, not visible)
        self._save_layout()

    # ---------------------------------------------------------------- empty / loading overlay

    def paintEvent(self, event: QPaintEvent) -> None:
        with foreground:  # a thread beside (an offline file's index) stands aside meanwhile
            region = event.region()
            hovered = self.rowAt(self._hover_y) if self._hover_y is not None else -1
            plain = self._clock_delegate.paint_plain_cells(self, region, hovered)
            if plain.isEmpty():
                super().paintEvent(event)
            else:
                rest = region.subtracted(plain)
                if not rest.isEmpty():
                    super().paintEvent(QPaintEvent(rest))
        model = self.model()
        if isinstance(model, SessionTableModel):
            self._shown_rows = self.visible_rows()
            model.note_rows_on_screen(*self._shown_rows)
        if model is None or model.rowCount() > 0:
            return
        loading = isinstance(model, SessionTableModel) and model.loading
        painter = QPainter(self.viewport())
        rect = self.viewport().rect().adjusted(20, 20, -20, -20)
        title_font = self.font()
        title_font.setPointSizeF(title_font.pointSizeF() * 1.25)
        title_font.setBold(True)
        painter.setFont(title_font)
        painter.setPen(theme_color("secondary_text"))  # the theme's: readable when dark too
        title = self._loading_text if loading else self._empty_text
        title_rect = QRect(rect.x(), rect.center().y() - 30, rect.width(), 30)
        painter.drawText(title_rect, int(Qt.AlignmentFlag.AlignCenter), title)
        if not loading and self._empty_hint:
            painter.setFont(self.font())
            painter.setPen(theme_color("muted_text"))
            hint_rect = QRect(rect.x(), rect.center().y() + 2, rect.width(), 24)
            painter.drawText(hint_rect, int(Qt.AlignmentFlag.AlignCenter), self._empty_hint)
        painter.end()
