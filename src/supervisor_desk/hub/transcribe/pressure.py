"""Transcription yields to a busy hub: the hub tells its worker when its ingest is saturated
or its feed is busy, and the worker then rests longer between segments.

The worker runs on the core the hub's ingest does not use, yet a saturating ingest still lost
about 10 % beside it at duty 0.3 (docs/performance.md, "Voice"): the second core is where the
platforms' connections and the hub's own threads run too. The feed's latency is the same
story: a fan-out to desktops wakes the hub's event loop thousands of times a second, and a
waking thread that finds both cores taken waits. So while the hub's writer has ingest batches
waiting or in a commit most of the time (:class:`IngestPressure`), or while it hands at least
:data:`FEED_BUSY_FRAMES_PER_S` frames a second to feed clients (:class:`FeedPressure`), the
job runner writes ``{"pressure": true}`` on the worker's stdin, and ``{"pressure": false}``
when both have been quiet for a while; the worker's :class:`Pacer` then recognises at most
:data:`PRESSED_DUTY` of the time instead of its normal duty. That duty is also the floor of
progress: a hub that is never idle still sees its recordings transcribed, slowly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from supervisor_desk.hub.service import HubService

# Share of a core the worker uses at most while the hub is busy (its normal duty if that is
# lower). At 0.31 CPU-s per audio second that is still 0.16x real time.
PRESSED_DUTY = 0.05
# The writer's busy share at or above which ingest counts as saturated, BUSY_TICKS ticks in
# a row (one slow commit, e.g. a recording's import, is not saturation): the bench's
# saturating ingest kept it at 0.77-0.98 per 0.5 s, live traffic of 200 events/s at 0.10-0.12.
BUSY_SHARE = 0.5
BUSY_TICKS = 2
# Back to normal only after QUIET_TICKS ticks in a row below QUIET_SHARE: a saturated
# writer that dips for a moment does not wake the worker.
QUIET_SHARE = 0.25
QUIET_TICKS = 2
# Frames a second handed to feed clients (events x clients) at or above which the feed is
# busy, BUSY_TICKS ticks in a row; calm again below FEED_QUIET_FRAMES_PER_S, QUIET_TICKS in a
# row. 1,000 is 100 events/s to 10 desktops or 20 events/s to 50; a quiet floor (5 events/s
# to a few desktops) is far below it.
FEED_BUSY_FRAMES_PER_S = 1_000.0
FEED_QUIET_FRAMES_PER_S = 500.0
TICK_S = 0.25
# A rest is slept in steps of at most REST_STEP_S; a step that ends more than OVERSLEEP_S
# after it was due was a stop, and counts only as the step (see Pacer.rest).
REST_STEP_S = 0.5
OVERSLEEP_S = 0.25


class _Hysteresis:
    """On after ``BUSY_TICKS`` busy ticks in a row, off after ``QUIET_TICKS`` quiet ones."""

    def __init__(self) -> None:
        self.pressed = False
        self._busy_ticks = 0
        self._quiet_ticks = 0

    def tick(self, busy: bool, quiet: bool) -> bool | None:
        """The new state when this tick changes it, else None."""
        if not self.pressed:
            self._busy_ticks = self._busy_ticks + 1 if busy else 0
            if self._busy_ticks >= BUSY_TICKS:
                self.pressed = True
                self._busy_ticks = self._quiet_ticks = 0
                return True
            return None
        self._quiet_ticks = self._quiet_ticks + 1 if quiet else 0
        if self._quiet_ticks >= QUIET_TICKS:
            self.pressed = False
            return False
        return None


class _RateGauge:
    """Judges, tick by tick, whether a growing total rises fast enough to count as busy:
    busy at ``busy_at`` a second or more, calm below ``quiet_below``, through
    :class:`_Hysteresis`."""

    busy_at: float
    quiet_below: float

    def __init__(self) -> None:
        self._state = _Hysteresis()
        self._last: tuple[float, float] | None = None
        self.rate = 0.0  # the total's rise a second over the last tick

    @property
    def pressed(self) -> bool:
        return self._state.pressed

    def sample(self, total: float, now: float) -> bool | None:
        """The new state when this sample changes it, else None."""
        last, self._last = self._last, (total, now)
        if last is None or now <= last[1]:
            return None
        self.rate = (total - last[0]) / (now - last[1])
        return self._state.tick(self.rate >= self.busy_at, self.rate < self.quiet_below)


class IngestPressure(_RateGauge):
    """Whether the hub's ingest is saturated, from the seconds its writer has been busy
    (``HubService.writer_busy_s``, a growing total): its rate is the writer's busy share."""

    busy_at = BUSY_SHARE
    quiet_below = QUIET_SHARE


class FeedPressure(_RateGauge):
    """Whether the hub's feed fan-out is busy, from the frames it has handed to its clients
    (``Broadcaster.frames_published``, a growing total): its rate is frames a second."""

    busy_at = FEED_BUSY_FRAMES_PER_S
    quiet_below = FEED_QUIET_FRAMES_PER_S


@dataclass(frozen=True)
class HubLoad:
    """One look at the hub: totals since it started, which only grow."""

    writer_busy_s: float  # seconds ingest batches waited for or were in a commit
    feed_frames: int  # frames handed to feed clients (events x clients)


def hub_load(service: HubService) -> HubLoad:
    """The hub's load now (on the event loop's thread, where both totals are kept)."""
    return HubLoad(service.writer_busy_s(), service.broadcaster.frames_published)


class HubPressure:
    """The hub is busy while its ingest is saturated or its feed is busy."""

    def __init__(self) -> None:
        self.ingest = IngestPressure()
        self.feed = FeedPressure()
        self.pressed = False

    def sample(self, load: HubLoad, now: float) -> bool | None:
        """The new state when this sample changes it, else None."""
        self.ingest.sample(load.writer_busy_s, now)
        self.feed.sample(load.feed_frames, now)
        pressed = self.ingest.pressed or self.feed.pressed
        if pressed == self.pressed:
            return None
        self.pressed = pressed
        return pressed

    def cause(self) -> str:
        """What keeps the hub busy (or what it was busy with last), for the hub's log."""
        return (f"ingest {'saturated' if self.ingest.pressed else 'calm'}, writer busy "
                f"{self.ingest.rate:.0%}; feed {'busy' if self.feed.pressed else 'calm'}, "
                f"{self.feed.rate:,.0f} frames/s")


async def tell_worker(load: Callable[[], HubLoad], stdin: asyncio.StreamWriter,
                      tick_s: float = TICK_S,
                      told: Callable[[bool, str], None] | None = None) -> None:
    """Write the hub's pressure on a worker's stdin at each change, until cancelled or the
    worker has gone (its pipe closed); ``told`` hears each change and its cause."""
    gauge = HubPressure()
    while True:
        changed = gauge.sample(load(), time.monotonic())
        if changed is not None:
            if told is not None:
                told(changed, gauge.cause())
            stdin.write(json.dumps({"pressure": changed}).encode() + b"\n")
            try:
                await stdin.drain()  # waits while the worker is stopped (SIGSTOP) and full
            except (BrokenPipeError, ConnectionResetError):
                return  # the worker ended: its job's task says how
        await asyncio.sleep(tick_s)


class Pacer:
    """The worker's rests between segments: ``(1 / duty - 1)`` times the CPU time a segment
    used, with the duty lowered to :data:`PRESSED_DUTY` while the hub says it is busy. A
    change of pressure reaches a rest already begun: it is lengthened, or cut short."""

    def __init__(self, duty: float,
                 report: Callable[[dict[str, object]], None] | None = None) -> None:
        self.normal_duty = duty
        self._pressed = False
        self._report = report
        self._changed = threading.Condition()
        self._cpu_mark = time.process_time()

    @property
    def duty(self) -> float:
        return min(self.normal_duty, PRESSED_DUTY) if self._pressed else self.normal_duty

    def set_pressure(self, pressed: bool) -> None:
        with self._changed:
            if pressed == self._pressed:
                return
            self._pressed = pressed
            duty = self.duty
            self._changed.notify_all()
        if self._report is not None:
            self._report({"duty": duty, "pressure": pressed})

    @property
    def pressed(self) -> bool:
        return self._pressed

    def begin(self) -> None:
        """A segment's work begins: :meth:`take_cpu_s` counts from here."""
        self._cpu_mark = time.process_time()

    def take_cpu_s(self) -> float:
        """CPU seconds used since :meth:`begin` or the last call, which a rest now covers."""
        now = time.process_time()
        used, self._cpu_mark = now - self._cpu_mark, now
        return used

    def breathe(self) -> None:
        """Between two parts of a segment's work: while the hub is busy, rest for the first
        part now rather than after the whole segment."""
        if self._pressed:
            self.rest(self.take_cpu_s())

    def rest_left(self, cpu_s: float, rested_s: float) -> float:
        """Seconds still to rest after a segment that used ``cpu_s``, ``rested_s`` into it."""
        duty = self.duty
        return cpu_s * (1.0 / duty - 1.0) - rested_s if duty < 1.0 else 0.0

    def rest(self, cpu_s: float) -> None:
        """Rest in proportion to the CPU time used (not the wall time: a worker kept waiting
        by a busy machine has had its rest already); the CPU's caches go back to the hub.

        Time the worker was stopped (SIGSTOP, a suspended machine) is not rest: the hub had
        no traffic of ours to yield to then, and a worker that counted it started the next
        segment at once on waking, whatever the hub's pressure."""
        rested = 0.0
        with self._changed:
            while (left := self.rest_left(cpu_s, rested)) > 0:
                step = min(left, REST_STEP_S)
                began = time.monotonic()
                self._changed.wait(step)
                rested += min(time.monotonic() - began, step + OVERSLEEP_S)

    def listen(self, lines: IO[str]) -> threading.Thread:
        """Follow the hub's pressure lines on ``lines`` (the worker's stdin) in a thread of
        its own; at their end (the hub gone or done) the pressure is off."""

        def follow() -> None:
            with contextlib.suppress(OSError, ValueError):
                for raw in lines:
                    try:
                        said = json.loads(raw)
                    except ValueError:
                        continue  # not a line of the hub's: nothing to follow
                    if isinstance(said, dict) and isinstance(said.get("pressure"), bool):
                        self.set_pressure(said["pressure"])
            self.set_pressure(False)

        thread = threading.Thread(target=follow, name="hub-pressure", daemon=True)
        thread.start()
        return thread
