"""The live stream: a contact centre of about ``target_live`` sessions, event by event.

Sessions advance in a virtual clock, so their relative pace is realistic whatever the event
rate; the caller's ``now`` stamps the events. Deterministic for a seed and the times given:
ids come from the seeded ``random.Random``, never from ``uuid4``, so re-sending a batch is an
idempotent replay. Live session ids are also salted with the second of the first batch, so a
hub restarted with the same seed gets fresh sessions instead of minutes of duplicates.
"""

from __future__ import annotations

import heapq
import random
from datetime import datetime
from typing import Any

from supervisor_desk.simulator.story import Event, SessionStory, World


class TrafficSimulator:
    """A live contact centre: interleaves the events of about ``target_live`` sessions.

    Sessions advance in a virtual clock (a customer types for seconds, a queued chat waits
    minutes, an operator takes a while to pick up), so their relative pace is realistic
    whatever the event rate; the caller's ``now`` stamps the events. New sessions start
    whenever the live count drops below the target, with some randomness so it breathes.
    ``hostile=True`` mixes in markup-smuggling names and lines (for tests only).
    """

    def __init__(
        self, *, seed: int | None = None, rate: float = 20.0, target_live: int = 40,
        hostile: bool = False,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.seed = seed if seed is not None else random.SystemRandom().randrange(2**63)
        self.rate = rate
        self.target_live = max(1, target_live)
        self._rng = random.Random(self.seed)
        self._world = World(self._rng, hostile=hostile)
        self._heap: list[tuple[float, int, SessionStory]] = []
        self._order = 0
        self._vnow = 0.0
        self._last_t = float("-inf")
        self._mean_events = 30.0
        self._id_salt: int | None = None
        self.events_emitted = 0
        self.sessions_started = 0
        self.sessions_ended = 0

    @property
    def live_count(self) -> int:
        """Sessions started and not yet ended."""
        return len(self._heap)

    def next_batch(self, now: datetime, max_events: int) -> list[dict[str, Any]]:
        """The next ``max_events`` events, stamped at or just before ``now``.

        Times are spread ``1/rate`` apart ending at ``now`` and never go back behind the
        previous batch, so each session's events stay in time order.
        """
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        n = max(0, max_events)
        now_t = now.timestamp()
        if self._id_salt is None:
            self._id_salt = random.Random(f"{self.seed}:{int(now_t)}").getrandbits(128)
        step = 1.0 / self.rate
        batch: list[dict[str, Any]] = []
        for i in range(n):
            t = max(self._last_t, now_t - (n - 1 - i) * step)
            self._last_t = t
            batch.append(self._next_event(t))
        self.events_emitted += n
        return batch

    def wind_down(self, now: datetime) -> list[dict[str, Any]]:
        """End every live session (system disconnect) and forget them; the simulator can
        go on afterwards with new sessions. Leaves no session live forever in the hub."""
        t = max(self._last_t, now.timestamp())
        self._last_t = t
        stories = sorted(self._heap, key=lambda item: item[1])
        self._heap.clear()
        events: list[dict[str, Any]] = []
        for _, _, story in stories:
            events += story.abort(t)
            self.sessions_ended += 1
        self.events_emitted += len(events)
        return events

    def take_over(self, session_id: str, operator_name: str) -> bool:
        """A hand-over arrived for ``session_id``: its AI stops and ``operator_name`` joins
        at once. ``False`` if the session is not live here (ended, or from another run)."""
        for index, (_, order, story) in enumerate(self._heap):
            if story.id == session_id:
                if not story.take_over(operator_name):
                    return False
                # Due now: the operator's join is the session's next event.
                self._heap[index] = (self._vnow, order, story)
                heapq.heapify(self._heap)
                return True
        return False

    def _spawn_wanted(self) -> bool:
        live = len(self._heap)
        if live == 0:
            return True
        # At the target this matches the rate at which sessions end (one per ~mean events);
        # below it, starts become much likelier, above it rarer.
        p = (self.target_live / live) ** 4 / self._mean_events
        return self._rng.random() < p

    def _next_event(self, t: float) -> Event:
        if self._spawn_wanted():
            story = SessionStory(self._world, self._rng, id_salt=self._id_salt or 0)
            story.advance()  # the delay before session.started: it starts now
            self.sessions_started += 1
            event = story.emit(t)
            self._schedule(story)
            return event
        due, _, story = heapq.heappop(self._heap)
        self._vnow = max(self._vnow, due)
        event = story.emit(t)
        self._schedule(story)
        return event

    def _schedule(self, story: SessionStory) -> None:
        delay = story.advance()
        if delay is None:
            self.sessions_ended += 1
            self._mean_events += (story.event_count - self._mean_events) * 0.05
            return
        self._order += 1
        heapq.heappush(self._heap, (self._vnow + delay, self._order, story))
