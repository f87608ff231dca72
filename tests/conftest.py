"""Test-wide setup: headless Qt, an isolated profile, an in-memory keyring."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Unit tests never need a display; tests/e2e starts its own Xvfb and overrides this.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _isolated_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point every settings/cache/log directory at the test's own folder."""
    profile = tmp_path / "profile"
    profile.mkdir()
    monkeypatch.setenv("SUPERVISOR_DESK_HOME", str(profile))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(profile / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(profile / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(profile / "cache"))
    monkeypatch.setenv("XDG_STATE_HOME", str(profile / "state"))
    yield profile
