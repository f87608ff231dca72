"""Fan-out of committed events to websocket clients.

Each event is serialized once into its frame text and appended to every subscriber's own
bounded buffer; a subscriber's sender task drains its buffer at the pace of its socket. Publishing
never waits on a socket, so one slow client never delays the others: it only grows its own buffer
until it is over the limit and gets closed with 4008 (it then resumes with ``after``).
"""

from __future__ import annotations

import asyncio
from collections import deque

from supervisor_desk.models.wire import FEED_CLOSE_TOO_SLOW

MAX_UNSENT_FRAMES = 10_000


def event_frame(seq: int, body: str) -> str:
    return f'{{"type":"event","seq":{seq},"event":{body}}}'


class Subscriber:
    """One feed client's buffer of unsent frames (touched only on the event loop thread)."""

    def __init__(self, limit: int) -> None:
        self.frames: deque[tuple[int, str]] = deque()
        self.limit = limit
        self.wakeup = asyncio.Event()
        # Set when the client must go (overflow or shutdown), even while a send is blocked.
        self.stop = asyncio.Event()
        self.overflowed = False

    def push(self, seq: int, frame: str) -> None:
        if self.overflowed:
            return
        self.frames.append((seq, frame))
        if len(self.frames) > self.limit:
            # Free the memory now; the client resumes from its last received seq.
            self.overflowed = True
            self.frames.clear()
            self.stop.set()
        self.wakeup.set()


class Broadcaster:
    """Holds the subscribers; :meth:`publish` runs on the event loop, in commit order."""

    def __init__(self, last_seq: int, *, limit: int = MAX_UNSENT_FRAMES) -> None:
        self.last_seq = last_seq
        self.limit = limit
        self._subscribers: set[Subscriber] = set()
        self.closing = False

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def subscribe(self) -> tuple[Subscriber, int]:
        """A new subscriber and the seq it is live from (events after it reach its buffer)."""
        subscriber = Subscriber(self.limit)
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
            for subscriber in self._subscribers:
                subscriber.push(seq, frame)

    def close_all(self) -> None:
        self.closing = True
        for subscriber in self._subscribers:
            subscriber.stop.set()
            subscriber.wakeup.set()


__all__ = ["FEED_CLOSE_TOO_SLOW", "MAX_UNSENT_FRAMES", "Broadcaster", "Subscriber", "event_frame"]
