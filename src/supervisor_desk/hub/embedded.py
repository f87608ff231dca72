"""A real hub (uvicorn on loopback) in its own thread and event loop, for the demo and tests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from supervisor_desk.hub.connlimits import ConnectionLimits, parse_trusted
from supervisor_desk.hub.feed import FeedLimits
from supervisor_desk.hub.server import HubServer
from supervisor_desk.hub.store import open_store
from supervisor_desk.hub.store.interface import HubStore
from supervisor_desk.hub.tls import load_tls
from supervisor_desk.hub.webhooks import RetrySchedule


class EmbeddedHub:
    def __init__(
        self,
        db_path: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        simulate_rate: float | None = None,
        seed: int | None = None,
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
        limits: ConnectionLimits | None = None,
        feed_limits: FeedLimits | None = None,
        forwarded_allow_ips: str | Sequence[str] = (),
        webhook_schedule: RetrySchedule | None = None,
        store: HubStore | None = None,
        ws_deflate: bool = False,
    ) -> None:
        self.db_path = Path(db_path)
        self.tls = load_tls(tls_cert, tls_key)  # https:// when both are given
        self.host = host
        self.port = port
        self.simulate_rate = simulate_rate
        self.seed = seed
        self.limits = limits
        self.feed_limits = feed_limits
        self.ws_deflate = ws_deflate
        # Like ``serve``: X-Forwarded-For is trusted from these proxies only (none by default).
        self.forwarded_allow_ips = parse_trusted(forwarded_allow_ips)
        self.webhook_schedule = webhook_schedule
        self._storage: HubStore | None = store  # a given store (PostgreSQL), else db_path's
        self._server: HubServer | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stopped = False

    @property
    def storage(self) -> HubStore:
        if self._storage is None:
            self._storage = open_store(self.db_path)
        return self._storage

    @property
    def server(self) -> HubServer:
        if self._server is None:
            raise RuntimeError("the hub is not started")
        return self._server

    def start(self) -> None:
        """Start serving; returns once the socket accepts connections, raises on failure."""
        if self._thread is not None:
            raise RuntimeError("the hub was already started")
        self._server = HubServer(
            self.storage, host=self.host, port=self.port, tls=self.tls, limits=self.limits,
            feed_limits=self.feed_limits, forwarded_allow_ips=self.forwarded_allow_ips,
            webhook_schedule=self.webhook_schedule, ws_deflate=self.ws_deflate,
        )
        self._thread = threading.Thread(target=self._run, name="embedded-hub", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            self.stop()
            raise RuntimeError(f"the hub did not start: {self._error}") from self._error
        if not self._ready.is_set():
            self.stop()
            raise RuntimeError("the hub did not start within 30 s")

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        server = self.server
        try:
            loop.run_until_complete(
                server.serve(
                    on_listening=lambda _url: self._ready.set(),
                    simulate_rate=self.simulate_rate,
                    seed=self.seed,
                )
            )
        except BaseException as exc:
            self._error = exc
        finally:
            self._ready.set()
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    @property
    def url(self) -> str:
        return self.server.url

    def add_user(self, name: str, role: str, password: str) -> None:
        self.storage.add_user(name, role, password)

    def create_token(self, name: str, role: str) -> str:
        token, _ = self.storage.create_token(name, role)
        return token

    def stop(self) -> None:
        """Stop serving and close the database; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        if self._server is not None:
            self._server.request_stop()
        if self._thread is not None:
            self._thread.join(30)
        if self._server is not None:
            self._server.close()
        elif self._storage is not None:
            self._storage.close()

    def __enter__(self) -> EmbeddedHub:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
