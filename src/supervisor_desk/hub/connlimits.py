"""Connection limits in front of the hub's routes: slowloris and descriptor exhaustion.

uvicorn (h11) never times out a request whose headers arrive slowly or never, and accepts
sockets until the process runs out of descriptors. Here, every connection:

- must finish its request headers within ``header_timeout`` of connecting (or of its previous
  answer): otherwise it gets ``408`` and is closed;
- must keep sending a request body it has started: ``body_timeout`` without a byte closes it
  (not counted while the hub itself has paused reading);
- counts against a cap per client address and a cap in total. Over the per-address cap a new
  connection is answered ``503`` and closed at once. At the total cap, the oldest connection
  that is still waiting for its request headers (or idle between requests) is dropped to make
  room; when there is none, the new one gets ``503``.

The total cap is kept under the process's descriptor limit, so accepting never fails for lack of
descriptors because of clients; if it fails anyway (``EMFILE`` from other use), the accept loop
backs off for a second (asyncio), connections still waiting for headers are shed to free
descriptors, and one warning a minute is logged instead of a traceback per attempt.

Addresses of trusted proxies (``--forwarded-allow-ips``) are not held to the per-address cap: every
client behind them shares their address.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import resource
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from supervisor_desk.hub.lograte import RateLimitedLog

log = logging.getLogger("supervisor_desk.hub.connections")

MAX_CONNECTIONS = 1000
MAX_CONNECTIONS_PER_ADDRESS = 128
HEADER_TIMEOUT = 10.0
BODY_TIMEOUT = 30.0
# Descriptors kept for the database, log files, the event loop and the reader threads.
RESERVED_DESCRIPTORS = 64
_ACCEPT_ERRNOS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
# On EMFILE, at most this share of the connections waiting for headers is shed per second.
_SHED_FRACTION = 0.1


@dataclass(frozen=True)
class ConnectionLimits:
    max_connections: int = MAX_CONNECTIONS
    max_per_address: int = MAX_CONNECTIONS_PER_ADDRESS
    header_timeout: float = HEADER_TIMEOUT
    body_timeout: float = BODY_TIMEOUT

    def __post_init__(self) -> None:
        if self.max_connections < 1 or self.max_per_address < 1:
            raise ValueError("connection limits must be at least 1")
        if self.header_timeout <= 0 or self.body_timeout <= 0:
            raise ValueError("timeouts must be positive")


def descriptor_limit() -> int | None:
    """The process's soft RLIMIT_NOFILE, or ``None`` when unlimited."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def effective_max_connections(configured: int, fd_limit: int | None) -> int:
    """The configured cap, lowered to fit under the descriptor limit with a reserve."""
    if fd_limit is None:
        return configured
    return max(1, min(configured, fd_limit - RESERVED_DESCRIPTORS))


class TrustedAddresses:
    """Addresses and networks (``127.0.0.1``, ``10.0.0.0/8``, ``*``) of trusted proxies."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.any = False
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in entries:
            entry = entry.strip()
            if not entry:
                continue
            if entry == "*":
                self.any = True
            else:
                self.networks.append(ipaddress.ip_network(entry, strict=False))

    def __contains__(self, address: str) -> bool:
        if self.any:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)


def parse_trusted(value: str | Iterable[str] | None) -> list[str]:
    """``--forwarded-allow-ips`` as a list (comma-separated text or a sequence); checked."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    entries = [item.strip() for item in items if item.strip()]
    TrustedAddresses(entries)  # raises ValueError on a malformed entry
    return entries


class _Slot:
    """One admitted connection's place in the counts (released exactly once)."""

    __slots__ = ("address", "evict", "released", "waiting_since")

    def __init__(self, address: str, evict: Callable[[], None]) -> None:
        self.address = address
        self.evict = evict
        self.released = False
        self.waiting_since: float | None = None


class ConnectionGuard:
    """Counts open connections per address and in total; picks what to refuse or drop."""

    def __init__(self, limits: ConnectionLimits, trusted: TrustedAddresses,
                 fd_limit: int | None = None) -> None:
        self.limits = limits
        self.trusted = trusted
        self.fd_limit = fd_limit
        self.max_connections = effective_max_connections(limits.max_connections, fd_limit)
        self.total = 0
        self.per_address: dict[str, int] = {}
        # Connections waiting for request headers, oldest first (dicts keep insertion order).
        self._waiting: dict[_Slot, None] = {}
        self.refused = 0
        self.evicted = 0
        self.timed_out = 0
        self.accept_failures = 0
        self._last_shed = 0.0
        self._notes = RateLimitedLog(log, period=60.0, burst=5)
        self._accept_note = RateLimitedLog(log, period=60.0, burst=1)

    def admit(self, address: str, evict: Callable[[], None]) -> _Slot | None:
        if (address not in self.trusted
                and self.per_address.get(address, 0) >= self.limits.max_per_address):
            self.refused += 1
            self._notes.warning(
                "refused a connection from %s: %d open from that address (limit %d)",
                address, self.per_address[address], self.limits.max_per_address)
            return None
        if self.total >= self.max_connections:
            victim = next(iter(self._waiting), None)
            if victim is None:
                self.refused += 1
                self._notes.warning(
                    "refused a connection from %s: %d connections open (limit %d), none idle",
                    address, self.total, self.max_connections)
                return None
            self.evicted += 1
            self._notes.warning(
                "%d connections open (limit %d): dropped the oldest one still waiting for "
                "its request (from %s)", self.total, self.max_connections, victim.address)
            self._drop(victim)
        slot = _Slot(address, evict)
        self.total += 1
        self.per_address[address] = self.per_address.get(address, 0) + 1
        return slot

    def waiting(self, slot: _Slot, waiting: bool) -> None:
        """Mark a connection as waiting for a request (droppable) or busy with one."""
        if slot.released:
            return
        if waiting and slot.waiting_since is None:
            slot.waiting_since = time.monotonic()
            self._waiting[slot] = None
        elif not waiting and slot.waiting_since is not None:
            slot.waiting_since = None
            self._waiting.pop(slot, None)

    def release(self, slot: _Slot | None) -> None:
        if slot is None or slot.released:
            return
        slot.released = True
        self._waiting.pop(slot, None)
        self.total -= 1
        left = self.per_address[slot.address] - 1
        if left:
            self.per_address[slot.address] = left
        else:
            del self.per_address[slot.address]

    def _drop(self, slot: _Slot) -> None:
        self.release(slot)
        slot.evict()

    def note_timeout(self, address: str, what: str) -> None:
        self.timed_out += 1
        self._notes.warning("closed a connection from %s: %s", address, what)

    def accept_failed(self, exc: BaseException | None) -> None:
        """asyncio could not accept (out of descriptors): shed waiting connections, log once."""
        self.accept_failures += 1
        now = time.monotonic()
        if now - self._last_shed >= 1.0:
            self._last_shed = now
            count = max(1, int(len(self._waiting) * _SHED_FRACTION)) if self._waiting else 0
            for slot in list(self._waiting)[:count]:
                self.evicted += 1
                self._drop(slot)
        reason = getattr(exc, "strerror", None) or str(exc)
        self._accept_note.warning(
            "cannot accept connections: %s (%d open, limit %d, descriptor limit %s); "
            "retrying every second, shedding connections still waiting for a request",
            reason, self.total, self.max_connections, self.fd_limit or "unlimited")

    def exception_handler(
        self, previous: Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object] | None
    ) -> Callable[[asyncio.AbstractEventLoop, dict[str, Any]], None]:
        """A loop exception handler that turns accept failures into :meth:`accept_failed`."""

        def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
            exc = context.get("exception")
            if (isinstance(exc, OSError) and exc.errno in _ACCEPT_ERRNOS
                    and "socket" in context and "accept" in str(context.get("message", ""))):
                self.accept_failed(exc)
                return
            if previous is not None:
                previous(loop, context)
            else:
                loop.default_exception_handler(context)

        return handle


_TIMEOUT_BODY = b"the request headers did not arrive in time\n"
_REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"connection: close\r\ncontent-length: " + str(len(_TIMEOUT_BODY)).encode() + b"\r\n\r\n"
    + _TIMEOUT_BODY
)
_BUSY_BODY = b"too many connections; try again later\n"
_SERVICE_UNAVAILABLE = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"connection: close\r\nretry-after: 5\r\ncontent-length: "
    + str(len(_BUSY_BODY)).encode() + b"\r\n\r\n" + _BUSY_BODY
)


def guarded_protocols(
    guard: ConnectionGuard,
) -> tuple[type[H11Protocol], type[WebSocketsSansIOProtocol]]:
    """uvicorn protocol classes (``http=``, ``ws=``) that report to ``guard``."""

    class GuardedWebSocket(WebSocketsSansIOProtocol):
        # Handed over by the HTTP protocol at the upgrade; released when the socket goes.
        slot: _Slot | None = None

        def connection_lost(self, exc: Exception | None) -> None:
            guard.release(self.slot)
            super().connection_lost(exc)

    class GuardedH11(H11Protocol):
        slot: _Slot | None = None
        refused = False
        header_timer: asyncio.TimerHandle | None = None
        body_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            peer = transport.get_extra_info("peername")
            address = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
            self.slot = guard.admit(address, transport.abort)
            if self.slot is None:
                self.refused = True
                transport.write(_SERVICE_UNAVAILABLE)
                transport.close()
                return
            super().connection_made(transport)
            self._await_request()

        def connection_lost(self, exc: Exception | None) -> None:
            if self.refused:
                return
            self._cancel_timers()
            guard.release(self.slot)
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.slot is None or self.transport.get_protocol() is not self:
                return  # upgraded to a websocket (handed over) or closing
            state = self.conn.their_state
            if state is h11.IDLE:
                return  # still inside the request headers: the header deadline holds
            self._request_started()
            if state is h11.SEND_BODY:
                self._arm_body_timer()
            elif self.body_timer is not None:
                self.body_timer.cancel()
                self.body_timer = None

        def handle_websocket_upgrade(self, event: h11.Request) -> None:
            self._cancel_timers()
            slot, self.slot = self.slot, None
            if slot is not None:
                guard.waiting(slot, False)
            super().handle_websocket_upgrade(event)
            protocol = self.transport.get_protocol()
            if isinstance(protocol, GuardedWebSocket):
                protocol.slot = slot
            else:
                guard.release(slot)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if (self.slot is not None and not self.transport.is_closing()
                    and self.conn.their_state is h11.IDLE):
                self._await_request()

        def _await_request(self) -> None:
            assert self.slot is not None
            guard.waiting(self.slot, True)
            if self.header_timer is None:
                self.header_timer = self.loop.call_later(
                    guard.limits.header_timeout, self._on_header_timeout)

        def _request_started(self) -> None:
            if self.slot is not None:
                guard.waiting(self.slot, False)
            if self.header_timer is not None:
                self.header_timer.cancel()
                self.header_timer = None

        def _arm_body_timer(self) -> None:
            if self.body_timer is not None:
                self.body_timer.cancel()
            self.body_timer = self.loop.call_later(guard.limits.body_timeout, self._on_body_timeout)

        def _cancel_timers(self) -> None:
            for timer in (self.header_timer, self.body_timer):
                if timer is not None:
                    timer.cancel()
            self.header_timer = self.body_timer = None

        def _on_header_timeout(self) -> None:
            self.header_timer = None
            if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
                return
            if self.cycle is None or self.cycle.response_complete:
                self.transport.write(_REQUEST_TIMEOUT)
            guard.note_timeout(self.slot.address if self.slot else "?",
                               f"no complete request within {guard.limits.header_timeout:g} s")
            self.transport.close()

        def _on_body_timeout(self) -> None:
            self.body_timer = None
            if self.transport.is_closing() or self.conn.their_state is not h11.SEND_BODY:
                return
            if self.flow is not None and self.flow.read_paused:
                self._arm_body_timer()  # the hub is not reading: not the client's fault
                return
            guard.note_timeout(self.slot.address if self.slot else "?",
                               f"request body stalled for {guard.limits.body_timeout:g} s")
            self.transport.close()

    return GuardedH11, GuardedWebSocket
