"""The alert rules file: defaults on first run, atomic save, nothing lost, export/import."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervisor_desk.client.alert_rules_store import (
    RulesFileError,
    load_rules,
    merge_imported,
    read_rules_file,
    save_rules,
    write_rules_file,
)
from supervisor_desk.models.alerts.defaults import default_rules
from supervisor_desk.models.alerts.rules import KeywordCondition, Rule, RuleSet


def test_first_run_gets_the_default_rules(tmp_path: Path) -> None:
    rules, warning = load_rules(tmp_path / "alert-rules.json")
    assert warning is None
    assert [r.id for r in rules.rules][:3] == ["wait-60", "wait-180", "failed"]


def test_saved_rules_load_back(tmp_path: Path) -> None:
    path = tmp_path / "alert-rules.json"
    rules = default_rules().model_copy(update={"volume": 0.3, "muted": True})
    save_rules(rules, path)
    assert load_rules(path) == (rules, None)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_unreadable_file_is_kept_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "alert-rules.json"
    path.write_text('{"format": "supervisor-desk-alert-rules", "version": 1, "rules": [{}]}')
    rules, warning = load_rules(path)
    assert rules == default_rules()
    assert warning is not None and "invalid rule" in warning and "unreadable" in warning
    assert (tmp_path / "alert-rules.json.unreadable").exists()


@pytest.mark.parametrize(("text", "reason"), [
    ("not json", "not valid JSON"),
    ('{"rules": []}', "not a Supervisor Desk alert rules file"),
    ('{"format": "supervisor-desk-alert-rules", "version": 9}', "version 9"),
])
def test_bad_import_says_why(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "shared.json"
    path.write_text(text)
    with pytest.raises(RulesFileError, match=reason):
        read_rules_file(path)


def test_import_merges_by_id_and_keeps_personal_settings(tmp_path: Path) -> None:
    mine = default_rules().model_copy(update={"volume": 0.2})
    shared_rule = Rule(id="refund", name="Refund", condition=KeywordCondition(phrases=("refund",)))
    changed = mine.rules[0].model_copy(update={"name": "Team wait"})
    path = write_rules_file(tmp_path / "team.json", RuleSet(rules=(changed, shared_rule)))
    merged = merge_imported(mine, read_rules_file(path))
    assert merged.volume == 0.2
    assert merged.rules[0].name == "Team wait"
    assert merged.rules[-1].id == "refund"
    assert len(merged.rules) == len(mine.rules) + 1
