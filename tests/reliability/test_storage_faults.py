"""Hub storage faults: a full disk and a database locked by another process answer 503 with
the one error shape, corrupt nothing (PRAGMA integrity_check), and heal when the cause goes."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from supervisor_desk.hub.embedded import EmbeddedHub
from tests.reliability.conftest import record
from tests.reliability.desk import Traffic, auth

pytestmark = pytest.mark.timeout(90)


def start_hub(db: Path) -> EmbeddedHub:
    hub = EmbeddedHub(db)
    hub.add_user("viewer", "viewer", "viewer")
    hub.ingest_token = hub.create_token("tests", "ingest")  # type: ignore[attr-defined]
    hub.start()
    # Give up on a lock after 1 s instead of 30 (the writer's busy timeout).
    storage = hub.storage
    with storage._write_lock:
        storage._w.execute("PRAGMA busy_timeout=1000")
    return hub


def post(hub: EmbeddedHub, events: list[dict[str, Any]]) -> httpx.Response:
    return httpx.post(f"{hub.url}/api/v1/ingest", json={"events": events}, timeout=30,
                      headers=auth(hub.ingest_token))  # type: ignore[attr-defined]


def check_db(db: Path, acked: list[str]) -> None:
    conn = sqlite3.connect(db, timeout=30)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = {r[0] for r in conn.execute("SELECT id FROM events")}
        seqs = [r[0] for r in conn.execute("SELECT seq FROM events ORDER BY seq")]
    finally:
        conn.close()
    assert set(acked) <= stored, "an acknowledged event is gone"
    assert len(stored) == len(acked), "a refused batch was partly stored"
    assert seqs == list(range(1, len(seqs) + 1))


def assert_503(answer: httpx.Response, code: str) -> None:
    assert answer.status_code == 503, answer.text
    body = answer.json()
    assert body["error"] == code
    assert "retry" in body["message"]
    assert int(answer.headers["Retry-After"]) > 0


def test_database_locked_by_another_process(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    hub = start_hub(db)
    traffic = Traffic(seed=2)
    acked: list[str] = []
    try:
        first = traffic.batch(100)
        assert post(hub, first).status_code == 200
        acked += [e["id"] for e in first]
        viewer = httpx.post(f"{hub.url}/api/v1/auth/login",
                            json={"username": "viewer", "password": "viewer"}).json()["token"]
        locker = sqlite3.connect(db, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
        refused = traffic.batch(100)
        try:
            assert_503(post(hub, refused), "storage_busy")
            # Reads go on (WAL): the desktops still see the live state.
            assert httpx.get(f"{hub.url}/api/v1/live", headers=auth(viewer)).status_code == 200
            login = httpx.post(f"{hub.url}/api/v1/auth/login",
                               json={"username": "viewer", "password": "viewer"})
            assert_503(login, "storage_busy")
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        began = time.monotonic()
        assert post(hub, refused).status_code == 200  # the platform's retry now succeeds
        recovery = time.monotonic() - began
        acked += [e["id"] for e in refused]
    finally:
        hub.stop()
    check_db(db, acked)
    record("hub database locked by another process", 1, len(acked), 0, recovery)


@contextlib.contextmanager
def small_disk(folder: Path, size: str) -> Iterator[bool]:
    """A tmpfs of ``size`` at ``folder`` (True), or False where mounting is not allowed."""
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                              str(folder)], capture_output=True).returncode == 0
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def grow_disk(folder: Path, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(folder)], check=True)


def test_disk_full_then_space_returns(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    with small_disk(disk, "3m") as mounted:
        db = disk / "hub.db"
        hub = start_hub(db)
        storage = hub.storage
        if not mounted:
            # No tmpfs here (not root): cap the database file instead, same SQLITE_FULL.
            with storage._write_lock:
                pages = storage._w.execute("PRAGMA page_count").fetchone()[0]
                storage._w.execute(f"PRAGMA max_page_count={pages + 300}")
        traffic = Traffic(seed=7)
        acked: list[str] = []
        refused: list[dict[str, Any]] | None = None
        try:
            for _ in range(200):
                batch = traffic.batch(200)
                for event in batch:
                    if event["type"] == "message.created":
                        event["data"]["text"] = "lorem ipsum dolor sit amet " * 40
                answer = post(hub, batch)
                if answer.status_code != 200:
                    assert_503(answer, "storage_full")
                    refused = batch
                    break
                acked += [e["id"] for e in batch]
            assert refused is not None, "the disk never filled"
            assert acked, "nothing fitted at all"
            viewer = hub.create_token("desk", "viewer") if not mounted else None
            if viewer is not None:
                live = httpx.get(f"{hub.url}/api/v1/live", headers=auth(viewer))
                assert live.status_code == 200
            # Space returns: the same batch is accepted, and more after it.
            if mounted:
                grow_disk(disk, "64m")
            else:
                with storage._write_lock:
                    storage._w.execute("PRAGMA max_page_count=1073741823")
            began = time.monotonic()
            answer = post(hub, refused)
            assert answer.status_code == 200, answer.text
            recovery = time.monotonic() - began
            acked += [e["id"] for e in refused]
            more = traffic.batch(50)
            assert post(hub, more).status_code == 200
            acked += [e["id"] for e in more]
        finally:
            hub.stop()
        check_db(db, acked)
        record("hub disk full (tmpfs)" if mounted else "hub disk full (max_page_count)", 1,
               len(acked), 0, recovery)
