"""The quick filter bar: debounced search, in-transcripts search, channel, status, agent,
a date range, the sort, and the Filters button (highlighted while any filter is active).

On a narrow window the quick choices fold into the Filters button (the dialog has every one
of them): the date range first, then agent, status, channel and the sort, so the bar never
makes the window wider than the search box and the button.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from PySide6.QtCore import QSignalBlocker, QSize, QTimer, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLineEdit, QToolButton, QWidget

from supervisor_desk.models.filters import SessionFilter
from supervisor_desk.models.wire import CHANNELS, STATUSES, NamedItem
from supervisor_desk.views.history.caret_rest import CaretRest
from supervisor_desk.views.history.viewmodel import SORT_KEYS
from supervisor_desk.views.icons import STATUS_LABELS, channel_label

SEARCH_DEBOUNCE_MS = 250
SEARCH_MIN_WIDTH = 150
# Quick date ranges on the start time; any other range goes through the filter dialog.
DATE_PRESETS: tuple[tuple[str, timedelta | None], ...] = (
    ("Any time", None),
    ("Last hour", timedelta(hours=1)),
    ("Last 24 hours", timedelta(days=1)),
    ("Last 7 days", timedelta(days=7)),
    ("Last 30 days", timedelta(days=30)),
)
_SEVERAL = "__several__"
_CUSTOM = "__custom__"


def replace_filter(flt: SessionFilter, **changes: object) -> SessionFilter:
    """A validated copy (``model_copy`` would skip validation of the changed fields)."""
    return SessionFilter.model_validate({**flt.model_dump(), **changes})


class QuickFilterBar(QWidget):
    filter_edited = Signal(object)  # SessionFilter
    sort_selected = Signal(str)
    filters_dialog_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._filter = SessionFilter()
        self._now: Callable[[], datetime] = lambda: datetime.now(UTC)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(6)
        self._layout = layout
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search id, agent, user, metadata…")
        self.search.setClearButtonEnabled(True)
        self.search.setMinimumWidth(SEARCH_MIN_WIDTH)
        self.search.setAccessibleName("Search sessions")
        # Focused while the supervisor reads the page: a caret blinking all along woke the app.
        self.caret_rest = CaretRest(self.search)
        layout.addWidget(self.search, 2)
        self.in_transcripts = QToolButton(self)
        self.in_transcripts.setText("in transcripts")
        self.in_transcripts.setCheckable(True)
        self.in_transcripts.setToolTip(
            "Search the words inside the messages (case- and accent-insensitive)"
        )
        layout.addWidget(self.in_transcripts)
        self.channel = QComboBox(self)
        self.channel.addItem("All channels", None)
        for c in CHANNELS:
            self.channel.addItem(channel_label(c), c)
        layout.addWidget(self.channel)
        self.status = QComboBox(self)
        self.status.addItem("All statuses", None)
        for s in STATUSES:
            self.status.addItem(STATUS_LABELS.get(s, s), s)
        layout.addWidget(self.status)
        self.agent = QComboBox(self)
        self.agent.addItem("All agents", None)
        self.agent.setMinimumWidth(120)
        layout.addWidget(self.agent)
        self.dates = QComboBox(self)
        for label, delta in DATE_PRESETS:
            self.dates.addItem(label, delta)
        layout.addWidget(self.dates)
        self.sort = QComboBox(self)
        for key, label in SORT_KEYS.items():
            self.sort.addItem(f"{label} ↓", f"-{key}")
            self.sort.addItem(f"{label} ↑", key)
        self.sort.setToolTip("Sort order")
        layout.addWidget(self.sort)
        self.filters_button = QToolButton(self)
        self.filters_button.setText("Filters")
        self.filters_button.setObjectName("filtersButton")
        self.filters_button.setToolTip("Session Filters (Ctrl+F)")
        layout.addWidget(self.filters_button)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(SEARCH_DEBOUNCE_MS)
        self._debounce.timeout.connect(self._emit_search)
        self.search.textEdited.connect(self._on_search_text_edited)
        self.search.returnPressed.connect(self._emit_search)
        self.in_transcripts.toggled.connect(self._on_in_transcripts_toggled)
        self.channel.activated.connect(self._on_combo_activated)
        self.status.activated.connect(self._on_combo_activated)
        self.agent.activated.connect(self._on_combo_activated)
        self.dates.activated.connect(self._on_dates_activated)
        self.sort.activated.connect(self._on_sort_activated)
        self.filters_button.clicked.connect(self.filters_dialog_requested)
        # What folds into the Filters button on a narrow window, the first to go first.
        self._foldable: tuple[QWidget, ...] = (
            self.dates, self.agent, self.status, self.channel, self.sort,
        )
        self._set_active(False, 0)

    # ------------------------------------------------------------------ narrow windows

    def minimumSizeHint(self) -> QSize:
        """The search box, "in transcripts" and the Filters button; the rest can fold."""
        margins = self._layout.contentsMargins()
        kept = (self.in_transcripts, self.filters_button)
        width = (margins.left() + margins.right() + SEARCH_MIN_WIDTH
                 + sum(w.sizeHint().width() for w in kept)
                 + self._layout.spacing() * len(kept))
        return QSize(width, super().minimumSizeHint().height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fold_to(event.size().width())

    def _fold_to(self, width: int) -> None:
        """Show the quick choices that fit beside the search box, in order of usefulness."""
        room = width - self.minimumSizeHint().width()
        fits: list[QWidget] = []
        for widget in reversed(self._foldable):  # sort, channel, status, agent, dates
            need = widget.sizeHint().width() + self._layout.spacing()
            if need > room:
                break
            room -= need
            fits.append(widget)
        for widget in self._foldable:
            widget.setVisible(widget in fits)
        self.filters_button.setToolTip(
            "Session Filters (Ctrl+F)" if len(fits) == len(self._foldable)
            else "Session Filters (Ctrl+F): channel, status, agent, dates and more"
        )

    @property
    def folded(self) -> list[QWidget]:
        """The quick choices folded into the Filters button at the current width."""
        return [w for w in self._foldable if w.isHidden()]

    # ------------------------------------------------------------------ state in

    def set_agents(self, agents: Sequence[NamedItem]) -> None:
        with QSignalBlocker(self.agent):
            self.agent.clear()
            self.agent.addItem("All agents", None)
            for a in agents:
                self.agent.addItem(a.name, a.id)
        self._sync_combo(self.agent, self._filter.agent, "agents")

    def set_sort(self, sort: str) -> None:
        with QSignalBlocker(self.sort):
            self.sort.setCurrentIndex(max(0, self.sort.findData(sort)))

    def set_filter(self, flt: SessionFilter, active_count: int) -> None:
        """Show ``flt`` without emitting (chips, dialog and Reset change it from outside)."""
        self._filter = flt
        with QSignalBlocker(self.search), QSignalBlocker(self.in_transcripts):
            transcripts = flt.text is not None and flt.q is None
            self.in_transcripts.setChecked(transcripts)
            wanted = (flt.text if transcripts else flt.q) or ""
            if self.search.text().strip() != wanted:
                self.search.setText(wanted)
        self._sync_combo(self.channel, flt.channel, "channels")
        self._sync_combo(self.status, flt.status, "statuses")
        self._sync_combo(self.agent, flt.agent, "agents")
        with QSignalBlocker(self.dates):
            self._drop_extra(self.dates, _CUSTOM)
            if flt.started_after is None and flt.started_before is None:
                self.dates.setCurrentIndex(0)
            elif self.dates.currentData() is None or flt.started_before is not None:
                self.dates.addItem("Custom dates", _CUSTOM)
                self.dates.setCurrentIndex(self.dates.count() - 1)
        self._set_active(not flt.is_empty(), active_count)

    @staticmethod
    def _drop_extra(combo: QComboBox, marker: str) -> None:
        index = combo.findData(marker)
        if index >= 0:
            combo.removeItem(index)

    def _sync_combo(self, combo: QComboBox, values: Sequence[str], noun: str) -> None:
        with QSignalBlocker(combo):
            self._drop_extra(combo, _SEVERAL)
            if not values:
                combo.setCurrentIndex(0)
            elif len(values) == 1 and combo.findData(values[0]) >= 0:
                combo.setCurrentIndex(combo.findData(values[0]))
            else:
                combo.addItem(f"{len(values)} {noun}" if len(values) > 1 else values[0],
                              _SEVERAL)
                combo.setCurrentIndex(combo.count() - 1)

    def _set_active(self, active: bool, count: int) -> None:
        self.filters_button.setText(f"Filters ({count})" if active and count else "Filters")
        self.filters_button.setProperty("active", active)
        # Flametree: "the icon on the Search button stays highlighted while any filter is active"
        self.filters_button.setStyleSheet(
            "QToolButton#filtersButton { background: #2563eb; color: white; border-radius: 4px;"
            " padding: 3px 10px; font-weight: 600; }" if active else ""
        )

    @property
    def filter_active(self) -> bool:
        return bool(self.filters_button.property("active"))

    # ------------------------------------------------------------------ edits out

    def _on_search_text_edited(self, _text: str) -> None:
        self._debounce.start()

    def _on_in_transcripts_toggled(self, _checked: bool) -> None:
        if self.search.text().strip():
            self._emit_search()

    def _emit_search(self) -> None:
        self._debounce.stop()
        words = self.search.text().strip() or None
        if self.in_transcripts.isChecked():
            flt = replace_filter(self._filter, text=words, q=None)
        else:
            flt = replace_filter(self._filter, q=words, text=None)
        self._edited(flt)

    def _on_combo_activated(self, _index: int) -> None:
        combo = self.sender()
        if not isinstance(combo, QComboBox):
            return
        value = combo.currentData()
        if value == _SEVERAL:
            return
        field = {self.channel: "channel", self.status: "status", self.agent: "agent"}[combo]
        self._edited(replace_filter(self._filter, **{field: (value,) if value else ()}))

    def _on_dates_activated(self, _index: int) -> None:
        delta = self.dates.currentData()
        if delta == _CUSTOM:
            return
        after = None if delta is None else self._now() - delta
        self._edited(replace_filter(self._filter, started_after=after, started_before=None))

    def _on_sort_activated(self, _index: int) -> None:
        self.sort_selected.emit(str(self.sort.currentData()))

    def _edited(self, flt: SessionFilter) -> None:
        if flt != self._filter:
            self._filter = flt
            self.filter_edited.emit(flt)
