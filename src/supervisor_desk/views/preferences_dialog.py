"""File → Preferences…: which desktop notifications to show, and how often at most.

Opened with ``open()`` (never ``exec()``); OK emits the new notification preferences, the app
saves them and applies them at once. The alert-rules work extends this dialog.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from supervisor_desk.client.settings import NotificationPrefs


class PreferencesDialog(QDialog):
    notifications_chosen = Signal(object)  # NotificationPrefs
    alert_rules_requested = Signal()  # Alerts: the rule editor (views/alerts/editor.py)

    def __init__(self, current: NotificationPrefs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences — Supervisor Desk")
        self.setObjectName("preferencesDialog")
        self._current = current
        layout = QVBoxLayout(self)
        group = QGroupBox("Desktop notifications", self)
        form = QVBoxLayout(group)
        self.new_check = QCheckBox("A session starts", group)
        self.ended_check = QCheckBox("A session ends (completed, cancelled or transferred)", group)
        self.failed_check = QCheckBox("A session fails", group)
        for check, on in ((self.new_check, current.new_sessions),
                          (self.ended_check, current.ended_sessions),
                          (self.failed_check, current.failed_sessions)):
            check.setChecked(on)
            form.addWidget(check)
        interval_row = QFormLayout()
        self.interval = QSpinBox(group)
        self.interval.setRange(0, 60)
        self.interval.setSuffix(" min")
        self.interval.setSpecialValueText("no limit")
        self.interval.setValue(round(current.min_interval_s / 60))
        self.interval.setAccessibleName("At most one notification of each kind every")
        interval_row.addRow("At most one of each kind every", self.interval)
        form.addLayout(interval_row)
        note = QLabel("What happens in between is counted into the next one "
                      "(\u201c7 new sessions\u201d). Starts and ends are sent as low urgency, "
                      "failures as normal.", group)
        note.setTextFormat(Qt.TextFormat.PlainText)
        note.setWordWrap(True)
        note.setProperty("tone", "muted")
        form.addWidget(note)
        layout.addWidget(group)
        alerts = QGroupBox("Alerts", self)
        alerts_layout = QVBoxLayout(alerts)
        alerts_note = QLabel("Rules for what deserves your attention: long waits, failed "
                             "sessions, keywords, sentiment; sounds and quiet hours.", alerts)
        alerts_note.setWordWrap(True)
        alerts_note.setTextFormat(Qt.TextFormat.PlainText)
        self.alert_rules_button = QPushButton("Alert rules…", alerts)
        self.alert_rules_button.clicked.connect(self.alert_rules_requested)
        alerts_layout.addWidget(alerts_note)
        alerts_layout.addWidget(self.alert_rules_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(alerts)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        buttons.accepted.connect(self._on_buttons_accepted)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def chosen(self) -> NotificationPrefs:
        return self._current.model_copy(update={
            "new_sessions": self.new_check.isChecked(),
            "ended_sessions": self.ended_check.isChecked(),
            "failed_sessions": self.failed_check.isChecked(),
            "min_interval_s": float(self.interval.value() * 60),
        })

    def _on_buttons_accepted(self) -> None:
        self.notifications_chosen.emit(self.chosen())
        self.accept()
