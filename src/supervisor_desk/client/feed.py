"""Live feed client: snapshot over REST, then the websocket event feed with resume.

Guarantee to the listener: after ``on_snapshot(s)`` it receives every event with
``seq > s.seq`` exactly once, in order, with no gap, across any number of disconnects, hub
restarts and slow-consumer closes. When that cannot be kept (unknown epoch, replay window
passed, a gap) it starts over with a fresh snapshot.

A hub served by several replicas (``HubClient.addresses``) is one event log: when the
replica we follow cannot be reached or drops the link, the next attempt goes to the next
address at once, resuming with the same ``epoch``/``after``; only when every replica failed
in a row does the backoff below apply.

Reconnection is our own loop, not ``async for ws in websockets.connect()``: that loop resets
its backoff after every handshake (a hub that accepts and then closes would be hammered) and
gives up on a 401. Here a 401 ends the run in ``UNAUTHORIZED``; every other failure retries
with jittered exponential backoff that only resets after a connection stayed up a while.

Reading in batches: every event websockets has already read is handed over before the listener
hears ``on_batch_done`` (when it has that method), so it can apply them all in one go. With
``read_interval`` set (the window off screen), a batch of a busy feed is followed by a rest of
that long with the socket unread: what arrives meanwhile waits in the kernel and is read with
one wake-up, so a busy feed costs one wake-up per interval instead of one per event, and a lone
event is still handled the moment it comes. Busy means both: the batch came within
``read_interval`` of the last one, and the feed's recent rate (events a second, smoothed over
about a second) brings at least two events per rest. A rest costs a timer's wake-up and the
socket's pause and resume, about what reading one more lone event costs: at a quiet floor
(5 events/s, independent arrivals, a rest of 0.12 s) resting after every event that came
close behind the last made each event dearer, and after a burst read whole (a platform posting
a batch every quarter second) a rest only adds a wake-up. Nothing is dropped or reordered; it
is only read later, by at most ``read_interval``.

Reading in the read callback: once the hub's greeting is checked, a whole text frame is handed
to the listener from the socket's read callback itself (``_FeedConnection``), not queued for a
coroutine to take on a later turn of the loop, while nothing waits in websockets' queue ahead
of it. A lone event then costs one callback instead of a queued frame, a future, a scheduled
callback and a coroutine resumed through the call stack (≈90 µs less of the Qt thread per
event, about a sixth of reading it; docs/performance.md, "Eleventh round"). A run of frames
longer than ``_SLICE_S`` in one callback (a catch-up) leaves the rest queued, and the coroutine
takes the queue in slices as before; frames that arrive while some are queued queue behind
them, so the order is the hub's.

Held delivery (a hub that says ``hold`` in its greeting; models/feed_hold.py): ``hold(ms,
rules)`` asks the hub to gather events for up to ``ms`` and send them together, one wake-up
for many, except those that could open an alert of ``rules``, which it sends at once.
``flush(then)`` runs ``then`` once everything the hub holds has been handed over (the alert
rules' deadlines judge current facts). Asked again on every connection; never asked of a hub
that does not offer it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import Callable
from enum import StrEnum
from typing import Any, NamedTuple, Protocol

from pydantic import ValidationError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidProxy,
    InvalidStatus,
)
from websockets.frames import Frame, Opcode
from websockets.protocol import Event

from supervisor_desk.client.rest import HubClient, HubError
from supervisor_desk.models.alerts.rules import Rule
from supervisor_desk.models.feed_hold import FLUSH_REQUEST_JSON, hold_request_json
from supervisor_desk.models.wire import (
    FEED_CLOSE_RESYNC,
    FEED_CLOSE_TOO_SLOW,
    FEED_CLOSE_UNAUTHORIZED,
    EventFrame,
    FeedFrame,
    FlushedFrame,
    HelloFrame,
    HoldingFrame,
    LiveSnapshot,
    StoredEvent,
    parse_frame,
)

log = logging.getLogger(__name__)


class _RedactAuthorization(logging.Filter):
    """websockets logs every handshake header at DEBUG; the bearer token must not appear."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if (
            isinstance(args, tuple)
            and len(args) == 2
            and isinstance(args[0], str)
            and args[0].lower() == "authorization"
        ):
            record.args = (args[0], "[redacted]")
        return True


# Our own logger for the websocket library, so the redaction applies to our connections only.
_ws_log = logging.getLogger(f"{__name__}.websocket")
_ws_log.addFilter(_RedactAuthorization())


# Longest run of feed events handled before letting the loop (and the Qt thread) breathe.
_SLICE_S = 0.008

# The feed's rate is an exponentially decayed count of the events read, over this window.
_RATE_WINDOW_S = 1.0
# A rest pays when this many events are expected to arrive during it (module docstring).
_REST_PAYS_AT_EVENTS = 2.0
# A flush the hub has not answered in this long is taken as done (what it held comes anyway).
_FLUSH_ANSWER_S = 0.5


class ConnectionState(StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    UNAUTHORIZED = "unauthorized"
    UNREACHABLE = "unreachable"
    STOPPED = "stopped"


class FeedListener(Protocol):
    def on_snapshot(self, snapshot: LiveSnapshot) -> None:
        """Reset state (initial load, resync, epoch change)."""

    def on_event(self, seq: int, event: StoredEvent, replayed: bool) -> None:
        """One event, in seq order with no gaps; ``replayed`` events happened while we were
        away (or belong to a snapshot catch-up) and must not raise alerts."""

    def on_state(self, state: ConnectionState, retry_in: float | None, detail: str) -> None:
        """Connection state for the window and tray (``retry_in`` seconds when waiting)."""

    # Optional: ``on_batch_done(self) -> None``, called once every event read so far has been
    # handed over (the listener applies a batch at once instead of on a timer of its own).


class _Hold(NamedTuple):
    """A hold asked of the hub (models/feed_hold.py): the arguments of its request."""

    ms: int
    rules: tuple[Rule, ...] | None
    watch: tuple[str, ...]
    align: bool


_NO_HOLD = _Hold(0, None, (), False)


class _ResyncError(Exception):
    """The feed cannot continue from our position: reload the snapshot."""


class _UnauthorizedError(Exception):
    pass


class FeedClient:
    """Keeps a listener in step with the hub's live state until cancelled."""

    def __init__(
        self,
        client: HubClient,
        listener: FeedListener,
        *,
        backoff_max: float = 30.0,
        backoff_base: float = 0.5,
        stable_after: float = 30.0,
        unreachable_after: int = 3,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        open_timeout: float = 10.0,
        failover_delay: float = 0.25,
    ) -> None:
        self._client = client
        self._listener = listener
        self.backoff_max = backoff_max
        self.backoff_base = backoff_base
        self.stable_after = stable_after
        self.unreachable_after = unreachable_after
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.open_timeout = open_timeout
        # Longest wait before trying the next replica (jittered: replicas' clients spread).
        self.failover_delay = failover_delay
        self._epoch: str | None = None
        self._seq = 0
        self._state = ConnectionState.STOPPED
        self._failures = 0
        self._failovers = 0  # replicas tried in a row without a connection
        self._ws: ClientConnection | None = None
        self._running = False
        # Seconds the socket rests unread after a batch that came close behind the last one
        # (0: every frame is read as it comes). Changeable while running.
        self.read_interval = 0.0
        self._batch_done = getattr(listener, "on_batch_done", None)
        self._batch_events = 0  # events handed over since the last batch ended
        self._replay_until = 0  # the greeting's seq: events up to it are replayed
        # Frames taken in the current read callback, and the loop time it took the first.
        self._run_events = 0
        self._run_since = 0.0
        # What the read callback could not raise itself, for the coroutine to raise.
        self._failure: Exception | None = None
        self._rest: asyncio.TimerHandle | None = None
        self._reading_since = 0.0  # when the last batch ended or the last rest did
        # Events a second, decayed over _RATE_WINDOW_S, as of the loop time ``_rate_at``.
        self._rate = 0.0
        self._rate_at = 0.0
        # Held delivery (models/feed_hold.py): what we ask of the hub, whether this hub takes
        # it, what it said it holds, and who waits for the answer to a flush.
        self._hold: _Hold = _NO_HOLD
        self._hub_holds = False
        self.held_ms = 0  # the hold the hub confirmed on this connection
        self._flush_waiters: list[Callable[[], None]] = []
        self._flush_timer: asyncio.TimerHandle | None = None
        self._sends: set[asyncio.Task[None]] = set()
        self.flushes = 0  # flushes asked of the hub, for diagnostics and tests
        self.connections = 0  # successful handshakes, for diagnostics and tests
        self.rests = 0  # rests taken (``read_interval``), for diagnostics and tests
        self.snapshots = 0

    @property
    def seq(self) -> int:
        """Seq of the last event handed to the listener (or of the snapshot)."""
        return self._seq

    @property
    def epoch(self) -> str | None:
        return self._epoch

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def resting(self) -> bool:
        """The socket is left unread for now (see ``read_interval``)."""
        return self._rest is not None

    def read_now(self) -> None:
        """End a rest early: read what waits in the socket now (the window came on screen)."""
        self._end_rest()

    def hold(self, ms: int, rules: tuple[Rule, ...] | None = None, *,
             watch: tuple[str, ...] = (), align: bool = False) -> None:
        """Ask the hub to hold events up to ``ms`` and send them together (0: each at once),
        except any that could open an alert of ``rules`` or is of a session in ``watch``,
        which it sends at once; ``align``: at the wall clock's steps of ``ms``. Kept for every
        later connection; a hub without held delivery is not asked."""
        hold = _Hold(ms, rules, watch, align) if ms > 0 else _NO_HOLD
        if hold == self._hold:
            return
        was_holding = self._hold.ms > 0
        self._hold = hold
        if self._hub_holds and (ms > 0 or was_holding):
            self._send(hold_request_json(*hold))

    @property
    def holding(self) -> bool:
        """The hub may be holding events for us now (asked, and this hub takes it)."""
        return self._hub_holds and self._hold.ms > 0

    def flush(self, then: Callable[[], None]) -> None:
        """Call ``then`` once every event the hub holds for us has been handed over: at once
        when nothing is held, else when the hub's answer to a flush has been read (or after
        ``_FLUSH_ANSWER_S``, or when the link drops: never later)."""
        if not self.holding:
            then()
            return
        self._flush_waiters.append(then)
        if len(self._flush_waiters) > 1:
            return  # asked already: one answer serves all
        self.flushes += 1
        self._send(FLUSH_REQUEST_JSON)
        self._flush_timer = self._loop.call_later(_FLUSH_ANSWER_S, self._flushed)

    def _flushed(self) -> None:
        timer, self._flush_timer = self._flush_timer, None
        if timer is not None:
            timer.cancel()
        waiters, self._flush_waiters = self._flush_waiters, []
        for then in waiters:
            then()

    def _send(self, text: str) -> None:
        """A control frame to the hub, in the background (a lost link loses it: every new
        connection asks again)."""
        ws = self._ws
        if ws is None:
            return
        task = self._loop.create_task(ws.send(text))
        self._sends.add(task)
        task.add_done_callback(_sent)
        task.add_done_callback(self._sends.discard)

    def _set_state(self, state: ConnectionState, retry_in: float | None, detail: str) -> None:
        self._state = state
        self._listener.on_state(state, retry_in, detail)

    def backoff_delay(self, failures: int) -> float:
        """Jittered exponential delay after ``failures`` consecutive failures (>= 1)."""
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** max(0, failures - 1))
        # "Equal jitter": never zero (no hammering), spread so many desktops do not sync up.
        return float(ceiling / 2 + random.uniform(0, ceiling / 2))

    async def run(self) -> None:
        """Run until cancelled, or until the hub refuses our token (state UNAUTHORIZED).

        Calling it again later resumes from :attr:`seq` (e.g. after signing in again). An
        exception raised by the listener is a bug there: it ends the run and propagates.
        """
        if self._running:
            raise RuntimeError("FeedClient.run() is already running")
        self._running = True
        # The read callbacks use it: Qt may deliver a read while no loop runs (at exit).
        self._loop = asyncio.get_running_loop()
        try:
            await self._run()
        finally:
            self._running = False

    async def _run(self) -> None:
        need_snapshot = self._epoch is None
        resyncs = 0
        self._failures = 0
        self._set_state(ConnectionState.CONNECTING, None,
                        f"Connecting to {self._client.active_url}")
        try:
            while True:
                up_since: float | None = None
                loop = asyncio.get_running_loop()
                try:
                    if need_snapshot:
                        await self._load_snapshot()
                        need_snapshot = False
                    up_since = loop.time()
                    await self._connect_once()
                    # A clean close by the hub (restart, shutdown): resume from where we are.
                    problem = "The hub closed the connection."
                except _UnauthorizedError as exc:
                    self._set_state(ConnectionState.UNAUTHORIZED, None, str(exc))
                    return
                except _ResyncError as exc:
                    log.info("feed resync: %s", exc)
                    need_snapshot = True
                    resyncs += 1
                    # One resync is normal (epoch change, long absence); a loop of them is not.
                    if resyncs <= 2:
                        self._set_state(ConnectionState.CONNECTING, None, str(exc))
                        continue
                    problem = str(exc)
                except _TooSlowError as exc:
                    problem = str(exc)
                except HubError as exc:
                    problem = exc.message
                except (
                    OSError, TimeoutError, InvalidHandshake, InvalidProxy, ConnectionClosed
                ) as exc:
                    # A refused certificate says why (expired, wrong name, …), as REST does.
                    refusal = await self._client.certificate_refusal(exc)
                    problem = (refusal.message if refusal is not None
                               else _describe(self._client.active_url, exc))
                    if refusal is None and self._try_next_replica():
                        delay = random.uniform(0, self.failover_delay)
                        self._set_state(ConnectionState.RECONNECTING, delay,
                                        f"{problem} Trying {self._client.active_url}.")
                        await asyncio.sleep(delay)
                        self._set_state(ConnectionState.CONNECTING, None,
                                        f"Connecting to {self._client.active_url}")
                        continue
                else:
                    resyncs = 0
                if up_since is not None and self._stayed_up(loop.time() - up_since):
                    self._failures = 0
                    resyncs = 0
                self._failures += 1
                delay = self.backoff_delay(self._failures)
                state = (
                    ConnectionState.UNREACHABLE
                    if self._failures >= self.unreachable_after
                    else ConnectionState.RECONNECTING
                )
                self._set_state(state, delay, problem)
                await asyncio.sleep(delay)
                self._set_state(ConnectionState.CONNECTING, None, "Reconnecting")
        finally:
            # The socket itself is closed by ``async with`` in _connect_once, cancel included.
            if self._state is not ConnectionState.UNAUTHORIZED:
                self._set_state(ConnectionState.STOPPED, None, "Stopped")

    def _try_next_replica(self) -> bool:
        """Move on to the next replica's address; True when it is to be tried at once (not
        every replica has failed in a row since the last link: then the backoff applies)."""
        if self._connected_once:
            self._failovers = 0
        if not self._client.fail_over():
            return False
        self._failovers += 1
        if self._failovers >= len(self._client.addresses):
            self._failovers = 0
            return False
        return True

    def _stayed_up(self, seconds: float) -> bool:
        return self._connected_once and seconds >= self.stable_after

    async def _load_snapshot(self) -> None:
        try:
            snapshot = await self._client.live()
        except HubError as exc:
            if exc.unauthorized or exc.status == 403:
                raise _UnauthorizedError(exc.message) from exc
            raise
        self._epoch = snapshot.epoch
        self._seq = snapshot.seq
        self.snapshots += 1
        self._listener.on_snapshot(snapshot)

    async def _connect_once(self) -> None:
        self._connected_once = False
        url = self._client.websocket_url(
            "/feed", {"epoch": self._epoch or "", "after": self._seq}
        )
        try:
            async with connect(
                url,
                create_connection=_FeedConnection,
                additional_headers=self._client.auth_headers(),
                ssl=self._client.ssl_context(),
                open_timeout=self.open_timeout,
                ping_interval=self.ping_interval,
                ping_timeout=self.ping_timeout,
                close_timeout=2.0,
                max_size=16 * 2**20,
                # Same proxy rules as the REST client (httpx trusts the environment too), so
                # REST and the feed never disagree about whether the hub is reachable.
                proxy=True,
                user_agent_header="supervisor-desk",
                logger=_ws_log,
            ) as ws:
                self._ws = ws
                self.connections += 1
                self._connected_once = True
                await self._consume(ws)
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                raise _UnauthorizedError(
                    "Your sign-in is no longer valid; please sign in again."
                    if status == 401 else "This account may not read live sessions."
                ) from exc
            raise
        finally:
            self._ws = None

    async def _consume(self, ws: ClientConnection) -> None:
        try:
            hello = self._parse(await ws.recv())
            if not isinstance(hello, HelloFrame):
                raise _ResyncError("the hub did not greet the feed")
            if not hello.resumed or hello.epoch != self._epoch or hello.seq < self._seq:
                # (A hub "behind" us lost events we applied: only a snapshot is true now.)
                raise _ResyncError(
                    "the hub's event log changed" if hello.epoch != self._epoch
                    else "missed too much to catch up"
                )
            self._replay_until = hello.seq
            self._hub_holds = hello.hold
            if self._hub_holds and self._hold.ms > 0:
                self._send(hold_request_json(*self._hold))
            loop = asyncio.get_running_loop()
            slice_started = loop.time()
            if hello.seq <= self._seq:
                self._set_state(ConnectionState.CONNECTED, None, "Connected")
            self._reading_since = loop.time()
            self._batch_events = self._run_events = 0
            if isinstance(ws, _FeedConnection):
                ws.take_now, ws.read_done = self._take_now, self._on_read_done
            # What the read callback left queued (the frames before it was set, the rest of
            # a long run), in order, in slices.
            async for raw in ws:
                self._take(self._parse(raw))
                if not _frames_waiting(ws):
                    self._end_batch()
                    slice_started = loop.time()
                # websockets hands over frames it already buffered without yielding to the
                # loop, so a backlog (a catch-up, a busy moment) became one long callback:
                # 1,279 events / 151 ms of Qt-thread CPU in feed_bench. Yield every few ms.
                elif loop.time() - slice_started > _SLICE_S:
                    await asyncio.sleep(0)
                    slice_started = loop.time()
        except ConnectionClosed as exc:
            if self._failure is not None:
                raise self._failure from None  # raised in the read callback: ours to raise
            code = exc.rcvd.code if exc.rcvd is not None else None
            if code == FEED_CLOSE_RESYNC:
                raise _ResyncError("the hub asked for a fresh snapshot") from exc
            if code == FEED_CLOSE_UNAUTHORIZED:
                raise _UnauthorizedError("Your sign-in was revoked; please sign in again.") from exc
            if code == FEED_CLOSE_TOO_SLOW:
                raise _TooSlowError("Fell behind the live feed; catching up.") from exc
            raise
        finally:
            if isinstance(ws, _FeedConnection):
                ws.take_now = ws.read_done = None
            self._end_rest(resume=False)
            self._failure = None
            # Nothing more is held for us on this link: whoever waits for a flush goes on.
            self._hub_holds = False
            self.held_ms = 0
            self._flushed()
            for task in self._sends:
                task.cancel()

    def _take_now(self, data: bytes | bytearray | memoryview) -> bool:
        """A whole text frame from the socket's read callback, handed over there; False leaves
        it queued for the coroutine (this callback ran ``_SLICE_S`` already)."""
        if self._failure is not None:
            return True  # the link is being dropped: nothing more is handed over
        now = self._loop.time()
        if not self._run_events:
            self._run_since = now
        elif now - self._run_since > _SLICE_S:
            return False
        self._run_events += 1
        try:
            raw = data if isinstance(data, bytes) else bytes(data)
            self._take(self._parse(raw))
        except Exception as exc:  # the coroutine raises it, as it would its own
            self._fail(exc)
        return True

    def _on_read_done(self, frames_queued: bool) -> None:
        """The read callback is over: if it handed frames over, the batch ends here unless
        frames wait in the queue (the coroutine ends it when it has taken them)."""
        if not self._run_events:
            return
        self._run_events = 0
        if frames_queued or self._failure is not None:
            return
        try:
            self._end_batch()
        except Exception as exc:
            self._fail(exc)

    def _fail(self, exc: Exception) -> None:
        """An error in the read callback: drop the link, so the coroutine wakes and raises it."""
        self._failure = exc
        ws = self._ws
        if ws is not None:
            ws.transport.abort()

    def _end_batch(self) -> None:
        events, self._batch_events = self._batch_events, 0
        if self._batch_done is not None:
            self._batch_done()
        if self.read_interval > 0:
            self._rest_if_busy(events)

    def _take(self, frame: FeedFrame) -> None:
        """One frame of the feed to the listener, in order and once."""
        if not isinstance(frame, EventFrame):
            self._take_answer(frame)
            return
        self._batch_events += 1
        if frame.seq <= self._seq:
            return  # already applied (an overlap after resume)
        if frame.seq != self._seq + 1:
            raise _ResyncError(f"gap in the feed: expected {self._seq + 1}, got {frame.seq}")
        self._listener.on_event(frame.seq, frame.event, frame.seq <= self._replay_until)
        self._seq = frame.seq
        if frame.seq == self._replay_until:
            self._set_state(ConnectionState.CONNECTED, None, "Connected")

    def _take_answer(self, frame: FeedFrame) -> None:
        """The hub's answer to a hold or a flush."""
        if isinstance(frame, FlushedFrame):
            if self._batch_events:
                self._end_batch()  # what the flush sent is applied before anyone goes on
            self._flushed()
        elif isinstance(frame, HoldingFrame):
            self.held_ms = frame.ms
            if frame.detail:
                log.warning("the hub refused a feed request: %s", frame.detail[:200])
        else:
            raise _ResyncError("unexpected frame on the feed")

    def _note_batch(self, events: int, now: float) -> float:
        """Count a batch of ``events`` read at loop time ``now`` into the feed's rate; returns
        the rate (events a second)."""
        decay = math.exp((self._rate_at - now) / _RATE_WINDOW_S)
        self._rate = self._rate * decay + events / _RATE_WINDOW_S
        self._rate_at = now
        return self._rate

    def _rest_if_busy(self, events: int) -> None:
        """After a batch of ``events``: if it came within ``read_interval`` of the last one
        and the feed is busy enough that a rest that long gathers a few events, leave the socket
        unread that long, so they are read with one wake-up."""
        ws = self._ws
        if ws is None:
            return
        loop = self._loop
        interval = self.read_interval
        now = loop.time()
        close_behind = now - self._reading_since < interval
        self._reading_since = now
        rate = self._note_batch(events, now)  # every batch counts, rest or not
        if not close_behind or rate * interval < _REST_PAYS_AT_EVENTS:
            return  # a lone event or a burst read whole: no timer, no second wake-up
        self.rests += 1
        # The kernel keeps what arrives meanwhile (websockets' own flow control pauses the
        # same way; its queue is empty here, so it has no pause of its own to undo).
        ws.transport.pause_reading()
        self._rest = loop.call_later(interval, self._end_rest)

    def _end_rest(self, resume: bool = True) -> None:
        rest, self._rest = self._rest, None
        if rest is None:
            return
        rest.cancel()
        ws = self._ws
        if resume and ws is not None and not ws.transport.is_closing():
            ws.transport.resume_reading()
        self._reading_since = self._loop.time()

    @staticmethod
    def _parse(raw: str | bytes) -> FeedFrame:
        try:
            return parse_frame(raw)
        except ValidationError as exc:
            raise _ResyncError(f"malformed feed frame ({exc.error_count()} errors)") from exc

    _connected_once = False
    _loop: asyncio.AbstractEventLoop  # the loop run() runs on


class _TooSlowError(Exception):
    pass


def _sent(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        # The link dropped under it: the coroutine reconnects and asks again.
        log.debug("feed control frame not sent: %s", task.exception())


def _frames_waiting(ws: ClientConnection) -> int:
    """Frames websockets has read from the socket and not handed over yet (its assembler's
    queue): while there are some, the batch goes on."""
    return len(ws.recv_messages.frames)


class _FeedConnection(ClientConnection):
    """websockets' client connection that hands the feed each whole text frame in the read
    callback, while nothing waits in its queue ahead of it (module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Set by the feed once the greeting is checked. ``take_now`` returns False to have the
        # frame queued after all; ``read_done`` ends each read, told whether frames wait queued.
        self.take_now: Callable[[bytes | bytearray | memoryview], bool] | None = None
        self.read_done: Callable[[bool], None] | None = None

    def process_event(self, event: Event) -> None:
        take = self.take_now
        if (take is not None and isinstance(event, Frame) and event.opcode is Opcode.TEXT
                and event.fin and not _frames_waiting(self) and take(event.data)):
            return
        super().process_event(event)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.read_done is not None:
            self.read_done(bool(_frames_waiting(self)))


def _describe(base_url: str, exc: BaseException) -> str:
    if isinstance(exc, ConnectionClosed):
        return "The connection to the hub was lost."
    if isinstance(exc, TimeoutError):
        return f"The hub at {base_url} did not answer in time."
    if isinstance(exc, InvalidStatus):
        return f"The hub refused the live feed (HTTP {exc.response.status_code})."
    if isinstance(exc, InvalidHandshake):
        return f"The hub at {base_url} did not accept the live feed ({exc})."
    return f"Cannot reach the hub at {base_url} (is it running?)."
