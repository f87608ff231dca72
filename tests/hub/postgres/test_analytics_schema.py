"""Schema 5 (the analytics columns and covering index) on a PostgreSQL database that already
holds sessions: the migration fills the end reason and team of the stored sessions, and the
report over them is SQLite's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from supervisor_desk.hub.store.postgres import schema
from supervisor_desk.hub.store.postgres.store import PostgresStore
from supervisor_desk.hub.store.sqlite import SqliteStore
from supervisor_desk.models.analytics import TimeRange
from supervisor_desk.models.filters import SessionFilter, to_ms
from supervisor_desk.models.wire import IngestEvent, parse_event_data
from tests.postgres_server import PostgresServer
from tests.views.history_data import history_events, with_teams

NOW = datetime.now(UTC).replace(microsecond=0)


def test_schema_5_fills_the_stored_sessions_end_reasons_and_teams(
        postgres: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events = [(e, parse_event_data(e.type, e.data)) for e in (
        IngestEvent.model_validate(raw)
        for raw in with_teams(history_events(40, seed=3, now=NOW)))]
    dsn = postgres.create_database()
    try:
        # A hub of schema 4 stores the sessions...
        monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:4])
        monkeypatch.setattr(schema, "SCHEMA_VERSION", 4)
        old = PostgresStore(dsn, listen=False, files_dir=tmp_path / "files")
        try:
            old.ingest(events)
        finally:
            old.close()
        monkeypatch.undo()
        # ...and this one migrates the database on start.
        store = PostgresStore(dsn, listen=False, files_dir=tmp_path / "files")
        lite = SqliteStore(tmp_path / "hub.db")
        try:
            lite.ingest(events)
            time_range = TimeRange(to_ms(NOW - timedelta(days=11)),
                                   to_ms(NOW + timedelta(hours=1)), 86_400_000)
            report = store.analytics_report(SessionFilter(), time_range, to_ms(NOW), 60)
            assert report.sessions == 40
            assert {row.key for row in report.handover_by_team} == {"billing", "support"}
            assert sum(sum(counts) for counts in report.end_reasons.values()) > 0
            assert report == lite.analytics_report(SessionFilter(), time_range, to_ms(NOW), 60)
        finally:
            lite.close()
            store.close()
    finally:
        postgres.drop_database(dsn.rsplit("/", 1)[1])
