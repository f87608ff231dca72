"""Preferences → Alerts: the rule editor.

The list of rules (checkbox: enabled), Add / Edit / Duplicate / Delete, "Test on Live" (which
live sessions the selected rule matches now), quiet hours, volume and mute, Import / Export.
A rule's condition is a list of parts joined by AND or OR; each part is one kind with its
value (seconds, minutes, phrases, ``key=value``, or a session filter as query text such as
``channel=web&status=queued``, the same words as the History filters). OK emits the new
:class:`RuleSet`; the app saves it and applies it at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

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
    AllCondition,
    AnyCondition,
    Condition,
    DurationCondition,
    EndedBadlyCondition,
    EndedCondition,
    FilterCondition,
    HandoverCondition,
    KeywordCondition,
    MetadataCondition,
    NoReplyCondition,
    QuietHours,
    Rule,
    RuleSet,
    StartedCondition,
    WaitCondition,
)
from supervisor_desk.models.filters import FilterError, SessionFilter
from supervisor_desk.models.wire import SessionSummary
from supervisor_desk.views.alerts.highlight import SEVERITY_LABEL, severity_icon
from supervisor_desk.views.notifications import describe_new

# kind -> (label, what the value field asks for, "" when it takes none)
PART_KINDS: dict[str, tuple[str, str]] = {
    "wait": ("Waits in the queue longer than", "seconds"),
    "no_reply": ("No reply to the customer for", "seconds"),
    "duration": ("Session longer than", "minutes"),
    "ended_badly": ("Failed / ended with error / system disconnect", ""),
    "keyword": ("Customer says (comma-separated phrases)", "phrases"),
    "metadata": ("Metadata value (key=value)", "key=value"),
    "handover": ("Hand-over requested by the AI", ""),
    "filter": ("Session filter (channel=web&status=queued…)", "filter"),
    "started": ("A new session starts", ""),
    "ended": ("A session ends", ""),
}


_UNITS = {"wait": " s", "no_reply": " s", "duration": " min"}


class RuleFormError(ValueError):
    pass


def part_text(condition: Condition) -> tuple[str, str]:
    """(kind, value text) of one flat condition, for the editor's row."""
    match condition:
        case WaitCondition(seconds=n) | NoReplyCondition(seconds=n):
            return condition.kind, str(n)
        case DurationCondition(minutes=n):
            return "duration", str(n)
        case KeywordCondition(phrases=phrases):
            return "keyword", ", ".join(phrases)
        case MetadataCondition(key=key, value=value):
            return "metadata", f"{key}={value}"
        case FilterCondition(filter=session_filter):
            return "filter", urlencode(session_filter.to_query())
    return condition.kind, ""


def parse_part(kind: str, text: str) -> Condition:
    """One condition from the editor's row, with an error the user can act on."""
    text = text.strip()
    try:
        match kind:
            case "wait" | "no_reply" | "duration":
                if not re.fullmatch(r"\d{1,7}", text):
                    raise RuleFormError(f"{PART_KINDS[kind][0]}: a whole number of "
                                        f"{PART_KINDS[kind][1]}")
                n = int(text)
                if kind == "wait":
                    return WaitCondition(seconds=n)
                if kind == "no_reply":
                    return NoReplyCondition(seconds=n)
                return DurationCondition(minutes=n)
            case "keyword":
                phrases = tuple(p.strip() for p in text.split(",") if p.strip())
                return KeywordCondition(phrases=phrases)
            case "metadata":
                key, sep, value = text.partition("=")
                if not sep or not key.strip():
                    raise RuleFormError("Metadata: write key=value, e.g. sentiment=negative")
                return MetadataCondition(key=key.strip(), value=value.strip())
            case "filter":
                return FilterCondition(filter=SessionFilter.from_query(parse_qsl(text)))
            case "ended_badly":
                return EndedBadlyCondition()
            case "handover":
                return HandoverCondition()
            case "started":
                return StartedCondition()
            case "ended":
                return EndedCondition()
    except ValidationError as exc:
        raise RuleFormError(f"{PART_KINDS[kind][0]}: {exc.errors()[0]['msg']}") from None
    except FilterError as exc:
        raise RuleFormError(f"Session filter: {exc}") from None
    raise RuleFormError(f"unknown condition {kind!r}")


def flat_parts(condition: Condition) -> tuple[str, list[Condition]]:
    """("all" | "any", parts) — nested groups are shown as their top level."""
    if isinstance(condition, AllCondition | AnyCondition):
        return condition.kind, list(condition.conditions)
    return "all", [condition]


class _PartRow(QWidget):
    def __init__(self, kind: str, value: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.kind = QComboBox(self)
        for key, (label, _) in PART_KINDS.items():
            self.kind.addItem(label, key)
        self.kind.setCurrentIndex(max(0, self.kind.findData(kind)))
        self.value = QLineEdit(value, self)
        self.remove = QPushButton("Remove", self)
        layout.addWidget(self.kind, 2)
        layout.addWidget(self.value, 2)
        layout.addWidget(self.remove)
        self.kind.currentIndexChanged.connect(self._on_kind_current_index_changed)
        self._on_kind_current_index_changed()

    def _on_kind_current_index_changed(self, _index: int = 0) -> None:
        needs = PART_KINDS[self.kind.currentData()][1]
        self.value.setEnabled(bool(needs))
        self.value.setPlaceholderText(needs)

    def condition(self) -> Condition:
        return parse_part(self.kind.currentData(), self.value.text())


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
        self.join = QComboBox(self)
        self.join.addItem("All of these (AND)", "all")
        self.join.addItem("Any of these (OR)", "any")
        join, parts = flat_parts(rule.condition)
        self.join.setCurrentIndex(self.join.findData(join))
        form.addRow("When", self.join)
        layout.addLayout(form)
        self.parts_box = QVBoxLayout()
        layout.addLayout(self.parts_box)
        self.rows: list[_PartRow] = []
        for part in parts:
            self.add_part(*part_text(part))
        add = QPushButton("Add condition", self)
        add.clicked.connect(lambda: self.add_part("wait", "60"))
        layout.addWidget(add, 0, Qt.AlignmentFlag.AlignLeft)
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

    def add_part(self, kind: str, value: str) -> None:
        row = _PartRow(kind, value, self)
        row.remove.clicked.connect(lambda: self._remove_part(row))
        self.rows.append(row)
        self.parts_box.addWidget(row)

    def _remove_part(self, row: _PartRow) -> None:
        if len(self.rows) > 1:
            self.rows.remove(row)
            row.setParent(None)
            row.deleteLater()

    def rule(self) -> Rule:
        parts = tuple(row.condition() for row in self.rows)
        if not parts:
            raise RuleFormError("add at least one condition")
        condition: Condition
        if len(parts) == 1:
            condition = parts[0]
        elif self.join.currentData() == "any":
            condition = AnyCondition(conditions=parts)
        else:
            condition = AllCondition(conditions=parts)
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
            join, parts = flat_parts(rule.condition)
            words = f" {'and' if join == 'all' else 'or'} ".join(
                f"{PART_KINDS[k][0].split(' (')[0].lower()} {v}{_UNITS.get(k, '')}".strip()
                for k, v in (part_text(p) for p in parts))
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
