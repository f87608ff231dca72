"""One resolver of the desktop's folders: SUPERVISOR_DESK_HOME, else the platform's."""

from __future__ import annotations

from pathlib import Path

import platformdirs
import pytest

from supervisor_desk.client import paths


def test_home_puts_every_folder_under_it(_isolated_profile: Path) -> None:
    assert paths.config_dir() == _isolated_profile / "config"
    assert paths.data_dir() == _isolated_profile / "data"
    assert paths.cache_dir() == _isolated_profile / "cache"
    assert paths.state_dir() == _isolated_profile / "state"
    assert paths.log_dir() == _isolated_profile / "logs"
    assert paths.preferences_path() == _isolated_profile / "config" / "preferences.json"
    assert paths.ui_state_path() == _isolated_profile / "config" / "ui-state.ini"
    assert paths.log_path() == _isolated_profile / "logs" / "supervisor-desk.log"


def test_without_home_the_platform_folders_are_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUPERVISOR_DESK_HOME")
    assert paths.config_dir() == platformdirs.user_config_path("supervisor-desk")
    assert paths.data_dir() == platformdirs.user_data_path("supervisor-desk")
    assert paths.cache_dir() == platformdirs.user_cache_path("supervisor-desk")
    assert paths.state_dir() == platformdirs.user_state_path("supervisor-desk")
    assert paths.log_dir() == platformdirs.user_log_path("supervisor-desk")


def test_nothing_else_reads_the_home_variable() -> None:
    src = Path(paths.__file__).resolve().parents[1]
    readers = sorted(str(p.relative_to(src)) for p in src.rglob("*.py")
                     if "\"SUPERVISOR_DESK_HOME\"" in p.read_text(encoding="utf-8")
                     and p.name != "paths.py")
    assert readers == []
