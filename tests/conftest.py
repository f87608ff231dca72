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


@pytest.fixture(scope="session")
def _hub_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated database with the three users, made once: scrypt is slow on purpose."""
    from supervisor_desk.hub.storage import Storage

    path = tmp_path_factory.mktemp("hub-template") / "hub.db"
    storage = Storage(path)
    for name in HUB_USERS:
        storage.add_user(name, name, name)
    storage.close()  # the last connection checkpoints: the file alone holds everything
    return path


@pytest.fixture
def running_hub(tmp_path: Path, _hub_template: Path) -> Iterator[EmbeddedHub]:
    """A started hub on a fresh SQLite file, users viewer/supervisor/admin (password = name),
    and ``hub.ingest_token`` for posting events."""
    import shutil
    import sqlite3
    import uuid

    from supervisor_desk.hub.embedded import EmbeddedHub

    db = tmp_path / "hub.db"
    shutil.copyfile(_hub_template, db)
    with sqlite3.connect(db) as conn:  # each hub has its own epoch, as a new file would
        conn.execute("UPDATE meta SET value = ? WHERE key = 'epoch'", (uuid.uuid4().hex,))
    conn.close()
    hub = EmbeddedHub(db)
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
