"""The simulated platform's webhook endpoint: it hears the supervisor's hand-overs.

A real platform registers an endpoint with the hub and verifies each delivery's Standard
Webhooks signature before acting on it; so does this one (with nothing from the hub's code).
On ``session.handover`` the simulator stops the AI replying in that session and has the
operator join (:meth:`TrafficSimulator.take_over`). A small HTTP/1.1 server on loopback,
one request per connection, answering 204 to a delivery it accepted (or had already seen:
the ``webhook-id`` is the idempotency key) and 400/401 to anything else.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger(__name__)

HANDOVER = "session.handover"
_TOLERANCE_SECONDS = 300  # older or newer timestamps are refused (replay protection)
_MAX_BODY = 1024 * 1024


def verify(secret: str, headers: Mapping[str, str], body: bytes, *,
           now: float | None = None) -> bool:
    """Whether ``body`` carries a valid Standard Webhooks signature made with ``secret``."""
    msg_id = headers.get("webhook-id", "")
    stamp = headers.get("webhook-timestamp", "")
    if not msg_id or not stamp.isdigit():
        return False
    if abs((time.time() if now is None else now) - int(stamp)) > _TOLERANCE_SECONDS:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(
        hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    ).decode()
    offered = [part.split(",", 1)[1] for part in headers.get("webhook-signature", "").split()
               if part.startswith("v1,")]
    return any(hmac.compare_digest(expected, sig) for sig in offered)


class HandoverReceiver:
    """Listens on ``127.0.0.1``; ``on_handover(session_id, operator_name)`` per new hand-over."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.on_handover: Callable[[str, str], None] | None = None
        self.received = 0
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._server: asyncio.Server | None = None
        self.url = ""

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/hooks/supervisor-desk"
        return self.url

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        status = 400
        try:
            async with asyncio.timeout(10):
                status = await self._handle(reader)
        except (TimeoutError, ValueError, asyncio.IncompleteReadError, ConnectionError):
            status = 400
        finally:
            reason = {204: "No Content", 401: "Unauthorized"}.get(status, "Bad Request")
            with contextlib.suppress(ConnectionError):
                writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\n"
                             "Connection: close\r\n\r\n".encode())
                await writer.drain()
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader) -> int:
        request_line = (await reader.readline()).decode("latin-1")
        if not request_line.startswith("POST "):
            return 400
        headers: dict[str, str] = {}
        while (line := (await reader.readline()).decode("latin-1").strip()):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        if not 0 <= length <= _MAX_BODY:
            return 400
        body = await reader.readexactly(length)
        if not verify(self.secret, headers, body):
            log.warning("webhook with a bad signature refused")
            return 401
        msg_id = headers["webhook-id"]
        if msg_id in self._seen:
            return 204  # a redelivery of what we already acted on
        payload: dict[str, Any] = json.loads(body)
        self._seen[msg_id] = None
        if len(self._seen) > 10_000:
            self._seen.popitem(last=False)
        self.received += 1
        if payload.get("type") == HANDOVER and self.on_handover is not None:
            data = payload.get("data") or {}
            # No operator: the next available one of the platform's takes it.
            operator = (data.get("operator") or {}).get("name") or ""
            self.on_handover(str(data.get("session_id")), str(operator))
        return 204
