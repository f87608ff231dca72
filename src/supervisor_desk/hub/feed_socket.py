"""One feed client's websocket: replay from the log, then its live buffer, at the socket's pace.

The client is closed with 4008 ("too slow: resume with after") when its buffer on the hub passes
a limit in frames or bytes (:mod:`supervisor_desk.hub.feed`), or when its socket has taken no
byte for ``stall_seconds`` while there was something to send: a peer that stopped reading never
answers pings either, so only the write side can tell. A closed client whose close frame cannot
be delivered is then disconnected outright, so its unsent bytes do not stay in memory.

The client may ask the hub to hold its live frames and send them together ("hold", "flush":
docs/protocol.md, "Held delivery"); each request is answered in order with the frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import struct
import sys
import time
from collections.abc import Iterator, Mapping
from typing import Any

from fastapi import WebSocket
from starlette.websockets import WebSocketDisconnect

from supervisor_desk.hub import revocation
from supervisor_desk.hub.feed import (
    Broadcaster,
    Subscriber,
    TooManyRuleSetsError,
    event_frame,
    flushed_frame,
    frame_size,
)
from supervisor_desk.hub.lograte import RateLimitedLog
from supervisor_desk.hub.service import HubService
from supervisor_desk.models.feed_hold import HoldRequest, parse_control
from supervisor_desk.models.wire import FEED_CLOSE_RESYNC, FEED_CLOSE_TOO_SLOW

log = logging.getLogger("supervisor_desk.hub.feed")
_closures = RateLimitedLog(log, period=60.0, burst=20)
_refusals = RateLimitedLog(log, period=60.0, burst=20)

TOO_SLOW_REASON = "too slow: resume with after"
# However long a closing socket keeps draining, it is dropped after this.
CLOSE_DEADLINE_SECONDS = 60.0
# Replay reads start small and then size their batches to the client's byte limit.
_FIRST_REPLAY_ROWS = 16
_MAX_REPLAY_ROWS = 1000
# Requests this short are parsed on the loop; longer ones (rule sets of up to 256 KiB) in a
# thread. A refusal's detail is cut to this many characters.
_INLINE_REQUEST_CHARS = 4096
_MAX_DETAIL_CHARS = 200


class _Progress:
    """What the socket has taken: frames handed over, the transport's unsent bytes, and the
    bytes the kernel still holds for the peer."""

    def __init__(self, websocket: WebSocket) -> None:
        self.protocol = _server_protocol(getattr(websocket, "_send", None))
        transport = getattr(self.protocol, "transport", None)
        self.transport = transport if isinstance(transport, asyncio.WriteTransport) else None
        sock = self.transport.get_extra_info("socket") if self.transport is not None else None
        self.fd = sock.fileno() if sock is not None else -1
        # Corked around a burst of held frames (Linux): the peer gets them in full segments.
        self.sock = sock if (
            sock is not None and hasattr(socket, "TCP_CORK")
            and sock.family in (socket.AF_INET, socket.AF_INET6)) else None
        self.sent = 0
        self.sending = False

    def buffered(self) -> int:
        return self.transport.get_write_buffer_size() if self.transport is not None else 0

    def in_kernel(self) -> int | None:
        """Bytes written to the socket that the peer has not acknowledged yet (Linux), or
        ``None`` when unknown."""
        if self.fd < 0 or sys.platform != "linux":
            return None
        import fcntl
        import termios

        try:
            answer = fcntl.ioctl(self.fd, termios.TIOCOUTQ, b"\0\0\0\0")
        except OSError:
            return None
        return int(struct.unpack("i", answer)[0])

    async def send(self, websocket: WebSocket, frame: str) -> None:
        self.sending = True
        try:
            await websocket.send_text(frame)
        finally:
            self.sending = False
        self.sent += 1

    @contextlib.contextmanager
    def corked(self) -> Iterator[None]:
        """Frames sent inside leave in full TCP segments, at once when it ends."""
        sock = self.sock
        if sock is None:
            yield
            return
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
        except OSError:
            yield
            return
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)


async def stream_feed(
    service: HubService, websocket: WebSocket, *, token: str, after: int | None,
    epoch: str | None,
) -> None:
    """Serve one authenticated feed client until it leaves, is revoked, too slow, or the hub
    stops."""
    storage = service.storage
    broadcaster = service.broadcaster
    await websocket.accept()
    # A commit is published on the loop just after it is durable; a client holding a seq from
    # a /live read that raced ahead of that hand-off must not be told to resync.
    for _ in range(100):
        if after is None or broadcaster.last_seq >= min(after, storage.last_seq):
            break
        await asyncio.sleep(0.01)
    subscriber, live_from = broadcaster.subscribe()
    stall_seconds = broadcaster.stall_seconds
    progress = _Progress(websocket)
    closed = asyncio.Event()

    async def watch_client() -> None:
        # What the client sends is requests (hold, flush); a receive ends with its disconnect.
        with contextlib.suppress(Exception):
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                if message["type"] == "websocket.receive":
                    await _take_request(broadcaster, subscriber, message, websocket)
        closed.set()
        subscriber.wakeup.set()

    async def pump() -> None:
        first = await service.read(storage.first_seq)
        start = live_from if after is None else after
        resumable = (epoch is None or epoch == storage.epoch) and first - 1 <= start <= live_from
        await progress.send(websocket, json.dumps(
            {"type": "hello", "epoch": storage.epoch, "seq": live_from, "resumed": resumable,
             "hold": True}
        ))
        if not resumable:
            await websocket.close(FEED_CLOSE_RESYNC, "resync: reload /live and reconnect")
            return
        cursor = start
        rows_wanted = _FIRST_REPLAY_ROWS
        while cursor < live_from:
            rows = await service.read(storage.events_between, cursor, live_from, rows_wanted)
            if not rows:
                break
            batch_bytes = 0
            for seq, body in rows:
                frame = event_frame(seq, body)
                batch_bytes += frame_size(frame)
                await progress.send(websocket, frame)
            cursor = rows[-1][0]
            # Keep one read batch within the client's byte limit (events can be ~1 MB each).
            average = max(1, batch_bytes // len(rows))
            rows_wanted = max(1, min(_MAX_REPLAY_ROWS, subscriber.max_bytes // average))
        await _send_live(websocket, subscriber, progress, last_sent=cursor)

    watcher = asyncio.create_task(watch_client())
    pumping = asyncio.create_task(pump())
    stopping = asyncio.create_task(subscriber.stop.wait())
    revoked = asyncio.create_task(revocation.watch_token(service, token))
    stalled = asyncio.create_task(_watch_stall(subscriber, progress, stall_seconds))
    tasks = (watcher, pumping, stopping, revoked, stalled)
    try:
        await asyncio.wait(
            {watcher, pumping, stopping, revoked}, return_when=asyncio.FIRST_COMPLETED
        )
        if pumping.done() and not pumping.cancelled():
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
                pumping.result()  # a send to a client that went away
        elif revoked.done() and not revoked.cancelled() and not closed.is_set():
            pumping.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    websocket.close(revocation.CLOSE_CODE, revocation.CLOSE_REASON), 5
                )
        elif stopping.done() and not closed.is_set():
            pumping.cancel()
            if subscriber.overflowed:
                _closures.warning("feed client %s closed with %d: %s", _peer(websocket),
                                  FEED_CLOSE_TOO_SLOW, subscriber.reason)
                code, reason = FEED_CLOSE_TOO_SLOW, TOO_SLOW_REASON
            else:
                code, reason = 1001, "hub shutting down"
            await _close_stuck(websocket, progress, code, reason, stall_seconds)
    finally:
        broadcaster.unsubscribe(subscriber)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task


async def _send_live(
    websocket: WebSocket, subscriber: Subscriber, progress: _Progress, *, last_sent: int
) -> None:
    """Send the live buffer: each frame as it comes, or, while holding, everything at once when
    it is due; then the answers to the client's requests (after every frame buffered so far)."""
    while True:
        now = time.monotonic()
        if subscriber.frames and not subscriber.hold_ms and not subscriber.answers:
            last_sent, frame = subscriber.pop()
            await progress.send(websocket, frame)
        elif subscriber.due(now) or subscriber.answers:
            with progress.corked() if len(subscriber.frames) > 1 else contextlib.nullcontext():
                while subscriber.frames:
                    last_sent, frame = subscriber.pop()
                    await progress.send(websocket, frame)
            subscriber.released()
            while subscriber.answers and not subscriber.frames:
                answer = subscriber.answers.popleft()
                await progress.send(websocket, flushed_frame(last_sent) if answer is None
                                    else answer)
        else:
            subscriber.wakeup.clear()
            timeout = subscriber.time_left(now)
            if timeout is None:
                await subscriber.wakeup.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(subscriber.wakeup.wait(), timeout)


async def _take_request(
    broadcaster: Broadcaster, subscriber: Subscriber, message: Mapping[str, Any],
    websocket: WebSocket,
) -> None:
    """Apply one client frame; anything not understood is answered with a refusal."""
    text = message.get("text")
    if not isinstance(text, str):
        _refuse(subscriber, websocket, "binary", "binary frames are not taken: send JSON text")
        return
    try:
        request = (parse_control(text) if len(text) <= _INLINE_REQUEST_CHARS
                   else await asyncio.to_thread(parse_control, text))
    except ValueError as error:
        _refuse(subscriber, websocket, *_why(error))
        return
    if not isinstance(request, HoldRequest):
        subscriber.flush()
        return
    try:
        screen = (await broadcaster.screen(request.rules, subscriber)
                  if request.ms and request.rules else None)
    except TooManyRuleSetsError as error:
        _refuse(subscriber, websocket, "rule sets", str(error))
        return
    subscriber.hold(request.ms, screen, frozenset(request.watch), request.align)


def _refuse(subscriber: Subscriber, websocket: WebSocket, kind: str, detail: str) -> None:
    # The log gets the kind of fault alone: the detail may quote the client's frame.
    _refusals.warning("feed client %s: request refused (%s)", _peer(websocket), kind)
    subscriber.refuse(detail[:_MAX_DETAIL_CHARS])


def _why(error: ValueError) -> tuple[str, str]:
    """The kind of fault (pydantic's error type, for the log) and the detail for the client."""
    errors = getattr(error, "errors", None)
    if not callable(errors):
        return "invalid", str(error)
    try:
        first = errors(include_url=False, include_input=False, include_context=False)[0]
    except Exception:
        return "invalid", "invalid request"
    where = ".".join(str(part) for part in first.get("loc", ()))
    what = str(first.get("msg", "invalid"))
    return str(first.get("type", "invalid")), f"{where}: {what}" if where else what


async def _watch_stall(subscriber: Subscriber, progress: _Progress, stall_seconds: float) -> None:
    """Give the subscriber up when there is something to send and nothing has moved for
    ``stall_seconds``: no frame handed over, the transport's buffer not shrinking, and the
    kernel still holding unacknowledged bytes for the peer that it does not take. (An empty
    kernel queue means the peer reads: a hub too busy to write is not the client's fault.)"""
    loop = asyncio.get_running_loop()
    interval = min(1.0, stall_seconds / 4)
    last_sent, last_buffered, last_kernel = progress.sent, progress.buffered(), None
    since = loop.time()
    while not subscriber.overflowed:
        await asyncio.sleep(interval)
        now = loop.time()
        buffered = progress.buffered()
        kernel = progress.in_kernel()
        # Frames held on purpose are not waiting on the socket.
        waiting = bool(subscriber.answers) or subscriber.due(time.monotonic())
        busy = progress.sending or waiting or buffered > 0
        peer_took = kernel is not None and (
            kernel == 0 or (last_kernel is not None and kernel < last_kernel))
        if (not busy or peer_took or progress.sent != last_sent
                or buffered < last_buffered):
            since = now
        elif now - since >= stall_seconds:
            subscriber.give_up(f"no write progress for {stall_seconds:g} s "
                               f"({buffered} bytes waiting in the hub, {kernel} in the kernel)")
        last_sent, last_buffered, last_kernel = progress.sent, buffered, kernel


async def _close_stuck(
    websocket: WebSocket, progress: _Progress, code: int, reason: str, stall_seconds: float
) -> None:
    """Close a feed socket even when the client has stopped reading.

    uvicorn's websocket protocol makes every ASGI send, the close included, wait until its
    transport is writable, which never happens for a client that does not read. The close frame
    is tiny, so let it past that gate (it queues behind the unsent data and the client sees it
    when it drains); drop the connection outright once the socket has taken nothing for
    ``stall_seconds`` more, or after :data:`CLOSE_DEADLINE_SECONDS` in any case.
    """
    writable = getattr(progress.protocol, "writable", None)
    if isinstance(writable, asyncio.Event):
        writable.set()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(websocket.close(code, reason), 5)
    transport = progress.transport
    if transport is None or transport.get_write_buffer_size() == 0:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CLOSE_DEADLINE_SECONDS
    interval = min(1.0, stall_seconds / 4)
    state = {"buffered": transport.get_write_buffer_size(), "since": loop.time()}

    def check() -> None:
        buffered = transport.get_write_buffer_size()
        if buffered == 0:
            return  # everything, the close frame included, reached the socket
        now = loop.time()
        if buffered < state["buffered"]:
            state["buffered"], state["since"] = buffered, now
        if now - state["since"] >= stall_seconds or now >= deadline:
            transport.abort()
            return
        loop.call_later(interval, check)

    loop.call_later(interval, check)


def _peer(websocket: WebSocket) -> str:
    client = websocket.client
    return f"{client.host}:{client.port}" if client else "?"


def _server_protocol(send: Any, depth: int = 4) -> Any:
    """The server's protocol object behind an ASGI ``send`` (Starlette wraps it in closures)."""
    owner = getattr(send, "__self__", None)
    if owner is not None and hasattr(owner, "writable"):
        return owner
    if depth == 0:
        return None
    for cell in getattr(send, "__closure__", None) or ():
        with contextlib.suppress(ValueError):
            found = _server_protocol(cell.cell_contents, depth - 1)
            if found is not None:
                return found
    return None
