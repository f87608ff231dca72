"""Preferences → Alerts: the rule editor.

The list of rules (checkbox: enabled), Add / Edit / Duplicate / Delete, "Test on Live" (which
live sessions the selected rule matches now), quiet hours, volume and mute, Import / Export.
A rule's condition is a tree of groups joined by AND or OR over parts (``condition_tree.py``).
OK emits the new :class:`RuleSet`; the app saves it and applies it at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError
from PySide6.QtCore import Qt, QTime, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QSlider,
    QSpinBox,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

from supervisor_desk.client.alert_rules_store import (
    RulesFileError,
    merge_imported,
    read_rules_file,
    write_rules_file,
)
from supervisor_desk.client.audio import SOUND_NAMES
from supervisor_desk.models.alerts.rules import (
    SEVERITIES,
    QuietHours,
    Rule,
    RuleSet,
    WaitCondition,
)
from supervisor_desk.models.wire import SessionSummary
from supervisor_desk.views.alerts.condition_tree import (
    PartRow,
    RuleFormError,
    condition_tree,
    describe,
)
from supervisor_desk.views.alerts.highlight import SEVERITY_LABEL, severity_icon
from supervisor_desk.views.notifications import describe_new


class RuleDialog(QDialog):
    """Add or edit one rule."""

    def __init__(self, rule: Rule, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Alert rule")
        self.setObjectName("alertRuleDialog")
        self._rule = rule
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.name = QLineEdit(rule.name, self)
        form.addRow("Name", self.name)
        self.severity = QComboBox(self)
        for severity in SEVERITIES:
            self.severity.addItem(severity_icon(severity), SEVERITY_LABEL[severity], severity)
        self.severity.setCurrentIndex(self.severity.findData(rule.severity))
        form.addRow("Severity", self.severity)
        layout.addLayout(form)
        when = QGroupBox("When", self)
        when_layout = QVBoxLayout(when)
        self.tree = condition_tree(rule.condition, when)
        when_layout.addWidget(self.tree)
        layout.addWidget(when)
        actions = QGroupBox("Then", self)
        actions_form = QFormLayout(actions)
        self.notify = QCheckBox("Desktop notification (urgency by severity; critical stays)")
        self.notify.setChecked(rule.actions.notify)
        self.banner = QCheckBox("Banner in the window")
        self.banner.setChecked(rule.actions.banner)
        self.highlight = QCheckBox("Highlight the row")
        self.highlight.setChecked(rule.actions.highlight)
        self.sound = QComboBox(actions)
        self.sound.addItem("No sound", None)
        for name in SOUND_NAMES:
            self.sound.addItem(name.capitalize(), name)
        self.sound.setCurrentIndex(max(0, self.sound.findData(rule.actions.sound)))
        self.repeat = QSpinBox(actions)
        self.repeat.setRange(0, 3600)
        self.repeat.setSpecialValueText("never")
        self.repeat.setSuffix(" s")
        self.repeat.setValue(rule.actions.repeat_seconds or 0)
        for widget in (self.notify, self.banner, self.highlight):
            actions_form.addRow(widget)
        actions_form.addRow("Sound", self.sound)
        actions_form.addRow("Repeat until acknowledged every", self.repeat)
        layout.addWidget(actions)
        self.error = QLabel("", self)
        self.error.setTextFormat(Qt.TextFormat.PlainText)
        self.error.setProperty("tone", "error")
        self.error.setWordWrap(True)
        layout.addWidget(self.error)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self._on_buttons_accepted)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.result_rule: Rule | None = None
        self.resize(max(640, self.sizeHint().width()), self.sizeHint().height())

    @property
    def rows(self) -> list[PartRow]:
        """Every condition row of the tree, in the order shown."""
        return self.tree.part_rows()

    def rule(self) -> Rule:
        condition = self.tree.condition()
        repeat = self.repeat.value()
        if 0 < repeat < 10:
            raise RuleFormError("Repeat: at least every 10 s")
        data = self._rule.model_dump()
        data.update(
            name=self.name.text().strip(), severity=self.severity.currentData(),
            condition=condition.model_dump(),
            actions={"notify": self.notify.isChecked(), "banner": self.banner.isChecked(),
                     "highlight": self.highlight.isChecked(),
                     "sound": self.sound.currentData(), "repeat_seconds": repeat or None,
                     "track": self._rule.actions.track},
        )
        try:
            return Rule.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise RuleFormError(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None

    def _on_buttons_accepted(self) -> None:
        try:
            self.result_rule = self.rule()
        except RuleFormError as exc:
            self.error.setText(str(exc))
            return
        self.accept()


class AlertRulesDialog(QDialog):
    rules_chosen = Signal(object)  # RuleSet

    def __init__(self, rules: RuleSet, *,
                 test: Callable[[Rule], list[SessionSummary]] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Alert rules — Supervisor Desk")
        self.setObjectName("alertRulesDialog")
        self._rules = rules
        self._test = test
        layout = QVBoxLayout(self)
        self.list = QListWidget(self)
        self.list.setAccessibleName("Alert rules")
        layout.addWidget(self.list, 1)
        row = QHBoxLayout()
        self.buttons: dict[str, QPushButton] = {}
        for key, label in (("add", "Add…"), ("edit", "Edit…"), ("duplicate", "Duplicate"),
                           ("delete", "Delete"), ("test", "Test on Live"),
                           ("import", "Import…"), ("export", "Export…")):
            button = QPushButton(label, self)
            self.buttons[key] = button
            row.addWidget(button)
        row.addStretch(1)
        layout.addLayout(row)
        self.buttons["add"].clicked.connect(self.add_rule)
        self.buttons["edit"].clicked.connect(self.edit_selected)
        self.buttons["duplicate"].clicked.connect(self.duplicate_selected)
        self.buttons["delete"].clicked.connect(self.delete_selected)
        self.buttons["test"].clicked.connect(self.test_selected)
        self.buttons["import"].clicked.connect(self._on_import_clicked)
        self.buttons["export"].clicked.connect(self._on_export_clicked)
        self.list.itemDoubleClicked.connect(lambda _item: self.edit_selected())
        self.list.currentRowChanged.connect(self._on_list_current_row_changed)
        self.test_result = QLabel("", self)
        self.test_result.setTextFormat(Qt.TextFormat.PlainText)
        self.test_result.setWordWrap(True)
        layout.addWidget(self.test_result)
        quiet = QGroupBox("Quiet hours: no sound and no desktop pop-ups", self)
        quiet_row = QHBoxLayout(quiet)
        self.quiet_on = QCheckBox("From", quiet)
        self.quiet_start = QTimeEdit(quiet)
        self.quiet_end = QTimeEdit(quiet)
        for edit in (self.quiet_start, self.quiet_end):
            edit.setDisplayFormat("HH:mm")
        self.quiet_on.setChecked(rules.quiet_hours.enabled)
        hours = rules.quiet_hours
        self.quiet_start.setTime(QTime(hours.start.hour, hours.start.minute))
        self.quiet_end.setTime(QTime(hours.end.hour, hours.end.minute))
        quiet_row.addWidget(self.quiet_on)
        quiet_row.addWidget(self.quiet_start)
        quiet_row.addWidget(QLabel("to", quiet))
        quiet_row.addWidget(self.quiet_end)
        quiet_row.addStretch(1)
        layout.addWidget(quiet)
        sound = QGroupBox("Sound", self)
        sound_row = QHBoxLayout(sound)
        self.volume = QSlider(Qt.Orientation.Horizontal, sound)
        self.volume.setRange(0, 100)
        self.volume.setValue(round(rules.volume * 100))
        self.volume.setAccessibleName("Alert volume")
        self.mute = QCheckBox("Mute", sound)
        self.mute.setChecked(rules.muted)
        sound_row.addWidget(QLabel("Volume", sound))
        sound_row.addWidget(self.volume, 1)
        sound_row.addWidget(self.mute)
        layout.addWidget(sound)
        self.status = QLabel("", self)
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self._on_buttons_accepted)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self._fill()
        self.resize(760, 560)

    # ------------------------------------------------------------------ the list

    def _fill(self, select: int = 0) -> None:
        self.list.clear()
        for rule in self._rules.rules:
            words = describe(rule.condition)
            suffix = " · built in" if rule.builtin else ""
            item = QListWidgetItem(severity_icon(rule.severity),
                                   f"{rule.name} — {words}{suffix}")
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if rule.enabled else Qt.CheckState.Unchecked)
            self.list.addItem(item)
        if self.list.count():
            self.list.setCurrentRow(min(select, self.list.count() - 1))

    def _checked_rules(self) -> tuple[Rule, ...]:
        out = []
        for i, rule in enumerate(self._rules.rules):
            item = self.list.item(i)
            on = item is None or item.checkState() == Qt.CheckState.Checked
            out.append(rule if rule.enabled == on else rule.model_copy(update={"enabled": on}))
        return tuple(out)

    def _sync(self) -> None:
        self._rules = self._rules.model_copy(update={"rules": self._checked_rules()})

    def _on_list_current_row_changed(self, row: int) -> None:
        rule = self._rules.rules[row] if 0 <= row < len(self._rules.rules) else None
        self.buttons["delete"].setEnabled(rule is not None and not rule.builtin)
        self.test_result.clear()

    def selected(self) -> Rule | None:
        row = self.list.currentRow()
        return self._rules.rules[row] if 0 <= row < len(self._rules.rules) else None

    def _new_id(self, base: str) -> str:
        taken = {r.id for r in self._rules.rules}
        stem = re.sub(r"[^A-Za-z0-9_.-]", "-", base)[:50] or "rule"
        n = 1
        while f"{stem}-{n}" in taken:
            n += 1
        return f"{stem}-{n}"

    def _replace(self, rules: list[Rule], select: int) -> None:
        self._rules = self._rules.model_copy(update={"rules": tuple(rules)})
        self._fill(select)

    def add_rule(self) -> None:
        rule = Rule(id=self._new_id("rule"), name="New rule", condition=WaitCondition(seconds=120))
        dialog = RuleDialog(rule, self)
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.result_rule is not None:
            self._sync()
            self._replace([*self._rules.rules, dialog.result_rule], len(self._rules.rules))

    def edit_selected(self) -> None:
        rule = self.selected()
        if rule is None:
            return
        row = self.list.currentRow()
        dialog = RuleDialog(rule, self)
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.result_rule is not None:
            self._sync()
            rules = list(self._rules.rules)
            rules[row] = dialog.result_rule
            self._replace(rules, row)

    def duplicate_selected(self) -> None:
        rule = self.selected()
        if rule is None:
            return
        self._sync()
        copy = rule.model_copy(update={"id": self._new_id(rule.id), "builtin": False,
                                       "name": f"{rule.name} (copy)"[:120]})
        row = self.list.currentRow() + 1
        rules = list(self._rules.rules)
        rules.insert(row, copy)
        self._replace(rules, row)

    def delete_selected(self) -> None:
        rule = self.selected()
        if rule is None or rule.builtin:
            return
        self._sync()
        row = self.list.currentRow()
        self._replace([r for r in self._rules.rules if r.id != rule.id], row)

    def test_selected(self) -> None:
        rule = self.selected()
        if rule is None or self._test is None:
            self.test_result.setText("Sign in to test rules against the Live list.")
            return
        matches = self._test(rule.model_copy(update={"enabled": True}))
        if not matches:
            self.test_result.setText(f"“{rule.name}” matches no live session now.")
            return
        names = "; ".join(describe_new(s) for s in matches[:5])
        more = f" and {len(matches) - 5} more" if len(matches) > 5 else ""
        self.test_result.setText(
            f"“{rule.name}” matches {len(matches)} live session(s) now: {names}{more}")

    # ------------------------------------------------------------------ files

    def _on_import_clicked(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Import alert rules", "",
                                              "Alert rules (*.json);;All files (*)")
        if name:
            self.import_file(Path(name))

    def import_file(self, path: Path) -> bool:
        try:
            imported = read_rules_file(path)
        except RulesFileError as exc:
            QMessageBox.warning(self, "Import alert rules", str(exc))
            return False
        self._sync()
        self._rules = merge_imported(self._rules, imported)
        self._fill(self.list.currentRow())
        self.status.setText(f"Imported {len(imported.rules)} rule(s) from {path.name}.")
        return True

    def _on_export_clicked(self) -> None:
        name, _ = QFileDialog.getSaveFileName(self, "Export alert rules", "alert-rules.json",
                                              "Alert rules (*.json)")
        if name:
            self.export_file(Path(name))

    def export_file(self, path: Path) -> None:
        try:
            write_rules_file(path, self.chosen())
        except OSError as exc:
            QMessageBox.warning(self, "Export alert rules", f"Could not write {path}: {exc}")
            return
        self.status.setText(f"Exported {len(self._rules.rules)} rule(s) to {path.name}.")

    # ------------------------------------------------------------------ result

    def chosen(self) -> RuleSet:
        self._sync()
        start, end = self.quiet_start.time(), self.quiet_end.time()
        return self._rules.model_copy(update={
            "quiet_hours": QuietHours(
                enabled=self.quiet_on.isChecked(),
                start=start.toPython(), end=end.toPython()),
            "volume": self.volume.value() / 100,
            "muted": self.mute.isChecked(),
        })

    def _on_buttons_accepted(self) -> None:
        self.rules_chosen.emit(self.chosen())
        self.accept()
