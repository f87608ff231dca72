"""The PostgreSQL store itself: indexed list plans, hashes only, the schema runner and the CLI,
single-writer roles, revocation across replicas, the listener's catch-up."""

from __future__ import annotations

import json
import time
from pathlib import Path

import psycopg
import pytest

from supervisor_desk.hub import cli, passwords
from supervisor_desk.hub.ingest import parse_batch
from supervisor_desk.hub.store import open_store
from supervisor_desk.hub.store.interface import ParsedEvent
from supervisor_desk.hub.store.postgres import query
from supervisor_desk.hub.store.postgres.schema import SCHEMA_VERSION, migrate
from supervisor_desk.hub.store.postgres.store import PostgresStore
from supervisor_desk.hub.store.webhooks import now_ms
from supervisor_desk.models.filters import SessionFilter, SortSpec
from tests.client.hub_events import message, started
from tests.hub.conftest import Api
from tests.postgres_server import PostgresServer

# Enough rows that the planner's choice is a real one (it scans small tables whole).
PLAN_ROWS = 60_000


@pytest.fixture
def dsn(postgres: PostgresServer) -> str:
    created = postgres.create_database()
    yield created  # type: ignore[misc]
    postgres.drop_database(created.rsplit("/", 1)[1])


def _fill(dsn: str, rows: int) -> None:
    """Synthetic sessions and messages straight in SQL (the plan, not the data, is tested)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        migrate(conn)
        conn.execute(
            "INSERT INTO sessions (id, id_lower, doc, agent_id, agent_name, channel, status, "
            "responsible_kind, operator_id, operator_name, user_search, search, country_code, "
            "ip, started_ms, queued_ms, accepted_ms, ended_ms, last_ms, message_count, "
            "has_attachments, version) "
            "SELECT 's' || g, 's' || g, '{}', 'agent-' || (g %% 20), 'Agent', "
            "(ARRAY['web','phone','email','whatsapp'])[1 + g %% 4], "
            "(ARRAY['queued','active','completed','failed','cancelled'])[1 + g %% 5], 'ai', "
            "NULL, NULL, 'user-' || g, 'agent user-' || g || ' plan-' || (g %% 97), 'DE', NULL, "
            "1700000000000 + g * 1000, NULL, NULL, NULL, 1700000000000 + g * 1000, g %% 30, 0, 1 "
            "FROM generate_series(1, %s) AS g", (rows,))
        conn.execute(
            "INSERT INTO messages (session_id, seq, id, doc, words) "
            "SELECT 's' || g, 1, 'm' || g, '{}', array_to_tsvector(ARRAY['hello', 'word' || "
            "(g %% 1000)]) FROM generate_series(1, %s) AS g", (rows,))
        conn.execute("VACUUM ANALYZE")  # as autovacuum would (flushes GIN pending lists)


def _plan(dsn: str, flt: SessionFilter, sort: SortSpec) -> str:
    sql, params = query.page_sql(flt, sort, 0, 50, 1_800_000_000_000)
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(b"EXPLAIN " + sql.encode(), params).fetchall()
    return "\n".join(row[0] for row in rows)


@pytest.fixture(scope="module")
def plan_dsn(postgres: PostgresServer) -> str:
    created = postgres.create_database()
    _fill(created, PLAN_ROWS)
    yield created  # type: ignore[misc]
    postgres.drop_database(created.rsplit("/", 1)[1])


@pytest.mark.parametrize(("flt", "sort"), [
    (SessionFilter(status=["failed"], channel=["phone"]), SortSpec.parse("-started_at")),
    (SessionFilter(agent=["agent-3"], status=["completed"]), SortSpec.parse("-started_at")),
    (SessionFilter(status=["active"], text="word17"), SortSpec.parse("-started_at")),
    (SessionFilter(q="plan-42", channel=["web"]), SortSpec.parse("-started_at")),
    (SessionFilter(channel=["email"], live=False), SortSpec.parse("message_count")),
    (SessionFilter(team=["billing"], status=["active"]), SortSpec.parse("-started_at")),
])
def test_the_list_query_with_two_filters_is_served_by_indexes(
    plan_dsn: str, flt: SessionFilter, sort: SortSpec,
) -> None:
    plan = _plan(plan_dsn, flt, sort)
    assert "Seq Scan on sessions" not in plan, plan
    assert "Index" in plan or "Bitmap" in plan, plan
    if flt.text is not None:
        assert "messages_words" in plan, plan  # the GIN index of the words
    if flt.team:
        assert "sessions_team" in plan, plan  # the expression index on the doc's team


def test_passwords_and_tokens_are_stored_only_as_hashes(api: Api, hub_backend: str) -> None:
    if hub_backend != "postgres":
        pytest.skip("the SQLite variant is tests/hub/test_auth.py")
    api.hub.add_user("carol", "viewer", "Tr0ub4dor&3-unique")
    answer = api.post("/auth/login", role=None,
                      json={"username": "carol", "password": "Tr0ub4dor&3-unique"})
    token = answer.json()["token"]
    store = api.hub.storage
    assert isinstance(store, PostgresStore)
    with psycopg.connect(store.dsn) as conn:
        users = conn.execute("SELECT name, salt, hash FROM users WHERE name = 'carol'").fetchall()
        tokens = [row[0] for row in conn.execute("SELECT hash FROM tokens")]
    ((name, _, digest),) = users
    assert name == "carol" and bytes(digest).startswith(b"$argon2id$")
    assert b"Tr0ub4dor" not in bytes(digest)
    assert token not in tokens and all(len(t) == 64 for t in tokens)


@pytest.fixture(params=["postgres"])
def hub_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_a_scrypt_user_is_upgraded_at_sign_in(dsn: str, tmp_path: Path) -> None:
    store = PostgresStore(dsn, listen=False, files_dir=tmp_path)
    try:
        user_id = store.add_user("olga", "viewer", "old-secret")
        salt, digest = passwords.legacy_scrypt_hash("old-secret", b"\x02" * 16)
        with psycopg.connect(dsn) as conn:
            conn.execute("UPDATE users SET salt = %s, hash = %s WHERE id = %s",
                         (salt, digest, user_id))
        assert store.check_password("olga", "nope") is None
        assert store.check_password("olga", "old-secret") == (user_id, "olga", "viewer")
        with psycopg.connect(dsn) as conn:
            row = conn.execute("SELECT hash FROM users WHERE id = %s", (user_id,)).fetchone()
        assert row is not None and bytes(row[0]).startswith(b"$argon2id$")
    finally:
        store.close()


def test_cli_init_migrate_and_accounts_on_postgres(
    dsn: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["init", "--db", dsn]) == 0
    monkeypatch.setenv(cli.DB_ENV, dsn)
    assert cli.main(["migrate"]) == 0  # idempotent, from $SUPERVISOR_HUB_DB
    assert "postgres@" not in capsys.readouterr().err  # no user name in messages
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("s3cret-pass\n"))
    assert cli.main(["user", "add", "alice", "--role", "supervisor", "--password-stdin"]) == 0
    assert cli.main(["token", "create", "--name", "crm", "--role", "ingest"]) == 0
    token = capsys.readouterr().out.strip()
    with psycopg.connect(dsn) as conn:
        version = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    assert version == (SCHEMA_VERSION,)
    store = open_store(dsn, files_dir=tmp_path / "files")
    try:
        assert store.check_password("alice", "s3cret-pass") is not None
        principal = store.principal(token)
        assert principal is not None and principal.role == "ingest"
    finally:
        store.close()


def test_only_one_replica_may_run_the_simulator(dsn: str, tmp_path: Path) -> None:
    first = PostgresStore(dsn, listen=False, files_dir=tmp_path / "a")
    try:
        assert first.claim_single_writer("simulator")
        code = cli.main(["serve", "--db", dsn, "--files-dir", str(tmp_path / "b"),
                         "--port", "0", "--simulate", "5"])
        assert code == 2  # refused before it listens
    finally:
        first.close()
    second = PostgresStore(dsn, listen=False, files_dir=tmp_path / "c")
    try:
        assert second.claim_single_writer("simulator")  # free again once the holder went
    finally:
        second.close()


def test_a_token_revoked_on_one_replica_is_refused_by_another(dsn: str, tmp_path: Path) -> None:
    one = PostgresStore(dsn, listen=False, files_dir=tmp_path / "a")
    two = PostgresStore(dsn, listen=False, files_dir=tmp_path / "b")
    try:
        token, _ = one.create_token("desk", "viewer")
        principal = two.principal(token)
        assert principal is not None
        one.revoke_token(principal.token_hash)
        assert two.principal(token) is None
    finally:
        one.close()
        two.close()


def test_a_read_after_the_database_dropped_the_pooled_connections_is_answered(
    dsn: str, tmp_path: Path,
) -> None:
    store = PostgresStore(dsn, listen=False, files_dir=tmp_path / "a", pool_size=2)
    try:
        token, _ = store.create_token("desk", "viewer")
        assert store.principal(token) is not None  # the pool's connection is open and idle
        with psycopg.connect(dsn, autocommit=True) as admin:
            ended = admin.execute(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) "
                "FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()").fetchone()
        assert ended is not None and ended[0] >= 1
        # The pool notices the closed connection at checkout and opens another.
        assert store.principal(token) is not None
        assert store.session_doc("absent") is None
    finally:
        store.close()


def test_the_listener_publishes_other_replicas_commits_in_order(
    dsn: str, tmp_path: Path,
) -> None:
    writer = PostgresStore(dsn, listen=False, files_dir=tmp_path / "w")
    reader = PostgresStore(dsn, files_dir=tmp_path / "r")
    seen: list[int] = []
    reader.on_commit = lambda events: seen.extend(seq for seq, _ in events)
    try:
        for n in range(5):
            writer.ingest(parse_events([started(f"l{n}"), message(f"l{n}", "hi")]))
        wait_until_sync(lambda: seen[-1:] == [writer.last_seq])
        assert seen == list(range(1, writer.last_seq + 1))
        # The LISTEN connection drops: what is committed meanwhile still arrives, once.
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE query LIKE 'LISTEN%%' AND pid <> pg_backend_pid()")
        writer.ingest(parse_events([started("after-drop")]))
        wait_until_sync(lambda: seen[-1:] == [writer.last_seq])
        assert seen == list(range(1, writer.last_seq + 1))
    finally:
        reader.close()
        writer.close()


def parse_events(events: list[dict[str, object]]) -> list[ParsedEvent]:
    return parse_batch(json.dumps({"events": events}).encode())


def test_webhook_deliveries_are_queued_with_their_event_and_claimed_once(
    dsn: str, tmp_path: Path,
) -> None:
    store = PostgresStore(dsn, listen=False, files_dir=tmp_path)
    first = second = None
    try:
        hook = store.add_webhook("https://crm.example/hook", ["session.started"])
        store.ingest(parse_events([started("w1"), message("w1", "not subscribed")]))
        first, second = store.open_outbox(), store.open_outbox()  # two replicas' dispatchers
        due = first.due(now_ms(), set())
        assert [(d.webhook_id, d.event_type, d.session_id) for d in due] == [
            (hook.id, "session.started", "w1")]
        assert second.due(now_ms(), set()) == []  # claimed: not sent twice at once
        first.record(due[0].id, state="delivered", next_ms=now_ms(), status=200, error=None)
        (delivery,) = store.webhook_deliveries(hook.id)
        assert delivery.state == "delivered" and delivery.attempts == 1
    finally:
        for outbox in (first, second):
            if outbox is not None:
                outbox.close()
        store.close()


def wait_until_sync(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.02)
