"""Writers of several replicas at once: the reducer runs outside the counter's lock, and the
event log still comes out gap-free, in commit order, with every session's document whole."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import psycopg

from supervisor_desk.hub.store.postgres.store import PostgresStore
from tests.client.hub_events import message, started
from tests.hub.postgres.test_store import dsn, parse_events, wait_until_sync

__all__ = ["dsn"]  # the fixture, used by name


def test_replicas_writing_the_same_sessions_at_once_lose_nothing(
    dsn: str, tmp_path: Path,
) -> None:
    stores = [PostgresStore(dsn, listen=False, files_dir=tmp_path / f"r{n}") for n in range(3)]
    sessions = [f"c{n}" for n in range(4)]
    stores[0].ingest(parse_events([started(s) for s in sessions]))
    failures: list[BaseException] = []

    def post(store: PostgresStore) -> None:
        try:
            for round_ in range(15):
                # Every replica writes every session in every batch: they contend on each.
                store.ingest(parse_events([message(s, f"hello {round_}") for s in sessions]))
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=post, args=(store,)) for store in stores]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert failures == []
        with psycopg.connect(dsn) as conn:
            seqs = [r[0] for r in conn.execute("SELECT seq FROM events ORDER BY seq")]
            counter = conn.execute("SELECT seq FROM event_counter").fetchone()
            for session_id in sessions:
                doc = json.loads(conn.execute(
                    "SELECT doc FROM sessions WHERE id = %s", (session_id,)).fetchone()[0])
                numbers = [r[0] for r in conn.execute(
                    "SELECT seq FROM messages WHERE session_id = %s ORDER BY seq",
                    (session_id,))]
                assert doc["message_count"] == 3 * 15
                assert numbers == list(range(1, 3 * 15 + 1))
        total = len(sessions) + 3 * 15 * len(sessions)
        assert seqs == list(range(1, total + 1))
        assert counter == (total,)
    finally:
        for store in stores:
            store.close()


def test_an_event_id_stored_meanwhile_by_another_writer_is_a_duplicate(
    dsn: str, tmp_path: Path,
) -> None:
    store = PostgresStore(dsn, listen=False, files_dir=tmp_path)
    published: list[int] = []
    store.on_commit = lambda events: published.extend(seq for seq, _ in events)
    batch = [started("mine"), message("mine", "first")]
    taken = batch[1]["id"]
    outcome: list[object] = []
    try:
        with psycopg.connect(dsn) as other:
            # Another replica's writer holds the counter and stores the same event id (for
            # another session) while this replica reduces its batch.
            other.execute("SELECT seq FROM event_counter WHERE id = 1 FOR UPDATE")
            other.execute(
                "INSERT INTO events (seq, id, session_id, body, content_hash) "
                "VALUES (1, %s, 'theirs', '{}', NULL)", (taken,))
            other.execute("UPDATE event_counter SET seq = 1 WHERE id = 1")
            writer = threading.Thread(
                target=lambda: outcome.append(store.ingest(parse_events(batch))))
            writer.start()
            wait_until_sync(lambda: _waits_for_the_counter(dsn))
            other.commit()
        writer.join(30)
        (result,) = outcome
        # Redone with the counter held: the id is known now (stored without a hash, so a
        # resend), and the batch's other event takes the next seq.
        assert (result.accepted, result.duplicates, result.last_seq) == (1, 1, 2)  # type: ignore[attr-defined]
        with psycopg.connect(dsn) as conn:
            rows = conn.execute("SELECT seq, session_id FROM events ORDER BY seq").fetchall()
        assert rows == [(1, "theirs"), (2, "mine")]
        wait_until_sync(lambda: published[-1:] == [2])
    finally:
        store.close()


def _waits_for_the_counter(dsn: str) -> bool:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE '%%event_counter%%FOR UPDATE%%'").fetchone()
    return bool(row and row[0])
