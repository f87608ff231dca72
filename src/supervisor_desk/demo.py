"""``supervisor-desk --demo``: a real hub in this process, a simulator, a demo supervisor.

The demo exercises the real path: the embedded hub serves HTTP and WebSocket on loopback in its
own thread and event loop, the traffic simulator posts through ``/ingest``, and the desktop
signs in and follows the feed exactly as it would against a remote hub. The database is a
temporary file removed on exit; the demo password is random and lives only in memory.
"""

from __future__ import annotations

import logging
import secrets
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from supervisor_desk.hub.embedded import EmbeddedHub

log = logging.getLogger(__name__)

DEMO_USER = "demo"
DEMO_RATE = 15.0  # events per second: lively, yet a person can follow a chat


@dataclass
class DemoHub:
    hub: EmbeddedHub
    workdir: tempfile.TemporaryDirectory[str]
    username: str = DEMO_USER
    password: str = field(default="", repr=False)
    history_sessions: int = 0

    @property
    def url(self) -> str:
        return self.hub.url

    def stop(self) -> None:
        """Stop the hub and delete its database (blocking; idempotent)."""
        self.hub.stop()
        self.workdir.cleanup()


def start_demo_hub(
    *, rate: float = DEMO_RATE, seed: int | None = None, history: int = 120
) -> DemoHub:
    """Start the embedded hub with the simulator and a demo supervisor (blocking).

    ``history`` ended sessions from the past days are stored first, so History, metrics and
    exports have something to show; they are older than the live snapshot, so the live view
    never announces them.
    """
    started = time.monotonic()
    workdir = tempfile.TemporaryDirectory(prefix="supervisor-desk-demo-")
    password = secrets.token_urlsafe(16)
    hub = EmbeddedHub(Path(workdir.name) / "demo-hub.db", simulate_rate=rate, seed=seed)
    try:
        hub.add_user(DEMO_USER, "supervisor", password)
        ingest_token = hub.create_token("demo-history", "ingest") if history > 0 else ""
        hub.start()
    except BaseException:
        hub.stop()
        workdir.cleanup()
        raise
    demo = DemoHub(hub, workdir, password=password)
    if history > 0:
        try:
            demo.history_sessions = _seed_history(hub.url, ingest_token, history, seed)
        except (httpx.HTTPError, RuntimeError) as exc:
            # The live demo works without history; say why History is empty.
            log.warning("demo history not stored: %s", exc)
    log.info("demo hub at %s ready in %.2f s", hub.url, time.monotonic() - started)
    return demo


def _seed_history(url: str, token: str, n_sessions: int, seed: int | None) -> int:
    from supervisor_desk.simulator import build_dataset

    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30.0, trust_env=False) as http:
        for batch in build_dataset(n_sessions, seed=seed if seed is not None else 7,
                                   messages_per_session=8, live_fraction=0.0, days=3.0):
            answer = http.post("/api/v1/ingest", json={"events": batch})
            if answer.status_code != 200:
                raise RuntimeError(f"ingest answered {answer.status_code}")
    return n_sessions
