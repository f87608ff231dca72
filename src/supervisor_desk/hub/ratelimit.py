"""Per-token ingest rate limit: a token bucket of events, answered with 429 + Retry-After.

One platform with a runaway loop (or a stolen ingest token) must not be able to fill the disk
or starve the writer for everyone else. The limit counts events, not requests, so batching is
not penalised; the default is generous (5,000 events/s with bursts of 20,000 per token: the
simulator at 1,000 events/s stays far below it).

Counted in this process's memory by default (one hub process: SQLite, the demo, tests). A store
that several hub processes share (PostgreSQL) counts the buckets, and the sign-in throttle's
failures, in the database instead (:class:`SharesLimits`), so the limits hold for the hub as a
whole, not per replica.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from supervisor_desk.hub.errors import ApiError

if TYPE_CHECKING:
    from supervisor_desk.hub.service import HubService

DEFAULT_EVENTS_PER_SECOND = 5_000.0


class SharedBuckets(Protocol):
    """Token buckets kept outside the process; ``take`` as :meth:`IngestRateLimit.take`."""

    def take(self, key: str, events: int, rate: float, burst: float) -> float | None: ...


@runtime_checkable
class SharesLimits(Protocol):
    """A store shared by several hub processes: it puts the service's sign-in throttle and
    ingest limit on shared counters (called once, when the service is made)."""

    def share_limits(self, service: HubService) -> None: ...


@dataclass
class _Bucket:
    level: float
    stamp: float


class IngestRateLimit:
    """``rate`` events/s per token with bursts up to ``burst``; ``rate=None`` disables it."""

    def __init__(
        self, rate: float | None = DEFAULT_EVENTS_PER_SECOND, burst: float | None = None
    ) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}
        self._shared: SharedBuckets | None = None
        self.configure(rate, burst)

    @property
    def shared(self) -> bool:
        """Whether :meth:`take` asks a shared store (and so must run off the event loop)."""
        return self._shared is not None

    def share(self, buckets: SharedBuckets) -> None:
        """Count in ``buckets`` (shared by every replica) instead of this process's memory."""
        self._shared = buckets

    def configure(self, rate: float | None, burst: float | None = None) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("the ingest rate must be positive (or None for no limit)")
        with self._lock:
            self.rate = rate
            # A full batch (1,000 events) must always fit, or it could never be accepted.
            self.burst = max(burst if burst is not None else 4 * (rate or 0), 1000.0)
            self._buckets.clear()

    def take(self, key: str, events: int, now: float | None = None) -> float | None:
        """Take ``events`` from ``key``'s bucket: ``None`` if allowed, else seconds to wait."""
        if self.rate is None:
            return None
        if self._shared is not None:
            return self._shared.take(key, events, self.rate, self.burst)
        moment = time.monotonic() if now is None else now
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(self.burst, moment)
            bucket.level = min(self.burst, bucket.level + (moment - bucket.stamp) * self.rate)
            bucket.stamp = moment
            if bucket.level >= events:
                bucket.level -= events
                return None
            if len(self._buckets) > 10_000:
                # Many tokens, most idle: a full bucket is the same as no bucket.
                full = [k for k, b in self._buckets.items() if b.level >= self.burst and k != key]
                for stale in full:
                    del self._buckets[stale]
            return (events - bucket.level) / self.rate

    def check(self, key: str, events: int) -> None:
        """Raise the 429 :class:`ApiError` (with ``Retry-After``) when over the limit."""
        wait = self.take(key, events)
        if wait is None:
            return
        seconds = max(1, math.ceil(wait))
        raise ApiError(
            429,
            "rate_limited",
            f"this token may ingest at most {self.rate:g} events/s; "
            f"retry this batch in {seconds} s (nothing in it was stored)",
            headers={"Retry-After": str(seconds)},
        )
