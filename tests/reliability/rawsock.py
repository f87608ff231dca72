"""Raw sockets that misbehave on purpose: feed clients that never read, half-sent requests.

Real client libraries drain their socket into their own memory and send whole requests; the
attacks on the hub need sockets that leave bytes in a small kernel buffer or stop mid-header.
"""

from __future__ import annotations

import base64
import os
import socket
from urllib.parse import urlsplit

from supervisor_desk.models.wire import FEED_CLOSE_TOO_SLOW

TOO_SLOW_CODE = FEED_CLOSE_TOO_SLOW.to_bytes(2, "big")


def address_of(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None, url
    return parts.hostname, parts.port


def connect(url: str, *, source: str | None = None, rcvbuf: int | None = None,
            timeout: float = 10.0) -> socket.socket:
    """A TCP connection to the hub, optionally from another loopback address (127.0.0.x)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        # Before connect, so the window the hub sees stays small.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if source is not None:
        sock.bind((source, 0))
    sock.settimeout(timeout)
    sock.connect(address_of(url))
    return sock


def raw_feed_socket(url: str, token: str, *, source: str | None = None,
                    query: str = "") -> socket.socket:
    """A websocket client that completes the handshake and then never reads.

    It leaves the bytes in a 4 KiB kernel buffer, which is what a stalled desktop looks like to
    the hub.
    """
    sock = connect(url, source=source, rcvbuf=4096)
    host, port = address_of(url)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (f"GET /api/v1/feed{query} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
         f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
         f"Authorization: Bearer {token}\r\n\r\n").encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        assert chunk, f"the hub closed the handshake: {head!r}"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def read_until_closed(sock: socket.socket, timeout: float = 10.0) -> tuple[bytes, bool]:
    """Everything the socket still delivers, and whether it ended with a reset."""
    sock.settimeout(timeout)
    data = bytearray()
    try:
        while chunk := sock.recv(1 << 20):
            data += chunk
    except ConnectionResetError:
        return bytes(data), True
    return bytes(data), False


def half_request(url: str, source: str) -> socket.socket:
    """A slowloris socket: a request line and one header, never the blank line that ends it."""
    sock = connect(url, source=source, timeout=5.0)
    host, port = address_of(url)
    sock.sendall(f"GET /api/v1/me HTTP/1.1\r\nHost: {host}:{port}\r\n".encode())
    return sock
