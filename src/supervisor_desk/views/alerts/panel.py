"""The Alerts panel (a dock): open alerts, the most severe first, with session, rule and age.

Keys: Enter opens the alert's session; A (or Space) acknowledges it; S snoozes it (a menu of
5, 15 or 60 minutes, also on the right-click menu). Acknowledged alerts stay listed, greyed,
until they resolve; snoozed ones show until when.

The dock is often narrow (beside the chat, at 1280x720 about 260 px): the table never scrolls
sideways. Session and Rule share the width and elide; below ``COMPACT_WIDTH`` the severity
shows as its icon only and the State column gives way. The line under the table always tells
the selected alert in full (severity, rule, session, age, state).

Its title ("Alerts (N)", also the View menu's entry) counts open alerts even while it is
hidden, and a critical alert brings it forward (shown, raised, the window flashed in the
task bar) without taking the keyboard from what the user is typing in.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction, QKeyEvent, QPalette, QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QDockWidget,
    QHeaderView,
    QLabel,
    QMenu,
    QTableView,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from supervisor_desk.models.alerts.engine import Alert, AlertUpdate, listing_key
from supervisor_desk.models.markers import format_duration
from supervisor_desk.views.alerts.highlight import SEVERITY_LABEL, severity_icon
from supervisor_desk.views.alerts.viewmodel import SNOOZE_MINUTES, AlertsViewModel
from supervisor_desk.views.clock import screen_clock
from supervisor_desk.views.filled_viewport import FilledViewport
from supervisor_desk.views.notifications import describe_ended, describe_new
from supervisor_desk.views.steady_labels import SteadyWrappedLabel
from supervisor_desk.views.theme import theme_color

ModelIndex = QModelIndex | QPersistentModelIndex
HEADERS = ("Severity", "Session", "Rule", "Age", "State")
SEVERITY_COLUMN, SESSION_COLUMN, RULE_COLUMN, AGE_COLUMN, STATE_COLUMN = range(5)
# Below this table width the severity is an icon and the State column hides.
COMPACT_WIDTH = 520
# Past this many alerts opened or resolved at once, listing them all again costs less than
# moving rows one by one (a re-list of 2,900 alerts 0.93 ms, ten row moves 0.04 ms).
MAX_ROW_MOVES = 200
# Updates the shown panel follows on the loop's next turn: past this many (a loop held up),
# it lists them all again instead.
MAX_HELD_UPDATES = 16


def alert_summary(alert: Alert, now_ms: int) -> str:
    """The whole alert in one line: the panel's detail line and its cells' tooltips."""
    s = alert.session
    who = describe_new(s) if s.is_live else describe_ended(s)
    age = format_duration(max(0, now_ms - alert.opened_at_ms) / 1000)
    return (f"{SEVERITY_LABEL[alert.severity]} · {alert.rule_name} — {who} · {age} · "
            f"{alert_state_text(alert, now_ms)}")


def alert_state_text(alert: Alert, now_ms: int) -> str:
    if alert.state == "acknowledged":
        return f"Acknowledged by {alert.acknowledged_by}"
    if alert.snoozed(now_ms):
        assert alert.snoozed_until_ms is not None
        left = format_duration((alert.snoozed_until_ms - now_ms) / 1000)
        return f"Snoozed ({left} left)"
    return "Open"


class AlertsTableModel(QAbstractTableModel):
    def __init__(self, vm: AlertsViewModel, parent: Any = None) -> None:
        super().__init__(parent)
        self._vm = vm
        self._rows: list[Alert] = []
        self._keys: list[tuple[int, int, str]] = []  # listing_key of each row
        self.stale = False
        self.compact = False
        self.reload()

    def reload(self) -> None:
        self.stale = False
        self.beginResetModel()
        self._rows = self._vm.alerts()
        self._keys = [listing_key(a) for a in self._rows]
        self.endResetModel()

    def follows(self, update: AlertUpdate) -> bool:
        """Whether :meth:`follow` can take ``update`` (acknowledgements, snoozes, new rules
        and floods are listed again instead)."""
        return not (self.stale or update.changed
                    or len(update.opened) + len(update.resolved) > MAX_ROW_MOVES)

    def follow(self, update: AlertUpdate) -> None:
        """Follow one update row by row: the same rows in the same order as a re-list; the
        view keeps the selection on its alert."""
        rows, keys = self._rows, self._keys
        root = QModelIndex()
        for alert in update.resolved:
            row = bisect_left(keys, listing_key(alert))
            if row < len(rows) and rows[row] is alert:
                self.beginRemoveRows(root, row, row)
                del rows[row], keys[row]
                self.endRemoveRows()
        for alert in update.opened:
            if not alert.is_active:
                continue  # opened and resolved in one update
            key = listing_key(alert)
            row = bisect_left(keys, key)
            if row < len(rows) and rows[row] is alert:
                continue
            self.beginInsertRows(root, row, row)
            rows.insert(row, alert)
            keys.insert(row, key)
            self.endInsertRows()

    def alert_at(self, row: int) -> Alert | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, alert_id: str) -> int | None:
        return next((i for i, a in enumerate(self._rows) if a.id == alert_id), None)

    def set_compact(self, compact: bool) -> None:
        if compact != self.compact:
            self.compact = compact
            self.headerDataChanged.emit(Qt.Orientation.Horizontal, SEVERITY_COLUMN,
                                        SEVERITY_COLUMN)
            if self._rows:
                self.dataChanged.emit(self.index(0, 0), self.index(len(self._rows) - 1, 0),
                                      [Qt.ItemDataRole.DisplayRole])

    def tick(self) -> None:
        if self._rows:
            self.dataChanged.emit(self.index(0, AGE_COLUMN),
                                  self.index(len(self._rows) - 1, STATE_COLUMN),
                                  [Qt.ItemDataRole.DisplayRole])

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            # Compact: the severity column is as wide as its icons, too narrow for its title.
            return None if self.compact and section == SEVERITY_COLUMN else HEADERS[section]
        if role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.AccessibleTextRole):
            return HEADERS[section]
        return None

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        alert = self.alert_at(index.row()) if index.isValid() else None
        if alert is None:
            return None
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            now = self._vm.now_ms()
            match column:
                case 0:
                    return None if self.compact else SEVERITY_LABEL[alert.severity]
                case 1:
                    s = alert.session
                    return describe_new(s) if s.is_live else describe_ended(s)
                case 2:
                    return alert.rule_name
                case 3:
                    return format_duration(max(0, now - alert.opened_at_ms) / 1000)
                case _:
                    return alert_state_text(alert, now)
        if role == Qt.ItemDataRole.DecorationRole and column == 0:
            return severity_icon(alert.severity)
        if role == Qt.ItemDataRole.ForegroundRole and alert.state != "open":
            return theme_color("muted_text")
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{alert_summary(alert, self._vm.now_ms())}\nSession {alert.session_id}"
        if role == Qt.ItemDataRole.AccessibleTextRole and column == 0:
            return SEVERITY_LABEL[alert.severity]
        return None


class AlertsPanel(QDockWidget):
    session_requested = Signal(str)
    rules_requested = Signal()

    def __init__(self, vm: AlertsViewModel, parent: QWidget | None = None) -> None:
        super().__init__("Alerts", parent)
        self.setObjectName("alertsDock")
        self.vm = vm
        body = QWidget(self)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        self.toolbar = QToolBar(body)
        self.acknowledge_action = QAction("Acknowledge", self)
        self.acknowledge_action.setToolTip("Acknowledge the selected alert (A)")
        self.acknowledge_action.triggered.connect(self.acknowledge_selected)
        self.snooze_menu = QMenu("Snooze", self)
        for minutes in SNOOZE_MINUTES:
            action = self.snooze_menu.addAction(f"{minutes} min")
            action.triggered.connect(lambda _c=False, m=minutes: self.snooze_selected(m))
        self.snooze_action = self.snooze_menu.menuAction()
        self.snooze_action.setToolTip("Snooze the selected alert (S)")
        self.rules_action = QAction("Rules…", self)
        self.rules_action.triggered.connect(self.rules_requested)
        for action in (self.acknowledge_action, self.snooze_action, self.rules_action):
            self.toolbar.addAction(action)
        layout.addWidget(self.toolbar)
        self.model = AlertsTableModel(vm, self)
        self.table = _AlertsTable(self, body)
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setMinimumSectionSize(24)
        # Session and Rule share what is left; the others are as wide as their longest
        # value (measured once from the font: contents-sizing re-measures every row each tick).
        for column in (SESSION_COLUMN, RULE_COLUMN):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch)
        for column in (SEVERITY_COLUMN, AGE_COLUMN, STATE_COLUMN):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Fixed)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._on_table_context_menu_requested)
        self.table.activated.connect(self._on_table_activated)
        self.table.setAccessibleName("Open alerts")
        layout.addWidget(self.table, 1)
        # Its age moves on each second: a repaint of the line, not a layout of the window.
        self.detail = SteadyWrappedLabel(body, tone="secondary", accessible_name="Selected alert")
        layout.addWidget(self.detail)
        self.empty = QLabel("No open alerts.", body)
        self.empty.setProperty("tone", "muted")
        layout.addWidget(self.empty)
        self.setWidget(body)
        # Ages count up only while someone can see them, on the app's one-second clock
        # (which also brings them current the moment the panel shows).
        screen_clock().subscribe(self, self._on_ages_timeout)
        self.table.selectionModel().currentChanged.connect(self._on_table_current_changed)
        self._fit_columns()
        # Shown by bring_forward() while the user may be typing elsewhere: never activate.
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating, True)
        # What a frame changed is only noted in it and shown on the loop's next turn: the
        # updates to follow (shown only; at most MAX_HELD_UPDATES), whether a critical alert
        # brings the panel forward, and the title.
        self._updates: list[AlertUpdate] = []
        self._bring_forward_due = False
        self._turn_due = False  # the timer below runs
        self._next_turn = QTimer(self)
        self._next_turn.setSingleShot(True)
        self._next_turn.setInterval(0)
        self._next_turn.timeout.connect(self._on_next_turn_timeout)
        self._title_count = -1  # the open count the title shows
        vm.subscribe(self, self._on_vm_alerts_changed)
        self.model.stale = True  # listed when first shown
        self._retitle()

    def bring_forward(self) -> None:
        """Show the panel (raised if it shares a tab) and flash the window if it is inactive.

        Keyboard focus stays where it is: a supervisor typing a reply keeps typing.
        """
        if not self.isVisible():
            self.show()
        self.raise_()
        QApplication.alert(self.window())

    def _fit_columns(self) -> None:
        """Fixed columns from the font; compact (icon, no State) when the table is narrow."""
        metrics = self.table.fontMetrics()
        pad = metrics.horizontalAdvance("MM")  # cell margins and the grid
        icon = self.table.iconSize().width() or 16
        compact = self.table.width() < COMPACT_WIDTH
        self.model.set_compact(compact)
        header = self.table.horizontalHeader()
        severity_text = 0 if compact else max(
            metrics.horizontalAdvance(label) for label in SEVERITY_LABEL.values()) + pad // 2
        header.resizeSection(SEVERITY_COLUMN, icon + severity_text + pad)
        # Compact: ages past an hour elide (the line under the table has them whole).
        age = max(metrics.horizontalAdvance("88m 88s" if compact else "8h 88m 88s"),
                  metrics.horizontalAdvance(HEADERS[AGE_COLUMN]))
        header.resizeSection(AGE_COLUMN, age + pad)
        state = metrics.horizontalAdvance("Snoozed (88m 88s left)")
        header.resizeSection(STATE_COLUMN, state + pad)
        self.table.setColumnHidden(STATE_COLUMN, compact)

    def _show_detail(self) -> None:
        alert = self.selected()
        self.detail.set_text("" if alert is None else alert_summary(alert, self.vm.now_ms()))
        self.detail.setVisible(alert is not None)

    def _on_table_current_changed(self, _current: QModelIndex, _previous: QModelIndex) -> None:
        self._show_detail()

    def _on_ages_timeout(self) -> None:
        self.model.tick()
        self._show_detail()

    def selected(self) -> Alert | None:
        index = self.table.currentIndex()
        return self.model.alert_at(index.row()) if index.isValid() else None

    def acknowledge_selected(self) -> None:
        alert = self.selected()
        if alert is not None:
            row = self.table.currentIndex().row()
            self.vm.acknowledge(alert.id)
            self.reload()  # the user's own action shows at once
            self.table.selectRow(min(row, self.model.rowCount() - 1))

    def snooze_selected(self, minutes: int) -> None:
        alert = self.selected()
        if alert is not None:
            row = self.table.currentIndex().row()
            self.vm.snooze(alert.id, minutes)
            self.reload()
            self.table.selectRow(min(row, self.model.rowCount() - 1))

    def _on_table_activated(self, index: QModelIndex) -> None:
        alert = self.model.alert_at(index.row())
        if alert is not None:
            self.session_requested.emit(alert.session_id)

    def _on_table_context_menu_requested(self, pos: Any) -> None:
        index = self.table.indexAt(pos)
        if not index.isValid():
            return
        self.table.selectRow(index.row())
        menu = QMenu(self)
        menu.addAction(self.acknowledge_action)
        menu.addMenu(self.snooze_menu)
        menu.popup(self.table.viewport().mapToGlobal(pos))

    def showEvent(self, event: QShowEvent) -> None:
        if self.model.stale:
            self.reload()  # shown: the list is right from the first paint
        super().showEvent(event)

    def _retitle(self) -> None:
        # The count is kept by the engine (free): the title, and so the View menu's
        # "Alerts (N)", is right even while the panel is hidden.
        n = self.vm.open_count()
        if n != self._title_count:
            self._title_count = n
            self.setWindowTitle(f"Alerts ({n})" if n else "Alerts")

    def _on_vm_alerts_changed(self, update: AlertUpdate) -> None:
        """Noted inside the frame that changed the alerts, shown on the loop's next turn: a
        hidden dock's new title alone (it retitles the View menu's entry) cost ~0.12 ms of
        the frame. The user's own actions (``changed``) retitle at once."""
        if update.changed:
            self._retitle()
        if update.notices and any(
                n.rule.severity == "critical" and any(a.is_active for a in n.alerts)
                for n in update.notices):
            self._bring_forward_due = True
        if update.listed:
            # A hidden panel keeps nothing but a flag: it lists the engine's alerts when
            # shown. A shown one follows the updates row by row.
            if self.model.stale or not self.isVisible() or len(
                    self._updates) >= MAX_HELD_UPDATES:
                self.model.stale = True
                self._updates.clear()
            else:
                self._updates.append(update)
        if not self._turn_due:
            self._turn_due = True
            self._next_turn.start()

    def _on_next_turn_timeout(self) -> None:
        self._turn_due = False
        self._retitle()
        if self._bring_forward_due:
            self._bring_forward_due = False
            self.bring_forward()  # shown, a stale list is listed before the first paint
        updates, self._updates = self._updates, []
        if not self.isVisible():
            if updates:
                self.model.stale = True
            return
        if self.model.stale or not all(self.model.follows(update) for update in updates):
            self.reload()
            return
        row = self.table.currentIndex().row()
        for update in updates:
            self.model.follow(update)
        count = self.model.rowCount()
        self.empty.setVisible(count == 0)
        if count and not self.table.currentIndex().isValid() and row >= 0:
            self.table.selectRow(min(row, count - 1))  # its row left: the one now there
        self._show_detail()

    def reload(self) -> None:
        """List the alerts again, keeping the selected one selected wherever it moved."""
        chosen = self.selected()
        row = self.table.currentIndex().row()
        self.model.reload()
        count = self.model.rowCount()
        self.empty.setVisible(count == 0)
        if count:
            found = self.model.row_of(chosen.id) if chosen is not None else None
            self.table.selectRow(found if found is not None else min(max(row, 0), count - 1))
        self._show_detail()


class _AlertsTable(FilledViewport, QTableView):
    """Enter opens (``activated``), A/Space acknowledge, S opens the snooze menu.

    The ages' tick repaints a column of cells each second: nothing beneath them (the dock,
    the window) paints first. No style sheet rule styles it: the window's colour showed
    through, and fills it."""

    viewport_role = QPalette.ColorRole.Window

    def __init__(self, panel: AlertsPanel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._panel = panel

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._panel._fit_columns()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            index = self.currentIndex()
            if index.isValid():
                self.activated.emit(index)
            return
        if key in (Qt.Key.Key_A, Qt.Key.Key_Space):
            self._panel.acknowledge_selected()
            return
        if key == Qt.Key.Key_S:
            rect = self.visualRect(self.currentIndex())
            self._panel.snooze_menu.popup(self.viewport().mapToGlobal(rect.bottomLeft()))
            return
        super().keyPressEvent(event)
