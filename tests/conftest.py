"""Test-wide setup: headless Qt, an isolated profile, an in-memory keyring."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from supervisor_desk.hub.embedded import EmbeddedHub

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


# --------------------------------------------------------------------------------------------
# A real hub on loopback (owner: hub engineer)

HUB_USERS = ("viewer", "supervisor", "admin")


@pytest.fixture
def running_hub(tmp_path: Path) -> Iterator[EmbeddedHub]:
    """A started hub on a fresh SQLite file, users viewer/supervisor/admin (password = name),
    and ``hub.ingest_token`` for posting events."""
    from supervisor_desk.hub.embedded import EmbeddedHub

    hub = EmbeddedHub(tmp_path / "hub.db")
    for name in HUB_USERS:
        hub.add_user(name, name, name)
    hub.ingest_token = hub.create_token("tests", "ingest")  # type: ignore[attr-defined]
    hub.start()
    try:
        yield hub
    finally:
        hub.stop()


def ingest(hub: EmbeddedHub, events: list[dict[str, Any]]) -> dict[str, Any]:
    """Post ``events`` to the hub's ingest endpoint; returns the JSON answer (raises on non-200)."""
    import httpx

    answer = httpx.post(
        f"{hub.url}/api/v1/ingest",
        json={"events": events},
        headers={"Authorization": f"Bearer {hub.ingest_token}"},  # type: ignore[attr-defined]
        timeout=30.0,
    )
    if answer.status_code != 200:
        raise AssertionError(f"ingest failed: {answer.status_code} {answer.text}")
    result: dict[str, Any] = answer.json()
    return result
