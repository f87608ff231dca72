"""Saved views: a file round-trips, merges by name, and every bad file gets a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from supervisor_desk.models.filters import SessionFilter
from supervisor_desk.models.saved_views import (
    SavedViewError,
    analytics_view,
    dumps_views,
    history_view,
    loads_views,
    merge_views,
    read_views,
    rename_view,
    write_views,
)


def test_views_round_trip_through_a_file(tmp_path: Path) -> None:
    flt = SessionFilter(channel=("web", "phone"), live=False, q="refund")
    views = [history_view("Refunds", flt, "-wait", ["status", "agent", "wait"]),
             analytics_view("Phone month", SessionFilter(channel=("phone",)), "30d",
                            ["started", "wait"])]
    path = tmp_path / "views.json"
    write_views(path, views)
    again = read_views(path)
    assert again == views
    assert again[0].session_filter() == flt
    assert read_views(tmp_path / "missing.json") == []


def test_import_replaces_same_named_views_of_the_same_kind() -> None:
    old = history_view("Mine", SessionFilter(), "-started_at", ["status"])
    new = history_view("Mine", SessionFilter(live=True), "-started_at", ["status"])
    other = analytics_view("Mine", SessionFilter(), "7d", ["started"])
    merged = merge_views([old], [new, other])
    assert merged == [new, other]


@pytest.mark.parametrize(("text", "message"), [
    ("{", "invalid JSON"),
    ('{"format": "other"}', "not a views file"),
    ('{"format": "supervisor-desk-views", "version": 9, "views": []}', "version 9"),
    ('{"format": "supervisor-desk-views", "version": 1, "views": [{"name": "", '
     '"kind": "history"}]}', "view 1: name"),
    ('{"format": "supervisor-desk-views", "version": 1, "views": [{"name": "x", '
     '"kind": "history", "filter": {"channel": ["fax"]}}]}', "unknown channel"),
    ('{"format": "supervisor-desk-views", "version": 1, "views": [{"name": "x", '
     '"kind": "analytics", "range": "year"}]}', "unknown range"),
])
def test_bad_files_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(SavedViewError, match=message):
        loads_views(text)


def test_the_file_is_plain_json_to_share() -> None:
    text = dumps_views([history_view("A", SessionFilter(agent=("bot",)), "wait", ["id"])])
    data = json.loads(text)
    assert data["format"] == "supervisor-desk-views" and data["version"] == 1
    assert data["views"][0]["filter"] == {"agent": ["bot"]}


def test_rename_keeps_the_place_and_refuses_a_taken_or_empty_name() -> None:
    first = history_view("Mine", SessionFilter(), "-started_at", ["status"])
    second = history_view("Team", SessionFilter(team=("billing",)), "-wait", ["status"])
    chart = analytics_view("Billing", SessionFilter(), "7d", ["started"])
    views = [first, second, chart]
    renamed = rename_view(views, second, "  Billing  ")  # an Analytics view may share it
    assert [v.name for v in renamed] == ["Mine", "Billing", "Billing"]
    assert renamed[1].session_filter() == SessionFilter(team=("billing",))
    with pytest.raises(SavedViewError, match="already named"):
        rename_view(views, second, "Mine")
    with pytest.raises(SavedViewError, match="1 to 100"):
        rename_view(views, second, "   ")
