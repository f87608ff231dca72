"""The hub's store: the interface the hub speaks (:mod:`.interface`), the event reducer every
backend shares (:mod:`.reducer`) and the backends (:mod:`.sqlite`)."""

from __future__ import annotations

from pathlib import Path

from supervisor_desk.hub.store.interface import HubStore


def is_database_url(db: str | Path) -> bool:
    """Whether ``db`` names a database server (``postgresql://…``) rather than a file."""
    return isinstance(db, str) and db.startswith(("postgresql://", "postgres://"))


def open_store(db: str | Path, *, files_dir: Path | None = None) -> HubStore:
    """The store ``db`` names: a SQLite file path, or a PostgreSQL URL (``files_dir``: the
    folder of uploaded files' bytes, shared by every replica; default ``./hub-files``)."""
    if is_database_url(db):
        from supervisor_desk.hub.store.postgres.store import PostgresStore

        return PostgresStore(str(db), files_dir=files_dir)
    from supervisor_desk.hub.store.sqlite import SqliteStore

    return SqliteStore(db)
