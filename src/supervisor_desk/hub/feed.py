"""Fan-out of committed events to websocket clients.

Each event is serialized once into its frame text and appended to every subscriber's own
bounded buffer; a subscriber's sender task drains its buffer at the pace of its socket. Publishing
never waits on a socket, so one slow client never delays the others: it only grows its own buffer
until it is over a limit (in frames or in bytes) and gets closed with 4008 (it then resumes with
``after``). The frame texts are shared between subscribers, so clients that lag at the same
place hold one copy.

A subscriber may ask to have its frames held (docs/protocol.md, "Held delivery"): they stay in
the same buffer, under the same limits, until the hold runs out (or, aligned, until the hold's
next step on the hub's clock), an event its rules call urgent or of a session it watches
arrives, or it asks for them; its sender then sends them back to back.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from supervisor_desk.models.alerts.rules import Rule
from supervisor_desk.models.alerts.urgency import UrgentScreen
from supervisor_desk.models.wire import FEED_CLOSE_TOO_SLOW

MAX_UNSENT_FRAMES = 10_000
MAX_UNSENT_BYTES = 16 * 1024 * 1024
# A feed socket whose writes have not moved for this long is closed (a peer that stopped
# reading never answers pings either, so the keepalive alone never notices it).
STALL_SECONDS = 10.0
# Answers to a client's requests waiting to be sent: a client that keeps asking without
# reading is too slow like any other.
MAX_UNSENT_ANSWERS = 64
# Distinct rule sets whose screens are kept for sharing (desktops mostly send the defaults).
MAX_SCREENS = 64
# A client may have this many rule sets the hub has not seen compiled per minute (a desktop
# sends one when its rules change; more is a client keeping the hub's cores busy).
MAX_NEW_RULE_SETS_PER_MINUTE = 20
# Rule sets this small are compiled on the loop; bigger ones (500 keyword rules take ~80 ms)
# in a thread, so one client's request does not stall every feed.
_INLINE_RULES = 32
# An aligned hold sends this long before each step of the hub's clock: what it sends is read
# by a desktop whose one-second tick lands just after the second before that tick paints.
ALIGN_LEAD_S = 0.04


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


def holding_frame(ms: int, detail: str = "") -> str:
    answer: dict[str, Any] = {"type": "holding", "ms": ms}
    if detail:
        answer["detail"] = detail
    return json.dumps(answer)


def flushed_frame(seq: int) -> str:
    return f'{{"type":"flushed","seq":{seq}}}'


class TooManyRuleSetsError(Exception):
    """A client sent more new rule sets than the hub compiles for one client a minute."""


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
        # Held delivery: 0 sends each frame at once. ``screen`` is set only while holding with
        # rules that can call an event urgent, and ``watch`` (the sessions whose events go at
        # once) only while holding, so publish judges events for those holders alone.
        self.hold_ms = 0
        self.screen: UrgentScreen | None = None
        self.watch: frozenset[str] = frozenset()
        # Aligned: what is held goes at the next multiple of hold_ms on the wall clock.
        self.align = False
        # When (time.monotonic) what is held now is due; None when nothing is held.
        self.held_until: float | None = None
        # Everything buffered goes now (an urgent event came), whatever the hold.
        self.release = False
        # Answers to the client's requests, sent after every frame buffered at that moment;
        # None stands for the "flushed" frame, whose seq is known only when it is sent.
        self.answers: deque[str | None] = deque()
        # When rule sets new to the hub were compiled for this client (the last minute's).
        self._new_rule_sets: deque[float] = deque()

    def push(self, seq: int, frame: str, size: int | None = None, urgent: bool = False) -> None:
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
            return
        # While holding, wake the sender only when it has to act: to send now (urgent), or to
        # start its timer (the first frame held). Frames held behind that one change nothing.
        if not self.hold_ms:
            self.wakeup.set()
        elif urgent:
            self.release = True
            self.wakeup.set()
        elif self.held_until is None:
            self.held_until = self._due_from(time.monotonic(), time.time())
            self.wakeup.set()

    def _due_from(self, now: float, wall: float) -> float:
        """When (monotonic) a frame held first at ``now`` (``wall`` on the wall clock) is due:
        ``hold_ms`` later, or, aligned, at the wall clock's next step of ``hold_ms`` less
        ``ALIGN_LEAD_S`` (never later than ``hold_ms``)."""
        period = self.hold_ms / 1000
        if not self.align:
            return now + period
        step = (int((wall + ALIGN_LEAD_S) // period) + 1) * period - ALIGN_LEAD_S
        return now + min(period, max(0.0, step - wall))

    def pop(self) -> tuple[int, str]:
        seq, frame, size = self.frames.popleft()
        self.unsent_bytes -= size
        return seq, frame

    def due(self, now: float) -> bool:
        """Whether the buffered frames are to be sent now (``now``: time.monotonic)."""
        if not self.frames:
            return False
        if not self.hold_ms or self.release or self.answers or self.held_until is None:
            return True
        return now >= self.held_until

    def time_left(self, now: float) -> float | None:
        """Seconds until what is held is due, or None while nothing is held."""
        if not self.hold_ms or self.held_until is None or not self.frames:
            return None
        return max(0.0, self.held_until - now)

    def released(self) -> None:
        """The sender has sent everything buffered: the next frame starts a new hold."""
        self.release = False
        self.held_until = None

    def hold(self, ms: int, screen: UrgentScreen | None, watch: frozenset[str] = frozenset(),
             align: bool = False) -> None:
        """Hold frames up to ``ms`` from now on (0: each at once), sending early any event
        ``screen`` calls urgent or of a session in ``watch``; ``align``: send what is held at
        the wall clock's steps of ``ms``. Answered, after everything held so far, with
        "holding"."""
        self.hold_ms = ms
        self.screen = screen if ms and screen is not None and not screen.quiet else None
        self.watch = watch if ms else frozenset()
        self.align = bool(ms) and align
        self.answer(holding_frame(ms))

    def flush(self) -> None:
        """Send everything held now, then "flushed"."""
        self.answer(None)

    def refuse(self, detail: str) -> None:
        self.answer(holding_frame(self.hold_ms, detail))

    def answer(self, frame: str | None) -> None:
        if self.overflowed:
            return
        if len(self.answers) >= MAX_UNSENT_ANSWERS:
            self.give_up(f"{len(self.answers)} answers unsent")
            return
        self.answers.append(frame)
        self.wakeup.set()

    def count_new_rule_set(self, now: float | None = None) -> None:
        """One more rule set compiled for this client; raises :class:`TooManyRuleSetsError` past
        ``MAX_NEW_RULE_SETS_PER_MINUTE``."""
        now = time.monotonic() if now is None else now
        recent = self._new_rule_sets
        while recent and now - recent[0] >= 60.0:
            recent.popleft()
        if len(recent) >= MAX_NEW_RULE_SETS_PER_MINUTE:
            raise TooManyRuleSetsError(
                f"more than {MAX_NEW_RULE_SETS_PER_MINUTE} new rule sets a minute: "
                "the hold in force is kept")
        recent.append(now)

    def give_up(self, reason: str) -> None:
        """Close with 4008: free the backlog now; the client resumes from its last seq."""
        if self.overflowed:
            return
        self.overflowed = True
        self.reason = reason
        self.frames.clear()
        self.answers.clear()
        self.unsent_bytes = 0
        self.stop.set()
        self.wakeup.set()


def rules_key(rules: Sequence[Rule]) -> str:
    """The rule set as canonical JSON: equal sets sent by different desktops share a screen."""
    return "[" + ",".join(rule.model_dump_json() for rule in rules) + "]"


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
        self._screens: dict[str, UrgentScreen] = {}

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

    async def screen(self, rules: Sequence[Rule],
                     for_subscriber: Subscriber | None = None) -> UrgentScreen:
        """The screen of ``rules``, shared with every subscriber that sent the same set (so
        publish judges each event once per distinct set). Raises :class:`TooManyRuleSetsError`
        when ``for_subscriber`` had too many new sets compiled in the last minute."""
        inline = len(rules) <= _INLINE_RULES
        key = rules_key(rules) if inline else await asyncio.to_thread(rules_key, rules)
        found = self._screens.get(key)
        if found is not None:
            return found
        if for_subscriber is not None:
            for_subscriber.count_new_rule_set()
        built = UrgentScreen(rules) if inline else await asyncio.to_thread(UrgentScreen, rules)
        if len(self._screens) >= MAX_SCREENS:
            self._screens.clear()  # subscribers keep theirs; only the sharing is lost
        # Another request for the same set may have finished while this one was compiling.
        return self._screens.setdefault(key, built)

    def publish(self, events: list[tuple[int, str]]) -> None:
        now_ms = 0
        for seq, body in events:
            if seq <= self.last_seq:
                continue  # already delivered (cannot happen with one writer; cheap guard)
            self.last_seq = seq
            frame = event_frame(seq, body)
            size = frame_size(frame)
            self.frames_published += len(self._subscribers)
            # Only holders with rules or watched sessions judge events, each distinct screen
            # once per event; the body is parsed only when one of them needs it.
            verdicts: dict[UrgentScreen, bool] | None = None
            event: Any = None
            for subscriber in self._subscribers:
                screen, watch = subscriber.screen, subscriber.watch
                if screen is None and not watch:
                    subscriber.push(seq, frame, size)
                    continue
                if verdicts is None:
                    verdicts = {}
                    now_ms = now_ms or time.time_ns() // 1_000_000
                    event = _parsed(body)
                if watch and _watched(watch, event):
                    subscriber.push(seq, frame, size, True)
                    continue
                if screen is None:
                    subscriber.push(seq, frame, size)
                    continue
                urgent = verdicts.get(screen)
                if urgent is None:
                    urgent = verdicts[screen] = _urgent(screen, event, now_ms)
                subscriber.push(seq, frame, size, urgent)

    def close_all(self) -> None:
        self.closing = True
        for subscriber in self._subscribers:
            subscriber.stop.set()
            subscriber.wakeup.set()


def _parsed(body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _watched(watch: frozenset[str], event: Any) -> bool:
    # An event whose session cannot be read is not held back for it: the screen judges it.
    session_id = event.get("session_id") if isinstance(event, dict) else None
    return isinstance(session_id, str) and session_id in watch


def _urgent(screen: UrgentScreen, event: Any, now_ms: int) -> bool:
    # An event the screen cannot judge is sent at once: holding it could delay an alert.
    if not isinstance(event, dict):
        return True
    try:
        return screen.urgent(event, now_ms)
    except Exception:
        return True


__all__ = [
    "FEED_CLOSE_TOO_SLOW", "MAX_UNSENT_BYTES", "MAX_UNSENT_FRAMES", "STALL_SECONDS",
    "Broadcaster", "FeedLimits", "Subscriber", "TooManyRuleSetsError", "event_frame",
    "flushed_frame", "frame_size", "holding_frame",
]
