"""Test-wide setup: headless Qt, an isolated profile, a thread-leak guard, a hub on loopback."""

from __future__ import annotations

import gc
import os
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

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


@pytest.fixture(scope="session")
def qapp(qapp: QApplication) -> QApplication:
    """pytest-qt's QApplication, set up as the app sets its own (``DeskApp.run``): closing or
    hiding the last window never quits Qt, since the app lives on in the tray.

    With Qt's default, a test that closes its only window outside an event loop leaves a quit
    behind that stops the *next* test's qasync loop ("Event loop stopped before Future
    completed"), far from its cause. tests/views/conftest.py restores this after each test.
    """
    qapp.setQuitOnLastWindowClosed(False)
    return qapp


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
# Thread-leak guard (as napari does it): a thread a test started must be gone when it ends.
# A leaked thread is a shutdown bug in the code under test (an executor never shut down, a hub
# never stopped); it also keeps state alive into the next tests and can hang the interpreter
# at exit.

# While True, a leak fails the test (at teardown); while False it is reported as a warning.
THREAD_LEAKS_FAIL = True
# How long finished-but-not-yet-exited threads get to end (a worker returning from its last
# job, a server thread closing its socket) before they count as leaked.
THREAD_JOIN_GRACE = 2.0


class ThreadLeakWarning(UserWarning):
    """A test left threads running (reported while ``THREAD_LEAKS_FAIL`` is off)."""


def _is_known_global(thread: threading.Thread) -> bool:
    """Threads that cannot be told from a leak, so they are not counted.

    - A ``_DummyThread`` on Python 3.12: Python's stand-in for a thread it did not start (a
      QThread of qasync's executor, a Qt worker) once it ran Python code. Before 3.13 it stays
      in ``threading.enumerate()`` and ``is_alive()`` after the OS thread ended; from 3.13 on
      it disappears with its thread, so it is checked like any other.
    """
    return isinstance(thread, threading._DummyThread) and sys.version_info < (3, 13)


def _leaked_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    deadline = time.monotonic() + THREAD_JOIN_GRACE
    while True:
        leaked = [
            t for t in threading.enumerate()
            if t not in before and t.is_alive() and not _is_known_global(t)
        ]
        if not leaked or time.monotonic() >= deadline:
            return leaked
        time.sleep(0.02)  # polled, not joined: a _DummyThread cannot be joined


# Threads already reported: a leak is named once, by the first check that sees it.
_reported_threads: set[threading.Thread] = set()


def _report_leaks(where: str, before: set[threading.Thread]) -> None:
    leaked = [t for t in _leaked_threads(before) if t not in _reported_threads]
    if not leaked:
        return
    _reported_threads.update(leaked)
    names = ", ".join(sorted(f"{t.name} ({type(t).__name__})" for t in leaked))
    message = f"{where} left threads running: {names}"
    if THREAD_LEAKS_FAIL:
        pytest.fail(message, pytrace=False)
    warnings.warn(message, ThreadLeakWarning, stacklevel=2)


def _uses_wider_fixtures(item: pytest.Item) -> bool:
    """Whether the test uses a class/module/package-scoped fixture: its threads (a hub's
    worker pool growing on demand) may start during the test and end only with the fixture."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(
        definition.scope not in ("function", "session")
        for name, definitions in info.name2fixturedefs.items()
        if name != _no_leaked_threads_per_module.__name__
        for definition in definitions
    )


@pytest.fixture(autouse=True)
def _qt_garbage_dies_on_the_qt_thread() -> Iterator[None]:
    """After each test, collect its leftovers here, on the main thread.

    Python's cycle collector runs in whichever thread allocates when it is due: left for later,
    a finished test's Qt objects in reference cycles could be freed by the next test's hub or
    reader thread, off the Qt thread (a warning at best, a segfault in a full run at worst).
    The app itself avoids this with views/gc_policy.py; tests build view-models without it.
    """
    yield
    if "PySide6.QtCore" in sys.modules:
        from PySide6.QtCore import QCoreApplication

        if QCoreApplication.instance() is not None:
            gc.collect()


@pytest.fixture(scope="module", autouse=True)
def _no_leaked_threads_per_module(request: pytest.FixtureRequest) -> Iterator[None]:
    # Autouse at the root: set up before (so torn down after) the module's own fixtures.
    before = set(threading.enumerate())
    yield
    _report_leaks(f"{request.node.nodeid} (module-scoped fixtures)", before)


@pytest.fixture(autouse=True)
def _no_leaked_threads(request: pytest.FixtureRequest) -> Iterator[None]:
    # Autouse at the root: set up before (so torn down after) every function-scoped fixture.
    # Session fixtures start before it, so their threads count as "before".
    before = set(threading.enumerate())
    yield
    if not _uses_wider_fixtures(request.node):  # else the module check above decides
        _report_leaks(request.node.nodeid, before)


# --------------------------------------------------------------------------------------------
# A real hub on loopback (owner: hub engineer)

HUB_USERS = ("viewer", "supervisor", "admin")


@pytest.fixture(scope="session")
def _hub_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated database with the three users, made once: scrypt is slow on purpose."""
    from supervisor_desk.hub.store.sqlite import SqliteStore

    path = tmp_path_factory.mktemp("hub-template") / "hub.db"
    storage = SqliteStore(path)
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
