"""Connection limits in front of the hub's routes: slowloris and descriptor exhaustion.

uvicorn (h11) never times out a request whose headers arrive slowly or never, and accepts
sockets until the process runs out of descriptors. Here, every connection:

- must finish its request headers within ``header_timeout`` of connecting (or of its previous
  answer): otherwise it gets ``408`` and is closed;
- must keep sending a request body it has started: ``body_timeout`` without a byte closes it
  (not counted while the hub itself has paused reading);
- counts against a cap per client address and a cap in total, from the moment it is accepted
  (a TLS handshake that never ends counts too, and is held to the header deadline). Over the
  per-address cap a new connection is answered ``503`` (plain HTTP) and closed at once. At the
  total cap, the oldest connection that is still waiting for its request headers (or idle
  between requests) is dropped to make room; when there is none, the new one is refused.

Counting happens on the listening socket (its ``accept`` and each connection's ``close``), so it
sees every descriptor the hub holds for a client, whatever protocol runs on it; the header and
body deadlines are kept by the HTTP protocol, which knows where a request stands.

The total cap is kept under the process's descriptor limit, so accepting never fails for lack of
descriptors because of clients; if it fails anyway (``EMFILE`` from other use), the accept loop
backs off for a second (asyncio), connections still waiting for headers are shed to free
descriptors, and one warning a minute is logged instead of a traceback per attempt.

Addresses of trusted proxies (``--forwarded-allow-ips``) are not held to the per-address cap: every
client behind them shares their address.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import ipaddress
import logging
import socket
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

try:  # the C parser: a fifth of the loop's time per ingest request went to h11's Python
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - httptools is a dependency; h11 still works without
    HttpToolsProtocol = None  # type: ignore[assignment,misc]

from supervisor_desk.hub.lograte import RateLimitedLog

log = logging.getLogger("supervisor_desk.hub.connections")

MAX_CONNECTIONS = 1000
MAX_CONNECTIONS_PER_ADDRESS = 128
HEADER_TIMEOUT = 10.0
BODY_TIMEOUT = 30.0
# Descriptors kept for the database, log files, the event loop and the reader threads.
RESERVED_DESCRIPTORS = 64
# Connections being dropped still hold their descriptor until the loop sees the shutdown; at
# most this many at a time, so a flood cannot turn evictions into descriptors (the rest of a
# burst is refused, which closes at once).
EVICTION_BURST = 16
_ACCEPT_ERRNOS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
# After a failed accept, asyncio retries in a second; the listener stays quiet until then.
_ACCEPT_PAUSE = 0.9
# The HTTP parser of the hub's connections: "httptools" (C) when installed, else "h11".
HTTP_PARSER = "httptools" if HttpToolsProtocol is not None else "h11"


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
    """The process's soft RLIMIT_NOFILE, or ``None`` when unlimited or unknown (Windows)."""
    if sys.platform == "win32":
        return None
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def effective_max_connections(configured: int, fd_limit: int | None) -> int:
    """The configured cap, lowered to fit under the descriptor limit with a reserve."""
    if fd_limit is None:
        return configured
    return max(1, min(configured, fd_limit - RESERVED_DESCRIPTORS - EVICTION_BURST))


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
        # On a dual-stack socket IPv4 peers show as ::ffff:a.b.c.d.
        mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
        return any(ip in network or (mapped is not None and mapped in network)
                   for network in self.networks)


def parse_trusted(value: str | Iterable[str] | None) -> list[str]:
    """``--forwarded-allow-ips`` as a list (comma-separated text or a sequence); checked."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    entries = [item.strip() for item in items if item.strip()]
    TrustedAddresses(entries)  # raises ValueError on a malformed entry
    return entries


class _Slot:
    """One accepted connection's place in the counts (released exactly once, when its socket
    closes)."""

    __slots__ = ("address", "attached", "evicting", "fd", "released", "shutdown", "waiting")

    def __init__(self, address: str, fd: int, shutdown: Callable[[], None]) -> None:
        self.address = address
        self.fd = fd
        self.shutdown = shutdown
        self.released = False
        self.waiting = False
        self.evicting = False
        # Set once the HTTP protocol runs on it (after the TLS handshake, with TLS).
        self.attached = False


class ConnectionGuard:
    """Counts open connections per address and in total; picks what to refuse or drop."""

    def __init__(self, limits: ConnectionLimits, trusted: TrustedAddresses,
                 fd_limit: int | None = None, *, tls: bool = False) -> None:
        self.limits = limits
        self.trusted = trusted
        self.fd_limit = fd_limit
        self.tls = tls
        self.max_connections = effective_max_connections(limits.max_connections, fd_limit)
        self.total = 0
        self.evicting = 0
        self.per_address: dict[str, int] = {}
        self._by_fd: dict[int, _Slot] = {}
        # Connections waiting for request headers, oldest first (dicts keep insertion order).
        self._waiting: dict[_Slot, None] = {}
        self.refused = 0
        self.evicted = 0
        self.timed_out = 0
        self.accept_failures = 0
        self.accept_paused_until = 0.0
        self._notes = RateLimitedLog(log, period=60.0, burst=5)
        self._accept_note = RateLimitedLog(log, period=60.0, burst=1)

    # -- accounting, on the event loop thread --------------------------------------------------

    def admit(self, address: str, fd: int, shutdown: Callable[[], None]) -> _Slot | None:
        """A slot for a just-accepted connection, or ``None`` when it must be refused."""
        if (address not in self.trusted
                and self.per_address.get(address, 0) >= self.limits.max_per_address):
            self.refused += 1
            self._notes.warning(
                "refused a connection from %s: %d open from that address (limit %d)",
                address, self.per_address[address], self.limits.max_per_address)
            return None
        if self.total - self.evicting >= self.max_connections:
            victim = next(iter(self._waiting), None)
            if victim is None or self.evicting >= EVICTION_BURST:
                self.refused += 1
                self._notes.warning(
                    "refused a connection from %s: %d connections open (limit %d), none idle",
                    address, self.total, self.max_connections)
                return None
            self._notes.warning(
                "%d connections open (limit %d): dropped the oldest one still waiting for "
                "its request (from %s)", self.total, self.max_connections, victim.address)
            self._evict(victim)
        slot = _Slot(address, fd, shutdown)
        self.total += 1
        self.per_address[address] = self.per_address.get(address, 0) + 1
        self._by_fd[fd] = slot
        self.set_waiting(slot, True)
        # Until the HTTP protocol takes over (a TLS handshake can stall), the deadline is here.
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().call_later(
                self.limits.header_timeout, self._expire_unattached, slot)
        return slot

    def slot_for(self, fd: int) -> _Slot | None:
        return self._by_fd.get(fd)

    def set_waiting(self, slot: _Slot, waiting: bool) -> None:
        """Mark a connection as waiting for a request (droppable) or busy with one."""
        if slot.released or slot.waiting == waiting:
            return
        slot.waiting = waiting
        if waiting:
            self._waiting[slot] = None
        else:
            self._waiting.pop(slot, None)

    def release(self, slot: _Slot) -> None:
        if slot.released:
            return
        slot.released = True
        if slot.evicting:
            self.evicting -= 1
        self._waiting.pop(slot, None)
        if self._by_fd.get(slot.fd) is slot:
            del self._by_fd[slot.fd]
        self.total -= 1
        left = self.per_address[slot.address] - 1
        if left:
            self.per_address[slot.address] = left
        else:
            del self.per_address[slot.address]

    def _evict(self, slot: _Slot) -> None:
        # It stays counted until the loop sees the shutdown and closes its socket.
        if slot.released or slot.evicting:
            return
        self.set_waiting(slot, False)
        slot.evicting = True
        self.evicting += 1
        self.evicted += 1
        slot.shutdown()

    def _expire_unattached(self, slot: _Slot) -> None:
        if slot.released or slot.attached:
            return
        self.note_timeout(slot.address, "no TLS handshake or request within "
                          f"{self.limits.header_timeout:g} s")
        self._evict(slot)

    def note_timeout(self, address: str, what: str) -> None:
        self.timed_out += 1
        self._notes.warning("closed a connection from %s: %s", address, what)

    # -- running out of descriptors -------------------------------------------------------------

    def accept_failed(self, exc: OSError) -> None:
        """Out of descriptors: pause accepting for a second (asyncio retries then), shed
        connections still waiting for a request, log one line a minute."""
        self.accept_failures += 1
        self.accept_paused_until = time.monotonic() + _ACCEPT_PAUSE
        for slot in list(self._waiting)[:max(0, EVICTION_BURST - self.evicting)]:
            self._evict(slot)
        self._accept_note.warning(
            "cannot accept connections: %s (%d open, limit %d, descriptor limit %s); "
            "retrying every second, shedding connections still waiting for a request",
            exc.strerror or exc, self.total, self.max_connections,
            self.fd_limit or "unlimited")

    def exception_handler(
        self, previous: Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object] | None
    ) -> Callable[[asyncio.AbstractEventLoop, dict[str, Any]], None]:
        """A loop exception handler that keeps asyncio's traceback per failed accept out of
        the log (the listener has counted and reported it)."""

        def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
            exc = context.get("exception")
            if (isinstance(exc, OSError) and exc.errno in _ACCEPT_ERRNOS
                    and "socket" in context and "accept" in str(context.get("message", ""))):
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


class _Connection(socket.socket):
    """An accepted socket that gives its slot back when it is closed."""

    guard: ConnectionGuard | None = None
    slot: _Slot | None = None

    def close(self) -> None:
        super().close()
        if self.guard is not None and self.slot is not None:
            self.guard.release(self.slot)


def guarded_listener_class(guard: ConnectionGuard) -> type[socket.socket]:
    """A listening-socket class whose ``accept`` (called by asyncio) admits or refuses."""

    class GuardedListener(socket.socket):
        def accept(self) -> tuple[socket.socket, Any]:
            while True:
                if time.monotonic() < guard.accept_paused_until:
                    # asyncio accepts in a loop of up to `backlog` tries and, on EMFILE, would
                    # log and schedule a retry for each; one per pause is enough.
                    raise BlockingIOError(errno.EAGAIN, "accepting is paused")
                try:
                    fd, address = self._accept()  # type: ignore[attr-defined]
                except OSError as exc:
                    if exc.errno in _ACCEPT_ERRNOS:
                        guard.accept_failed(exc)
                    raise
                conn = _Connection(self.family, self.type, self.proto, fileno=fd)
                if conn.family in (socket.AF_INET, socket.AF_INET6):
                    # asyncio turns Nagle's algorithm off only for sockets made with proto
                    # IPPROTO_TCP, not 0 as here: an answer's body, written after its headers,
                    # then waited for the client's delayed ACK, ~40 ms on every request.
                    with contextlib.suppress(OSError):
                        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                host = str(address[0]) if isinstance(address, tuple) and address else "?"
                slot = guard.admit(host, fd, functools.partial(_shutdown, conn))
                if slot is not None:
                    conn.guard, conn.slot = guard, slot
                    return conn, address
                # Refused: tell a plain-HTTP client why, and take the next one in the backlog.
                if not guard.tls:
                    with contextlib.suppress(OSError):
                        conn.setblocking(False)
                        conn.send(_SERVICE_UNAVAILABLE)
                conn.close()

    return GuardedListener


def _shutdown(conn: socket.socket) -> None:
    # The transport sees end-of-file on its next read and closes (and releases) the socket.
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)


class _Deadlines:
    """The header and body deadlines of one connection, for either HTTP protocol.

    ``protocol`` is uvicorn's protocol object; it says where its request stands with
    ``awaiting_headers()`` (between requests or inside their headers) and ``in_body()``.
    """

    __slots__ = ("body_timer", "guard", "header_timer", "protocol", "slot")

    def __init__(self, guard: ConnectionGuard, protocol: Any,
                 transport: asyncio.BaseTransport) -> None:
        self.guard = guard
        self.protocol = protocol
        self.header_timer: asyncio.TimerHandle | None = None
        self.body_timer: asyncio.TimerHandle | None = None
        sock = transport.get_extra_info("socket")
        self.slot = guard.slot_for(sock.fileno()) if sock is not None else None
        if self.slot is not None:
            self.slot.attached = True

    def await_request(self) -> None:
        """Between requests: droppable, and the next request's headers are due."""
        if self.slot is not None:
            self.guard.set_waiting(self.slot, True)
        if self.header_timer is None:
            self.header_timer = self.protocol.loop.call_later(
                self.guard.limits.header_timeout, self._on_header_timeout)

    def request_started(self) -> None:
        if self.slot is not None:
            self.guard.set_waiting(self.slot, False)
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def body_arrived(self) -> None:
        """A piece of the body (or its headers): the next piece is due within the deadline."""
        if self.body_timer is not None:
            self.body_timer.cancel()
        self.body_timer = self.protocol.loop.call_later(
            self.guard.limits.body_timeout, self._on_body_timeout)

    def body_done(self) -> None:
        if self.body_timer is not None:
            self.body_timer.cancel()
            self.body_timer = None

    def cancel(self) -> None:
        for timer in (self.header_timer, self.body_timer):
            if timer is not None:
                timer.cancel()
        self.header_timer = self.body_timer = None

    def _on_header_timeout(self) -> None:
        self.header_timer = None
        protocol = self.protocol
        if protocol.transport.is_closing() or not protocol.awaiting_headers():
            return
        if protocol.cycle is None or protocol.cycle.response_complete:
            protocol.transport.write(_REQUEST_TIMEOUT)
        self.guard.note_timeout(
            self._address(), f"no complete request within {self.guard.limits.header_timeout:g} s")
        protocol.transport.close()

    def _on_body_timeout(self) -> None:
        self.body_timer = None
        protocol = self.protocol
        if protocol.transport.is_closing() or not protocol.in_body():
            return
        if protocol.flow is not None and protocol.flow.read_paused:
            self.body_arrived()  # the hub is not reading: not the client's fault
            return
        self.guard.note_timeout(
            self._address(), f"request body stalled for {self.guard.limits.body_timeout:g} s")
        protocol.transport.close()

    def _address(self) -> str:
        client = self.protocol.client
        return str(client[0]) if client else "?"


class _DeadlineHooks:
    """For either protocol class: the deadlines armed as a connection starts, cancelled as
    it ends (first in the bases, so ``super()`` is uvicorn's protocol)."""

    connection_guard: ConnectionGuard
    deadlines: _Deadlines

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self.deadlines = _Deadlines(self.connection_guard, self, transport)
        self.deadlines.await_request()

    def connection_lost(self, exc: Exception | None) -> None:
        self.deadlines.cancel()
        super().connection_lost(exc)  # type: ignore[misc]

    def left_for_websocket(self) -> bool:
        """Upgraded to a websocket: busy for good, its own keepalive takes over."""
        if self.transport.get_protocol() is self:  # type: ignore[attr-defined]
            return False
        self.deadlines.request_started()
        self.deadlines.cancel()
        return True


def _guarded_h11(guard: ConnectionGuard) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol with the deadlines: h11's state says where a request stands."""

    class GuardedH11(_DeadlineHooks, H11Protocol):
        connection_guard = guard

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.left_for_websocket():
                return
            deadlines = self.deadlines
            state = self.conn.their_state
            if state is h11.IDLE:
                # Inside the next request's headers: their deadline holds (armed here when
                # the last request's body ended after its answer, a 413 or a 401).
                deadlines.await_request()
                return
            deadlines.request_started()
            if state is h11.SEND_BODY:
                deadlines.body_arrived()
            else:
                deadlines.body_done()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
                self.deadlines.await_request()

        def awaiting_headers(self) -> bool:
            return self.conn.their_state is h11.IDLE

        def in_body(self) -> bool:
            return self.conn.their_state is h11.SEND_BODY

    return GuardedH11


def _guarded_httptools(guard: ConnectionGuard) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol (llhttp, in C) with the deadlines: the parser's callbacks
    say where a request stands."""
    assert HttpToolsProtocol is not None

    class GuardedHttpTools(_DeadlineHooks, HttpToolsProtocol):
        connection_guard = guard
        # Of the request being received: idle (none yet), headers, body, done (all of it).
        phase = "idle"

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self.phase = "headers"

        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            self.phase = "body"

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self.phase = "done"
            if self.cycle is not None and self.cycle.response_complete and not self.pipeline:
                # Answered before its body was in (a 413, a 401): the next request is due.
                self.phase = "idle"
                self.deadlines.await_request()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.left_for_websocket():
                return
            deadlines = self.deadlines
            if self.phase in ("idle", "headers"):
                return  # still inside the request headers: the header deadline holds
            deadlines.request_started()
            if self.phase == "body":
                deadlines.body_arrived()
            else:
                deadlines.body_done()

        def on_response_complete(self) -> None:
            queued = bool(self.pipeline)  # a whole next request already in: it starts now
            super().on_response_complete()
            if queued or self.transport.is_closing() or self.phase == "body":
                return
            if self.phase == "done":
                self.phase = "idle"
            self.deadlines.await_request()

        def awaiting_headers(self) -> bool:
            return self.phase in ("idle", "headers")

        def in_body(self) -> bool:
            return self.phase == "body"

    return GuardedHttpTools


def guarded_http_protocol(guard: ConnectionGuard,
                          parser: str | None = None) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol (``http=``) with request header and body deadlines: on
    httptools' C parser when it is installed (``parser`` ``"httptools"``), else on h11."""
    chosen = parser or HTTP_PARSER
    if chosen == "httptools" and HttpToolsProtocol is not None:
        return _guarded_httptools(guard)
    return _guarded_h11(guard)
