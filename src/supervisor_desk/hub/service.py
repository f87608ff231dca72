"""The hub's runtime: the store, the writer and reader threads, the feed broadcaster, throttling.

The event loop never waits on the database itself: reads go to a small reader pool and writes to
a single writer thread, which is what keeps ``seq`` gap-free.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from supervisor_desk.hub.feed import Broadcaster
from supervisor_desk.hub.ratelimit import IngestRateLimit, SharesLimits
from supervisor_desk.hub.revocation import TOKEN_CHECK_SECONDS
from supervisor_desk.hub.store.interface import HubStore, IngestOutcome, ParsedEvent

T = TypeVar("T")

LOGIN_TTL = timedelta(hours=12)
# Batches merged into one commit at most (bounds the transaction and the wait of the first).
_GROUP_MAX = 32


@dataclass(frozen=True)
class SignInVerdict:
    """What the throttle says about one sign-in attempt before the password is checked."""

    refuse_for: float | None = None  # seconds: answer 429 with this Retry-After
    delay: float = 0.0  # seconds to wait before checking the password


class LoginThrottle:
    """Failed sign-ins per (user name, client address) pair and per address, in a window.

    Keyed by the pair, not the name: an attacker who fails five times for a user locks out
    that user from the attacker's address only, never from anywhere else. From an address the
    user has signed in from before (a *known* address), going over the limit slows attempts
    down instead (a growing delay, one attempt at a time), so even there a correct password
    still gets in. An address over its own limit (a spray over many names) is refused for all
    names it has never signed in with.
    """

    shared = False  # counted in a store several replicas share: ask it off the event loop

    def __init__(
        self,
        *,
        per_pair: int = 5,
        per_address: int = 20,
        window: float = 60.0,
        base_delay: float = 1.0,
        max_delay: float = 10.0,
        known_for: float = 30 * 86400.0,
    ) -> None:
        self.per_pair = per_pair
        self.per_address = per_address
        self.window = window
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.known_for = known_for
        self._failures: dict[str, deque[float]] = {}
        self._known: dict[tuple[str, str], float] = {}  # last successful sign-in
        self._turns: dict[tuple[str, str], asyncio.Lock] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    @staticmethod
    def _keys(name: str, address: str) -> tuple[str, str]:
        return f"p:{address}\x00{name}", f"a:{address}"

    def is_known(self, name: str, address: str) -> bool:
        seen = self._known.get((name, address))
        return seen is not None and seen > time.monotonic() - self.known_for

    def verdict(self, name: str, address: str) -> SignInVerdict:
        now = time.monotonic()
        pair_key, address_key = self._keys(name, address)
        pair = self._recent(pair_key, now)
        spray = self._recent(address_key, now)
        over = [
            times[0] + self.window - now
            for times, limit in ((pair, self.per_pair), (spray, self.per_address))
            if len(times) >= limit
        ]
        if not over:
            return SignInVerdict()
        if not self.is_known(name, address):
            return SignInVerdict(refuse_for=max(over))
        excess = max(0, len(pair) - self.per_pair)
        return SignInVerdict(delay=min(self.max_delay, self.base_delay * 2.0**excess))

    def turn(self, name: str, address: str) -> asyncio.Lock:
        """The lock that makes the sign-in attempts of one pair wait for each other."""
        key = (name, address)
        lock = self._turns.get(key)
        if lock is None:
            if len(self._turns) > 10_000:
                for idle in [k for k, v in self._turns.items() if not v.locked()]:
                    del self._turns[idle]
            lock = self._turns[key] = asyncio.Lock()
        return lock

    def failed(self, name: str, address: str) -> None:
        now = time.monotonic()
        for key in self._keys(name, address):
            self._recent(key, now).append(now)
        if len(self._failures) > 10_000:
            # Bound memory under a spray of names: forget keys with no recent failure.
            stale = [k for k, v in self._failures.items() if not v or v[-1] <= now - self.window]
            for key in stale:
                del self._failures[key]

    def succeeded(self, name: str, address: str) -> None:
        self._failures.pop(self._keys(name, address)[0], None)
        self._known.pop((name, address), None)
        self._known[(name, address)] = time.monotonic()
        if len(self._known) > 10_000:
            del self._known[next(iter(self._known))]  # the longest unseen pair


def _started_pool(workers: int, name: str) -> ThreadPoolExecutor:
    """A pool whose threads all run from the start (a pool that grows on demand would start
    threads in the middle of serving, which test thread-leak guards take for leaks)."""
    pool = ThreadPoolExecutor(workers, thread_name_prefix=name)
    everyone = threading.Barrier(workers + 1)
    for _ in range(workers):
        pool.submit(everyone.wait)
    everyone.wait()
    return pool


def _settle(
    future: asyncio.Future[IngestOutcome], result: IngestOutcome | BaseException
) -> None:
    """Hand a batch its outcome or its error (unless its poster has gone away)."""
    if future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


class HubService:
    def __init__(
        self,
        storage: HubStore,
        *,
        login_ttl: timedelta = LOGIN_TTL,
        feed_limit: int = 10_000,
        read_threads: int = 4,
    ) -> None:
        self.storage = storage
        self.login_ttl = login_ttl
        self.broadcaster = Broadcaster(storage.last_seq, limit=feed_limit)
        self.throttle = LoginThrottle()
        self.ingest_limit = IngestRateLimit()  # per token; reconfigure with .configure()
        if isinstance(storage, SharesLimits):  # several replicas: count in the database
            storage.share_limits(self)
        self.token_check_interval = TOKEN_CHECK_SECONDS  # open feeds re-check their token
        self._readers = _started_pool(read_threads, "hub-read")
        self._writer = _started_pool(1, "hub-write")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: list[tuple[Any, asyncio.Future[IngestOutcome]]] = []
        self._committing = False
        self._committer: asyncio.Task[None] | None = None
        # Seconds ingest batches have had the writer (one waiting or being committed): the
        # growth over a second tells how saturated ingest is (transcription yields to it).
        self._writer_busy_s = 0.0
        self._writer_busy_since = 0.0

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start publishing commits to the feed on ``loop`` (called at server start-up)."""
        self._loop = loop
        self.broadcaster.last_seq = self.storage.last_seq
        self.storage.on_commit = self._on_commit

    def detach(self) -> None:
        self.storage.on_commit = None
        self.broadcaster.close_all()
        self._loop = None

    def _on_commit(self, events: list[tuple[int, str]]) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.broadcaster.publish, events)

    async def ingest(self, events: Sequence[ParsedEvent]) -> IngestOutcome:
        """Store one batch; batches that arrive while the writer is busy share its next commit."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[IngestOutcome] = loop.create_future()
        self._pending.append((events, future))
        if not self._committing:
            self._committing = True
            self._writer_busy_since = time.monotonic()
            self._committer = loop.create_task(self._commit_pending())
        return await future

    def writer_busy_s(self) -> float:
        """Seconds since start that ingest batches were waiting for or in a commit (on the
        event loop's thread; it only grows)."""
        ongoing = time.monotonic() - self._writer_busy_since if self._committing else 0.0
        return self._writer_busy_s + ongoing

    async def _commit_pending(self) -> None:
        try:
            while self._pending:
                taken, self._pending = self._pending[:_GROUP_MAX], self._pending[_GROUP_MAX:]
                try:
                    results = await self.write(
                        self.storage.ingest_many, [events for events, _ in taken]
                    )
                except Exception as exc:
                    if len(taken) == 1:
                        _settle(taken[0][1], exc)
                        continue
                    # The shared commit failed as a whole: one platform's batch must not fail
                    # the others', so each is tried again in a commit of its own.
                    for events, future in taken:
                        await self._commit_alone(events, future)
                    continue
                except BaseException as exc:  # cancelled (the hub is stopping): tell everyone
                    for _, future in taken:
                        _settle(future, exc)
                    raise
                for (_, future), result in zip(taken, results, strict=True):
                    _settle(future, result)
        finally:
            self._committing = False
            self._writer_busy_s += time.monotonic() - self._writer_busy_since

    async def _commit_alone(
        self, events: Sequence[ParsedEvent],
        future: asyncio.Future[IngestOutcome],
    ) -> None:
        try:
            (result,) = await self.write(self.storage.ingest_many, [events])
        except Exception as exc:
            result = exc
        except BaseException as exc:
            _settle(future, exc)
            raise
        _settle(future, result)

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._readers, fn, *args)

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._writer, fn, *args)

    def close(self) -> None:
        self.detach()
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        self.storage.close()
