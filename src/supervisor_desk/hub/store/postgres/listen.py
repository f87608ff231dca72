"""One replica's ear on the event log: ``LISTEN hub_events`` on a dedicated connection.

Every commit that appends events notifies ``hub_events`` with its last seq (delivered by
PostgreSQL at commit, to every replica). On each notification the store reads the events it
has not published yet, by seq range, and hands them to the feed
(:meth:`PostgresStore.catch_up`: the same read a resuming client's replay makes). Between
notifications the counter is polled every ``poll_seconds`` too, so a notification lost with a
dropped connection costs at most that long; when the connection drops the listener reconnects
with backoff and catches up from the counter: no event is lost, none doubled (the store
publishes each seq once).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

import psycopg

from supervisor_desk.hub.store.interface import StoreUnavailable

if TYPE_CHECKING:
    from supervisor_desk.hub.store.postgres.store import PostgresStore

log = logging.getLogger(__name__)


class EventListener:
    """A daemon thread: LISTEN, catch up on every notification, poll, reconnect."""

    def __init__(self, store: PostgresStore, *, poll_seconds: float = 1.0,
                 backoff_max: float = 5.0) -> None:
        self._store = store
        self.poll_seconds = poll_seconds
        self.backoff_max = backoff_max
        self._stop = threading.Event()
        self._conn: psycopg.Connection | None = None
        self._thread = threading.Thread(target=self._run, name="hub-pg-listen", daemon=True)
        self.reconnects = 0  # for tests and diagnostics

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._conn is not None:
            # Wake the LISTEN wait at once (any payload that is not a seq means "look").
            self._store.wake_listeners()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        from supervisor_desk.hub.store.postgres.store import NOTIFY_CHANNEL

        delay = 0.1
        while not self._stop.is_set():
            try:
                # Two connections: the LISTEN one is held by its notification generator, so the
                # events are read on a second one (not the read pool's: no wait for a free
                # connection and no health check per notification).
                with psycopg.connect(self._store.dsn, autocommit=True, connect_timeout=5) as conn, \
                        psycopg.connect(self._store.dsn, autocommit=True,
                                        connect_timeout=5) as reader:
                    self._conn = conn
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    # Anything committed while we were not listening.
                    self._store.catch_up(None, reader)
                    delay = 0.1
                    while not self._stop.is_set():
                        heard = False
                        # Each notification is handled as it arrives (the generator only
                        # ends at the timeout): catch up at once, then keep listening.
                        for notice in conn.notifies(timeout=self.poll_seconds):
                            if self._stop.is_set():
                                break
                            heard = True
                            payload = notice.payload
                            self._store.catch_up(int(payload) if payload.isdigit() else None,
                                                 reader)
                        if not heard and not self._stop.is_set():
                            self._store.catch_up(None, reader)  # a quiet second: poll
            except (psycopg.Error, StoreUnavailable, OSError) as exc:
                if self._stop.is_set():
                    break
                self.reconnects += 1
                log.warning("event listener: %s; reconnecting in %.1f s", exc, delay)
                self._stop.wait(delay)
                delay = min(self.backoff_max, delay * 2)
            finally:
                self._conn = None
