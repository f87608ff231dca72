"""``supervisor-hub`` as a user runs it: init, user add, token create, serve, signals, kill -9."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from supervisor_desk.hub.store import open_store
from supervisor_desk.hub.store.postgres.schema import SCHEMA_VERSION as PG_SCHEMA_VERSION
from supervisor_desk.hub.store.sqlite import SqliteStore
from supervisor_desk.hub.store.sqlite.schema import SCHEMA_VERSION
from tests.hub.factories import message, started

HUB = [sys.executable, "-m", "supervisor_desk.hub.cli"]


def _run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HUB, *args], input=stdin, capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.fixture
def db(request: pytest.FixtureRequest, hub_backend: str, tmp_path: Path,
       monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Where the hub's data goes: a SQLite file's path, or a new empty PostgreSQL database
    (with the hub's files in its default ``./hub-files``, here in the test's folder)."""
    monkeypatch.chdir(tmp_path)
    if hub_backend == "sqlite":
        yield str(tmp_path / "hub.db")
        return
    postgres = request.getfixturevalue("postgres")
    dsn = postgres.create_database()
    yield dsn
    postgres.drop_database(dsn.rsplit("/", 1)[1])


def _one(db: str, sql: str) -> Any:
    """The first column of the first row of ``sql`` on the hub's database."""
    if db.startswith("postgresql://"):
        with psycopg.connect(db) as pg:
            row = pg.execute(sql.encode()).fetchone()
    else:
        with closing(sqlite3.connect(db)) as conn:
            row = conn.execute(sql).fetchone()
    assert row is not None
    return row[0]


@contextmanager
def _serve(db: str, *extra: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen([*HUB, "serve", "--db", db, "--port", "0", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:"), (line, proc.stderr)
        yield proc, line.removeprefix("listening on ").strip()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def _prepare(db: str) -> tuple[str, str]:
    """A database with user ann and (ingest, viewer) tokens, made in-process (faster)."""
    storage = open_store(db)
    try:
        storage.add_user("ann", "supervisor", "s3cret pass")
        return storage.create_token("platform", "ingest")[0], \
            storage.create_token("v", "viewer")[0]
    finally:
        storage.close()


def _setup(db: str) -> str:
    assert _run("init", "--db", db).returncode == 0
    added = _run("user", "add", "--db", db, "ann", "--role", "supervisor",
                 "--password-stdin", stdin="s3cret pass\n")
    assert added.returncode == 0, added.stderr
    token = _run("token", "create", "--db", db, "--name", "platform", "--role", "ingest")
    assert token.returncode == 0, token.stderr
    return token.stdout


def test_init_is_idempotent_and_token_create_prints_the_token_alone(db: str) -> None:
    out = _setup(db)
    assert out.count("\n") == 1 and out.strip().startswith("sdh_") and " " not in out.strip()
    again = _run("init", "--db", db)
    assert again.returncode == 0
    if db.startswith("postgresql://"):
        assert _one(db, "SELECT max(version) FROM schema_version") == PG_SCHEMA_VERSION
    else:
        assert _one(db, "PRAGMA user_version") == SCHEMA_VERSION
    assert _one(db, "SELECT COUNT(*) FROM users") == 1
    bad = _run("user", "add", "--db", db, "bob", "--role", "viewer", "--password-stdin",
               stdin="")
    assert bad.returncode != 0 and "password" in bad.stderr


def test_serve_login_ingest_and_clean_stop_on_sigterm_and_sigint(db: str) -> None:
    token, _ = _prepare(db)
    for sig in (signal.SIGTERM, signal.SIGINT):
        with _serve(db) as (proc, url):
            login = httpx.post(f"{url}/api/v1/auth/login",
                               json={"username": "ann", "password": "s3cret pass"})
            assert login.status_code == 200 and login.json()["role"] == "supervisor"
            answer = httpx.post(f"{url}/api/v1/ingest",
                                headers={"Authorization": f"Bearer {token}"},
                                json={"events": [started(f"s-{sig.name}")]})
            assert answer.status_code == 200
            proc.send_signal(sig)
            assert proc.wait(15) == 0
    assert _one(db, "SELECT COUNT(*) FROM sessions") == 2


def test_kill_9_right_after_200_loses_nothing(db: str) -> None:
    token, viewer = _prepare(db)
    headers = {"Authorization": f"Bearer {token}"}
    with _serve(db) as (proc, url):
        events = [started("s1")] + [message("s1", f"m{i}", f"text {i}") for i in range(300)]
        for start in range(0, len(events), 100):
            answer = httpx.post(f"{url}/api/v1/ingest", headers=headers,
                                json={"events": events[start:start + 100]})
            assert answer.status_code == 200
        last_seq = answer.json()["last_seq"]
        os.kill(proc.pid, signal.SIGKILL)  # no chance to flush or checkpoint anything
        proc.wait(10)
    # Nothing acknowledged is lost: a fresh hub on the same database has every event.
    with _serve(db) as (proc, url):
        auth = {"Authorization": f"Bearer {viewer}"}
        live = httpx.get(f"{url}/api/v1/live", headers=auth).json()
        assert live["seq"] == last_seq == 301
        detail = httpx.get(f"{url}/api/v1/sessions/s1", headers=auth).json()
        assert len(detail["messages"]) == 300
        again = httpx.post(f"{url}/api/v1/ingest", headers=headers,
                           json={"events": events[-100:]})
        assert again.json() == {"accepted": 0, "duplicates": 100, "last_seq": 301}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0


def test_serve_with_simulator(db: str) -> None:
    _, viewer = _prepare(db)
    with _serve(db, "--simulate", "200", "--seed", "7") as (proc, url):
        auth = {"Authorization": f"Bearer {viewer}"}
        deadline = time.monotonic() + 20
        total = 0
        while time.monotonic() < deadline and total < 5:
            time.sleep(0.3)
            total = httpx.get(f"{url}/api/v1/sessions", headers=auth).json()["total"]
        assert total >= 5
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    # The simulator ended its sessions while the hub still served: none stays "live" in the
    # database to haunt the next start.
    assert _one(db, "SELECT count(*) FROM sessions WHERE status IN ('queued', 'active')") == 0


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_the_database_is_private_to_its_owner(tmp_path: Path) -> None:
    """hub.db and its -wal/-shm are 0600, a data directory the hub creates 0700; a file left
    world-readable by an older hub is tightened on start. (SQLite only: about the file.)"""
    existing = _mode(tmp_path)
    db = tmp_path / "data" / "hub" / "hub.db"
    assert _run("init", "--db", str(db)).returncode == 0
    assert _mode(tmp_path) == existing  # a directory that was there keeps its mode
    assert _mode(db.parent) == 0o700
    assert _mode(db) == 0o600
    token, _ = _prepare(str(db))
    with _serve(str(db)) as (proc, url):
        answer = httpx.post(f"{url}/api/v1/ingest", headers={"Authorization": f"Bearer {token}"},
                            json={"events": [started("s1")]})
        assert answer.status_code == 200
        for suffix in ("", "-wal", "-shm"):
            assert _mode(db.with_name("hub.db" + suffix)) == 0o600, suffix
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    old = tmp_path / "old.db"
    SqliteStore(old).close()
    old.chmod(0o644)
    assert _run("init", "--db", str(old)).returncode == 0
    assert _mode(old) == 0o600
