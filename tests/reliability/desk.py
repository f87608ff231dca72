"""Shared parts of the reliability and security tests: a desktop's Qt-free path and traffic.

``Desk`` is what the desktop app runs without Qt: a HubClient, a FeedClient and a SessionStore
fed by it (the same listener contract LiveViewModel implements). ``Traffic`` makes a coherent
stream of ingest events (sessions start, talk, end) with ids unique across processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import ssl
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from supervisor_desk.client.feed import ConnectionState, FeedClient
from supervisor_desk.client.rest import HubClient
from supervisor_desk.models.state import SessionStore
from supervisor_desk.models.wire import LiveSnapshot, StoredEvent
from tests.helpers import wait_until


def stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Traffic:
    """A deterministic contact-centre-ish stream: ``batch(n)`` returns n valid events."""

    def __init__(self, seed: int = 1, live_target: int = 30) -> None:
        self.rng = random.Random(seed)
        self.prefix = uuid.uuid4().hex[:8]
        self.live: list[str] = []
        self.live_target = live_target
        self._sessions = itertools.count(1)
        self._events = itertools.count(1)

    def _event(self, kind: str, sid: str, data: dict[str, Any]) -> dict[str, Any]:
        return {"id": f"{self.prefix}-e{next(self._events)}", "type": kind, "session_id": sid,
                "at": stamp(), "data": data}

    def next_event(self) -> dict[str, Any]:
        roll = self.rng.random()
        if not self.live or (len(self.live) < self.live_target and roll < 0.15):
            sid = f"{self.prefix}-s{next(self._sessions)}"
            self.live.append(sid)
            return self._event("session.started", sid, {
                "agent": {"id": "agent-1", "name": "Support bot"}, "channel": "web",
                "status": "active", "user": {"id": f"u-{sid}", "name": "Customer"},
            })
        sid = self.rng.choice(self.live)
        if roll < 0.22:
            self.live.remove(sid)
            return self._event("session.ended", sid,
                               {"status": "completed", "end_reason": "resolved"})
        if roll < 0.3:
            return self._event("session.updated", sid, {"stage": f"stage-{self.rng.randint(1, 9)}"})
        n = next(self._events)
        return self._event("message.created", sid, {
            "id": f"{self.prefix}-m{n}", "at": stamp(),
            "author": {"role": self.rng.choice(["customer", "ai"])}, "text": f"message {n}",
        })

    def batch(self, n: int) -> list[dict[str, Any]]:
        return [self.next_event() for _ in range(n)]


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


Fingerprint = dict[str, tuple[str, int, str | None]]
LIVE = ("queued", "active")


def live_state(url: str, token: str, verify: bool | str = True) -> tuple[int, Fingerprint]:
    """``(seq, {session id: (status, message count, stage)})`` of the hub's ``GET /live``."""
    trust = ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
    answer = httpx.get(f"{url}/api/v1/live", headers=auth(token), timeout=30, verify=trust)
    answer.raise_for_status()
    body = answer.json()
    return body["seq"], {
        s["id"]: (s["status"], s["message_count"], s["stage"]) for s in body["sessions"]
    }


class Desk:
    """The desktop's Qt-free live path, recording what it was told."""

    def __init__(self, client: HubClient, *, record: bool = True, **options: Any) -> None:
        self.client = client
        self.store = SessionStore()
        self.snapshots = 0
        # ``record=False`` (soak): keep counts only, so the harness does not grow in memory.
        self.record = record
        self.events = 0
        self.out_of_order = 0
        self.last_seq = 0
        self.seqs: list[int] = []
        self.event_ids: list[str] = []
        self.states: list[tuple[float, ConnectionState, str]] = []
        options.setdefault("backoff_base", 0.05)
        options.setdefault("backoff_max", 0.5)
        self.feed = FeedClient(client, self, **options)
        self.task: asyncio.Task[None] | None = None

    # FeedListener
    def on_snapshot(self, snapshot: LiveSnapshot) -> None:
        self.snapshots += 1
        self.store.reset(snapshot.sessions)

    def on_event(self, seq: int, event: StoredEvent, replayed: bool) -> None:
        self.events += 1
        if seq <= self.last_seq:
            self.out_of_order += 1
        self.last_seq = seq
        if self.record:
            self.seqs.append(seq)
            self.event_ids.append(event.id)
        self.store.apply(event)

    def on_state(self, state: ConnectionState, retry_in: float | None, detail: str) -> None:
        self.states.append((asyncio.get_running_loop().time(), state, detail))

    @property
    def state(self) -> ConnectionState | None:
        return self.states[-1][1] if self.states else None

    def saw(self, state: ConnectionState) -> bool:
        return any(s is state for _, s, _ in self.states)

    def fingerprint(self) -> Fingerprint:
        """The live sessions as the desk shows them (ended rows wait for Refresh: left out)."""
        return {
            s.id: (s.status, s.message_count, s.stage) for s in self.store if s.status in LIVE
        }

    def start(self) -> None:
        self.task = asyncio.create_task(self.feed.run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None

    async def until(self, predicate: Callable[[], bool], timeout: float = 20.0) -> None:
        await wait_until(predicate, timeout)

    async def connected(self, timeout: float = 20.0) -> None:
        await self.until(lambda: self.state is ConnectionState.CONNECTED, timeout)

    async def caught_up(self, url: str, token: str, timeout: float = 20.0,
                        verify: bool | str = True) -> None:
        """Wait until the desk holds exactly the hub's live state (same seq, same versions)."""
        seq, hub = await asyncio.to_thread(live_state, url, token, verify)
        await self.until(lambda: self.feed.seq >= seq, timeout)
        assert self.feed.seq == seq, "the desk is ahead of the hub"
        assert self.fingerprint() == hub

    def assert_no_doubles(self) -> None:
        """Every event the listener got is distinct, and the seqs it got grow by 1 between
        snapshots (a resync may restart the count from a snapshot's seq)."""
        assert len(self.event_ids) == len(set(self.event_ids)), "an event was applied twice"
        assert all(b > a for a, b in itertools.pairwise(self.seqs)), "seq went backwards"


async def call(method: str, url: str, **options: Any) -> httpx.Response:
    """A one-off HTTP request from async test code, off the event loop."""
    return await asyncio.to_thread(httpx.request, method, url, **options)
