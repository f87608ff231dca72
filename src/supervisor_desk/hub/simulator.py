"""Traffic simulator: a believable contact centre that posts events through the ingest path.

Three entry points:

- :class:`TrafficSimulator` produces the live stream: about ``target_live`` concurrent sessions
  at any time, interleaved event by event, stamped with the times the caller gives.
- :func:`run_simulator` paces that stream to a rate (0.5 to 1,000 events/s) and posts it to a
  hub's ``POST /api/v1/ingest`` like any platform would, riding out hub restarts.
- :func:`build_dataset` writes complete histories spread over past days, in ingest batches,
  for tests and benchmarks (100,000 sessions / 1,000,000 messages take about a minute on a
  busy 2-core machine: plain dicts, no per-event validation).

Everything is deterministic for a seed and the times given: ids come from the seeded
``random.Random``, never from ``uuid4``, so re-sending a batch is an idempotent replay. Live
session ids are also salted with the second of the simulator's first batch, so a hub
restarted with the same ``--seed`` gets fresh sessions instead of minutes of duplicates;
dataset ids depend on the seed alone (loading the same dataset twice is a no-op).
"""

from __future__ import annotations

import asyncio
import heapq
import json
import logging
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx

from supervisor_desk.hub.sim_story import Event, SessionStory, World

__all__ = [
    "MAX_BATCH_BYTES",
    "MAX_BATCH_EVENTS",
    "SimulatorError",
    "TrafficSimulator",
    "build_dataset",
    "run_simulator",
]

log = logging.getLogger(__name__)

MAX_BATCH_EVENTS = 1000
MAX_BATCH_BYTES = 1024 * 1024
# Statuses after which the same batch is simply sent again: the hub was restarting, overloaded
# or cut off mid-answer. Event ids make the resend idempotent.
_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
# How a backlog is handled after the hub was away: catch up at most this many seconds' worth.
_MAX_BACKLOG_SECONDS = 2.0
_MIN_TICK_SECONDS = 0.25
# On stop, how long the simulator may spend ending its live sessions in the hub.
_WIND_DOWN_SECONDS = 2.0


class SimulatorError(RuntimeError):
    """The hub refused a batch for a reason resending cannot fix (401, 403, 422...)."""


class TrafficSimulator:
    """A live contact centre: interleaves the events of about ``target_live`` sessions.

    Sessions advance in a virtual clock (a customer types for seconds, a queued chat waits
    minutes, an operator takes a while to pick up), so their relative pace is realistic
    whatever the event rate; the caller's ``now`` stamps the events. New sessions start
    whenever the live count drops below the target, with some randomness so it breathes.
    """

    def __init__(
        self, *, seed: int | None = None, rate: float = 20.0, target_live: int = 40
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.seed = seed if seed is not None else random.SystemRandom().randrange(2**63)
        self.rate = rate
        self.target_live = max(1, target_live)
        self._rng = random.Random(self.seed)
        self._world = World(self._rng)
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


# ------------------------------------------------------------------------------------------
# Posting to a hub


def _encode(events: list[dict[str, Any]]) -> bytes:
    return json.dumps({"events": events}, ensure_ascii=False, separators=(",", ":")).encode()


def _bodies(events: list[dict[str, Any]]) -> Iterator[tuple[int, bytes]]:
    """Ingest bodies for ``events``: halves until each fits the 1 MiB limit."""
    body = _encode(events)
    if len(body) <= MAX_BATCH_BYTES or len(events) == 1:
        yield len(events), body
        return
    mid = len(events) // 2
    yield from _bodies(events[:mid])
    yield from _bodies(events[mid:])


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    if seconds <= 0:
        return
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass


class _Poster:
    """Posts bodies until the hub takes them, backing off while it is away."""

    def __init__(self, client: httpx.AsyncClient, url: str, stop: asyncio.Event,
                 *, patient: bool = True) -> None:
        self.client = client
        self.url = url
        self.stop = stop
        self.patient = patient  # False: one try per body, no backoff (used when stopping)
        self.delivered = 0  # events the hub acknowledged (accepted or known duplicates)
        self.accepted = 0
        self.duplicates = 0
        self.retries = 0
        self._jitter = random.Random()  # not the simulator's: retries must not shift its story

    async def post(self, events: list[dict[str, Any]]) -> bool:
        """Deliver ``events``; ``False`` if stopped first. Raises :class:`SimulatorError`."""
        for count, body in _bodies(events):
            if not await self._post_body(body):
                return False
            self.delivered += count
        return True

    async def _post_body(self, body: bytes) -> bool:
        delay = 0.2
        failing_since: float | None = None
        loop = asyncio.get_running_loop()
        while not self.stop.is_set():
            problem: str
            try:
                response = await self.client.post(
                    self.url, content=body, headers={"Content-Type": "application/json"}
                )
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                if response.status_code == 200:
                    try:
                        answer = response.json()
                        self.accepted += int(answer.get("accepted", 0))
                        self.duplicates += int(answer.get("duplicates", 0))
                    except (ValueError, AttributeError, TypeError):
                        log.warning("hub answered 200 with an unexpected body")
                    if failing_since is not None:
                        log.info("hub reachable again after %.1f s; batch delivered",
                                 loop.time() - failing_since)
                    return True
                if response.status_code == 413:
                    # Our size limit is the protocol's; a hub with a smaller one needs halves.
                    events = json.loads(body)["events"]
                    if len(events) > 1:
                        mid = len(events) // 2
                        return await self._post_body(_encode(events[:mid])) and (
                            await self._post_body(_encode(events[mid:]))
                        )
                if response.status_code not in _RETRY_STATUSES:
                    raise SimulatorError(
                        f"hub refused the batch: HTTP {response.status_code}: "
                        f"{response.text[:2000]}"
                    )
                problem = f"HTTP {response.status_code}"
            if not self.patient:
                log.info("hub unavailable (%s); not retrying while stopping", problem)
                return False
            self.retries += 1
            if failing_since is None:
                failing_since = loop.time()
                log.warning("hub unavailable (%s); retrying the batch with backoff", problem)
            else:
                log.debug("hub still unavailable (%s); next try in %.1f s", problem, delay)
            await _wait(self.stop, delay * (0.75 + self._jitter.random() * 0.5))
            delay = min(delay * 2, 10.0)
        return False


async def run_simulator(
    base_url: str,
    token: str,
    *,
    rate: float,
    seed: int | None,
    stop: asyncio.Event,
    target_live: int = 40,
    request_timeout: float = 10.0,
    verify: bool | str = True,
    transport: httpx.AsyncBaseTransport | None = None,
    wind_down: bool = True,
) -> None:
    """Post simulated traffic to ``base_url`` at ``rate`` events/s until ``stop`` is set.

    A hub that is briefly away (refused connections, 5xx, 429, timeouts) gets the same batch
    again with backoff; nothing is dropped or duplicated. A refusal that resending cannot fix
    (401, 403, 422) raises :class:`SimulatorError`. ``transport`` replaces the network
    (tests of the retry rules).

    With ``wind_down``, stopping ends the live sessions in the hub (a system disconnect,
    posted together with any batch the stop interrupted): one try, at most two seconds, so
    a reachable hub is not left with sessions that stay live forever. Cancelling the task
    skips that.
    """
    if rate <= 0:
        raise ValueError("rate must be positive")
    sim = TrafficSimulator(seed=seed, rate=rate, target_live=target_live)
    url = base_url.rstrip("/") + "/api/v1/ingest"
    interval = max(1.0 / rate, _MIN_TICK_SECONDS)
    max_backlog = min(MAX_BATCH_EVENTS, max(1, int(rate * _MAX_BACKLOG_SECONDS)))
    log.info("simulator posting to %s at %.1f events/s (seed %d, ~%d live sessions)",
             url, rate, sim.seed, sim.target_live)
    loop = asyncio.get_running_loop()
    async with httpx.AsyncClient(
        timeout=request_timeout, verify=verify, transport=transport,
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        poster = _Poster(client, url, stop)
        start = loop.time()
        sent = 0  # events taken from the simulator: what the pacing counts
        pending: list[dict[str, Any]] = []  # taken but not acknowledged when stop came
        try:
            while not stop.is_set():
                tick = loop.time()
                # The first event goes out at once, then one every 1/rate seconds.
                owed = int((tick - start) * rate) + 1 - sent
                if owed > max_backlog:
                    # After an outage, do not flood the hub with a burst of stale "now"s.
                    start += (owed - max_backlog) / rate
                    owed = max_backlog
                if owed > 0:
                    batch = sim.next_batch(datetime.now(UTC), owed)
                    if not await poster.post(batch):
                        pending = batch
                        break
                    sent += len(batch)
                    log.debug("posted %d events (%d live sessions)", len(batch), sim.live_count)
                next_due = start + sent / rate
                await _wait(stop, max(next_due, tick + interval) - loop.time())
            if wind_down:
                await _wind_down(client, url, poster, pending + sim.wind_down(datetime.now(UTC)))
        finally:
            log.info(
                "simulator stopped: %d events posted (%d accepted, %d duplicates, %d retries), "
                "%d sessions started, %d ended",
                poster.delivered, poster.accepted, poster.duplicates, poster.retries,
                sim.sessions_started, sim.sessions_ended,
            )


async def _wind_down(client: httpx.AsyncClient, url: str, poster: _Poster,
                     events: list[dict[str, Any]]) -> None:
    if not events:
        return
    # Its own stop event (the run's is already set): one try per body, under a deadline.
    closing = _Poster(client, url, asyncio.Event(), patient=False)
    try:
        async with asyncio.timeout(_WIND_DOWN_SECONDS):
            await closing.post(events)
    except TimeoutError:
        log.warning("could not end %d live sessions in the hub before the deadline",
                    sum(1 for e in events if e["type"] == "session.ended"))
    except SimulatorError as exc:
        log.warning("the hub refused the wind-down batch: %s", exc)
    finally:
        poster.delivered += closing.delivered
        poster.accepted += closing.accepted
        poster.duplicates += closing.duplicates
        poster.retries += closing.retries


# ------------------------------------------------------------------------------------------
# Complete histories for tests and benchmarks


def _estimate_size(event: Event) -> int:
    """A safe upper estimate of an event's JSON size, without serialising it."""
    typ = event["type"]
    data = event["data"]
    if typ == "message.created":
        return (500 + 2 * len(data["text"]) + 250 * len(data["attachments"])
                + 40 * len(data["quick_replies"]))
    if typ == "log.appended":
        size = 120
        for entry in data["entries"]:
            size += 160 + 2 * (len(entry.get("text", "")) + len(entry.get("prompt", "")))
            generation = entry.get("generation")
            if generation:
                size += 2 * (len(generation["action"]) + len(generation["action_input"]))
        return size
    if typ == "session.started":
        return 1800
    return 500


def _compact(events: list[Event]) -> list[Event]:
    """Fold delivery/reaction updates into their messages and logs into one event per kind.

    A stored history does not need every intermediate receipt as its own event; this keeps a
    100,000-session dataset near one event per message while the final state is the same.
    """
    messages: dict[str, dict[str, Any]] = {}
    logs: dict[str, Event] = {}
    out: list[Event] = []
    ended: Event | None = None
    for event in events:
        typ = event["type"]
        data = event["data"]
        if typ == "message.created":
            messages[data["id"]] = data
            out.append(event)
        elif typ == "message.updated":
            target = messages.get(data["id"])
            if target is None:
                out.append(event)
                continue
            for key in ("reaction", "delivery"):
                if key in data:
                    target[key] = data[key]
        elif typ == "log.appended":
            kept = logs.get(data["kind"])
            if kept is None:
                logs[data["kind"]] = event
            else:
                kept["data"]["entries"].extend(data["entries"])
                kept["at"] = event["at"]
        elif typ == "session.ended":
            ended = event
        else:
            out.append(event)
    # The merged logs go last (before the end), stamped no earlier than what precedes them
    # so the session's events stay in time order (same-format RFC 3339 strings sort as text).
    latest = max((e["at"] for e in out), default="")
    for kept in logs.values():
        latest = kept["at"] = max(kept["at"], latest)
        out.append(kept)
    if ended is not None:
        out.append(ended)
    return out


def build_dataset(
    n_sessions: int,
    *,
    seed: int,
    messages_per_session: int = 10,
    live_fraction: float = 0.1,
    now: datetime | None = None,
    days: float = 14.0,
) -> Iterator[list[dict[str, Any]]]:
    """Complete histories of ``n_sessions`` sessions, as ingest batches (≤1000 events, ≤1 MiB).

    Ended sessions started over the past ``days`` (oldest first) and carry exactly
    ``messages_per_session`` messages each; the last ``round(n_sessions * live_fraction)``
    sessions started in the last 20 minutes and are still queued or active at ``now``.
    """
    if not 0.0 <= live_fraction <= 1.0:
        raise ValueError("live_fraction must be within [0, 1]")
    rng = random.Random(seed)
    world = World(rng, max_customers=max(200, n_sessions // 3))
    now_t = (now or datetime.now(UTC)).timestamp()
    n_live = round(n_sessions * live_fraction)
    n_hist = n_sessions - n_live
    oldest = max(days * 86400.0, 7200.0)
    starts = sorted(now_t - rng.uniform(7200.0, oldest) for _ in range(n_hist))
    size_budget = int(MAX_BATCH_BYTES * 0.95)
    batch: list[dict[str, Any]] = []
    size = 0
    for i in range(n_sessions):
        live = i >= n_hist
        story = SessionStory(world, rng, n_messages=messages_per_session)
        t = now_t - rng.uniform(30.0, 1200.0) if live else starts[i]
        events: list[Event] = []
        while True:
            delay = story.advance()
            if delay is None:
                break
            t += delay
            if live and events and (t > now_t or story.closing):
                break
            events.append(story.emit(t))
        for event in _compact(events):
            est = _estimate_size(event)
            if batch and (len(batch) >= MAX_BATCH_EVENTS or size + est > size_budget):
                yield batch
                batch = []
                size = 0
            batch.append(event)
            size += est
    if batch:
        yield batch
