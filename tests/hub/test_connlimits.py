"""Connection limits of a real hub on loopback: header and body deadlines, the per-address and
total caps, and what a well-behaved client sees meanwhile."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from supervisor_desk.hub import connlimits
from supervisor_desk.hub.connlimits import (
    ConnectionGuard,
    ConnectionLimits,
    TrustedAddresses,
    effective_max_connections,
    guarded_listener_class,
)
from supervisor_desk.hub.embedded import EmbeddedHub
from supervisor_desk.hub.server import bind_socket
from tests.hub.conftest import started_hub
from tests.reliability.rawsock import connect, half_request

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=["httptools", "h11"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each deadline is kept by both HTTP protocols the hub can run on."""
    monkeypatch.setattr(connlimits, "HTTP_PARSER", request.param)
    return str(request.param)


@pytest.fixture
def hub(tmp_path: Path, request: pytest.FixtureRequest, hub_backend: str, parser: str
        ) -> Iterator[EmbeddedHub]:
    # Short deadlines, unless a test needs idle connections to stay (indirect parameter).
    deadline = float(getattr(request, "param", 0.5))
    limits = ConnectionLimits(max_connections=6, max_per_address=3, header_timeout=deadline,
                              body_timeout=deadline)
    with started_hub(request, hub_backend, tmp_path, limits=limits) as running:
        running.viewer = running.create_token("viewer", "viewer")  # type: ignore[attr-defined]
        yield running


def answer_of(sock: socket.socket) -> bytes:
    sock.settimeout(10)
    data = b""
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def me(hub: EmbeddedHub) -> int:
    answer = httpx.get(f"{hub.url}/api/v1/me",
                       headers={"Authorization": f"Bearer {hub.viewer}"})  # type: ignore[attr-defined]
    return answer.status_code


def test_headers_that_never_end_get_408(hub: EmbeddedHub) -> None:
    sock = half_request(hub.url, "127.0.0.2")
    try:
        assert answer_of(sock).startswith(b"HTTP/1.1 408 ")
    finally:
        sock.close()


@pytest.mark.parametrize("first", [
    b"GET /api/v1/me HTTP/1.1\r\nHost: hub\r\n\r\n",  # answered 401
    # answered 413 before its body is read: the body still comes, then the next request
    b"POST /api/v1/ingest HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer x\r\n"
    b"Content-Length: 2000000\r\n\r\n",
])
def test_the_next_request_on_a_connection_has_the_header_deadline_too(
    hub: EmbeddedHub, first: bytes
) -> None:
    sock = connect(hub.url, source="127.0.0.2")
    try:
        sock.sendall(first)
        sock.settimeout(10)
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(4096)
        assert answer.startswith((b"HTTP/1.1 401 ", b"HTTP/1.1 413 "))
        if b"Content-Length: 2000000" in first:
            sock.sendall(b" " * 2_000_000)
        time.sleep(0.1)  # the answer's body, if any, is read by answer_of below
        sock.sendall(b"GET /api/v1/me HTTP/1.1\r\nHost: hub\r\n")  # never ends
        assert b"HTTP/1.1 408 " in answer_of(sock)
    finally:
        sock.close()


def test_a_body_that_stops_arriving_is_dropped(hub: EmbeddedHub) -> None:
    sock = connect(hub.url, source="127.0.0.2")
    try:
        sock.sendall(b"POST /api/v1/ingest HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json"
                     b"\r\nContent-Length: 100\r\n\r\n{\"events\": [")
        started = time.monotonic()
        answer_of(sock)  # the hub closes it: no answer, or an error answer, then the end
        assert time.monotonic() - started < 8
    finally:
        sock.close()


@pytest.mark.parametrize("hub", [30.0], indirect=True)
def test_over_the_per_address_cap_gets_503_and_others_are_served(hub: EmbeddedHub) -> None:
    held = [connect(hub.url, source="127.0.0.2") for _ in range(3)]
    try:
        extra = connect(hub.url, source="127.0.0.2")
        answer = answer_of(extra)
        extra.close()
        assert answer.startswith(b"HTTP/1.1 503 ") and b"retry-after: 5" in answer
        assert me(hub) == 200  # another address is not affected
    finally:
        for sock in held:
            sock.close()


@pytest.mark.parametrize("hub", [30.0], indirect=True)
def test_at_the_total_cap_the_oldest_waiting_connection_makes_room(hub: EmbeddedHub) -> None:
    held = [connect(hub.url, source=f"127.0.0.{2 + n // 3}") for n in range(6)]
    try:
        guard = hub.server.guard
        deadline = time.monotonic() + 10
        while guard.total < 6:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert me(hub) == 200
        assert answer_of(held[0]) == b""  # the oldest idle one was dropped for it
        assert guard.evicted >= 1
    finally:
        for sock in held:
            sock.close()


def test_the_cap_fits_the_descriptor_limit() -> None:
    assert effective_max_connections(1000, None) == 1000
    assert effective_max_connections(1000, 256) == 256 - 80
    assert effective_max_connections(100, 20_000) == 100


def test_trusted_proxy_addresses() -> None:
    trusted = TrustedAddresses(["127.0.0.1", "10.0.0.0/8"])
    assert "127.0.0.1" in trusted and "10.2.3.4" in trusted
    assert "::ffff:127.0.0.1" in trusted  # an IPv4 peer on a dual-stack socket
    assert "11.0.0.1" not in trusted and "not-an-address" not in trusted
    assert "127.0.0.1" not in TrustedAddresses([])
    assert "198.51.100.7" in TrustedAddresses(["*"])


def test_accepted_connections_send_small_writes_at_once() -> None:
    """Nagle's algorithm off: an answer's body, written after its headers, must not wait for
    the client's delayed ACK (~40 ms a request; asyncio only turns it off for sockets made
    with proto IPPROTO_TCP, and the hub's listener is not)."""
    guard = ConnectionGuard(ConnectionLimits(), TrustedAddresses([]), None)
    listener = bind_socket("127.0.0.1", 0, guarded_listener_class(guard))
    listener.listen()
    client = socket.create_connection(listener.getsockname(), timeout=5)
    conn, _ = listener.accept()
    try:
        assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        for sock in (conn, client, listener):
            sock.close()
