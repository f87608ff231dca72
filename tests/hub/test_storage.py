"""Schema migrations on a real SQLite file: an old database is brought up to date, keeping data."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from supervisor_desk.hub.ingest import parse_batch
from supervisor_desk.hub.store.sqlite import SqliteStore, schema
from supervisor_desk.models.filters import SessionFilter, SortSpec
from tests.hub.factories import message, started


def test_version_1_database_is_migrated_and_keeps_its_data(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    storage = SqliteStore(db)
    storage.ingest(parse_batch(json.dumps({"events": [
        started("s1"), message("s1", "m1", "Problème de facture")]}).encode()))
    storage.close()
    # Turn it back into what a hub of schema 1 left: no covering index, no message map, no
    # content hashes.
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("DROP INDEX sessions_narrow")
    conn.execute("DROP TABLE message_session_rows")
    conn.execute("ALTER TABLE events DROP COLUMN content_hash")
    conn.execute("DROP TABLE files")
    conn.execute("DROP TABLE transcriptions")
    conn.execute("DROP INDEX sessions_analytics")
    conn.execute("DROP INDEX sessions_agent_durations")
    conn.execute("DROP INDEX sessions_ended_analytics")
    conn.execute("DROP INDEX sessions_queued_analytics")
    conn.execute("DROP INDEX sessions_operator_analytics")
    conn.execute("DROP INDEX sessions_team_analytics")
    conn.execute("ALTER TABLE sessions DROP COLUMN end_reason")
    conn.execute("ALTER TABLE sessions DROP COLUMN team")
    conn.execute("DROP TABLE webhooks")
    conn.execute("DROP TABLE webhook_deliveries")
    conn.execute("UPDATE meta SET value = 'old-epoch' WHERE key = 'epoch'")
    conn.execute("PRAGMA user_version = 1")
    conn.close()

    storage = SqliteStore(db)  # the current hub migrates on open
    try:
        assert storage.epoch == "old-epoch"
        version = storage.reader().execute("PRAGMA user_version").fetchone()[0]
        assert version == schema.SCHEMA_VERSION == 12
        total, docs = storage.session_page(SessionFilter(text="probleme"),
                                           SortSpec.parse(None), 0, 50, 0)
        assert total == 1 and json.loads(docs[0])["id"] == "s1"
    finally:
        storage.close()
    again = sqlite3.connect(db, isolation_level=None)
    try:
        assert schema.migrate(again) == 12  # idempotent
    finally:
        again.close()
