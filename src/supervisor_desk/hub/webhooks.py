"""Outbound webhooks: signing (Standard Webhooks) and the dispatcher that delivers the outbox.

The store writes one outbox row per (event, endpoint) in the event's own transaction. The
:class:`WebhookDispatcher` runs on threads of its own with an outbox view of its own (a
``WebhookOutbox`` of the store, on its own connection): it never takes the hub's writer thread
or event loop, so a slow or dead endpoint cannot slow ingest or the feed. It delivers at least
once (a delivery interrupted by a stop stays pending and goes out after the restart), one at a
time per (endpoint, session) in event order, retries failures with exponential backoff and
jitter until the retry window (24 h by default) is over, then marks the delivery ``dead`` for
the admin to see and replay.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from supervisor_desk.hub.store.interface import StoreError, WebhookOutbox
from supervisor_desk.hub.store.webhooks import SECRET_PREFIX, Delivery, now_ms

log = logging.getLogger("supervisor_desk.hub.webhooks")

USER_AGENT = "supervisor-hub-webhooks/1"


def sign(secret: str, message_id: str, timestamp: int, body: str | bytes) -> str:
    """The ``webhook-signature`` value: ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    content = body.encode() if isinstance(body, str) else body
    signed = f"{message_id}.{timestamp}.".encode() + content
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def headers_for(secret: str, message_id: str, body: str, timestamp: int | None = None
                ) -> dict[str, str]:
    stamp = int(time.time()) if timestamp is None else timestamp
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(secret, message_id, stamp, body),
    }


@dataclass(frozen=True)
class RetrySchedule:
    """When to try again: ``first`` seconds after the first failure, doubling up to ``cap``,
    each wait drawn at random from its upper half (jitter: endpoints coming back are not hit
    by every hub at once); no retry starts ``retry_for`` seconds after the delivery was
    queued (or replayed). ``timeout`` bounds one attempt (connect and answer)."""

    first: float = 5.0
    cap: float = 3600.0
    retry_for: float = 24 * 3600.0
    timeout: float = 10.0

    def delay(self, attempts: int, rng: random.Random | None = None) -> float:
        base = min(self.cap, self.first * 2.0 ** max(0, attempts - 1))
        return base * (0.5 + 0.5 * (rng or random).random())


class WebhookDispatcher:
    """Delivers the outbox that ``open_outbox`` opens, until :meth:`stop`."""

    def __init__(self, open_outbox: Callable[[], WebhookOutbox],
                 schedule: RetrySchedule | None = None, *,
                 workers: int = 4, poll_seconds: float = 1.0) -> None:
        self._open_outbox = open_outbox
        self.schedule = schedule or RetrySchedule()
        self.workers = workers
        self.poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # the connection and the set of busy sessions
        self._busy: set[tuple[str, str]] = set()
        self._conn: WebhookOutbox | None = None
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._clients = threading.local()
        self._all_clients: list[httpx.Client] = []
        self._rng = random.Random()

    def start(self) -> None:
        self._conn = self._open_outbox()
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="hub-webhook-send")
        self._thread = threading.Thread(target=self._run, name="hub-webhooks", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Look at the outbox now (called after a commit that queued deliveries)."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(30)
        if self._pool is not None:
            # Sends under way end within their timeout; what they could not record stays
            # pending and goes out again after a restart.
            self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        for client in self._all_clients:
            client.close()

    # ----------------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            wait = self.poll_seconds
            try:
                wait = self._dispatch_due()
            except Exception:
                log.exception("webhook dispatch failed; trying again shortly")
            self._wake.wait(wait)
            self._wake.clear()

    def _dispatch_due(self) -> float:
        """Hand the due deliveries to the senders; returns how long to sleep."""
        with self._lock:
            conn = self._conn
            if conn is None:
                return self.poll_seconds
            now = now_ms()
            found = conn.due(now, set(self._busy))
            for delivery in found:
                self._busy.add((delivery.webhook_id, delivery.session_id))
            upcoming = conn.next_due_ms()
        assert self._pool is not None
        for delivery in found:
            try:
                self._pool.submit(self._deliver, delivery)
            except RuntimeError:  # the pool is shutting down
                return self.poll_seconds
        if upcoming is None or found:
            return self.poll_seconds if not found else 0.0
        return max(0.0, min(self.poll_seconds, (upcoming - now_ms()) / 1000))

    def _client(self) -> httpx.Client:
        client: httpx.Client | None = getattr(self._clients, "client", None)
        if client is None:
            client = httpx.Client(timeout=self.schedule.timeout, follow_redirects=False,
                                  trust_env=False)
            self._clients.client = client
            with self._lock:
                self._all_clients.append(client)
        return client

    def _deliver(self, delivery: Delivery) -> None:
        key = (delivery.webhook_id, delivery.session_id)
        try:
            with self._lock:
                target = (self._conn.target(delivery.webhook_id)
                          if self._conn is not None else None)
            if target is None or self._stopping.is_set():
                return  # removed meanwhile, or stopping: stays pending (or is gone)
            url, secret = target
            status: int | None = None
            error: str | None = None
            try:
                answer = self._client().post(
                    url, content=delivery.payload.encode(),
                    headers=headers_for(secret, delivery.msg_id, delivery.payload),
                )
                status = answer.status_code
                if not 200 <= status < 300:
                    error = f"HTTP {status}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"[:500] if str(exc) else type(exc).__name__
            self._record(delivery, status, error)
        except Exception:
            log.exception("webhook delivery %s failed unexpectedly", delivery.id)
        finally:
            with self._lock:
                self._busy.discard(key)
            self._wake.set()  # the session's next delivery may go now

    def _record(self, delivery: Delivery, status: int | None, error: str | None) -> None:
        now = now_ms()
        if error is None:
            state, next_ms = "delivered", now
        else:
            wait_ms = int(self.schedule.delay(delivery.attempts + 1, self._rng) * 1000)
            over = now + wait_ms > delivery.window_ms + int(self.schedule.retry_for * 1000)
            state, next_ms = ("dead", now) if over else ("pending", now + wait_ms)
            log.log(logging.WARNING if over else logging.INFO,
                    "webhook %s delivery %s: %s; %s", delivery.webhook_id, delivery.msg_id,
                    error, "dead-lettered" if over else f"retry in {wait_ms / 1000:.1f} s")
        with self._lock:
            if self._conn is None:
                return
            with contextlib.suppress(StoreError):
                self._conn.record(delivery.id, state=state, next_ms=next_ms,
                                      status=status, error=error)
