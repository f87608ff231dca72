"""Files and transcription jobs on PostgreSQL: shared by the replicas, not kept per replica.

Two hub processes on one database and one shared ``--files-dir``: a file uploaded through
one is listed and served (with Range) by the other, and a transcription started on a replica
that is killed mid-way is taken over and finished by the survivor, nothing lost or doubled.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from supervisor_desk.hub.embedded import EmbeddedHub
from supervisor_desk.hub.store.postgres.files import PgFiles
from supervisor_desk.hub.store.postgres.store import PostgresStore
from supervisor_desk.hub.store.webhooks import now_ms
from tests.audio_samples import HAVE_SPEECH_TOOLS, make_call
from tests.client.hub_events import started
from tests.hub.conftest import Api, fresh_pg_database
from tests.hub.postgres.test_replicas import Replica
from tests.postgres_server import PostgresServer

pytestmark = pytest.mark.timeout(300)

DIALOGUE = (
    ("agent", "thank you for calling how can i help you today"),
    ("customer", "i would like a refund for my last invoice"),
    ("agent", "i can help you with that please tell me your account number"),
    ("customer", "my account number is four five six seven"),
)


@pytest.fixture
def dsn(postgres: PostgresServer, _pg_template: str) -> Iterator[str]:
    created = fresh_pg_database(postgres, _pg_template)
    yield created
    postgres.drop_database(created.rsplit("/", 1)[1])


def _job_params(n: int) -> str:
    return f'{{"n": {n}}}'


def test_jobs_are_claimed_once_and_a_lapsed_lease_moves_to_another_replica(dsn: str) -> None:
    one, two = PgFiles(dsn), PgFiles(dsn)
    try:
        one.create_job("s-held", "f" * 64, _job_params(0), owner="one", lease_ms=60_000)
        for n in range(20):
            one.create_job(f"s-{n:02}", "f" * 64, _job_params(n), owner="gone", lease_ms=-1)
        # Both replicas look at the same moment: every orphan goes to exactly one of them.
        with ThreadPoolExecutor(2) as pool:
            first, second = pool.map(lambda files, owner: files.claim_jobs(owner, 60_000, 20),
                                     (one, two), ("one", "two"))
        assert not set(first) & set(second)
        assert sorted(first + second) == [f"s-{n:02}" for n in range(20)]
        assert "s-held" not in first + second  # its lease still runs
        assert one.claim_jobs("one", 60_000) == two.claim_jobs("two", 60_000) == []
        assert one.renew_jobs("one", ["s-held", *second], 60_000) == ["s-held"]

        one.update_job("s-held", state="running", segments=3, percent=40)
        job = two.job("s-held")
        assert job is not None and (job.state, job.segments, job.percent) == ("running", 3, 40)
        with pytest.raises(ValueError):
            one.update_job("s-held", owner="me")  # not a field a worker may set
        one.renew_jobs("one", ["s-held"], -1)  # replica "one" stops renewing: it lapses
        assert two.claim_jobs("two", 60_000) == ["s-held"]
        assert one.renew_jobs("one", ["s-held"], 60_000) == []  # and "one" knows it lost it
        one.update_job("s-held", state="done")
        one.renew_jobs("two", ["s-held"], -1)
        assert one.claim_jobs("one", 60_000) == []  # a finished job is never claimed
    finally:
        one.close()
        two.close()


def _wait_for(condition: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = condition()
        except httpx.TransportError:
            found = None
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


@pytest.fixture
def two_replicas(dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                 ) -> Iterator[tuple[Replica, Replica, dict[str, str]]]:
    # Recognise at full speed, and give a dead replica's jobs away after 1.5 s, not 30.
    monkeypatch.setenv("SUPERVISOR_HUB_TRANSCRIBE_DUTY", "1")
    monkeypatch.setenv("SUPERVISOR_HUB_JOB_LEASE_S", "1.5")
    store = PostgresStore(dsn, listen=False, files_dir=tmp_path / "setup")
    tokens = {role: store.create_token(role, role)[0] for role in ("ingest", "viewer")}
    store.close()
    shared = tmp_path / "shared-files"
    nodes = [Replica(dsn, shared), Replica(dsn, shared)]
    try:
        for node in nodes:
            node.wait_listening()
        yield nodes[0], nodes[1], tokens
    finally:
        for node in nodes:
            node.stop()


def test_a_file_uploaded_through_one_replica_is_served_by_another(
    two_replicas: tuple[Replica, Replica, dict[str, str]], tmp_path: Path
) -> None:
    a, b, tokens = two_replicas
    ingest = {"Authorization": f"Bearer {tokens['ingest']}"}
    viewer = {"Authorization": f"Bearer {tokens['viewer']}"}
    assert httpx.post(f"{a.url}/api/v1/ingest", json={"events": [started("s-1")]},
                      headers=ingest).status_code == 200
    content = bytes(range(256)) * 40
    upload = httpx.post(f"{a.url}/api/v1/sessions/s-1/files", params={"name": "notes.bin"},
                        content=content, headers=ingest)
    assert upload.status_code == 201, upload.text
    file_id = upload.json()["id"]

    listed = httpx.get(f"{b.url}/api/v1/sessions/s-1/files", headers=viewer).json()["items"]
    assert [(f["id"], f["name"], f["size"]) for f in listed] == [
        (file_id, "notes.bin", len(content))]
    part = httpx.get(f"{b.url}/api/v1/sessions/s-1/files/{file_id}",
                     headers={**viewer, "Range": "bytes=100-1099"})
    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes 100-1099/{len(content)}"
    assert part.content == content[100:1100]
    # Nothing per replica: no local database file, the blob once in the shared folder.
    assert not list(tmp_path.rglob("*.db"))
    assert [p.name for p in (tmp_path / "shared-files").rglob(file_id)] == [file_id]


@pytest.mark.skipif(not HAVE_SPEECH_TOOLS, reason="espeak-ng and sox come from "
                    "scripts/system-deps.sh")
def test_a_transcription_outlives_the_replica_that_started_it(
    two_replicas: tuple[Replica, Replica, dict[str, str]], tmp_path: Path
) -> None:
    a, b, tokens = two_replicas
    call, spoken = make_call(tmp_path, DIALOGUE, 1.0)
    # The call twice over: long enough to kill A in the middle of recognition.
    recording = tmp_path / "long.flac"
    subprocess.run(["sox", str(call), str(call), str(recording)], check=True)
    imported = httpx.post(
        f"{a.url}/api/v1/sessions/import-audio", content=recording.read_bytes(),
        params={"agent": "Ava", "customer": "Carl", "channel": "sip", "name": "call.flac"},
        headers={"Authorization": f"Bearer {tokens['ingest']}"}, timeout=60)
    assert imported.status_code == 202, imported.text
    session_id = imported.json()["session"]["id"]
    viewer = {"Authorization": f"Bearer {tokens['viewer']}"}

    def job() -> dict[str, Any]:
        answer: dict[str, Any] = httpx.get(
            f"{b.url}/api/v1/sessions/{session_id}/transcription", headers=viewer).json()
        return answer

    # Seen from B, A is transcribing; then A dies mid-way.
    _wait_for(lambda: job()["state"] == "running" and job()["segments"] >= 1)
    a.kill()
    final = _wait_for(lambda: job() if job()["state"] == "done" else None, timeout=240)
    assert final["percent"] == 100
    detail = httpx.get(f"{b.url}/api/v1/sessions/{session_id}", headers=viewer).json()
    said = [m for m in detail["messages"] if m["author"]["role"] != "system"]
    assert len({m["id"] for m in said}) == len(said) == 2 * len(spoken)  # none lost, none twice
    assert [m["seq"] for m in detail["messages"]] == list(range(1, len(detail["messages"]) + 1))
    assert detail["session"]["status"] == "completed"


@pytest.fixture
def _short_leases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPERVISOR_HUB_TRANSCRIBE_DUTY", "1")
    monkeypatch.setenv("SUPERVISOR_HUB_JOB_LEASE_S", "0.6")


@pytest.mark.skipif(not HAVE_SPEECH_TOOLS, reason="espeak-ng and sox come from "
                    "scripts/system-deps.sh")
def test_a_replica_stops_a_job_another_one_took_over(
    _short_leases: None, pg_hub: EmbeddedHub, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A replica paused past its lease finds its job claimed by another: it stops its own run
    (the job is not recognised twice) and leaves the job to the new owner."""
    api = Api(pg_hub)
    call, _ = make_call(tmp_path, DIALOGUE[:2], 1.0)
    recording = tmp_path / "long.flac"
    subprocess.run(["sox", str(call), str(call), str(call), str(recording)], check=True)
    imported = api.post("/sessions/import-audio", role="ingest", content=recording.read_bytes(),
                        params={"agent": "Ava", "channel": "sip", "name": "call.flac"})
    assert imported.status_code == 202, imported.text
    session_id = imported.json()["session"]["id"]
    _wait_for(lambda: api.get(f"/sessions/{session_id}/transcription").json()["state"]
              == "running")
    store = pg_hub.storage
    assert isinstance(store, PostgresStore)
    with psycopg.connect(store.dsn, autocommit=True) as conn:  # another replica claims it
        conn.execute("UPDATE transcriptions SET owner = 'elsewhere', lease_ms = %s "
                     "WHERE session_id = %s", (now_ms() + 600_000, session_id))
    _wait_for(lambda: any("taken over by another replica" in r.getMessage()
                          for r in caplog.records), timeout=30)
    with psycopg.connect(store.dsn) as conn:
        row = conn.execute("SELECT state, owner FROM transcriptions WHERE session_id = %s",
                           (session_id,)).fetchone()
    assert row == ("running", "elsewhere")  # left to its new owner, not finished or failed
    api.client.close()
