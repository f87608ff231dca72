"""``supervisor-desk --demo``: a real hub, a simulator, a demo supervisor.

The demo exercises the real path: the embedded hub serves HTTP and WebSocket on loopback in its
own thread and event loop, the traffic simulator posts through ``/ingest``, and the desktop
signs in and follows the feed exactly as it would against a remote hub. The database is a
temporary file removed on exit; the demo password is random and lives only in memory.

The app starts the hub in a child process (:func:`start_demo_hub_process`, ``python -m
supervisor_desk.demo``): booting it (the server framework's imports, 120 history sessions
stored) then runs on the machine's other core instead of taking turns with the window's own
start-up for the interpreter lock. The child reads the password from its stdin, answers its
address on stdout, and stops the hub when its stdin closes (the app quit, or died).
:func:`start_demo_hub` is the same hub in this process (tests, tools).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from supervisor_desk.hub.embedded import EmbeddedHub

log = logging.getLogger(__name__)

DEMO_USER = "demo"
DEMO_RATE = 15.0  # events per second: lively, yet a person can follow a chat
STOP_WAIT_S = 15.0  # for the child to stop its hub before it is killed


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
    *, rate: float = DEMO_RATE, seed: int | None = None, history: int = 120,
    password: str | None = None,
) -> DemoHub:
    """Start the embedded hub with the simulator and a demo supervisor (blocking).

    ``history`` ended sessions from the past days are stored first, so History, metrics and
    exports have something to show; they are older than the live snapshot, so the live view
    never announces them.
    """
    import httpx

    from supervisor_desk.hub.embedded import EmbeddedHub

    started = time.monotonic()
    workdir = tempfile.TemporaryDirectory(prefix="supervisor-desk-demo-")
    password = password or secrets.token_urlsafe(16)
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
    import httpx

    from supervisor_desk.simulator import build_dataset

    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30.0, trust_env=False) as http:
        for batch in build_dataset(n_sessions, seed=seed if seed is not None else 7,
                                   messages_per_session=8, live_fraction=0.0, days=3.0):
            answer = http.post("/api/v1/ingest", json={"events": batch})
            if answer.status_code != 200:
                raise RuntimeError(f"ingest answered {answer.status_code}")
    return n_sessions


@dataclass
class DemoHubProcess:
    """The demo hub running in a child process: what the app signs in with, and its stop."""

    process: subprocess.Popen[bytes]
    url: str
    username: str = DEMO_USER
    password: str = field(default="", repr=False)

    def stop(self) -> None:
        """Close the child's stdin (it stops its hub and deletes its database); blocking."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            self.process.wait(STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            log.warning("the demo hub did not stop within %.0f s: killed", STOP_WAIT_S)
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_demo_hub_process(*, rate: float = DEMO_RATE, seed: int | None = None
                           ) -> DemoHubProcess:
    """Start ``python -m supervisor_desk.demo`` and wait until its hub serves (blocking)."""
    started = time.monotonic()
    password = secrets.token_urlsafe(16)
    command = [sys.executable, "-m", "supervisor_desk.demo", "--rate", str(rate)]
    if seed is not None:
        command += ["--seed", str(seed)]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert process.stdin is not None and process.stdout is not None
    try:
        # The password goes through the pipe: never on a command line other users can read.
        process.stdin.write(password.encode() + b"\n")
        process.stdin.flush()
        line = process.stdout.readline()
        answer = json.loads(line) if line.strip() else {}
    except (OSError, ValueError) as exc:
        answer = {"error": str(exc)}
    if "url" not in answer:
        with contextlib.suppress(OSError):
            process.stdin.close()
        process.kill()
        process.wait()
        raise RuntimeError(f"the demo hub did not start: "
                           f"{answer.get('error') or f'exit status {process.returncode}'}")
    log.info("demo hub at %s ready in %.2f s", answer["url"], time.monotonic() - started)
    return DemoHubProcess(process, str(answer["url"]), password=password)


def _answer(message: dict[str, str]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    """The child's side: start the hub, say where it is, stop it when stdin closes."""
    parser = argparse.ArgumentParser(prog="python -m supervisor_desk.demo")
    parser.add_argument("--rate", type=float, default=DEMO_RATE)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    # Ctrl+C in a terminal reaches the whole process group: the app decides when this ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="demo hub: %(levelname)s %(message)s")
    password = sys.stdin.readline().strip()
    try:
        demo = start_demo_hub(rate=args.rate, seed=args.seed, password=password or None)
    except Exception as exc:
        _answer({"error": f"{type(exc).__name__}: {exc}"})
        return 1
    try:
        _answer({"url": demo.url})
        sys.stdin.read()  # until the app closes it, or its process ends
    finally:
        demo.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
