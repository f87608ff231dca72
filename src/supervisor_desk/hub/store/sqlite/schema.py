"""SQLite schema of the hub, as an ordered list of migrations.

``PRAGMA user_version`` records how many migrations a database has run, so ``supervisor-hub
init`` (and every start) can bring any older file up to date and is idempotent.
"""

from __future__ import annotations

import sqlite3
import uuid

# Each entry runs once, in order, inside one transaction with the version bump.
MIGRATIONS: tuple[str, ...] = (
    # 1: the whole model.
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        id_lower TEXT NOT NULL,         -- for the case-insensitive id prefix of `q=`
        doc TEXT NOT NULL,              -- the whole SessionSummary as JSON
        agent_id TEXT NOT NULL,
        agent_name TEXT NOT NULL,
        channel TEXT NOT NULL,
        status TEXT NOT NULL,
        responsible_kind TEXT NOT NULL,
        operator_id TEXT,
        operator_name TEXT,
        user_search TEXT NOT NULL,      -- lower-cased user id + name, for `user=`
        search TEXT NOT NULL,           -- lower-cased text that `q=` looks into
        country_code TEXT,
        ip TEXT,
        started_ms INTEGER NOT NULL,
        queued_ms INTEGER,
        accepted_ms INTEGER,
        ended_ms INTEGER,
        last_ms INTEGER,
        message_count INTEGER NOT NULL,
        has_attachments INTEGER NOT NULL,
        version INTEGER NOT NULL
    );
    CREATE INDEX sessions_started ON sessions (started_ms);
    CREATE INDEX sessions_last ON sessions (last_ms);
    CREATE INDEX sessions_ended ON sessions (ended_ms);
    CREATE INDEX sessions_count ON sessions (message_count);
    CREATE INDEX sessions_status ON sessions (status, started_ms);
    CREATE INDEX sessions_channel ON sessions (channel, started_ms);
    CREATE INDEX sessions_agent ON sessions (agent_id, started_ms);
    CREATE INDEX sessions_operator ON sessions (operator_id);

    CREATE TABLE messages (
        rowid INTEGER PRIMARY KEY,
        session_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        id TEXT NOT NULL,
        doc TEXT NOT NULL,
        UNIQUE (session_id, seq),
        UNIQUE (session_id, id)
    );
    -- Contentless: the text lives in messages.doc; message text never changes once stored.
    CREATE VIRTUAL TABLE message_fts USING fts5(
        text, content='', tokenize='unicode61 remove_diacritics 2'
    );

    CREATE TABLE logs (
        rowid INTEGER PRIMARY KEY,
        session_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE INDEX logs_session ON logs (session_id, kind, rowid);

    CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        session_id TEXT NOT NULL,
        body TEXT NOT NULL              -- the StoredEvent as JSON, ready for the feed
    );

    CREATE TABLE users (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL,
        salt BLOB NOT NULL,
        hash BLOB NOT NULL,
        created_ms INTEGER NOT NULL
    );

    CREATE TABLE tokens (
        hash TEXT PRIMARY KEY,          -- sha256 hex of the token; the token itself is never stored
        label TEXT NOT NULL,
        role TEXT NOT NULL,
        user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER
    );
    """,
    # 2: fast lists. A covering index holding every filterable column (a narrow copy of the
    # table, without the JSON docs) so counts and ordered pages scan it instead of wide rows;
    # and a narrow message -> session map for full-text matches.
    """
    CREATE INDEX sessions_narrow ON sessions (
        started_ms, id, status, channel, agent_id, responsible_kind, operator_id,
        message_count, has_attachments, country_code, ip, ended_ms, last_ms, queued_ms,
        accepted_ms, id_lower, user_search, search
    );
    CREATE TABLE message_sessions (rowid INTEGER PRIMARY KEY, session_id TEXT NOT NULL);
    INSERT INTO message_sessions (rowid, session_id) SELECT rowid, session_id FROM messages;
    """,
    # 3: a hash of each ingested event's content, so a reused event id with different content
    # is refused (409) instead of counted as a duplicate. NULL for events stored before it.
    """
    ALTER TABLE events ADD COLUMN content_hash BLOB;
    """,
    # 4: files a session holds (bytes in the blob store, by SHA-256) and the recognition jobs
    # of imported recordings, persisted so a restarted hub resumes them.
    """
    CREATE TABLE files (
        session_id TEXT NOT NULL,
        id TEXT NOT NULL,               -- sha256 hex of the content: the blob's name
        name TEXT NOT NULL,
        mime TEXT NOT NULL,
        size INTEGER NOT NULL,
        created_ms INTEGER NOT NULL,
        PRIMARY KEY (session_id, id)
    );
    CREATE INDEX files_blob ON files (id);

    CREATE TABLE transcriptions (
        session_id TEXT PRIMARY KEY,
        file_id TEXT NOT NULL,
        state TEXT NOT NULL,            -- queued, running, done, failed, cancelled
        percent INTEGER NOT NULL,
        segments INTEGER NOT NULL,      -- segments already stored as messages
        params TEXT NOT NULL,           -- JSON: names, roles, layout, start, duration
        error TEXT,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL
    );
    CREATE INDEX transcriptions_state ON transcriptions (state, created_ms);
    """,
    # 5: analytics (hub/routes_analytics.py): end reason and team as virtual columns of the
    # JSON doc (nothing to backfill or write), and a covering index of every column the charts
    # read, in the order of the range scan, so a 30-day report reads no JSON.
    """
    ALTER TABLE sessions ADD COLUMN end_reason TEXT
        GENERATED ALWAYS AS (json_extract(doc, '$.end_reason')) VIRTUAL;
    ALTER TABLE sessions ADD COLUMN team TEXT
        GENERATED ALWAYS AS (json_extract(doc, '$.team')) VIRTUAL;
    CREATE INDEX sessions_analytics ON sessions (
        started_ms, ended_ms, id, channel, status, end_reason, agent_id, agent_name, team,
        responsible_kind, operator_id, operator_name, queued_ms, accepted_ms, message_count
    );
    """,
    # 6: outbound webhooks: the endpoints an admin registered and the delivery outbox, written
    # in the transaction of the event it tells of (see store/sqlite/webhooks.py).
    """
    CREATE TABLE webhooks (
        id TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        secret TEXT NOT NULL,           -- whsec_<base64>: the receiver needs it to verify
        events TEXT NOT NULL,           -- JSON list of event types
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE webhook_deliveries (
        id INTEGER PRIMARY KEY,
        msg_id TEXT NOT NULL UNIQUE,    -- the webhook-id header: the receiver's idempotency key
        webhook_id TEXT NOT NULL,
        session_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        seq INTEGER NOT NULL,           -- the event's place in the event log
        payload TEXT NOT NULL,
        state TEXT NOT NULL,            -- pending, delivered, dead
        attempts INTEGER NOT NULL,
        window_ms INTEGER NOT NULL,     -- retries end this long after it (24 h by default)
        next_ms INTEGER NOT NULL,
        created_ms INTEGER NOT NULL,
        last_status INTEGER,
        last_error TEXT,
        delivered_ms INTEGER
    );
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_ms);
    CREATE INDEX webhook_deliveries_order ON webhook_deliveries (webhook_id, session_id, state, id);
    """,
    # 7: full-text matches map to the session's rowid, an integer every index of sessions
    # ends with: a `text=` filter is a membership test on whichever index serves the other
    # filters and the sort, never a lookup of the session row, and the map is a third smaller.
    """
    CREATE TABLE message_session_rows (
        rowid INTEGER PRIMARY KEY,      -- the message's rowid (= its full-text rowid)
        session_rowid INTEGER NOT NULL
    );
    INSERT INTO message_session_rows (rowid, session_rowid)
        SELECT m.rowid, s.rowid FROM message_sessions m JOIN sessions s ON s.id = m.session_id;
    DROP TABLE message_sessions;
    """,
    # 8: analytics over most of the history (store/sqlite/analytics.py): the sessions in agent
    # and duration order, with what the per-agent figures and the common filters read, so
    # durations per agent are picked by rank and agents counted without sorting the range.
    """
    CREATE INDEX sessions_agent_durations ON sessions (
        agent_id, MAX(0, ended_ms - started_ms), started_ms, ended_ms, team,
        responsible_kind, agent_name, channel, status, operator_id
    );
    """,
    # 9: analytics: the sessions in end order, with what the outcome and end-reason charts
    # and the common filters read (store/sqlite/analytics.py reads them bucket by bucket).
    """
    CREATE INDEX sessions_ended_analytics ON sessions (
        ended_ms, started_ms, status, end_reason, channel, agent_id, responsible_kind,
        operator_id
    );
    """,
    # 10: analytics: the queued sessions in queue order, with what the queue and wait charts
    # and the common filters read (a quarter of the sessions in a contact centre's day).
    """
    CREATE INDEX sessions_queued_analytics ON sessions (
        queued_ms, accepted_ms, ended_ms, started_ms, channel, agent_id, status,
        responsible_kind, operator_id
    ) WHERE queued_ms IS NOT NULL;
    """,
    # 11: analytics: the sessions an operator had, in operator order, with what the workload
    # table and the common filters read (grouped per operator without a sort).
    """
    CREATE INDEX sessions_operator_analytics ON sessions (
        operator_id, started_ms, ended_ms, accepted_ms, operator_name, channel, agent_id,
        status, responsible_kind
    ) WHERE operator_id IS NOT NULL;
    """,
    # 12: analytics: the sessions of a team, in team order, with what the hand-over per team
    # and the common filters read (grouped per team without a sort).
    """
    CREATE INDEX sessions_team_analytics ON sessions (
        team, started_ms, ended_ms, responsible_kind, channel, agent_id, status, operator_id
    ) WHERE team IS NOT NULL;
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> int:
    """Run the migrations this database has not run yet; returns the resulting version."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise RuntimeError(
            f"database schema {version} is newer than this hub ({SCHEMA_VERSION}); upgrade the hub"
        )
    for number in range(version, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            # executescript would commit the open transaction; run the statements one by one.
            for statement in _split(MIGRATIONS[number]):
                conn.execute(statement)
            if number == 0:
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('epoch', ?)", (uuid.uuid4().hex,)
                )
            conn.execute(f"PRAGMA user_version = {number + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return SCHEMA_VERSION


def _split(script: str) -> list[str]:
    statements: list[str] = []
    current = ""
    for line in script.splitlines(keepends=True):
        stripped = line.split("--", 1)[0]
        current += stripped
        if sqlite3.complete_statement(current):
            if current.strip():
                statements.append(current.strip())
            current = ""
    if current.strip():
        statements.append(current.strip())
    return statements
