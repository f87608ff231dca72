"""Fan-out of committed events to websocket clients.

Each event is serialized once into its frame text and appended to every subscriber's own
bounded buffer; a subscriber's sender task drains its buffer at the pace of its socket. Publishing
never waits on a socket, so one slow client never delays the others: it only grows its own buffer
until it is over a limit (in frames or in bytes) and gets closed with 4008 (it then resumes with
``after``). The frame texts are shared between subscribers, so clients that lag at the same
place hold one copy.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

from supervisor_desk.models.wire import FEED_CLOSE_TOO_SLOW

MAX_UNSENT_FRAMES = 10_000
MAX_UNSENT_BYTES = 16 * 1024 * 1024
# A feed socket whose writes have not moved for this long is closed (a peer that stopped
# reading never answers pings either, so the keepalive alone never notices it).
STALL_SECONDS = 10.0


@dataclass(frozen=True)
class FeedLimits:
    """How far one feed client may fall behind before it is closed with 4008."""

    max_unsent_frames: int = MAX_UNSENT_FRAMES
    max_unsent_bytes: int = MAX_UNSENT_BYTES
    stall_seconds: float = STALL_SECONDS

    def __post_init__(self) -> None:
        if self.max_unsent_frames < 1 or self.max_unsent_bytes < 1 or self.stall_seconds <= 0:
            raise ValueError("feed limits must be positive")


def event_frame(seq: int, body: str) -> str:
    return f'{{"type":"event","seq":{seq},"event":{body}}}'


def frame_size(frame: str) -> int:
    """Bytes the frame takes on the wire (UTF-8), computed without encoding ASCII text."""
    return len(frame) if frame.isascii() else len(frame.encode("utf-8"))


class Subscriber:
    """One feed client's buffer of unsent frames (touched only on the event loop thread)."""

    def __init__(self, limit: int, max_bytes: int = MAX_UNSENT_BYTES) -> None:
        self.frames: deque[tuple[int, str, int]] = deque()
        self.limit = limit
        self.max_bytes = max_bytes
        self.unsent_bytes = 0
        self.wakeup = asyncio.Event()
        # Set when the client must go (overflow, stall or shutdown), even while a send is blocked.
        self.stop = asyncio.Event()
        self.overflowed = False
        # Why it was closed with 4008, for the hub's log.
        self.reason = ""

    def push(self, seq: int, frame: str, size: int | None = None) -> None:
        if self.overflowed:
            return
        size = frame_size(frame) if size is None else size
        self.frames.append((seq, frame, size))
        self.unsent_bytes += size
        # One frame is always allowed, however big: the limit is on the backlog behind it.
        over_bytes = self.unsent_bytes > self.max_bytes and len(self.frames) > 1
        if len(self.frames) > self.limit or over_bytes:
            unit = (f"{self.unsent_bytes} bytes" if over_bytes
                    else f"{len(self.frames)} frames")
            self.give_up(f"{unit} unsent")
        self.wakeup.set()

    def pop(self) -> tuple[int, str]:
        seq, frame, size = self.frames.popleft()
        self.unsent_bytes -= size
        return seq, frame

    def give_up(self, reason: str) -> None:
        """Close with 4008: free the backlog now; the client resumes from its last seq."""
        if self.overflowed:
            return
        self.overflowed = True
        self.reason = reason
        self.frames.clear()
        self.unsent_bytes = 0
        self.stop.set()
        self.wakeup.set()


class Broadcaster:
    """Holds the subscribers; :meth:`publish` runs on the event loop, in commit order."""

    def __init__(self, last_seq: int, *, limit: int = MAX_UNSENT_FRAMES,
                 max_bytes: int = MAX_UNSENT_BYTES, stall_seconds: float = STALL_SECONDS) -> None:
        self.last_seq = last_seq
        self.limit = limit
        self.max_bytes = max_bytes
        self.stall_seconds = stall_seconds
        self._subscribers: set[Subscriber] = set()
        self.closing = False
        # Frames handed to subscribers' buffers since start (events x subscribers): its
        # growth over a tick is how busy the fan-out is (transcription yields to it).
        self.frames_published = 0

    def configure(self, limits: FeedLimits) -> None:
        """Applies to subscribers that join from now on."""
        self.limit = limits.max_unsent_frames
        self.max_bytes = limits.max_unsent_bytes
        self.stall_seconds = limits.stall_seconds

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def subscribe(self) -> tuple[Subscriber, int]:
        """A new subscriber and the seq it is live from (events after it reach its buffer)."""
        subscriber = Subscriber(self.limit, self.max_bytes)
        self._subscribers.add(subscriber)
        return subscriber, self.last_seq

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    def publish(self, events: list[tuple[int, str]]) -> None:
        for seq, body in events:
            if seq <= self.last_seq:
                continue  # already delivered (cannot happen with one writer; cheap guard)
            self.last_seq = seq
            frame = event_frame(seq, body)
            size = frame_size(frame)
            self.frames_published += len(self._subscribers)
            for subscriber in self._subscribers:
                subscriber.push(seq, frame, size)

    def close_all(self) -> None:
        self.closing = True
        for subscriber in self._subscribers:
            subscriber.stop.set()
            subscriber.wakeup.set()


__all__ = [
    "FEED_CLOSE_TOO_SLOW", "MAX_UNSENT_BYTES", "MAX_UNSENT_FRAMES", "STALL_SECONDS",
    "Broadcaster", "FeedLimits", "Subscriber", "event_frame", "frame_size",
]
