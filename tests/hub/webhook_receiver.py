"""A real webhook endpoint on loopback for tests: records deliveries, verifies signatures the
way docs/protocol.md tells a platform to, and misbehaves on demand (500s, hangs, outages)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The recipe of docs/protocol.md, written out independently of the hub's code."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    fresh = abs(time.time() - int(headers["webhook-timestamp"])) <= 300
    return fresh and any(hmac.compare_digest(expected, s)
                         for s in headers["webhook-signature"].split())


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    answered: int

    @property
    def payload(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.body)
        return result

    @property
    def message_id(self) -> str:
        return self.headers["webhook-id"]


class Receiver:
    """``behaviour(attempt_number, headers, body) -> status`` decides each answer (200 by
    default); it may block (a hanging endpoint). ``accepted`` holds the 2xx deliveries."""

    def __init__(self, port: int = 0) -> None:
        self.lock = threading.Condition()
        self.attempts: list[Received] = []
        self.behaviour: Callable[[int, dict[str, str], bytes], int] = lambda n, h, b: 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                received = Received(headers, body, 0)  # recorded in order of arrival
                with receiver.lock:
                    receiver.attempts.append(received)
                    number = len(receiver.attempts)
                status = receiver.behaviour(number, headers, body)
                try:
                    self.send_response(status)
                    self.send_header("content-length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the hub gave up waiting (a timeout): that is the point
                with receiver.lock:
                    received.answered = status
                    receiver.lock.notify_all()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def accepted(self) -> list[Received]:
        with self.lock:
            return [r for r in self.attempts if 200 <= r.answered < 300]

    def wait_for(self, condition: Callable[[Receiver], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        with self.lock:
            while not condition(self):
                left = deadline - time.monotonic()
                assert left > 0, f"timed out; {len(self.attempts)} attempts so far"
                self.lock.wait(min(left, 0.2))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
