"""Posting simulated traffic to a hub like any platform would, paced and riding out restarts.

:func:`run_simulator` paces a :class:`TrafficSimulator` stream to a rate (0.5 to 1,000
events/s) and posts it to ``POST /api/v1/ingest`` with an ingest token. A hub that is briefly
away gets the same batch again with backoff; event ids make the resend idempotent.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx

from supervisor_desk.simulator.handovers import HandoverReceiver
from supervisor_desk.simulator.traffic import TrafficSimulator

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
    verify: ssl.SSLContext | bool = True,
    transport: httpx.AsyncBaseTransport | None = None,
    wind_down: bool = True,
    hostile: bool = False,
    handovers: HandoverReceiver | None = None,
) -> None:
    """Post simulated traffic to ``base_url`` at ``rate`` events/s until ``stop`` is set.

    A hub that is briefly away (refused connections, 5xx, 429, timeouts) gets the same batch
    again with backoff; nothing is dropped or duplicated. A refusal that resending cannot fix
    (401, 403, 422) raises :class:`SimulatorError`. ``transport`` replaces the network
    (tests of the retry rules).

    With ``wind_down``, stopping ends the live sessions in the hub (a system disconnect,
    posted together with any batch the stop interrupted): one try, at most two seconds, so
    a reachable hub is not left with sessions that stay live forever. Cancelling the task
    skips that. ``hostile`` is for tests only (see :class:`TrafficSimulator`).

    ``handovers``: the webhook endpoint the hub delivers hand-overs to; each one stops the AI
    of its session and has the operator join (:meth:`TrafficSimulator.take_over`).
    """
    if rate <= 0:
        raise ValueError("rate must be positive")
    sim = TrafficSimulator(seed=seed, rate=rate, target_live=target_live, hostile=hostile)
    url = base_url.rstrip("/") + "/api/v1/ingest"
    if handovers is not None:

        def handed_over(session_id: str, operator: str) -> None:
            taken = sim.take_over(session_id, operator)
            log.info("hand-over of %s to %s: %s", session_id, operator,
                     "the AI stopped, the operator joins" if taken else "not live here")

        handovers.on_handover = handed_over
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
