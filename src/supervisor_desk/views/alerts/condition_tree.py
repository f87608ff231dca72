"""A rule's condition as the editor shows it: a tree of groups (AND / OR) and parts.

Each part is one kind with its value (seconds, minutes, phrases, ``key=value``, or a session
filter as query text such as ``channel=web&status=queued``, the same words as the History
filters). Each group joins its members with "All of these (AND)" or "Any of these (OR)" and
can hold parts and further groups, e.g. *waits over 60 s AND (channel is phone OR tier is
gold)*. A group with one member is saved as that member.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode

from pydantic import ValidationError
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from supervisor_desk.models.alerts.rules import (
    CONDITION_PARTS,
    PART_NUMBERS,
    AllCondition,
    AnyCondition,
    Condition,
    FilterCondition,
    KeywordCondition,
    MetadataCondition,
    condition_part,
)
from supervisor_desk.models.filters import FilterError, SessionFilter

# How the editor shows each part kind: (label, what the value field asks for, "" when it
# takes none). The kinds and their order are the models' (CONDITION_PARTS).
_LABELS: dict[str, tuple[str, str]] = {
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
PART_KINDS: dict[str, tuple[str, str]] = {kind: _LABELS[kind] for kind in CONDITION_PARTS}
JOINS = {"all": "All of these (AND)", "any": "Any of these (OR)"}
_UNITS = {"wait": " s", "no_reply": " s", "duration": " min"}
# "Add group" stops at this depth (deeper trees are legal and shown, but hard to read).
MAX_LEVEL = 4


class RuleFormError(ValueError):
    pass


def part_text(condition: Condition) -> tuple[str, str]:
    """(kind, value text) of one part (not a group), for the editor's row."""
    match condition:
        case KeywordCondition(phrases=phrases):
            return "keyword", ", ".join(phrases)
        case MetadataCondition(key=key, value=value):
            return "metadata", f"{key}={value}"
        case FilterCondition(filter=session_filter):
            return "filter", urlencode(session_filter.to_query())
    number = PART_NUMBERS.get(condition.kind)
    return condition.kind, "" if number is None else str(getattr(condition, number))


def describe(condition: Condition, *, nested: bool = False) -> str:
    """The condition in words for the rules list: groups in brackets, ``and`` / ``or``."""
    if isinstance(condition, AllCondition | AnyCondition):
        joiner = " and " if condition.kind == "all" else " or "
        words = joiner.join(describe(c, nested=True) for c in condition.conditions)
        return f"({words})" if nested and len(condition.conditions) > 1 else words
    kind, value = part_text(condition)
    return f"{PART_KINDS[kind][0].split(' (')[0].lower()} {value}{_UNITS.get(kind, '')}".strip()


def parse_part(kind: str, text: str) -> Condition:
    """One condition from the editor's row, with an error the user can act on."""
    text = text.strip()
    if kind not in PART_KINDS:
        raise RuleFormError(f"unknown condition {kind!r}")
    values: dict[str, object] = {}
    try:
        if (number := PART_NUMBERS.get(kind)) is not None:
            if not re.fullmatch(r"\d{1,7}", text):
                raise RuleFormError(f"{PART_KINDS[kind][0]}: a whole number of "
                                    f"{PART_KINDS[kind][1]}")
            values[number] = int(text)
        elif kind == "keyword":
            values["phrases"] = tuple(p.strip() for p in text.split(",") if p.strip())
        elif kind == "metadata":
            key, sep, value = text.partition("=")
            if not sep or not key.strip():
                raise RuleFormError("Metadata: write key=value, e.g. sentiment=negative")
            values.update(key=key.strip(), value=value.strip())
        elif kind == "filter":
            values["filter"] = SessionFilter.from_query(parse_qsl(text))
        return condition_part(kind, **values)
    except ValidationError as exc:
        raise RuleFormError(f"{PART_KINDS[kind][0]}: {exc.errors()[0]['msg']}") from None
    except FilterError as exc:
        raise RuleFormError(f"Session filter: {exc}") from None


class PartRow(QWidget):
    """One part: its kind, its value, Remove."""

    remove_requested = Signal(QWidget)

    def __init__(self, kind: str, value: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.kind = QComboBox(self)
        self.kind.setAccessibleName("Condition")
        for key, (label, _) in PART_KINDS.items():
            self.kind.addItem(label, key)
        self.kind.setCurrentIndex(max(0, self.kind.findData(kind)))
        # The labels are long; the value needs the room (the list shows each label whole).
        self.kind.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.kind.setMinimumContentsLength(22)
        self.value = QLineEdit(value, self)
        self.value.setAccessibleName("Value")
        self.value.setMinimumWidth(self.value.fontMetrics().horizontalAdvance("channel=web&x"))
        self.remove = QPushButton("Remove", self)
        layout.addWidget(self.kind, 3)
        layout.addWidget(self.value, 2)
        layout.addWidget(self.remove)
        self.kind.currentIndexChanged.connect(self._on_kind_current_index_changed)
        self.remove.clicked.connect(self._on_remove_clicked)
        self._on_kind_current_index_changed()

    def _on_kind_current_index_changed(self, _index: int = 0) -> None:
        needs = PART_KINDS[self.kind.currentData()][1]
        self.value.setEnabled(bool(needs))
        self.value.setPlaceholderText(needs)

    def _on_remove_clicked(self) -> None:
        self.remove_requested.emit(self)

    def condition(self) -> Condition:
        return parse_part(self.kind.currentData(), self.value.text())


class GroupBox(QFrame):
    """A group: AND / OR over its members (parts and groups), Add condition, Add group."""

    remove_requested = Signal(QWidget)

    def __init__(self, join: str = "all", *, level: int = 0,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("conditionGroup")
        self.level = level
        if level:
            self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8 if level else 0, 4 if level else 0, 4 if level else 0, 4)
        header = QHBoxLayout()
        self.join = QComboBox(self)
        self.join.setAccessibleName("Join the conditions of this group with")
        for key, label in JOINS.items():
            self.join.addItem(label, key)
        self.join.setCurrentIndex(self.join.findData(join))
        header.addWidget(self.join)
        header.addStretch(1)
        self.add_part_button = QPushButton("Add condition", self)
        self.add_group_button = QPushButton("Add group", self)
        self.add_group_button.setToolTip("A bracketed group of conditions with its own AND/OR")
        self.add_group_button.setEnabled(level + 1 < MAX_LEVEL)
        header.addWidget(self.add_part_button)
        header.addWidget(self.add_group_button)
        self.remove_button: QPushButton | None = None
        if level:
            self.remove_button = QPushButton("Remove group", self)
            self.remove_button.clicked.connect(self._on_remove_button_clicked)
            header.addWidget(self.remove_button)
        layout.addLayout(header)
        self._members_box = QVBoxLayout()
        layout.addLayout(self._members_box)
        self.members: list[PartRow | GroupBox] = []
        self.add_part_button.clicked.connect(self._on_add_part_button_clicked)
        self.add_group_button.clicked.connect(self._on_add_group_button_clicked)

    # ------------------------------------------------------------------ building

    def add_part(self, kind: str = "wait", value: str = "60") -> PartRow:
        row = PartRow(kind, value, self)
        self._add(row)
        return row

    def add_group(self, join: str = "any") -> GroupBox:
        group = GroupBox(join, level=self.level + 1, parent=self)
        self._add(group)
        return group

    def load(self, conditions: tuple[Condition, ...]) -> None:
        for condition in conditions:
            if isinstance(condition, AllCondition | AnyCondition):
                # Shown however deep it is (a shared file may nest more than the dialog
                # lets one add): nothing of a rule is lost by opening and saving it.
                self.add_group(condition.kind).load(condition.conditions)
            else:
                self.add_part(*part_text(condition))

    def _add(self, member: PartRow | GroupBox) -> None:
        member.remove_requested.connect(self._on_member_remove_requested)
        self.members.append(member)
        self._members_box.addWidget(member)

    def _on_add_part_button_clicked(self) -> None:
        self.add_part()

    def _on_add_group_button_clicked(self) -> None:
        group = self.add_group("any" if self.join.currentData() == "all" else "all")
        group.add_part()

    def _on_remove_button_clicked(self) -> None:
        self.remove_requested.emit(self)

    def _on_member_remove_requested(self, member: QWidget) -> None:
        if member in self.members:
            self.members.remove(member)
            member.setParent(None)
            member.deleteLater()

    # ------------------------------------------------------------------ reading

    def part_rows(self) -> list[PartRow]:
        """Every part of the tree, depth first (in the order shown)."""
        out: list[PartRow] = []
        for member in self.members:
            out.extend([member] if isinstance(member, PartRow) else member.part_rows())
        return out

    def condition(self) -> Condition:
        parts = tuple(member.condition() for member in self.members)
        if not parts:
            raise RuleFormError("add at least one condition to every group"
                                if self.level else "add at least one condition")
        if len(parts) == 1:
            return parts[0]
        if len(parts) > 20:
            raise RuleFormError("a group holds at most 20 conditions")
        if self.join.currentData() == "any":
            return AnyCondition(conditions=parts)
        return AllCondition(conditions=parts)


def condition_tree(condition: Condition, parent: QWidget | None = None) -> GroupBox:
    """The editor's tree for ``condition`` (a single part becomes a group of one)."""
    if isinstance(condition, AllCondition | AnyCondition):
        root = GroupBox(condition.kind, parent=parent)
        root.load(condition.conditions)
    else:
        root = GroupBox("all", parent=parent)
        root.load((condition,))
    return root
