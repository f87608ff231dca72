"""A real PostgreSQL server for tests and benchmarks: Debian's ``postgresql`` package run with
``initdb``/``pg_ctl`` in a temporary folder, never the system's cluster.

PostgreSQL refuses to run as root (and CI runs as root), so the server runs as the package's
``postgres`` user (or ``nobody``) through ``runuser``; a non-root caller runs it as itself.
The server listens on loopback only, on a free port, with its socket in the same folder, and
trusts local connections: it holds test data only and is removed with the folder.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

PG_BIN_DIRS = ("/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin",
               "/usr/lib/postgresql/15/bin")
SUPERUSER = "postgres"


def pg_bin(name: str) -> str:
    """The path of a PostgreSQL server program (``initdb``, ``pg_ctl``, ``postgres``)."""
    for folder in PG_BIN_DIRS:
        candidate = Path(folder) / name
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(
            f"{name} not found: install Debian's postgresql package (apt-get install postgresql)")
    return found


def available() -> bool:
    try:
        pg_bin("initdb")
        pg_bin("pg_ctl")
    except FileNotFoundError:
        return False
    return True


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _run_as_user() -> str | None:
    """The user to run the server as when we are root; None to run it as ourselves."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise RuntimeError("running as root and neither a postgres nor a nobody user exists")


class PostgresServer:
    """One PostgreSQL cluster in ``root``: ``start()``, ``stop()``, ``restart()``, ``kill()``,
    ``dsn(db)`` and ``create_database(name, template=...)``.

    ``durable=False`` (tests) turns fsync off: a crash of the server process still loses
    nothing committed (the OS has the pages), only a crash of the machine would.
    """

    def __init__(self, root: Path, *, port: int | None = None, durable: bool = False,
                 max_connections: int = 200) -> None:
        self.root = Path(root)
        self.data = self.root / "data"
        self.socket_dir = self.root / "run"
        self.log = self.root / "postgres.log"
        self.port = port or _free_port()
        self.durable = durable
        self.max_connections = max_connections
        self.user = _run_as_user()
        self._initialised = False

    # -- process control -------------------------------------------------------------------

    def _command(self, argv: list[str]) -> list[str]:
        if self.user is None:
            return argv
        return ["runuser", "-u", self.user, "--", *argv]

    def _run(self, argv: list[str], *, timeout: float = 120) -> None:
        result = subprocess.run(self._command(argv), capture_output=True, text=True,
                                timeout=timeout, check=False, cwd=self.root)
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""
            raise RuntimeError(
                f"{' '.join(argv[:2])} failed ({result.returncode}): {result.stderr.strip()}"
                f"\n{result.stdout.strip()}\n{log}")

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            # The server's user must reach its folder: every parent needs search permission.
            for parent in [self.root, *self.root.parents]:
                if parent == Path("/"):
                    break
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    os.chmod(parent, mode | 0o001)
            for path in (self.root, self.socket_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self._run([pg_bin("initdb"), "-D", str(self.data), "-U", SUPERUSER, "--auth=trust",
                   "--encoding=UTF8", "--locale=C.UTF-8", "--no-instructions"])
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
            "max_connections": str(self.max_connections),
            "shared_buffers": "'128MB'",
            "fsync": "on" if self.durable else "off",
            "full_page_writes": "on" if self.durable else "off",
            "synchronous_commit": "on",
            "logging_collector": "off",
            "log_min_messages": "warning",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n# tests/postgres_server.py\n")
            for key, value in settings.items():
                conf.write(f"{key} = {value}\n")
        self._initialised = True

    def start(self) -> None:
        if not self._initialised:
            self.init()
        if self.user is not None and not self.log.exists():
            self.log.touch()
            entry = pwd.getpwnam(self.user)
            os.chown(self.log, entry.pw_uid, entry.pw_gid)
        self._run([pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w",
                   "-t", "60", "start"])
        self.wait_ready()

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: roll back open transactions; ``immediate``: like a crash)."""
        if not (self.data / "postmaster.pid").exists():
            return
        self._run([pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60",
                   "stop"])

    def kill(self) -> None:
        """Kill -9 the postmaster (its children exit when they notice), like a crashed node."""
        pid_file = self.data / "postmaster.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text().split("\n", 1)[0])
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)

    def restart(self) -> None:
        self.stop()
        self.start()

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def remove(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    # -- databases ---------------------------------------------------------------------------

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str, database: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(self.dsn(database), autocommit=True) as conn:
            conn.execute(sql)  # test-made SQL, no user input

    def create_database(self, name: str | None = None, *, template: str | None = None) -> str:
        """Create a database (a copy of ``template`` if given); returns its DSN."""
        name = name or f"t_{uuid.uuid4().hex[:12]}"
        clause = f' TEMPLATE "{template}"' if template else ""
        self.execute(f'CREATE DATABASE "{name}"{clause}')
        return self.dsn(name)

    def drop_database(self, name: str) -> None:
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def postgres_server(*, durable: bool = False, root: Path | None = None
                    ) -> Iterator[PostgresServer]:
    """A started server in a fresh temporary folder under /tmp, removed afterwards."""
    folder = Path(root) if root else Path(tempfile.mkdtemp(prefix="supervisor-pg-", dir="/tmp"))
    server = PostgresServer(folder, durable=durable)
    try:
        server.start()
        yield server
    finally:
        server.remove()
