"""Flametree's Session Filters dialog: every PROTOCOL filter, AND logic, Apply / Reset.

Opened with ``open()`` (window-modal, never a nested ``exec()`` loop inside a coroutine); the
result arrives through ``applied``. Times are entered and shown in the chosen time zone and
converted to UTC for the query.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, tzinfo

from PySide6.QtCore import QDate, QDateTime, Qt, QTime, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from supervisor_desk.models.filters import MessageCountFilter, SessionFilter
from supervisor_desk.models.wire import CHANNELS, STATUSES, NamedItem
from supervisor_desk.views.history.describe import MESSAGE_OPS, RESPONSIBLE_LABELS
from supervisor_desk.views.icons import STATUS_LABELS, channel_label


def to_zone_qdatetime(value: datetime, tz: tzinfo | None) -> QDateTime:
    local = value.astimezone(tz)
    return QDateTime(QDate(local.year, local.month, local.day),
                     QTime(local.hour, local.minute, local.second))


def from_zone_qdatetime(value: QDateTime, tz: tzinfo | None) -> datetime:
    d, t = value.date(), value.time()
    naive = datetime(d.year(), d.month(), d.day(), t.hour(), t.minute(), t.second())
    aware = naive.replace(tzinfo=tz) if tz is not None else naive.astimezone()
    return aware.astimezone(UTC)


class CheckList(QWidget):
    """A checkable list with a type-to-search box (agents, human agents, channels...)."""

    def __init__(self, placeholder: str, parent: QWidget | None = None, *,
                 searchable: bool = True, rows: int = 5) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.search = QLineEdit(self)
        self.search.setPlaceholderText(placeholder)
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._on_search_text_changed)
        self.search.setVisible(searchable)
        layout.addWidget(self.search)
        self.list = QListWidget(self)
        self.list.setFixedHeight(rows * 20 + 6)
        self.list.setUniformItemSizes(True)
        layout.addWidget(self.list)

    def set_items(self, items: Iterable[tuple[str, str]]) -> None:
        checked = set(self.checked())
        self.list.clear()
        for value, label in items:
            self._add(value, label, value in checked)

    def _add(self, value: str, label: str, checked: bool) -> QListWidgetItem:
        item = QListWidgetItem(label, self.list)
        item.setData(Qt.ItemDataRole.UserRole, value)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
        return item

    def items(self) -> list[QListWidgetItem]:
        return [self.list.item(i) for i in range(self.list.count())]

    def checked(self) -> tuple[str, ...]:
        return tuple(
            str(item.data(Qt.ItemDataRole.UserRole)) for item in self.items()
            if item.checkState() == Qt.CheckState.Checked
        )

    def set_checked(self, values: Sequence[str]) -> None:
        wanted = set(values)
        known = set()
        for item in self.items():
            value = str(item.data(Qt.ItemDataRole.UserRole))
            known.add(value)
            item.setCheckState(Qt.CheckState.Checked if value in wanted
                               else Qt.CheckState.Unchecked)
        for value in values:
            if value not in known:  # a value the lookup does not list (yet): keep it
                self._add(value, value, True)

    def check_value(self, value: str, checked: bool = True) -> None:
        for item in self.items():
            if item.data(Qt.ItemDataRole.UserRole) == value:
                item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)

    def _on_search_text_changed(self, text: str) -> None:
        needle = text.casefold().strip()
        for item in self.items():
            item.setHidden(bool(needle) and needle not in item.text().casefold())


class DateRangeEdit(QWidget):
    """From / To, each enabled by its own check box; shown in the chosen time zone."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._tz: tzinfo | None = None
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.from_check = QCheckBox("From", self)
        self.from_edit = self._edit()
        self.to_check = QCheckBox("to", self)
        self.to_edit = self._edit()
        for check, edit in ((self.from_check, self.from_edit), (self.to_check, self.to_edit)):
            edit.setEnabled(False)
            check.toggled.connect(edit.setEnabled)
            layout.addWidget(check)
            layout.addWidget(edit, 1)

    def _edit(self) -> QDateTimeEdit:
        edit = QDateTimeEdit(self)
        edit.setCalendarPopup(True)
        edit.setDisplayFormat("yyyy-MM-dd HH:mm")
        edit.setDateTime(QDateTime.currentDateTime())
        return edit

    def set_time_zone(self, tz: tzinfo | None) -> None:
        self._tz = tz

    def set_range(self, after: datetime | None, before: datetime | None) -> None:
        for check, edit, value in ((self.from_check, self.from_edit, after),
                                   (self.to_check, self.to_edit, before)):
            check.setChecked(value is not None)
            if value is not None:
                edit.setDateTime(to_zone_qdatetime(value, self._tz))

    def range(self) -> tuple[datetime | None, datetime | None]:
        after = (from_zone_qdatetime(self.from_edit.dateTime(), self._tz)
                 if self.from_check.isChecked() else None)
        before = (from_zone_qdatetime(self.to_edit.dateTime(), self._tz)
                  if self.to_check.isChecked() else None)
        return after, before


class FilterDialog(QDialog):
    """Session Filters. ``applied`` carries the new filter (search fields are kept as they are)."""

    applied = Signal(object)  # SessionFilter

    def __init__(self, parent: QWidget | None = None, *, tz: tzinfo | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Session Filters")
        self.setModal(True)
        self._tz = tz
        self._base = SessionFilter()
        outer = QVBoxLayout(self)
        note = QLabel("A session must match every condition (AND).", self)
        note.setTextFormat(Qt.TextFormat.PlainText)
        note.setObjectName("filterDialogNote")
        outer.addWidget(note)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        body = QWidget(scroll)
        form = QFormLayout(body)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)

        self.agents = CheckList("Type to search agents…", body)
        form.addRow("Agents", self.agents)
        self.teams = QLineEdit(body)
        self.teams.setPlaceholderText("Team name, exact; several separated by commas")
        self.teams.setClearButtonEnabled(True)
        self.teams.setAccessibleName("Teams")
        form.addRow("Teams", self.teams)
        self.channels = CheckList("Type to search channels…", body, rows=6)
        self.channels.set_items((c, channel_label(c)) for c in CHANNELS)
        form.addRow("Channel", self.channels)
        self.responsible = QComboBox(body)
        self.responsible.addItem("Any", None)
        for value, label in RESPONSIBLE_LABELS.items():
            self.responsible.addItem(label, value)
        form.addRow("Responsible", self.responsible)
        self.operators = CheckList("Type to search human agents…", body, rows=4)
        form.addRow("Human Agent", self.operators)
        self.user = QLineEdit(body)
        self.user.setPlaceholderText("User id or name")
        self.user.setClearButtonEnabled(True)
        form.addRow("Users", self.user)
        self.statuses = CheckList("", body, searchable=False, rows=6)
        self.statuses.set_items((s, STATUS_LABELS.get(s, s)) for s in STATUSES)
        form.addRow("Statuses", self.statuses)
        self.country = QLineEdit(body)
        self.country.setPlaceholderText("ISO code, e.g. DE")
        self.country.setMaxLength(8)
        form.addRow("Country", self.country)
        self.ip = QLineEdit(body)
        self.ip.setPlaceholderText("Exact IP address")
        form.addRow("IP", self.ip)
        self.started = DateRangeEdit(body)
        form.addRow("Start time", self.started)
        self.ended = DateRangeEdit(body)
        form.addRow("Finish time", self.ended)
        self.last_message = DateRangeEdit(body)
        form.addRow("Last message time", self.last_message)
        messages_row = QWidget(body)
        row = QHBoxLayout(messages_row)
        row.setContentsMargins(0, 0, 0, 0)
        self.messages_op = QComboBox(messages_row)
        self.messages_op.addItem("Any", None)
        for op, label in MESSAGE_OPS.items():
            self.messages_op.addItem(label, op)
        self.messages_n = QSpinBox(messages_row)
        self.messages_n.setRange(0, 1_000_000)
        self.messages_n.setEnabled(False)
        self.messages_op.currentIndexChanged.connect(
            lambda _i: self.messages_n.setEnabled(self.messages_op.currentData() is not None)
        )
        # The lowest value means no maximum (shown as text, not as -1).
        self.messages_max = QSpinBox(messages_row)
        self.messages_max.setRange(-1, 1_000_000)
        self.messages_max.setSpecialValueText("no maximum")
        self.messages_max.setPrefix("at most ")
        self.messages_max.setAccessibleName("At most this many messages")
        row.addWidget(self.messages_op, 1)
        row.addWidget(self.messages_n)
        row.addWidget(self.messages_max)
        form.addRow("Messages", messages_row)
        self.attachments = QComboBox(body)
        self.attachments.addItem("Any", None)
        self.attachments.addItem("Only sessions with attachments", True)
        self.attachments.addItem("Only sessions without attachments", False)
        form.addRow("Has Attachments", self.attachments)
        scroll.setWidget(body)
        outer.addWidget(scroll, 1)

        buttons = QDialogButtonBox(self)
        self.reset_button = QPushButton("Reset", self)
        self.reset_button.setToolTip("Clear every filter and show all sessions")
        buttons.addButton(self.reset_button, QDialogButtonBox.ButtonRole.ResetRole)
        self.cancel_button = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.apply_button = QPushButton("Apply", self)
        self.apply_button.setDefault(True)
        buttons.addButton(self.apply_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.reset_button.clicked.connect(self._on_reset_clicked)
        self.apply_button.clicked.connect(self._on_apply_clicked)
        self.cancel_button.clicked.connect(self.reject)
        outer.addWidget(buttons)
        self.set_time_zone(tz)
        self.resize(660, 760)

    def set_time_zone(self, tz: tzinfo | None) -> None:
        self._tz = tz
        for edit in (self.started, self.ended, self.last_message):
            edit.set_time_zone(tz)

    def set_lookups(self, agents: Sequence[NamedItem], operators: Sequence[NamedItem]) -> None:
        self.agents.set_items((a.id, a.name) for a in agents)
        self.operators.set_items((o.id, o.name) for o in operators)

    def set_filter(self, flt: SessionFilter) -> None:
        self._base = flt
        self.agents.set_checked(flt.agent)
        self.teams.setText(", ".join(flt.team))
        self.channels.set_checked(flt.channel)
        self.responsible.setCurrentIndex(max(0, self.responsible.findData(flt.responsible)))
        self.operators.set_checked(flt.operator)
        self.user.setText(flt.user or "")
        self.statuses.set_checked(flt.status)
        self.country.setText(flt.country or "")
        self.ip.setText(flt.ip or "")
        self.started.set_range(flt.started_after, flt.started_before)
        self.ended.set_range(flt.ended_after, flt.ended_before)
        self.last_message.set_range(flt.last_message_after, flt.last_message_before)
        if flt.messages is None:
            self.messages_op.setCurrentIndex(0)
        else:
            self.messages_op.setCurrentIndex(self.messages_op.findData(flt.messages.op))
            self.messages_n.setValue(flt.messages.n)
        self.messages_max.setValue(-1 if flt.messages_max is None else flt.messages_max)
        index = 0 if flt.has_attachments is None else (1 if flt.has_attachments else 2)
        self.attachments.setCurrentIndex(index)

    def current_filter(self) -> SessionFilter:
        """The dialog's conditions on top of the search fields it does not show."""
        started = self.started.range()
        ended = self.ended.range()
        last = self.last_message.range()
        op = self.messages_op.currentData()
        return self._base.model_copy(update={
            "agent": self.agents.checked(),
            "team": tuple(dict.fromkeys(
                t.strip() for t in self.teams.text().split(",") if t.strip())),
            "channel": self.channels.checked(),
            "responsible": self.responsible.currentData(),
            "operator": self.operators.checked(),
            "user": self.user.text().strip() or None,
            "status": self.statuses.checked(),
            "country": self.country.text().strip().upper() or None,
            "ip": self.ip.text().strip() or None,
            "started_after": started[0], "started_before": started[1],
            "ended_after": ended[0], "ended_before": ended[1],
            "last_message_after": last[0], "last_message_before": last[1],
            "messages": (MessageCountFilter(op=op, n=self.messages_n.value())
                         if op is not None else None),
            "messages_max": self.messages_max.value() if self.messages_max.value() >= 0
            else None,
            "has_attachments": self.attachments.currentData(),
        })

    def _on_apply_clicked(self) -> None:
        self.applied.emit(self.current_filter())
        self.accept()

    def _on_reset_clicked(self) -> None:
        self.set_filter(SessionFilter())
        self.applied.emit(SessionFilter())
        self.accept()
