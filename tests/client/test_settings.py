"""Preferences: saved atomically under the profile, defaults when damaged, never secrets."""

from __future__ import annotations

import json
from pathlib import Path

from supervisor_desk.client.settings import (
    Preferences,
    config_dir,
    load_preferences,
    preferences_path,
)


def test_first_run_has_defaults_and_no_warning(_isolated_profile: Path) -> None:
    prefs, warning = load_preferences()
    assert warning is None
    assert prefs.time_zone == "local"
    assert prefs.live_order == "longest_wait"
    assert prefs.notifications.new_sessions and prefs.notifications.ended_sessions
    assert not prefs.notifications.paused
    assert prefs.servers == [] and prefs.recent_files == []


def test_saved_preferences_round_trip_under_the_profile(_isolated_profile: Path) -> None:
    prefs = Preferences()
    prefs.remember_sign_in("http://127.0.0.1:8765/", "ana")
    prefs.remember_sign_in("https://hub.example.com", "bob")
    prefs.remember_sign_in("http://127.0.0.1:8765", "ana")
    prefs.time_zone = "Europe/Berlin"
    prefs.live_order = "arrival"
    prefs.notifications.paused = True
    prefs.notifications.ended_sessions = False
    prefs.add_recent_file(_isolated_profile / "a.jsonl")
    prefs.last_export_dir = str(_isolated_profile)
    path = prefs.save()
    assert path == preferences_path() == _isolated_profile / "config" / "preferences.json"
    assert config_dir() == _isolated_profile / "config"

    loaded, warning = load_preferences()
    assert warning is None
    assert loaded == prefs
    assert loaded.servers == ["http://127.0.0.1:8765", "https://hub.example.com"]
    assert loaded.last_server == "http://127.0.0.1:8765" and loaded.last_username == "ana"
    assert loaded.usernames["https://hub.example.com"] == "bob"
    assert [p.name for p in path.parent.iterdir()] == ["preferences.json"]  # no temp left


def test_corrupt_file_gives_defaults_and_a_warning(_isolated_profile: Path) -> None:
    path = preferences_path()
    path.parent.mkdir(parents=True)
    path.write_text("{not json", encoding="utf-8")
    prefs, warning = load_preferences()
    assert prefs == Preferences()
    assert warning is not None and "default" in warning
    # The next save repairs it.
    prefs.save()
    assert load_preferences()[1] is None


def test_invalid_fields_reset_alone(_isolated_profile: Path) -> None:
    path = preferences_path()
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({
        "servers": ["https://a.example"], "time_zone": "Mars/Olympus",
        "live_order": "random", "last_username": "ana",
    }), encoding="utf-8")
    prefs, warning = load_preferences()
    assert prefs.servers == ["https://a.example"] and prefs.last_username == "ana"
    assert prefs.time_zone == "local" and prefs.live_order == "longest_wait"
    assert warning is not None and "time_zone" in warning and "live_order" in warning


def test_wrong_shape_and_binary_garbage_never_crash(_isolated_profile: Path) -> None:
    path = preferences_path()
    path.parent.mkdir(parents=True)
    for content in (b"[1, 2]", b"\xff\xfe\x00garbage", b'{"servers": 5, "notifications": 1}'):
        path.write_bytes(content)
        prefs, warning = load_preferences()
        assert isinstance(prefs, Preferences) and warning is not None


def test_no_secrets_are_written(_isolated_profile: Path) -> None:
    prefs = Preferences()
    prefs.remember_sign_in("https://ana:hunter2@hub.example.com/?token=abc", "ana")
    text = prefs.save().read_text(encoding="utf-8")
    assert "hunter2" not in text and "abc" not in text
    assert json.loads(text)["servers"] == ["https://hub.example.com"]


def test_recent_files_are_capped_and_deduplicated(tmp_path: Path) -> None:
    prefs = Preferences()
    for i in range(15):
        prefs.add_recent_file(tmp_path / f"{i}.json")
    prefs.add_recent_file(tmp_path / "3.json")
    assert len(prefs.recent_files) == 10
    assert prefs.recent_files[0].endswith("3.json")
    assert len(set(prefs.recent_files)) == 10


def test_forget_server() -> None:
    prefs = Preferences()
    prefs.remember_sign_in("https://a.example", "ana")
    prefs.remember_sign_in("https://b.example", "bob")
    prefs.forget_server("https://b.example")
    assert prefs.servers == ["https://a.example"] and prefs.last_server == "https://a.example"


def test_theme_choice_round_trips_and_a_bad_one_resets_alone(_isolated_profile: Path) -> None:
    prefs = Preferences()
    assert prefs.theme == "system"
    prefs.theme = "high_contrast"
    prefs.save()
    assert load_preferences()[0].theme == "high_contrast"
    path = preferences_path()
    path.write_text(json.dumps({"theme": "sepia", "time_zone": "UTC"}), encoding="utf-8")
    loaded, warning = load_preferences()
    assert loaded.theme == "system" and loaded.time_zone == "UTC"
    assert warning is not None and "theme" in warning
