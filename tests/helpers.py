"""Small helpers shared by tests (not fixtures): waiting, the in-memory keyring, a feed recorder,
marking a folder's tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import keyring.backend
import keyring.errors
import pytest

from supervisor_desk.client.feed import ConnectionState
from supervisor_desk.models.state import SessionStore
from supervisor_desk.models.wire import LiveSnapshot, StoredEvent


def mark_tests_under(folder: Path, items: Iterable[pytest.Item],
                     *marks: pytest.MarkDecorator) -> None:
    """Give every collected test in ``folder`` (a conftest's own folder) ``marks``."""
    for item in items:
        if folder in Path(str(item.path)).resolve().parents:
            for mark in marks:
                item.add_marker(mark)


def poll_until[T](condition: Callable[[], T | None], timeout: float = 60.0) -> T:
    """Block (no event loop: another process or thread does the work) until ``condition()``
    returns something true, and return it; checked every 50 ms."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Await until ``predicate()`` is true, letting Qt and asyncio run meanwhile."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.02)


class MemoryKeyring(keyring.backend.KeyringBackend):
    """An in-memory keyring: the only fake in the suite, at the edge (the OS secret store).

    It behaves as the real backends do where the code depends on it: deleting a missing entry
    raises ``PasswordDeleteError``.
    """

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.secrets.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.secrets[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self.secrets[(service, username)]
        except KeyError:
            raise keyring.errors.PasswordDeleteError(username) from None


class FeedRecorder:
    """A FeedListener that keeps what a desktop would: the store and what it was told."""

    def __init__(self) -> None:
        self.store = SessionStore()
        self.snapshots: list[LiveSnapshot] = []
        self.events: list[tuple[int, str, bool]] = []  # (seq, event id, replayed)
        self.states: list[tuple[ConnectionState, float | None, str]] = []

    def on_snapshot(self, snapshot: LiveSnapshot) -> None:
        self.snapshots.append(snapshot)
        self.store.reset(snapshot.sessions)

    def on_event(self, seq: int, event: StoredEvent, replayed: bool) -> None:
        self.events.append((seq, event.id, replayed))
        self.store.apply(event)

    def on_state(self, state: ConnectionState, retry_in: float | None, detail: str) -> None:
        self.states.append((state, retry_in, detail))

    @property
    def state(self) -> ConnectionState | None:
        return self.states[-1][0] if self.states else None

    def ids(self, start: int = 0) -> list[str]:
        return [event_id for _, event_id, _ in self.events[start:]]
