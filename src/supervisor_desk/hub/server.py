"""Running the hub on uvicorn: bind (port 0 allowed), serve, optional simulator, clean stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

import uvicorn

from supervisor_desk.hub.app import create_app
from supervisor_desk.hub.connlimits import (
    ConnectionGuard,
    ConnectionLimits,
    TrustedAddresses,
    descriptor_limit,
    guarded_http_protocol,
    guarded_listener_class,
)
from supervisor_desk.hub.feed import FeedLimits
from supervisor_desk.hub.logredact import install_log_redaction
from supervisor_desk.hub.routes_ingest import IngestFastPath
from supervisor_desk.hub.service import HubService
from supervisor_desk.hub.store.interface import HubStore
from supervisor_desk.hub.store.tokens import hash_token
from supervisor_desk.hub.store.webhooks import HANDOVER, new_secret
from supervisor_desk.hub.tls import TlsFiles
from supervisor_desk.hub.transcribe.jobs import VoiceSettings
from supervisor_desk.hub.webhooks import RetrySchedule, WebhookDispatcher

log = logging.getLogger("supervisor_desk.hub")
# The simulator's own wind-down is capped at 2 s; a little more for the post to land.
_SIMULATOR_STOP_SECONDS = 3.0


class _DenialNoise(logging.Filter):
    # uvicorn's sans-io websocket protocol logs this after a (valid) 401 denial response.
    def filter(self, record: logging.LogRecord) -> bool:
        return "without completing handshake" not in record.getMessage()


logging.getLogger("uvicorn.error").addFilter(_DenialNoise())


def bind_socket(
    host: str, port: int, socket_class: type[socket.socket] = socket.socket
) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket_class(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def url_of(host: str, sock: socket.socket, scheme: str = "http") -> str:
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}"


class _Server(uvicorn.Server):
    """uvicorn's server with a hook that runs while it still serves, before it shuts down."""

    before_shutdown: Callable[[], Awaitable[None]] | None = None

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.before_shutdown is not None:
            with contextlib.suppress(Exception):
                await self.before_shutdown()
        await super().shutdown(sockets=sockets)


class HubServer:
    """One uvicorn server over one :class:`HubService`; :meth:`serve` runs until stopped."""

    def __init__(
        self, storage: HubStore, *, host: str = "127.0.0.1", port: int = 0,
        tls: TlsFiles | None = None,
        limits: ConnectionLimits | None = None,
        feed_limits: FeedLimits | None = None,
        forwarded_allow_ips: Sequence[str] = (),
        log_level: str = "warning",
        webhook_schedule: RetrySchedule | None = None,
        voice: VoiceSettings | None = None,
        ws_deflate: bool = False,
    ) -> None:
        # Before uvicorn configures its loggers: no token reaches a log line at any level.
        install_log_redaction()
        self.storage = storage
        self.service = HubService(storage)
        self.service.broadcaster.configure(feed_limits or FeedLimits())
        # Outbound webhooks: threads and a connection of their own (never the writer's).
        self.webhooks = WebhookDispatcher(storage.open_outbox, webhook_schedule)
        self.app = create_app(self.service, voice)
        self.host = host
        trusted = list(forwarded_allow_ips)
        self.guard = ConnectionGuard(limits or ConnectionLimits(), TrustedAddresses(trusted),
                                     descriptor_limit(), tls=tls is not None)
        # Connections are counted where they are accepted and closed (see connlimits).
        self.sock = bind_socket(host, port, guarded_listener_class(self.guard))
        self.url = url_of(host, self.sock, "https" if tls is not None else "http")
        self.tls = tls
        config = uvicorn.Config(
            # Ingest, the hot path, skips FastAPI's per-request machinery (see routes_ingest).
            IngestFastPath(self.app),
            http=guarded_http_protocol(self.guard),
            log_level=log_level,
            lifespan="on",
            timeout_graceful_shutdown=5,
            ws_ping_interval=20.0,
            ws_ping_timeout=20.0,
            # Off unless asked for: the websockets library compresses each frame once per
            # client, which at 1,000 events/s to 150 clients was a third of the fan-out's CPU.
            ws_per_message_deflate=ws_deflate,
            access_log=False,
            # X-Forwarded-For/-Proto only from configured proxies: by default no one, so the
            # sign-in throttle sees the real peer (uvicorn would trust loopback otherwise).
            proxy_headers=bool(trusted),
            forwarded_allow_ips=trusted or "",
            **(tls.uvicorn_options() if tls is not None else {}),
        )
        self.server = _Server(config)

    @property
    def started(self) -> bool:
        return bool(self.server.started)

    def request_stop(self) -> None:
        self.server.should_exit = True

    async def serve(
        self,
        *,
        on_listening: Callable[[str], None] | None = None,
        simulate_rate: float | None = None,
        seed: int | None = None,
    ) -> None:
        loop = asyncio.get_running_loop()
        # asyncio logs a traceback per failed accept (thousands a second when out of
        # descriptors); the guard sheds waiting connections and logs one line a minute instead.
        loop.set_exception_handler(self.guard.exception_handler(loop.get_exception_handler()))
        task = asyncio.create_task(self.server.serve(sockets=[self.sock]))
        while not self.server.started:
            if task.done():
                await task  # re-raise why it could not start
                raise RuntimeError("the hub server stopped during start-up")
            await asyncio.sleep(0.01)
        self.webhooks.start()
        self.storage.on_outbox = self.webhooks.wake
        if on_listening is not None:
            on_listening(self.url)
        stop_simulator = asyncio.Event()
        simulator: asyncio.Task[None] | None = None
        if simulate_rate is not None:
            simulator = asyncio.create_task(self._simulate(simulate_rate, seed, stop_simulator))

            async def wind_down_simulator() -> None:
                # The simulator ends its live sessions through ingest, so the hub must still
                # serve while it does (else they stay "live" in the database across restarts).
                stop_simulator.set()
                await asyncio.wait({simulator}, timeout=_SIMULATOR_STOP_SECONDS)

            self.server.before_shutdown = wind_down_simulator
        try:
            await task
        finally:
            stop_simulator.set()
            if simulator is not None:
                simulator.cancel()
                with contextlib.suppress(BaseException):
                    await simulator
            self.storage.on_outbox = None
            self.webhooks.stop()
            with contextlib.suppress(OSError):
                self.sock.close()

    async def _simulate(self, rate: float, seed: int | None, stop: asyncio.Event) -> None:
        from supervisor_desk.simulator import run_simulator
        from supervisor_desk.simulator.handovers import HandoverReceiver

        token, _ = await self.service.write(
            lambda: self.storage.create_token("simulator", "ingest", ttl=timedelta(days=7))
        )
        # The simulated platform hears hand-overs the way a real one does: a webhook.
        receiver = HandoverReceiver(new_secret())
        await receiver.start()
        hook = await self.service.write(
            self.storage.add_webhook, receiver.url, [HANDOVER], receiver.secret)
        try:
            # Over https the simulator trusts exactly the certificate this hub was given.
            verify = self.tls.own_certificate_context() if self.tls is not None else True
            await run_simulator(self.url, token, rate=rate, seed=seed, stop=stop,
                                handovers=receiver, verify=verify)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the traffic simulator stopped")
        finally:
            # The token and the endpoint only live as long as this run; the next run makes
            # its own.
            with contextlib.suppress(Exception):
                self.storage.revoke_token(hash_token(token))
            with contextlib.suppress(Exception):
                self.storage.remove_webhook(hook.id)
            await receiver.close()

    def close(self) -> None:
        self.service.close()

