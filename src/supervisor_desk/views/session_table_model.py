"""The live sessions table model: rows of ``SessionSummary`` in a Python-ordered list.

Performance rules (docs/performance.md): no QSortFilterProxyModel, the order is a plain list; a
column sort argsorts the column's key arrays, read in idle slices after a load and re-read at a
click only for the rows that changed (views/session_sort_keys.py), a second click on the same
column reverses the order it left; time columns are computed on every call so the once-a-second
tick only repaints the visible range, every other cell comes from a per-row cache keyed by the
row's object (a new version is a new object), served to the view's delegate in one
``multiData`` call per cell instead of seven ``data()`` calls; sort "by duration" is sort by the
moment the shown time counts from (never re-sorts on a tick).
Feed changes arrive in batches (one per frame) and become a few ranged signals: in-place updates are
one ``dataChanged`` over the changed span, a new or re-keyed row is a bisect insert or a
``beginMoveRows``, and a big batch falls back to one ``layoutChanged``.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, tzinfo
from enum import IntEnum
from functools import partial
from operator import attrgetter
from typing import Any

import numpy as np
from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QTimer,
)
from PySide6.QtGui import QFont, QFontDatabase

from supervisor_desk.models.alerts.rules import wait_severity

# LiveOrder is re-exported: the views that show this model choose its order.
from supervisor_desk.models.live_order import LiveOrder as LiveOrder
from supervisor_desk.models.live_order import (
    LiveOrdering,
    conversation_start,
    order_seconds,
    waiting_since,
)
from supervisor_desk.models.markers import format_duration
from supervisor_desk.models.wire import SessionSummary
from supervisor_desk.models.wording import StartedDisplay, format_ago
from supervisor_desk.views.alerts.highlight import row_background, severity_icon, severity_text
from supervisor_desk.views.icons import (
    END_REASON_LABELS,
    STATUS_LABELS,
    channel_background,
    channel_color,
    channel_icon,
    channel_label,
    flag_icon,
    modality_icon,
)
from supervisor_desk.views.session_sort_keys import ColumnKeys, order_by
from supervisor_desk.views.theme import Theme, current_theme, theme_color

ModelIndex = QModelIndex | QPersistentModelIndex


class SessionColumn(IntEnum):
    STATUS = 0
    ID = 1
    AGENT = 2
    CHANNEL = 3
    RESPONSIBLE = 4
    USER = 5
    TEAM = 6
    START = 7
    WAIT = 8
    DURATION = 9
    LAST_MESSAGE = 10
    MESSAGES = 11
    COUNTRY = 12
    IP = 13
    FINISH = 14
    STATE = 15
    FLOW = 16
    STAGE = 17


HEADERS: dict[SessionColumn, str] = {
    SessionColumn.STATUS: "",
    SessionColumn.ID: "Session",
    SessionColumn.AGENT: "Agent",
    SessionColumn.CHANNEL: "Channel",
    SessionColumn.RESPONSIBLE: "Responsible",
    SessionColumn.USER: "User",
    SessionColumn.TEAM: "Team",
    SessionColumn.START: "Start",
    SessionColumn.WAIT: "Wait",
    SessionColumn.DURATION: "Wait / talk",
    SessionColumn.LAST_MESSAGE: "Last message",
    SessionColumn.MESSAGES: "Msgs",
    SessionColumn.COUNTRY: "Country",
    SessionColumn.IP: "IP",
    SessionColumn.FINISH: "Finish time",
    SessionColumn.STATE: "State",
    SessionColumn.FLOW: "Flow",
    SessionColumn.STAGE: "Stage",
}

# History and offline review (the GIVEN order) show the whole duration, as the hub sorts it.
GIVEN_HEADERS: dict[SessionColumn, str] = {SessionColumn.DURATION: "Duration"}
GIVEN_HEADER_TOOLTIPS: dict[SessionColumn, str] = {
    SessionColumn.DURATION: "Duration: time since the session started, until it ended",
}

HEADER_TOOLTIPS: dict[SessionColumn, str] = {
    SessionColumn.STATUS: "Status (with a halo: active)",
    SessionColumn.RESPONSIBLE: (
        "Responsible: who handles the session (AI, a human operator, or Unassigned)"),
    SessionColumn.WAIT: "Wait: time in the queue before a human or agent accepted the session",
    SessionColumn.DURATION: (
        "Wait / talk: what the live order ranks by.\n"
        "Queued: time waiting in the queue. Active: conversation time since an agent "
        "accepted.\nEnded: the conversation's length. The cell's tooltip has the total time."
    ),
    SessionColumn.START: "Start: when the session started",
    SessionColumn.LAST_MESSAGE: "Last message: when the last message was sent",
    SessionColumn.MESSAGES: "Messages (Msgs): messages in the session",
    SessionColumn.COUNTRY: "Customer country (from the IP address); hover for the city",
    SessionColumn.FINISH: "Finish time: when the session ended",
    SessionColumn.FLOW: "Flow: the conversation flow the agent runs (session metadata)",
    SessionColumn.STAGE: "Stage: the agent's deployment stage (e.g. PROD, DEV)",
}

# Roles beyond Qt's. SortRole values are natively comparable; ObjectRole is the SessionSummary.
SortRole = Qt.ItemDataRole.UserRole + 1
ObjectRole = Qt.ItemDataRole.UserRole + 2
EndedRole = Qt.ItemDataRole.UserRole + 3  # bool: the session ended while on screen
BadgeColorRole = Qt.ItemDataRole.UserRole + 4  # QColor of the channel badge / status dot
BadgeBackgroundRole = Qt.ItemDataRole.UserRole + 5

DISPLAY_ROLES: list[int] = [
    Qt.ItemDataRole.DisplayRole,
    Qt.ItemDataRole.ToolTipRole,
    Qt.ItemDataRole.ForegroundRole,
    Qt.ItemDataRole.FontRole,
    Qt.ItemDataRole.DecorationRole,
    SortRole,
    ObjectRole,
    EndedRole,
    BadgeColorRole,
]
TICK_ROLES: list[int] = [Qt.ItemDataRole.DisplayRole]
# Contiguous (one dataChanged span): relative start times tick with the durations.
TICK_COLUMNS: tuple[SessionColumn, ...] = (
    SessionColumn.START, SessionColumn.WAIT, SessionColumn.DURATION)

_LIVE_RANK = {"queued": 0, "active": 1}
EMPTY = "---"

# Columns whose text or colour follows the clock: computed on every call, never cached.
_CLOCK_COLUMNS = frozenset({SessionColumn.START, SessionColumn.WAIT, SessionColumn.DURATION})
_WAIT = SessionColumn.WAIT
# The roles a painted cell asks for, cached per row object (tooltips and the rest on demand).
_CACHED_ROLES: tuple[int, ...] = tuple(int(r) for r in (
    Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ForegroundRole, Qt.ItemDataRole.FontRole,
    Qt.ItemDataRole.TextAlignmentRole, Qt.ItemDataRole.DecorationRole,
    Qt.ItemDataRole.BackgroundRole))


_NO_CELL: dict[int, Any] = {}
_BACKGROUND_ROLE = int(Qt.ItemDataRole.BackgroundRole)
_DISPLAY_ROLE = int(Qt.ItemDataRole.DisplayRole)
_FOREGROUND_ROLE = int(Qt.ItemDataRole.ForegroundRole)
_ALIGNMENT_ROLE = int(Qt.ItemDataRole.TextAlignmentRole)
_FONT_ROLE = int(Qt.ItemDataRole.FontRole)
_DECORATION_ROLE = int(Qt.ItemDataRole.DecorationRole)
# Worked out once: a Qt flag combined in Python is an enum operation, one per painted cell.
_RIGHT_ALIGNMENT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


class _RowCells:
    """One row's displayed cells, valid while the row shows this object at this alert level."""

    __slots__ = ("cells", "level", "session", "texts")

    def __init__(self, session: SessionSummary, level: str | None) -> None:
        self.session = session
        self.level = level
        self.cells: list[dict[int, Any] | None] = [None] * len(SessionColumn)
        # The texts of _TEXT_COLUMNS, kept so the next version's frame finds what it replaces.
        self.texts: tuple[str | None, ...] | None = None


# A frame's in-place update repaints only the cells whose text moved: these columns' texts are
# compared; the clock columns follow these fields (and the clock, which the tick repaints), and
# these fields change the look of many cells at once (dot, badge, icons, colours, fonts).
_TEXT_COLUMNS: tuple[SessionColumn, ...] = tuple(
    c for c in SessionColumn if c not in _CLOCK_COLUMNS)
_CLOCK_INPUTS = attrgetter("status", "started_at", "queued_at", "accepted_at", "ended_at")


def _row_look(s: SessionSummary) -> tuple[Any, ...]:
    return (s.status, s.channel, s.modality, s.responsible.kind)


class _Desc:
    """Reverses comparisons so one ascending ``list.sort``/bisect serves descending sorts."""

    __slots__ = ("key",)

    def __init__(self, key: Any) -> None:
        self.key = key

    def __lt__(self, other: _Desc) -> bool:
        return bool(other.key < self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and bool(self.key == other.key)

    def __hash__(self) -> int:
        return hash(self.key)


def _ts(value: datetime | None) -> float:
    return value.timestamp() if value is not None else float("inf")


def _timestamps(values: Iterable[datetime | None], count: int) -> np.ndarray[Any, Any]:
    """POSIX seconds of each value (None: +inf, after every time), as one float array."""
    values = list(values)
    try:
        # A None raises TypeError here: datetime.timestamp does not apply to it.
        return np.fromiter(map(datetime.timestamp, values),  # type: ignore[arg-type]
                           dtype=np.float64, count=count)
    except TypeError:  # some are None: the slower loop that tests each
        inf = float("inf")
        return np.fromiter((inf if v is None else v.timestamp() for v in values),
                           dtype=np.float64, count=count)


_STARTED_AT = attrgetter("started_at")
_LAST_MESSAGE_AT = attrgetter("last_message_at")
_ENDED_AT = attrgetter("ended_at")
_MESSAGE_COUNT = attrgetter("message_count")
_USER = attrgetter("user")
_AGENT_MODALITY = attrgetter("agent", "modality")
_ID = attrgetter("id")


class SessionTableModel(QAbstractTableModel):
    """Rows of live sessions; ended ones stay (marked) until :meth:`remove_ended`."""

    def __init__(
        self,
        parent: Any = None,
        *,
        clock: Callable[[], datetime] | None = None,
        time_zone: tzinfo | None = None,
    ) -> None:
        super().__init__(parent)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._tz = time_zone
        self._rows: list[SessionSummary] = []
        # Each row's ascending sort key, for bisect inserts and moves; None after a column sort
        # until a frame needs them (100k keys cost more than the sort itself).
        self._keys: list[Any] | None = []
        self._index: dict[str, int] = {}
        # The session each row shows, by id: which sessions are shown, and the version a frame
        # replaces, whatever rows moved (_index's positions go stale with every insert/move).
        # None until a frame needs it: 100,000 rows loaded at once cost 80-90 ms to map.
        self._shown: dict[str, SessionSummary] | None = None
        # Displayed cells per session id, valid while the row holds the same object.
        self._cells: dict[str, _RowCells] = {}
        self._cells_theme: Theme = current_theme()
        # An alert's row tint per severity, in ``_cells_theme`` (a blend: a new QColor each).
        self._tints: dict[str, Any] = {}
        self._cells_day: date = self._clock().astimezone(time_zone).date()
        # Bumped by every change of rows; a sort remembers the one it left behind.
        self._generation = 0
        self._last_sort: tuple[int, int, LiveOrder, bool] | None = None
        # Arrival number of each row, in row order (valid for _arrivals_generation).
        self._arrivals: np.ndarray[Any, Any] | None = None
        self._arrivals_generation = -1
        # Each column's sort keys by arrival number, read in idle slices after a load and
        # refreshed at a click for the rows that changed since: a click is one argsort.
        self._column_keys: dict[int, ColumnKeys] = {}
        # A load's predecessor's keys, freed in the idle slices: dropping the keys of 100k
        # rows at once (a million references) took 23 ms of the next load's frame.
        self._released_keys: list[ColumnKeys] = []
        self._warm_rows: list[SessionSummary] = []
        self._warm_slots: np.ndarray[Any, Any] = np.zeros(0, dtype=np.int64)
        self._warm_columns: list[int] = []
        self._warm_from = 0
        self._warm_generation = -1
        self._warm_keys: ColumnKeys | None = None  # the object the current column went into
        self._warm_row_s = 0.0  # the current column's measured reading time per row
        # When the last frame was applied (idle slices keep out of its event-loop turn).
        self._applied_at = -math.inf
        self._warm_timer = QTimer(self)
        self._warm_timer.setSingleShot(True)
        self._warm_timer.timeout.connect(self._on_warm_timer_timeout)
        # Rows from this position on may have stale entries in _index (None: all valid).
        # Rebuilt lazily, once per frame at most, not after every insert or move.
        self._index_from: int | None = None
        self._ordering = LiveOrdering(LiveOrder.LONGEST_WAIT)
        self._started_display = StartedDisplay.CLOCK
        self._sort_column: int = -1
        self._sort_order = Qt.SortOrder.AscendingOrder
        self._mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self._mono.setStyleHint(QFont.StyleHint.TypeWriter)
        self._mono.setFixedPitch(True)
        self._ended_font = QFont()
        self._ended_font.setItalic(True)
        self._loading = False
        # The rows the view showed at its last paint (None: no view told).
        self._rows_on_screen: tuple[int, int] | None = None
        # Alert rules (views/alerts/): a session's highest open severity, and the wait rules'
        # thresholds the Wait cells are coloured by.
        self._alert_level: Callable[[str], str | None] = _no_alert
        self._wait_thresholds: list[tuple[int, str]] = []

    # ---------------------------------------------------------------- Qt model interface

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(SessionColumn)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(SessionColumn):
            return None
        column = SessionColumn(section)
        given = self._ordering.order is LiveOrder.GIVEN
        if role == Qt.ItemDataRole.DisplayRole:
            return (given and GIVEN_HEADERS.get(column)) or HEADERS[column]
        if role == Qt.ItemDataRole.ToolTipRole:
            return ((given and GIVEN_HEADER_TOOLTIPS.get(column))
                    or HEADER_TOOLTIPS.get(column, HEADERS[column] or None))
        if role == Qt.ItemDataRole.TextAlignmentRole and column in _RIGHT_ALIGNED:
            return _RIGHT_ALIGNMENT
        return None

    # No flags(): QAbstractTableModel's own (enabled, selectable, no children) are ours, and
    # the view asks them for every cell it paints: a Python override cost ~5 % of a paint.

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        # The view asks ~10 roles per painted cell: refuse the ones we never serve first.
        if role not in _SERVED_ROLES or not index.isValid():
            return None
        row = index.row()
        if row >= len(self._rows):
            return None
        column = index.column()
        if role in _CACHED_ROLES and column not in _CLOCK_COLUMNS:
            return self._cell(self._rows[row], column).get(role)
        return self._value(self._rows[row], column, role)

    # The span is a QModelRoleDataSpan; its stubs do not declare the iteration it supports.
    def multiData(self, index: ModelIndex, roleDataSpan: Any) -> None:  # noqa: N803
        """All the roles a delegate asks for one cell, in one call (Qt's default makes one
        ``data()`` call per role: seven per painted cell, most of a paint's cost).

        Every role is set or cleared: Qt's delegate reuses its span from cell to cell."""
        row = index.row()
        if not 0 <= row < len(self._rows):
            for role_data in roleDataSpan:
                role_data.clearData()
            return
        s = self._rows[row]
        column = index.column()
        if column in _CLOCK_COLUMNS:
            # The second's tick repaints these cells: what the delegate asks (text, colour,
            # alignment, the row's tint; no font or icon) without a pass through _value's
            # chain for each role; any other role still goes through it.
            text, foreground, tint = self._clock_look(s, column)
            clock = {
                _DISPLAY_ROLE: text,
                _FOREGROUND_ROLE: foreground,
                _ALIGNMENT_ROLE: _RIGHT_ALIGNMENT if column in _RIGHT_ALIGNED else None,
                _BACKGROUND_ROLE: tint,
                _FONT_ROLE: None,
                _DECORATION_ROLE: None,
            }
            for role_data in roleDataSpan:
                role = role_data.role()
                if role in clock:
                    value = clock[role]
                elif role in _SERVED_ROLES:
                    value = self._value(s, column, role)
                else:
                    value = None
                if value is not None:
                    role_data.setData(value)
                else:
                    role_data.clearData()
            return
        clock_column = column in _CLOCK_COLUMNS
        cell = _NO_CELL if clock_column else self._cell(s, column)
        for role_data in roleDataSpan:
            role = role_data.role()
            if role in cell:
                role_data.setData(cell[role])
            elif (role in _SERVED_ROLES and (clock_column or role not in _CACHED_ROLES)
                  and (value := self._value(s, column, role)) is not None):
                role_data.setData(value)
            else:
                role_data.clearData()

    def _cell(self, s: SessionSummary, column: int) -> dict[int, Any]:
        """The cached roles of one cell that does not follow the clock (built on first use)."""
        self._follow_theme()
        level = self._alert_level(s.id)
        entry = self._cells.get(s.id)
        if entry is None or entry.session is not s or entry.level != level:
            entry = self._cells[s.id] = _RowCells(s, level)
        cell = entry.cells[column]
        if cell is None:
            cell = entry.cells[column] = {
                role: value for role in _CACHED_ROLES
                if (value := self._value(s, column, role)) is not None
            }
        return cell

    def _follow_theme(self) -> None:
        """Forget the cached looks (cells, tints) made in another theme than the current."""
        theme = current_theme()
        if theme is not self._cells_theme:
            self._cells_theme = theme
            self._cells.clear()
            self._tints.clear()

    def _clock_look(self, s: SessionSummary, column: int) -> tuple[str | None, Any, Any]:
        """A clock cell's text, its colour (None: the palette's) and the row's tint.

        Asked for ~35 cells each second: straight to the three, not through the row's cached
        cells (a row whose session changed would build its ID cell's every role first)."""
        if column in RIGHT_CLOCK_COLUMNS:
            return self._clock_display(s, column), self._clock_foreground(s), self._row_tint(s)
        return (self._display(s, column), self._value(s, column, _FOREGROUND_ROLE),
                self._row_tint(s))

    def _row_tint(self, s: SessionSummary) -> Any:
        """The row's alert tint (the cells' ``BackgroundRole``), None without an alert."""
        level = self._alert_level(s.id)
        if level is None:
            return None
        self._follow_theme()
        tint = self._tints.get(level)
        if tint is None:
            tint = self._tints[level] = row_background(level)
        return tint

    def _clock_foreground(self, s: SessionSummary) -> Any:
        """A clock cell's text colour: a queued wait's severity, an ended row's, else None."""
        if self._wait_thresholds and s.status == "queued":
            wait = self._wait_seconds(s)
            level = None if wait is None else wait_severity(self._wait_thresholds, wait)
            if level is not None:
                return severity_text(level)
        if not s.is_live:
            return theme_color("ended_text")  # readable in every theme
        return None

    def clock_cell(self, row: int, column: int) -> tuple[str | None, Any, Any] | None:
        """What a right-aligned clock cell (Wait, Duration) shows, in one call for its
        delegate (``views/clock_cells.py``): its text, its colour (``None``: the palette's
        text colour) and the row's alert tint (``None``: none); ``None`` for another column
        or a row out of range."""
        if column not in RIGHT_CLOCK_COLUMNS or not 0 <= row < len(self._rows):
            return None
        return self._clock_look(self._rows[row], column)

    def look_of(self, row: int, column: int) -> tuple[SessionSummary | None, Any]:
        """What a graphic cell (status dot, channel badge) draws: the row's session and its
        alert tint (the cell's ``BackgroundRole``), in one call instead of two ``data()``
        calls through Qt for each of the ~60 such cells of a paint."""
        if not 0 <= row < len(self._rows):
            return None, None
        s = self._rows[row]
        return s, self._cell(s, column).get(_BACKGROUND_ROLE)

    def _forget_cells(self) -> None:
        self._cells.clear()

    def _value(self, s: SessionSummary, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(s, column)
        if role == SortRole:
            return self._sort_value(s, column)
        if role == ObjectRole:
            return s
        if role == Qt.ItemDataRole.BackgroundRole:
            return self._row_tint(s)
        if role == Qt.ItemDataRole.ForegroundRole:
            if column in RIGHT_CLOCK_COLUMNS:
                return self._clock_foreground(s)
            if not s.is_live:
                return theme_color("ended_text")  # readable in every theme
            if column in (SessionColumn.FINISH, SessionColumn.TEAM) or (
                column == SessionColumn.RESPONSIBLE and s.responsible.kind == "unassigned"
            ):
                return theme_color("muted_text")
            return None
        if role == Qt.ItemDataRole.FontRole:
            if column == SessionColumn.ID:
                return self._mono
            if column == SessionColumn.STATE and not s.is_live:
                return self._ended_font
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if column in _RIGHT_ALIGNED:
                return _RIGHT_ALIGNMENT
            return None
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(s, column)
        if role == Qt.ItemDataRole.DecorationRole:
            if column == SessionColumn.ID:
                level = self._alert_level(s.id)
                return severity_icon(level) if level is not None else None
            if column == SessionColumn.CHANNEL:
                return channel_icon(s.channel)
            if column == SessionColumn.AGENT:
                return modality_icon(s.modality)
            if column == SessionColumn.COUNTRY:
                return flag_icon(s.location.country_code)
            return None
        if role == EndedRole:
            return not s.is_live
        if role == BadgeColorRole:
            if column == SessionColumn.CHANNEL:
                return channel_color(s.channel)
            return None
        if role == BadgeBackgroundRole:
            if column == SessionColumn.CHANNEL:
                return channel_background(s.channel)
            return None
        if role == Qt.ItemDataRole.AccessibleTextRole:
            if column == SessionColumn.AGENT:
                return f"{s.agent.name} · {s.modality}"
            if column == SessionColumn.COUNTRY:
                return _place(s) or s.location.country_code or "Unknown country"
            text = self._display(s, column)
            return text or STATUS_LABELS.get(s.status, s.status)
        return None

    def set_alerts(self, level: Callable[[str], str | None],
                   wait_thresholds: list[tuple[int, str]]) -> None:
        """Rows tint and show an icon by ``level(session id)``; Wait cells colour by rule."""
        self._alert_level = level
        self._wait_thresholds = wait_thresholds
        self._forget_cells()
        self.alerts_changed()

    def alerts_changed(self) -> None:
        """Open alerts changed: repaint the tints and icons (one ranged signal)."""
        if self._rows:
            self.dataChanged.emit(
                self.index(0, 0), self.index(len(self._rows) - 1, len(SessionColumn) - 1),
                [Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.DecorationRole,
                 Qt.ItemDataRole.ForegroundRole],
            )

    def alerts_changed_for(self, session_ids: Iterable[str]) -> None:
        """These sessions' alerts opened or resolved: repaint the painted rows whose tint moved.

        A row never painted since its cells were forgotten reads its tint when it is; the
        others are found by their cached cells, so a frame costs nothing for rows off screen
        (the whole table repainted on every frame that changed an alert).
        """
        cells = self._cells
        level = self._alert_level
        for sid in session_ids:
            entry = cells.get(sid)
            if entry is not None and entry.level != level(sid):
                row = self.row_of(sid)
                if row >= 0:
                    self.dataChanged.emit(
                        self.createIndex(row, 0),
                        self.createIndex(row, len(SessionColumn) - 1),
                        [Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.DecorationRole,
                         Qt.ItemDataRole.ForegroundRole])

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Column sort (header click). ``column < 0`` returns to the live order."""
        self._sort_column = column if 0 <= column < len(SessionColumn) else -1
        self._sort_order = order
        self._resort()

    # ---------------------------------------------------------------- public API

    @property
    def live_order(self) -> LiveOrder:
        return self._ordering.order

    def set_live_order(self, order: LiveOrder | str) -> None:
        """Switch the live order and drop any column sort."""
        given = self._ordering.order is LiveOrder.GIVEN
        self._ordering.order = LiveOrder(order)
        if given != (self._ordering.order is LiveOrder.GIVEN):
            # History sorts Duration by start, the live table by the shown time's origin.
            self._column_keys.pop(SessionColumn.DURATION, None)
            self.headerDataChanged.emit(
                Qt.Orientation.Horizontal, SessionColumn.DURATION, SessionColumn.DURATION)
        self._sort_column = -1
        self._resort()

    @property
    def started_display(self) -> StartedDisplay:
        return self._started_display

    def set_started_display(self, display: StartedDisplay | str) -> None:
        self._started_display = StartedDisplay(display)
        if self._rows:
            self.dataChanged.emit(
                self.index(0, SessionColumn.START),
                self.index(len(self._rows) - 1, SessionColumn.START), TICK_ROLES,
            )

    @property
    def sort_column(self) -> int:
        return self._sort_column

    @property
    def sort_order(self) -> Qt.SortOrder:
        return self._sort_order

    def set_time_zone(self, tz: tzinfo | None) -> None:
        self._tz = tz
        self._cells_day = self._clock().astimezone(tz).date()
        self._forget_cells()
        if self._rows:
            self.dataChanged.emit(
                self.index(0, 0), self.index(len(self._rows) - 1, len(SessionColumn) - 1),
                TICK_ROLES,
            )

    @property
    def loading(self) -> bool:
        return self._loading

    def set_loading(self, loading: bool) -> None:
        self._loading = loading

    def session_at(self, row: int) -> SessionSummary | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, session_id: str) -> int:
        """The row showing ``session_id``, or -1."""
        self._ensure_index()
        return self._index.get(session_id, -1)

    def sessions(self) -> list[SessionSummary]:
        return list(self._rows)

    def set_sessions(self, sessions: Iterable[SessionSummary]) -> None:
        """Replace every row (snapshot, resync, sign-in). Arrival order follows ``started_at``."""
        self.beginResetModel()
        self._forget_cells()
        if self._ordering.order == LiveOrder.GIVEN and self._sort_column < 0:
            rows = list(sessions)
        else:
            rows = sorted(sessions, key=lambda s: (s.started_at, s.id))
        self._ordering.clear()
        for s in rows:
            self._ordering.note(s)
        self._rows = rows
        self._shown = None
        self._generation += 1
        # Noted in this order: the arrival numbers are the positions (no lookups).
        self._arrivals = np.arange(len(rows), dtype=np.int64)
        self._arrivals_generation = self._generation
        self._released_keys.extend(self._column_keys.values())
        self._column_keys = {}
        self._order_rows()
        self._invalidate_index(0)
        self._loading = False
        self.endResetModel()
        self._start_warming()

    def apply_changes(self, batch: Sequence[SessionSummary]) -> None:
        """Apply one frame of session states (latest per id; new ids are added).

        Stale versions are ignored so a replayed or duplicated state never goes backwards.
        """
        keys = self._ensure_keys()
        self._generation += 1
        updated: list[tuple[int, SessionSummary, SessionSummary]] = []  # (row, old, new)
        restructure: list[tuple[SessionSummary, Any]] = []  # (session, key before) / None: new
        shown = self._ensure_shown()
        for s in batch:
            old = shown.get(s.id)
            if old is None:
                restructure.append((s, None))
                continue
            if s.version < old.version:
                continue
            row = self._find_row(old)
            key = self._key(s)
            self._rows[row] = s
            shown[s.id] = s
            if key == keys[row]:
                updated.append((row, old, s))
            else:
                restructure.append((s, keys[row]))
        if len(updated) > _MAX_CHANGED_RUNS:
            self._emit_row_runs([row for row, _, _ in updated])
        elif updated:
            unpainted = [row for row, old, s in updated
                         if not self._emit_cells_changed(row, old, s)]
            if unpainted:
                self._emit_row_runs(unpainted)
        if restructure:
            if len(restructure) > 64:
                self._bulk_restructure([s for s, _ in restructure])
            else:
                for s, old_key in restructure:
                    self._place(s, old_key)
        self._applied_at = time.perf_counter()

    def remove_ended(self) -> int:
        """Refresh (F5): drop the ended rows kept on screen. Returns how many went."""
        return self.remove_sessions([s.id for s in self._rows if not s.is_live])

    def remove_sessions(self, session_ids: Iterable[str]) -> int:
        """Drop these sessions' rows (ids not shown are ignored). Returns how many went."""
        self._ensure_index()
        rows = sorted({r for sid in session_ids if (r := self._index.get(sid)) is not None})
        if not rows:
            return 0
        self._generation += 1
        self._stop_warming()
        # Remove contiguous blocks from the bottom up so earlier rows keep their numbers.
        blocks: list[tuple[int, int]] = []
        for row in rows:
            if blocks and blocks[-1][1] == row - 1:
                blocks[-1] = (blocks[-1][0], row)
            else:
                blocks.append((row, row))
        for first, last in reversed(blocks):
            self.beginRemoveRows(QModelIndex(), first, last)
            for s in self._rows[first : last + 1]:
                slot = self._ordering.arrival(s.id)
                for keys in self._column_keys.values():
                    keys.forget(slot)
                self._ordering.forget(s.id)
                if self._shown is not None:
                    del self._shown[s.id]
                self._cells.pop(s.id, None)
                del self._index[s.id]
            del self._rows[first : last + 1]
            if self._keys is not None:
                del self._keys[first : last + 1]
            # Before endRemoveRows: its listeners (the view keeping its selection) look rows up.
            self._invalidate_index(first)
            self.endRemoveRows()
        return len(rows)

    def follows_clock(self, s: SessionSummary) -> bool:
        """Its duration (and, queued, its wait) moves with the clock: a live session, or an
        ended one the hub sent without its end time."""
        return s.is_live or _duration_follows_clock(s)

    def now(self) -> datetime:
        """The moment the clock columns are computed for (the model's clock)."""
        return self._clock()

    def clock_text(self, s: SessionSummary, column: int) -> str | None:
        """What a clock cell shows now: the tick repaints the cells whose text moved since
        the last tick (``SessionTableView``). Its colour needs no look of its own: a wait's
        colour changes at a whole second of waiting, when its text does too; a theme or
        the wait rules changing repaint every cell."""
        return self._display(s, column)

    def note_rows_on_screen(self, first_row: int, last_row: int) -> None:
        """The rows a view shows (it tells at each paint): a frame with very many changed
        rows signals those outside them as two spans, which the view does not repaint."""
        self._rows_on_screen = (first_row, last_row)

    def tick(self, first_row: int, last_row: int) -> None:
        """Once a second: repaint the time columns of the visible rows only."""
        today = self._clock().astimezone(self._tz).date()
        if today != self._cells_day:
            # Times of an earlier day show their date: cached "Last message"/"Finish" cells.
            self._cells_day = today
            self._forget_cells()
            if self._rows:
                self.dataChanged.emit(
                    self.index(0, 0),
                    self.index(len(self._rows) - 1, len(SessionColumn) - 1), TICK_ROLES)
        if not self._rows:
            return
        first_row = max(0, first_row)
        last_row = min(len(self._rows) - 1, last_row)
        if first_row > last_row:
            return
        self.dataChanged.emit(
            self.index(first_row, min(TICK_COLUMNS)),
            self.index(last_row, max(TICK_COLUMNS)),
            TICK_ROLES,
        )

    # ---------------------------------------------------------------- display helpers

    def _fmt_time(self, value: datetime | None) -> str:
        if value is None:
            return EMPTY
        local = value.astimezone(self._tz)
        now = self._clock().astimezone(self._tz)
        if local.date() == now.date():
            return local.strftime("%H:%M:%S")
        return local.strftime("%Y-%m-%d %H:%M")

    def _wait_seconds(self, s: SessionSummary) -> float | None:
        if s.queued_at is None:
            return None
        if s.accepted_at is not None:
            return (s.accepted_at - s.queued_at).total_seconds()
        if s.status == "queued":
            return (self._clock() - s.queued_at).total_seconds()
        if s.ended_at is not None:
            return (s.ended_at - s.queued_at).total_seconds()
        return None

    def _total_seconds(self, s: SessionSummary) -> float:
        end = s.ended_at if s.ended_at is not None else self._clock()
        return max(0.0, (end - s.started_at).total_seconds())

    def _duration_tooltip(self, s: SessionSummary) -> str:
        shown = format_duration(order_seconds(s, self._clock()))
        total = format_duration(self._total_seconds(s))
        if s.status == "queued":
            first = f"Waiting in the queue: {shown}"
        elif s.is_live:
            first = f"Conversation (since accepted): {shown}"
        elif s.queued_at is not None and s.accepted_at is None:
            first = f"Ended in the queue after waiting {shown}"
        else:
            first = f"Conversation: {shown}"
        return f"{first}\nTotal since the session started: {total}"

    def _fmt_started(self, s: SessionSummary) -> str:
        if self._started_display is StartedDisplay.RELATIVE:
            return format_ago((self._clock() - s.started_at).total_seconds())
        return self._fmt_time(s.started_at)

    def _clock_display(self, s: SessionSummary, column: int) -> str:
        """The text of a Wait or Duration cell (the tick's: asked for ~35 cells a second)."""
        if column == _WAIT:
            # Blank for sessions that never queued: a column of "---" would hide the few
            # real waits a supervisor scans for.
            wait = self._wait_seconds(s)
            return "" if wait is None else format_duration(wait)
        if self._ordering.order is LiveOrder.GIVEN:
            return format_duration(self._total_seconds(s))
        return format_duration(order_seconds(s, self._clock()))

    def _display(self, s: SessionSummary, column: int) -> str | None:
        match column:
            case SessionColumn.STATUS:
                return None
            case SessionColumn.ID:
                return s.id[:8] + ("…" if len(s.id) > 8 else "")
            case SessionColumn.AGENT:
                return s.agent.name
            case SessionColumn.CHANNEL:
                return channel_label(s.channel)
            case SessionColumn.RESPONSIBLE:
                return _responsible_text(s)
            case SessionColumn.USER:
                return s.user.name or s.user.external_id or s.user.id
            case SessionColumn.TEAM:
                return s.team or EMPTY
            case SessionColumn.START:
                return self._fmt_started(s)
            case SessionColumn.WAIT | SessionColumn.DURATION:
                return self._clock_display(s, column)
            case SessionColumn.LAST_MESSAGE:
                return self._fmt_time(s.last_message_at)
            case SessionColumn.MESSAGES:
                return str(s.message_count)
            case SessionColumn.COUNTRY:
                return s.location.country_code or ""
            case SessionColumn.IP:
                return s.location.ip or ""
            case SessionColumn.FINISH:
                return self._fmt_time(s.ended_at)
            case SessionColumn.STATE:
                return _state_text(s)
            case SessionColumn.FLOW:
                return s.metadata.get("flow", "")
            case SessionColumn.STAGE:
                return s.stage or ""
        return None

    def _tooltip(self, s: SessionSummary, column: int) -> str | None:
        match column:
            case SessionColumn.STATUS | SessionColumn.STATE:
                return _state_text(s)
            case SessionColumn.ID:
                return s.id
            case SessionColumn.CHANNEL:
                return channel_label(s.channel)
            case SessionColumn.AGENT:
                return f"{s.agent.name} · {s.modality}"
            case SessionColumn.USER:
                parts = [f"Name: {s.user.name or EMPTY}", f"id: {s.user.id}"]
                if s.user.external_id:
                    parts.append(f"External id: {s.user.external_id}")
                if s.user.is_mobile is not None:
                    parts.append(f"isMobile: {str(s.user.is_mobile).lower()}")
                return "\n".join(parts)
            case SessionColumn.COUNTRY:
                return _place(s) or None
            case SessionColumn.DURATION:
                return self._duration_tooltip(s)
            case SessionColumn.FLOW:
                flow = s.metadata.get("flow")
                version = s.metadata.get("flow_version")
                if flow and version:
                    return f"{flow} ({version})"
                return flow or version or None
            case SessionColumn.START | SessionColumn.LAST_MESSAGE | SessionColumn.FINISH:
                value = {
                    SessionColumn.START: s.started_at,
                    SessionColumn.LAST_MESSAGE: s.last_message_at,
                    SessionColumn.FINISH: s.ended_at,
                }[SessionColumn(column)]
                if value is None:
                    return None
                return value.astimezone(self._tz).strftime("%Y-%m-%d %H:%M:%S %Z")
        text = self._display(s, column)
        return text or None

    def _sort_value(self, s: SessionSummary, column: int) -> Any:
        match column:
            case SessionColumn.STATUS | SessionColumn.STATE:
                return (_LIVE_RANK.get(s.status, 2), s.status, s.end_reason or "")
            case SessionColumn.ID:
                return s.id
            case SessionColumn.AGENT:
                return (s.agent.name.casefold(), s.modality)
            case SessionColumn.CHANNEL:
                return channel_label(s.channel).casefold()
            case SessionColumn.RESPONSIBLE:
                return _responsible_text(s).casefold()
            case SessionColumn.USER:
                return (s.user.name or s.user.external_id or s.user.id).casefold()
            case SessionColumn.TEAM:
                return (s.team or "").casefold()
            case SessionColumn.START:
                return s.started_at.timestamp()
            case SessionColumn.WAIT:
                wait = self._wait_seconds(s)
                return -1.0 if wait is None else wait
            case SessionColumn.DURATION if self._ordering.order is LiveOrder.GIVEN:
                # The whole duration: sort by start, the order never changes as time passes.
                return (0, -s.started_at.timestamp())
            case SessionColumn.DURATION:
                # Live rows: by the moment the shown time counts from, so the order never
                # changes as time passes; ended rows (frozen lengths) after them.
                if s.status == "queued":
                    return (0, -waiting_since(s).timestamp())
                if s.is_live:
                    return (0, -conversation_start(s).timestamp())
                return (1, order_seconds(s, self._clock()))
            case SessionColumn.LAST_MESSAGE:
                return _ts(s.last_message_at)
            case SessionColumn.MESSAGES:
                return s.message_count
            case SessionColumn.COUNTRY:
                return s.location.country_code or ""
            case SessionColumn.IP:
                return _ip_key(s.location.ip)
            case SessionColumn.FINISH:
                return _ts(s.ended_at)
            case SessionColumn.FLOW:
                return s.metadata.get("flow", "").casefold()
            case SessionColumn.STAGE:
                return (s.stage or "").casefold()
        return None

    # ---------------------------------------------------------------- ordering internals

    def _key(self, s: SessionSummary) -> Any:
        if self._sort_column >= 0:
            base = (self._sort_value(s, self._sort_column), self._ordering.arrival(s.id))
            return base if self._sort_order == Qt.SortOrder.AscendingOrder else _Desc(base)
        return self._ordering.key(s)

    def _ensure_keys(self) -> list[Any]:
        """Every row's key (rebuilt once after a column sort left them out)."""
        if self._keys is None:
            self._keys = [self._key(s) for s in self._rows]
        return self._keys

    def _order_rows(self) -> list[int] | None:
        """Put the rows in the current order (no signals). Returns the old row of each new one
        (None: reversed).

        A column sort argsorts the column's ready key arrays (ties by arrival), read from the
        sessions in idle slices after a load and re-read at the click only for rows that
        changed since; clicking the same column again, with no change since, reverses the
        order it left. The per-row keys bisect needs are then rebuilt only when a frame of
        changes arrives (``_ensure_keys``).
        """
        rows = self._rows
        n = len(rows)
        column = self._sort_column
        descending = self._sort_order == Qt.SortOrder.DescendingOrder
        if column < 0 and self._ordering.order is not LiveOrder.GIVEN:
            keys = [self._ordering.key(s) for s in rows]
            order: list[int] = sorted(range(n), key=keys.__getitem__)
            self._keys = [keys[i] for i in order]
            self._last_sort = None
            if self._arrivals is not None and self._arrivals_generation == self._generation:
                self._arrivals = self._arrivals[np.array(order, dtype=np.int64)]
            self._rows = list(map(rows.__getitem__, order))
            return order
        self._keys = None
        sort_id = (column, self._generation, self._ordering.order, descending)
        if (column >= 0 and self._last_sort == (*sort_id[:3], not descending)
                and not self._column_keys_of(column).followed_clock):
            # The same column again with nothing changed: the reverse of the order it left
            # (unless some of its keys follow the clock: a queued wait outgrows fixed ones).
            self._last_sort = sort_id
            rows.reverse()
            if self._arrivals is not None:
                self._arrivals = self._arrivals[::-1]
            return None
        arrivals = self._row_arrivals()
        if column < 0:  # the order the hub or index gave
            ordered = np.argsort(arrivals, kind="stable")
        else:
            column_keys = self._column_keys_of(column)
            if column_keys.outgrown > 4 * n + _KEYS_SLACK:
                # A day of arrivals on the live table: read the rows shown now afresh.
                column_keys = self._column_keys[column] = self._new_column_keys(column)
            if column_keys.synced != self._generation:
                column_keys.refresh(rows, arrivals)
                column_keys.synced = self._generation
            ordered = order_by(column_keys.keys(rows, arrivals), arrivals)
            if descending:
                ordered = ordered[::-1]
        self._arrivals = arrivals[ordered]
        self._last_sort = sort_id if column >= 0 else None
        order = ordered.tolist()
        self._rows = list(map(rows.__getitem__, order))
        return order

    def _column_keys_of(self, column: int) -> ColumnKeys:
        keys = self._column_keys.get(column)
        if keys is None:
            keys = self._column_keys[column] = self._new_column_keys(column)
        return keys

    def _new_column_keys(self, column: int) -> ColumnKeys:
        if column not in _NUMERIC_COLUMNS:
            return ColumnKeys(partial(self._column_sort_values, column), ranked=True)
        follows_clock: Callable[[SessionSummary], bool] | None = None
        parts = 1
        if column == SessionColumn.WAIT:
            follows_clock = _wait_follows_clock
        elif column == SessionColumn.DURATION and self._ordering.order is not LiveOrder.GIVEN:
            follows_clock = _duration_follows_clock
            parts = 2
        return ColumnKeys(partial(self._numeric_keys, column), ranked=False, parts=parts,
                          follows_clock=follows_clock)

    def _numeric_keys(self, column: int, rows: Sequence[SessionSummary]
                      ) -> list[np.ndarray[Any, Any]]:
        keys = self._numeric_sort_keys(column, rows)
        assert keys is not None, column  # only _NUMERIC_COLUMNS get here
        return keys

    @property
    def sort_keys_warming(self) -> bool:
        """Column sort keys are still being read in idle slices (after a load)."""
        return bool(self._warm_columns)

    def _start_warming(self) -> None:
        """Read every column's sort keys in idle slices, so a later click only argsorts."""
        self._warm_rows = list(self._rows)
        self._warm_slots = self._row_arrivals().copy()
        self._warm_columns = list(SessionColumn) if self._rows else []
        self._warm_from = 0
        self._warm_generation = self._generation
        if self._warm_columns or self._released_keys:
            self._warm_timer.start(_WARM_DELAY_MS)

    def _stop_warming(self) -> None:
        self._warm_columns = []
        self._warm_rows = []
        if not self._released_keys:  # else the slices go on freeing them
            self._warm_timer.stop()

    def _on_warm_timer_timeout(self) -> None:
        """One idle slice: about _WARM_SLICE_S of reading keys, by measured time, not rows.

        Rows are read in chunks sized by the column's measured cost per row (an address
        costs ten times a count: fixed 1,000-row chunks took 10-27 ms); ranking a column's
        distinct values has a slice's start to itself; a slice due within a frame's
        event-loop turn waits (the frame's apply and paint are the longest busy stretch)."""
        now = time.perf_counter()
        if now - self._applied_at < _WARM_AFTER_FRAME_S:
            self._warm_timer.start(_WARM_AFTER_FRAME_MS)
            return
        deadline = now + _WARM_SLICE_S
        rows, slots = self._warm_rows, self._warm_slots
        first_step = True
        while self._released_keys:
            if self._released_keys[-1].shed(_SHED_REFERENCES):
                self._released_keys.pop()
            first_step = False
            if time.perf_counter() >= deadline:
                break
        while self._warm_columns and not self._released_keys:
            column = self._warm_columns[0]
            keys = self._column_keys_of(column)
            start = self._warm_from
            if start == 0:
                self._warm_keys = keys
                self._warm_row_s = 0.0
            if start < len(rows):
                if self._warm_row_s > 0:
                    count = int((deadline - time.perf_counter()) / self._warm_row_s)
                else:
                    count = _WARM_FIRST_ROWS
                count = max(min(_WARM_MIN_ROWS, _WARM_CHUNK_ROWS),
                            min(count, _WARM_CHUNK_ROWS))
                end = min(start + count, len(rows))
                chunk_started = time.perf_counter()
                keys.store(rows[start:end], slots[start:end])
                if self._generation != self._warm_generation:
                    # The rows read are the load's: a row changed since may have had its key
                    # read afresh by a click, which this chunk just put back to the old one.
                    keys.synced = -1
                self._warm_row_s = (time.perf_counter() - chunk_started) / (end - start)
                self._warm_from = end
            elif keys.distinct_values <= _WARM_RANK_MAX and not keys.ranked:
                if not first_step:
                    break  # ranking starts the next slice
                keys.rank()  # now rather than at the click
            else:
                # Every row was read into this very object (a switch of live order or a
                # click may have replaced it midway) and no row changed since the load.
                if keys is self._warm_keys and self._generation == self._warm_generation:
                    keys.synced = self._generation
                self._warm_columns.pop(0)
                self._warm_from = 0
                continue  # finishing a column is no work
            first_step = False
            if time.perf_counter() >= deadline:
                break
        if self._warm_columns or self._released_keys:
            self._warm_timer.start(0)
        else:
            self._warm_rows = []

    def _row_arrivals(self) -> np.ndarray[Any, Any]:
        """Each row's arrival number, kept in step with the rows across sorts."""
        if self._arrivals is None or self._arrivals_generation != self._generation:
            arrival = self._ordering.arrival
            self._arrivals = np.fromiter((arrival(s.id) for s in self._rows),
                                         dtype=np.int64, count=len(self._rows))
        self._arrivals_generation = self._generation
        return self._arrivals

    def _numeric_sort_keys(self, column: int, rows: Sequence[SessionSummary]
                           ) -> list[np.ndarray[Any, Any]] | None:
        """The column's sort key as numeric arrays, most significant first, or None when it is
        text. Each orders rows exactly as :meth:`_sort_value` does.

        Attributes are read with ``map``/``attrgetter`` (C loops): at 100k rows a
        comprehension's per-row bytecode cost more than the sort itself."""
        n = len(rows)
        match column:
            case SessionColumn.START:
                return [_timestamps(map(_STARTED_AT, rows), n)]
            case SessionColumn.MESSAGES:
                return [np.fromiter(map(_MESSAGE_COUNT, rows), dtype=np.int64, count=n)]
            case SessionColumn.LAST_MESSAGE:
                return [_timestamps(map(_LAST_MESSAGE_AT, rows), n)]
            case SessionColumn.FINISH:
                return [_timestamps(map(_ENDED_AT, rows), n)]
            case SessionColumn.WAIT:
                wait = self._wait_seconds
                return [np.fromiter((-1.0 if (w := wait(s)) is None else w for s in rows),
                                    dtype=np.float64, count=n)]
            case SessionColumn.DURATION if self._ordering.order is LiveOrder.GIVEN:
                return [-_timestamps(map(_STARTED_AT, rows), n)]
            case SessionColumn.DURATION:
                pairs = [self._sort_value(s, column) for s in rows]
                return [np.array([p[0] for p in pairs], dtype=np.int64),
                        np.array([p[1] for p in pairs])]
        return None

    def _column_sort_values(self, column: int, rows: Sequence[SessionSummary]) -> list[Any]:
        """The column's sort values, one per row, ordered as :meth:`_sort_value`'s."""
        match column:
            case SessionColumn.USER:
                return [(u.name or u.external_id or u.id).casefold()
                        for u in map(_USER, rows)]
            case SessionColumn.AGENT:
                # "name\0modality" orders as the (name, modality) tuple: NUL sorts first.
                return [f"{a.name.casefold()}\0{m}" for a, m in map(_AGENT_MODALITY, rows)]
            case SessionColumn.ID:
                return list(map(_ID, rows))
        field = _FIELD_SORT_VALUES.get(column)
        if field is not None:
            # Few distinct values (channels, teams, countries, statuses...): each is keyed
            # once, every row is a dict lookup in a C loop.
            read, key = field
            values = list(map(read, rows))
            keyed = {value: key(value) for value in set(values)}
            return list(map(keyed.__getitem__, values))
        return [self._sort_value(s, column) for s in rows]

    def _ensure_shown(self) -> dict[str, SessionSummary]:
        if self._shown is None:
            self._shown = {s.id: s for s in self._rows}
        return self._shown

    def _find_row(self, shown: SessionSummary) -> int:
        """The row of a session the table shows.

        Found by bisecting the keys with its key (unchanged since it was placed, unless the
        sort's key follows the clock), not from the id index: every insert or move of a
        frame left that index stale below it, and rebuilding it cost ~1 µs a row, 8-9 ms of
        a 10,000-row frame under feed load.
        """
        keys = self._ensure_keys()
        row = bisect.bisect_left(keys, self._key(shown))
        if row < len(self._rows) and self._rows[row].id == shown.id:
            return row
        self._ensure_index()
        return self._index[shown.id]

    def _rebuild_index(self, start: int = 0) -> None:
        index = self._index
        if start == 0:
            index.clear()
        rows = self._rows
        for row in range(start, len(rows)):
            index[rows[row].id] = row
        if self._index_from is not None and self._index_from >= start:
            self._index_from = None

    def _invalidate_index(self, start: int) -> None:
        self._index_from = start if self._index_from is None else min(self._index_from, start)

    def _ensure_index(self) -> None:
        if self._index_from is not None:
            self._rebuild_index(self._index_from)
            self._index_from = None

    def _resort(self) -> None:
        """Re-key every row and reorder with one layoutChanged, keeping persistent indexes."""
        self.layoutAboutToBeChanged.emit()
        old_persistent = self.persistentIndexList()
        old_ids = [
            (self._rows[p.row()].id if 0 <= p.row() < len(self._rows) else None, p.column())
            for p in old_persistent
        ]
        order = self._order_rows()
        self._invalidate_index(0)
        # Where the few persistent rows went (the selection, Qt's current index): from the
        # permutation, not a rebuilt id index of every row.
        wanted = {p.row() for p in old_persistent}
        last = len(self._rows) - 1
        if order is None:
            moved = {old: last - old for old in wanted}
        else:
            moved = {old: new for new, old in enumerate(order) if old in wanted} if wanted else {}
        new_persistent = [
            self.index(moved[p.row()], col) if sid is not None and p.row() in moved
            else QModelIndex()
            for p, (sid, col) in zip(old_persistent, old_ids, strict=True)
        ]
        self.changePersistentIndexList(old_persistent, new_persistent)
        self.layoutChanged.emit()

    def _place(self, s: SessionSummary, old_key: Any) -> None:
        """Insert a new row (``old_key`` None) or move a re-keyed one to its sorted position.

        Keys are unique and sorted, so a row is found by bisecting its old key: no id index
        needs to be rebuilt between the inserts and moves of one frame.
        """
        keys = self._ensure_keys()
        if old_key is None:
            self._ordering.note(s)
            key = self._key(s)
            pos = bisect.bisect_right(keys, key)
            self.beginInsertRows(QModelIndex(), pos, pos)
            self._rows.insert(pos, s)
            self._ensure_shown()[s.id] = s
            keys.insert(pos, key)
            self._index[s.id] = pos
            self._invalidate_index(pos + 1)
            self.endInsertRows()
            return
        row = bisect.bisect_left(keys, old_key)
        if row >= len(self._rows) or self._rows[row].id != s.id:
            self._ensure_index()  # keys out of order (a time-based sort aged): look it up
            row = self._index[s.id]
        key = self._key(s)
        # Where the row goes once it is out of the list.
        del keys[row]
        target = bisect.bisect_right(keys, key)
        keys.insert(row, key)  # restore until the move is announced
        if target == row:
            keys[row] = key
            self._rows[row] = s
            self._emit_rows_changed(row, row)
            return
        # beginMoveRows wants the destination in pre-move numbering.
        dest = target if target < row else target + 1
        if not self.beginMoveRows(QModelIndex(), row, row, QModelIndex(), dest):
            keys[row] = key
            self._emit_rows_changed(row, row)
            return
        del self._rows[row]
        del keys[row]
        self._rows.insert(target, s)
        keys.insert(target, key)
        self._invalidate_index(min(row, target))
        self.endMoveRows()
        self._emit_rows_changed(target, target)

    def _bulk_restructure(self, sessions: list[SessionSummary]) -> None:
        """Many inserts/moves in one frame: append the new rows, then one re-sort."""
        shown = self._ensure_shown()
        fresh = [s for s in sessions if s.id not in shown]
        if fresh:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
            for s in fresh:
                self._ordering.note(s)
                self._rows.append(s)
                shown[s.id] = s
                if self._keys is not None:
                    self._keys.append(None)  # re-keyed by the re-sort below
            self._rebuild_index(first)
            self.endInsertRows()
        self._resort()
        if self._rows:
            self._emit_rows_changed(0, len(self._rows) - 1)

    def _emit_row_runs(self, rows: list[int]) -> None:
        """One ``dataChanged`` per contiguous run of changed rows.

        A frame's rows are scattered over the table: one min..max span made the view repaint
        the whole viewport (~45 ms of Qt-thread CPU at 1400x900) for the one or two changed
        rows on screen, ~12 times a second under load (feed_bench). Per run, the view repaints
        only the changed rows it shows. Very many changed rows (a frame that waited for a busy
        Qt thread; a signal costs ~10 µs) are one span above the rows the view last showed,
        runs among them and one span below: the view repaints nothing for a span off screen.
        """
        ordered = sorted(set(rows))
        if len(ordered) > _MAX_CHANGED_RUNS:
            if self._rows_on_screen is None:
                self._emit_rows_changed(ordered[0], ordered[-1])
                return
            first_shown, last_shown = self._rows_on_screen
            start = bisect.bisect_left(ordered, first_shown)
            end = bisect.bisect_right(ordered, last_shown)
            if start:
                self._emit_rows_changed(ordered[0], ordered[start - 1])
            if end < len(ordered):
                self._emit_rows_changed(ordered[end], ordered[-1])
            ordered = ordered[start:end]
            if not ordered:
                return
        first = previous = ordered[0]
        for row in ordered[1:]:
            if row != previous + 1:
                self._emit_rows_changed(first, previous)
                first = row
            previous = row
        self._emit_rows_changed(first, previous)

    def _emit_cells_changed(self, row: int, old: SessionSummary, new: SessionSummary) -> bool:
        """One ``dataChanged`` per contiguous run of the row's cells that look different.

        At 5 events/s most events move one or two cells (a count, a time): a whole-row signal
        made the view paint all 18 cells of the row (docs/performance.md, "All day in the
        tray"). An event that changes nothing a column shows signals nothing. Only rows the
        view painted (they have cached cells) are compared: the others cost the view nothing
        to signal whole, and comparing them cost a busy feed's frame ~30 texts a row.
        Returns False for those: the caller signals them in runs of rows.
        """
        entry = self._cells.get(old.id)
        if entry is None or entry.session is not old:
            return False
        if _row_look(old) != _row_look(new):
            self._emit_rows_changed(row, row)
            return True
        old_texts = entry.texts if entry.texts is not None else self._texts(old)
        new_texts = self._texts(new)
        # The texts go to the new version's cache entry, for the next frame to compare.
        fresh = self._cells[new.id] = _RowCells(new, self._alert_level(new.id))
        fresh.texts = new_texts
        changed = [column for column, before, after in zip(
            _TEXT_COLUMNS, old_texts, new_texts, strict=True) if before != after]
        if _CLOCK_INPUTS(old) != _CLOCK_INPUTS(new):
            changed.extend(TICK_COLUMNS)
        if not changed:
            return True
        changed.sort()
        first = previous = changed[0]
        for column in changed[1:]:
            if column != previous + 1:
                self._emit_cells(row, first, previous)
                first = column
            previous = column
        self._emit_cells(row, first, previous)
        return True

    def _texts(self, s: SessionSummary) -> tuple[str | None, ...]:
        return tuple(self._display(s, column) for column in _TEXT_COLUMNS)

    def _emit_cells(self, row: int, first: int, last: int) -> None:
        # createIndex: index() checks the row and column through Python's rowCount and
        # columnCount (half of a frame's signalling cost); these rows exist.
        self.dataChanged.emit(self.createIndex(row, first), self.createIndex(row, last),
                              DISPLAY_ROLES)

    def _emit_rows_changed(self, first: int, last: int) -> None:
        self.dataChanged.emit(
            self.createIndex(first, 0), self.createIndex(last, len(SessionColumn) - 1),
            DISPLAY_ROLES)


# Beyond this many changed rows in one frame, one span signal is cheaper than many runs.
_MAX_CHANGED_RUNS = 256

# Sort keys are read after a load in slices of about this long (a chunk of rows at a time),
# starting once the first rows have been painted.
_WARM_DELAY_MS = 250
_WARM_SLICE_S = 0.004
# A column's first chunk (its cost per row is not known yet), the fewest and the most rows
# of a chunk sized by that cost.
_WARM_FIRST_ROWS = 128
_WARM_MIN_ROWS = 16
_WARM_CHUNK_ROWS = 8192
# A slice due this soon after a frame was applied waits this long: not in the frame's turn.
_WARM_AFTER_FRAME_S = 0.01
_WARM_AFTER_FRAME_MS = 10
# How many references a slice lets go of at a time from a load's predecessor's keys.
_SHED_REFERENCES = 8192
# Ranking more distinct values than this would hold the Qt thread past a slice (~0.4 µs a
# value: 17,000 user names 6.9 ms, ids or addresses of 100,000 rows 70-120 ms): the first
# click on that column ranks them.
_WARM_RANK_MAX = 8_000
# A column's keys are read afresh at a click once they span more than 4 x the rows + this
# many arrival numbers or distinct values (memory stays bounded on a live table all day).
_KEYS_SLACK = 4096
# Columns whose sort key is numeric (_numeric_sort_keys); the others are ranked texts/tuples.
_NUMERIC_COLUMNS = frozenset({
    SessionColumn.START, SessionColumn.MESSAGES, SessionColumn.LAST_MESSAGE,
    SessionColumn.FINISH, SessionColumn.WAIT, SessionColumn.DURATION})


def _status_sort_value(status_and_reason: tuple[str, str | None]) -> tuple[int, str, str]:
    status, end_reason = status_and_reason
    return (_LIVE_RANK.get(status, 2), status, end_reason or "")


def _folded(text: str | None) -> str:
    return (text or "").casefold()


# _sort_value of the columns keyed by one field: (how to read the field, its sort value).
_FIELD_SORT_VALUES: dict[int, tuple[Callable[[SessionSummary], Any], Callable[[Any], Any]]] = {
    SessionColumn.STATUS: (attrgetter("status", "end_reason"), _status_sort_value),
    SessionColumn.STATE: (attrgetter("status", "end_reason"), _status_sort_value),
    SessionColumn.CHANNEL: (attrgetter("channel"), lambda c: channel_label(c).casefold()),
    SessionColumn.TEAM: (attrgetter("team"), _folded),
    SessionColumn.STAGE: (attrgetter("stage"), _folded),
    SessionColumn.COUNTRY: (attrgetter("location.country_code"), lambda code: code or ""),
    SessionColumn.IP: (attrgetter("location.ip"), lambda ip: _ip_key(ip)),
}


def _wait_follows_clock(s: SessionSummary) -> bool:
    """The Wait key of a session still waiting grows with the clock."""
    return s.queued_at is not None and s.accepted_at is None and s.status == "queued"


def _duration_follows_clock(s: SessionSummary) -> bool:
    """The live Duration key of an ended session without an end time grows with the clock."""
    return s.status != "queued" and not s.is_live and s.ended_at is None

def _no_alert(_session_id: str) -> str | None:
    return None


_SERVED_ROLES = frozenset(
    int(r)
    for r in (
        Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ForegroundRole, Qt.ItemDataRole.FontRole,
        Qt.ItemDataRole.TextAlignmentRole, Qt.ItemDataRole.ToolTipRole,
        Qt.ItemDataRole.DecorationRole, Qt.ItemDataRole.AccessibleTextRole, SortRole,
        ObjectRole, EndedRole, BadgeColorRole, BadgeBackgroundRole,
        Qt.ItemDataRole.BackgroundRole,
    )
)

_RIGHT_ALIGNED = frozenset(
    {SessionColumn.WAIT, SessionColumn.DURATION, SessionColumn.MESSAGES}
)
# The clock columns whose text moves every second, right-aligned: one delegate paints them.
RIGHT_CLOCK_COLUMNS = frozenset({SessionColumn.WAIT, SessionColumn.DURATION})


def _responsible_text(s: SessionSummary) -> str:
    if s.responsible.kind == "ai":
        return "AI"
    if s.responsible.kind == "human":
        return s.responsible.operator.name if s.responsible.operator else "Operator"
    return "Unassigned"


def _state_text(s: SessionSummary) -> str:
    if s.is_live:
        return "Live · queued" if s.status == "queued" else "Live"
    label = STATUS_LABELS.get(s.status, s.status)
    if s.end_reason:
        return f"{label} · {END_REASON_LABELS.get(s.end_reason, s.end_reason)}"
    return label


def _place(s: SessionSummary) -> str:
    """``Germany, Berlin (DE)`` from what the platform sent."""
    place = ", ".join(p for p in (s.location.country, s.location.city) if p)
    code = s.location.country_code
    if place and code:
        return f"{place} ({code})"
    return place


def _ip_key(ip: str | None) -> tuple[int, ...]:
    if not ip:
        return (1 << 32,)
    try:
        return tuple(int(p) for p in ip.split("."))
    except ValueError:
        return tuple(ord(c) for c in ip)
