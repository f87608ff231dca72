"""The rule editor edits a condition tree: groups with their own AND/OR, added and removed."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from supervisor_desk.models.alerts.rules import (
    AllCondition,
    AnyCondition,
    FilterCondition,
    MetadataCondition,
    NoReplyCondition,
    Rule,
    RuleSet,
    WaitCondition,
)
from supervisor_desk.models.filters import SessionFilter
from supervisor_desk.views.alerts.condition_tree import GroupBox, PartRow, describe
from supervisor_desk.views.alerts.editor import AlertRulesDialog, RuleDialog

PHONE = FilterCondition(filter=SessionFilter(channel=("phone",)))
GOLD = MetadataCondition(key="tier", value="gold")


def _click(button: object) -> None:
    QTest.mouseClick(button, Qt.MouseButton.LeftButton)  # type: ignore[call-overload]


def test_a_nested_rule_opens_as_its_tree_and_saves_unchanged(qtbot: QtBot) -> None:
    condition = AllCondition(conditions=(
        WaitCondition(seconds=60),
        AnyCondition(conditions=(PHONE, AllCondition(conditions=(GOLD, NoReplyCondition(
            seconds=30))))),
    ))
    dialog = RuleDialog(Rule(id="r", name="Deep", condition=condition))
    qtbot.addWidget(dialog)
    root = dialog.tree
    assert root.join.currentData() == "all"
    inner = root.members[1]
    assert isinstance(inner, GroupBox) and inner.join.currentData() == "any"
    assert isinstance(inner.members[1], GroupBox) and inner.members[1].level == 2
    assert [row.kind.currentData() for row in dialog.rows] == [
        "wait", "filter", "metadata", "no_reply"]
    assert dialog.rule().condition == condition
    assert describe(condition) == (
        "waits in the queue longer than 60 s and (session filter channel=phone or "
        "(metadata value tier=gold and no reply to the customer for 30 s))")


def test_add_a_group_switch_its_join_and_remove_it(qtbot: QtBot) -> None:
    dialog = RuleDialog(Rule(id="r", name="Wait", condition=WaitCondition(seconds=90)))
    qtbot.addWidget(dialog)
    dialog.show()
    root = dialog.tree
    _click(root.add_group_button)  # an OR group under the AND, with one part to fill in
    group = root.members[-1]
    assert isinstance(group, GroupBox) and group.join.currentData() == "any"
    group.members[0].kind.setCurrentIndex(group.members[0].kind.findData("filter"))
    group.members[0].value.setText("channel=phone")
    _click(group.add_part_button)
    last = group.members[-1]
    assert isinstance(last, PartRow)
    last.kind.setCurrentIndex(last.kind.findData("metadata"))
    last.value.setText("tier=gold")
    assert dialog.rule().condition == AllCondition(conditions=(
        WaitCondition(seconds=90), AnyCondition(conditions=(PHONE, GOLD))))

    group.join.setCurrentIndex(group.join.findData("all"))  # switch the group to AND
    root.join.setCurrentIndex(root.join.findData("any"))  # and the top to OR
    assert dialog.rule().condition == AnyCondition(conditions=(
        WaitCondition(seconds=90), AllCondition(conditions=(PHONE, GOLD))))

    _click(group.members[0].remove)  # a group of one part is saved as that part
    assert dialog.rule().condition == AnyCondition(conditions=(WaitCondition(seconds=90), GOLD))
    assert group.remove_button is not None
    _click(group.remove_button)
    assert dialog.rule().condition == WaitCondition(seconds=90)


def test_an_empty_group_is_a_clear_error_and_nothing_is_saved(qtbot: QtBot) -> None:
    dialog = RuleDialog(Rule(id="r", name="Wait", condition=WaitCondition(seconds=90)))
    qtbot.addWidget(dialog)
    group = dialog.tree.add_group("any")
    dialog._on_buttons_accepted()
    assert dialog.result_rule is None
    assert "every group" in dialog.error.text()
    group.add_part("metadata", "sentiment")
    dialog._on_buttons_accepted()
    assert dialog.result_rule is None and "key=value" in dialog.error.text()


def test_the_rules_list_words_nested_conditions(qtbot: QtBot) -> None:
    rule = Rule(id="r", name="VIP wait", condition=AllCondition(conditions=(
        WaitCondition(seconds=30), AnyCondition(conditions=(PHONE, GOLD)))))
    dialog = AlertRulesDialog(RuleSet(rules=(rule,)))
    qtbot.addWidget(dialog)
    item = dialog.list.item(0)
    assert item is not None
    assert item.text() == ("VIP wait — waits in the queue longer than 30 s and "
                           "(session filter channel=phone or metadata value tier=gold)")
