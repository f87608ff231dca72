"""View → Time zone…: the zone every timestamp of the app is shown in (local or a tenant's)."""

from __future__ import annotations

import zoneinfo

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QVBoxLayout,
    QWidget,
)

LOCAL = "local"


def zone_names() -> list[str]:
    """``local``, ``UTC``, then every IANA zone this system knows, sorted."""
    names = sorted(n for n in zoneinfo.available_timezones() if "/" in n)
    return [LOCAL, "UTC", *names]


class TimeZoneDialog(QDialog):
    """Opened with ``open()`` (never ``exec()``); emits the chosen preference value."""

    time_zone_chosen = Signal(str)

    def __init__(self, current: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Time zone")
        layout = QVBoxLayout(self)
        hint = QLabel("Show session, message and filter times in:", self)
        hint.setTextFormat(Qt.TextFormat.PlainText)
        self.combo = QComboBox(self)
        self.combo.setEditable(True)
        self.combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.combo.addItems(zone_names())
        completer = self.combo.completer()
        if completer is not None:  # type to search: "berl" finds Europe/Berlin
            completer.setFilterMode(Qt.MatchFlag.MatchContains)
            completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        index = self.combo.findText(current or LOCAL)
        self.combo.setCurrentIndex(max(0, index))
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.error_label = QLabel("", self)
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.setProperty("tone", "error")  # coloured by the theme
        self.error_label.hide()
        layout.addWidget(hint)
        layout.addWidget(self.combo)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)

    def accept(self) -> None:
        name = self.combo.currentText().strip()
        if self.combo.findText(name) < 0:
            self.error_label.setText(f"Unknown time zone: {name}")
            self.error_label.show()
            return
        self.time_zone_chosen.emit(name)
        super().accept()
