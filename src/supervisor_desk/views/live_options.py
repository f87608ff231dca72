"""The Live list's View options: Pause live updates, update once a second, keep or hide ended
rows, how Start reads.

``LiveListOptions`` owns the actions (the main window puts them in its View menu) and the
"paused" banner shown above the table; it binds them to the live view-model once one exists
and to the table model for the Start column. Preferences are read with
:meth:`LiveListOptions.apply_preferences` and written back by :meth:`write_preferences` when
``preferences_changed`` fires (the app saves them).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QMenu, QPushButton, QWidget

from supervisor_desk.client.settings import Preferences
from supervisor_desk.models.wording import StartedDisplay, plural
from supervisor_desk.views.live_viewmodel import DEFAULT_KEEP_ENDED_MINUTES, LiveViewModel
from supervisor_desk.views.session_table_model import SessionTableModel

PAUSE_SHORTCUT = "Ctrl+Shift+P"
# Minutes an ended row stays on the Live list; 0 = until Refresh (F5).
KEEP_ENDED_CHOICES: tuple[int, ...] = (1, 2, 5, 10, 30, 0)
STARTED_TITLES: dict[StartedDisplay, str] = {
    StartedDisplay.RELATIVE: "Time ago (“5 minutes ago”)",
    StartedDisplay.CLOCK: "Clock time",
}


def keep_ended_title(minutes: int) -> str:
    return "Until Refresh (F5)" if minutes <= 0 else f"For {plural(minutes, 'minute')}"


def paused_text(waiting: int) -> str:
    if waiting <= 0:
        return "Live updates paused — no changes yet"
    return f"Live updates paused — {plural(waiting, 'change')} waiting"


class PausedBanner(QFrame):
    """A strip above the Live table while updates are paused, with the count and Resume."""

    resume_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("pausedBanner")
        # Coloured by the theme's stylesheet (paused_* colours), so it reads on dark too.
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 4, 6, 4)
        self.label = QLabel(paused_text(0), self)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.label, 1)
        self.resume_button = QPushButton("Resume", self)
        self.resume_button.setToolTip(f"Apply what arrived and follow the feed again "
                                      f"({PAUSE_SHORTCUT})")
        self.resume_button.clicked.connect(self.resume_requested)
        layout.addWidget(self.resume_button)
        self.hide()

    def set_waiting(self, waiting: int) -> None:
        self.label.setText(paused_text(waiting))

    def text(self) -> str:
        return self.label.text()


class LiveListOptions(QObject):
    """The live list's options as actions, bound to the table model and the live view-model."""

    preferences_changed = Signal()

    def __init__(self, model: SessionTableModel, parent: QWidget) -> None:
        super().__init__(parent)
        self._model = model
        self._live: LiveViewModel | None = None
        self._keep_minutes = DEFAULT_KEEP_ENDED_MINUTES
        self.banner = PausedBanner(parent)
        self.banner.resume_requested.connect(self._on_banner_resume_requested)

        self.pause_action = QAction("Pause live updates", parent)
        self.pause_action.setCheckable(True)
        self.pause_action.setShortcut(QKeySequence(PAUSE_SHORTCUT))
        self.pause_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.pause_action.setToolTip("Hold the Live list still to read it; resuming applies "
                                     "what arrived meanwhile")
        self.pause_action.toggled.connect(self._on_pause_action_toggled)
        parent.addAction(self.pause_action)  # the shortcut works with the menu closed

        self.each_second_action = QAction("Update once a second (saves power)", parent)
        self.each_second_action.setCheckable(True)
        self.each_second_action.setChecked(True)
        self.each_second_action.setToolTip(
            "Show the list's changes with the clock's tick instead of as each one arrives; "
            "the open chat and alerts still come at once")
        self.each_second_action.toggled.connect(self._on_each_second_action_toggled)

        self.hide_ended_action = QAction("Hide ended sessions", parent)
        self.hide_ended_action.setCheckable(True)
        self.hide_ended_action.toggled.connect(self._on_hide_ended_action_toggled)

        self.keep_ended_menu = QMenu("Keep ended sessions", parent)
        self._keep_group = QActionGroup(self)
        self.keep_ended_actions: dict[int, QAction] = {}
        for minutes in KEEP_ENDED_CHOICES:
            action = QAction(keep_ended_title(minutes), self.keep_ended_menu)
            action.setCheckable(True)
            action.setChecked(minutes == self._keep_minutes)
            action.triggered.connect(lambda _=False, m=minutes: self.set_keep_ended_minutes(m))
            self._keep_group.addAction(action)
            self.keep_ended_menu.addAction(action)
            self.keep_ended_actions[minutes] = action

        self.started_menu = QMenu("Start column", parent)
        self._started_group = QActionGroup(self)
        self.started_actions: dict[StartedDisplay, QAction] = {}
        for display, title in STARTED_TITLES.items():
            action = QAction(title, self.started_menu)
            action.setCheckable(True)
            action.setChecked(display == model.started_display)
            action.triggered.connect(lambda _=False, d=display: self.set_started_display(d))
            self._started_group.addAction(action)
            self.started_menu.addAction(action)
            self.started_actions[display] = action

    # ---------------------------------------------------------------- wiring

    def add_to_menu(self, menu: QMenu) -> None:
        menu.addSeparator()
        menu.addAction(self.pause_action)
        menu.addAction(self.each_second_action)
        menu.addAction(self.hide_ended_action)
        menu.addMenu(self.keep_ended_menu)
        menu.addMenu(self.started_menu)

    def bind(self, live: LiveViewModel | None) -> None:
        """Follow this live view-model (``None``: signed out) and give it the options."""
        if self._live is not None:
            self._live.paused_changed.disconnect(self._on_live_paused_changed)
            self._live.waiting_changes_changed.disconnect(self.banner.set_waiting)
        self._live = live
        if live is None:
            self.pause_action.setChecked(False)
            return
        live.paused_changed.connect(self._on_live_paused_changed)
        live.waiting_changes_changed.connect(self.banner.set_waiting)
        live.set_keep_ended_minutes(self._keep_minutes)
        live.set_hide_ended(self.hide_ended_action.isChecked())
        live.set_paused(self.pause_action.isChecked())
        self.banner.set_waiting(live.waiting_changes)

    @property
    def keep_ended_minutes(self) -> int:
        return self._keep_minutes

    def set_keep_ended_minutes(self, minutes: int) -> None:
        minutes = max(0, int(minutes))
        action = self.keep_ended_actions.get(minutes)
        if action is not None:
            action.setChecked(True)
        else:
            checked = self._keep_group.checkedAction()
            if checked is not None:
                checked.setChecked(False)
        if minutes == self._keep_minutes:
            return
        self._keep_minutes = minutes
        if self._live is not None:
            self._live.set_keep_ended_minutes(minutes)
        self.preferences_changed.emit()

    @property
    def each_second(self) -> bool:
        """The list's changes wait for the clock's tick (the app asks the hub to gather them)."""
        return self.each_second_action.isChecked()

    def set_started_display(self, display: StartedDisplay | str) -> None:
        display = StartedDisplay(display)
        self.started_actions[display].setChecked(True)
        if display == self._model.started_display:
            return
        self._model.set_started_display(display)
        self.preferences_changed.emit()

    # ---------------------------------------------------------------- preferences

    def apply_preferences(self, prefs: Preferences) -> None:
        with_signals = self.signalsBlocked()
        self.blockSignals(True)  # reading them back is no change to save
        try:
            self.set_keep_ended_minutes(prefs.live_keep_ended_minutes)
            self.hide_ended_action.setChecked(prefs.live_hide_ended)
            self.each_second_action.setChecked(prefs.live_each_second)
            self.set_started_display(prefs.live_started_display)
        finally:
            self.blockSignals(with_signals)

    def write_preferences(self, prefs: Preferences) -> None:
        prefs.live_keep_ended_minutes = self._keep_minutes
        prefs.live_hide_ended = self.hide_ended_action.isChecked()
        prefs.live_each_second = self.each_second_action.isChecked()
        prefs.live_started_display = self._model.started_display

    # ---------------------------------------------------------------- slots

    def _on_pause_action_toggled(self, paused: bool) -> None:
        self.banner.setVisible(paused)
        if self._live is not None:
            self._live.set_paused(paused)

    def _on_each_second_action_toggled(self, _checked: bool) -> None:
        self.preferences_changed.emit()  # the app asks the hub for the hold that goes with it

    def _on_live_paused_changed(self, paused: bool) -> None:
        if self.pause_action.isChecked() != paused:
            self.pause_action.setChecked(paused)

    def _on_banner_resume_requested(self) -> None:
        self.pause_action.setChecked(False)

    def _on_hide_ended_action_toggled(self, hide: bool) -> None:
        if self._live is not None:
            self._live.set_hide_ended(hide)
        self.preferences_changed.emit()
