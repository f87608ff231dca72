"""PostgreSQL schema of the hub, as an ordered list of migrations, and the runner.

Why our own runner and not alembic: the SQLite backend already keeps its schema as an ordered
list of SQL scripts (``store/sqlite/schema.py``); this is the same idea in a dozen lines, with
no second tool to install, configure or run on the hub's hosts. ``schema_version`` records the
migrations a database has run; each runs once, in its own transaction together with the
version bump, under an advisory lock so replicas that start at the same moment (or ``migrate``
beside a running hub) never run one twice.

Choices that keep PostgreSQL's answers identical to SQLite's (the differential tests hold the
backends and the offline index to the same ids in the same order):
- text keys compare byte-wise (``COLLATE "C"``), as SQLite does, whatever the cluster's locale;
- full-text search indexes the words that ``models.filters.normalize_words`` finds (lower
  case, accents removed: what FTS5's ``unicode61 remove_diacritics 2`` and the offline index
  use), stored as a ``tsvector`` with a GIN index. PostgreSQL's own 'simple' parser (even with
  ``unaccent``) splits other text differently (e-mail addresses, URLs and hyphenated words
  stay whole), so a search would find other sessions than the same search on SQLite;
- ``q`` (a substring of the searchable text) uses a trigram GIN index (``pg_trgm``), the id
  prefix a ``text_pattern_ops`` B-tree.
"""

from __future__ import annotations

import uuid

import psycopg

# pg_advisory_xact_lock key of the migration runner ("supervisor-hub migrate").
MIGRATION_LOCK = 0x5D_4D16
_C = 'COLLATE "C"'

MIGRATIONS: tuple[str, ...] = (
    # 1: the whole model.
    f"""
    CREATE EXTENSION IF NOT EXISTS pg_trgm;

    CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);

    -- The event log's counter: one row, locked FOR UPDATE by every writing transaction, so
    -- seqs are given out in commit order, gap-free, across every replica.
    CREATE TABLE event_counter (id int PRIMARY KEY CHECK (id = 1), seq bigint NOT NULL);
    INSERT INTO event_counter (id, seq) VALUES (1, 0);

    CREATE TABLE sessions (
        id text {_C} PRIMARY KEY,
        id_lower text {_C} NOT NULL,
        doc text NOT NULL,
        agent_id text {_C} NOT NULL,
        agent_name text {_C} NOT NULL,
        channel text {_C} NOT NULL,
        status text {_C} NOT NULL,
        responsible_kind text {_C} NOT NULL,
        operator_id text {_C},
        operator_name text {_C},
        user_search text {_C} NOT NULL,
        search text {_C} NOT NULL,
        country_code text {_C},
        ip text {_C},
        started_ms bigint NOT NULL,
        queued_ms bigint,
        accepted_ms bigint,
        ended_ms bigint,
        last_ms bigint,
        message_count integer NOT NULL,
        has_attachments integer NOT NULL,
        version integer NOT NULL
    );
    -- Every sort key with id as the tie-break (both directions scan the same index).
    CREATE INDEX sessions_started ON sessions (started_ms, id);
    CREATE INDEX sessions_last ON sessions (last_ms NULLS FIRST, id);
    CREATE INDEX sessions_ended ON sessions (ended_ms NULLS FIRST, id);
    CREATE INDEX sessions_count ON sessions (message_count, id);
    -- Equality filters, each with the default sort behind it.
    CREATE INDEX sessions_status ON sessions (status, started_ms, id);
    CREATE INDEX sessions_channel ON sessions (channel, started_ms, id);
    CREATE INDEX sessions_agent ON sessions (agent_id, started_ms, id);
    CREATE INDEX sessions_operator ON sessions (operator_id, started_ms, id);
    CREATE INDEX sessions_responsible ON sessions (responsible_kind, started_ms, id);
    CREATE INDEX sessions_country ON sessions (country_code, started_ms, id);
    CREATE INDEX sessions_ip ON sessions (ip, started_ms, id);
    CREATE INDEX sessions_attachments ON sessions (has_attachments, started_ms, id);
    -- q= and user=: substrings (trigrams), and the id prefix.
    CREATE INDEX sessions_id_prefix ON sessions (id_lower text_pattern_ops);
    CREATE INDEX sessions_search_trgm ON sessions USING gin (search gin_trgm_ops);
    CREATE INDEX sessions_user_trgm ON sessions USING gin (user_search gin_trgm_ops);

    CREATE TABLE messages (
        row_id bigserial PRIMARY KEY,
        session_id text {_C} NOT NULL,
        seq integer NOT NULL,
        id text {_C} NOT NULL,
        doc text NOT NULL,
        words tsvector,                 -- normalize_words(text); NULL for no text
        UNIQUE (session_id, seq),
        UNIQUE (session_id, id)
    );
    CREATE INDEX messages_words ON messages USING gin (words);

    CREATE TABLE logs (
        row_id bigserial PRIMARY KEY,
        session_id text {_C} NOT NULL,
        kind text NOT NULL,
        doc text NOT NULL
    );
    CREATE INDEX logs_session ON logs (session_id, kind, row_id);

    CREATE TABLE events (
        seq bigint PRIMARY KEY,
        id text {_C} NOT NULL UNIQUE,
        session_id text {_C} NOT NULL,
        body text NOT NULL,             -- the StoredEvent as JSON, ready for the feed
        content_hash bytea
    );

    CREATE TABLE users (
        id text {_C} PRIMARY KEY,
        name text {_C} NOT NULL UNIQUE,
        role text NOT NULL,
        salt bytea NOT NULL,
        hash bytea NOT NULL,
        created_ms bigint NOT NULL
    );

    CREATE TABLE tokens (
        hash text PRIMARY KEY,          -- sha256 hex of the token; the token is never stored
        label text NOT NULL,
        role text NOT NULL,
        user_id text {_C} REFERENCES users (id) ON DELETE CASCADE,
        created_ms bigint NOT NULL,
        expires_ms bigint
    );
    CREATE INDEX tokens_user ON tokens (user_id);

    CREATE TABLE webhooks (
        id text {_C} PRIMARY KEY,
        url text NOT NULL,
        secret text NOT NULL,
        events text NOT NULL,           -- JSON list of event types
        created_ms bigint NOT NULL
    );
    CREATE TABLE webhook_deliveries (
        id bigserial PRIMARY KEY,
        msg_id text NOT NULL UNIQUE,
        webhook_id text {_C} NOT NULL,
        session_id text {_C} NOT NULL,
        event_type text NOT NULL,
        seq bigint NOT NULL,
        payload text NOT NULL,
        state text NOT NULL,
        attempts integer NOT NULL,
        window_ms bigint NOT NULL,
        next_ms bigint NOT NULL,
        created_ms bigint NOT NULL,
        last_status integer,
        last_error text,
        delivered_ms bigint
    );
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_ms);
    CREATE INDEX webhook_deliveries_order
        ON webhook_deliveries (webhook_id, session_id, state, id);
    """,
    # 2: the sign-in throttle and the per-token ingest limit, shared by the replicas
    # (store/postgres/limits.py). Times are epoch seconds. The buckets are UNLOGGED: written at
    # every ingest request, worth no WAL, and after a crash every bucket simply starts full.
    """
    CREATE UNLOGGED TABLE rate_buckets (
        key text PRIMARY KEY,
        level double precision NOT NULL,
        stamp_s double precision NOT NULL
    );
    CREATE TABLE login_failures (key text NOT NULL, at_s double precision NOT NULL);
    CREATE INDEX login_failures_key ON login_failures (key, at_s);
    CREATE INDEX login_failures_at ON login_failures (at_s);
    CREATE TABLE login_known (
        name text NOT NULL,
        address text NOT NULL,
        at_s double precision NOT NULL,
        PRIMARY KEY (name, address)
    );
    CREATE INDEX login_known_at ON login_known (at_s);
    """,
    # 3: the team filter (store/postgres/query.py): the team lives in the JSON doc only, so
    # the index is on the expression the filter spells, in start order like the other filters.
    """
    CREATE INDEX sessions_team ON sessions (((doc::jsonb ->> 'team')), started_ms, id);
    """,
    # 4: files a session holds (the bytes are in the blob folder every replica shares) and the
    # transcription jobs of imported recordings (store/postgres/files.py), shared so any
    # replica serves any file and a job outlives the replica that started it: a job is leased
    # to the replica running it (owner, lease_ms) and claimed by another when the lease runs
    # out.
    f"""
    CREATE TABLE files (
        session_id text {_C} NOT NULL,
        id text {_C} NOT NULL,          -- sha256 hex of the content: the blob's name
        name text NOT NULL,
        mime text NOT NULL,
        size bigint NOT NULL,
        created_ms bigint NOT NULL,
        PRIMARY KEY (session_id, id)
    );
    CREATE INDEX files_blob ON files (id);

    CREATE TABLE transcriptions (
        session_id text {_C} PRIMARY KEY,
        file_id text {_C} NOT NULL,
        state text NOT NULL,            -- queued, running, done, failed, cancelled
        percent integer NOT NULL,
        segments integer NOT NULL,      -- segments already stored as messages
        params text NOT NULL,           -- JSON: names, roles, layout, start, duration
        error text,
        created_ms bigint NOT NULL,
        updated_ms bigint NOT NULL,
        owner text,                     -- the replica holding the job
        lease_ms bigint NOT NULL        -- until when it holds it
    );
    CREATE INDEX transcriptions_unfinished ON transcriptions (lease_ms, created_ms)
        WHERE state IN ('queued', 'running');
    """,
    # 5: analytics (store/postgres/analytics.py): the end reason and the team as columns the
    # database keeps from the JSON doc (the report groups every session of a range by them;
    # reading them from the doc would parse each one), and the index the report walks in
    # start order holding every column it reads, so it never visits the table's rows.
    f"""
    ALTER TABLE sessions
        ADD COLUMN end_reason text {_C} GENERATED ALWAYS AS (doc::jsonb ->> 'end_reason') STORED,
        ADD COLUMN team text {_C} GENERATED ALWAYS AS (doc::jsonb ->> 'team') STORED;
    CREATE INDEX sessions_analytics ON sessions (started_ms) INCLUDE (
        ended_ms, channel, status, end_reason, agent_id, agent_name, team, responsible_kind,
        operator_id, operator_name, queued_ms, accepted_ms, message_count);
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


def current_version(conn: psycopg.Connection) -> int:
    row = conn.execute(
        "SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return 0
    found = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(found[0] or 0) if found else 0


def migrate(conn: psycopg.Connection) -> int:
    """Run the migrations this database has not run yet; returns the resulting version.

    ``conn`` is in autocommit mode; each migration is a transaction of its own.
    """
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version "
                     "(version integer PRIMARY KEY, applied_ms bigint NOT NULL)")
    while True:
        with conn.transaction():
            # Under the lock: another replica may have run it since we looked.
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            version = current_version(conn)
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"database schema {version} is newer than this hub ({SCHEMA_VERSION}); "
                    "upgrade the hub")
            if version == SCHEMA_VERSION:
                return version
            conn.execute(MIGRATIONS[version].encode())
            if version == 0:
                conn.execute("INSERT INTO meta (key, value) VALUES ('epoch', %s)",
                             (uuid.uuid4().hex,))
            conn.execute(
                "INSERT INTO schema_version (version, applied_ms) "
                "VALUES (%s, (extract(epoch FROM clock_timestamp()) * 1000)::bigint)",
                (version + 1,))
