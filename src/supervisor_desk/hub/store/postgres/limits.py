"""Sign-in throttling and the per-token ingest limit counted in PostgreSQL, shared by replicas.

Counted per process, three replicas behind a load balancer would allow three times the
failed sign-ins and three times the ingest rate. Here every replica reads and writes the same
rows: the ingest token bucket is one row per token, refilled and drawn from in one atomic
``UPDATE`` on the database's clock; failed sign-ins are one row per failure and key, counted
in the throttle's window; the addresses a user signed in from are one row per pair. The
decisions themselves (refuse, slow down) are :class:`~supervisor_desk.hub.service.LoginThrottle`'s.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager

import psycopg

from supervisor_desk.hub.service import LoginThrottle

Connect = Callable[[], AbstractContextManager[psycopg.Connection]]

# How often a replica deletes failures past the window (and addresses no longer known).
_PURGE_EVERY_S = 60.0


_NOW = "extract(epoch FROM statement_timestamp())::float8"
_FILLED = f"least(%(burst)s, b.level + ({_NOW} - b.stamp_s) * %(rate)s)"
# A new token's bucket starts full and is drawn from at once; an existing one is refilled for
# the time since its last draw and drawn from, or (over the limit) left as it is. One statement,
# atomic per row however many replicas draw at once; it returns whether it drew and the level.
_TAKE = (
    f"INSERT INTO rate_buckets AS b (key, level, stamp_s) "
    f"VALUES (%(key)s, %(burst)s - %(events)s, {_NOW}) "
    f"ON CONFLICT (key) DO UPDATE SET "
    f"level = CASE WHEN {_FILLED} >= %(events)s THEN {_FILLED} - %(events)s ELSE b.level END, "
    f"stamp_s = CASE WHEN {_FILLED} >= %(events)s THEN {_NOW} ELSE b.stamp_s END "
    f"RETURNING b.stamp_s = {_NOW}, {_FILLED}"
).encode()


class PgIngestBuckets:
    """Token buckets in ``rate_buckets``: :meth:`take` is the whole check in one statement."""

    def __init__(self, connect: Connect) -> None:
        self._connect = connect

    def take(self, key: str, events: int, rate: float, burst: float) -> float | None:
        """Take ``events`` from ``key``'s bucket: ``None`` if allowed, else seconds to wait."""
        if events > burst:  # more than a full bucket: never (as in memory)
            return (events - burst) / rate
        with self._connect() as conn:
            row = conn.execute(
                _TAKE, {"key": key, "events": events, "rate": rate, "burst": burst}).fetchone()
        assert row is not None
        drawn, level = row
        if drawn:
            return None
        return (events - float(level)) / rate


class PgLoginThrottle(LoginThrottle):
    """:class:`LoginThrottle` whose failures and known addresses are rows every replica sees.

    Attempts of one (name, address) pair still take turns per replica (an asyncio lock); across
    replicas the count is shared, so parallel guesses through N replicas get at most N - 1
    attempts past the limit before every replica refuses them.
    """

    shared = True

    def __init__(self, connect: Connect) -> None:
        super().__init__()
        self._connect = connect
        self._purged = 0.0

    @staticmethod
    def _offset() -> float:
        # The rows hold wall-clock seconds (the same on every replica's host); the base class
        # compares with time.monotonic().
        return time.time() - time.monotonic()

    def _recent(self, key: str, now: float) -> deque[float]:
        offset = self._offset()
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT at_s FROM login_failures WHERE key = %s AND at_s > %s ORDER BY at_s",
                (_row_key(key), now + offset - self.window)).fetchall()
        return deque(float(at) - offset for (at,) in rows)

    def is_known(self, name: str, address: str) -> bool:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT 1 FROM login_known WHERE name = %s AND address = %s AND at_s > %s",
                (name, address, time.time() - self.known_for)).fetchone()
        return row is not None

    def failed(self, name: str, address: str) -> None:
        now = time.time()
        with self._connect() as conn, conn.transaction():
            conn.cursor().executemany(
                "INSERT INTO login_failures (key, at_s) VALUES (%s, %s)",
                [(_row_key(key), now) for key in self._keys(name, address)])
            if now - self._purged > _PURGE_EVERY_S:
                self._purged = now
                conn.execute("DELETE FROM login_failures WHERE at_s <= %s", (now - self.window,))
                conn.execute("DELETE FROM login_known WHERE at_s <= %s", (now - self.known_for,))

    def succeeded(self, name: str, address: str) -> None:
        with self._connect() as conn, conn.transaction():
            conn.execute("DELETE FROM login_failures WHERE key = %s",
                         (_row_key(self._keys(name, address)[0]),))
            conn.execute(
                "INSERT INTO login_known (name, address, at_s) VALUES (%s, %s, %s) "
                "ON CONFLICT (name, address) DO UPDATE SET at_s = excluded.at_s",
                (name, address, time.time()))


def _row_key(key: str) -> str:
    # The throttle's keys hold a NUL (and any text a client sent as a name), which a text
    # column refuses: their digest instead.
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
