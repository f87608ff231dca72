"""Transcription yields to a saturated hub: the hub tells its worker when ingest is busy, and
the worker then rests longer between segments.

The worker runs on the core the hub's ingest does not use, yet a saturating ingest still lost
about 10 % beside it at duty 0.3 (docs/performance.md, "Voice"): the second core is where the
platforms' connections and the hub's own threads run too. So while the hub's writer has
ingest batches waiting or in a commit most of the time (:meth:`IngestPressure.sample`), the
job runner writes ``{"pressure": true}`` on the worker's stdin, and ``{"pressure": false}``
when it has been quiet for a while; the worker's :class:`Pacer` then recognises at most
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
from typing import IO

# Share of a core the worker uses at most while the hub's ingest is saturated (its normal
# duty if that is lower). At 0.31 CPU-s per audio second that is still 0.16x real time.
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
TICK_S = 0.25


class IngestPressure:
    """Judges, tick by tick, whether the hub's ingest is saturated, from the seconds its
    writer has been busy (``HubService.writer_busy_s``, a growing total)."""

    def __init__(self) -> None:
        self.pressed = False
        self._last: tuple[float, float] | None = None
        self._quiet_ticks = 0
        self._busy_ticks = 0

    def sample(self, busy_s: float, now: float) -> bool | None:
        """The new state when this sample changes it, else None."""
        last, self._last = self._last, (busy_s, now)
        if last is None or now <= last[1]:
            return None
        share = (busy_s - last[0]) / (now - last[1])
        if not self.pressed:
            self._busy_ticks = self._busy_ticks + 1 if share >= BUSY_SHARE else 0
            if self._busy_ticks >= BUSY_TICKS:
                self.pressed = True
                self._busy_ticks = self._quiet_ticks = 0
                return True
            return None
        self._quiet_ticks = self._quiet_ticks + 1 if share < QUIET_SHARE else 0
        if self._quiet_ticks >= QUIET_TICKS:
            self.pressed = False
            return False
        return None


async def tell_worker(busy_s: Callable[[], float], stdin: asyncio.StreamWriter,
                      tick_s: float = TICK_S) -> None:
    """Write the hub's ingest pressure on a worker's stdin at each change, until cancelled
    or the worker has gone (its pipe closed)."""
    gauge = IngestPressure()
    while True:
        changed = gauge.sample(busy_s(), time.monotonic())
        if changed is not None:
            stdin.write(json.dumps({"pressure": changed}).encode() + b"\n")
            try:
                await stdin.drain()  # waits while the worker is stopped (SIGSTOP) and full
            except (BrokenPipeError, ConnectionResetError):
                return  # the worker ended: its job's task says how
        await asyncio.sleep(tick_s)


class Pacer:
    """The worker's rests between segments: ``(1 / duty - 1)`` times the CPU time a segment
    used, with the duty lowered to :data:`PRESSED_DUTY` while the hub says it is saturated. A
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
        """Between two parts of a segment's work: while the hub is saturated, rest for the
        first part now rather than after the whole segment."""
        if self._pressed:
            self.rest(self.take_cpu_s())

    def rest_left(self, cpu_s: float, rested_s: float) -> float:
        """Seconds still to rest after a segment that used ``cpu_s``, ``rested_s`` into it."""
        duty = self.duty
        return cpu_s * (1.0 / duty - 1.0) - rested_s if duty < 1.0 else 0.0

    def rest(self, cpu_s: float) -> None:
        """Rest in proportion to the CPU time used (not the wall time: a worker kept waiting
        by a busy machine has had its rest already); the CPU's caches go back to the hub."""
        began = time.monotonic()
        with self._changed:
            while (left := self.rest_left(cpu_s, time.monotonic() - began)) > 0:
                self._changed.wait(left)

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
