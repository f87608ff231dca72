"""The live feed read on a worker thread, handed over to its owner's thread a batch at a time.

Read on the desktop's qasync loop, every asyncio callback is a Qt timer and the socket a Qt
notifier: one feed event cost ≈370-480 µs of the Qt thread to read (websocket frame, qasync,
``parse_frame``); the same read on a plain asyncio loop costs ≈210-270 µs, and handing a batch
from a thread to the Qt thread 13-22 µs (``docs/performance.md``, "Sixth pass"). So
:class:`FeedThread` runs :class:`FeedClient` on a plain asyncio loop in a thread of its own, with
its own :class:`HubClient` (httpx's connection pool belongs to the loop that uses it) made from
the owner's: same addresses, TLS settings and, at every request, the owner's current token.

What the feed tells its listener (snapshot, events, connection state, end of a batch) is kept
in order in a buffer. The owner gives a thread-safe ``wake`` callable: the worker calls it once
when a batch, a snapshot or a state is ready, and not again until the owner has taken everything
out (:meth:`FeedThread.hand_over`, on the owner's thread, into the real listener). So a busy feed
costs the owner one wake-up per batch, never one per event, and a slow owner gets one wake-up for
everything that piled up meanwhile.

Back-pressure: while more than ``max_backlog`` events wait in the buffer, the worker leaves the
socket unread until the owner has taken half of them, as a busy Qt thread left it unread when the
feed was read on its loop: the kernel's buffers fill, and a desktop too slow for too long is
closed by the hub as too slow and resumes, with nothing lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from supervisor_desk.client.feed import ConnectionState, FeedClient, FeedListener
from supervisor_desk.client.rest import HubClient
from supervisor_desk.models.wire import LiveSnapshot, StoredEvent

log = logging.getLogger(__name__)

# Events the owner may leave waiting before the worker stops reading the socket: ten seconds of
# a busy floor (1,000 events a second); a snapshot's catch-up is read in such steps.
MAX_BACKLOG = 10_000
# Items taken out of the buffer at once by hand_over (one lock round per chunk).
_CHUNK = 64

# Kinds of buffered items (the first field of each tuple).
_EVENT = 0
_BATCH_DONE = 1
_STATE = 2
_SNAPSHOT = 3
_FINISHED = 4

_Item = tuple[Any, ...]


class _FollowingClient(HubClient):
    """The owner's client's settings for the worker's loop; every request carries the owner's
    current token, so a new sign-in's token reaches the feed without rebuilding it."""

    def __init__(self, owner: HubClient) -> None:
        super().__init__(owner.base_url, owner.token, ca_file=owner.ca_file, pins=owner.pins,
                         timeout=owner.timeout)
        self._owner = owner
        while self.active_url != owner.active_url and self.fail_over():
            pass  # start at the replica the owner follows

    def auth_headers(self) -> dict[str, str]:
        return self._owner.auth_headers()


class FeedThread:
    """One :class:`FeedClient` on its own thread and loop; see the module's docstring.

    ``start``/``stop``/``join``, ``read_interval``, ``read_now`` may be called from any thread;
    ``hand_over`` only from the owner's. ``seq``, ``epoch`` and ``state`` are what was handed
    over to the owner's listener (not what the worker has read ahead).
    """

    def __init__(
        self,
        client: HubClient,
        wake: Callable[[], None],
        *,
        max_backlog: int = MAX_BACKLOG,
        name: str = "supervisor-desk-feed",
        **feed_options: Any,
    ) -> None:
        self._wake = wake
        self.max_backlog = max_backlog
        self._name = name
        self._lock = threading.Lock()
        self._items: deque[_Item] = deque()
        self._events_waiting = 0
        self._woken = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None
        self._stop_requested = False
        self._thread: threading.Thread | None = None
        self._held: asyncio.Future[None] | None = None  # the worker waits for the owner
        self._read_interval = 0.0
        self._owner_client = client
        self._feed_options = feed_options
        # Made on the worker when it starts (an HTTP client costs 10-30 ms to build), and run
        # on the worker's loop only.
        self.feed: FeedClient | None = None
        # What the owner's listener has been handed.
        self.seq = 0
        self.epoch: str | None = None
        self.state = ConnectionState.STOPPED
        self.finished = False
        self.error: BaseException | None = None

    # ------------------------------------------------------------------ owner's side

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("FeedThread.start() was already called")
        self._thread = threading.Thread(target=self._main, name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the worker to end its run (it says so with the last item it buffers)."""
        with self._lock:
            self._stop_requested = True
            loop, task = self._loop, self._task
        if loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):  # the loop has just closed: it ended
                loop.call_soon_threadsafe(task.cancel)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end; True when it has (or never started)."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def resting(self) -> bool:
        """The worker leaves the socket unread for now (``read_interval``)."""
        feed = self.feed
        return feed is not None and feed.resting

    @property
    def connections(self) -> int:
        """Successful handshakes of the worker's feed (diagnostics and tests)."""
        feed = self.feed
        return feed.connections if feed is not None else 0

    @property
    def snapshots(self) -> int:
        feed = self.feed
        return feed.snapshots if feed is not None else 0

    def feed_option(self, name: str) -> float | None:
        feed = self.feed
        return getattr(feed, name) if feed is not None else self._feed_options.get(name)

    def set_feed_option(self, name: str, value: float) -> None:
        """A tunable of the feed client (``backoff_base``…): a float the worker reads at its
        next use, so one assignment from any thread is enough."""
        self._feed_options[name] = value
        feed = self.feed
        if feed is not None:
            setattr(feed, name, value)

    @property
    def read_interval(self) -> float:
        return self._read_interval

    @read_interval.setter
    def read_interval(self, seconds: float) -> None:
        self._read_interval = seconds
        self._on_worker(self._apply_read_interval)

    def read_now(self) -> None:
        """End a rest of the worker early (the window came on screen)."""
        self._on_worker(self._read_now)

    def hand_over(self, listener: FeedListener, budget_s: float = 0.008) -> bool:
        """Hand what the worker buffered to ``listener``, in order, for at most about
        ``budget_s`` of this thread's time; True when more is left (call again soon: the worker
        does not wake the owner again until the buffer was emptied)."""
        deadline = time.perf_counter() + budget_s
        batch_done = getattr(listener, "on_batch_done", None)
        while True:
            items = self._take(_CHUNK)
            if not items:
                return False
            for index, item in enumerate(items):
                kind = item[0]
                if kind == _EVENT:
                    listener.on_event(item[1], item[2], item[3])
                    self.seq = item[1]
                elif kind == _BATCH_DONE:
                    if batch_done is not None:
                        batch_done()
                elif kind == _STATE:
                    self.state = item[1]
                    listener.on_state(item[1], item[2], item[3])
                elif kind == _SNAPSHOT:
                    self.epoch, self.seq = item[1].epoch, item[1].seq
                    listener.on_snapshot(item[1])
                else:
                    self.finished, self.error = True, item[1]
                    return False
                if time.perf_counter() > deadline and index + 1 < len(items):
                    self._give_back(items[index + 1:])
                    return True
            if time.perf_counter() > deadline:
                return self._pending()

    def discard(self) -> None:
        """Drop what is buffered (the listener failed); still notes the worker's end."""
        while items := self._take(_CHUNK):
            for item in items:
                if item[0] == _FINISHED:
                    self.finished, self.error = True, item[1]

    # ------------------------------------------------------------------ the buffer

    def _take(self, limit: int) -> list[_Item]:
        with self._lock:
            items = self._items
            taken = [items.popleft() for _ in range(min(limit, len(items)))]
            self._events_waiting -= sum(1 for item in taken if item[0] == _EVENT)
            if not items:
                self._woken = False  # the next batch wakes the owner again
            held = self._held
            if held is not None and self._events_waiting <= self.max_backlog // 2:
                self._held = None
            else:
                held = None
            loop = self._loop
        if held is not None and loop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_release, held)
        return taken

    def _give_back(self, items: list[_Item]) -> None:
        """Put back, at the front, what a slice had no time left for."""
        with self._lock:
            self._items.extendleft(reversed(items))
            self._events_waiting += sum(1 for item in items if item[0] == _EVENT)
            self._woken = True  # the owner comes back for them itself

    def _pending(self) -> bool:
        with self._lock:
            if self._items:
                self._woken = True
                return True
            return False

    def _put(self, item: _Item, *, wake: bool) -> None:
        with self._lock:
            self._items.append(item)
            if item[0] == _EVENT:
                self._events_waiting += 1
            if not wake or self._woken:
                return
            self._woken = True
        self._wake()

    # ------------------------------------------------------------------ the worker's side

    def _main(self) -> None:
        error: BaseException | None = None
        try:
            asyncio.run(self._run())
        except asyncio.CancelledError:
            pass  # stop() came as the run was ending
        except BaseException as exc:  # handed to the owner, which raises it in its task
            error = exc
        self._put((_FINISHED, error), wake=True)

    async def _run(self) -> None:
        client = _FollowingClient(self._owner_client)
        feed = FeedClient(client, self, **self._feed_options)
        try:
            with self._lock:
                if self._stop_requested:
                    return
                self._loop = asyncio.get_running_loop()
                self._task = asyncio.current_task()
                self.feed = feed
                feed.read_interval = self._read_interval
            await feed.run()
        except asyncio.CancelledError:
            pass  # stop(): FeedClient has closed its socket and said STOPPED
        finally:
            with self._lock:
                self._loop = self._task = None
            await client.aclose()

    def _on_worker(self, call: Callable[[], None]) -> None:
        with self._lock:
            loop = self._loop
            if loop is None and self._thread is None:
                call()  # not started yet: nothing runs on the feed
                return
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the worker has just ended
                loop.call_soon_threadsafe(call)

    def _apply_read_interval(self) -> None:
        if self.feed is not None:
            self.feed.read_interval = self._read_interval

    def _read_now(self) -> None:
        if self.feed is not None:
            self.feed.read_now()

    # FeedListener, called by the FeedClient on the worker's loop.

    def on_snapshot(self, snapshot: LiveSnapshot) -> None:
        self._put((_SNAPSHOT, snapshot), wake=True)

    def on_event(self, seq: int, event: StoredEvent, replayed: bool) -> None:
        self._put((_EVENT, seq, event, replayed), wake=False)

    def on_state(self, state: ConnectionState, retry_in: float | None, detail: str) -> None:
        self._put((_STATE, state, retry_in, detail), wake=True)

    def on_batch_done(self) -> None:
        self._put((_BATCH_DONE,), wake=True)

    def backlog_cleared(self) -> asyncio.Future[None] | None:
        """None while the owner keeps up; else a future done once it has taken half of what
        waits (FeedClient leaves the socket unread until then)."""
        with self._lock:
            if self._events_waiting <= self.max_backlog or self._loop is None:
                return None
            self._held = self._loop.create_future()
            return self._held


def _release(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
