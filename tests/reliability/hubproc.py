"""A real ``supervisor-hub serve`` process for fault tests: start, kill -9, restart, sample."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from supervisor_desk.hub.store.sqlite import SqliteStore

HUB = [sys.executable, "-m", "supervisor_desk.hub.cli"]


def hub_command(nofile: int | None) -> list[str]:
    """The hub's command line, optionally with RLIMIT_NOFILE lowered before it starts."""
    if nofile is None:
        return HUB
    return [sys.executable, "-c",
            "import resource, runpy, sys; "
            f"resource.setrlimit(resource.RLIMIT_NOFILE, ({nofile}, {nofile})); "
            "sys.argv[0] = 'supervisor-hub'; "
            "runpy.run_module('supervisor_desk.hub.cli', run_name='__main__')"]


def prepare_db(db: Path) -> dict[str, str]:
    """Create the database with users viewer/supervisor/admin and tokens for each role."""
    storage = SqliteStore(db)
    try:
        for name in ("viewer", "supervisor", "admin"):
            storage.add_user(name, name, name)
        return {role: storage.create_token(f"rel-{role}", role)[0]
                for role in ("ingest", "viewer", "supervisor", "admin")}
    finally:
        storage.close()


class HubProcess:
    def __init__(self, db: Path, port: int = 0, *extra: str, nofile: int | None = None) -> None:
        self.db = db
        self.port = port
        self.extra = list(extra)
        self.nofile = nofile
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.starts = 0

    def start(self) -> str:
        # stderr to a file: a pipe nobody reads would block the hub once full.
        self.log = self.db.with_name(f"{self.db.name}.{self.starts + 1}.log")
        with open(self.log, "w") as err:
            self.proc = subprocess.Popen(
                [*hub_command(self.nofile), "serve", "--db", str(self.db),
                 "--port", str(self.port), *self.extra],
                stdout=subprocess.PIPE, stderr=err, text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            self.proc.kill()
            self.proc.wait(10)
            raise RuntimeError(f"the hub did not start: {line!r} {self.log.read_text()[-2000:]}")
        self.url = line.removeprefix("listening on ")
        self.port = int(self.url.rsplit(":", 1)[1])  # restarts keep the address
        self.starts += 1
        return self.url

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(20)
        self._drain()

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.terminate()
        try:
            code = self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(10)
        self._drain()
        return code

    def _drain(self) -> None:
        assert self.proc is not None
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def restart(self, delay: float = 0.0) -> str:
        time.sleep(delay)
        return self.start()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def thread_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))
